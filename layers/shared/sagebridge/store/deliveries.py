"""Outbound delivery records (DELIVERY#event_id / DELIVERY): the state of each event sent to the
host app, the event itself (so a refused one can be sent again) and the host's last answer. Keyed
by event id so the delivery function's check-before-send is a consistent read; the sparse GSI1
lists a tenant's backlog (queued, failed); GSI2 lists all of a tenant's records, newest first.

Bounded by time: every record expires (DynamoDB TTL) `RETENTION` after its last write, delivered
or not, so a tenant keeps at most 90 days of deliveries."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sagebridge.domain.errors import ConflictError
from sagebridge.store import keys
from sagebridge.store.records import DeliveryRecord, DeliveryState
from sagebridge.store.table import (
    IfAbsent,
    Item,
    Page,
    Table,
    Write,
    epoch_seconds,
    iso,
    missing,
    parse_iso,
    put,
    update,
)

RETENTION = timedelta(days=90)
_BACKLOG = frozenset({DeliveryState.QUEUED, DeliveryState.FAILED})
RESPONSE_EXCERPT = 300  # characters of the host's answer kept: enough to read its error


def excerpt(text: str | None, limit: int = RESPONSE_EXCERPT) -> str | None:
    """The start of a host's answer, one line of printable text."""
    if not text:
        return None
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Deliveries:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record_op(
        self,
        event_id: str,
        tenant_id: str,
        state: DeliveryState,
        *,
        attempts: int = 0,
        last_error: str | None = None,
        event: dict[str, Any] | None = None,
        answer: tuple[int | None, str | None] | None = None,
        dead_lettered: bool = False,
    ) -> Write:
        """Record the state of an event's delivery. Delivered is final and attempts never go
        backwards, so a late or repeated write cannot resurrect a delivered event (ConflictError).
        `event` (the envelope) is kept from the first write that has it; `answer` is the host's
        last (status, body) when this write follows an attempt."""
        state = DeliveryState(state)
        now = self._table.now()
        backlog = state in _BACKLOG
        fields: dict[str, Any] = {
            "event_id": event_id, "tenant_id": tenant_id, "state": state.value,
            "attempts": attempts, "last_error": last_error, "updated_at": iso(now),
            "created_at": IfAbsent(iso(now)), "expires_at": epoch_seconds(now + RETENTION),
            "gsi1pk": keys.deliveries_by_state_pk(tenant_id, state.value) if backlog else None,
            "gsi1sk": keys.deliveries_by_state_sk(iso(now), event_id) if backlog else None,
            "gsi2pk": keys.deliveries_of_tenant_pk(tenant_id),
            "gsi2sk": IfAbsent(keys.deliveries_of_tenant_sk(iso(now), event_id)),
            "dead_lettered": dead_lettered or None,
        }
        if event is not None:
            fields["event"] = IfAbsent(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
            fields["event_type"] = IfAbsent(str(event.get("type", "")))
        if answer is not None:
            fields.update(last_status=answer[0], last_response=excerpt(answer[1]), last_attempt_at=iso(now))
        return update(
            (keys.delivery_pk(event_id), keys.delivery_sk()),
            set_=fields,
            condition="attribute_not_exists(pk) OR (#state <> :delivered AND #attempts <= :attempts "
                      "AND tenant_id = :tenant)",
            names={"#state": "state", "#attempts": "attempts"},
            values={":delivered": DeliveryState.DELIVERED.value, ":attempts": attempts,
                    ":tenant": tenant_id},
            what=f"delivery {event_id}",
        )

    def record(
        self,
        event_id: str,
        tenant_id: str,
        state: DeliveryState,
        *,
        attempts: int = 0,
        last_error: str | None = None,
        event: dict[str, Any] | None = None,
        answer: tuple[int | None, str | None] | None = None,
        dead_lettered: bool = False,
    ) -> DeliveryRecord:
        new = self._table.write(
            self.record_op(event_id, tenant_id, state, attempts=attempts, last_error=last_error, event=event,
                           answer=answer, dead_lettered=dead_lettered),
            ReturnValues="ALL_NEW",
        )
        return _record(new)

    def record_queued(self, tenant_id: str, event_id: str, event_type: str) -> bool:
        """Create the record of a new event in state queued; False if the event id is already known
        (queued or delivered before): the caller then sends nothing."""
        now = self._table.now()
        item = {
            "pk": keys.delivery_pk(event_id), "sk": keys.delivery_sk(), "event_id": event_id,
            "tenant_id": tenant_id, "event_type": event_type, "state": DeliveryState.QUEUED.value,
            "attempts": 0, "created_at": iso(now), "updated_at": iso(now),
            "expires_at": epoch_seconds(now + RETENTION),
            "gsi1pk": keys.deliveries_by_state_pk(tenant_id, DeliveryState.QUEUED.value),
            "gsi1sk": keys.deliveries_by_state_sk(iso(now), event_id),
            "gsi2pk": keys.deliveries_of_tenant_pk(tenant_id),
            "gsi2sk": keys.deliveries_of_tenant_sk(iso(now), event_id),
        }
        try:
            self._table.write(put(item, condition="attribute_not_exists(pk)", what=f"delivery {event_id}"))
        except ConflictError:
            return False
        return True

    def known(self, event_ids: list[str]) -> set[str]:
        """The event ids among these that have a record (queued or delivered before): one
        BatchGetItem per 100, not a GetItem each."""
        items = self._table.batch_get([(keys.delivery_pk(e), keys.delivery_sk()) for e in event_ids])
        return {str(item["event_id"]) for item in items}

    def record_queued_many(self, tenant_id: str, events: list[dict[str, Any]]) -> list[bool]:
        """`record(..., QUEUED, event=...)` for many events (the envelopes), conditional as ever (a
        delivered record is never overwritten), in transactions of 100 instead of a write each.
        Answers, per event, whether its record was written."""
        writes = [self.record_op(str(e["id"]), tenant_id, DeliveryState.QUEUED, attempts=0, event=e) for e in events]
        return self._table.transact_each(writes)

    def get(self, event_id: str) -> DeliveryRecord:
        found = self.find(event_id)
        if found is None:
            raise missing(f"delivery {event_id}")
        return found

    def find(self, event_id: str) -> DeliveryRecord | None:
        item = self._table.get(keys.delivery_pk(event_id), keys.delivery_sk())
        return _record(item) if item else None

    def backlog(
        self,
        tenant_id: str,
        state: DeliveryState = DeliveryState.QUEUED,
        *,
        limit: int = 100,
        next_token: str | None = None,
    ) -> Page[DeliveryRecord]:
        """A tenant's queued (or failed) deliveries, oldest first."""
        if DeliveryState(state) not in _BACKLOG:
            raise ValueError("the backlog holds queued and failed deliveries only")
        partition = keys.deliveries_by_state_pk(tenant_id, DeliveryState(state).value)
        items, token = self._table.query_page(
            "gsi1pk = :p", {":p": partition}, partition=("gsi1pk", partition), index="GSI1",
            limit=limit, next_token=next_token,
        )
        return Page([_record(i) for i in items], token)

    def of_tenant(
        self,
        tenant_id: str,
        *,
        state: DeliveryState | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> Page[DeliveryRecord]:
        """A tenant's deliveries, newest first: all of them, or those in one state (queued and
        failed from the backlog index, newest first too)."""
        if state is not None and DeliveryState(state) in _BACKLOG:
            partition = keys.deliveries_by_state_pk(tenant_id, DeliveryState(state).value)
            items, token = self._table.query_page(
                "gsi1pk = :p", {":p": partition}, partition=("gsi1pk", partition), index="GSI1",
                newest_first=True, limit=limit, next_token=next_token,
            )
        else:
            partition = keys.deliveries_of_tenant_pk(tenant_id)
            values: dict[str, Any] = {":p": partition}
            names: dict[str, str] | None = None
            condition = None
            if state is not None:
                values[":s"], names, condition = DeliveryState(state).value, {"#state": "state"}, "#state = :s"
            items, token = self._table.query_page(
                "gsi2pk = :p", values, partition=("gsi2pk", partition), index="GSI2", names=names,
                filter_expression=condition, newest_first=True, limit=limit, next_token=next_token,
            )
        return Page([_record(i) for i in items], token)


def _record(item: Item) -> DeliveryRecord:
    status = item.get("last_status")
    event = item.get("event")
    return DeliveryRecord(
        event_id=item["event_id"], tenant_id=item["tenant_id"], state=DeliveryState(item["state"]),
        attempts=int(item.get("attempts", 0)), last_error=item.get("last_error"),
        event_type=item.get("event_type"),
        created_at=parse_iso(item.get("created_at")), updated_at=parse_iso(item.get("updated_at")),
        last_status=int(status) if status is not None else None, last_response=item.get("last_response"),
        last_attempt_at=parse_iso(item.get("last_attempt_at")), dead_lettered=bool(item.get("dead_lettered")),
        event=json.loads(event) if event else None,
    )
