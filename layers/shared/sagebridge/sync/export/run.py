"""One export run: the run record and its heartbeat, the phases (parties, documents, then credit
note allocations and payments), a page at a time, and the export cursor when a full run succeeds.
Given a `Deadline`, a run that nears it pauses (its commits settled) and says where to go on
(`ExportResult.continuation`); the continuation is the same run, so its record closes only once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sagebridge.connectors.base import Connector, Mapper
from sagebridge.domain.errors import ConflictError, NotFoundError
from sagebridge.domain.kinds import RecordKind
from sagebridge.domain.settings import TenantSettings
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.observability import current_correlation_id, logger
from sagebridge.store import Outcome, RunRecord, RunStatus, Store
from sagebridge.store.ledger import DEFAULT_CLAIM_TIMEOUT
from sagebridge.store.notifications import FailureSummary
from sagebridge.sync.export.context import ExportRun
from sagebridge.sync.export.deadline import MAX_DELAY_SECONDS, Deadline, Resume, RunPaused
from sagebridge.sync.export.journal import Journal
from sagebridge.sync.export.pages import Pages
from sagebridge.sync.export.request import (
    DOCUMENT_KINDS,
    EXPORT_CURSOR,
    PARTY_KINDS,
    PAYMENT_KINDS,
    ExportHooks,
    ExportRequest,
    ExportResult,
    RunAborted,
)
from sagebridge.sync.export.select import kinds_of, window_of

# A run's heartbeat: `alive_until` on its run record is pushed this far ahead, at most once a
# HEARTBEAT_EVERY, between pages. Longer than the worker's timeout (300 s), so only a dead worker's
# run goes past it; shorter than the tenant's export lease (360 s), so the first run after a dead
# worker's lease ran out closes that run as abandoned.
RUN_ALIVE_FOR = timedelta(seconds=330)
HEARTBEAT_EVERY = timedelta(minutes=1)
# Parties first (documents need their contact), payments last (they need their invoices).
PHASES: tuple[tuple[RecordKind, ...], ...] = (PARTY_KINDS, DOCUMENT_KINDS, PAYMENT_KINDS)


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
        deadline: Deadline | None = None,
    ) -> None:
        self.store = store
        self.connector = connector
        self.settings = settings
        self.business_currency = business_currency
        self.outbox = outbox
        self.notify = notify
        self.hooks = hooks
        self.claim_timeout = claim_timeout
        self.deadline = deadline
        self._resumed: Resume | None = None  # this invocation continues that run
        self._resumed_details: dict[str, Any] = {}
        self._first_started: datetime | None = None
        self._handled = 0  # records this invocation looked at: a pause needs one, so every part moves on
        self.mapper: Mapper = connector.mapper  # each product's connector brings its own

    # ---- the run

    def run(self, request: ExportRequest) -> ExportResult:
        run = self._new_run(request)
        pages = Pages(run, outbox=self.outbox, notify=self.notify, hooks=self.hooks)
        if self._resumed is not None:
            pages.resume_from(self._resumed.started_at, self._resumed.seen)
        if self.deadline is not None and not run.dry_run:
            pages.watch = self._watch
        started = self._resumed.started_at if self._resumed is not None else run.now()
        details = self._details(run)
        self._start(run, details, started)
        status = RunStatus.FAILED
        paused: RunPaused | None = None
        try:
            self._phases(run, pages)
            status = RunStatus.SUCCEEDED
        except RunPaused as exc:
            paused, status = exc, RunStatus.RUNNING
            logger.info("export_run_paused", extra={"reason": str(exc), "phase": pages.phase,
                                                    "seen": pages.looked_at, "delay": round(exc.delay, 1)})
        except RunAborted as exc:
            details["aborted"] = str(exc)
            logger.warning("export_run_aborted", extra={"reason": str(exc)})
        finally:
            if run.blocked_until is not None:  # the run's summary names what waits, and for what
                details["waiting_for_sage"] = run.result.waiting_for_sage
                details["blocked_until"] = run.blocked_until.astimezone(UTC).isoformat(timespec="seconds")
            if paused is not None:
                self._pause(run, pages, paused, details)
            else:
                self._finish(run, pages.journal, status, details, started)
        return run.result

    def _new_run(self, request: ExportRequest) -> ExportRun:
        tenant = request.tenant_id
        export_type = request.export_type or self.settings.export_type
        run_id = self.store.runs.new_id()
        if request.resume is not None:
            try:
                record = self.store.runs.get(tenant, request.resume.run_id)
            except NotFoundError:
                record = None
            # A run closed meanwhile (abandoned: its continuation waited too long) is not reopened:
            # this job runs as a new run, from the start (the ledger keeps it exactly once).
            if record is not None and record.status is RunStatus.RUNNING:
                self._resumed, run_id = request.resume, request.resume.run_id
                self._resumed_details = dict(record.details)
        window = window_of(request)
        adopt = request.adopt_existing
        if adopt is None:
            adopt = self.store.cursors.get(tenant, EXPORT_CURSOR) is None
        connection = self.store.connections.find(tenant, self.settings.provider.value)
        now = self.store.table.now()
        blocked = connection is not None and connection.paused_until is not None and now < connection.paused_until
        return ExportRun(store=self.store, connector=self.connector, mapper=self.mapper, settings=self.settings,
                         business_currency=self.business_currency, claim_timeout=self.claim_timeout,
                         request=request, run_id=run_id, export_type=export_type, adopt=adopt,
                         result=ExportResult(run_id, tenant, request.dry_run, window=window),
                         blocked_until=connection.paused_until if blocked and connection else None,
                         blocked_reason=connection.paused_reason if blocked and connection else None)

    def _details(self, run: ExportRun) -> dict[str, Any]:
        if self._resumed is not None:
            details = {k: v for k, v in self._resumed_details.items() if k != "continues"}
            return {**details, "parts": self._resumed.part}
        request, window = run.request, run.result.window
        assert window is not None
        details = {
            "kinds": sorted(k.value for k in kinds_of(request, self.settings)), "export_type": run.export_type.value,
            "window_from": window[0].isoformat(), "window_to": window[1].isoformat(),
            "date_basis": request.date_basis.value if request.date_basis else "per_ledger",
            "triggered_by": request.triggered_by.value, "requested_by": request.requested_by,
            "going_live": run.adopt,
        }
        if request.documents:  # the documents it names; a bulk run's counts say what it looked at
            details["documents"] = len(request.documents)
        if request.staged_since is not None:
            details["staged_since"] = request.staged_since.astimezone(UTC).isoformat(timespec="seconds")
        return details

    def _start(self, run: ExportRun, details: dict[str, Any], started: datetime) -> None:
        """Close the runs a dead worker left open, then record this one as running."""
        request = run.request
        if self._resumed is not None:  # the same run, one more part: alive again, not started again
            now = run.now()
            self.store.runs.heartbeat(run.tenant, run.run_id, now + RUN_ALIVE_FOR)
            self._beat_at = now
            logger.append_keys(tenant_id=run.tenant, run_id=run.run_id)
            return
        for dead in self.store.runs.close_abandoned(run.tenant, now=started):
            logger.warning("export_run_abandoned", extra={"abandoned_run_id": dead.run_id})
        if correlation_id := current_correlation_id():  # the logs' id for this run: `sagebridge why` prints it
            details["correlation_id"] = correlation_id  # in place: the finished run keeps these details
        self.store.runs.start(RunRecord(run.tenant, run.run_id, request.triggered_by.value, dry_run=request.dry_run,
                                        details=details, started_at=started, alive_until=started + RUN_ALIVE_FOR))
        self._beat_at = self._first_started = started
        logger.append_keys(tenant_id=run.tenant, run_id=run.run_id)

    def _phases(self, run: ExportRun, pages: Pages) -> None:
        """Parties first (documents need their contact), payments last (they need their invoices)."""
        window = run.result.window
        assert window is not None
        first = self._resumed.phase if self._resumed is not None else 0
        try:
            for index, phase in enumerate(PHASES):
                if index < first:
                    continue  # done by an earlier part of this run
                if run.blocked_until is not None and phase is PARTY_KINDS:
                    continue  # Sage blocks the connection: parties go with their documents later
                pages.start_phase(index, resumed=index == first and self._resumed is not None)
                pages.export_phase(phase, window, between_pages=lambda: self._heartbeat(run))
            if run.blocked_until is not None:
                # Not a success: the export cursor stays, so the first run after the block reads
                # again what this one could not send.
                raise RunAborted(f"Sage blocks requests until {run.blocked_until.astimezone(UTC):%Y-%m-%d %H:%M} "
                                 f"UTC: nothing was sent; {run.result.waiting_for_sage} document(s) wait for "
                                 "the block to end")
            pages.start_phase(len(PHASES), resumed=first == len(PHASES))
            pages.export_paid_voids(between_pages=lambda: self._heartbeat(run))
        finally:
            pages.close()

    def _watch(self) -> None:
        """Before each record: pause when the invocation's time is nearly up, or when the pacer
        would make the next request wait long (the continuation's delay waits instead). Not before
        this invocation has looked at one record, so every part of a run moves it on."""
        deadline = self.deadline
        self._handled += 1
        if deadline is None or self._handled == 1:
            return
        if deadline.near():
            raise RunPaused(f"less than {deadline.margin:.0f} s of the invocation left")
        pacing = getattr(self.connector, "pacing_delay", None)
        wait = pacing() if pacing is not None else 0.0
        if wait > deadline.longest_sleep:
            raise RunPaused(f"Sage's rate limit: the next request would wait {wait:.0f} s", delay=wait)

    def _pause(self, run: ExportRun, pages: Pages, paused: RunPaused, details: dict[str, Any]) -> None:
        """Settled (no claim in flight: every page's commits drained), counted, and kept alive past
        the continuation's delay; the result says where the continuation goes on."""
        try:
            counts = {Outcome(k).value: n for k, n in run.result.counts.items() if n}
            self.store.runs.add_counts(run.tenant, run.run_id, counts)
            _note_not_logged(details, run)
            delay = min(paused.delay, MAX_DELAY_SECONDS)
            try:
                self.store.runs.heartbeat(run.tenant, run.run_id,
                                          run.now() + timedelta(seconds=delay) + RUN_ALIVE_FOR)
            except ConflictError:
                logger.warning("export_run_was_abandoned", extra={"status": "paused"})
                run.result.status = RunStatus.ABANDONED
                return
            run.result.status = RunStatus.RUNNING
            part = self._resumed.part if self._resumed is not None else 1
            # "continues": a scheduled job meanwhile is covered by this run (scheduling.py)
            self.store.runs.annotate(run.tenant, run.run_id, {**details, "parts": part, "continues": True})
            started = self._resumed.started_at if self._resumed is not None else self._first_started
            assert started is not None
            run.result.continuation = Resume(run.run_id, started, pages.phase, pages.looked_at, part + 1)
            run.result.continue_after = delay
        finally:
            pages.journal.close()

    def _heartbeat(self, run: ExportRun) -> None:
        now = run.now()
        if now - self._beat_at < HEARTBEAT_EVERY:
            return
        try:
            self.store.runs.heartbeat(run.tenant, run.run_id, now + RUN_ALIVE_FOR)
        except ConflictError as exc:
            raise RunAborted("a later run found this one without a heartbeat and closed it as abandoned") from exc
        self._beat_at = now

    def _finish(self, run: ExportRun, journal: Journal, status: RunStatus, details: dict[str, Any],
                started: datetime) -> None:
        counts = {Outcome(k).value: n for k, n in run.result.counts.items() if n}
        run.result.status = status
        _note_not_logged(details, run)
        try:
            self.store.runs.add_counts(run.tenant, run.run_id, counts)
            try:
                self.store.runs.finish(run.tenant, run.run_id, status, details=details)
            except ConflictError:
                # A later run took this one for dead (no heartbeat) and closed it: that verdict
                # stands, and the later run, not this one, moves the export cursor.
                logger.warning("export_run_was_abandoned", extra={"status": status.value})
                run.result.status = RunStatus.ABANDONED
                return
            request = run.request
            full_run = not request.documents and not request.dry_run and request.window_from is None
            if status is RunStatus.SUCCEEDED and full_run:
                self.store.cursors.set(run.tenant, EXPORT_CURSOR, started.astimezone(UTC).isoformat(timespec="seconds"))
        finally:
            journal.close()

def _note_not_logged(details: dict[str, Any], run: ExportRun) -> None:
    """The run's counts that have no sync log line (added up over the parts of a paused run), so the
    run's summary can say why `log --run` shows fewer lines than it counts."""
    total = dict(details.get("not_logged") or {})
    for outcome, n in run.result.not_logged.items():
        total[outcome] = total.get(outcome, 0) + n
    if total:
        details["not_logged"] = total


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

