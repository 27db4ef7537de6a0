"""What happens to one staged record: sent (create, update, void), left alone (unchanged, held
by another worker, given up), or skipped with a reason (a status not in the books, a product
that does not take the kind, a document Sage cannot bring back)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sagebridge.connectors.base import not_exported
from sagebridge.domain.documents import Document
from sagebridge.domain.kinds import record_kind
from sagebridge.domain.parties import Party
from sagebridge.domain.payments import Payment
from sagebridge.domain.records import HostRecord
from sagebridge.domain.runs import RunTrigger
from sagebridge.domain.settings import NOT_EXPORTABLE_BY_DEFAULT, ExportType
from sagebridge.domain.validation import SkipCode, SkipReason
from sagebridge.store import LedgerEntry, LedgerState, Outcome, StagedDocument
from sagebridge.sync.export.allocations import CreditNoteAllocations, allocated_side
from sagebridge.sync.export.context import ExportRun, label, not_supported_reason, number_of
from sagebridge.sync.export.documents import Documents
from sagebridge.sync.export.going_live import GoingLive
from sagebridge.sync.export.journal import Journal
from sagebridge.sync.export.outcomes import Outcomes
from sagebridge.sync.export.parties import Parties
from sagebridge.sync.export.request import void_hash

Record = Document[Any] | Payment


class Decide:
    """Routes each record of a page to the step that handles it."""

    def __init__(self, run: ExportRun, journal: Journal, outcomes: Outcomes, documents: Documents,
                 parties: Parties, going_live: GoingLive, allocations: CreditNoteAllocations) -> None:
        self.run = run
        self.journal = journal
        self.outcomes = outcomes
        self.documents = documents
        self.parties = parties
        self.going_live = going_live
        self.allocations = allocations

    def refusal(self, kind: str) -> str | None:
        """The Sage product's own reason for not taking this kind at all (None: it does)."""
        return not_exported(self.run.connector).get(record_kind(kind))

    def first_send(self, staged: StagedDocument, record: HostRecord | None, entry: LedgerEntry | None) -> bool:
        """`export` goes on to `Documents.create` and claims this version (to send it, or to settle
        it as skipped): a live document or payment with no ledger entry yet, in an exportable
        status, of a kind the product takes, in a real run that Sage does not block."""
        run = self.run
        return (entry is None and isinstance(record, Document | Payment) and not staged.voided and not run.dry_run
                and run.blocked_until is None and self.refusal(staged.kind) is None
                and (not isinstance(record, Document) or run.settings.is_exportable_status(record.status)))

    def export(self, staged: StagedDocument, record: HostRecord | None, entry: LedgerEntry | None) -> None:
        if isinstance(record, Party):
            self.parties.export(staged, record, entry)
            return
        assert isinstance(record, Document | Payment)
        if staged.voided:
            self._voided(staged, record, entry)
        else:
            self._live(staged, record, entry)

    def _explicit(self) -> bool:
        """The run names its documents, or an operator (or a replay) asked for it."""
        request = self.run.request
        return bool(request.documents) or request.triggered_by in (RunTrigger.OPERATOR, RunTrigger.REPLAY)

    def _names_documents(self) -> bool:
        """The run names its documents (a replay, a trigger status): each gets this run's log line.
        An operator's export of a window does not: under New it logs only what is new, as a
        scheduled run does (its counts and `not_logged` still say what it looked at)."""
        return bool(self.run.request.documents) or self.run.request.triggered_by is RunTrigger.REPLAY

    def _log_unchanged(self) -> bool:
        return self.run.export_type is ExportType.ALL or self._names_documents()

    def _voided(self, staged: StagedDocument, record: Record, entry: LedgerEntry | None) -> None:
        target = void_hash(staged.payload_hash)
        if self.run.gave_up(entry, target):
            return
        if entry is None or entry.sage_id is None:
            copy = self.going_live.hand_entered_copy(record, voided=True)
            if copy is not None:
                self.outcomes.skip(staged, record, copy.reasons, entry, payload_hash=target, report=True)
                return
            self.journal.unchanged(staged, record, "voided in the host app before it was exported: nothing to "
                                   "send", log=self._log_unchanged())
        else:
            self._void(staged, record, entry, target)

    def _void(self, staged: StagedDocument, record: Record, entry: LedgerEntry, target: str,
              because: str = "voided in the host app") -> None:
        """Void Sage's copy, unless this void is what Sage has already."""
        if entry.state is LedgerState.EXPORTED and entry.exported_hash == target:
            self.journal.unchanged(staged, record, "already voided in Sage", log=self._log_unchanged(),
                                   sage_id=entry.sage_id)
        else:
            self.documents.void(staged, record, entry, target, because=because)

    def _live(self, staged: StagedDocument, record: Record, entry: LedgerEntry | None) -> None:
        h, run = staged.payload_hash, self.run
        exported = entry is not None and entry.sage_id is not None
        side = allocated_side(staged.kind, record)
        if exported and run.replay and side is not None:
            # Exported before allocations existed (or allocated since): the allocation step checks Sage.
            self.allocations.check(side, staged.host_id)
        if entry is not None and entry.state is LedgerState.EXPORTED and entry.exported_hash == h:
            self.journal.unchanged(staged, record, "unchanged since it was exported", log=self._log_unchanged(),
                                   sage_id=entry.sage_id)
            return
        if entry is not None and entry.state is LedgerState.IN_FLIGHT and not run.stale(entry):
            return  # another worker holds it right now (the lease should prevent this)
        if isinstance(record, Document) and not run.settings.is_exportable_status(record.status):
            self._not_exportable(staged, record, entry)
            return
        if run.gave_up(entry, h):
            return  # gave up on this version and reported it; a change or a replay tries again
        if entry is None or entry.sage_id is None:
            if not self.waits_for_sage(staged, record, entry):
                self.documents.create(staged, record, entry)
        elif run.export_type is ExportType.NEW:
            self._not_resent(staged, record, entry)
        elif not self.waits_for_sage(staged, record, entry):
            self.documents.update(staged, record, entry)

    def waits_for_sage(self, staged: StagedDocument, record: Record, entry: LedgerEntry | None, *,
                       logged_only: bool = False) -> bool:
        """Sage blocks the connection: not sent, and not silent. A new or changed document waits
        (the status counts it as waiting, named by the block's end; logged once per block); one
        failed or skipped before keeps its state and reason (still retried), with this run's line;
        `logged_only`: the line alone (a void, or a lookup that met the block: the ledger untouched)."""
        until = self.run.blocked_until
        if until is None:
            return False
        self.run.result.waiting_for_sage += 1
        why = f": {self.run.blocked_reason}" if self.run.blocked_reason else ""
        message = (f"{label(record)} was not sent: it waits for Sage's block to end at {until:%H:%M} UTC"
                   f"{why}; the first run after that sends it")
        if not logged_only and (entry is None or entry.state in (LedgerState.PENDING, LedgerState.EXPORTED)
                                or entry.waiting):
            self.outcomes.skip(staged, record, [SkipReason(code=SkipCode.WAITING_FOR_SAGE, message=message)], entry,
                               waiting=True, explicit=self._names_documents(), waits_for="sage")
        else:
            self.journal.count(Outcome.SKIPPED)
            self.journal.log_now(staged.kind, staged.host_id, number_of(record), Outcome.SKIPPED,
                                 reason_code=SkipCode.WAITING_FOR_SAGE.value,
                                 message=("dry run: " if self.run.dry_run else "") + message)
        return True

    def _not_resent(self, staged: StagedDocument, record: Record, entry: LedgerEntry) -> None:
        """Export type New: an exported document that changed is not sent again."""
        mapping = self.run.store.mappings.find(self.run.tenant, staged.kind, staged.host_id)
        extra = mapping.extra if mapping is not None else {}
        if extra.get("voided"):
            self.outcomes.skip(staged, record, [SkipReason(
                code=SkipCode.LOCKED_IN_SAGE,
                message=f"{label(record)} was voided in Sage (voided, or moved to a status that is not "
                f"exportable, in the host app) and is exportable again; Sage cannot bring back a void "
                f"document, so it was not sent: enter it again under a new number")], entry)
            return
        if (entry.state is LedgerState.SKIPPED and entry.payload_hash == staged.payload_hash and not entry.waiting
                and not self._explicit()):
            # This version was skipped for its own reason (paid in Sage...): that stands, nothing new.
            self.journal.count(Outcome.UNCHANGED, logged=False)
            return
        if entry.exported_hash == staged.payload_hash:  # changed back to what Sage holds: exported again
            self._back_to_exported(staged, record, entry)
            return
        # Not sent, and said so (the host's figures and Sage's now differ): skipped with the fix,
        # the host told once per version; the status lists it until it is sent or changes back.
        self.outcomes.skip(staged, record, [_changed_after_export(record, extra)], entry)

    def _back_to_exported(self, staged: StagedDocument, record: Record, entry: LedgerEntry) -> None:
        """Skipped as changed after its export, then changed back: Sage holds this version, so the
        entry is exported again (off the status's skipped list), nothing sent."""
        message = "changed back to the version exported: Sage holds it, nothing to send"
        if self.run.dry_run:
            self.journal.unchanged(staged, record, message, log=True, sage_id=entry.sage_id)
            return
        claim = self.outcomes.claim(staged, staged.payload_hash)
        assert entry.sage_id is not None
        if claim is not None and self.outcomes.settle(
                self.run.store.ledger.mark_exported_op(claim, entry.sage_id),
                self.journal.log_op(staged.kind, staged.host_id, number_of(record), Outcome.UNCHANGED,
                                    sage_id=entry.sage_id, message=message)):
            self.journal.count(Outcome.UNCHANGED)

    def _not_exportable(self, staged: StagedDocument, record: Document[Any], entry: LedgerEntry | None) -> None:
        """A status that is not in the books (draft, quote, cancelled): never sent by any run. Not in
        Sage yet: it waits for the host to move it on (logged once per version, nothing to fix). In
        Sage already (it left an exportable status): voided there, by the rules of a host void."""
        if entry is not None and entry.sage_id is not None:
            self._void(staged, record, entry, void_hash(staged.payload_hash),
                       because=f"moved to status {record.status} in the host app")
            return
        copy = self.going_live.hand_entered_copy(record)
        if copy is not None:
            self.outcomes.skip(staged, record, copy.reasons, entry, report=True)
            return
        self.outcomes.skip(staged, record, [SkipReason(
            code=SkipCode.STATUS_NOT_EXPORTABLE, field="status",
            message=f"{label(record)}: status {record.status} is not exportable, so it was not sent to Sage; it "
            f"will be exported when its status becomes {' or '.join(self._when_exportable())}")], entry,
            waiting=True, explicit=self._names_documents())

    def _when_exportable(self) -> list[str]:
        """The statuses that export a document, and when (never naming one that is not exportable)."""
        s = self.run.settings
        triggers = s.exportable_trigger_statuses()
        when = [f"{', '.join(sorted(triggers))} (at once)"] if triggers else []
        if s.exportable_statuses is None:
            when.append(f"any other status but {', '.join(sorted(NOT_EXPORTABLE_BY_DEFAULT))} (with the next "
                        "scheduled run)")
        elif s.exportable_statuses - triggers:
            when.append(f"{', '.join(sorted(s.exportable_statuses - triggers))} (with the next scheduled run)")
        return when

    def not_supported(self, staged: StagedDocument, record: HostRecord | None, entry: LedgerEntry | None,
                      why: str) -> None:
        """Skipped with the product's reason: retrying cannot help, the rest of the run goes on."""
        if isinstance(record, Party) or record is None:
            self.journal.count(Outcome.SKIPPED)
            self.journal.log_now(staged.kind, staged.host_id, getattr(record, "name", None), Outcome.SKIPPED,
                                 reason_code=SkipCode.NOT_SUPPORTED.value, message=why)
            return
        held = self.outcomes.release()
        if held is not None:  # refused after we claimed it: settle our claim as skipped
            self.outcomes.settle_not_supported(staged, record, held, why)
            return
        self.outcomes.skip(staged, record, [not_supported_reason(record, why)], entry)


def _changed_after_export(record: Record, sent: dict[str, Any]) -> SkipReason:
    """Export type New does not send a change: the reason names both totals where they differ."""
    now = Decimal(record.totals.total if isinstance(record, Document) else record.amount)
    before = Decimal(str(sent["total"])) if sent.get("total") is not None else None
    currency = sent.get("currency") or record.currency
    if before is None:
        figures = f"its total is now {record.currency} {now:.2f}"
    elif before != now:
        figures = f"its total is now {record.currency} {now:.2f}, Sage has {currency} {before:.2f}"
    else:
        figures = f"the same total, {record.currency} {now:.2f}, other details changed"
    return SkipReason(
        code=SkipCode.CHANGED_AFTER_EXPORT,
        message=f"{label(record)} changed in the host app after it was exported ({figures}); the export type "
        f"is New, which sends each document once, so Sage keeps the version exported. To bring Sage up to "
        f"date, switch the export type to All (the change is then sent where Sage lets the document be "
        f"changed; if it does not, the run says why), or credit or void it in the host app and enter it again")
