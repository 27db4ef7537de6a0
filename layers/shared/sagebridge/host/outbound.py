"""Events Sage Bridge sends back to the host app, and `enqueue_delivery`, the one way to send one.

Every event is `{"id", "type", "api_version", "tenant_id", "occurred_at", "data"}`, POSTed to the tenant's
`host_callback_url`, signed like inbound webhooks, with `Idempotency-Key: <id>`. The id is
deterministic (tenant, type and what the event says), so the same news queued twice by two runs
is delivered once.

The export engine and the payment poller call:

    enqueue_delivery(outbox, tenant_id, InvoicePartPaid(invoice=..., outstanding_amount=...))

where `outbox` is a `DeliveryOutbox` of the delivery queue and the store's deliveries repository.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sagebridge.domain.catalog import Item, TaxRate
from sagebridge.domain.errors import ConflictError
from sagebridge.domain.fields import CurrencyCode, HostId, SageId, Text, UtcDatetime
from sagebridge.domain.hashing import canonical_json
from sagebridge.domain.kinds import DocumentKind
from sagebridge.domain.parties import Customer
from sagebridge.domain.skips import SkipReason
from sagebridge.store.connections import ConnectionChange
from sagebridge.store.deliveries import Deliveries
from sagebridge.store.records import DeliveryState

# The outbound contract's version, in every envelope. Additive changes (a new event type, a new
# optional field, a new value of `outcome`/`status`) raise the minor number; a change that could
# break a host (a field removed, renamed or meaning something else) raises the major number.
# docs/host-integration.md, "Versions".
OUTBOUND_API_VERSION = "1.1"

# --------------------------------------------------------------------------------------- the data

CENT = Decimal("0.01")


def _in_cents(value: Decimal) -> Decimal:
    """Money in an event has two places ("0.00", not "0"), whatever a product's read gave."""
    cents = value.quantize(CENT)
    return cents if cents == value else value  # more places than two is not padded away


Money = Annotated[Decimal, AfterValidator(_in_cents)]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use (cold start)

    event_type: ClassVar[str]


class DocumentLink(BaseModel):
    """A document known on both sides."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use (cold start)

    kind: DocumentKind
    host_id: HostId | None = None  # None: created in Sage, never seen by the host
    sage_id: SageId
    number: Text | None = None


class MoneyMovement(BaseModel):
    """A payment or refund as Sage recorded it."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use (cold start)

    sage_id: SageId
    amount: Money
    currency: CurrencyCode
    date: date
    method: Text | None = None  # Sage's payment method name: "Bank Transfer", "Cash"...
    reference: Text | None = None
    host_id: HostId | None = None  # set when the payment came from the host in the first place


class InvoicePaymentReceived(_Data):
    """Money was set against an invoice in Sage (one event per payment allocation)."""

    event_type: ClassVar[str] = "invoice.payment_received"
    invoice: DocumentLink
    payment: MoneyMovement
    allocated_amount: Money  # how much of this payment went to this invoice
    outstanding_amount: Money


class InvoicePaid(_Data):
    event_type: ClassVar[str] = "invoice.paid"
    invoice: DocumentLink
    total_amount: Money
    outstanding_amount: Money = Decimal("0.00")
    paid_on: date | None = None


class InvoicePartPaid(_Data):
    event_type: ClassVar[str] = "invoice.part_paid"
    invoice: DocumentLink
    total_amount: Money
    outstanding_amount: Money


class CreditNoteRefunded(_Data):
    event_type: ClassVar[str] = "credit_note.refunded"
    credit_note: DocumentLink
    refund: MoneyMovement
    outstanding_amount: Money


class InvoicePaymentReversed(_Data):
    """A payment (or credit note allocation) set against an invoice was deleted or changed in Sage:
    the money told earlier in invoice.payment_received no longer counts. Added for the payment
    poller."""

    event_type: ClassVar[str] = "invoice.payment_reversed"
    invoice: DocumentLink
    payment_sage_id: SageId  # the Sage payment (or allocation) that no longer pays the invoice
    reversed_amount: Money
    outstanding_amount: Money  # the invoice's outstanding amount in Sage now
    reason: Literal["deleted", "changed"]


class CreditNoteRefundReversed(_Data):
    """A refund against a credit note was deleted or changed in Sage. Added for the payment poller."""

    event_type: ClassVar[str] = "credit_note.refund_reversed"
    credit_note: DocumentLink
    refund_sage_id: SageId
    reversed_amount: Money
    outstanding_amount: Money
    reason: Literal["deleted", "changed"]


