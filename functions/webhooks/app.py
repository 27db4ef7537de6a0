"""POST /webhooks/{tenant_id}: signed events from the host app. Thin: wiring and HTTP shape only;
the contract lives in sagebridge.host.webhooks."""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge import composition
from sagebridge.composition import WebhookDeps, WebhookReply, receive_webhook
from sagebridge.observability import HTTP_REQUEST_ID, logger, metrics, tracer
from sagebridge.security.signing import SIGNATURE_HEADER

app = APIGatewayHttpResolver()


@lru_cache(maxsize=1)
def dependencies() -> WebhookDeps:
    """Built on first use (not at import), once per container; tests call `dependencies.cache_clear()`."""
    return composition.webhooks()


def _raw_body(event: dict[str, Any]) -> bytes | None:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return None
    return body.encode("utf-8", "surrogatepass")


def _response(reply: WebhookReply) -> Response:
    return Response(reply.status, "application/json", json.dumps(reply.body), headers=reply.headers)


@app.post("/webhooks/<tenant_id>")
def webhook(tenant_id: str) -> Response:
    raw = _raw_body(app.current_event.raw_event)
    if raw is None:
        return _response(WebhookReply(400, {"error": "invalid_body", "reason": "body is not valid base64"}))
    logger.append_keys(tenant_id=tenant_id)
    headers = app.current_event.headers  # case-insensitive
    return _response(receive_webhook(tenant_id, raw, headers.get(SIGNATURE_HEADER), dependencies(),
                                     content_type=headers.get("content-type"), lambda_context=app.lambda_context))


@logger.inject_lambda_context(clear_state=True, correlation_id_path=HTTP_REQUEST_ID)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
