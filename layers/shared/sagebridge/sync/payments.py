"""From Sage back to the host: payments, refunds and their reversals, polled (Sage has no webhooks).

Every poll of a tenant reads, through the product's `Feed`, what changed since its cursor minus
`OVERLAP`: customer payments and credit allocations changed, then the ones deleted. Money set against
a document Sage Bridge exported (found by the reverse mapping) becomes events for the host app:

- a receipt on an invoice: `invoice.payment_received`, then `invoice.part_paid` or `invoice.paid`
  with the outstanding amount after that receipt, read from the invoice in Sage;
- a credit note set against an invoice: `invoice.part_paid` / `invoice.paid`;
- a refund of a credit note: `credit_note.refunded`;
- a payment deleted, or changed so that it no longer pays what it paid: `invoice.payment_reversed` /
  `credit_note.refund_reversed` with the outstanding amount now.

Exactly once. Event ids are deterministic (see `delivery_event_id`) from the Sage payment id, its
version and the document, so overlapping windows and repeated polls queue nothing twice (the
deliveries store's conditional record). What the host has been told about each payment is kept as a
mapping (`TOLD_KIND`, host_id = Sage payment id): a payment seen again at the same version costs no
Sage request, and a deleted payment is reversed from what we told, whatever Sage still says about
it. The cursor moves only after the window's events are queued.

Documents linked to one already in Sage (going live, an uncertain write adopted) may carry money
set against them before the link, behind the cursor: the export flags each such link
(`LINKED_UNPOLLED_KIND`) and the next poll reads that document and each of its payments and
allocations by id, telling the host as above (once: the same event ids and told mappings).

Cost: one request per stream (and one store query) when nothing changed. A busy poll costs what
changed, not a request per payment: the documents money touched are read through the product's list
of documents changed since (`Feed.documents`, where the product has one), what the host was told and
the reverse mappings in batches (BatchGetItem; a kind's mappings a page at a time when that is
cheaper than an index query each), the events found and queued in batches (`enqueue_deliveries`:
SendMessageBatch, conditional records 100 per transaction) and what is told written 25 per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from sagebridge.connectors.base import Feed, NotFound
from sagebridge.domain.kinds import DocumentKind
from sagebridge.domain.remote import DocumentBalance, MoneyKind, RemotePayment, Removed
from sagebridge.host.outbound import (
    CreditNoteRefunded,
    CreditNoteRefundReversed,
    DeliveryOutbox,
    DocumentLink,
    InvoicePaid,
    InvoicePartPaid,
    InvoicePaymentReceived,
    InvoicePaymentReversed,
    MoneyMovement,
    Outgoing,
    enqueue_deliveries,
)
from sagebridge.observability import logger
from sagebridge.store import keys
from sagebridge.store.records import IdMapping
from sagebridge.store.store import Store
from sagebridge.sync.catalog import (
    OVERLAP,
    cursor_position,
    window_start,
)
from sagebridge.sync.export import LINKED_UNPOLLED_KIND

PAYMENTS_STREAM = "sage_payments"
# A tenant's first poll: nothing before this is news (payments need invoices we exported anyway).
FIRST_POLL_LOOKBACK = timedelta(days=1)
LINKED_PER_POLL = 100  # flagged links looked at per poll; the rest wait for the next one
TOLD_KIND = "sage_payment_told"  # mapping kind: what the host was told about a Sage payment

_HOST_PAYMENT_KINDS = (DocumentKind.CUSTOMER_PAYMENT.value, DocumentKind.CUSTOMER_REFUND.value)
# What each kind of money may tell the host, per document kind.
_MEANINGFUL: dict[MoneyKind, frozenset[DocumentKind]] = {
    MoneyKind.RECEIPT: frozenset({DocumentKind.SALES_INVOICE}),
    MoneyKind.REFUND: frozenset({DocumentKind.SALES_CREDIT_NOTE}),
    MoneyKind.CREDIT_ALLOCATION: frozenset({DocumentKind.SALES_INVOICE}),
}
Clock = Callable[[], datetime]


@dataclass
class PaymentPollReport:
    tenant_id: str
    window_from: datetime | None = None
    window_to: datetime | None = None
    payments_seen: int = 0
    payments_delivered: int = 0  # receipts and refunds newly queued for the host
    events_queued: int = 0
    events_already_queued: int = 0
    reversals: int = 0
    not_ours: int = 0  # money on documents Sage Bridge did not export: nothing to tell the host
    documents_read: int = 0


@dataclass(frozen=True)
class _Touch:
    """Money from one Sage payment (or allocation) set against one document we exported."""

    source: RemotePayment
    kind: DocumentKind
    document_id: str
    amount: Decimal  # positive: how much of the document it settles


@dataclass
class _Reversal:
    source_id: str
    kind: DocumentKind
    document_id: str
    amount: Decimal
    told_version: str
    reason: Literal["deleted", "changed"]


@dataclass
class _Poll:
    tenant_id: str
    feed: Feed
    store: Store
    outbox: DeliveryOutbox
    report: PaymentPollReport
    documents: dict[tuple[DocumentKind, str], DocumentBalance] = field(default_factory=dict)
    links: dict[tuple[DocumentKind, str], IdMapping | None] = field(default_factory=dict)
    host_payments: dict[str, str | None] = field(default_factory=dict)
    touches: list[_Touch] = field(default_factory=list)
    reversals: list[_Reversal] = field(default_factory=list)
    told_writes: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)  # None: forget
    seen: set[str] = field(default_factory=set)  # Sage payments and allocations read this poll
    told: dict[str, IdMapping | None] = field(default_factory=dict)  # read in batches up front
    outgoing: list[tuple[Outgoing, bool]] = field(default_factory=list)  # (event, a payment delivered?)

    # ---- lookups, each once per poll

    def link(self, kind: DocumentKind, sage_id: str) -> IdMapping | None:
        key = (kind, sage_id)
        if key not in self.links:
            self.links[key] = self.store.mappings.find_by_sage_id(self.tenant_id, kind.value, sage_id)
        return self.links[key]

    def document(self, kind: DocumentKind, sage_id: str) -> DocumentBalance:
        key = (kind, sage_id)
        if key not in self.documents:
            self.documents[key] = self.feed.document(kind, sage_id)
            self.report.documents_read += 1
        return self.documents[key]

    def host_payment_id(self, sage_id: str) -> str | None:
        """The host's id of a payment that came from the host (exported by us), else None."""
        if sage_id not in self.host_payments:
            self.read_host_payments([sage_id])
        return self.host_payments[sage_id]

    def send(self, data: BaseModel, key: str, occurred_at: datetime | None, *, payment: bool = False) -> None:
        """Queued with the poll's other events, in order, by `flush`."""
        self.outgoing.append((Outgoing(data, key, occurred_at), payment))

    def flush(self) -> None:
        answers = enqueue_deliveries(self.outbox, self.tenant_id, [event for event, _ in self.outgoing])
        for (_event, payment), answer in zip(self.outgoing, answers, strict=True):
            if answer.queued:
                self.report.events_queued += 1
                self.report.payments_delivered += payment
            else:
                self.report.events_already_queued += 1
        self.outgoing = []

    # ---- the same lookups for many at once

    def read_told(self, source_ids: Iterable[str]) -> None:
        wanted = [i for i in dict.fromkeys(source_ids) if i not in self.told]
        found = self.store.mappings.find_many(self.tenant_id, [(TOLD_KIND, i) for i in wanted]) if wanted else {}
        for source_id in wanted:
            self.told[source_id] = found.get((TOLD_KIND, source_id))

    def read_links(self, wanted: Iterable[tuple[DocumentKind, str]]) -> None:
        by_kind: dict[DocumentKind, set[str]] = {}
        for kind, sage_id in wanted:
            if (kind, sage_id) not in self.links:
                by_kind.setdefault(kind, set()).add(sage_id)
        for kind, ids in by_kind.items():
            found = self.store.mappings.find_many_by_sage_id(self.tenant_id, kind.value, ids)
            for sage_id in ids:
                self.links[(kind, sage_id)] = found.get(sage_id)

    def read_host_payments(self, sage_ids: Iterable[str]) -> None:
        missing = {i for i in sage_ids if i not in self.host_payments}
        for kind in _HOST_PAYMENT_KINDS:
            if not missing:
                break
            found = self.store.mappings.find_many_by_sage_id(self.tenant_id, kind, missing)
            for sage_id, mapping in found.items():
                self.host_payments[sage_id] = mapping.host_id
            missing -= set(found)
        for sage_id in missing:
            self.host_payments[sage_id] = None

    def read_documents(self, wanted: Iterable[tuple[DocumentKind, str]], since: datetime) -> None:
        """Many documents' balances in as few requests as the product allows (`Feed.documents`,
        optional); what it does not return is read one at a time when needed, as before."""
        read_many = getattr(self.feed, "documents", None)
        if read_many is None:
            return
        by_kind: dict[DocumentKind, set[str]] = {}
        for kind, sage_id in wanted:
            if (kind, sage_id) not in self.documents:
                by_kind.setdefault(kind, set()).add(sage_id)
        for kind, ids in by_kind.items():
            for sage_id, balance in read_many(kind, ids, since).items():
                self.documents[(kind, sage_id)] = balance
                self.report.documents_read += 1


