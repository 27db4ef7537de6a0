"""What was sent to a tenant's host app, for operators (the admin API and `sagebridge deliveries`):
each delivery with its state and the host's last answer, and the refused ones sent again."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from sagebridge.host.delivery import resend, resend_failed
from sagebridge.host.outbound import DeliveryQueue
from sagebridge.store.deliveries import Deliveries
from sagebridge.store.records import DeliveryRecord, DeliveryState


class DeliveryView(BaseModel):
    event_id: str
    event_type: str | None
    state: Literal["queued", "delivered", "failed"]
    attempts: int
    created_at: datetime | None
    updated_at: datetime | None
    last_status: int | None  # the host's last HTTP status; None: no answer (timeout, unreachable) or not tried
    last_response: str | None  # the start of the host's last answer
    last_attempt_at: datetime | None
    last_error: str | None
    dead_lettered: bool  # the message went to the HostDeliveryDLQ (a redrive also sends it again)
    resendable: bool  # failed, and its event is kept: POST .../deliveries/{event_id}/resend
    document: dict[str, Any] | None = None  # kind, host_id, number of the document the event is about


class DeliveriesPage(BaseModel):
    deliveries: list[DeliveryView]
    next_token: str | None = None


class DeliveriesResent(BaseModel):
    resent: list[DeliveryView]
    message: str


def delivery_view(record: DeliveryRecord) -> DeliveryView:
    data = (record.event or {}).get("data") or {}
    doc = data.get("invoice") or data.get("credit_note") or data
    document = {k: doc[k] for k in ("kind", "host_id", "number") if doc.get(k)} or None
    return DeliveryView(
        event_id=record.event_id, event_type=record.event_type, state=record.state.value,  # type: ignore[arg-type]
        attempts=record.attempts, created_at=record.created_at, updated_at=record.updated_at,
        last_status=record.last_status, last_response=record.last_response, last_attempt_at=record.last_attempt_at,
        last_error=record.last_error, dead_lettered=record.dead_lettered,
        resendable=record.state is DeliveryState.FAILED and record.event is not None, document=document,
    )


def list_deliveries(deliveries: Deliveries, tenant_id: str, *, state: DeliveryState | None = None, limit: int = 50,
                    next_token: str | None = None) -> DeliveriesPage:
    page = deliveries.of_tenant(tenant_id, state=state, limit=limit, next_token=next_token)
    return DeliveriesPage(deliveries=[delivery_view(r) for r in page], next_token=page.next_token)


def resend_one(queue: DeliveryQueue, deliveries: Deliveries, tenant_id: str, event_id: str) -> DeliveriesResent:
    record = resend(queue, deliveries, tenant_id, event_id)
    return DeliveriesResent(resent=[delivery_view(record)], message=f"{event_id} queued to be sent again")


def resend_all_failed(queue: DeliveryQueue, deliveries: Deliveries, tenant_id: str) -> DeliveriesResent:
    sent = resend_failed(queue, deliveries, tenant_id)
    message = f"{len(sent)} failed deliver{'y' if len(sent) == 1 else 'ies'} queued to be sent again" if sent \
        else "nothing to send again: no failed deliveries that can be resent"
    return DeliveriesResent(resent=[delivery_view(r) for r in sent], message=message)


__all__ = ["DeliveriesPage", "DeliveriesResent", "DeliveryView", "list_deliveries", "resend_all_failed",
           "resend_one"]
