"""The host app's side of inbound webhooks: sign an event and send it, over HTTP to a base URL or
in process to a Lambda handler (as an HTTP API v2 event)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from sagebridge.security.signing import SIGNATURE_HEADER, sign

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def http_api_event(tenant_id: str, body: bytes | str, headers: dict[str, str] | None = None,
                   *, stage: str = "$default") -> dict[str, Any]:
    """An API Gateway HTTP API (payload v2) event for POST /webhooks/{tenant_id}."""
    raw = body.encode() if isinstance(body, str) else body
    try:
        text, base64_encoded = raw.decode("utf-8"), False
    except UnicodeDecodeError:  # API Gateway base64-encodes what is not UTF-8 text
        text, base64_encoded = base64.b64encode(raw).decode(), True
    path = f"/webhooks/{tenant_id}"
    now = int(time.time())
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{tenant_id}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "content-length": str(len(raw)),
                    "host": "localhost:3000", "user-agent": "host-app-sandbox/1", **lowered},
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "localhost:3000",
            "domainPrefix": "localhost", "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                                                  "sourceIp": "127.0.0.1", "userAgent": "host-app-sandbox/1"},
            "requestId": str(uuid.uuid4()), "routeKey": "POST /webhooks/{tenant_id}", "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": now * 1000,
        },
        "pathParameters": {"tenant_id": tenant_id},
        "body": text,
        "isBase64Encoded": base64_encoded,
    }


def resign(event: dict[str, Any], secret: str, *, now: int | None = None) -> dict[str, Any]:
    """A copy of an HTTP API event from events/ with a fresh timestamp and signature: how the stored
    examples get past the 5-minute tolerance (`python -m local.sandboxes.host_app.events --resign`)."""
    body = (event.get("body") or "").encode()
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != SIGNATURE_HEADER.lower()}
    headers[SIGNATURE_HEADER.lower()] = sign(body, secret, timestamp=now)
    return {**event, "headers": headers}


@dataclass
class Sent:
    status: int
    body: dict[str, Any]


class WebhookSender:
    """Sends signed events for one tenant, to `base_url` (HTTP) or `handler` (in process)."""

    def __init__(self, tenant_id: str, secret: str | list[str], *, base_url: str | None = None,
                 handler: Handler | None = None, context: Any = None, http: httpx.Client | None = None) -> None:
        if (base_url is None) == (handler is None):
            raise ValueError("give exactly one of base_url or handler")
        self.tenant_id, self.secret = tenant_id, secret
        self.base_url, self.handler, self.context = base_url, handler, context
        self._http = http

    def send(self, event: dict[str, Any] | bytes, *, timestamp: int | None = None,
             headers: dict[str, str] | None = None, signed: bool = True) -> Sent:
        body = event if isinstance(event, bytes) else encode(event)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if signed:
            all_headers[SIGNATURE_HEADER] = sign(body, self.secret, timestamp=timestamp)
        if self.handler is not None:
            reply = self.handler(http_api_event(self.tenant_id, body, all_headers), self.context)
            return Sent(int(reply["statusCode"]), json.loads(reply.get("body") or "{}"))
        http = self._http or httpx.Client(timeout=10.0)
        response = http.post(f"{self.base_url.rstrip('/')}/webhooks/{self.tenant_id}", content=body,  # type: ignore[union-attr]
                             headers=all_headers)
        return Sent(response.status_code, response.json() if response.content else {})
