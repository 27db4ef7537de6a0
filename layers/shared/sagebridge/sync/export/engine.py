"""The export engine: staged host records -> Sage, exactly once, with a sync log line for every one.

    result = export_documents(ExportRequest(tenant_id="acme"), store=store, connector=connector,
                              settings=tenant_settings)

One run, in phases so that what a record needs exists before it: parties (catalog export), then
invoices and credit notes, then payments and refunds. Within a phase the staged records are read a
page (100) at a time, with their ledger entries and the mappings they need fetched in one batch per
page, so memory stays flat and DynamoDB sees about two requests per exported document (claim and
commit). Sage reference data (tax rates) is read once per run.

Exactly once (DESIGN.md): claim the ledger entry (conditional, idempotency key = hash of tenant,
kind, host id and payload hash) -> send with Sage's idempotency_id and a reference -> commit the
ledger, the mapping and the log line in one transaction. A claim that finds an earlier attempt
in_flight (a worker died) or failed is uncertain: we look the document up in Sage by reference,
contact and amount first and adopt it if it is there. A timeout on a create is reconciled the same
way before the one resend, which carries the same idempotency_id. A POST is never blindly retried.
A product whose creates are not idempotent (the connector says so) gets no resend after a lookup
that missed: Sage's search may lag the write. The document stays failed in doubt, the host told, and
is sent again only by a run after the product's search has settled and still does not find it.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, cast

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from sagebridge.connectors.base import (
    AuthError,
    Connector,
    Mapper,
    NotConnected,
    NotFound,
    NotSupported,
    Payload,
    RateLimited,
    RecordInvalid,
    RemoteRecord,
    SageError,
    TaxTable,
    UncertainWrite,
    creates_idempotent,
    not_exported,
    search_settle,
)
from sagebridge.domain.base import describe_problems
from sagebridge.domain.documents import Document
from sagebridge.domain.errors import ConfigurationError, ConflictError, ThrottledError
from sagebridge.domain.hashing import payload_hash
from sagebridge.domain.kinds import DateBasis, DocumentKind, PartyKind, RecordKind, ledger_of, record_kind
from sagebridge.domain.money import TOLERANCE
from sagebridge.domain.parties import Party
from sagebridge.domain.payments import Payment
from sagebridge.domain.records import HostRecord, parse_host_record
from sagebridge.domain.runs import RunTrigger
from sagebridge.domain.settings import NOT_EXPORTABLE_BY_DEFAULT, ExportType, IdentifyCustomerBy, TenantSettings
from sagebridge.domain.validation import (
    SkipCode,
    SkipReason,
    already_paid_reasons,
    bank_account_reasons,
    document_skip_reasons,
    locked_reasons,
    payment_skip_reasons,
)
from sagebridge.host.outbound import DeliveryOutbox, DocumentSkipped, ExportFailed, enqueue_delivery
from sagebridge.observability import logger, metrics
from sagebridge.store import (
    Claim,
    ClaimConflict,
    IdMapping,
    LedgerEntry,
    LedgerState,
    Outcome,
    RunRecord,
    RunStatus,
    StagedDocument,
    Store,
    SyncLogEntry,
    Write,
)
from sagebridge.store.ledger import DEFAULT_CLAIM_TIMEOUT
from sagebridge.store.notifications import FailureSummary

EXPORT_CURSOR = "export"  # position: the ISO start time of the last successful full run
PAGE_SIZE = 100
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)
MAX_REPORTED = 50  # failures kept in memory for the notification; the log has all of them
PARTY_CACHE_SIZE = 10_000
# On a party's mapping (`extra`): the payload hash of the party version Sage's contact was last made
# from (created, linked, updated, or refused for good), and Sage's updated_at after our update (the
# catalog import does not echo our own change back to the host as a Sage change).
CONTACT_HASH = "contact_hash"
SAGE_UPDATED_AT = "sage_updated_at"
# Write-behind commits: a few in flight hide DynamoDB's round trip behind the next Sage call; the
# bound keeps memory flat and the crash window (documents sent, not yet committed) small.
COMMIT_THREADS = 4
MAX_UNSETTLED = 8
# A run's heartbeat: `alive_until` on its run record is pushed this far ahead, at most once a
# HEARTBEAT_EVERY, between pages. Longer than the worker's timeout (300 s), so only a dead worker's
# run goes past it; shorter than the tenant's export lease (360 s), so the first run after a dead
# worker's lease ran out closes that run as abandoned.
RUN_ALIVE_FOR = timedelta(seconds=330)
HEARTBEAT_EVERY = timedelta(minutes=1)
# Scheduled runs look at records skipped within this long again (what they waited for may have come).
SKIPS_LOOKED_AT_FOR = timedelta(days=31)
# The exported hash of a copy adopted from an attempt in doubt before it is brought up to date: no
# version's hash, so the document counts as changed since it was exported until the update lands.
IN_DOUBT_HASH = "adopted-in-doubt"
# The reason code of a document whose send is in doubt and waits for Sage's search to settle.
IN_DOUBT_CODE = "sage_in_doubt"

DOCUMENT_KINDS = (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE,
                  DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE)
PAYMENT_KINDS = (DocumentKind.CUSTOMER_PAYMENT, DocumentKind.CUSTOMER_REFUND)
PARTY_KINDS = (PartyKind.CUSTOMER, PartyKind.VENDOR)
_MONEY_LINKED_KINDS = frozenset({DocumentKind.SALES_INVOICE.value, DocumentKind.SALES_CREDIT_NOTE.value})
# Parties first (documents need their contact), payments last (they need their invoices).
PHASES: tuple[tuple[RecordKind, ...], ...] = (PARTY_KINDS, DOCUMENT_KINDS, PAYMENT_KINDS)
# The ledger entry of a credit note's allocation against the invoice it credits (`invoice_id`): its
# own entry, so the allocation is sent once even if the run dies after Sage answered.
CREDIT_NOTE_ALLOCATION = "credit_note_allocation"
WAITING_FOR_INVOICE = "waiting_for_invoice"
ALLOCATION_DUE = "allocation_due"
# Mapping kind: a sales document linked to one already in Sage (going live, an uncertain write
# adopted) whose money in Sage the payment poller has not looked at yet (host_id = Sage id).
LINKED_UNPOLLED_KIND = "sage_linked_unpolled"


# --------------------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class ExportRequest:
    """What to export. None means "as the tenant's settings say"."""

    tenant_id: str
    triggered_by: RunTrigger = RunTrigger.SCHEDULE
    kinds: frozenset[RecordKind] | None = None  # None: settings.export_kinds (parties only on request)
    window_from: date | None = None
    window_to: date | None = None
    date_basis: DateBasis | None = None  # None: each ledger's basis from the settings
    export_type: ExportType | None = None
    dry_run: bool = False
    documents: tuple[tuple[str, str], ...] = ()  # (kind, host id): just these (trigger status, replay)
    include_retries: bool = False  # also failed / stuck entries outside the window (scheduled runs)
    # Scheduled runs: every record staged (received, changed, voided) at or after this, whatever its
    # date, instead of a date window; customers and vendors included.
    staged_since: datetime | None = None
    requested_by: str | None = None
    # Documents never exported are always looked for in Sage first (going live); True: with one
    # listing per kind from the start (a big first export). None: on the tenant's first run.
    adopt_existing: bool | None = None

    def __post_init__(self) -> None:
        # Accept the words as written in jobs and tests ("sales_invoice", "all"), keep enums inside.
        if self.kinds is not None:
            object.__setattr__(self, "kinds", frozenset(record_kind(str(k)) for k in self.kinds))
        if self.export_type is not None:
            object.__setattr__(self, "export_type", ExportType(self.export_type))
        if self.date_basis is not None:
            object.__setattr__(self, "date_basis", DateBasis(self.date_basis))
        object.__setattr__(self, "triggered_by", RunTrigger(self.triggered_by))


@dataclass
class PlannedOutcome:
    """One line of a dry run's answer: what would happen and why (the payload for creates/updates)."""

    kind: str
    host_id: str
    outcome: Outcome
    message: str = ""
    payload: Payload | None = None


@dataclass
class ExportResult:
    run_id: str
    tenant_id: str
    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # the first MAX_REPORTED, for notifications
    planned: list[PlannedOutcome] = field(default_factory=list)  # dry run only
    status: RunStatus = RunStatus.RUNNING
    window: tuple[date, date] | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class ExportHooks(Protocol):
    """Test seam: called right after Sage answered a write and before the ledger commit (raising
    here is a worker killed at the worst moment)."""

    def after_sage_call(self, kind: str, host_id: str, remote: RemoteRecord) -> None: ...


class RunAborted(Exception):
    """The run cannot go on (grant revoked, Sage rate limit beyond patience); the job is retried."""


def idempotency_key(tenant_id: str, kind: str, host_id: str, payload_hash: str) -> str:
    """Deterministic: the same version of the same record always gets the same key (and so the
    same Sage idempotency_id), so a resend after a crash is replayed by Sage, not duplicated."""
    return hashlib.sha256(f"{tenant_id}\n{kind}\n{host_id}\n{payload_hash}".encode()).hexdigest()


def void_hash(payload_hash: str) -> str:
    """The ledger hash of "voided": differs from the live version's, so a void is one more change."""
    return hashlib.sha256(f"void\n{payload_hash}".encode()).hexdigest()


# ------------------------------------------------------------------------------------------ the engine


@dataclass
class _Skip:
    reasons: list[SkipReason]


# Going live: a stand-in contact id to build a body's reference and total before the contact is
# known, and what `_known_contact` says of a party that would get a new contact.
CONTACT_STAND_IN = "0"
NEW_CONTACT = ""


class _Unread:
    """A ledger entry not read yet (None is a read that found nothing)."""


UNREAD = _Unread()
PARTY_VALUES = frozenset(k.value for k in PARTY_KINDS)


