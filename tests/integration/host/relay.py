"""The delivery queue played at once, for tests that drive the engines: every event queued goes
straight through the real delivery function (signed POST) to the host app sandbox, with the store's
delivery records, as the host_delivery function would a moment later."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.testclient import TestClient

from local.sandboxes.host_app import HostApp, create_app
from sagebridge.host.delivery import DeliveryDeps, RetryDelivery, deliver, parse_message
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.store import Store

SECRET = "whsec_test_relay_secret_000000000001"
CALLBACK_URL = "http://host.test/callback"


@dataclass
class FixedSecrets:
    secret: str = SECRET

    def for_tenant(self, tenant_id: str) -> list[str]:
        return [self.secret]


class _NoWait:
    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        pass


@dataclass
class Relay:
    store: Store
    host_app: HostApp
    notes: list[Any] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deps = DeliveryDeps(tenants=self.store.tenants, deliveries=self.store.deliveries, secrets=FixedSecrets(),
                                 http=TestClient(create_app(self.host_app)), queue=_NoWait(), max_receive_count=5,
                                 notify=self.notes.append)  # type: ignore[arg-type]

    @property
    def outbox(self) -> DeliveryOutbox:
        return DeliveryOutbox(self, self.store.deliveries)

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.sent.append(body)
        try:
            deliver(parse_message_body(body), receive_count=1, receipt_handle="r", deps=self.deps)
        except RetryDelivery:
            pass  # recorded queued with the host's answer; a test that wants the retry sends it again
        return f"m{len(self.sent)}"


def parse_message_body(body: dict[str, Any]) -> Any:
    import json

    return parse_message(json.dumps(body))


def received(host_app: HostApp, event_type: str) -> list[dict[str, Any]]:
    """The events of this type the host accepted (signature verified, answered 2xx), in order."""
    return [r.event for r in host_app.delivered() if r.event_type == event_type and r.event is not None]