class SageItem(Item):
    """An item (product or service) as Sage holds it."""

    event_type: ClassVar[str] = "item.upserted"
    model_config = ConfigDict(frozen=True)
    sage_id: SageId  # type: ignore[assignment]  # always known: it comes from Sage


class SageTaxRate(TaxRate):
    event_type: ClassVar[str] = "tax_rate.upserted"
    model_config = ConfigDict(frozen=True)
    sage_id: SageId  # type: ignore[assignment]
    # The tenant asked for the host's own tax types to be replaced by Sage's (Loc8 does this).
    replace_host_tax_types: bool = False


class SageCustomer(Customer):
    """A customer (Sage 'contact') created or changed in Sage."""

    event_type: ClassVar[str] = "customer.upserted"
    model_config = ConfigDict(frozen=True)
    host_id: HostId | None = None  # type: ignore[assignment]  # None: new in Sage, unknown to the host
    sage_id: SageId
    # "sage": created in Sage. Its host_id is then the id Sage Bridge files it under ("sage:<sage id>"):
    # send that id back as the customer's host_id / a document's party_id and it is never created
    # twice (two-way sync without ping-pong). "host": a customer the host sent us, changed in Sage.
    origin: Literal["sage", "host"] = "host"


class ExportFailed(_Data):
    """A document could not be exported; `will_retry` says if the next run tries again."""

    event_type: ClassVar[str] = "export.failed"
    kind: str
    host_id: HostId
    number: Text | None = None
    run_id: str
    reason_code: str
    reason: str
    attempts: int = Field(ge=1)
    will_retry: bool


class ExportRunFailed(_Data):
    """An export run failed because of the tenant's setup (settings Sage Bridge cannot read, a
    business currency it cannot tell...); what it had not sent waits for a later run. Sent once per
    distinct reason; scheduled runs keep trying and carry on once the setup is fixed."""

    event_type: ClassVar[str] = "export.run_failed"
    run_id: str
    reason_code: Literal["configuration"] = "configuration"
    reason: str


class DocumentSkipped(_Data):
    """A document was not exported because something needs fixing first; every reason is listed."""

    event_type: ClassVar[str] = "document.skipped"
    kind: str
    host_id: HostId
    number: Text | None = None
    run_id: str
    reasons: list[SkipReason] = Field(min_length=1)


class DocumentExported(_Data):
    """A document (or payment, refund) is in Sage now: once per version exported. `outcome` says how:
    `created` by Sage Bridge, `updated` (a newer version sent to Sage's copy), `linked` (found
    already in Sage, entered by hand or by an earlier attempt that was cut off, and adopted rather
    than created again) or `voided` (voided, or deleted where Sage deletes that kind, in Sage)."""

    event_type: ClassVar[str] = "document.exported"
    kind: str
    host_id: HostId
    number: Text | None = None
    sage_id: SageId
    run_id: str
    outcome: Literal["created", "updated", "linked", "voided"]


class ConnectionStatusChanged(_Data):
    """The tenant's connection to Sage changed: `connected` (or connected to another business),
    `expiring` (a grant that cannot be extended ends in `days_left` days), `expired` (Sage no longer
    accepts the sign-in: revoked or run out), `disconnected`. Sent once per change."""

    event_type: ClassVar[str] = "connection.status_changed"
    provider: str
    status: Literal["connected", "expiring", "expired", "revoked", "disconnected"]
    previous_status: str | None = None
    reason: Text | None = None  # "Sage refused the refresh token: the tenant must reconnect"
    business_name: Text | None = None
    days_left: int | None = Field(default=None, ge=0)  # `expiring` only
    reconnect_hint: Text | None = None  # what the tenant does to connect again (not for `connected`)


OutboundData = (
    InvoicePaymentReceived | InvoicePaid | InvoicePartPaid | CreditNoteRefunded | SageItem | SageTaxRate
    | SageCustomer | ExportFailed | DocumentSkipped | ConnectionStatusChanged | InvoicePaymentReversed
    | CreditNoteRefundReversed | ExportRunFailed | DocumentExported
)

_CONNECTION_REASONS = {
    "expired": "Sage no longer accepts the tenant's sign-in (revoked in Sage, or run out): exports and payment "
               "polling are paused until the tenant connects again",
    "revoked": "the tenant's Sage sign-in was revoked: exports and payment polling are paused until the tenant "
               "connects again",
    "disconnected": "the tenant was disconnected from Sage: nothing is exported until the tenant connects again",
}