class _LruDict(dict[Any, Any]):
    """A dict that forgets its oldest entries beyond `limit` (party ids: flat memory on big runs)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if len(self) > self.limit:
            del self[next(iter(self))]


class ExportEngine:
    """Exports one tenant's records to its Sage business through a `Connector`. One instance per
    run; not thread-safe (creates are serialised per Sage business on purpose)."""

    def __init__(
        self,
        *,
        store: Store,
        connector: Connector,
        settings: TenantSettings,
        business_currency: str = "GBP",
        outbox: DeliveryOutbox | None = None,
        notify: Callable[[FailureSummary], Any] | None = None,
        hooks: ExportHooks | None = None,
        claim_timeout: timedelta = DEFAULT_CLAIM_TIMEOUT,
    ) -> None:
        self.store = store
        self.connector = connector
        self.settings = settings
        self.business_currency = business_currency
        self.outbox = outbox
        self.notify = notify
        self.hooks = hooks
        self.claim_timeout = claim_timeout
        self.mapper: Mapper = connector.mapper  # each product's connector brings its own
        self._taxes: TaxTable | None = None
        self._tax_records: list[RemoteRecord] | None = None
        self._unusable_ids: dict[str, dict[str, str]] = {}  # what -> {Sage id: health reason}, once a run
        self._ledger_accounts: dict[str, RemoteRecord] = {}  # as the health check read them
        self._parties: _LruDict = _LruDict(PARTY_CACHE_SIZE)  # (party kind, host id) -> Sage contact id
        self._party_maps: _LruDict = _LruDict(PARTY_CACHE_SIZE)  # (party kind, host id) -> IdMapping
        self._checked: _LruDict = _LruDict(PARTY_CACHE_SIZE)  # parties compared with Sage this run
        self._staged_parties: dict[tuple[str, str], StagedDocument] = {}  # the page's parties, by id
        self._staged_asked: set[tuple[str, str]] = set()  # what _staged_parties was read for
        # Unmapped parties the page's documents name: their ledger entries (a give-up), read with the page.
        self._party_entries: dict[tuple[str, str], LedgerEntry] = {}
        self._party_entries_asked: set[tuple[str, str]] = set()
        self._party_failures: _LruDict = _LruDict(PARTY_CACHE_SIZE)  # (party kind, host id) -> why not in Sage
        self._identified: _LruDict = _LruDict(PARTY_CACHE_SIZE)  # (party kind, host id) -> found by going live
        self._existing: dict[DocumentKind, dict[str, list[RemoteRecord]]] = {}
        self._listed: set[tuple[DocumentKind, date | None]] = set()  # going-live listings done (None: all)
        self._executor: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[Future[bool], Outcome]] = deque()  # commits not yet settled
        self._party_writes: list[Write] = []  # new parties' mappings and log lines, written per page
        self._held: Claim | None = None  # the document's claim not yet settled (for an unexpected error)
        self._hook_raised = False  # the test seam "killed" the worker: not a document's own failure

    # ---- the run

    def run(self, request: ExportRequest) -> ExportResult:
        tenant = request.tenant_id
        export_type = request.export_type or self.settings.export_type
        run_id = self.store.runs.new_id()
        window = self._window(request)
        started = self.store.table.now()
        if request.adopt_existing is None:
            adopt = self.store.cursors.get(tenant, EXPORT_CURSOR) is None
        else:
            adopt = request.adopt_existing
        self.r = _RunState(request=request, run_id=run_id, export_type=export_type, adopt=adopt,
                           result=ExportResult(run_id, tenant, request.dry_run, window=window))
        details = {
            "kinds": sorted(k.value for k in self._kinds(request)), "export_type": export_type.value,
            "window_from": window[0].isoformat(), "window_to": window[1].isoformat(),
            "date_basis": request.date_basis.value if request.date_basis else "per_ledger",
            "triggered_by": request.triggered_by.value, "requested_by": request.requested_by,
            "documents": len(request.documents), "going_live": adopt,
        }
        if request.staged_since is not None:
            details["staged_since"] = request.staged_since.astimezone(UTC).isoformat(timespec="seconds")
        for dead in self.store.runs.close_abandoned(tenant, now=started):
            logger.warning("export_run_abandoned", extra={"abandoned_run_id": dead.run_id})
        self.store.runs.start(RunRecord(tenant, run_id, request.triggered_by.value, dry_run=request.dry_run,
                                        details=details, started_at=started, alive_until=started + RUN_ALIVE_FOR))
        self.r.beat_at = started
        logger.append_keys(tenant_id=tenant, run_id=run_id)
        status = RunStatus.FAILED
        try:
            try:
                for phase in PHASES:
                    if phase is PAYMENT_KINDS and not request.dry_run:
                        self._allocate_credit_notes()  # before payments: they may settle what is left
                    for batch in self._batches(request, phase, window):
                        try:
                            self._export_batch(batch)
                        finally:
                            self._drain()  # this page's commits land before the next page reads
                        self._heartbeat()
            finally:
                if self._executor is not None:
                    self._executor.shutdown(wait=True)
                    self._executor = None
            status = RunStatus.SUCCEEDED
        except RunAborted as exc:
            details["aborted"] = str(exc)
            logger.warning("export_run_aborted", extra={"reason": str(exc)})
        finally:
            self._finish(status, details, started)
        return self.r.result

    def _heartbeat(self) -> None:
        now = self.store.table.now()
        if now - self.r.beat_at < HEARTBEAT_EVERY:
            return
        try:
            self.store.runs.heartbeat(self.r.request.tenant_id, self.r.run_id, now + RUN_ALIVE_FOR)
        except ConflictError as exc:
            raise RunAborted("a later run found this one without a heartbeat and closed it as abandoned") from exc
        self.r.beat_at = now

    def _finish(self, status: RunStatus, details: dict[str, Any], started: datetime) -> None:
        r = self.r
        counts = {Outcome(k).value: n for k, n in r.result.counts.items() if n}
        r.result.status = status
        try:
            self.store.runs.add_counts(r.request.tenant_id, r.run_id, counts)
            try:
                self.store.runs.finish(r.request.tenant_id, r.run_id, status, details=details)
            except ConflictError:
                # A later run took this one for dead (no heartbeat) and closed it: that verdict
                # stands, and the later run, not this one, moves the export cursor.
                logger.warning("export_run_was_abandoned", extra={"status": status.value})
                r.result.status = RunStatus.ABANDONED
                return
            full_run = not r.request.documents and not r.request.dry_run and r.request.window_from is None
            if status is RunStatus.SUCCEEDED and full_run:
                self.store.cursors.set(r.request.tenant_id, EXPORT_CURSOR,
                                      started.astimezone(UTC).isoformat(timespec="seconds"))
        finally:
            self._emit_metrics()
            if r.final_failures and self.notify is not None and not r.request.dry_run:
                self._notify(r.final_failures)

    def _emit_metrics(self) -> None:
        c = self.r.result.counts
        exported = c[Outcome.CREATED] + c[Outcome.UPDATED] + c[Outcome.LINKED]
        if self.r.request.dry_run:
            return
        for name, value in (("DocumentsExported", exported), ("DocumentsSkipped", c[Outcome.SKIPPED]),
                            ("DocumentsFailed", c[Outcome.FAILED])):
            if value:
                metrics.add_metric(name=name, unit="Count", value=value)

    def _notify(self, problems: list[str]) -> None:
        assert self.notify is not None
        try:
            self.notify(FailureSummary(
                title=f"Export run {self.r.run_id} for tenant {self.r.request.tenant_id}: "
                      f"{len(problems)} document(s) need attention",
                tenant_id=self.r.request.tenant_id, run_id=self.r.run_id, problems=problems[:MAX_REPORTED],
                hint="Sage refused these documents, they failed on every retry, hit an unexpected error or "
                     "cannot be changed in Sage. They are not sent again (nor reported again) until they "
                     "change in the host app or are replayed from the admin API.",
            ))
        except Exception as exc:  # a failed notification must not fail the run that it reports
            logger.error("notify_failed", extra={"error": type(exc).__name__})

    # ---- what to export

    def _kinds(self, request: ExportRequest) -> frozenset[RecordKind]:
        if request.kinds is not None:
            return request.kinds
        if request.staged_since is not None:
            # A scheduled run also sends the customers and vendors that changed since the last one.
            return frozenset(k for k in self.settings.export_kinds if isinstance(k, DocumentKind | PartyKind))
        # Parties go to Sage with their documents; a catalog export of parties is asked for by name.
        return frozenset(k for k in self.settings.export_kinds if isinstance(k, DocumentKind))

    def _window(self, request: ExportRequest) -> tuple[date, date]:
        return request.window_from or EARLIEST, request.window_to or LATEST

    def _batches(
        self, request: ExportRequest, phase: tuple[RecordKind, ...], window: tuple[date, date]
    ) -> Iterator[list[StagedDocument]]:
        tenant = request.tenant_id
        if request.documents:
            refs = [(k, h) for k, h in request.documents if k != CREDIT_NOTE_ALLOCATION and record_kind(k) in phase]
            for start in range(0, len(refs), PAGE_SIZE):
                found = [self.store.documents.find(tenant, k, h) for k, h in refs[start:start + PAGE_SIZE]]
                for (k, h), staged in zip(refs[start:start + PAGE_SIZE], found, strict=True):
                    if staged is None:
                        self._count(Outcome.SKIPPED)
                        self._log_now(k, h, None, Outcome.SKIPPED, reason_code="not_staged",
                                      message=f"{k} '{h}' was never received from the host app")
                yield [s for s in found if s is not None]
            return
        wanted = [k for k in phase if k in self._kinds(request)]
        if not wanted:
            return
        done: set[tuple[str, str]] = set()
        if request.include_retries:
            retry = list(self._retry_candidates(tenant, wanted))
            done = {(s.kind, s.host_id) for s in retry}
            for start in range(0, len(retry), PAGE_SIZE):
                yield retry[start:start + PAGE_SIZE]
        if request.staged_since is not None:
            yield from self._pages(self.store.documents.staged_since(
                tenant, request.staged_since, kinds=[k.value for k in wanted], page_size=PAGE_SIZE), done)
            # Skipped records did not change, but what they wait for may have (a customer that came
            # after its invoice, an invoice a payment is allocated to): look at recent skips again.
            # Unchanged reasons write nothing; a draft waiting for its status is not among them.
            yield from self._pages(self._recent_skips(tenant, wanted), done)
            return
        for ledger in sorted({ledger_of(k) for k in wanted}):
            kinds = [k for k in wanted if ledger_of(k) is ledger]
            basis = request.date_basis or self.settings.date_basis_for(kinds[0])
            yield from self._pages(self.store.documents.between(
                tenant, ledger.value, basis, window[0], window[1], kinds=[k.value for k in kinds],
                page_size=PAGE_SIZE), done)

    @staticmethod
    def _pages(records: Iterator[StagedDocument], done: set[tuple[str, str]]) -> Iterator[list[StagedDocument]]:
        """Pages of PAGE_SIZE records, leaving out (and then adding to) `done`: once a run each."""
        page: list[StagedDocument] = []
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

    def _recent_skips(self, tenant: str, kinds: Sequence[RecordKind]) -> Iterator[StagedDocument]:
        """Records skipped within the last SKIPS_LOOKED_AT_FOR (their skip was logged then), read a
        page of ledger entries at a time with their staged records in one batch."""
        wanted = {k.value for k in kinds}
        since = self.store.table.now() - SKIPS_LOOKED_AT_FOR
        token: str | None = None
        while True:
            page = self.store.ledger.list_by_state(tenant, LedgerState.SKIPPED, next_token=token)
            refs = [(e.kind, e.host_id) for e in page
                    if e.kind in wanted and e.updated_at is not None and e.updated_at >= since]
            if refs:
                found = self.store.documents.find_many(tenant, refs)
                yield from (found[ref] for ref in refs if ref in found)
            token = page.next_token
            if not token:
                return

    def _retry_candidates(self, tenant: str, kinds: Sequence[RecordKind]) -> Iterator[StagedDocument]:
        """Failed entries still within the retry limit and claims left in flight by a dead worker."""
        wanted = {k.value for k in kinds}
        stale_before = self.store.table.now() - self.claim_timeout
        for state in (LedgerState.FAILED, LedgerState.IN_FLIGHT):
            token: str | None = None
            while True:
                page = self.store.ledger.list_by_state(tenant, state, next_token=token)
                for entry in page:
                    if entry.kind not in wanted:
                        continue
                    if state is LedgerState.FAILED and self._gave_up(entry):
                        continue
                    if state is LedgerState.IN_FLIGHT and (entry.claimed_at or stale_before) > stale_before:
                        continue
                    staged = self.store.documents.find(tenant, entry.kind, entry.host_id)
                    if staged is not None:
                        yield staged
                token = page.next_token
                if not token:
                    break

    # ---- one page

    def _export_batch(self, batch: list[StagedDocument]) -> None:
        if not batch:
            return
        tenant = self.r.request.tenant_id
        entries = self.store.ledger.find_many(tenant, [(s.kind, s.host_id) for s in batch])
        records: list[tuple[StagedDocument, HostRecord | None]] = []
        wanted_maps: set[tuple[str, str]] = set()
        wanted_parties: set[tuple[str, str]] = set()  # staged customers/vendors the page's documents name
        for staged in batch:
            try:
                record: HostRecord | None = parse_host_record(record_kind(staged.kind), staged.canonical_json)
            except ValidationError as exc:
                self._fail_unparsable(staged, exc)
                continue
            records.append((staged, record))
            if isinstance(record, Party):
                wanted_maps.add((record.kind.value, record.host_id))
            elif isinstance(record, Document | Payment):
                party = (ledger_of(record.kind).value, record.party_id)
                if (ledger_of(record.kind), record.party_id) not in self._parties:
                    wanted_maps.add(party)
                if record.party is None and (ledger_of(record.kind), record.party_id) not in self._checked:
                    wanted_parties.add(party)  # its current version: changed since Sage last got it?
                if isinstance(record, Payment):
                    wanted_maps.update((a.kind.value, a.host_id) for a in record.allocations)
        maps = self.store.mappings.find_many(tenant, wanted_maps) if wanted_maps else {}
        self._staged_parties = self.store.documents.find_many(tenant, wanted_parties) if wanted_parties else {}
        self._staged_asked = wanted_parties
        unmapped = {p for p in wanted_maps if p[0] in PARTY_VALUES and p not in maps}
        self._party_entries = self.store.ledger.find_many(tenant, unmapped) if unmapped else {}
        self._party_entries_asked = unmapped
        self.r.mappings = maps
        for (kind, host_id), mapping in maps.items():
            if kind in (PartyKind.CUSTOMER.value, PartyKind.VENDOR.value):
                self._parties[(PartyKind(kind), host_id)] = mapping.sage_id
                self._party_maps[(PartyKind(kind), host_id)] = mapping
        for staged, record in records:
            entry = entries.get((staged.kind, staged.host_id))
            self._held = None
            # Each document fails on its own; only the connection (and the store) stop the run.
            try:
                refusal = self._not_exported(staged.kind)
                if refusal is not None:
                    self._not_supported(staged, record, entry, refusal)
                else:
                    self._export_one(staged, record, entry)
            except (AuthError, NotConnected) as exc:
                raise RunAborted(f"Sage refused the connection: {exc.message}") from exc
            except RateLimited as exc:
                raise RunAborted(f"Sage is rate limiting this business: {exc.message}") from exc
            except NotSupported as exc:
                self._not_supported(staged, record, entry, exc.message)
            except (ThrottledError, ConfigurationError, BotoCoreError, ClientError):
                raise  # our own store or setup: the run fails and its job is retried, the documents are fine
            except Exception as exc:
                if self._hook_raised:
                    raise
                self._unexpected(staged, record, entry, exc)

    # ---- one record

    def _export_one(self, staged: StagedDocument, record: HostRecord | None, entry: LedgerEntry | None) -> None:
        if isinstance(record, Party):
            self._export_party(staged, record, entry)
            return
        assert isinstance(record, Document | Payment)
        r = self.r
        explicit = bool(r.request.documents) or r.request.triggered_by in (RunTrigger.OPERATOR, RunTrigger.REPLAY)
        log_unchanged = r.export_type is ExportType.ALL or explicit
        exported = entry is not None and entry.sage_id is not None
        if staged.voided:
            target = void_hash(staged.payload_hash)
            if self._gave_up(entry, target):
                return
            if not exported:
                copy = self._hand_entered_copy(record, voided=True)
                if copy is not None:
                    self._skip(staged, record, copy.reasons, entry, payload_hash=target, report=True)
                    return
                self._unchanged(staged, record, "voided in the host app before it was exported: nothing to send",
                                log=log_unchanged)
            elif entry is not None and entry.state is LedgerState.EXPORTED and entry.exported_hash == target:
                self._unchanged(staged, record, "already voided in Sage", log=log_unchanged, sage_id=entry.sage_id)
            else:
                assert entry is not None and entry.sage_id is not None
                self._void(staged, record, entry, target)
            return
        h = staged.payload_hash
        if (exported and r.request.triggered_by is RunTrigger.REPLAY and staged.kind == DocumentKind.SALES_CREDIT_NOTE
                and getattr(record, "invoice_id", None)):
            # Exported before allocations existed (or allocated since): the allocation step checks Sage.
            r.allocation_checks.add(staged.host_id)
        if entry is not None and entry.state is LedgerState.EXPORTED and entry.exported_hash == h:
            self._unchanged(staged, record, "unchanged since it was exported", log=log_unchanged, sage_id=entry.sage_id)
            return
        if entry is not None and entry.state is LedgerState.IN_FLIGHT and not self._stale(entry):
            return  # another worker holds it right now (the lease should prevent this)
        if isinstance(record, Document) and not self.settings.is_exportable_status(record.status):
            self._not_exportable(staged, record, entry, log_unchanged=log_unchanged, explicit=explicit)
            return
        if self._gave_up(entry, h):
            return  # gave up on this version and reported it; a change or a replay tries again
        if exported:
            assert entry is not None
            if r.export_type is ExportType.NEW and self._voided_by_us(staged):
                self._skip(staged, record, [SkipReason(
                    code=SkipCode.LOCKED_IN_SAGE,
                    message=f"{_label(record)} was voided in Sage (voided, or moved to a status that is not "
                    f"exportable, in the host app) and is exportable again; Sage cannot bring back a void "
                    f"document, so it was not sent: enter it again under a new number")], entry)
                return
            if r.export_type is ExportType.NEW:
                self._unchanged(staged, record, "changed since it was exported; export type New does not "
                                "re-send (use All to update Sage)", log=log_unchanged, sage_id=entry.sage_id)
                return
            self._update(staged, record, entry)
            return
        self._create(staged, record, entry)

    def _gave_up(self, entry: LedgerEntry | None, payload_hash: str | None = None) -> bool:
        """This version failed for good (refused, or out of retries): only a replay or a change
        (a new payload hash) sends it again."""
        if entry is None or entry.state is not LedgerState.FAILED:
            return False
        if payload_hash is not None and entry.payload_hash != payload_hash:
            return False
        if self.r.request.triggered_by is RunTrigger.REPLAY:
            return False
        return entry.gave_up or entry.attempts > self.settings.retry_limit

    def _after_sage_call(self, staged: StagedDocument, remote: RemoteRecord) -> None:
        if self.hooks is None:
            return
        try:
            self.hooks.after_sage_call(staged.kind, staged.host_id, remote)
        except BaseException:
            self._hook_raised = True
            raise

    def _not_exportable(self, staged: StagedDocument, record: Document[Any], entry: LedgerEntry | None, *,
                        log_unchanged: bool, explicit: bool) -> None:
        """A status that is not in the books (draft, quote, cancelled): never sent by any run. Not in
        Sage yet: it waits for the host to move it on (logged once per version, nothing to fix). In
        Sage already (it left an exportable status): voided there, by the rules of a host void."""
        if entry is not None and entry.sage_id is not None:
            target = void_hash(staged.payload_hash)
            if entry.state is LedgerState.EXPORTED and entry.exported_hash == target:
                self._unchanged(staged, record, "already voided in Sage", log=log_unchanged, sage_id=entry.sage_id)
            else:
                self._void(staged, record, entry, target, because=f"moved to status {record.status} in the host app")
            return
        copy = self._hand_entered_copy(record)
        if copy is not None:
            self._skip(staged, record, copy.reasons, entry, report=True)
            return
        s = self.settings
        triggers = s.exportable_trigger_statuses()  # never name a status that is not exportable
        when = [f"{', '.join(sorted(triggers))} (at once)"] if triggers else []
        if s.exportable_statuses is None:
            when.append(f"any other status but {', '.join(sorted(NOT_EXPORTABLE_BY_DEFAULT))} (with the next "
                        "scheduled run)")
        elif s.exportable_statuses - triggers:
            when.append(f"{', '.join(sorted(s.exportable_statuses - triggers))} (with the next "
                        "scheduled run)")
        self._skip(staged, record, [SkipReason(
            code=SkipCode.STATUS_NOT_EXPORTABLE, field="status",
            message=f"{_label(record)}: status {record.status} is not exportable, so it was not sent to Sage; it "
            f"will be exported when its status becomes {' or '.join(when)}")], entry, waiting=True,
            explicit=explicit)

    def _voided_by_us(self, staged: StagedDocument) -> bool:
        """Did a run void (or delete) this document in Sage? Its mapping says so (one read, only
        for an exported document that changed)."""
        mapping = self.store.mappings.find(self.r.request.tenant_id, staged.kind, staged.host_id)
        return mapping is not None and bool(mapping.extra.get("voided"))

    def _stale(self, entry: LedgerEntry) -> bool:
        claimed = entry.claimed_at
        return claimed is None or claimed < self.store.table.now() - self.claim_timeout

    # ---- create

    def _create(self, staged: StagedDocument, record: Document[Any] | Payment, entry: LedgerEntry | None) -> None:
        kind = DocumentKind(staged.kind)
        # Never sent by us (not in flight, not failed): it may be in Sage already (going live),
        # whichever run this is. Looked up before the contact is resolved, so a twin on a contact
        # Sage Bridge did not map is skipped without creating a second contact.
        going_live = entry is None or entry.state not in (LedgerState.IN_FLIGHT, LedgerState.FAILED)
        existing: list[RemoteRecord] = []
        checked = self._build(record, None)
        if not isinstance(checked, _Skip) and going_live:
            # The contact changes neither reference nor total: a stand-in id builds them.
            built = self._build(record, CONTACT_STAND_IN)
            assert built is not None and not isinstance(built, _Skip)
            existing = self._find_existing(kind, built[1], built[2], _date_of(record))
            checked = self._twin_elsewhere(record, existing) or (
                None if existing else self._differing_copy(record, kind, built[1], built[2]))
        prepared = checked if isinstance(checked, _Skip) else self._prepare(record, validated=True)
        if isinstance(prepared, _Skip):
            self._skip(staged, record, prepared.reasons, entry)
            return
        body, reference, total, contact = prepared
        if self.r.request.dry_run:
            self._plan(staged, record, Outcome.CREATED, f"would create in Sage (reference {reference})", body)
            return
        claim = self._claim(staged, staged.payload_hash)
        if claim is None:
            return
        remote, outcome = None, Outcome.CREATED
        previous = claim.previous
        if claim.uncertain or (previous is not None and previous.state is LedgerState.FAILED):
            # An earlier attempt may have reached Sage: look before sending again.
            remote, ours = self._find_in_doubt(kind, reference, contact, total, _date_of(record))
            if remote is not None:
                outcome = Outcome.LINKED
            elif ours:
                self._adopt_in_doubt(staged, record, claim, ours, reference)
                return
            else:
                since = self._unsettled_since(claim)
                if since is not None:  # not found, but Sage's search may not show it yet: no resend
                    self._park_in_doubt(staged, record, claim, since, reference, resent=False)
                    return
        else:
            if not going_live:  # the ledger moved on since the page was read: look now
                existing = self._find_existing(kind, reference, total, _date_of(record))
            remote = next((r for r in existing if self.mapper.is_same_document(
                r, reference=reference, contact_id=contact, total=total, on=_date_of(record))), None)
            if remote is not None:
                outcome = Outcome.LINKED
        sent_at = self.store.table.now()
        try:
            if remote is None:
                remote, outcome = self._send_create(kind, body, claim, reference, contact, total, _date_of(record))
        except UncertainWrite as exc:
            if creates_idempotent(self.connector):
                self._fail(staged, record, claim, exc, in_doubt_since=sent_at)
            else:
                self._park_in_doubt(staged, record, claim, sent_at, reference, resent=True, cause=exc.message)
            return
        except SageError as exc:
            self._fail(staged, record, claim, exc)
            return
        if kind is DocumentKind.SALES_CREDIT_NOTE and getattr(record, "invoice_id", None):
            self._hold_allocation(staged.host_id)  # allocated against its invoice after this phase
        self._after_sage_call(staged, remote)
        message = {Outcome.CREATED: f"created in Sage (reference {reference})",
                   Outcome.LINKED: f"found already in Sage (reference {reference}) and linked"}[outcome]
        self._commit(staged, record, claim, remote.id, outcome, message, {"reference": reference})

    def _send_create(
        self, kind: DocumentKind, body: Payload, claim: Claim, reference: str, contact_id: str,
        total: Any, on: date | None,
    ) -> tuple[RemoteRecord, Outcome]:
        key = claim.entry.idempotency_key
        for attempt in (1, 2):
            try:
                if kind in PAYMENT_KINDS:
                    return self.connector.create_payment(body, idempotency_key=key), Outcome.CREATED
                return self.connector.create_document(kind, body, idempotency_key=key), Outcome.CREATED
            except UncertainWrite:
                # Sent, answer lost: did Sage commit it? Look, adopt if so, else send once more with the
                # same idempotency_id (Sage replays rather than duplicates). A product without
                # idempotent creates is not sent again: its search may lag the write (the caller parks it).
                found = self._find_in_sage(kind, reference, contact_id, total, on)
                if found is not None:
                    return found, Outcome.CREATED
                if attempt == 2 or not creates_idempotent(self.connector):
                    raise
        raise AssertionError("unreachable")

    def _unsettled_since(self, claim: Claim) -> datetime | None:
        """An earlier send of this document went out at the time returned, less than the product's
        search settle time ago, and a resend would not be caught as a repeat: the product's creates
        are not idempotent, or the document changed since (a new version, a new idempotency key). A
        lookup that misses proves nothing yet. None: a resend is safe (the same key to an idempotent
        product, settled, or never sent)."""
        previous = claim.previous
        if previous is None:
            return None
        if creates_idempotent(self.connector) and previous.idempotency_key == claim.entry.idempotency_key:
            return None
        since = previous.claimed_at if claim.uncertain else previous.in_doubt_since
        if since is None or self.store.table.now() >= since + search_settle(self.connector):
            return None
        return since

    def _park_in_doubt(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim,
                       since: datetime, reference: str, *, resent: bool, cause: str | None = None) -> None:
        """A send whose outcome is unknown, for a product without idempotent creates, and Sage's
        search does not show the document yet: failed in doubt (never given up), the host told once
        per version, the sync log and the status page saying when it is looked for again. The
        first run after that time adopts Sage's copy, or sends it if Sage still does not have it."""
        after = since + search_settle(self.connector)
        lost = f" ({cause})" if cause else ""
        message = (
            f"{_label(record)} was sent to Sage and the answer was lost{lost}; Sage's search does not show "
            f"reference {reference} yet, and Sage could not tell a second send from the first (no "
            "idempotency key for this product, or the document changed since), so it was not sent again: "
            f"the first run after {after.isoformat(timespec='seconds')} looks for it again and sends it only "
            "if Sage still does not have it")
        # A look that sent nothing does not count as an attempt; never given up while in doubt.
        attempts = self._attempts(claim) if resent else max(self._attempts(claim) - 1, 1)
        attempts = min(attempts, self.settings.retry_limit)
        try:
            self.store.transact([
                self.store.ledger.mark_failed_op(claim, message, attempts=attempts, in_doubt_since=since),
                self._log_op(staged.kind, staged.host_id, _number(record), Outcome.FAILED,
                             reason_code=IN_DOUBT_CODE, message=message),
            ])
        except ConflictError:
            return
        finally:
            self._held = None
        self._count(Outcome.FAILED)
        self._deliver_failed(staged.kind, staged.host_id, _number(record), claim.entry.payload_hash, IN_DOUBT_CODE,
                             message, attempts, True)

    def _find_in_sage(
        self, kind: DocumentKind, reference: str, contact_id: str | None, total: Any, on: date | None
    ) -> RemoteRecord | None:
        found = self._all_in_sage(kind, reference, contact_id, total, on)
        return found[0] if found else None

    def _all_in_sage(
        self, kind: DocumentKind, reference: str, contact_id: str | None, total: Any, on: date | None
    ) -> list[RemoteRecord]:
        """Sage's documents with this reference, total and date (and contact, unless None)."""
        return [remote for remote in self._by_reference(kind, reference)
                if self.mapper.is_same_document(remote, reference=reference, contact_id=contact_id, total=total,
                                                on=on)]

    def _by_reference(self, kind: DocumentKind, reference: str) -> Iterator[RemoteRecord]:
        """Sage's records of this kind found by reference (one lookup); for a payment kind, only
        those of its own transaction type."""
        for remote in self.connector.find_documents_by_reference(kind, reference):
            if kind in PAYMENT_KINDS and self.mapper.remote_transaction_type(remote) not in (
                    None, self.mapper.PAYMENT_TYPE[kind]):
                continue
            yield remote

    def _find_in_doubt(
        self, kind: DocumentKind, reference: str, contact_id: str, total: Any, on: date | None
    ) -> tuple[RemoteRecord | None, list[RemoteRecord]]:
        """An earlier attempt may have reached Sage: the copy we would create (same reference,
        contact, amount and date), else every document of the kind under this reference and contact,
        whatever its amount or date: the host may have changed the document since that attempt, and
        the copy Sage holds is still ours. One lookup, as _find_in_sage. Payments keep the strict match
        (a connector may still be completing a payment it finds by reference)."""
        ours: list[RemoteRecord] = []
        for remote in self._by_reference(kind, reference):
            if self.mapper.is_same_document(remote, reference=reference, contact_id=contact_id, total=total, on=on):
                return remote, []
            if (kind not in PAYMENT_KINDS and (remote.reference or remote.data.get("reference") or "") == reference
                    and self.mapper.remote_contact_id(remote) in (None, contact_id)):
                ours.append(remote)
        return None, ours

    def _adopt_in_doubt(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim,
                        ours: list[RemoteRecord], reference: str) -> None:
        """The document changed while an earlier attempt at it was in doubt, and Sage holds a copy
        under its reference: link that copy, then bring it up to the host's version as any update
        (already paid or locked in Sage: skipped with the reason). Never a second copy. Several
        copies: which is ours is unknown, so nothing is sent and the ledger keeps the document
        failed (every later try looks Sage up again) until the extra copies are gone from Sage."""
        tenant = self.r.request.tenant_id
        if len(ours) > 1:
            ids = ", ".join(r.id for r in ours)
            reason = SkipReason(code=SkipCode.SEVERAL_IN_SAGE, message=(
                f"{_label(record)} may have been sent to Sage by an earlier attempt that was cut off, and Sage "
                f"holds {len(ours)} documents under reference {reference} for this contact (Sage ids {ids}); "
                "it was not sent again: remove the extra copies in Sage, then replay it"))
            try:
                self.store.transact([
                    self.store.ledger.mark_failed_op(claim, reason.message, attempts=self._attempts(claim),
                                                     gave_up=True),
                    self._log_op(staged.kind, staged.host_id, _number(record), Outcome.SKIPPED,
                                 reason_code=reason.code.value, message=reason.message),
                ])
            except ConflictError:
                return
            finally:
                self._held = None
            self._count(Outcome.SKIPPED)
            self._remember_failure(staged.kind, staged.host_id, f"{_number(record)}: {reason.message}")
            self._deliver(DocumentSkipped(kind=staged.kind, host_id=staged.host_id, number=_number(record),
                                          run_id=self.r.run_id, reasons=[reason]),
                          dedupe_key=f"skipped\n{staged.kind}\n{staged.host_id}\n{staged.payload_hash}\n"
                          f"{reason.code.value}")
            return
        [remote] = ours
        # Linked as exported with a version Sage is not known to hold, so that until the update
        # below lands every run updates this copy rather than creating another.
        linked = Claim(entry=replace(claim.entry, payload_hash=IN_DOUBT_HASH), previous=claim.previous)
        try:
            self.store.transact([
                self.store.ledger.mark_exported_op(linked, remote.id),
                self.store.mappings.put_op(tenant, staged.kind, staged.host_id, remote.id, {"reference": reference}),
                self._log_op(staged.kind, staged.host_id, _number(record), Outcome.LINKED, sage_id=remote.id,
                             message=f"found already in Sage (reference {reference}) from an earlier attempt "
                             "that was cut off, and linked; it changed since, so Sage is updated"),
            ])
        except ConflictError:
            return  # our claim was taken over: the taker looks Sage up and adopts it
        finally:
            self._held = None
        if getattr(record, "invoice_id", None) and staged.kind == DocumentKind.SALES_CREDIT_NOTE:
            self._hold_allocation(staged.host_id)  # allocated against its invoice after this phase
        self._update(staged, record, replace(claim.entry, state=LedgerState.EXPORTED, sage_id=remote.id,
                                             exported_hash=IN_DOUBT_HASH, claim_id=None))

    def _find_existing(self, kind: DocumentKind, reference: str, total: Any, on: date | None) -> list[RemoteRecord]:
        """Going live: is this document already in Sage (entered by hand before the connector, or
        history the host sends after the first run)? Every Sage document with its reference, total
        and date, on any contact (the caller picks the one on its contact, or refuses a twin on
        another). Asked before every create of a document the ledger never exported. The first run
        (a big first export) lists the kind once for its window; later runs list one day at a time,
        the document's date, once per kind and day, so a run of today's documents costs one request
        per kind, not one per document."""
        lister = getattr(self.connector, "list_documents", None)
        if lister is None or (on is None and not self.r.adopt):
            return self._all_in_sage(kind, reference, None, total, on)
        index = self._existing.setdefault(kind, {})
        if (kind, None) in self._listed:
            pass
        elif self.r.adopt:
            start, end = self.r.result.window or (EARLIEST, LATEST)
            # Sage dates a document by its document date; a posting-date window may reach further.
            low = None if start == EARLIEST else start - timedelta(days=62)
            high = None if end == LATEST else end + timedelta(days=62)
            self._index_existing(index, lister(kind, from_date=low, to_date=high))
            self._listed.add((kind, None))
        elif (kind, on) not in self._listed:
            self._index_existing(index, lister(kind, from_date=on, to_date=on))
            self._listed.add((kind, on))
        return [remote for remote in index.get(reference, [])
                if self.mapper.is_same_document(remote, reference=reference, contact_id=None, total=total, on=on)]

    def _twin_elsewhere(self, record: Document[Any] | Payment, existing: list[RemoteRecord]) -> _Skip | None:
        """A Sage document with this one's reference, total and date on a contact that is not (or
        would not be) this record's: creating it would post it twice, linking it could post it to
        the wrong customer. Skipped, naming the Sage document, before any contact is created."""
        existing = [r for r in existing if self.mapper.remote_status(r) != "VOID"]  # a void copy is not in the books
        if not existing:
            return None
        contact = self._known_contact(record)
        if contact is None or any(self.mapper.remote_contact_id(r) in (None, contact) for r in existing):
            return None  # no party to judge by (skipped for that), or the same contact: linked later
        twin = existing[0]
        party = f"{'vendor' if ledger_of(record.kind) is PartyKind.VENDOR else 'customer'} {record.party_id}"
        if contact == NEW_CONTACT:
            why = f"{party} is not linked to that contact and would be created as a new one"
            fix = ("If it is the same document, let Sage Bridge find the existing contact (tenant setting "
                   "identify_customer_by = name or email, with the same name or email in the host app) and replay "
                   "it")
        else:
            why = f"{party} is linked to another Sage contact (Sage id {contact})"
            fix = (f"If it is the same document, delete or void the copy in Sage and replay it (it is then entered "
                   f"on {party}'s contact)")
        return _Skip([SkipReason(
            code=SkipCode.ALREADY_IN_SAGE_ON_ANOTHER_CONTACT, field="party_id",
            message=f"{_label(record)}: Sage already has {twin.reference or twin.id} (Sage id {twin.id}) with the "
            f"same reference, total and date on contact {self._remote_contact_name(twin)}, but {why}; not sent, so "
            f"it is not entered twice. {fix}; if it is a different document, give it another number in the host "
            f"app")])

    def _same_number(self, kind: DocumentKind, reference: str, on: date) -> list[RemoteRecord]:
        """Live Sage documents of this kind under this reference and date, whatever their total or
        contact, from the listing `_find_existing` made."""
        return [r for r in self._existing.get(kind, {}).get(reference, [])
                if self.mapper.remote_status(r) != "VOID"
                # any total (its own): the same number on the same day
                and self.mapper.is_same_document(r, reference=reference, contact_id=None,
                                                 total=self.mapper.remote_total(r), on=on)]

    def _hand_entered_copy(self, record: Document[Any] | Payment, *, voided: bool = False) -> _Skip | None:
        """Going live, the other way round: the host voided this document (or it is in a status
        that is not exportable) before Sage Bridge ever exported it, yet Sage holds a live document
        under its number and date, typed in by the accountant. Not Sage Bridge's to void, but the
        books differ: skipped with a reason naming the Sage copy, and the host told (model N4).
        One listing per kind and day, as going live costs; payments are left alone."""
        if not isinstance(record, Document):
            return None
        built = self._build(record, CONTACT_STAND_IN)
        if built is None or isinstance(built, _Skip):
            return None  # cannot say what its number would be in Sage
        kind, reference, on = DocumentKind(record.kind), built[1], _date_of(record)
        self._find_existing(kind, reference, built[2], on)
        copies = self._same_number(kind, reference, on)
        if not copies:
            return None
        copy = copies[0]
        state = "was voided" if voided else f"is {record.status} (not exportable)"
        return _Skip([SkipReason(
            code=SkipCode.IN_SAGE_BY_HAND, field="status",
            message=f"{_label(record)} {state} in the host app and Sage Bridge never exported it, but Sage holds "
            f"{copy.reference or copy.id} (Sage id {copy.id}, total {self.mapper.remote_total(copy)}) on contact "
            f"{self._remote_contact_name(copy)}, entered there by hand. Sage Bridge leaves that copy as it is: "
            "void it in Sage if it should not be in the books")])

    def _differing_copy(self, record: Document[Any] | Payment, kind: DocumentKind, reference: str,
                        total: Any) -> _Skip | None:
        """Going live: Sage has a live document under this one's reference and date whose figures
        differ (entered by hand, then changed in the host app). Creating ours would enter it twice
        under one number; linking would keep Sage's figures. Skipped, both totals named, for the
        accountant to decide. Read from the listing `_find_existing` made (no request of its own);
        payments are left alone (their references are the host's, not a document number)."""
        if not isinstance(record, Document):
            return None
        copies = self._same_number(kind, reference, _date_of(record))
        if not copies:
            return None
        copy = copies[0]
        return _Skip([SkipReason(
            code=SkipCode.ALREADY_IN_SAGE_DIFFERENT, field="totals",
            message=f"{_label(record)}: Sage already has {copy.reference or copy.id} (Sage id {copy.id}) dated "
            f"{_date_of(record)} on contact {self._remote_contact_name(copy)}, with a total of "
            f"{self.mapper.remote_total(copy)} where the host app says {total}; not sent, so the document is not "
            "entered twice under one number. If it is the same document, correct or void the copy in Sage (then "
            "replay it); if it is a different one, give it another number in the host app")])

    def _known_contact(self, record: Document[Any] | Payment) -> str | None:
        """The Sage contact this record's party has or would get, without creating one: its mapping,
        or the contact `identify_customer_by` finds (remembered for `_resolve_party`); NEW_CONTACT
        when it would be created; None when no party is staged (the record is skipped for that)."""
        key = (ledger_of(record.kind), record.party_id)
        if key in self._parties:
            return str(self._parties[key])
        party, _ = self._party_of(record)
        if party is None:
            return None
        if (party.kind, party.host_id) not in self._identified:
            self._identified[(party.kind, party.host_id)] = self._identify(party)
        found = self._identified[(party.kind, party.host_id)]
        return found.id if found is not None else NEW_CONTACT

    def _remote_contact_name(self, remote: RemoteRecord) -> str:
        name = self.mapper.remote_contact_name(remote)
        contact_id = self.mapper.remote_contact_id(remote)
        return f"'{name}' (Sage id {contact_id})" if name else f"Sage id {contact_id}"

    @staticmethod
    def _index_existing(index: dict[str, list[RemoteRecord]], listed: Iterator[RemoteRecord]) -> None:
        for remote in listed:
            ref = remote.reference or remote.data.get("reference")
            if ref:
                index.setdefault(ref, []).append(remote)

    # ---- update and void

    def _update(self, staged: StagedDocument, record: Document[Any] | Payment, entry: LedgerEntry) -> None:
        kind = DocumentKind(staged.kind)
        assert entry.sage_id is not None
        try:
            remote = self.connector.get_document(kind, entry.sage_id)
        except NotFound:
            self._skip(staged, record, [SkipReason(
                code=SkipCode.LOCKED_IN_SAGE,
                message=f"{_label(record)} was exported as Sage id {entry.sage_id}, which no longer exists in "
                "Sage (deleted there); it is not created again")], entry)
            return
        except SageError as exc:
            self._fail_unclaimed(staged, record, exc)
            return
        if isinstance(record, Document):
            reasons = already_paid_reasons(record, total_in_sage=self.mapper.remote_total(remote),  # type: ignore[arg-type]
                                           outstanding_in_sage=self.mapper.remote_outstanding(remote))
            reasons = reasons or locked_reasons(record, editable_in_sage=self.mapper.remote_editable(remote))  # type: ignore[arg-type]
            if self.mapper.remote_status(remote) == "VOID":
                reasons = [SkipReason(code=SkipCode.LOCKED_IN_SAGE,
                                      message=f"{_label(record)} has been voided in Sage, so it cannot be updated")]
            if reasons:
                self._skip(staged, record, reasons, entry)
                return
        prepared = self._prepare(record)
        if isinstance(prepared, _Skip):
            self._skip(staged, record, prepared.reasons, entry)
            return
        body, reference, _, _ = prepared
        if self.r.request.dry_run:
            self._plan(staged, record, Outcome.UPDATED, f"would update Sage id {entry.sage_id}", body)
            return
        claim = self._claim(staged, staged.payload_hash)
        if claim is None:
            return
        try:
            try:
                updated = self.connector.update_document(kind, entry.sage_id, body)
            except UncertainWrite:
                updated = self.connector.update_document(kind, entry.sage_id, body)  # a PUT repeats safely
        except SageError as exc:
            self._fail(staged, record, claim, exc)
            return
        self._after_sage_call(staged, updated)
        self._commit(staged, record, claim, entry.sage_id, Outcome.UPDATED,
                     f"updated in Sage (reference {reference})", {"reference": reference})

    def _void(self, staged: StagedDocument, record: Document[Any] | Payment, entry: LedgerEntry, target: str,
              because: str = "voided in the host app") -> None:
        kind = DocumentKind(staged.kind)
        assert entry.sage_id is not None
        try:
            remote = self.connector.get_document(kind, entry.sage_id)
        except NotFound:
            remote = None  # already gone from Sage: nothing left to void
        except SageError as exc:
            self._fail_unclaimed(staged, record, exc)
            return
        if remote is not None and kind not in PAYMENT_KINDS and self.mapper.remote_paid(remote) > 0:
            reasons = [SkipReason(
                code=SkipCode.ALREADY_PAID_IN_SAGE,
                message=f"{_label(record)} was {because} but has {self.mapper.remote_paid(remote)} "
                "paid or "
                "allocated against it in Sage, so it was not voided there; remove the payment in Sage first")]
            self._skip(staged, record, reasons, entry, payload_hash=target, report=True)
            return
        verb = "delete" if ledger_of(kind) is PartyKind.VENDOR or kind in PAYMENT_KINDS else "void"
        if self.r.request.dry_run:
            self._plan(staged, record, Outcome.UPDATED, f"would {verb} Sage id {entry.sage_id}")
            return
        claim = self._claim(staged, target)
        if claim is None:
            return
        already_void = remote is None or self.mapper.remote_status(remote) == "VOID"
        try:
            if not already_void:
                try:
                    self.connector.void_document(kind, entry.sage_id,
                                                 reason=self.mapper.void_reason(_as_document(record), staged.host_id))
                except UncertainWrite:
                    if self._still_live(kind, entry.sage_id):
                        raise
        except SageError as exc:
            self._fail(staged, record, claim, exc)
            return
        self._commit(staged, record, claim, entry.sage_id, Outcome.UPDATED,
                     f"{'deleted' if verb == 'delete' else 'voided'} in Sage: {because}", {"voided": True})

    def _still_live(self, kind: DocumentKind, sage_id: str) -> bool:
        try:
            return self.mapper.remote_status(self.connector.get_document(kind, sage_id)) != "VOID"
        except NotFound:
            return False

    # ---- parties

    def _contact_for(self, record: Document[Any] | Payment) -> str | _Skip:
        """The Sage contact of the record's customer or vendor: remembered, identified or created;
        a known contact is updated first if the party changed since Sage last got it (once a run)."""
        ledger = ledger_of(record.kind)
        key = (ledger, record.party_id)
        known = self._parties.get(key)
        if known is not None and key in self._checked:
            return str(known)
        party, staged = self._party_of(record)
        if known is not None:
            if party is None:
                self._checked[key] = True  # nothing staged to compare with: Sage keeps what it has
            else:
                self._refresh_party(party, str(known))
            return str(known)
        if party is None:
            return _Skip(document_skip_reasons_party(record))
        contact = self._resolve_party(party, staged=staged)
        return contact if contact is not None else _Skip(document_skip_reasons_party(
            record, self._party_failures.get((party.kind, party.host_id))))

    def _party_of(self, record: Document[Any] | Payment) -> tuple[Party | None, StagedDocument | None]:
        """The record's customer or vendor: embedded, or staged on its own (and that staged record)."""
        party, staged = record.party, None
        if party is None:
            # The usual order from a host app: customer.upserted first, then documents naming it by id.
            ledger = ledger_of(record.kind)
            ref = (ledger.value, record.party_id)
            if ref in self._staged_asked:  # read with the page
                staged = self._staged_parties.get(ref)
            else:
                staged = self.store.documents.find(self.r.request.tenant_id, ledger.value, record.party_id)
            if staged is not None and not staged.voided:
                party = cast(Party, parse_host_record(ledger, staged.canonical_json))
        return party, staged

    def _export_party(self, staged: StagedDocument, party: Party, entry: LedgerEntry | None = None) -> None:
        """Catalog export: one customer or vendor."""
        if self._gave_up(entry, _party_hash(party)):
            return  # gave up on this version and said so; a change or a replay tries again
        mapping = self.r.mappings.get((party.kind.value, party.host_id))
        if mapping is not None:
            checked = (party.kind, party.host_id) in self._checked
            outcome = Outcome.UNCHANGED if checked else self._refresh_party(party, mapping.sage_id)
            if outcome is Outcome.UNCHANGED:
                if self.r.export_type is ExportType.ALL or self.r.request.documents:
                    self._log_now(staged.kind, staged.host_id, party.name, Outcome.UNCHANGED,
                                  sage_id=mapping.sage_id,
                                  message="already in Sage and unchanged since it was last sent")
                self._count(Outcome.UNCHANGED)
            return
        self._resolve_party(party, staged=staged, entry=entry)

    def _refresh_party(self, party: Party, sage_id: str) -> Outcome:
        """Bring a mapped Sage contact up to date with the party's current version, at most once a
        run. No request when the version is the one Sage last got (the mapping's contact hash). A
        mapping without one (linked from Sage by the catalog import, or made before updates flowed)
        takes this version as its baseline: only a later change in the host app is sent."""
        key = (party.kind, party.host_id)
        self._checked[key] = True
        tenant = self.r.request.tenant_id
        mapping = self._party_maps.get(key) or self.store.mappings.find(tenant, party.kind.value, party.host_id)
        extra = dict(mapping.extra) if mapping is not None else {}
        h = _party_hash(party)
        last = extra.get(CONTACT_HASH)
        if last == h:
            return Outcome.UNCHANGED
        if last is None:
            if not self.r.request.dry_run:
                self._remember_party(party, sage_id, {**extra, CONTACT_HASH: h})
            return Outcome.UNCHANGED
        name = f"{party.kind.value} '{party.name}'"
        try:
            body = self.mapper.contact_update_body(party, business_currency=self.business_currency)
            if self.r.request.dry_run:
                self._plan_party(party, Outcome.UPDATED, f"would update Sage contact {sage_id} (changed in the "
                                 "host app since it was last sent)", body)
                return Outcome.UPDATED
            try:
                remote = self.connector.update_contact(sage_id, body)
            except UncertainWrite:
                remote = self.connector.update_contact(sage_id, body)  # a PUT repeats safely
        except NotSupported as exc:
            return self._party_not_updated(party, sage_id, extra, h, Outcome.SKIPPED, "contact_update_not_supported",
                                           f"{name} changed in the host app but was not updated in Sage: "
                                           f"{exc.message}")
        except NotFound:
            return self._party_not_updated(party, sage_id, extra, h, Outcome.SKIPPED, "contact_missing_in_sage",
                                           f"{name} changed in the host app but its Sage contact {sage_id} no "
                                           "longer exists (deleted in Sage); relink it in the mappings")
        except (AuthError, RateLimited):
            raise
        except RecordInvalid as exc:  # this version will be refused again: wait for the next change
            return self._party_not_updated(party, sage_id, extra, h, Outcome.FAILED, _failure_code(exc),
                                           f"Sage refused the update of {name}: {exc.message}", report=True)
        except SageError as exc:  # transient: the next run tries again (no hash recorded)
            return self._party_not_updated(party, sage_id, extra, None, Outcome.FAILED, _failure_code(exc),
                                           f"{name} could not be updated in Sage: {exc.message}")
        extra = {**extra, CONTACT_HASH: h}
        if remote.data.get("updated_at"):
            extra[SAGE_UPDATED_AT] = str(remote.data["updated_at"])
        self._remember_party(party, sage_id, extra)
        self._party_writes.append(self._log_op(party.kind.value, party.host_id, party.name, Outcome.UPDATED,
                                               sage_id=sage_id, message="updated in Sage (changed in the host app "
                                               "since it was last sent)"))
        self._count(Outcome.UPDATED)
        return Outcome.UPDATED

    def _party_not_updated(self, party: Party, sage_id: str, extra: dict[str, Any], h: str | None, outcome: Outcome,
                           code: str, message: str, *, report: bool = False) -> Outcome:
        """Log why a changed party's contact was not updated; with `h`, do not try this version again."""
        self._count(outcome)
        self._log_now(party.kind.value, party.host_id, party.name, outcome, sage_id=sage_id, reason_code=code,
                      message=message)
        if report:
            self._remember_failure(party.kind.value, party.host_id, message)
        if outcome is Outcome.FAILED:  # the host hears too, once per version and kind of news
            will_retry = h is None
            self._deliver(ExportFailed(kind=party.kind.value, host_id=party.host_id, number=party.name,
                                       run_id=self.r.run_id, reason_code=code, reason=message, attempts=1,
                                       will_retry=will_retry),
                          dedupe_key=f"failed\n{party.kind.value}\n{party.host_id}\n{_party_hash(party)}\n"
                                     f"update {will_retry}")
        if h is not None:
            self._remember_party(party, sage_id, {**extra, CONTACT_HASH: h})
        return outcome

    def _remember_party(self, party: Party, sage_id: str, extra: dict[str, Any]) -> None:
        """The party's mapping with a new `extra`, written with the page's other party writes."""
        tenant = self.r.request.tenant_id
        self._party_writes.append(self.store.mappings.put_op(tenant, party.kind.value, party.host_id, sage_id, extra))
        self._party_maps[(party.kind, party.host_id)] = IdMapping(tenant, party.kind.value, party.host_id, sage_id,
                                                                   extra)

    def _resolve_party(self, party: Party, *, staged: StagedDocument | None = None,
                       entry: LedgerEntry | _Unread | None = UNREAD) -> str | None:
        """Identify the party in Sage (none / name / email) or create it; remember the mapping. None
        when it is not in Sage: failed this run (logged as Failed, the host told) or, for this
        version, given up earlier; `_party_failures` says why, for the documents that name it."""
        key = (party.kind, party.host_id)
        if key in self._parties:
            return str(self._parties[key])
        if key in self._party_failures:
            return None  # failed earlier in this run: not tried again for each of its documents
        h = _party_hash(party)
        if isinstance(entry, _Unread):
            ref = (party.kind.value, party.host_id)
            entry = (self._party_entries.get(ref) if ref in self._party_entries_asked
                     else self.store.ledger.find(self.r.request.tenant_id, *ref))
        if self._gave_up(entry, h):
            assert entry is not None
            self._party_failures[key] = entry.reason or f"Sage Bridge gave up on {party.kind.value} '{party.name}'"
            return None
        found = self._identified.pop(key) if key in self._identified else self._identify(party)
        if self.r.request.dry_run:
            placeholder = found.id if found is not None else f"(new {party.kind.value} {party.host_id})"
            outcome = Outcome.LINKED if found is not None else Outcome.CREATED
            self._plan_party(party, outcome, "would link to an existing Sage contact" if found
                             else "would create a Sage contact", None if found else self._contact_body(party))
            self._parties[key] = placeholder
            self._checked[key] = True
            return placeholder
        outcome = Outcome.LINKED
        reference = self.mapper.contact_reference(party.kind, party.host_id)
        if found is None:
            body = self._contact_body(party)
            key_hash = idempotency_key(self.r.request.tenant_id, party.kind.value, party.host_id,
                                       staged.payload_hash if staged else _party_hash(party))
            try:
                found, outcome = self._create_contact(party, body, key_hash, reference)
            except (AuthError, NotConnected, RateLimited):
                raise  # the connection, not this party: the run stops
            except SageError as exc:
                self._party_failed(party, h, exc)
                return None
        if entry is not None and entry.state is not LedgerState.EXPORTED:
            self._party_settled(party, h, found.id)  # failed before: no longer an open failure
        message = {Outcome.CREATED: f"created in Sage (reference {reference})",
                   Outcome.LINKED: f"found in Sage as '{found.data.get('displayed_as') or found.data.get('name')}' "
                                   f"and linked"}[outcome]
        # Written with the page's other parties in one BatchWriteItem (docs/performance.md: a first
        # export no longer pays a request per new customer). Until then `_parties` has the id; if
        # the run dies first, the next one finds the contact again (same idempotency_id, or by its
        # unique reference in `_create_contact`) and links it: the usual recovery, nothing new.
        self._party_writes += [
            self.store.mappings.put_op(self.r.request.tenant_id, party.kind.value, party.host_id, found.id,
                                       {"reference": reference, CONTACT_HASH: _party_hash(party)}),
            self._log_op(party.kind.value, party.host_id, party.name, outcome, sage_id=found.id, message=message),
        ]
        self._count(outcome)
        self._parties[key] = found.id
        self._checked[key] = True
        return found.id

    def _party_failed(self, party: Party, h: str, exc: SageError) -> None:
        """Sage did not create the party: recorded on its ledger entry like a document's failure. A
        refusal (or a product that cannot) gives up on this version at once; anything else is
        retried on later runs up to `retry_limit`. The host hears on the first failure and when it
        gives up, operators once when it gives up; a change or a replay tries again."""
        tenant, kind, name = self.r.request.tenant_id, party.kind.value, f"{party.kind.value} '{party.name}'"
        try:
            claim: Claim | None = self.store.ledger.claim(
                tenant, kind, party.host_id, idempotency_key=idempotency_key(tenant, kind, party.host_id, h),
                payload_hash=h, claim_timeout=self.claim_timeout)
        except ClaimConflict:
            claim = None  # another run holds it right now: log this run's failure only
        permanent = isinstance(exc, RecordInvalid | NotSupported)
        attempts = self._attempts(claim) if claim is not None else 1
        will_retry = not permanent and attempts <= self.settings.retry_limit
        code = "not_supported" if isinstance(exc, NotSupported) else _failure_code(exc)
        if permanent:
            message = (f"Sage refused to create {name}: {exc.message} (not retried: Sage will refuse this version "
                       "again; change it in the host app and it is sent again)")
        else:
            message = f"{name} could not be sent to Sage: {exc.message}" + (
                "" if will_retry else f" (gave up after {attempts} attempts)")
        self._party_failures[(party.kind, party.host_id)] = message
        self._record_party_failure(party, claim, h, code, message, attempts, will_retry)

    def _record_party_failure(self, party: Party, claim: Claim | None, h: str, code: str, message: str,
                              attempts: int, will_retry: bool) -> None:
        kind = party.kind.value
        writes = [self._log_op(kind, party.host_id, party.name, Outcome.FAILED, reason_code=code, message=message)]
        if claim is not None:
            writes.insert(0, self.store.ledger.mark_failed_op(claim, message, attempts=attempts,
                                                              gave_up=not will_retry))
        try:
            self.store.transact(writes)
        except ConflictError:
            self.store.table.write(writes[-1])
        self._count(Outcome.FAILED)
        if not will_retry:
            self._remember_failure(kind, party.host_id, message)
        self._deliver_failed(kind, party.host_id, party.name, h, code, message, attempts, will_retry)

    def _party_settled(self, party: Party, h: str, sage_id: str) -> None:
        """A party that failed before is in Sage now: its ledger entry says so."""
        tenant, kind = self.r.request.tenant_id, party.kind.value
        try:
            claim = self.store.ledger.claim(tenant, kind, party.host_id, payload_hash=h,
                                            idempotency_key=idempotency_key(tenant, kind, party.host_id, h),
                                            claim_timeout=self.claim_timeout)
            self.store.ledger.mark_exported(claim, sage_id)
        except ConflictError:
            pass  # settled by another run

    def _contact_body(self, party: Party) -> Payload:
        return self.mapper.contact_body(party, business_currency=self.business_currency)

    def _identify(self, party: Party) -> RemoteRecord | None:
        how = IdentifyCustomerBy(self.settings.identify_customer_by)
        contact_type = self.mapper.CONTACT_TYPE[party.kind]
        if how is IdentifyCustomerBy.NAME:
            # The account name Sage Bridge would give it (the business), then the person's name, which
            # is how contacts were named before a company was used.
            hits = [h for n in dict.fromkeys((party.account_name, party.name))
                    for h in self.connector.find_contacts(name=n, contact_type=contact_type)]
        elif how is IdentifyCustomerBy.EMAIL and party.email:
            hits = [h for h in self.connector.find_contacts(email=party.email, contact_type=contact_type)]
        else:
            return None
        hits = [h for h in hits if self.mapper.contact_matches(h, party)]
        return hits[0] if hits else None

    def _create_contact(
        self, party: Party, body: Payload, key: str, reference: str
    ) -> tuple[RemoteRecord, Outcome]:
        contact_type = self.mapper.CONTACT_TYPE[party.kind]
        try:
            return self.connector.create_contact(body, idempotency_key=key), Outcome.CREATED
        except (UncertainWrite, RecordInvalid) as exc:
            # A lost answer, or Sage's unique-reference rule refusing a twin of one we made before:
            # either way the contact may exist; adopt it by its reference.
            hits = self.connector.find_contacts(reference=reference, contact_type=contact_type)
            if hits:
                return hits[0], Outcome.LINKED if isinstance(exc, RecordInvalid) else Outcome.CREATED
            if isinstance(exc, RecordInvalid) or not creates_idempotent(self.connector):
                raise  # no key to make a resend safe: a later run looks the contact up by reference again
            return self.connector.create_contact(body, idempotency_key=key), Outcome.CREATED

    # ---- validation and mapping

    def _taxes_table(self) -> TaxTable:
        if self._taxes is None:
            self._taxes = self.mapper.TaxTable.from_records(self._tax_rate_records())
        return self._taxes

    def _tax_rate_records(self) -> list[RemoteRecord]:
        if self._tax_records is None:
            self._tax_records = list(self.connector.list_tax_rates())
        return self._tax_records

    def _unusable(self, what: str) -> dict[str, str]:
        """The mapping health check, applied before sending (read once a run): mapped Sage ids of
        `what` (tax_rate | ledger_account | bank_account) that are inactive or gone -> the reason.
        Sage would refuse a document using one; it is skipped with the reason instead."""
        if what not in self._unusable_ids:
            from sagebridge.sync.status import mapping_problems  # status imports this module

            listers = {"tax_rate": self._tax_rate_records, "ledger_account": self.connector.list_ledger_accounts,
                       "bank_account": self.connector.list_bank_accounts}
            try:
                known = {what: {r.id: r for r in listers[what]()}}
                if what == "ledger_account":
                    self._ledger_accounts = known[what]
            except (AuthError, NotConnected, RateLimited):
                raise
            except SageError as exc:  # cannot tell: send, and let Sage say
                logger.warning("mapping_health_not_read", extra={"what": what, "error": exc.message})
                known = {}
            found: dict[str, str] = {}
            for p in mapping_problems(self.settings, known):
                # A tax rate gone from Sage has its own reason (tax_rate_missing_in_sage). One Sage id
                # under several settings: the first (a code's mapping before a default) names it.
                # A ledger account one side cannot use is per document (_unusable_on).
                if p.sage_id is not None and _kind_of_setting(p.setting) == what and p.problem != "not_usable" and (
                        what != "tax_rate" or p.problem == "inactive"):
                    found.setdefault(p.sage_id, p.message)
            self._unusable_ids[what] = found
        return self._unusable_ids[what]

    def _unusable_on(self, ledger: PartyKind) -> dict[str, str]:
        """Ledger accounts Sage will not post on this ledger's documents (the connector says which
        and why): Sage id -> the reason. Read with the health check, once a run."""
        key = f"ledger_account.{ledger.value}"
        if key not in self._unusable_ids:
            self._unusable("ledger_account")
            self._unusable_ids[key] = {
                r.id: f"ledger account {r.data.get('displayed_as') or r.id!r}: {r.unusable_for[ledger.value]}"
                for r in self._ledger_accounts.values() if ledger.value in r.unusable_for}
        return self._unusable_ids[key]

    def _prepare(self, record: Document[Any] | Payment, *,
                 validated: bool = False) -> tuple[Payload, str, Decimal, str] | _Skip:
        """(body, reference, total, contact id) for Sage, or every reason it cannot go. Validates
        (unless `validated` already) before it looks for (or creates) the contact, so a skipped
        document leaves Sage untouched."""
        checked = None if validated else self._build(record, None)
        if isinstance(checked, _Skip):
            return checked
        contact = self._contact_for(record)
        if isinstance(contact, _Skip):
            return contact
        built = self._build(record, contact)
        assert not isinstance(built, _Skip) and built is not None
        return (*built, contact)

    def _build(self, record: Document[Any] | Payment,
               contact_id: str | None) -> tuple[Payload, str, Decimal] | _Skip | None:
        """(body, reference, total) for Sage, or every reason it cannot go; contact_id None: only
        validate (None when valid)."""
        if isinstance(record, Payment):
            return self._build_payment(record, contact_id)
        taxes = self._taxes_table()
        unusable = {**self._unusable_on(ledger_of(record.kind)), **self._unusable("tax_rate"),
                    **self._unusable("ledger_account")}
        # A product that posts the host's header (its mapper says so) takes a penny of rounding on a line.
        tolerance = self.settings.total_tolerance if self.mapper.TOTALS_FROM_LINES else max(
            TOLERANCE, self.settings.total_tolerance)
        reasons = document_skip_reasons(
            record, settings=self.settings, sage_tax_rates=taxes.rates,  # type: ignore[arg-type]
            business_currency=self.business_currency, contact_currency=None, unusable=unusable,
            total_tolerance=tolerance,
        )
        if not reasons and taxes.zero_rate_id is None and any(line.tax_code is None for line in record.lines):
            reasons = [SkipReason(code=SkipCode.TAX_RATE_MISSING_IN_SAGE, field="lines",
                                  message=f"{_label(record)} has lines without tax and Sage has no zero or "
                                  "no-tax rate to post them with")]
        if reasons:
            return _Skip(reasons)
        if contact_id is None:
            return None
        mapped = self.mapper.document_body(record, contact_id=contact_id, settings=self.settings,  # type: ignore[arg-type]
                                      taxes=taxes, business_currency=self.business_currency)
        return mapped.body, mapped.reference, mapped.total

    def _build_payment(self, payment: Payment,
                       contact_id: str | None) -> tuple[Payload, str, Decimal] | _Skip | None:
        maps = dict(self.r.mappings)
        for a in payment.allocations:  # a dry run's would-be creates count as exported
            if (a.kind.value, a.host_id) in self.r.planned_creates:
                maps[(a.kind.value, a.host_id)] = _Planned(f"(new {a.kind.value} {a.host_id})")
        exported = {(a.kind, a.host_id) for a in payment.allocations if (a.kind.value, a.host_id) in maps}
        reasons = payment_skip_reasons(payment, exported=exported, business_currency=self.business_currency,
                                       contact_currency=None)
        reasons += bank_account_reasons(payment, bank_account_id=self.settings.receipt_bank_account_id,
                                        unusable=self._unusable("bank_account")
                                        if self.settings.receipt_bank_account_id else None)
        # A product that cannot take every allocation says which it can (its mapper's ALLOCATION_SIGN).
        allowed = self.mapper.ALLOCATION_SIGN[payment.kind]
        targets = " or ".join(k.value.replace("_", " ") + "s" for k in allowed)
        for number, allocation in enumerate(payment.allocations, start=1):
            if allocation.kind not in allowed:
                what = allocation.kind.value.replace("_", " ")
                reasons.append(SkipReason(
                    code=SkipCode.ALLOCATION_NOT_EXPORTED, field=f"allocations[{number}]",
                    message=f"{_label(payment)}: allocation {number} is to a {what}; Sage allocates a "
                    f"{payment.kind.value.replace('_', ' ')} only to {targets}"))
        if reasons:
            return _Skip(reasons)
        if contact_id is None:
            return None
        assert self.settings.receipt_bank_account_id is not None
        body = self.mapper.payment_body(
            payment, contact_id=contact_id,
            allocations=[(a.kind, maps[(a.kind.value, a.host_id)].sage_id, a.amount) for a in payment.allocations],
            bank_account_id=self.settings.receipt_bank_account_id, settings=self.settings,
            business_currency=self.business_currency,
        )
        return body, self.mapper.payment_reference(payment), payment.amount

    # ---- credit notes linked to an invoice

    def _allocate_credit_notes(self) -> None:
        """Use up each credit note the host linked to an invoice (`invoice_id`) against that invoice
        in Sage, once both are there: those exported in this run, and (scheduled runs, replays)
        those waiting for their invoice or whose allocation failed or was cut off."""
        r = self.r
        tenant = r.request.tenant_id
        wanted = dict.fromkeys(r.held_allocations)
        wanted.update(dict.fromkeys(h for k, h in r.request.documents if k == CREDIT_NOTE_ALLOCATION))
        wanted.update(dict.fromkeys(sorted(r.allocation_checks)))
        if r.request.include_retries or r.request.triggered_by is RunTrigger.REPLAY:
            for state in (LedgerState.SKIPPED, LedgerState.FAILED, LedgerState.IN_FLIGHT):
                token: str | None = None
                while True:
                    page = self.store.ledger.list_by_state(tenant, state, next_token=token)
                    wanted.update(dict.fromkeys(e.host_id for e in page if e.kind == CREDIT_NOTE_ALLOCATION))
                    if not (token := page.next_token):
                        break
        if not wanted:
            return
        entries = self.store.ledger.find_many(tenant, [(CREDIT_NOTE_ALLOCATION, h) for h in wanted])
        for host_id in wanted:
            held = r.held_allocations.pop(host_id, None)
            try:
                if held is not None:  # ours: let go of the marker, then claim it as any run would
                    try:
                        self.store.ledger.mark_skipped(held, "allocation due: the credit note was just sent to Sage")
                    except ConflictError:
                        continue  # taken over by another run, which allocates it
                    entries.pop((CREDIT_NOTE_ALLOCATION, host_id), None)
                self._allocate_credit_note(host_id, entries.get((CREDIT_NOTE_ALLOCATION, host_id)))
            except (AuthError, NotConnected) as exc:
                raise RunAborted(f"Sage refused the connection: {exc.message}") from exc
            except RateLimited as exc:
                raise RunAborted(f"Sage is rate limiting this business: {exc.message}") from exc

    def _hold_allocation(self, host_id: str) -> None:
        """Mark the credit note's allocation as due (an in_flight claim) as soon as Sage has the credit
        note: if the run dies before allocating, the stale claim is listed and a later run allocates."""
        tenant = self.r.request.tenant_id
        try:
            self.r.held_allocations[host_id] = self.store.ledger.claim(
                tenant, CREDIT_NOTE_ALLOCATION, host_id, payload_hash=ALLOCATION_DUE,
                idempotency_key=idempotency_key(tenant, CREDIT_NOTE_ALLOCATION, host_id, ALLOCATION_DUE),
                claim_timeout=self.claim_timeout)
        except ClaimConflict:
            pass  # allocated (or being allocated) already

    def _allocate_credit_note(self, host_id: str, entry: LedgerEntry | None) -> None:
        tenant = self.r.request.tenant_id
        note_kind, invoice_kind = DocumentKind.SALES_CREDIT_NOTE, DocumentKind.SALES_INVOICE
        staged = self.store.documents.find(tenant, note_kind.value, host_id)
        if staged is None or staged.voided:
            return
        try:
            note = parse_host_record(note_kind, staged.canonical_json)
        except ValidationError:
            return  # its own export logs why
        invoice_id = getattr(note, "invoice_id", None)
        if not isinstance(note, Document) or not invoice_id:
            return
        if entry is not None and entry.state is LedgerState.IN_FLIGHT and not self._stale(entry):
            return
        if self._gave_up(entry):
            return  # gave up and told the host; a replay tries again
        maps = self.store.mappings.find_many(tenant, [(note_kind.value, host_id), (invoice_kind.value, invoice_id)])
        note_map, invoice_map = maps.get((note_kind.value, host_id)), maps.get((invoice_kind.value, invoice_id))
        if note_map is None or note_map.extra.get("voided"):
            return  # the credit note itself is not in Sage (yet): nothing to allocate
        if invoice_map is None or invoice_map.extra.get("voided"):
            self._allocation_waits(note, entry, invoice_id)
            return
        h = hashlib.sha256(f"{note_map.sage_id}\n{invoice_map.sage_id}".encode()).hexdigest()
        if entry is not None and entry.state is LedgerState.EXPORTED and entry.exported_hash == h:
            return  # allocated already
        if (entry is not None and entry.state is LedgerState.SKIPPED and entry.payload_hash == h
                and self.r.request.triggered_by is not RunTrigger.REPLAY):
            return  # refused for a reason that stays (not supported, invoice paid) and said so; a replay tries again
        key = idempotency_key(tenant, CREDIT_NOTE_ALLOCATION, host_id, h)
        try:
            claim = self.store.ledger.claim(tenant, CREDIT_NOTE_ALLOCATION, host_id, idempotency_key=key,
                                            payload_hash=h, claim_timeout=self.claim_timeout)
        except ClaimConflict:
            return
        label = f"Credit note {note.number}"
        invoice_label = f"invoice '{invoice_id}'"
        try:
            remote_note = self.connector.get_document(note_kind, note_map.sage_id)
            remote_invoice = self.connector.get_document(invoice_kind, invoice_map.sage_id)
            left, owed = self.mapper.remote_outstanding(remote_note), self.mapper.remote_outstanding(remote_invoice)
            earlier = claim.uncertain or (claim.previous is not None and claim.previous.state is LedgerState.FAILED)
            if left <= 0 or (owed <= 0 and earlier):
                # Used up in Sage already: by our earlier attempt whose answer was lost, or by the bookkeeper.
                self._allocation_settled(claim, note, Outcome.LINKED, note_map.sage_id,
                                         f"{label} is already allocated in Sage (nothing left on it): not sent again")
                return
            if owed <= 0:
                self._allocation_settled(claim, note, Outcome.SKIPPED, None,
                                         f"{label} was not allocated against {invoice_label}: the invoice is already "
                                         f"paid in Sage, so the credit ({left}) stays on the customer's account",
                                         code=SkipCode.ALREADY_PAID_IN_SAGE.value)
                return
            amount = min(left, owed)
            on = max(note.document_date, self.mapper.remote_date(remote_invoice) or note.document_date)
            contact = (self.mapper.remote_contact_id(remote_note)
                       or self._parties.get((PartyKind.CUSTOMER, note.party_id)))
            body = self.mapper.credit_note_allocation_body(
                contact_id=str(contact), invoice_id=invoice_map.sage_id, credit_note_id=note_map.sage_id,
                amount=amount, on=on)
            try:
                made = self.connector.create_allocation(body, idempotency_key=key)
            except UncertainWrite:
                # Did it land? The credit note's outstanding amount says; the resend carries the same key.
                if self.mapper.remote_outstanding(self.connector.get_document(note_kind, note_map.sage_id)) < left:
                    made = RemoteRecord(id=note_map.sage_id, data={})
                else:
                    made = self.connector.create_allocation(body, idempotency_key=key)
        except NotSupported as exc:
            message = f"{label} was not allocated against {invoice_label}: {exc.message}"
            self._allocation_settled(claim, note, Outcome.SKIPPED, None, message, code="not_supported")
            self._remember_failure(note_kind.value, host_id, message)
            self._deliver(ExportFailed(kind=note_kind.value, host_id=host_id, number=note.number, run_id=self.r.run_id,
                                       reason_code="not_supported", reason=message, attempts=claim.entry.attempts,
                                       will_retry=False),
                          dedupe_key=f"failed\n{CREDIT_NOTE_ALLOCATION}\n{host_id}\n{h}")
            return
        except SageError as exc:
            attempts = claim.entry.attempts
            will_retry = attempts <= self.settings.retry_limit
            message = f"{label} could not be allocated against {invoice_label} in Sage: {exc.message}"
            self._allocation_settled(claim, note, Outcome.FAILED, None, message, code=_failure_code(exc))
            if not will_retry:
                self._remember_failure(note_kind.value, host_id, message)
                self._deliver(ExportFailed(kind=note_kind.value, host_id=host_id, number=note.number,
                                           run_id=self.r.run_id, reason_code=_failure_code(exc), reason=message,
                                           attempts=attempts, will_retry=False),
                              dedupe_key=f"failed\n{CREDIT_NOTE_ALLOCATION}\n{host_id}\n{h}")
            if isinstance(exc, AuthError | RateLimited):
                raise
            return
        self._allocation_settled(claim, note, Outcome.CREATED, made.id or note_map.sage_id,
                                 f"{label}: {amount} allocated against {invoice_label} in Sage")

    def _allocation_waits(self, note: Document[Any], entry: LedgerEntry | None, invoice_id: str) -> None:
        """The invoice is not in Sage yet: say so once (a named wait, not silence); a later run
        allocates the credit note when the invoice has been exported."""
        message = (f"Credit note {note.number} waits for invoice '{invoice_id}' to be exported to Sage before it is "
                   "allocated against it (on the next scheduled run after that)")
        if entry is not None and entry.state is LedgerState.SKIPPED and entry.reason == message:
            return  # waiting already, and logged when it started
        tenant = self.r.request.tenant_id
        try:
            claim = self.store.ledger.claim(
                tenant, CREDIT_NOTE_ALLOCATION, note.host_id, payload_hash=WAITING_FOR_INVOICE,
                idempotency_key=idempotency_key(tenant, CREDIT_NOTE_ALLOCATION, note.host_id, WAITING_FOR_INVOICE),
                claim_timeout=self.claim_timeout)
        except ClaimConflict:
            return
        self._allocation_settled(claim, note, Outcome.SKIPPED, None, message, code=WAITING_FOR_INVOICE)

    def _allocation_settled(self, claim: Claim, note: Document[Any], outcome: Outcome, sage_id: str | None,
                            message: str, *, code: str | None = None) -> None:
        """Settle the allocation's ledger entry and log it on the credit note, in one transaction."""
        ledger = self.store.ledger
        op = {Outcome.SKIPPED: lambda: ledger.mark_skipped_op(claim, message),
              Outcome.FAILED: lambda: ledger.mark_failed_op(claim, message)}.get(
            outcome, lambda: ledger.mark_exported_op(claim, sage_id or ""))()
        try:
            self.store.transact([op, self._log_op(DocumentKind.SALES_CREDIT_NOTE.value, note.host_id, note.number,
                                                  outcome, sage_id=sage_id, reason_code=code, message=message)])
        except ConflictError:
            return
        self._count(outcome)

    # ---- ledger, log and outcomes

    def _claim(self, staged: StagedDocument, payload_hash: str) -> Claim | None:
        key = idempotency_key(self.r.request.tenant_id, staged.kind, staged.host_id, payload_hash)
        try:
            self._held = self.store.ledger.claim(self.r.request.tenant_id, staged.kind, staged.host_id,
                                                 idempotency_key=key, payload_hash=payload_hash,
                                                 claim_timeout=self.claim_timeout)
            return self._held
        except ClaimConflict:
            return None  # someone else has it, or it is exported unchanged: nothing for us to do

    def _commit(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim, sage_id: str,
                outcome: Outcome, message: str, extra: dict[str, Any]) -> None:
        tenant = self.r.request.tenant_id
        writes = [
            self.store.ledger.mark_exported_op(claim, sage_id),
            self.store.mappings.put_op(tenant, staged.kind, staged.host_id, sage_id, extra),
            self._log_op(staged.kind, staged.host_id, _number(record), outcome, sage_id=sage_id, message=message),
        ]
        if outcome is Outcome.LINKED and staged.kind in _MONEY_LINKED_KINDS:
            # Payments entered in Sage before the link are behind the poller's cursor: flag them.
            writes.append(self.store.mappings.put_op(tenant, LINKED_UNPOLLED_KIND, sage_id, sage_id, {
                "kind": staged.kind, "host_id": staged.host_id, "reference": extra.get("reference")}))
        self._held = None

        def settle() -> bool:
            try:
                self.store.transact(writes)
            except ConflictError:
                # Our claim was taken over (we were too slow); the taker looks Sage up and adopts ours.
                logger.warning("export_commit_lost", extra={"kind": staged.kind, "host_id": staged.host_id})
                return False
            return True

        # Write-behind (docs/performance.md): the commit's DynamoDB round trip overlaps the next
        # document's claim and Sage call instead of adding to them. Safe because an unsettled commit
        # is exactly the crash window DESIGN.md already covers (in_flight -> look up by reference ->
        # adopt); every page drains its commits before the next page reads mappings, and the run
        # drains them on every exit, so nothing outlives the invocation.
        self._pending.append((self._writer().submit(settle), outcome))
        while len(self._pending) > MAX_UNSETTLED:
            self._settle_oldest()

    def _writer(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=COMMIT_THREADS, thread_name_prefix="export-commit")
        return self._executor

    def _settle_oldest(self) -> None:
        future, outcome = self._pending.popleft()
        if future.result():  # a store error raises here, in the run's thread, as it did inline
            self._count(outcome)

    def _drain(self) -> None:
        """Write the page's party mappings, wait for every commit in flight; raise the first store
        error after all have settled."""
        error: BaseException | None = None
        if self._party_writes:
            writes, self._party_writes = self._party_writes, []
            try:
                self.store.table.batch_put(writes)
            except Exception as exc:
                error = exc
        while self._pending:
            try:
                self._settle_oldest()
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error

    def _skip(self, staged: StagedDocument, record: Document[Any] | Payment, reasons: list[SkipReason],
              entry: LedgerEntry | None, *, payload_hash: str | None = None, report: bool = False,
              waiting: bool = False, explicit: bool = False) -> None:
        """Log why a record is not sent and settle its ledger entry as skipped; tell the host. A
        `waiting` skip (a draft) has nothing to fix: the host is not told, the status page does not
        list it, and it is logged again only when it changes or a run names it (`explicit`)."""
        message = "; ".join(reason.message for reason in reasons)
        code = reasons[0].code.value
        self._count(Outcome.SKIPPED)
        h = payload_hash or staged.payload_hash
        if self.r.request.dry_run:
            self.r.result.planned.append(PlannedOutcome(staged.kind, staged.host_id, Outcome.SKIPPED, message))
            self._log_now(staged.kind, staged.host_id, _number(record), Outcome.SKIPPED, reason_code=code,
                          message=f"dry run: would skip: {message}")
            return
        same_as_before = (entry is not None and entry.state is LedgerState.SKIPPED and entry.payload_hash == h
                          and entry.reason == message)
        if same_as_before and (not explicit if waiting else
                               self.r.export_type is ExportType.NEW and not self.r.request.documents):
            return  # skipped for the same reasons last time and logged then: no new writes
        claim = self._claim(staged, h)
        if claim is None:
            return
        try:
            self.store.transact([
                self.store.ledger.mark_skipped_op(claim, message, waiting=waiting),
                self._log_op(staged.kind, staged.host_id, _number(record), Outcome.SKIPPED, reason_code=code,
                             message=message),
            ])
        except ConflictError:
            return
        finally:
            self._held = None
        if waiting:
            return
        if report and not same_as_before:  # operators hear once, not on every run (export type All)
            self._remember_failure(staged.kind, staged.host_id, f"{_number(record)}: {message}")
        self._deliver(DocumentSkipped(kind=staged.kind, host_id=staged.host_id, number=_number(record),
                                      run_id=self.r.run_id, reasons=reasons),
                      dedupe_key=f"skipped\n{staged.kind}\n{staged.host_id}\n{h}\n{code}")

    def _fail(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim, exc: SageError, *,
              in_doubt_since: datetime | None = None) -> None:
        """Settle a claim whose Sage call failed. The host hears on the first failure of a version
        (will_retry true) and once more when it gives up (will_retry false): at once for a refusal
        Sage will repeat, else after `retry_limit` retries. Given up, no run sends this version
        again (nor mails about it) until a replay or a change."""
        if isinstance(exc, NotSupported):
            self._held = None
            self._settle_not_supported(staged, record, claim, exc.message)
            return
        attempts = self._attempts(claim)
        permanent = isinstance(exc, RecordInvalid)
        will_retry = not permanent and attempts <= self.settings.retry_limit
        message = f"Sage refused {_label(record)}: {exc.message}" if permanent else (
            f"{_label(record)} could not be sent to Sage: {exc.message}")
        if permanent:
            logged = message + " (not retried: Sage will refuse this version again; fix it and it is sent again)"
        else:
            logged = message + ("" if will_retry else f" (gave up after {attempts} attempts)")
        try:
            self.store.transact([
                self.store.ledger.mark_failed_op(claim, logged, attempts=attempts, gave_up=not will_retry,
                                                 in_doubt_since=in_doubt_since),
                self._log_op(staged.kind, staged.host_id, _number(record), Outcome.FAILED,
                             reason_code=_failure_code(exc), message=logged),
            ])
        except ConflictError:
            return
        finally:
            self._held = None
        self._count(Outcome.FAILED)
        self._tell_failed(staged, record, claim.entry.payload_hash, _failure_code(exc), logged, attempts, will_retry)
        if isinstance(exc, AuthError | RateLimited):
            raise exc

    def _attempts(self, claim: Claim) -> int:
        """Attempts at this version: a changed document, or a replay, starts again at 1."""
        previous = claim.previous
        same = (previous is not None and previous.payload_hash == claim.entry.payload_hash
                and previous.state in (LedgerState.FAILED, LedgerState.IN_FLIGHT))
        if not same or self.r.request.triggered_by is RunTrigger.REPLAY:
            return 1
        assert previous is not None
        return previous.attempts + 1

    def _tell_failed(self, staged: StagedDocument, record: Document[Any] | Payment, h: str | None, code: str,
                     message: str, attempts: int, will_retry: bool) -> None:
        """export.failed to the host, once per version and kind of news (will retry / gave up; a
        replay's outcome is news of its own); the notification when it gave up."""
        if not will_retry:
            self._remember_failure(staged.kind, staged.host_id, f"{_number(record)}: {message}")
        self._deliver_failed(staged.kind, staged.host_id, _number(record), h, code, message, attempts, will_retry)

    def _deliver_failed(self, kind: str, host_id: str, number: str | None, h: str | None, code: str, message: str,
                        attempts: int, will_retry: bool) -> None:
        replay = f"\n{self.r.run_id}" if self.r.request.triggered_by is RunTrigger.REPLAY else ""
        self._deliver(ExportFailed(kind=kind, host_id=host_id, number=number, run_id=self.r.run_id, reason_code=code,
                                   reason=message, attempts=max(attempts, 1), will_retry=will_retry),
                      dedupe_key=f"failed\n{kind}\n{host_id}\n{h}\n{will_retry}{replay}")

    def _not_exported(self, kind: str) -> str | None:
        """The Sage product's own reason for not taking this kind at all (None: it does)."""
        return not_exported(self.connector).get(record_kind(kind))

    def _not_supported(self, staged: StagedDocument, record: HostRecord | None, entry: LedgerEntry | None,
                       why: str) -> None:
        """Skipped with the product's reason: retrying cannot help, the rest of the run goes on."""
        if isinstance(record, Party) or record is None:
            self._count(Outcome.SKIPPED)
            self._log_now(staged.kind, staged.host_id, getattr(record, "name", None), Outcome.SKIPPED,
                          reason_code=SkipCode.NOT_SUPPORTED.value, message=why)
            return
        if self._held is not None:  # refused after we claimed it: settle our claim as skipped
            claim, self._held = self._held, None
            self._settle_not_supported(staged, record, claim, why)
            return
        self._skip(staged, record, [_not_supported_reason(record, why)], entry)

    def _settle_not_supported(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim,
                              why: str) -> None:
        reason = _not_supported_reason(record, why)
        self._count(Outcome.SKIPPED)
        try:
            self.store.transact([
                self.store.ledger.mark_skipped_op(claim, reason.message),
                self._log_op(staged.kind, staged.host_id, _number(record), Outcome.SKIPPED,
                             reason_code=reason.code.value, message=reason.message),
            ])
        except ConflictError:
            return
        self._deliver(DocumentSkipped(kind=staged.kind, host_id=staged.host_id, number=_number(record),
                                      run_id=self.r.run_id, reasons=[reason]),
                      dedupe_key=f"skipped\n{staged.kind}\n{staged.host_id}\n{claim.entry.payload_hash}\n"
                                 f"{reason.code.value}")

    def _unexpected(self, staged: StagedDocument, record: HostRecord | None, entry: LedgerEntry | None,
                    exc: Exception) -> None:
        """A bug or a surprise from Sage for one document: Failed with a reason (the stack trace goes
        to the logs, not the sync log), given up until a replay or a change, the host told."""
        logger.exception("export_document_failed_unexpectedly",
                         extra={"kind": staged.kind, "host_id": staged.host_id, "error": type(exc).__name__})
        if self.r.request.dry_run:
            self._count(Outcome.FAILED)
            return
        label = _label(record) if isinstance(record, Document | Payment) else f"{staged.kind} '{staged.host_id}'"
        message = (f"{label} could not be exported: an unexpected error in Sage Bridge ({type(exc).__name__}); "
                   "it is not retried until it is replayed or changed (details in the operator logs)")
        number = _number(record) if isinstance(record, Document | Payment) else getattr(record, "name", None)
        claim, self._held = self._held, None
        if isinstance(record, Party):
            version = _party_hash(record)
            tenant = self.r.request.tenant_id
            try:
                party_claim: Claim | None = self.store.ledger.claim(
                    tenant, staged.kind, staged.host_id, payload_hash=version, claim_timeout=self.claim_timeout,
                    idempotency_key=idempotency_key(tenant, staged.kind, staged.host_id, version))
            except ClaimConflict:
                party_claim = None
            attempts = self._attempts(party_claim) if party_claim is not None else 1
            self._record_party_failure(record, party_claim, version, "internal_error", message, attempts, False)
            return
        if claim is None and isinstance(record, Document | Payment):
            target = void_hash(staged.payload_hash) if staged.voided else staged.payload_hash
            claim = self._claim(staged, target)
            self._held = None
        writes = [self._log_op(staged.kind, staged.host_id, number, Outcome.FAILED, reason_code="internal_error",
                               message=message)]
        attempts = 1
        if claim is not None:
            attempts = self._attempts(claim)
            writes.insert(0, self.store.ledger.mark_failed_op(claim, message, attempts=attempts, gave_up=True))
        try:
            self.store.transact(writes)
        except ConflictError:
            self.store.table.write(writes[-1])
        self._count(Outcome.FAILED)
        if isinstance(record, Document | Payment):
            h = claim.entry.payload_hash if claim is not None else staged.payload_hash
            self._tell_failed(staged, record, h, "internal_error", message, attempts, False)
        else:
            self._remember_failure(staged.kind, staged.host_id, message)

    def _fail_unclaimed(self, staged: StagedDocument, record: Document[Any] | Payment, exc: SageError) -> None:
        """A read failed before anything was claimed or sent: log it; the next run tries again."""
        if isinstance(exc, AuthError | RateLimited):
            raise exc
        self._count(Outcome.FAILED)
        message = f"{_label(record)}: could not read it from Sage: {exc.message}"
        self._log_now(staged.kind, staged.host_id, _number(record), Outcome.FAILED, reason_code=_failure_code(exc),
                      message=message)
        if not self.r.request.dry_run:  # the host hears once per version; the next run tries again
            self._tell_failed(staged, record, staged.payload_hash, _failure_code(exc), message, 1, True)

    def _fail_unparsable(self, staged: StagedDocument, exc: ValidationError) -> None:
        message = "the staged record is not valid: " + "; ".join(describe_problems(exc))
        self._count(Outcome.FAILED)
        self._log_now(staged.kind, staged.host_id, None, Outcome.FAILED, reason_code="invalid_record",
                      message=message)

    def _unchanged(self, staged: StagedDocument, record: Document[Any] | Payment, message: str, *, log: bool,
                   sage_id: str | None = None) -> None:
        self._count(Outcome.UNCHANGED)
        if log:
            self._log_now(staged.kind, staged.host_id, _number(record), Outcome.UNCHANGED, sage_id=sage_id,
                          message=("dry run: " if self.r.request.dry_run else "") + message)

    def _plan(self, staged: StagedDocument, record: Document[Any] | Payment, outcome: Outcome, message: str,
              payload: Payload | None = None) -> None:
        self._count(outcome)
        if outcome is Outcome.CREATED and staged.kind in {k.value for k in DOCUMENT_KINDS}:
            self.r.planned_creates.add((staged.kind, staged.host_id))
        self.r.result.planned.append(PlannedOutcome(staged.kind, staged.host_id, outcome, message, payload))
        self._log_now(staged.kind, staged.host_id, _number(record), outcome, message=f"dry run: {message}")

    def _plan_party(self, party: Party, outcome: Outcome, message: str, payload: Payload | None) -> None:
        self._count(outcome)
        self.r.result.planned.append(PlannedOutcome(party.kind.value, party.host_id, outcome, message, payload))
        self._log_now(party.kind.value, party.host_id, party.name, outcome, message=f"dry run: {message}")

    def _log_op(self, kind: str, host_id: str, number: str | None, outcome: Outcome, *, sage_id: str | None = None,
                reason_code: str | None = None, message: str = "") -> Write:
        return self.store.synclog.append_op(SyncLogEntry(
            self.r.request.tenant_id, self.r.run_id, kind, host_id, outcome, reason=message, sage_id=sage_id,
            reason_code=reason_code, number=number,
        ))

    def _log_now(self, kind: str, host_id: str, number: str | None, outcome: Outcome, **fields: Any) -> None:
        self.store.table.write(self._log_op(kind, host_id, number, outcome, **fields))

    def _count(self, outcome: Outcome) -> None:
        self.r.result.counts[outcome] += 1

    def _remember_failure(self, kind: str, host_id: str, message: str) -> None:
        line = f"{kind} {host_id}: {message}"
        if len(self.r.result.failures) < MAX_REPORTED:
            self.r.result.failures.append(line)
        if len(self.r.final_failures) < MAX_REPORTED:
            self.r.final_failures.append(line)

    def _deliver(self, data: Any, *, dedupe_key: str) -> None:
        if self.outbox is None or self.r.request.dry_run:
            return
        try:
            enqueue_delivery(self.outbox, self.r.request.tenant_id, data, dedupe_key=dedupe_key)
        except Exception as exc:  # telling the host is best effort; the sync log has it anyway
            logger.warning("host_delivery_not_queued", extra={"error": type(exc).__name__})


