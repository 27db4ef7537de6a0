"""What a run reads, a page at a time: the documents it names, or those in its window or staged
since the last run, plus (scheduled runs) retries and recent skips whose wait may be over."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta

from sagebridge.domain.kinds import DocumentKind, PartyKind, RecordKind, ledger_of, record_kind
from sagebridge.domain.settings import TenantSettings
from sagebridge.store import LedgerState, Outcome, StagedDocument
from sagebridge.sync.export.context import ExportRun
from sagebridge.sync.export.journal import Journal
from sagebridge.sync.export.request import (
    ALLOCATION_KINDS,
    EARLIEST,
    LATEST,
    ExportRequest,
)

PAGE_SIZE = 100
# Scheduled runs look at records skipped within this long again (what they waited for may have come).
SKIPS_LOOKED_AT_FOR = timedelta(days=31)

Page = list[StagedDocument]
Seen = set[tuple[str, str]]


def kinds_of(request: ExportRequest, settings: TenantSettings) -> frozenset[RecordKind]:
    if request.kinds is not None:
        return request.kinds
    # A run that names no kinds (scheduled, or an operator's export) also sends the customers and
    # vendors that changed (a renamed customer with no new document), as docs/operations.md says.
    return frozenset(k for k in settings.export_kinds if isinstance(k, DocumentKind | PartyKind))


def window_of(request: ExportRequest) -> tuple[date, date]:
    return request.window_from or EARLIEST, request.window_to or LATEST


class Selection:
    """The pages of staged records of one phase (parties, documents or payments)."""

    def __init__(self, run: ExportRun, journal: Journal) -> None:
        self.run = run
        self.journal = journal

    def batches(self, phase: tuple[RecordKind, ...], window: tuple[date, date]) -> Iterator[Page]:
        request = self.run.request
        if request.documents:
            yield from self._named(phase)
            return
        wanted = [k for k in phase if k in kinds_of(request, self.run.settings)]
        if not wanted:
            return
        done: Seen = set()
        if request.include_retries:
            retry = list(self._retry_candidates(wanted))
            done = {(s.kind, s.host_id) for s in retry}
            for start in range(0, len(retry), PAGE_SIZE):
                yield retry[start:start + PAGE_SIZE]
        if request.staged_since is not None:
            yield from _pages(self.run.store.documents.staged_since(
                self.run.tenant, request.staged_since, kinds=[k.value for k in wanted], page_size=PAGE_SIZE), done)
            # Skipped records did not change, but what they wait for may have (a customer that came
            # after its invoice, an invoice a payment is allocated to): look at recent skips again.
            # Unchanged reasons write nothing; a draft waiting for its status is not among them.
            yield from _pages(self._recent_skips(wanted), done)
            return
        yield from self._in_window(wanted, window, done)

    def _named(self, phase: tuple[RecordKind, ...]) -> Iterator[Page]:
        """The documents the request names (trigger status, replay); one never staged is logged."""
        refs = [(k, h) for k, h in self.run.request.documents
                if k not in ALLOCATION_KINDS and record_kind(k) in phase]
        for start in range(0, len(refs), PAGE_SIZE):
            found = [self.run.store.documents.find(self.run.tenant, k, h) for k, h in refs[start:start + PAGE_SIZE]]
            for (k, h), staged in zip(refs[start:start + PAGE_SIZE], found, strict=True):
                if staged is None:
                    self.journal.count(Outcome.SKIPPED)
                    self.journal.log_now(k, h, None, Outcome.SKIPPED, reason_code="not_staged",
                                         message=f"{k} '{h}' was never received from the host app")
            yield [s for s in found if s is not None]

    def _in_window(self, wanted: list[RecordKind], window: tuple[date, date], done: Seen) -> Iterator[Page]:
        """Each ledger's records dated within the window, by the date the request or settings say."""
        for ledger in sorted({ledger_of(k) for k in wanted}):
            kinds = [k for k in wanted if ledger_of(k) is ledger]
            basis = self.run.request.date_basis or self.run.settings.date_basis_for(kinds[0])
            yield from _pages(self.run.store.documents.between(
                self.run.tenant, ledger.value, basis, window[0], window[1], kinds=[k.value for k in kinds],
                page_size=PAGE_SIZE), done)

    def _recent_skips(self, kinds: Sequence[RecordKind]) -> Iterator[StagedDocument]:
        """Records skipped within the last SKIPS_LOOKED_AT_FOR (their skip was logged then), read a
        page of ledger entries at a time with their staged records in one batch."""
        wanted = {k.value for k in kinds}
        since = self.run.now() - SKIPS_LOOKED_AT_FOR
        for page in self.run.ledger_pages(LedgerState.SKIPPED):
            refs = [(e.kind, e.host_id) for e in page
                    if e.kind in wanted and e.updated_at is not None and e.updated_at >= since]
            if refs:
                found = self.run.store.documents.find_many(self.run.tenant, refs)
                yield from (found[ref] for ref in refs if ref in found)

    def _retry_candidates(self, kinds: Sequence[RecordKind]) -> Iterator[StagedDocument]:
        """Failed entries still within the retry limit and claims left in flight by a dead worker."""
        wanted = {k.value for k in kinds}
        stale_before = self.run.now() - self.run.claim_timeout
        for state in (LedgerState.FAILED, LedgerState.IN_FLIGHT):
            for page in self.run.ledger_pages(state):
                for entry in page:
                    if entry.kind not in wanted:
                        continue
                    if state is LedgerState.FAILED and self.run.gave_up(entry):
                        continue
                    if state is LedgerState.IN_FLIGHT and (entry.claimed_at or stale_before) > stale_before:
                        continue
                    staged = self.run.store.documents.find(self.run.tenant, entry.kind, entry.host_id)
                    if staged is not None:
                        yield staged


def _pages(records: Iterator[StagedDocument], done: Seen) -> Iterator[Page]:
    """Pages of PAGE_SIZE records, leaving out (and then adding to) `done`: once a run each."""
    page: Page = []
    for staged in records:
        if (staged.kind, staged.host_id) in done:
            continue
        done.add((staged.kind, staged.host_id))
        page.append(staged)
        if len(page) == PAGE_SIZE:
            yield page
            page = []
    if page:
        yield page