def connection_status_changed(change: ConnectionChange, *, reconnect_hint: str) -> tuple[ConnectionStatusChanged, str]:
    """The host's news of a connection change, and its dedupe key (one event per change)."""
    status = change.status
    if status == "connected":
        business = f" ({change.business_name})" if change.business_name else ""
        reason = (f"connected to another Sage business{business}" if change.previous_status == "connected"
                  else f"connected to Sage{business}")
    elif status == "expiring":
        days = change.days_left or 0
        when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
        reason = (f"the Sage sign-in ends {when} and cannot be extended: exports and payment polling stop then "
                  "unless the tenant connects again before")
    else:
        reason = _CONNECTION_REASONS.get(status, f"the connection is {status}")
    data = ConnectionStatusChanged(
        provider=change.provider, status=status, previous_status=change.previous_status,  # type: ignore[arg-type]
        reason=reason, business_name=change.business_name,
        days_left=change.days_left if status == "expiring" else None,
        reconnect_hint=None if status == "connected" else reconnect_hint,
    )
    if status == "expiring":
        key = f"expiring\n{change.provider}\n{change.grant_ends_at}\n{change.days_left}"
    else:
        key = f"{status}\n{change.provider}\n{change.previous_status}\n{change.business_id}\n{change.at.isoformat()}"
    return data, key


# ------------------------------------------------------------------------------------ the envelope


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use (cold start)

    id: str = Field(min_length=1)
    api_version: str = OUTBOUND_API_VERSION
    tenant_id: str = Field(min_length=1)
    occurred_at: UtcDatetime


def _event_model(data: type[_Data] | type[BaseModel]) -> type[_Event]:
    event_type: str = data.event_type  # type: ignore[union-attr]
    name = "".join(part.title() for part in event_type.replace(".", "_").split("_")) + "Event"
    fields: dict[str, Any] = {"type": (Literal[event_type], ...), "data": (data, ...)}  # type: ignore[valid-type]
    from pydantic import create_model

    return create_model(name, __base__=_Event, __module__=__name__, **fields)


DATA_MODELS: tuple[type[BaseModel], ...] = (
    InvoicePaymentReceived, InvoicePaid, InvoicePartPaid, CreditNoteRefunded, SageItem, SageTaxRate,
    SageCustomer, ExportFailed, DocumentSkipped, ConnectionStatusChanged, InvoicePaymentReversed,
    CreditNoteRefundReversed, ExportRunFailed, DocumentExported,
)
EVENT_FOR_DATA: dict[type[BaseModel], type[_Event]] = {data: _event_model(data) for data in DATA_MODELS}
EVENT_MODELS: dict[str, type[_Event]] = {
    data.event_type: event for data, event in EVENT_FOR_DATA.items()  # type: ignore[attr-defined]
}
OutboundEvent = Annotated[
    EVENT_FOR_DATA[InvoicePaymentReceived] | EVENT_FOR_DATA[InvoicePaid] | EVENT_FOR_DATA[InvoicePartPaid]  # type: ignore[valid-type]
    | EVENT_FOR_DATA[CreditNoteRefunded] | EVENT_FOR_DATA[SageItem] | EVENT_FOR_DATA[SageTaxRate]  # type: ignore[valid-type]
    | EVENT_FOR_DATA[SageCustomer] | EVENT_FOR_DATA[ExportFailed] | EVENT_FOR_DATA[DocumentSkipped]  # type: ignore[valid-type]
    | EVENT_FOR_DATA[ConnectionStatusChanged] | EVENT_FOR_DATA[InvoicePaymentReversed]  # type: ignore[valid-type]
    | EVENT_FOR_DATA[CreditNoteRefundReversed] | EVENT_FOR_DATA[ExportRunFailed]  # type: ignore[valid-type]
    | EVENT_FOR_DATA[DocumentExported],  # type: ignore[valid-type]
    Field(discriminator="type"),
]


def build_event(
    tenant_id: str, data: BaseModel, *, dedupe_key: str | None = None, occurred_at: datetime | None = None
) -> _Event:
    """The envelope for `data`, with its deterministic id."""
    model = EVENT_FOR_DATA.get(type(data))
    if model is None:
        raise TypeError(f"{type(data).__name__} is not an outbound event's data")
    event_type: str = type(data).event_type  # type: ignore[attr-defined]
    return model(  # type: ignore[call-arg]  # type and data are the subclass's fields
        id=delivery_event_id(tenant_id, event_type, dedupe_key or canonical_json(data, ignore=())),
        type=event_type,
        tenant_id=tenant_id,
        occurred_at=occurred_at or datetime.now(UTC),
        data=data,
    )