@dataclass
class _RunState:
    request: ExportRequest
    run_id: str
    export_type: ExportType
    adopt: bool
    result: ExportResult
    beat_at: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))  # the last heartbeat
    mappings: dict[tuple[str, str], Any] = field(default_factory=dict)
    final_failures: list[str] = field(default_factory=list)
    planned_creates: set[tuple[str, str]] = field(default_factory=set)  # dry run only
    held_allocations: dict[str, Claim] = field(default_factory=dict)  # credit notes sent this run, by host id
    allocation_checks: set[str] = field(default_factory=set)  # replayed credit notes: allocated yet?


@dataclass(frozen=True)
class _Planned:
    sage_id: str



# ------------------------------------------------------------------------------------------- helpers


def document_skip_reasons_party(record: Document[Any] | Payment, failed: str | None = None) -> list[SkipReason]:
    word = "customer" if ledger_of(record.kind) is PartyKind.CUSTOMER else "vendor"
    if failed is not None:  # it failed (this run or, given up, before): say why
        return [SkipReason(
            code=SkipCode.PARTY_MISSING, field="party_id",
            message=f"{word.capitalize()} '{record.party_id}' of {_label(record)} is not in Sage, so it was not "
            f"sent: {failed}")]
    return [SkipReason(
        code=SkipCode.PARTY_MISSING, field="party_id",
        message=f"{word.capitalize()} '{record.party_id}' of {_label(record)} is not in Sage and was not sent "
        "with it (or Sage refused to create it; see the log line of the party)",
    )]


