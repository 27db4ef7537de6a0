"""GET/POST /portal/...: the tenant portal the host app links its users to (docs/portal.md).
Thin: HTTP shape only; the sessions and pages live in sagebridge.portal, built by
sagebridge.composition. No IAM: a signed portal link (POST /admin/tenants/{id}/portal-links)
opens a session bound to one tenant."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge import composition
from sagebridge.observability import HTTP_REQUEST_ID, logger, metrics, tracer
from sagebridge.portal import pages
from sagebridge.portal.web import HERE, Portal, Reply, Request

app = APIGatewayHttpResolver()
STYLESHEET = (HERE / "static" / "portal.css").read_text()


@lru_cache(maxsize=1)
def dependencies() -> Portal:
    """Built on first use, once per container; tests patch it."""
    return composition.portal()


def api_base_url() -> str:
    """PUBLIC_API_URL when a custom domain fronts the API, else this request's own API URL."""
    configured = dependencies().admin.products.settings.public_api_url
    if configured:
        return configured.rstrip("/")
    context = app.current_event.raw_event.get("requestContext") or {}
    stage = context.get("stage") or "$default"
    return f"https://{context.get('domainName', 'localhost')}{'' if stage == '$default' else f'/{stage}'}"


def request() -> Request:
    event = app.current_event
    form: dict[str, list[str]] = {}
    if event.http_method == "POST" and event.decoded_body:
        form = parse_qs(event.decoded_body, keep_blank_values=True)
    cookies = dict(c.strip().split("=", 1) for c in event.cookies if "=" in c)
    return Request(method=event.http_method, path=event.path, query=dict(event.query_string_parameters or {}),
                   form=form, cookies=cookies, base_url=api_base_url())


def respond(reply: Reply) -> Response:
    return Response(reply.status, reply.content_type, reply.body, headers=reply.headers, cookies=reply.cookies)


@app.get("/portal/open")
def open_link() -> Response:
    return respond(pages.open_link(dependencies(), request()))


@app.get("/portal/static/portal.css")
def stylesheet() -> Response:
    portal = dependencies()
    return respond(portal.finish(Reply(200, STYLESHEET, "text/css; charset=utf-8")))


@app.get("/portal/t/<tenant_id>")
def overview(tenant_id: str) -> Response:
    return respond(pages.handle(dependencies(), request(), tenant_id, ""))


@app.get("/portal/t/<tenant_id>/<name>")
def page(tenant_id: str, name: str) -> Response:
    return respond(pages.handle(dependencies(), request(), tenant_id, name))


@app.post("/portal/t/<tenant_id>/<name>")
def change(tenant_id: str, name: str) -> Response:
    return respond(pages.handle(dependencies(), request(), tenant_id, name))


@app.not_found
def not_found(_exc: Exception) -> Response:
    return respond(pages.not_found(dependencies()))


@app.exception_handler(Exception)
def unexpected(exc: Exception) -> Response:
    logger.exception("portal_failed", extra={"path": app.current_event.path, "error": type(exc).__name__})
    return respond(pages.failed(dependencies()))


@logger.inject_lambda_context(clear_state=True, correlation_id_path=HTTP_REQUEST_ID)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