def delivery_event_id(tenant_id: str, event_type: str, dedupe_key: str) -> str:
    """`evt_` + 32 hex: the same tenant, type and news always give the same id."""
    digest = hashlib.sha256(f"{tenant_id}\n{event_type}\n{dedupe_key}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


# ------------------------------------------------------------------------------- queueing a delivery


class DeliveryMessage(BaseModel):
    """The body of a message on DELIVERY_QUEUE_URL: the whole event, so delivery needs no lookup."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str = Field(min_length=1)
    event_id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    event: dict[str, Any]


class DeliveryQueue(Protocol):
    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str: ...


@dataclass
class DeliveryOutbox:
    """Where enqueue_delivery writes: the delivery queue and the store's deliveries repository,
    e.g. `DeliveryOutbox(MessageQueue(settings.delivery_queue_url, clients), Deliveries(table))`."""

    queue: DeliveryQueue
    deliveries: Deliveries


@dataclass(frozen=True)
class QueuedDelivery:
    event_id: str
    event_type: str
    queued: bool  # False: this event was queued (or delivered) before; nothing was sent


def enqueue_delivery(
    outbox: DeliveryOutbox,
    tenant_id: str,
    data: BaseModel,
    *,
    dedupe_key: str | None = None,
    occurred_at: datetime | None = None,
) -> QueuedDelivery:
    """Queue one event for the tenant's host app; the delivery function sends it.

    Idempotent: the same news (same tenant, type and data, or the same `dedupe_key`) is queued once;
    later calls return queued=False. The message is sent before the `queued` record is written, so a
    failure between the two leaves a message without a record (delivery writes one), never a record
    without a message; a copy sent twice is delivered once (delivery checks the record first)."""
    event = build_event(tenant_id, data, dedupe_key=dedupe_key, occurred_at=occurred_at)
    event_type: str = event.type  # type: ignore[attr-defined]
    if outbox.deliveries.find(event.id) is not None:
        return QueuedDelivery(event.id, event_type, queued=False)
    message = delivery_message(event)
    outbox.queue.send(message)
    try:
        outbox.deliveries.record(event.id, tenant_id, DeliveryState.QUEUED, attempts=0, event=message["event"])
    except ConflictError:
        pass  # the delivery function got there first: its record stands
    return QueuedDelivery(event.id, event_type, queued=True)


@dataclass(frozen=True)
class Outgoing:
    """One event for `enqueue_deliveries`: its data and what makes it news (as enqueue_delivery)."""

    data: BaseModel
    dedupe_key: str | None = None
    occurred_at: datetime | None = None


def enqueue_deliveries(outbox: DeliveryOutbox, tenant_id: str, events: Sequence[Outgoing]) -> list[QueuedDelivery]:
    """`enqueue_delivery` for many events at once, in their order, with the same guarantees (each
    queued once; the message sent before its record, so never a record without a message), at a
    cost that does not grow per event: the known ones found with one read per 100, the new ones
    sent 10 per SendMessageBatch and recorded with conditional writes 100 per transaction (where
    the outbox's ports can; one call each otherwise)."""
    built = [build_event(tenant_id, e.data, dedupe_key=e.dedupe_key, occurred_at=e.occurred_at) for e in events]
    known_of = getattr(outbox.deliveries, "known", None)
    ids = list(dict.fromkeys(event.id for event in built))
    known: set[str] = known_of(ids) if known_of is not None else {i for i in ids if outbox.deliveries.find(i)}
    answers: list[QueuedDelivery] = []
    messages: list[dict[str, Any]] = []
    for event in built:
        event_type: str = event.type  # type: ignore[attr-defined]
        is_new = event.id not in known
        answers.append(QueuedDelivery(event.id, event_type, queued=is_new))
        if is_new:
            known.add(event.id)  # the same news twice in one call is queued once
            messages.append(delivery_message(event))
    if not messages:
        return answers
    send_batch = getattr(outbox.queue, "send_batch", None)
    if send_batch is not None:
        send_batch(messages)
    else:
        for message in messages:
            outbox.queue.send(message)
    record_many = getattr(outbox.deliveries, "record_queued_many", None)
    if record_many is not None:
        record_many(tenant_id, [m["event"] for m in messages])  # a record that lost: delivery wrote it first
    else:
        for message in messages:
            try:
                outbox.deliveries.record(message["event_id"], tenant_id, DeliveryState.QUEUED, attempts=0,
                                         event=message["event"])
            except ConflictError:
                pass
    return answers


def delivery_message(event: _Event) -> dict[str, Any]:
    return DeliveryMessage(
        tenant_id=event.tenant_id,
        event_id=event.id,
        event_type=event.type,  # type: ignore[attr-defined]
        event=event.model_dump(mode="json"),
    ).model_dump(mode="json")