def _not_supported_reason(record: Document[Any] | Payment, why: str) -> SkipReason:
    return SkipReason(code=SkipCode.NOT_SUPPORTED, field="kind", message=f"{_label(record)} is not exported: {why}")


def _kind_of_setting(setting: str) -> str:
    """What a mapped setting points at (as the health check names it)."""
    if setting.startswith("tax_mappings."):
        return "tax_rate"
    return "bank_account" if setting == "receipt_bank_account_id" else "ledger_account"


def _label(record: Document[Any] | Payment) -> str:
    number = getattr(record, "number", None)
    word = record.kind.value.replace("_", " ").capitalize()
    return f"{word} {number}" if number else f"{word} '{record.host_id}'"


def _number(record: Document[Any] | Payment) -> str | None:
    return getattr(record, "number", None) or record.reference or record.host_id


def _date_of(record: Document[Any] | Payment) -> date:
    return record.document_date if isinstance(record, Document) else record.payment_date


def _as_document(record: Document[Any] | Payment) -> Any:
    return record if isinstance(record, Document) else None


def _party_hash(party: Party) -> str:
    return payload_hash(party)


def _failure_code(exc: SageError) -> str:
    if isinstance(exc, RecordInvalid):
        return "sage_rejected"
    if isinstance(exc, UncertainWrite):
        return "sage_uncertain"
    if isinstance(exc, RateLimited):
        return "sage_rate_limited"
    if isinstance(exc, AuthError):
        return "sage_auth"
    return "sage_unavailable"


def export_documents(
    request: ExportRequest,
    *,
    store: Store,
    connector: Connector,
    settings: TenantSettings,
    **options: Any,
) -> ExportResult:
    """Run one export (see ExportRequest); options go to ExportEngine (outbox, notify, hooks...)."""
    return ExportEngine(store=store, connector=connector, settings=settings, **options).run(request)


__all__ = [
    "EXPORT_CURSOR",
    "ExportEngine",
    "ExportHooks",
    "ExportRequest",
    "ExportResult",
    "PlannedOutcome",
    "RunAborted",
    "export_documents",
    "idempotency_key",
    "void_hash",
]
