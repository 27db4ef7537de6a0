"""GET /connect/{tenant_id} and GET /oauth/callback: a tenant admin links their Sage business.
Thin: HTTP shape only; the flow lives in sagebridge.connections.connect_flow, built by
sagebridge.composition."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge import composition
from sagebridge.composition import CALLBACK_PATH, ConnectDependencies, FlowResult
from sagebridge.observability import HTTP_REQUEST_ID, logger, metrics, tracer
from sagebridge.security.oauth_state import STATE_TTL

app = APIGatewayHttpResolver()
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
# Binds the OAuth flow to the browser that opened the connect link (see connect_flow's docstring).
BROWSER_COOKIE = "sb_connect"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@lru_cache(maxsize=1)
def dependencies() -> ConnectDependencies:
    """Built on first use, once per container; tests call `dependencies.cache_clear()` or patch it.
    One flow per Sage product: a tenant connects the one its settings name."""
    return composition.connect()


def api_base_url(event: dict[str, Any]) -> str:
    """PUBLIC_API_URL when a custom domain fronts the API, else this request's own API URL."""
    configured = dependencies().settings.public_api_url
    if configured:
        return configured.rstrip("/")
    context = event.get("requestContext") or {}
    stage = context.get("stage") or "$default"
    prefix = "" if stage == "$default" else f"/{stage}"
    return f"https://{context.get('domainName', 'localhost')}{prefix}"


def browser_cookie(nonce: str, callback_url: str) -> Cookie:
    """Sent back only to the callback; SameSite=Lax because Sage sends the browser back with a
    top-level cross-site GET (Strict would drop it). Not Secure only on the local stack's plain-http
    loopback, where a client would otherwise never send it back."""
    url = urlsplit(callback_url)
    local = url.scheme == "http" and (url.hostname or "") in _LOOPBACK
    return Cookie(BROWSER_COOKIE, nonce, path=url.path or CALLBACK_PATH,
                  max_age=int(STATE_TTL.total_seconds()) if nonce else 0, secure=not local, http_only=True,
                  same_site=SameSite.LAX_MODE)


def _respond(result: FlowResult, callback_url: str) -> Response:
    cookies = [] if result.browser_nonce is None else [browser_cookie(result.browser_nonce, callback_url)]
    if result.location:
        return Response(result.status, "text/plain", "", headers={"Location": result.location, **_NO_STORE},
                        cookies=cookies)
    return Response(result.status, "text/html; charset=utf-8", result.html(), headers=_NO_STORE, cookies=cookies)


def _query() -> dict[str, str]:
    return dict(app.current_event.query_string_parameters or {})


def _browser_nonce() -> str | None:
    for cookie in app.current_event.cookies:
        name, _, value = cookie.strip().partition("=")
        if name == BROWSER_COOKIE and value:
            return value
    return None


@app.get("/connect/<tenant_id>")
def connect(tenant_id: str) -> Response:
    redirect_uri = api_base_url(app.current_event.raw_event) + CALLBACK_PATH
    return _respond(dependencies().flow.start(tenant_id, _query(), redirect_uri=redirect_uri), redirect_uri)


@app.get(CALLBACK_PATH)
def oauth_callback() -> Response:
    callback_url = api_base_url(app.current_event.raw_event) + CALLBACK_PATH
    result = dependencies().flow.callback(_query(), callback_url=callback_url, browser=_browser_nonce())
    return _respond(result, callback_url)


@logger.inject_lambda_context(clear_state=True, correlation_id_path=HTTP_REQUEST_ID)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
