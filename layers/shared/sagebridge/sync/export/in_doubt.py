"""A send whose outcome is unknown (the worker died, or Sage's answer was lost): Sage is looked up
before anything is sent again. For a product whose creates are not idempotent, a lookup that
misses proves nothing until Sage's search has settled: the document waits, failed in doubt."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sagebridge.connectors.base import RemoteRecord, creates_idempotent, search_settle
from sagebridge.domain.documents import Document
from sagebridge.domain.errors import ConflictError
from sagebridge.domain.payments import Payment
from sagebridge.domain.validation import SkipCode, SkipReason
from sagebridge.store import Claim, LedgerEntry, LedgerState, Outcome, StagedDocument
from sagebridge.sync.export.context import ExportRun, label, number_of
from sagebridge.sync.export.journal import Journal
from sagebridge.sync.export.outcomes import Outcomes

# The exported hash of a copy adopted from an attempt in doubt before it is brought up to date: no
# version's hash, so the document counts as changed since it was exported until the update lands.
IN_DOUBT_HASH = "adopted-in-doubt"
# The reason code of a document whose send is in doubt and waits for Sage's search to settle.
IN_DOUBT_CODE = "sage_in_doubt"


class InDoubt:
    """Settles documents whose earlier send may or may not have reached Sage."""

    def __init__(self, run: ExportRun, journal: Journal, outcomes: Outcomes) -> None:
        self.run = run
        self.journal = journal
        self.outcomes = outcomes

    def unsettled_since(self, claim: Claim) -> datetime | None:
        """An earlier send of this document went out at the time returned, less than the product's
        search settle time ago, and a resend would not be caught as a repeat: the product's creates
        are not idempotent, or the document changed since (a new version, a new idempotency key). A
        lookup that misses proves nothing yet. None: a resend is safe (the same key to an idempotent
        product, settled, or never sent)."""
        previous = claim.previous
        if previous is None:
            return None
        if creates_idempotent(self.run.connector) and previous.idempotency_key == claim.entry.idempotency_key:
            return None
        since = previous.claimed_at if claim.uncertain else previous.in_doubt_since
        if since is None or self.run.now() >= since + search_settle(self.run.connector):
            return None
        return since

    def park(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim, since: datetime,
             reference: str, *, resent: bool, cause: str | None = None) -> None:
        """A send whose outcome is unknown, for a product without idempotent creates, and Sage's
        search does not show the document yet: failed in doubt (never given up), the host told once
        per version, the sync log and the status page saying when it is looked for again. The
        first run after that time adopts Sage's copy, or sends it if Sage still does not have it."""
        after = since + search_settle(self.run.connector)
        lost = f" ({cause})" if cause else ""
        message = (
            f"{label(record)} was sent to Sage and the answer was lost{lost}; Sage's search does not show "
            f"reference {reference} yet, and Sage could not tell a second send from the first (no "
            "idempotency key for this product, or the document changed since), so it was not sent again: "
            f"the first run after {after.isoformat(timespec='seconds')} looks for it again and sends it only "
            "if Sage still does not have it")
        # A look that sent nothing does not count as an attempt; never given up while in doubt.
        attempts = self.run.attempts(claim) if resent else max(self.run.attempts(claim) - 1, 1)
        attempts = min(attempts, self.run.settings.retry_limit)
        if not self.outcomes.settle(
                self.run.store.ledger.mark_failed_op(claim, message, attempts=attempts, in_doubt_since=since),
                self.journal.log_op(staged.kind, staged.host_id, number_of(record), Outcome.FAILED,
                                    reason_code=IN_DOUBT_CODE, message=message)):
            return
        self.journal.count(Outcome.FAILED)
        self.journal.deliver_failed(staged.kind, staged.host_id, number_of(record), claim.entry.payload_hash,
                                    IN_DOUBT_CODE, message, attempts, True)

    def several_copies(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim,
                       ours: list[RemoteRecord], reference: str) -> None:
        """Several copies in Sage under the reference: which is ours is unknown, so nothing is sent
        and the ledger keeps the document failed (every later try looks Sage up again) until the
        extra copies are gone from Sage."""
        reason = several_copies_reason(record, ours, reference)
        if not self.outcomes.settle(
                self.run.store.ledger.mark_failed_op(claim, reason.message, attempts=self.run.attempts(claim),
                                                     gave_up=True),
                self.journal.log_op(staged.kind, staged.host_id, number_of(record), Outcome.SKIPPED,
                                    reason_code=reason.code.value, message=reason.message)):
            return
        self.journal.count(Outcome.SKIPPED)
        self.journal.remember_failure(staged.kind, staged.host_id, f"{number_of(record)}: {reason.message}")
        self.journal.deliver_skipped(staged, record, [reason], staged.payload_hash)

    def link(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim, remote: RemoteRecord,
             reference: str) -> LedgerEntry | None:
        """Link Sage's one copy as exported with a version Sage is not known to hold, so that until
        it is brought up to date every run updates this copy rather than creating another. The
        entry to update from; None when our claim was taken over (the taker looks Sage up and
        adopts it)."""
        run = self.run
        linked = Claim(entry=replace(claim.entry, payload_hash=IN_DOUBT_HASH), previous=claim.previous)
        try:
            run.store.transact([
                run.store.ledger.mark_exported_op(linked, remote.id),
                run.store.mappings.put_op(run.tenant, staged.kind, staged.host_id, remote.id,
                                          {"reference": reference}),
                self.journal.log_op(staged.kind, staged.host_id, number_of(record), Outcome.LINKED,
                                    sage_id=remote.id, message=f"found already in Sage (reference {reference}) "
                                    "from an earlier attempt that was cut off, and linked; it changed since, so "
                                    "Sage is updated"),
            ])
        except ConflictError:
            return None
        finally:
            self.outcomes.held = None
        return replace(claim.entry, state=LedgerState.EXPORTED, sage_id=remote.id, exported_hash=IN_DOUBT_HASH,
                       claim_id=None)


def several_copies_reason(record: Document[Any] | Payment, ours: list[RemoteRecord], reference: str) -> SkipReason:
    ids = ", ".join(r.id for r in ours)
    return SkipReason(code=SkipCode.SEVERAL_IN_SAGE, message=(
        f"{label(record)} may have been sent to Sage by an earlier attempt that was cut off, and Sage "
        f"holds {len(ours)} documents under reference {reference} for this contact (Sage ids {ids}); "
        "it was not sent again: remove the extra copies in Sage, then replay it"))
