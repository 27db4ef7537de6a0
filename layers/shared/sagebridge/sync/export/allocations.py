"""A credit note the host linked to an invoice (`invoice_id`) is used up against that invoice in
Sage once both are there: its own ledger entry, so the allocation is sent once even if the run
dies after Sage answered. Sales and purchase (vendor) credit notes alike, each on its ledger side."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from sagebridge.connectors.base import AuthError, NotSupported, RateLimited, RemoteRecord, SageError, UncertainWrite
from sagebridge.domain.documents import Document
from sagebridge.domain.errors import ConflictError
from sagebridge.domain.kinds import DocumentKind, PartyKind
from sagebridge.domain.records import parse_host_record
from sagebridge.domain.validation import SkipCode
from sagebridge.host.outbound import ExportFailed
from sagebridge.store import Claim, ClaimConflict, IdMapping, LedgerEntry, LedgerState, Outcome
from sagebridge.sync.export.context import ExportRun, connection_guard, failure_code
from sagebridge.sync.export.journal import Journal
from sagebridge.sync.export.parties import Parties
from sagebridge.sync.export.request import CREDIT_NOTE_ALLOCATION, PURCHASE_CREDIT_NOTE_ALLOCATION

# The allocation entry's version while it waits for its invoice, and from the credit note's send
# until it is allocated.
WAITING_FOR_INVOICE = "waiting_for_invoice"
ALLOCATION_DUE = "allocation_due"

# The allocation entry's exported version once Sage Bridge took its allocation back (its credit note voided).
TAKEN_BACK = "taken_back"

ALLOCATION_DUE_REASON = "allocation due: the credit note was just sent to Sage"
RETRIED_IN = (LedgerState.SKIPPED, LedgerState.FAILED, LedgerState.IN_FLIGHT)


@dataclass(frozen=True)
class LedgerSide:
    """One ledger's credit notes, the invoices they credit, their allocations' ledger entry kind and
    the words the host and the accountant read."""

    note: DocumentKind
    invoice: DocumentKind
    entry_kind: str  # the allocation's ledger entry
    party: PartyKind
    note_words: str
    invoice_words: str
    party_words: str


SALES = LedgerSide(DocumentKind.SALES_CREDIT_NOTE, DocumentKind.SALES_INVOICE, CREDIT_NOTE_ALLOCATION,
                   PartyKind.CUSTOMER, "Credit note", "invoice", "customer")
PURCHASES = LedgerSide(DocumentKind.PURCHASE_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
                       PURCHASE_CREDIT_NOTE_ALLOCATION, PartyKind.VENDOR, "Vendor credit note", "vendor invoice",
                       "vendor")
SIDES = (SALES, PURCHASES)
_BY_NOTE = {side.note.value: side for side in SIDES}
_BY_ENTRY = {side.entry_kind: side for side in SIDES}


def allocated_side(kind: str, record: Any) -> LedgerSide | None:
    """The ledger side whose allocation step sets this record against an invoice: a credit note that
    names the invoice it credits (`invoice_id`); None for anything else."""
    side = _BY_NOTE.get(kind)
    return side if side is not None and getattr(record, "invoice_id", None) else None


@dataclass
class _Allocation:
    """One credit note ready to allocate: both it and its invoice are in Sage."""

    side: LedgerSide
    note: Document[Any]
    note_id: str  # Sage ids
    invoice_id: str
    version: str  # the ledger hash of this pair
    claim: Claim

    @property
    def label(self) -> str:
        return f"{self.side.note_words} {self.note.number}"

    @property
    def invoice_label(self) -> str:
        return f"{self.side.invoice_words} '{self.note.invoice_id}'"  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OurAllocation:
    """Sage Bridge's allocation of a credit note against its invoice, as its ledger entry says."""

    side: LedgerSide
    host_id: str  # the credit note's
    sage_id: str  # the allocation's (a product that gives it none: the credit note's)
    invoice_host_id: str

    @property
    def invoice_label(self) -> str:
        return f"{self.side.invoice_words} '{self.invoice_host_id}'"


