"""Inbound webhook events as received (TENANT#t / EVENT#event_id): what each event did to the staged
record (stored, stale, unknown document) and the hash of its content. Written in the same transaction
as the staged document, so a document is never staged without the event that brought it, nor the
other way round; written only once per event id, so an event cannot be applied twice, and a reused
id with another body is recognised for as long as the record lives. TTL 90 days.

Added by the host-contract work (issue 5); keys live here rather than in keys.py to stay additive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sagebridge.store import keys
from sagebridge.store.table import Table, Write, epoch_seconds, iso, parse_iso, put

RETENTION = timedelta(days=90)


def event_sk(event_id: str) -> str:
    return f"EVENT#{keys.external_id(event_id, 'event id')}"


@dataclass(frozen=True, slots=True)
class WebhookEventRecord:
    tenant_id: str
    event_id: str
    event_type: str
    kind: str
    host_id: str
    version: int
    outcome: str  # stored | stale | unknown_document
    occurred_at: datetime
    received_at: datetime | None = None
    body_hash: str | None = None  # the event's content; None on records written before it was kept


class WebhookEvents:
    def __init__(self, table: Table) -> None:
        self._table = table

    def put_op(self, event: WebhookEventRecord) -> Write:
        """Only if the event id is new (ConflictError otherwise): the caller reads what the first
        delivery of the id did instead."""
        now = self._table.now()
        item = {
            "pk": keys.tenant_pk(event.tenant_id), "sk": event_sk(event.event_id),
            "tenant_id": event.tenant_id, "event_id": event.event_id, "event_type": event.event_type,
            "kind": event.kind, "host_id": event.host_id, "version": event.version,
            "outcome": event.outcome, "occurred_at": iso(event.occurred_at), "received_at": iso(now),
            "body_hash": event.body_hash, "expires_at": epoch_seconds(now + RETENTION),
        }
        return put(item, condition="attribute_not_exists(pk)",
                   what=f"webhook event {event.event_id} of tenant {event.tenant_id}")

    def put(self, event: WebhookEventRecord) -> None:
        self._table.write(self.put_op(event))

    def find(self, tenant_id: str, event_id: str) -> WebhookEventRecord | None:
        item = self._table.get(keys.tenant_pk(tenant_id), event_sk(event_id))
        if not item:
            return None
        occurred = parse_iso(item["occurred_at"])
        assert occurred is not None
        return WebhookEventRecord(
            tenant_id=item["tenant_id"], event_id=item["event_id"], event_type=item["event_type"],
            kind=item["kind"], host_id=item["host_id"], version=int(item["version"]),
            outcome=item["outcome"], occurred_at=occurred, received_at=parse_iso(item.get("received_at")),
            body_hash=item.get("body_hash"),
        )
