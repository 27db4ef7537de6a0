"""The steps of one run wired together, and how a page of staged records goes through them:
read its ledger entries and mappings in one batch each, then decide and export each record on
its own (a document's failure is its own; the connection's or the store's stops the run)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from sagebridge.connectors.base import NotSupported, RateLimited
from sagebridge.domain.documents import Document
from sagebridge.domain.errors import ConfigurationError, ThrottledError
from sagebridge.domain.kinds import RecordKind, ledger_of, record_kind
from sagebridge.domain.parties import Party
from sagebridge.domain.payments import Payment
from sagebridge.domain.records import HostRecord, parse_host_record
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.observability import logger
from sagebridge.store import LedgerEntry, LedgerState, StagedDocument
from sagebridge.store.notifications import FailureSummary
from sagebridge.sync.export.allocations import CreditNoteAllocations
from sagebridge.sync.export.context import ExportRun, connection_guard, label, number_of
from sagebridge.sync.export.decide import Decide
from sagebridge.sync.export.documents import Documents
from sagebridge.sync.export.going_live import GoingLive
from sagebridge.sync.export.in_doubt import InDoubt
from sagebridge.sync.export.journal import Journal
from sagebridge.sync.export.lookups import SageLookups
from sagebridge.sync.export.outcomes import Outcomes
from sagebridge.sync.export.parties import Parties
from sagebridge.sync.export.prepare import Preparation
from sagebridge.sync.export.request import PAYMENT_KINDS, ExportHooks, RunAborted, void_hash
from sagebridge.sync.export.select import PAGE_SIZE, Selection

# New documents are claimed this many at a time (one TransactWriteItems) rather than one request
# each before its POST: the claim's round trip leaves the per-document path. A run that stops
# gives back what it did not send; a worker that dies leaves the rest of its ten in flight besides
# the one it was sending (each a stale claim the next run looks up in Sage first, as after any crash).
CLAIM_AHEAD = 10


class Pages:
    """One run's steps, and its pages of staged records through them, phase by phase."""

    def __init__(self, run: ExportRun, *, outbox: DeliveryOutbox | None,
                 notify: Callable[[FailureSummary], Any] | None, hooks: ExportHooks | None) -> None:
        self.run = run
        self.journal = Journal(run, outbox=outbox, notify=notify)
        self.outcomes = Outcomes(run, self.journal, hooks)
        self.parties = Parties(run, self.journal, self.outcomes)
        self.allocations = CreditNoteAllocations(run, self.journal, self.parties)
        self.selection = Selection(run, self.journal)
        preparation = Preparation(run, self.parties, self.journal.planned_ids)
        lookups = SageLookups(run)
        going_live = GoingLive(run, preparation, self.parties, lookups)
        documents = Documents(run, self.journal, self.outcomes, preparation, going_live, lookups,
                              InDoubt(run, self.journal, self.outcomes), self.allocations)
        documents.paid_voids = []
        self.documents = documents
        self.decide = Decide(run, self.journal, self.outcomes, documents, self.parties, going_live,
                             self.allocations)
        # Where the run is, for a pause: the phase and how many of its records were looked at.
        self.phase = 0
        self.looked_at = 0
        self.watch: Callable[[], None] = lambda: None  # before each record (RunPaused stops the run)
        self._resumed_since: datetime | None = None  # a continuation: its run's start
        self._seen_before = 0  # records of the resumed phase an earlier part looked at

    def resume_from(self, started_at: datetime, seen: int) -> None:
        self._resumed_since, self._seen_before = started_at, seen

    def start_phase(self, index: int, *, resumed: bool) -> None:
        self.phase, self.looked_at = index, 0
        if not resumed:
            self._seen_before = 0

    def export_phase(self, phase: tuple[RecordKind, ...], window: tuple[date, date],
                     between_pages: Callable[[], None]) -> None:
        if phase is PAYMENT_KINDS and not self.run.dry_run and self.run.blocked_until is None:
            self.allocations.allocate_all()  # before payments: they may settle what is left
        for batch in self.selection.batches(phase, window):
            try:
                self._export_page(batch)
            finally:
                # this page's commits land before the next page reads
                self.outcomes.drain(self.parties.take_writes())
            between_pages()

    def export_paid_voids(self, between_pages: Callable[[], None]) -> None:
        """The voided documents found paid in Sage, once more after the run's payments: a payment or
        refund voided in this run is taken back by now, and the document is voided in this run too."""
        waiting, self.documents.paid_voids = self.documents.paid_voids or [], None
        for start in range(0, len(waiting), PAGE_SIZE):
            try:
                self._export_page(waiting[start:start + PAGE_SIZE])
            finally:
                self.outcomes.drain(self.parties.take_writes())
            between_pages()

    def close(self) -> None:
        """Every commit settled, the writer threads gone."""
        self.outcomes.shut_down()

    def _export_page(self, batch: list[StagedDocument]) -> None:
        if not batch:
            return
        start = self.looked_at
        self._watch()
        entries = self.run.store.ledger.find_many(self.run.tenant, [(s.kind, s.host_id) for s in batch])
        position = {(s.kind, s.host_id): start + i for i, s in enumerate(batch)}
        if self._resumed_since is not None:
            batch = [s for s in batch if not self._settled(s, entries.get((s.kind, s.host_id)),
                                                           position[(s.kind, s.host_id)])]
        records = self._parse(batch)
        self._read_mappings([record for _, record in records])
        try:
            for index, (staged, record) in enumerate(records):
                if index:
                    self._watch()
                if index % CLAIM_AHEAD == 0:
                    self.outcomes.claim_ahead([s for s, r in records[index:index + CLAIM_AHEAD]
                                               if self.decide.first_send(s, r, entries.get((s.kind, s.host_id)))])
                self.outcomes.held = None
                self._export_one(staged, record, entries.get((staged.kind, staged.host_id)))
                self.looked_at = position[(staged.kind, staged.host_id)] + 1
        finally:
            self.outcomes.release_ahead()
        self.looked_at = start + len(position)

    def _watch(self) -> None:
        """No pause while voided documents found paid in Sage wait for the end of the run (they are
        held in memory, not in the ledger), nor while those are done: the run goes on instead."""
        if not self.documents.paid_voids and self.documents.paid_voids is not None:
            self.watch()

    def _settled(self, staged: StagedDocument, entry: LedgerEntry | None, position: int) -> bool:
        """A continuation leaves out what an earlier part of its run settled (this version's entry
        written since the run started, no claim in flight), and what that part looked at and found
        unchanged: neither is sent, counted or logged twice."""
        if entry is None or entry.state is LedgerState.IN_FLIGHT or self._resumed_since is None:
            return False
        versions = (staged.payload_hash, void_hash(staged.payload_hash))
        if entry.payload_hash in versions and entry.updated_at is not None and entry.updated_at >= self._resumed_since:
            return True
        return (position < self._seen_before and entry.state is LedgerState.EXPORTED
                and entry.exported_hash in versions)

    def _parse(self, batch: list[StagedDocument]) -> list[tuple[StagedDocument, HostRecord | None]]:
        records: list[tuple[StagedDocument, HostRecord | None]] = []
        for staged in batch:
            try:
                records.append((staged, parse_host_record(record_kind(staged.kind), staged.canonical_json)))
            except ValidationError as exc:
                self.outcomes.fail_unparsable(staged, exc)
        return records

    def _read_mappings(self, records: list[HostRecord | None]) -> None:
        """The mappings the page needs (its parties, payments' invoices) and its documents' staged
        parties, one batch each."""
        wanted_maps: set[tuple[str, str]] = set()
        wanted_parties: set[tuple[str, str]] = set()  # staged customers/vendors the page's documents name
        for record in records:
            if isinstance(record, Party):
                wanted_maps.add((record.kind.value, record.host_id))
            elif isinstance(record, Document | Payment):
                party = (ledger_of(record.kind).value, record.party_id)
                if self.parties.needs_mapping(record):
                    wanted_maps.add(party)
                if self.parties.needs_staged(record):
                    wanted_parties.add(party)
                if isinstance(record, Payment):
                    wanted_maps.update((a.kind.value, a.host_id) for a in record.allocations)
        maps = self.run.store.mappings.find_many(self.run.tenant, wanted_maps) if wanted_maps else {}
        self.parties.read_page(wanted_parties, wanted_maps, maps)
        self.run.mappings = maps

    def _export_one(self, staged: StagedDocument, record: HostRecord | None,
                    entry: LedgerEntry | None) -> None:
        """Each document fails on its own; only the connection (and the store) stop the run."""
        blocked = self.run.blocked_until is not None
        if blocked and isinstance(record, Party):
            return  # its documents wait for the block (a party is sent with its first document)
        if blocked and staged.voided and isinstance(record, Document | Payment):
            self.decide.waits_for_sage(staged, record, entry, logged_only=True)
            return
        try:
            with connection_guard():
                refusal = self.decide.refusal(staged.kind)
                if refusal is not None:
                    self.decide.not_supported(staged, record, entry, refusal)
                else:
                    self.decide.export(staged, record, entry)
        except NotSupported as exc:
            self.decide.not_supported(staged, record, entry, exc.message)
        except RunAborted as exc:
            if not (blocked and isinstance(exc.__cause__, RateLimited) and isinstance(record, Document | Payment)):
                raise
            # Another Sage call this document needed (a lookup) met the block: it waits too.
            self.decide.waits_for_sage(staged, record, entry, logged_only=True)
        except (ThrottledError, ConfigurationError, BotoCoreError, ClientError):
            raise  # our own store or setup: the run fails and its job is retried, the documents are fine
        except Exception as exc:
            if self.outcomes.hook_raised:
                raise
            self._unexpected(staged, record, exc)

    def _unexpected(self, staged: StagedDocument, record: HostRecord | None,
                    exc: Exception) -> None:
        """A bug or a surprise from Sage for one document: Failed with a reason (the stack trace goes
        to the logs, not the sync log), given up until a replay or a change, the host told."""
        logger.exception("export_document_failed_unexpectedly",
                         extra={"kind": staged.kind, "host_id": staged.host_id, "error": type(exc).__name__})
        what = label(record) if isinstance(record, Document | Payment) else f"{staged.kind} '{staged.host_id}'"
        if self.run.dry_run:  # in the plan with its reason: a dry run never drops a record silently
            number = record.name if isinstance(record, Party) else number_of(record) if isinstance(
                record, Document | Payment) else None
            why = f"{type(exc).__name__}: {str(exc)[:300]}"
            self.journal.plan_failure(staged.kind, staged.host_id, number, f"{what} could not be planned: an "
                                      f"unexpected error in Sage Bridge ({why}); the real run would fail it the "
                                      "same way (details in the operator logs)")
            return
        message = (f"{what} could not be exported: an unexpected error in Sage Bridge ({type(exc).__name__}); "
                   "it is not retried until it is replayed or changed (details in the operator logs)")
        claim = self.outcomes.release()
        if isinstance(record, Party):
            self.parties.unexpected(record, message)
        else:
            self.outcomes.unexpected(staged, record if isinstance(record, Document | Payment) else None, claim,
                                      message)