class CreditNoteAllocations:
    """The run's credit notes to allocate: sent this run (held), named, or due from earlier runs."""

    def __init__(self, run: ExportRun, journal: Journal, parties: Parties) -> None:
        self.run = run
        self.journal = journal
        self.parties = parties
        self.held: dict[tuple[str, str], Claim] = {}  # credit notes sent this run: (entry kind, host id)
        self.checks: set[tuple[str, str]] = set()  # replayed credit notes, (entry kind, host id): allocated yet?

    def hold(self, side: LedgerSide, host_id: str) -> None:
        """Mark the credit note's allocation as due (an in_flight claim) as soon as Sage has the credit
        note: if the run dies before allocating, the stale claim is listed and a later run allocates."""
        try:
            self.held[(side.entry_kind, host_id)] = self.run.claim(side.entry_kind, host_id, ALLOCATION_DUE)
        except ClaimConflict:
            pass  # allocated (or being allocated) already

    def check(self, side: LedgerSide, host_id: str) -> None:
        """A replayed credit note already in Sage: the allocation step looks whether it is allocated."""
        self.checks.add((side.entry_kind, host_id))

    def ours(self, kind: str, record: Any, note_sage_id: str | None) -> OurAllocation | None:
        """Sage Bridge's allocation of this credit note (in Sage as `note_sage_id`), if its ledger
        entry says one was made and not taken back."""
        side = allocated_side(kind, record)
        if side is None or note_sage_id is None:
            return None
        entry = self.run.store.ledger.find(self.run.tenant, side.entry_kind, record.host_id)
        if entry is None or entry.state is not LedgerState.EXPORTED or not entry.sage_id \
                or entry.exported_hash == TAKEN_BACK:
            return None
        return OurAllocation(side, record.host_id, entry.sage_id, record.invoice_id)

    def taken_back(self, ours: OurAllocation) -> None:
        """Its ledger entry says the allocation is gone (the credit note is being voided), so no
        run takes it for live."""
        try:
            claim = self.run.claim(ours.side.entry_kind, ours.host_id, TAKEN_BACK)
        except ClaimConflict:
            return
        try:
            self.run.store.ledger.mark_exported(claim, ours.sage_id)
        except ConflictError:
            pass

    def allocate_all(self) -> None:
        """Use up each credit note the host linked to an invoice against that invoice in Sage, once
        both are there: those exported in this run, and (scheduled runs, replays) those waiting for
        their invoice or whose allocation failed or was cut off."""
        wanted = self._wanted()
        if not wanted:
            return
        entries = self.run.store.ledger.find_many(self.run.tenant, list(wanted))
        for ref in wanted:
            held = self.held.pop(ref, None)
            with connection_guard():
                if held is not None:  # ours: let go of the marker, then claim it as any run would
                    try:
                        self.run.store.ledger.mark_skipped(held, ALLOCATION_DUE_REASON)
                    except ConflictError:
                        continue  # taken over by another run, which allocates it
                    entries.pop(ref, None)
                self._allocate(_BY_ENTRY[ref[0]], ref[1], entries.get(ref))

    def _wanted(self) -> dict[tuple[str, str], None]:
        """(entry kind, host id) of each allocation to look at, sales and purchases alike."""
        request = self.run.request
        wanted = dict.fromkeys(self.held)
        wanted.update(dict.fromkeys((k, h) for k, h in request.documents if k in _BY_ENTRY))
        wanted.update(dict.fromkeys(sorted(self.checks)))
        if request.include_retries or self.run.replay:
            for state in RETRIED_IN:
                for page in self.run.ledger_pages(state):
                    wanted.update(dict.fromkeys((e.kind, e.host_id) for e in page if e.kind in _BY_ENTRY))
        return wanted

    def _allocate(self, side: LedgerSide, host_id: str, entry: LedgerEntry | None) -> None:
        note = self._linked_note(side, host_id, entry)
        if note is None:
            return
        note_ref, invoice_ref = (side.note.value, host_id), (side.invoice.value, note.invoice_id)
        maps = self.run.store.mappings.find_many(self.run.tenant, [note_ref, invoice_ref])
        note_map, invoice_map = maps.get(note_ref), maps.get(invoice_ref)
        if note_map is None or note_map.extra.get("voided"):
            return  # the credit note itself is not in Sage (yet): nothing to allocate
        if invoice_map is None or invoice_map.extra.get("voided"):
            self._waits(side, note, entry, note.invoice_id)
            return
        allocation = self._claim(side, note, note_map, invoice_map, entry)
        if allocation is not None:
            self._send(allocation)

    def _linked_note(self, side: LedgerSide, host_id: str, entry: LedgerEntry | None) -> Any:
        """The staged credit note if it names an invoice and its allocation is ours to look at now."""
        staged = self.run.store.documents.find(self.run.tenant, side.note.value, host_id)
        if staged is None or staged.voided:
            return None
        try:
            note = parse_host_record(side.note, staged.canonical_json)
        except ValidationError:
            return None  # its own export logs why
        if not isinstance(note, Document) or not getattr(note, "invoice_id", None):
            return None
        if entry is not None and entry.state is LedgerState.IN_FLIGHT and not self.run.stale(entry):
            return None
        if self.run.gave_up(entry):
            return None  # gave up and told the host; a replay tries again
        return note

    def _claim(self, side: LedgerSide, note: Any, note_map: IdMapping, invoice_map: IdMapping,
               entry: LedgerEntry | None) -> _Allocation | None:
        h = hashlib.sha256(f"{note_map.sage_id}\n{invoice_map.sage_id}".encode()).hexdigest()
        if entry is not None and entry.state is LedgerState.EXPORTED and entry.exported_hash == h:
            return None  # allocated already
        if (entry is not None and entry.state is LedgerState.SKIPPED and entry.payload_hash == h
                and not self.run.replay):
            return None  # refused for a reason that stays (not supported, paid) and said so; a replay tries again
        try:
            claim = self.run.claim(side.entry_kind, note.host_id, h)
        except ClaimConflict:
            return None
        return _Allocation(side, note, note_map.sage_id, invoice_map.sage_id, h, claim)

    def _send(self, a: _Allocation) -> None:
        try:
            self._allocate_in_sage(a)
        except NotSupported as exc:
            self._not_supported(a, exc)
        except SageError as exc:
            self._failed(a, exc)
            if isinstance(exc, AuthError | RateLimited):
                raise

    def _allocate_in_sage(self, a: _Allocation) -> None:
        run, mapper, note, side = self.run, self.run.mapper, a.note, a.side
        remote_note = run.connector.get_document(side.note, a.note_id)
        remote_invoice = run.connector.get_document(side.invoice, a.invoice_id)
        left, owed = mapper.remote_outstanding(remote_note), mapper.remote_outstanding(remote_invoice)
        earlier = a.claim.uncertain or (a.claim.previous is not None
                                        and a.claim.previous.state is LedgerState.FAILED)
        if left <= 0 or (owed <= 0 and earlier):
            # Used up in Sage already: by our earlier attempt whose answer was lost, or by the bookkeeper.
            self._settled(side, a.claim, note, Outcome.LINKED, a.note_id,
                          f"{a.label} is already allocated in Sage (nothing left on it): not sent again")
            return
        if owed <= 0:
            self._settled(side, a.claim, note, Outcome.SKIPPED, None,
                          f"{a.label} was not allocated against {a.invoice_label}: the invoice is already paid in "
                          f"Sage, so the credit ({left}) stays on the {side.party_words}'s account",
                          code=SkipCode.ALREADY_PAID_IN_SAGE.value)
            return
        amount = min(left, owed)
        on = max(note.document_date, mapper.remote_date(remote_invoice) or note.document_date)
        contact = mapper.remote_contact_id(remote_note) or self.parties.contact_id(side.party, note.party_id)
        body = mapper.credit_note_allocation_body(contact_id=str(contact), invoice_id=a.invoice_id,
                                                  credit_note_id=a.note_id, amount=amount, on=on, kind=side.note)
        made = self._create(a, body, left)
        self._settled(side, a.claim, note, Outcome.CREATED, made.id or a.note_id,
                      f"{a.label}: {amount} allocated against {a.invoice_label} in Sage")

    def _create(self, a: _Allocation, body: Any, left: Decimal) -> RemoteRecord:
        connector, key = self.run.connector, a.claim.entry.idempotency_key
        try:
            return connector.create_allocation(body, idempotency_key=key)
        except UncertainWrite:
            # Did it land? The credit note's outstanding amount says; the resend carries the same key.
            if self.run.mapper.remote_outstanding(connector.get_document(a.side.note, a.note_id)) < left:
                return RemoteRecord(id=a.note_id, data={})
            return connector.create_allocation(body, idempotency_key=key)

    def _not_supported(self, a: _Allocation, exc: NotSupported) -> None:
        message = f"{a.label} was not allocated against {a.invoice_label}: {exc.message}"
        self._settled(a.side, a.claim, a.note, Outcome.SKIPPED, None, message, code="not_supported")
        self._gave_up(a, "not_supported", message, a.claim.entry.attempts)

    def _failed(self, a: _Allocation, exc: SageError) -> None:
        attempts = a.claim.entry.attempts
        message = f"{a.label} could not be allocated against {a.invoice_label} in Sage: {exc.message}"
        self._settled(a.side, a.claim, a.note, Outcome.FAILED, None, message, code=failure_code(exc))
        if attempts > self.run.settings.retry_limit:
            self._gave_up(a, failure_code(exc), message, attempts)

    def _gave_up(self, a: _Allocation, code: str, message: str, attempts: int) -> None:
        """Operators and the host hear once that this allocation will not be tried again."""
        kind = a.side.note.value
        self.journal.remember_failure(kind, a.note.host_id, message)
        self.journal.deliver(ExportFailed(kind=kind, host_id=a.note.host_id, number=a.note.number,
                                          run_id=self.run.run_id, reason_code=code, reason=message,
                                          attempts=attempts, will_retry=False),
                             dedupe_key=f"failed\n{a.side.entry_kind}\n{a.note.host_id}\n{a.version}")

    def _waits(self, side: LedgerSide, note: Document[Any], entry: LedgerEntry | None, invoice_id: str) -> None:
        """The invoice is not in Sage yet: say so once (a named wait, not silence); a later run
        allocates the credit note when the invoice has been exported."""
        message = (f"{side.note_words} {note.number} waits for {side.invoice_words} '{invoice_id}' to be exported "
                   "to Sage before it is allocated against it (on the next scheduled run after that)")
        if entry is not None and entry.state is LedgerState.SKIPPED and entry.reason == message:
            return  # waiting already, and logged when it started
        try:
            claim = self.run.claim(side.entry_kind, note.host_id, WAITING_FOR_INVOICE)
        except ClaimConflict:
            return
        self._settled(side, claim, note, Outcome.SKIPPED, None, message, code=WAITING_FOR_INVOICE)

    def _settled(self, side: LedgerSide, claim: Claim, note: Document[Any], outcome: Outcome, sage_id: str | None,
                 message: str, *, code: str | None = None) -> None:
        """Settle the allocation's ledger entry and log it on the credit note, in one transaction."""
        ledger = self.run.store.ledger
        op = {Outcome.SKIPPED: lambda: ledger.mark_skipped_op(claim, message),
              Outcome.FAILED: lambda: ledger.mark_failed_op(claim, message)}.get(
            outcome, lambda: ledger.mark_exported_op(claim, sage_id or ""))()
        try:
            self.run.store.transact([op, self.journal.log_op(side.note.value, note.host_id, note.number, outcome,
                                                             sage_id=sage_id, reason_code=code, message=message)])
        except ConflictError:
            return
        self.journal.count(outcome)