def poll_payments(
    tenant_id: str, *, feed: Feed, store: Store, outbox: DeliveryOutbox, clock: Clock,
) -> PaymentPollReport:
    """One poll of one tenant's payments. Raises on any Sage or store failure, leaving the cursor
    where it was (the next poll reads the window again; what was queued is not queued twice)."""
    started = clock()
    since = window_start(store, tenant_id, PAYMENTS_STREAM, first=started - FIRST_POLL_LOOKBACK)
    assert since is not None
    poll = _Poll(tenant_id, feed, store, outbox, PaymentPollReport(tenant_id, since, started))

    changed = [payment for stream in (feed.payments_changed, feed.allocations_changed) for payment in stream(since)]
    removed = [gone for stream in (feed.payments_deleted, feed.allocations_deleted) for gone in stream(since)]
    poll.read_told([p.sage_id for p in changed] + [r.sage_id for r in removed])
    poll.read_links((a.kind, a.document_id) for p in changed if not _seen_before(poll, p)
                    for a in p.allocations if a.kind in _MEANINGFUL[p.kind])
    for payment in changed:
        _read_changed(poll, payment)
    for gone in removed:
        _read_deleted(poll, gone)

    linked = _read_linked(poll)

    poll.read_documents([(t.kind, t.document_id) for t in poll.touches]
                        + [(r.kind, r.document_id) for r in poll.reversals], since)
    poll.read_host_payments(t.source.sage_id for t in poll.touches if t.source.kind is not MoneyKind.CREDIT_ALLOCATION)
    for reversal in poll.reversals:  # first: a changed payment is reversed, then received anew
        _send_reversal(poll, reversal)
    _send_touches(poll)
    poll.flush()

    # only now: what is recorded as told was queued
    pk = keys.tenant_pk(tenant_id)
    store.table.batch_put([store.mappings.put_op(tenant_id, TOLD_KIND, source_id, source_id, told)
                           for source_id, told in poll.told_writes if told is not None])
    store.table.batch_delete([(pk, keys.mapping_sk(TOLD_KIND, source_id))
                              for source_id, told in poll.told_writes if told is None]
                             + [(pk, keys.mapping_sk(LINKED_UNPOLLED_KIND, flag.host_id)) for flag in linked])
    store.cursors.set(tenant_id, PAYMENTS_STREAM, cursor_position(started))
    logger.info("payments_polled", extra={k: v for k, v in vars(poll.report).items() if "window" not in k})
    return poll.report


