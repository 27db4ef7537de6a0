"""The delivery outbox's two ports (queue and delivery records) in memory, for tests and benchmarks
that drive the engines without SQS: it remembers what was queued and which event ids were seen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class InMemoryOutbox:
    sent: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    @property
    def queue(self) -> InMemoryOutbox:
        return self

    @property
    def deliveries(self) -> InMemoryOutbox:
        return self

    def find(self, event_id: str) -> Any:
        return event_id if event_id in self.seen else None

    def record(self, event_id: str, tenant_id: str, state: Any, **fields: Any) -> None:
        self.seen.add(event_id)

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.sent.append(body)
        return str(len(self.sent))

    def types(self) -> list[str]:
        return [body["event_type"] for body in self.sent]
