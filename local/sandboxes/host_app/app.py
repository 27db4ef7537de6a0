"""The host app's receiving end: `POST /callback` takes Sage Bridge's deliveries, checks their
signature and records them. Failure modes make it answer 500/503/400/429 for the next N deliveries
so retries, dead-lettering and permanent failures can be shown and tested.

Control endpoints (for tests and the demo):
  GET  /deliveries                  every delivery received: verified ones and refused ones
  POST /_control/fail               {"status": 503, "count": 3, "retry_after": 0}
  POST /_control/reset              forget deliveries and failure modes
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from local.sandboxes.host_app.fixtures import DEMO_SECRET
from sagebridge.security.signing import SIGNATURE_HEADER, SignatureError, standard_webhooks_secret, verify


@dataclass
class Received:
    event_id: str | None
    event_type: str | None
    idempotency_key: str | None
    verified: bool
    status: int  # what the sandbox answered
    event: dict[str, Any] | None
    problem: str | None = None


@dataclass
class HostApp:
    """The sandbox's state: the secrets it trusts, what it received, and the failures to fake."""

    secrets: list[str] = field(default_factory=lambda: [DEMO_SECRET])
    received: list[Received] = field(default_factory=list)
    fail_status: int | None = None
    fail_count: int = 0
    retry_after: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, status: int = 503, retry_after: int | None = None) -> None:
        with self._lock:
            self.fail_status, self.fail_count, self.retry_after = status, count, retry_after

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.fail_status, self.fail_count, self.retry_after = None, 0, None

    def delivered(self) -> list[Received]:
        """Deliveries accepted (verified and answered 2xx)."""
        return [r for r in self.received if r.verified and 200 <= r.status < 300]

    def delivered_ids(self) -> list[str]:
        """Event ids accepted, once per delivery (duplicates show up twice)."""
        return [r.event_id for r in self.delivered() if r.event_id]

    def receive(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Handle one delivery; returns (status, body, headers)."""
        event: dict[str, Any] | None = None
        try:
            if "webhook-signature" in headers:  # a tenant with host_signature_scheme standard-webhooks
                self._verify_standard_webhooks(body, headers)
            else:
                verify(body, headers.get(SIGNATURE_HEADER.lower()), self.secrets)
            event = json.loads(body)
        except (SignatureError, ValueError) as exc:
            self._log(None, headers, False, 401, None, str(exc))
            return 401, {"error": "invalid_signature"}, {}
        with self._lock:
            failing = self.fail_count > 0 and self.fail_status is not None
            if failing:
                self.fail_count -= 1
                status, retry_after = self.fail_status, self.retry_after
        if failing:
            assert status is not None
            self._log(event, headers, True, status, event, "failure mode")
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return status, {"error": "sandbox failure mode"}, extra
        self._log(event, headers, True, 200, event, None)
        return 200, {"received": event.get("id") if isinstance(event, dict) else None}, {}

    def _verify_standard_webhooks(self, body: bytes, headers: dict[str, str]) -> None:
        """As a host using the Standard Webhooks library would: the secret in its whsec_ base64 form."""
        from standardwebhooks import Webhook, WebhookVerificationError

        for secret in self.secrets:
            try:
                Webhook(standard_webhooks_secret(secret)).verify(body, headers)
                return
            except WebhookVerificationError:
                continue
        raise SignatureError("no Standard Webhooks signature matches")

    def _log(self, event: dict[str, Any] | None, headers: dict[str, str], verified: bool, status: int,
             body: dict[str, Any] | None, problem: str | None) -> None:
        with self._lock:
            self.received.append(Received(
                event_id=(event or {}).get("id"), event_type=(event or {}).get("type"),
                idempotency_key=headers.get("idempotency-key"), verified=verified, status=status,
                event=body, problem=problem,
            ))


def create_app(host: HostApp | None = None) -> Starlette:
    state = host or HostApp()

    async def callback(request: Request) -> JSONResponse:
        status, body, headers = state.receive(await request.body(), {k.lower(): v for k, v in request.headers.items()})
        return JSONResponse(body, status_code=status, headers=headers)

    async def deliveries(request: Request) -> JSONResponse:
        return JSONResponse([r.__dict__ for r in state.received])

    async def fail(request: Request) -> JSONResponse:
        spec = await request.json()
        state.fail_next(int(spec.get("count", 1)), int(spec.get("status", 503)), spec.get("retry_after"))
        return JSONResponse({"failing": state.fail_count, "status": state.fail_status})

    async def reset(request: Request) -> JSONResponse:
        state.reset()
        return JSONResponse({"reset": True})

    app = Starlette(routes=[
        Route("/callback", callback, methods=["POST"]),
        Route("/deliveries", deliveries, methods=["GET"]),
        Route("/_control/fail", fail, methods=["POST"]),
        Route("/_control/reset", reset, methods=["POST"]),
    ])
    app.state.host = state
    return app