# ------------------------------------------------------------------------------------- per record


def _told(poll: _Poll, source_id: str) -> IdMapping | None:
    if source_id not in poll.told:
        poll.read_told([source_id])
    return poll.told[source_id]


def _seen_before(poll: _Poll, payment: RemotePayment) -> bool:
    told = _told(poll, payment.sage_id)
    return told is not None and told.extra.get("version") == (payment.version or "")


def _read_changed(poll: _Poll, payment: RemotePayment, *, newly_linked: bool = False) -> None:
    meaningful = _MEANINGFUL[payment.kind]
    poll.report.payments_seen += 1
    source_id, version = payment.sage_id, payment.version or ""
    told = _told(poll, source_id)
    if told is not None and told.extra.get("version") == version and not newly_linked:
        return  # seen at this version before (the overlap): all of it was queued then
    poll.seen.add(source_id)
    now: dict[str, _Touch] = {}
    for allocation in payment.allocations:
        if allocation.kind not in meaningful:
            continue
        if poll.link(allocation.kind, allocation.document_id) is None:
            poll.report.not_ours += 1
            continue
        now[allocation.document_id] = _Touch(payment, allocation.kind, allocation.document_id, allocation.amount)
    before = _told_allocations(told)
    told_version = str(told.extra.get("version")) if told is not None else ""
    for document_id, (kind, amount) in before.items():
        touch = now.get(document_id)
        if touch is None or touch.amount != amount:  # what the host was told no longer holds
            poll.reversals.append(_Reversal(source_id, kind, document_id, amount, told_version, "changed"))
    for document_id, touch in now.items():
        if before.get(document_id) != (touch.kind, touch.amount):
            poll.touches.append(touch)
    if now or told is not None:
        poll.told_writes.append((source_id, {
            "version": version, "type": payment.kind.value,
            "allocations": {d: {"kind": t.kind.value, "amount": str(t.amount)} for d, t in now.items()},
        }))


