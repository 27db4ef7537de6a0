"""GET /connect/{tenant_id} and GET /oauth/callback: a tenant admin links their Sage business.
Thin: HTTP shape only; the flow lives in sagebridge.connections.connect_flow, built by
sagebridge.composition."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge import composition
from sagebridge.composition import CALLBACK_PATH, ConnectDependencies, FlowResult
from sagebridge.observability import HTTP_REQUEST_ID, logger, metrics, tracer

app = APIGatewayHttpResolver()
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


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


def _respond(result: FlowResult) -> Response:
    if result.location:
        return Response(result.status, "text/plain", "", headers={"Location": result.location, **_NO_STORE})
    return Response(result.status, "text/html; charset=utf-8", result.html(), headers=_NO_STORE)


def _query() -> dict[str, str]:
    return dict(app.current_event.query_string_parameters or {})


@app.get("/connect/<tenant_id>")
def connect(tenant_id: str) -> Response:
    redirect_uri = api_base_url(app.current_event.raw_event) + CALLBACK_PATH
    return _respond(dependencies().flow.start(tenant_id, _query(), redirect_uri=redirect_uri))


@app.get(CALLBACK_PATH)
def oauth_callback() -> Response:
    callback_url = api_base_url(app.current_event.raw_event) + CALLBACK_PATH
    return _respond(dependencies().flow.callback(_query(), callback_url=callback_url))


@logger.inject_lambda_context(clear_state=True, correlation_id_path=HTTP_REQUEST_ID)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
