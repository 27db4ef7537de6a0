"""Writing a document (invoice, credit note, payment, refund) to Sage: create it exactly once
(claim -> look Sage up when in doubt or going live -> send with the idempotency key -> commit),
update it, or void it; each settled in the ledger with its log line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from sagebridge.connectors.base import (
    NotFound,
    NotSupported,
    Payload,
    RemoteRecord,
    SageError,
    UncertainWrite,
    creates_idempotent,
    voids_documents,
)
from sagebridge.domain.documents import Document
from sagebridge.domain.kinds import DocumentKind, PartyKind, ledger_of
from sagebridge.domain.payments import Payment
from sagebridge.domain.validation import SkipCode, SkipReason, already_paid_reasons, locked_reasons
from sagebridge.store import Claim, LedgerEntry, LedgerState, Outcome, StagedDocument
from sagebridge.sync.export.allocations import CreditNoteAllocations, OurAllocation, allocated_side
from sagebridge.sync.export.context import (
    ExportRun,
    Skip,
    as_document,
    date_of,
    label,
    number_of,
    put_again_if_lost,
)
from sagebridge.sync.export.going_live import GoingLive
from sagebridge.sync.export.in_doubt import InDoubt, several_copies_reason
from sagebridge.sync.export.journal import Journal
from sagebridge.sync.export.lookups import SageLookups
from sagebridge.sync.export.outcomes import Outcomes
from sagebridge.sync.export.parties import NEW_CONTACT
from sagebridge.sync.export.prepare import Preparation
from sagebridge.sync.export.request import PAYMENT_KINDS

Record = Document[Any] | Payment
Prepared = tuple[Payload, str, Decimal, str]  # body, reference, total, contact id


class Documents:
    """Create, update and void documents in Sage."""

    def __init__(self, run: ExportRun, journal: Journal, outcomes: Outcomes, preparation: Preparation,
                 going_live: GoingLive, lookups: SageLookups, in_doubt: InDoubt,
                 allocations: CreditNoteAllocations) -> None:
        self.run = run
        self.journal = journal
        self.outcomes = outcomes
        self.preparation = preparation
        self.going_live = going_live
        self.lookups = lookups
        self.in_doubt = in_doubt
        self.allocations = allocations
        # Set by the run: voided documents found paid in Sage wait here for the run's payments (one
        # voided in the same run is taken back first); None: decide now.
        self.paid_voids: list[StagedDocument] | None = None

    # ---- create

    def create(self, staged: StagedDocument, record: Record, entry: LedgerEntry | None) -> None:
        # Never sent by us (not in flight, not failed): it may be in Sage already (going live),
        # whichever run this is.
        going_live = entry is None or entry.state not in (LedgerState.IN_FLIGHT, LedgerState.FAILED)
        checked = self.preparation.build(record, None)
        existing: list[RemoteRecord] = []
        if not isinstance(checked, Skip) and going_live:
            checked, existing = self.going_live.check_before_create(record)
        prepared = checked if isinstance(checked, Skip) else self.preparation.prepare(record, validated=True)
        if self.run.dry_run and not isinstance(prepared, Skip):
            self._plan_create(staged, record, entry, prepared, existing, going_live)
            return
        claim = self._claim_prepared(staged, record, entry, prepared, Outcome.CREATED,
                                     lambda p: f"would create in Sage (reference {p[1]})")
        if claim is None:
            return
        assert not isinstance(prepared, Skip)
        remote, settled = self._in_sage_already(staged, record, claim, prepared, existing, going_live)
        if not settled:
            self._send(staged, record, claim, prepared, remote)

    def _claim_prepared(self, staged: StagedDocument, record: Record, entry: LedgerEntry | None,
                        prepared: Prepared | Skip, outcome: Outcome,
                        plan: Callable[[Prepared], str]) -> Claim | None:
        """The claim to send under: None when the document is skipped, only planned (a dry run),
        or not ours to send."""
        if isinstance(prepared, Skip):
            self.outcomes.skip(staged, record, prepared.reasons, entry)
            return None
        if self.run.dry_run:
            self.journal.plan(staged, record, outcome, plan(prepared), prepared[0])
            return None
        return self.outcomes.claim(staged, staged.payload_hash)

    def _plan_create(self, staged: StagedDocument, record: Record, entry: LedgerEntry | None, prepared: Prepared,
                     existing: list[RemoteRecord], going_live: bool) -> None:
        """A dry run: what the real run would do, from the same read-only look at Sage (going live's
        listing, or the lookup by reference after an attempt that failed or was cut off): link to
        Sage's copy, or create. Its contact as the real run would have it: mapped or identified,
        or new (matching only a copy on no contact)."""
        kind, (body, reference, total, contact), on = DocumentKind(staged.kind), prepared, date_of(record)
        known = self.going_live.parties.known_contact(record)
        contact = contact if known is None else known
        ours: list[RemoteRecord] = []
        if going_live:
            remote = next((r for r in existing if self.run.mapper.is_same_document(
                r, reference=reference, contact_id=contact, total=total, on=on)), None)
        else:
            remote, ours = self.lookups.in_doubt(kind, reference, contact, total, on)
        if remote is not None:
            self.journal.plan(staged, record, Outcome.LINKED, f"would link to {remote.reference or reference} "
                              f"(Sage id {remote.id}), already in Sage with the same reference, total and date; "
                              "not created again", sage_id=remote.id)
        elif len(ours) > 1:
            self.outcomes.skip(staged, record, [several_copies_reason(record, ours, reference)], entry)
        elif ours:
            self.journal.plan(staged, record, Outcome.LINKED, f"would link to Sage id {ours[0].id} (reference "
                              f"{reference}, sent by an earlier attempt that was cut off) and update it to this "
                              "version", body, sage_id=ours[0].id)
        else:
            new = (f" on the new {ledger_of(kind).value}'s contact (the body shows a stand-in for the contact id "
                   "Sage would give it)") if known == NEW_CONTACT else ""
            self.journal.plan(staged, record, Outcome.CREATED, f"would create in Sage (reference {reference}){new}",
                              body)

    def _in_sage_already(self, staged: StagedDocument, record: Record, claim: Claim, prepared: Prepared,
                         existing: list[RemoteRecord], going_live: bool) -> tuple[RemoteRecord | None, bool]:
        """Sage's copy to link instead of sending, if it has one; True when the claim was settled
        here (adopted and updated, or parked in doubt)."""
        kind, (_, reference, total, contact), on = DocumentKind(staged.kind), prepared, date_of(record)
        previous = claim.previous
        if not (claim.uncertain or (previous is not None and previous.state is LedgerState.FAILED)):
            if not going_live:  # the ledger moved on since the page was read: look now
                existing = self.going_live.find_existing(kind, reference, total, on)
            return next((r for r in existing if self.run.mapper.is_same_document(
                r, reference=reference, contact_id=contact, total=total, on=on)), None), False
        # An earlier attempt may have reached Sage: look before sending again.
        remote, ours = self.lookups.in_doubt(kind, reference, contact, total, on)
        if remote is not None:
            return remote, False
        if ours:
            self._adopt_in_doubt(staged, record, claim, ours, reference)
            return None, True
        since = self.in_doubt.unsettled_since(claim)
        if since is not None:  # not found, but Sage's search may not show it yet: no resend
            self.in_doubt.park(staged, record, claim, since, reference, resent=False)
            return None, True
        return None, False

    def _send(self, staged: StagedDocument, record: Record, claim: Claim, prepared: Prepared,
              remote: RemoteRecord | None) -> None:
        kind, (body, reference, total, contact) = DocumentKind(staged.kind), prepared
        outcome = Outcome.CREATED if remote is None else Outcome.LINKED
        sent_at = self.run.now()
        try:
            if remote is None:
                remote = self._send_create(kind, body, claim, reference, contact, total, date_of(record))
        except UncertainWrite as exc:
            if creates_idempotent(self.run.connector):
                self.outcomes.fail(staged, record, claim, exc, in_doubt_since=sent_at)
            else:
                self.in_doubt.park(staged, record, claim, sent_at, reference, resent=True, cause=exc.message)
            return
        except SageError as exc:
            self.outcomes.fail(staged, record, claim, exc)
            return
        self._hold_allocation(staged, record)
        self.outcomes.sage_answered(staged, remote)
        message = {Outcome.CREATED: f"created in Sage (reference {reference})",
                   Outcome.LINKED: f"found already in Sage (reference {reference}) and linked"}[outcome]
        self.outcomes.commit(staged, record, claim, remote.id, outcome, message, exported_extra(record, reference))

    def _send_create(self, kind: DocumentKind, body: Payload, claim: Claim, reference: str, contact_id: str,
                     total: Any, on: date | None) -> RemoteRecord:
        connector, key = self.run.connector, claim.entry.idempotency_key
        for attempt in (1, 2):
            try:
                if kind in PAYMENT_KINDS:
                    return connector.create_payment(body, idempotency_key=key)
                return connector.create_document(kind, body, idempotency_key=key)
            except UncertainWrite:
                # Sent, answer lost: did Sage commit it? Look, adopt if so, else send once more with the
                # same idempotency_id (Sage replays rather than duplicates). A product without
                # idempotent creates is not sent again: its search may lag the write (the caller parks it).
                found = self.lookups.find(kind, reference, contact_id, total, on)
                if found is not None:
                    return found
                if attempt == 2 or not creates_idempotent(connector):
                    raise
        raise AssertionError("unreachable")

    def _hold_allocation(self, staged: StagedDocument, record: Record) -> None:
        """A credit note linked to an invoice (sales or purchase) is allocated against it after this phase."""
        side = allocated_side(staged.kind, record)
        if side is not None:
            self.allocations.hold(side, staged.host_id)

    def _adopt_in_doubt(self, staged: StagedDocument, record: Record, claim: Claim, ours: list[RemoteRecord],
                        reference: str) -> None:
        """The document changed while an earlier attempt at it was in doubt, and Sage holds a copy
        under its reference: link that copy, then bring it up to the host's version as any update
        (already paid or locked in Sage: skipped with the reason). Never a second copy."""
        if len(ours) > 1:
            self.in_doubt.several_copies(staged, record, claim, ours, reference)
            return
        linked = self.in_doubt.link(staged, record, claim, ours[0], reference)
        if linked is None:
            return
        self._hold_allocation(staged, record)
        self.update(staged, record, linked)

    # ---- update

    def update(self, staged: StagedDocument, record: Record, entry: LedgerEntry) -> None:
        kind = DocumentKind(staged.kind)
        assert entry.sage_id is not None
        remote = self._read(staged, record, entry, kind)
        if remote is None:
            return
        reasons = self._not_updatable(record, remote)
        prepared = Skip(reasons) if reasons else self.preparation.prepare(record)
        claim = self._claim_prepared(staged, record, entry, prepared, Outcome.UPDATED,
                                     lambda _: f"would update Sage id {entry.sage_id}")
        if claim is None:
            return
        assert not isinstance(prepared, Skip)
        body, reference, _, _ = prepared
        sage_id = entry.sage_id
        try:
            updated = put_again_if_lost(lambda: self.run.connector.update_document(kind, sage_id, body))
        except SageError as exc:
            self.outcomes.fail(staged, record, claim, exc)
            return
        self.outcomes.sage_answered(staged, updated)
        self.outcomes.commit(staged, record, claim, sage_id, Outcome.UPDATED,
                             f"updated in Sage (reference {reference})", exported_extra(record, reference))

    def _read(self, staged: StagedDocument, record: Record, entry: LedgerEntry,
              kind: DocumentKind) -> RemoteRecord | None:
        """Sage's copy of an exported document; None when it cannot be updated (said so)."""
        assert entry.sage_id is not None
        try:
            return self.run.connector.get_document(kind, entry.sage_id)
        except NotFound:
            self.outcomes.skip(staged, record, [SkipReason(
                code=SkipCode.LOCKED_IN_SAGE,
                message=f"{label(record)} was exported as Sage id {entry.sage_id}, which no longer exists in "
                "Sage (deleted there); it is not created again")], entry)
        except SageError as exc:
            self.outcomes.fail_unclaimed(staged, record, exc)
        return None

    def _not_updatable(self, record: Record, remote: RemoteRecord) -> list[SkipReason]:
        """Why Sage's copy cannot take the update: paid, locked or voided there."""
        if not isinstance(record, Document):
            return []
        mapper = self.run.mapper
        reasons = already_paid_reasons(record, total_in_sage=mapper.remote_total(remote),  # type: ignore[arg-type]
                                       outstanding_in_sage=mapper.remote_outstanding(remote),
                                       voids=voids_documents(self.run.connector))
        reasons = reasons or locked_reasons(record, editable_in_sage=mapper.remote_editable(remote),  # type: ignore[arg-type]
                                            why=mapper.LOCKED)
        if mapper.remote_status(remote) == "VOID":
            reasons = [SkipReason(code=SkipCode.LOCKED_IN_SAGE,
                                  message=f"{label(record)} has been voided in Sage, so it cannot be updated")]
        return reasons

    # ---- void

    def void(self, staged: StagedDocument, record: Record, entry: LedgerEntry, target: str,
             because: str = "voided in the host app") -> None:
        kind = DocumentKind(staged.kind)
        assert entry.sage_id is not None
        try:
            remote = self.run.connector.get_document(kind, entry.sage_id)
        except NotFound:
            remote = None  # already gone from Sage: nothing left to void
        except SageError as exc:
            self.outcomes.fail_unclaimed(staged, record, exc)
            return
        paid = Decimal(0)
        if remote is not None and kind not in PAYMENT_KINDS:
            paid = self.run.mapper.remote_paid(remote)
        if paid > 0 and self.paid_voids is not None:
            self.paid_voids.append(staged)
            return
        if paid > 0 and remote is not None and self._credited_in_full(kind, entry.sage_id, remote):
            self._credited_void(staged, record, entry, target, because)
            return
        ours = self.allocations.ours(staged.kind, record, entry.sage_id) if paid > 0 else None
        if ours is not None:  # only Sage Bridge's own allocation: taken back, then voided
            self._void_allocated(staged, record, entry, target, because, ours)
            return
        if paid > 0:
            voids = voids_documents(self.run.connector)
            self.outcomes.skip(staged, record, [_paid_reason(record, because, paid, voids=voids)], entry,
                               payload_hash=target, report=True)
            return
        verb = "delete" if ledger_of(kind) is PartyKind.VENDOR or kind in PAYMENT_KINDS else "void"
        if self.run.dry_run:
            self.journal.plan(staged, record, Outcome.UPDATED, f"would {verb} Sage id {entry.sage_id}")
            return
        claim = self.outcomes.claim(staged, target)
        if claim is None:
            return
        try:
            if remote is not None and self.run.mapper.remote_status(remote) != "VOID":
                self._void_in_sage(kind, entry.sage_id, record, staged.host_id)
        except NotSupported as exc:  # a void the product cannot carry out: the reason says what to do there
            self.outcomes.settle_not_supported(staged, record, claim, exc.message, exported=True)
            return
        except SageError as exc:
            self.outcomes.fail(staged, record, claim, exc)
            return
        self.outcomes.commit(staged, record, claim, entry.sage_id, Outcome.UPDATED,
                             f"{'deleted' if verb == 'delete' else 'voided'} in Sage: {because}", {"voided": True})
        ours = self.allocations.ours(staged.kind, record, entry.sage_id)
        if ours is not None:  # nothing allocated in Sage any more (taken back by a run that died, or by hand)
            self.allocations.taken_back(ours)

    def _credited_in_full(self, kind: DocumentKind, sage_id: str, remote: RemoteRecord) -> bool:
        """A product that cannot void a document says whether credit notes alone settle it in Sage (its
        reason for the refusal told the accountant to do just that): nothing owing, no money."""
        mapper = self.run.mapper
        return (not voids_documents(self.run.connector) and mapper.remote_outstanding(remote) == 0
                and self.run.connector.credited_in_full(kind, sage_id, total=mapper.remote_total(remote)))

    def _credited_void(self, staged: StagedDocument, record: Record, entry: LedgerEntry, target: str,
                       because: str) -> None:
        """Voided in the host, and credited in full in Sage by hand: the void is done; the host hears it once."""
        assert entry.sage_id is not None
        if self.run.dry_run:
            self.journal.plan(staged, record, Outcome.UPDATED, f"would count Sage id {entry.sage_id} voided: "
                              "credit notes set against it in Sage settle it in full")
            return
        claim = self.outcomes.claim(staged, target)
        if claim is None:
            return
        self.outcomes.commit(staged, record, claim, entry.sage_id, Outcome.UPDATED,
                             f"voided: {because}, and credited in full in Sage (credit notes set against it leave "
                             "nothing owing), so nothing more is sent", {"voided": True})

    def _void_allocated(self, staged: StagedDocument, record: Record, entry: LedgerEntry, target: str, because: str,
                        ours: OurAllocation) -> None:
        """A credit note Sage Bridge itself set against its invoice: under the credit note's claim,
        take that allocation back, then void the credit note. A worker killed between the two leaves
        the claim to go stale; the next run finds nothing allocated any more and only voids."""
        kind, sage_id = DocumentKind(staged.kind), entry.sage_id
        assert sage_id is not None
        if self.run.dry_run:
            self.journal.plan(staged, record, Outcome.UPDATED, f"would take back Sage Bridge's allocation of it "
                              f"against {ours.invoice_label}, then void Sage id {sage_id}")
            return
        if entry.state is LedgerState.SKIPPED and entry.payload_hash == target and not self.run.replay:
            return  # the product cannot take it back: said so once
        claim = self.outcomes.claim(staged, target)
        if claim is None:
            return
        try:
            try:
                self.run.connector.remove_allocation(kind, ours.sage_id, credit_note_id=sage_id)
            except NotFound:
                pass  # taken back already (an earlier attempt), or in Sage by the accountant
            self.allocations.taken_back(ours)
            paid = self.run.mapper.remote_paid(self.run.connector.get_document(kind, sage_id))
            if paid > 0:  # real money too (a refund, a receipt): not voided, as any paid credit note
                self._settle_skipped(staged, record, claim, _paid_reason(record, because, paid))
                return
            self._void_in_sage(kind, sage_id, record, staged.host_id)
        except NotSupported as exc:
            reason = SkipReason(code=SkipCode.ALREADY_PAID_IN_SAGE, message=(
                f"{label(record)} was {because} but Sage Bridge allocated it against {ours.invoice_label} in Sage, "
                f"so it was not voided there: {exc.message}"))
            self._settle_skipped(staged, record, claim, reason)
            return
        except SageError as exc:
            self.outcomes.fail(staged, record, claim, exc)
            return
        done = "deleted" if ledger_of(kind) is PartyKind.VENDOR else "voided"
        self.outcomes.commit(staged, record, claim, sage_id, Outcome.UPDATED,
                             f"{done} in Sage: {because} (Sage Bridge's allocation of it against "
                             f"{ours.invoice_label} taken back first)", {"voided": True})

    def _settle_skipped(self, staged: StagedDocument, record: Record, claim: Claim, reason: SkipReason) -> None:
        """The void not carried out under its claim: logged, settled as skipped, the host told once."""
        self.journal.count(Outcome.SKIPPED)
        if self.outcomes.settle(self.run.store.ledger.mark_skipped_op(claim, reason.message),
                                self.journal.log_op(staged.kind, staged.host_id, number_of(record), Outcome.SKIPPED,
                                                    reason_code=reason.code.value, message=reason.message)):
            self.journal.deliver_skipped(staged, record, [reason], claim.entry.payload_hash)

    def _void_in_sage(self, kind: DocumentKind, sage_id: str, record: Record, host_id: str) -> None:
        try:
            self.run.connector.void_document(kind, sage_id, reason=self.run.mapper.void_reason(as_document(record),
                                                                                               host_id))
        except UncertainWrite:
            if self._still_live(kind, sage_id):
                raise

    def _still_live(self, kind: DocumentKind, sage_id: str) -> bool:
        try:
            return self.run.mapper.remote_status(self.run.connector.get_document(kind, sage_id)) != "VOID"
        except NotFound:
            return False