def _read_linked(poll: _Poll) -> list[IdMapping]:
    """Money already set against documents the export linked since the last poll: it was no news
    when the poller saw it (the document was not ours yet) and is behind the cursor now. Reads each
    document and each of its payments and allocations not read in this poll's window."""
    flags = poll.store.mappings.list(poll.tenant_id, LINKED_UNPOLLED_KIND, limit=LINKED_PER_POLL).items
    for flag in flags:
        kind, sage_id = DocumentKind(flag.extra["kind"]), flag.sage_id
        if poll.link(kind, sage_id) is None:  # the reverse index can lag the export's fresh write
            poll.links[(kind, sage_id)] = IdMapping(poll.tenant_id, kind.value, str(flag.extra["host_id"]), sage_id,
                                                    {"reference": flag.extra.get("reference")})
        try:
            document = poll.document(kind, sage_id)
        except NotFound:
            continue  # gone from Sage since: nothing on it to tell
        for settlement in document.settled_by:
            source_id = settlement.source_id
            if not source_id or source_id in poll.seen:
                continue
            try:
                read = poll.feed.allocation if settlement.by_allocation else poll.feed.payment
                payment = read(source_id)
            except NotFound:
                continue  # deleted since: the host was never told of it
            _read_changed(poll, payment, newly_linked=True)
    return flags


def _read_deleted(poll: _Poll, removed: Removed) -> None:
    told = _told(poll, removed.sage_id)
    if told is None:
        return  # never told the host about it (not ours, or created and deleted within a window)
    for document_id, (kind, amount) in _told_allocations(told).items():
        poll.reversals.append(_Reversal(removed.sage_id, kind, document_id, amount, told.extra["version"], "deleted"))
    poll.told_writes.append((removed.sage_id, None))


def _told_allocations(told: IdMapping | None) -> dict[str, tuple[DocumentKind, Decimal]]:
    if told is None:
        return {}
    return {d: (DocumentKind(a["kind"]), Decimal(a["amount"])) for d, a in told.extra.get("allocations", {}).items()}


# ------------------------------------------------------------------------------------- the events


def _document_link(poll: _Poll, document: DocumentBalance) -> DocumentLink:
    mapping = poll.link(document.kind, document.sage_id)
    number = (mapping.extra.get("reference") if mapping else None) or document.number
    return DocumentLink(kind=document.kind, host_id=mapping.host_id if mapping else None, sage_id=document.sage_id,
                        number=number)


