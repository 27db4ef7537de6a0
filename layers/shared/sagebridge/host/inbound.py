"""The events the host app sends to `POST /webhooks/{tenant_id}`, and how a raw body becomes one.

Every event is `{"id", "type", "occurred_at", "data"}`; `data` is the canonical domain model the
`type` names. Parsing never raises anything but `InvalidWebhook`, whose problems name each bad field
by its path (`data.lines.1.unit_price`) so the host can fix its payload without asking us.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from sagebridge.domain.base import InboundModel, field_reasons
from sagebridge.domain.documents import PurchaseCreditNote, PurchaseInvoice, SalesCreditNote, SalesInvoice
from sagebridge.domain.fields import HostId, HostText, HostVersion, UtcDatetime
from sagebridge.domain.kinds import DocumentKind, PartyKind
from sagebridge.domain.parties import Customer, Vendor
from sagebridge.domain.payments import CustomerPayment, CustomerRefund

MAX_BODY_BYTES = 256 * 1024
EventId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]
# How far ahead of our clock occurred_at may be: a host clock years ahead would make every later
# change of the record look older than the one it sent.
MAX_CLOCK_AHEAD = timedelta(hours=24)

# Event types a host might expect to send but that Sage Bridge refuses, and what to do instead.
REFUSED_EVENT_TYPES = {
    "item.upserted": (
        "items are not exported to Sage: Sage Bridge imports Sage's products and services and sends them "
        "to you as item.upserted deliveries. Create the item in Sage (or let it come to you from Sage), "
        "and on document lines send item_id, ledger_code and tax_code as usual"
    ),
}


class InboundEventType(StrEnum):
    CUSTOMER_UPSERTED = "customer.upserted"
    VENDOR_UPSERTED = "vendor.upserted"
    INVOICE_UPSERTED = "invoice.upserted"
    CREDIT_NOTE_UPSERTED = "credit_note.upserted"
    PURCHASE_INVOICE_UPSERTED = "purchase_invoice.upserted"
    PURCHASE_CREDIT_NOTE_UPSERTED = "purchase_credit_note.upserted"
    PAYMENT_RECORDED = "payment.recorded"
    REFUND_RECORDED = "refund.recorded"
    DOCUMENT_VOIDED = "document.voided"


class VoidedDocument(InboundModel):
    """A document the host cancelled: it must not be exported (or, if it was, be flagged)."""

    kind: DocumentKind
    host_id: HostId
    reason: HostText | None = None
    version: HostVersion | None = None  # None: the void applies to the version staged (if not older in time)


class _Event(InboundModel):
    """The envelope every event shares."""

    # The staged record kind this event carries (None: the event stages no record of its own).
    record_kind: ClassVar[str | None] = None

    id: EventId
    occurred_at: UtcDatetime

    def staged_kind(self) -> str:
        """The kind under which `data` is staged ('sales_invoice', 'customer', 'item'...)."""
        assert self.record_kind is not None
        return self.record_kind

    def staged_host_id(self) -> str:
        data: Any = getattr(self, "data")  # noqa: B009 - every concrete event has data
        return str(data.host_id)

    def version(self) -> int | None:
        """The host's own version of the record, if it sends one (compared before occurred_at)."""
        return getattr(getattr(self, "data"), "version", None)  # noqa: B009

    def status(self) -> str | None:
        """The host status of a document (what trigger statuses are matched against)."""
        return getattr(getattr(self, "data"), "status", None)  # noqa: B009


class CustomerUpserted(_Event):
    record_kind: ClassVar[str | None] = PartyKind.CUSTOMER.value
    type: Literal["customer.upserted"]
    data: Customer


class VendorUpserted(_Event):
    record_kind: ClassVar[str | None] = PartyKind.VENDOR.value
    type: Literal["vendor.upserted"]
    data: Vendor


class InvoiceUpserted(_Event):
    record_kind: ClassVar[str | None] = DocumentKind.SALES_INVOICE.value
    type: Literal["invoice.upserted"]
    data: SalesInvoice


class CreditNoteUpserted(_Event):
    record_kind: ClassVar[str | None] = DocumentKind.SALES_CREDIT_NOTE.value
    type: Literal["credit_note.upserted"]
    data: SalesCreditNote


class PurchaseInvoiceUpserted(_Event):
    record_kind: ClassVar[str | None] = DocumentKind.PURCHASE_INVOICE.value
    type: Literal["purchase_invoice.upserted"]
    data: PurchaseInvoice


class PurchaseCreditNoteUpserted(_Event):
    record_kind: ClassVar[str | None] = DocumentKind.PURCHASE_CREDIT_NOTE.value
    type: Literal["purchase_credit_note.upserted"]
    data: PurchaseCreditNote


class PaymentRecorded(_Event):
    record_kind: ClassVar[str | None] = DocumentKind.CUSTOMER_PAYMENT.value
    type: Literal["payment.recorded"]
    data: CustomerPayment


class RefundRecorded(_Event):
    record_kind: ClassVar[str | None] = DocumentKind.CUSTOMER_REFUND.value
    type: Literal["refund.recorded"]
    data: CustomerRefund


class DocumentVoided(_Event):
    type: Literal["document.voided"]
    data: VoidedDocument

    def staged_kind(self) -> str:
        return self.data.kind.value