def _paid_reason(record: Record, because: str, paid: Decimal, *, voids: bool = True) -> SkipReason:
    """A voided document with money against it in Sage: not voided. The money may be a payment or
    refund (the host's or the accountant's) or a credit note set against an invoice; the reason names
    both ways out, since Sage Bridge cannot tell from the document which it is."""
    if not voids:  # the product cannot void it at all: the way out is credit notes that settle it in full
        return SkipReason(code=SkipCode.ALREADY_PAID_IN_SAGE, message=(
            f"{label(record)} was {because} but has {paid} paid or allocated against it in Sage, and Sage cannot void "
            "it through its API, so nothing was changed there; remove the payment in Sage first (or void in the host "
            "app the payment it sent: Sage Bridge takes it back), then credit the rest in Sage with credit notes set "
            "against it: "
            "once nothing is owing and only credit notes settle it, Sage Bridge counts it voided and tells the host"))
    return SkipReason(code=SkipCode.ALREADY_PAID_IN_SAGE,
                      message=f"{label(record)} was {because} but has {paid} paid or allocated against it in Sage "
                      "(payments, refunds or credit notes set against it), so it was not voided there; remove the "
                      "payment in Sage first, or void in the host app the payment or credit note it was set "
                      "against (Sage Bridge takes back what it sent)")


def exported_extra(record: Record, reference: str) -> dict[str, Any]:
    """The mapping's note of what Sage holds: its reference and the total sent (a later change the
    run does not send names both totals)."""
    total = record.totals.total if isinstance(record, Document) else record.amount
    return {"reference": reference, "total": str(total), "currency": record.currency}