def _money(poll: _Poll, payment: RemotePayment) -> MoneyMovement:
    return MoneyMovement(sage_id=payment.sage_id, amount=payment.total, currency=payment.currency, date=payment.on,
                         method=payment.method, reference=payment.reference,
                         host_id=poll.host_payment_id(payment.sage_id))


def _outstanding_after(document: DocumentBalance, touches: list[_Touch]) -> dict[str, Decimal]:
    """The document's outstanding amount just after each touch was set against it, from the order
    of Sage's own list of its payments and allocations; the last one is what Sage shows."""
    after: dict[str, Decimal] = {}
    settled = Decimal("0")
    for settlement in document.settled_by:
        settled += settlement.amount
        if settlement.source_id:
            after[settlement.source_id] = document.total - settled
    return {t.source.sage_id: after.get(t.source.sage_id, document.outstanding) for t in touches}


def _order(document: DocumentBalance, touches: list[_Touch]) -> list[_Touch]:
    """Touches in the order Sage applied them (its list), unknown ones last."""
    position = {s.source_id: i for i, s in enumerate(document.settled_by) if s.source_id}
    return sorted(touches, key=lambda t: position.get(t.source.sage_id, len(position)))


def _send_touches(poll: _Poll) -> None:
    by_document: dict[tuple[DocumentKind, str], list[_Touch]] = {}
    for touch in poll.touches:
        by_document.setdefault((touch.kind, touch.document_id), []).append(touch)
    for (kind, document_id), touches in by_document.items():
        document = poll.document(kind, document_id)
        link = _document_link(poll, document)
        touches = _order(document, touches)
        after = _outstanding_after(document, touches)
        for touch in touches:
            source = touch.source
            source_id, version, occurred = source.sage_id, source.version or "", source.updated_at
            outstanding = after[source_id]
            if kind is DocumentKind.SALES_CREDIT_NOTE:
                poll.send(CreditNoteRefunded(credit_note=link, refund=_money(poll, source),
                                             outstanding_amount=outstanding),
                          f"refund:{source_id}:{document_id}:{version}", occurred, payment=True)
                continue
            if source.kind is not MoneyKind.CREDIT_ALLOCATION:
                poll.send(InvoicePaymentReceived(invoice=link, payment=_money(poll, source),
                                                 allocated_amount=touch.amount, outstanding_amount=outstanding),
                          f"receipt:{source_id}:{document_id}:{version}", occurred, payment=True)
            status: BaseModel = (
                InvoicePaid(invoice=link, total_amount=document.total, paid_on=source.on)
                if outstanding <= 0 else
                InvoicePartPaid(invoice=link, total_amount=document.total, outstanding_amount=outstanding)
            )
            poll.send(status, f"status:{document_id}:{source_id}:{version}", occurred)


def _send_reversal(poll: _Poll, reversal: _Reversal) -> None:
    document = poll.document(reversal.kind, reversal.document_id)
    link = _document_link(poll, document)
    key = f"reversal:{reversal.source_id}:{reversal.document_id}:{reversal.told_version}"
    data: BaseModel
    if reversal.kind is DocumentKind.SALES_CREDIT_NOTE:
        data = CreditNoteRefundReversed(credit_note=link, refund_sage_id=reversal.source_id,
                                        reversed_amount=reversal.amount, outstanding_amount=document.outstanding,
                                        reason=reversal.reason)
    else:
        data = InvoicePaymentReversed(invoice=link, payment_sage_id=reversal.source_id,
                                      reversed_amount=reversal.amount, outstanding_amount=document.outstanding,
                                      reason=reversal.reason)
    poll.send(data, key, None)
    poll.report.reversals += 1


__all__ = [
    "FIRST_POLL_LOOKBACK",
    "OVERLAP",
    "PAYMENTS_STREAM",
    "TOLD_KIND",
    "PaymentPollReport",
    "cursor_position",
    "poll_payments",
    "window_start",
]