InboundEvent = Annotated[
    CustomerUpserted
    | VendorUpserted
    | InvoiceUpserted
    | CreditNoteUpserted
    | PurchaseInvoiceUpserted
    | PurchaseCreditNoteUpserted
    | PaymentRecorded
    | RefundRecorded
    | DocumentVoided,
    Field(discriminator="type"),
]

EVENT_MODELS: dict[InboundEventType, type[_Event]] = {
    InboundEventType(model.model_fields["type"].annotation.__args__[0]): model  # type: ignore[union-attr]
    for model in (
        CustomerUpserted, VendorUpserted, InvoiceUpserted, CreditNoteUpserted,
        PurchaseInvoiceUpserted, PurchaseCreditNoteUpserted, PaymentRecorded, RefundRecorded,
        DocumentVoided,
    )
}
inbound_event_adapter: TypeAdapter[Any] = TypeAdapter(InboundEvent)


class _Envelope(BaseModel):
    """Only used to name envelope problems when `type` itself is missing or unknown."""

    model_config = ConfigDict(extra="ignore")

    id: EventId
    type: InboundEventType
    occurred_at: datetime
    data: dict[str, Any]


# ------------------------------------------------------------------------------------------ problems


class FieldProblem(BaseModel):
    field: str
    reason: str


class InvalidWebhook(Exception):
    """A body we refuse: `status` is 400 (not JSON) or 422 (JSON, but not a valid event)."""

    def __init__(self, status: int, problems: list[FieldProblem]) -> None:
        super().__init__(f"{status}: {len(problems)} problem(s)")
        self.status = status
        self.problems = problems


def field_problems(exc: ValidationError) -> list[FieldProblem]:
    """One problem per pydantic error, the field named by its dotted path."""
    return [FieldProblem(field=where, reason=reason) for where, reason in field_reasons(exc, whole="(body)")]


class _ExponentNumber:
    """A JSON number written with an exponent (1e2): kept apart so the door can refuse it by name."""

    def __init__(self, text: str) -> None:
        self.text = text


def _json_number(text: str) -> Decimal | _ExponentNumber:
    # Exact, as written: 10.10 stays 10.10, never a binary float's 10.0999...
    return _ExponentNumber(text) if "e" in text.lower() else Decimal(text)


def decode_json(raw: bytes) -> Any:
    """JSON, or InvalidWebhook(400). Refuses NaN/Infinity, invalid UTF-8 and absurd nesting.
    Numbers with a fraction come back as Decimals, as written."""

    def _no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(raw, parse_constant=_no_constants, parse_float=_json_number)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise InvalidWebhook(400, [FieldProblem(field="(body)", reason=f"not valid JSON: {reason}")]) from None


def _exponent_problems(body: Any) -> list[FieldProblem]:
    """Every number written with an exponent, by its path (iterative: bodies may nest deeply)."""
    problems: list[FieldProblem] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _ExponentNumber):
            problems.append(FieldProblem(
                field=".".join(map(str, path)) or "(body)",
                reason=f"{value.text} is in exponent notation; write the number out in full, such as 100.00"))
        elif isinstance(value, dict):
            stack += [((*path, k), v) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [((*path, i), v) for i, v in enumerate(value)]
    return sorted(problems, key=lambda p: p.field)


def _rule_problems(event: _Event, now: datetime | None) -> list[FieldProblem]:
    """What the models alone cannot say: money the currency or kind forbids, a clock far ahead."""
    problems = []
    if now is not None and event.occurred_at > now + MAX_CLOCK_AHEAD:
        problems.append(FieldProblem(field="occurred_at", reason=(
            f"is in the future (more than {MAX_CLOCK_AHEAD.total_seconds() / 3600:g} hours after we received "
            "the event); check the host's clock")))
    money_problems = getattr(getattr(event, "data", None), "money_problems", None)
    if money_problems is not None:
        problems += [FieldProblem(field=f"data.{where}", reason=why) for where, why in money_problems()]
    return problems


def parse_event(raw: bytes, *, now: datetime | None = None) -> _Event:
    """The event a raw body holds. InvalidWebhook(400) if not JSON, (422) naming every bad field.
    `now` (when we received it) bounds occurred_at."""
    body = decode_json(raw)
    if not isinstance(body, dict):
        raise InvalidWebhook(422, [FieldProblem(field="(body)", reason="must be a JSON object")])
    exponents = _exponent_problems(body)
    if exponents:
        raise InvalidWebhook(422, exponents)
    event_type = body.get("type")
    if isinstance(event_type, str) and event_type in REFUSED_EVENT_TYPES:
        raise InvalidWebhook(422, [FieldProblem(field="type", reason=REFUSED_EVENT_TYPES[event_type])])
    model = EVENT_MODELS.get(event_type) if isinstance(event_type, str) else None  # type: ignore[call-overload]
    try:
        if model is None:
            _Envelope.model_validate(body)  # names the bad type and any other envelope problem
            raise AssertionError("unreachable: an envelope without a known type cannot validate")
        event = model.model_validate(body)
    except ValidationError as exc:
        raise InvalidWebhook(422, field_problems(exc)) from None
    except RecursionError:
        raise InvalidWebhook(422, [FieldProblem(field="(body)", reason="nested too deeply")]) from None
    problems = _rule_problems(event, now)
    if problems:
        raise InvalidWebhook(422, problems)
    return event
