"""When exports run: the scheduler's "who is due" and the worker's "run this job under the tenant's
lease". Both are plain functions over injected ports, so the Lambda handlers stay a few lines and
tests drive them with the sandbox and DynamoDB Local.

Scheduler: a tenant is due when it is enabled, connected, and its last successful export (the export
cursor) is older than its interval; each due tenant gets one SQS job. The job carries its slot, so
a job that waited in the queue past a newer successful run is dropped instead of repeated.

Worker: one job = one tenant. It takes the tenant's lease (a held lease -> LeaseHeld, and the SQS
record goes back to the queue), builds the run (a document job exports just those documents; a
scheduled job exports every record staged since the last successful run, whatever its date, plus
failures still within the retry limit) and releases the lease.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sagebridge.domain.errors import ConfigurationError, ConflictError, SageBridgeError
from sagebridge.domain.kinds import RecordKind, record_kind
from sagebridge.domain.runs import RunTrigger
from sagebridge.domain.settings import TenantSettings, parse_tenant_settings
from sagebridge.host.jobs import ExportJob, ExportTrigger, RunContinuation
from sagebridge.host.triggers import LEASE_HELD_RETRY_SECONDS, PendingTriggers, document_of
from sagebridge.observability import logger, metrics
from sagebridge.store import ConnectionStatus, RunRecord, RunStatus, Store, TenantRecord
from sagebridge.store.notifications import FailureSummary
from sagebridge.sync.currency import DEFAULT_CURRENCY
from sagebridge.sync.export import EXPORT_CURSOR, ExportHooks, ExportRequest, ExportResult
from sagebridge.sync.export.deadline import STOP_MARGIN_SECONDS, STOP_MARGIN_SHARE, Deadline, Resume
from sagebridge.sync.setup_reads import SetupReads

if TYPE_CHECKING:  # the worker's, loaded by its first job: the scheduler's cold start does not build them
    from sagebridge.connectors.base import Connector
    from sagebridge.host.outbound import DeliveryOutbox
    from sagebridge.sync.export import ExportEngine

EXPORT_LEASE = "export"
LEASE_SECONDS = 360  # the worker's Lambda timeout (300 s) and a margin
# A scheduled run reads what was staged since the last successful run started, and a little before:
# the staged-at index is eventually consistent, and a record read twice costs no Sage call.
STAGED_OVERLAP = timedelta(minutes=5)
# Cursor "<counter> <digest>": the setup problem operators and the host were last told about (a
# digest of its reason); a run that succeeds clears the digest, so the same problem coming back
# later is news again. The counter keeps the cursor moving forward, as cursors must.
SETUP_FAILURE = "export_setup_failure"


class JobQueue(Protocol):
    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str: ...


class LeaseHeld(SageBridgeError):
    """Another export of this tenant is running; the job goes back to the queue."""


# --------------------------------------------------------------------------------------- scheduler


@dataclass
class ScheduleReport:
    checked: int = 0
    queued: list[str] = field(default_factory=list)
    not_due: int = 0
    not_ready: list[str] = field(default_factory=list)  # disabled, not connected, or broken settings


def due_tenants(
    store: Store, *, now: datetime, provider_of: Callable[[TenantRecord], str] | None = None
) -> Iterator[tuple[TenantRecord, TenantSettings | None, str]]:
    """(tenant, settings, why) for every tenant: why is "due", "not_due" or what keeps it from running."""
    for tenant in store.tenants.iter_all():
        if not tenant.enabled:
            yield tenant, None, "disabled"
            continue
        try:
            settings = parse_tenant_settings(tenant.settings)
        except ConfigurationError as exc:
            yield tenant, None, str(exc)
            continue
        provider = provider_of(tenant) if provider_of else settings.provider.value
        connection = store.connections.find(tenant.tenant_id, provider)
        if connection is None or connection.status is not ConnectionStatus.CONNECTED:
            yield tenant, settings, "not connected"
            continue
        if not any(settings.exports(kind) for kind in settings.export_kinds):
            yield tenant, settings, "exports nothing"
            continue
        cursor = store.cursors.get(tenant.tenant_id, EXPORT_CURSOR)
        interval = timedelta(minutes=settings.export_interval_minutes)
        # A small slack so a 15-minute schedule does not miss a tenant whose last run took 14:59.
        if cursor is not None and now - cursor.updated_at < interval - timedelta(seconds=30):
            yield tenant, settings, "not_due"
            continue
        yield tenant, settings, "due"


def schedule_exports(store: Store, queue: JobQueue, *, now: datetime | None = None) -> ScheduleReport:
    """Queue one export job per due tenant (the export_scheduler function)."""
    now = now or store.table.now()
    report = ScheduleReport()
    slot = now.astimezone(UTC).isoformat(timespec="seconds")
    for tenant, _settings, why in due_tenants(store, now=now):
        report.checked += 1
        if why == "due":
            job = ExportJob(tenant_id=tenant.tenant_id, trigger=ExportTrigger.SCHEDULE, scheduled_for=slot,
                            event_id=f"schedule:{slot}")
            queue.send(job.model_dump(mode="json", exclude_none=True))
            report.queued.append(tenant.tenant_id)
        elif why == "not_due":
            report.not_due += 1
        else:
            report.not_ready.append(f"{tenant.tenant_id}: {why}")
    logger.info("export_schedule", extra={"checked": report.checked, "queued": len(report.queued),
                                          "not_due": report.not_due, "not_ready": len(report.not_ready)})
    return report


# ------------------------------------------------------------------------------------------ worker


@dataclass
class WorkerDeps:
    """What the export worker needs, built once per container (tests pass their own)."""

    store: Store
    connector_for: Callable[[str, TenantSettings], Connector]
    outbox: DeliveryOutbox | None = None
    notify: Callable[[FailureSummary], Any] | None = None
    # The business's base currency (SageProducts.business_currency_for: read from Sage, cached per
    # container); None: GBP. The tenant setting `business_currency` overrides either.
    business_currency_for: Callable[[str, Connector], str] | None = None
    hooks: ExportHooks | None = None
    # After each real run: mail the tenant's failure addresses what the run left needing action
    # (tenant id, run id, settings); None when the deployment has no failure email channel.
    failure_digest: Callable[[str, str, TenantSettings], Any] | None = None
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    lease_seconds: int = LEASE_SECONDS
    staged_overlap: timedelta = STAGED_OVERLAP
    engine_options: dict[str, Any] = field(default_factory=dict)
    # The export queue itself: a run that pauses before its invocation's deadline queues its
    # continuation here. None: runs never pause (they run to the end, as before).
    jobs: JobQueue | None = None
    # A run stops taking documents with less than the larger of these left (seconds, share of the
    # invocation's time): sagebridge.sync.export.deadline.
    stop_margin_seconds: float = STOP_MARGIN_SECONDS
    stop_margin_share: float = STOP_MARGIN_SHARE
    # Sage's tax rates and accounts kept per container for a few minutes (sync/setup_reads.py);
    # None: every run reads them.
    setup_reads: SetupReads | None = None


def request_for_job(job: ExportJob, settings: TenantSettings, store: Store, *,
                    overlap: timedelta = STAGED_OVERLAP) -> ExportRequest | None:
    """The export run a job asks for; None when the job is stale (a newer run already covered it)."""
    trigger = job.trigger.run_trigger()
    kinds: frozenset[RecordKind] | None = frozenset(record_kind(k) for k in job.kinds) if job.kinds else None
    common: dict[str, Any] = {
        "tenant_id": job.tenant_id, "triggered_by": trigger, "kinds": kinds, "dry_run": job.dry_run,
        "date_basis": job.date_basis, "export_type": job.export_type,
        "requested_by": job.requested_by or job.event_id,
    }
    if job.continues is not None:
        # The rest of a paused run: what its first part was asked, from where it stopped.
        go_on = job.continues
        common["resume"] = Resume(go_on.run_id, go_on.started_at, go_on.phase, go_on.seen, go_on.part)
        if job.documents:
            return ExportRequest(documents=tuple((d.kind, d.host_id) for d in job.documents), **common)
        if go_on.staged_since is not None or go_on.include_retries:
            return ExportRequest(staged_since=go_on.staged_since, include_retries=go_on.include_retries, **common)
        return ExportRequest(window_from=job.window_from, window_to=job.window_to, **common)
    if job.documents:
        return ExportRequest(documents=tuple((d.kind, d.host_id) for d in job.documents), **common)
    if job.window_from is not None or job.window_to is not None or trigger is not RunTrigger.SCHEDULE:
        return ExportRequest(window_from=job.window_from, window_to=job.window_to, **common)
    cursor = store.cursors.get(job.tenant_id, EXPORT_CURSOR)
    if cursor is not None and job.scheduled_for and cursor.position >= job.scheduled_for:
        return None  # waited in the queue while a later run did the work
    # Not a date window: a document dated last year but received (or changed) today is exported
    # today. The tenant's first run exports everything staged.
    since = datetime.fromisoformat(cursor.position) - overlap if cursor is not None else None
    return ExportRequest(staged_since=since, include_retries=True, **common)


def handle_export_job(job: ExportJob, deps: WorkerDeps, *, deadline: Deadline | None = None) -> ExportResult | None:
    """Run one export job under the tenant's lease. LeaseHeld if another export holds it. With a
    `deadline` (and `deps.jobs`), a run nearing it pauses and queues its continuation. A coalesced
    trigger job also exports the triggers waiting for the tenant, until none is left."""
    if job.coalesced and not job.dry_run:
        return _handle_triggers(job, deps, deadline=deadline)
    return _handle_export_job(job, deps, deadline=deadline)


# Rounds of one trigger job before it hands the rest to a new job (a host that never stops sending).
MAX_TRIGGER_ROUNDS = 20


def _handle_triggers(job: ExportJob, deps: WorkerDeps, *, deadline: Deadline | None) -> ExportResult | None:
    """The job's documents and every waiting trigger's, in one run; again while triggers arrived
    during it (they coalesced into this job, so this job must send them before it ends)."""
    triggers = PendingTriggers(deps.store.table)
    result: ExportResult | None = None
    for _round in range(MAX_TRIGGER_ROUNDS):
        waiting = triggers.waiting(job.tenant_id)
        if job.continues is None:
            documents = list(dict.fromkeys([*job.documents, *(document_of(e) for e in sorted(waiting))]))
        else:  # a paused run goes on with exactly its documents; what waits besides is the next round's
            documents = list(job.documents)
        waiting = {e for e in waiting if document_of(e) in documents}
        if documents:
            try:
                result = _handle_export_job(job.model_copy(update={"documents": documents}), deps, deadline=deadline)
            except LeaseHeld:
                if deps.jobs is None:
                    raise
                # Another export of the tenant runs: try again in a few seconds, not after the queue's
                # visibility timeout. The triggers stay waiting (still queued: nothing else is sent).
                deps.jobs.send(job.model_dump(mode="json", exclude_none=True), delay_seconds=LEASE_HELD_RETRY_SECONDS)
                logger.info("export_trigger_waits", extra={"tenant_id": job.tenant_id, "waiting": len(waiting)})
                return None
            if result is not None and result.continuation is not None:
                return result  # the continuation carries these documents and looks again when done
        if triggers.exported(job.tenant_id, waiting):
            return result
        job = job.model_copy(update={"documents": [], "continues": None})
        if deadline is not None and deadline.near() and deps.jobs is not None:
            break
    if deps.jobs is None:
        return result
    # Out of time or rounds: a new job goes on with what waits (still marked queued: nothing is lost).
    deps.jobs.send(job.model_dump(mode="json", exclude_none=True))
    logger.info("export_triggers_continue", extra={"tenant_id": job.tenant_id})
    return result


def _handle_export_job(job: ExportJob, deps: WorkerDeps, *, deadline: Deadline | None) -> ExportResult | None:
    store = deps.store
    tenant = store.tenants.find(job.tenant_id)
    if tenant is None:
        # Deleted since it was queued, or never existed: no retry can help, so say so and let it
        # go rather than retry it silently into the dead-letter queue.
        metrics.add_metric(name="ExportJobsUnknownTenant", unit="Count", value=1)
        logger.error("export_job_dropped", extra={"tenant_id": job.tenant_id, "why": "unknown tenant",
                                                  "trigger": job.trigger.value, "event_id": job.event_id})
        return None
    if not tenant.enabled:
        logger.info("export_job_dropped", extra={"tenant_id": job.tenant_id, "why": "tenant disabled"})
        return None
    try:
        settings = parse_tenant_settings(tenant.settings)
    except ConfigurationError as exc:
        return setup_failed(job, deps, exc)
    request = request_for_job(job, settings, store, overlap=deps.staged_overlap)
    if request is None:
        logger.info("export_job_dropped", extra={"tenant_id": job.tenant_id, "why": "covered by a later run"})
        return None
    if _continuing(job, store):
        logger.info("export_job_dropped", extra={"tenant_id": job.tenant_id, "why": "a paused run continues"})
        return None
    try:
        store.leases.acquire(job.tenant_id, EXPORT_LEASE, deps.owner, deps.lease_seconds)
    except ConflictError as exc:
        raise LeaseHeld(f"an export of tenant {job.tenant_id} is already running") from exc
    from sagebridge.connectors.base import NotConnected  # the worker's: loaded by its first job
    from sagebridge.sync.export import ExportEngine

    engine: ExportEngine | None = None
    try:
        try:
            connector = deps.connector_for(job.tenant_id, settings)
        except NotConnected as exc:
            # A job queued before the connection went (a webhook's, an operator's): retrying cannot
            # connect the tenant. A failed run that says so; its documents wait for the next run
            # after the tenant connects again (the scheduler runs connected tenants only).
            raise ConfigurationError(f"{exc.message}: connect the tenant again; its documents wait and are "
                                     "exported by the first run after it connects") from exc
        if deps.setup_reads is not None:
            # An operator's or a replay run reads Sage afresh: the operator may have just fixed it there.
            connector = deps.setup_reads.connector(job.tenant_id, connector, fresh=request.triggered_by in (
                RunTrigger.OPERATOR, RunTrigger.REPLAY))
        currency = settings.business_currency or (
            deps.business_currency_for(job.tenant_id, connector) if deps.business_currency_for else DEFAULT_CURRENCY)
        engine = ExportEngine(store=store, connector=connector, settings=settings, business_currency=currency,
                              outbox=deps.outbox, notify=deps.notify, hooks=deps.hooks,
                              deadline=deadline if deps.jobs is not None else None, **deps.engine_options)
        try:
            result = engine.run(request)
        except Exception:
            if deps.setup_reads is not None:
                deps.setup_reads.forget(job.tenant_id)
            raise
        if deps.setup_reads is not None:
            deps.setup_reads.after_run(job.tenant_id, result.counts, result.failures)
        if deps.failure_digest is not None and not request.dry_run:
            # Under the lease: the next run of the tenant reads what this digest marked as mailed.
            try:
                deps.failure_digest(job.tenant_id, result.run_id, settings)
            except Exception as error:  # the mail must never fail the run it reports (the sync log has it)
                logger.error("failure_digest_not_sent", extra={"tenant_id": job.tenant_id,
                                                               "error": type(error).__name__})
    except ConfigurationError as exc:
        # Retrying the job cannot fix the tenant's setup: a failed run that says why, not the DLQ.
        started = getattr(engine, "r", None)
        return setup_failed(job, deps, exc, run_id=started.run_id if started is not None else None)
    finally:
        try:
            store.leases.release(job.tenant_id, EXPORT_LEASE, deps.owner)
        except ConflictError:
            logger.warning("export_lease_lost", extra={"tenant_id": job.tenant_id})
    if result.continuation is not None and deps.jobs is not None:
        _queue_continuation(job, request, result, deps.jobs)  # after the lease is free for it
        return result
    if result.status is RunStatus.SUCCEEDED and not request.dry_run:
        told = store.cursors.get(job.tenant_id, SETUP_FAILURE)
        if told is not None and _told_digest(told.position):
            _tell_setup(store, job.tenant_id, told.position, "")  # fixed: the next problem is news
    return result


def _continuing(job: ExportJob, store: Store) -> bool:
    """A scheduled job while the tenant's last scheduled run is paused for its continuation: that
    run covers it (it moves the cursor when done), so the run history keeps one run."""
    if job.continues is not None or job.documents or job.trigger is not ExportTrigger.SCHEDULE:
        return False
    newest = list(store.runs.newest(job.tenant_id, limit=1))
    now = store.table.now()
    return bool(newest) and newest[0].status is RunStatus.RUNNING and bool(newest[0].details.get("continues")) \
        and newest[0].alive_until is not None and newest[0].alive_until > now


def _queue_continuation(job: ExportJob, request: ExportRequest, result: ExportResult, jobs: JobQueue) -> None:
    """The rest of a paused run as a new job on the export queue: its own SQS message (BatchSize 1:
    one run per invocation), delayed by what the pacer asked. If this send fails, the run is closed
    as abandoned by the tenant's next run, which exports what is left, as after a crash."""
    go_on = result.continuation
    assert go_on is not None
    continues = RunContinuation(run_id=go_on.run_id, started_at=go_on.started_at, phase=go_on.phase, seen=go_on.seen,
                                part=go_on.part, staged_since=request.staged_since,
                                include_retries=request.include_retries)
    body = job.model_copy(update={"continues": continues}).model_dump(mode="json", exclude_none=True)
    jobs.send(body, delay_seconds=math.ceil(result.continue_after))
    logger.info("export_run_continues", extra={"tenant_id": job.tenant_id, "run_id": go_on.run_id,
                                               "part": go_on.part, "delay": math.ceil(result.continue_after)})


def setup_failed(job: ExportJob, deps: WorkerDeps, exc: ConfigurationError, *,
                 run_id: str | None = None) -> ExportResult:
    """Record the job as a failed run with the reason (the run history and status page show it),
    tell the host (export.run_failed) and operators once per distinct reason, and let the job go.
    `run_id`: the run the engine started (and closed as failed) before the error."""
    store, tenant_id, reason = deps.store, job.tenant_id, str(exc)
    trigger = job.trigger.run_trigger().value
    if run_id is None:
        run_id = store.runs.new_id()
        store.runs.start(RunRecord(tenant_id, run_id, trigger, dry_run=job.dry_run, details={
            "triggered_by": trigger, "requested_by": job.requested_by or job.event_id}))
    run = store.runs.get(tenant_id, run_id)
    details = {**run.details, "error": reason, "error_code": "configuration"}
    if run.status is RunStatus.RUNNING:
        store.runs.finish(tenant_id, run_id, RunStatus.FAILED, details=details)
    else:
        store.runs.annotate(tenant_id, run_id, details)
    logger.error("export_setup_failed", extra={"tenant_id": tenant_id, "run_id": run_id, "reason": reason})
    digest = hashlib.sha256(reason.encode()).hexdigest()[:32]
    told = store.cursors.get(tenant_id, SETUP_FAILURE)
    if not job.dry_run and (told is None or _told_digest(told.position) != digest):
        if deps.outbox is not None:
            from sagebridge.host.outbound import ExportRunFailed, enqueue_delivery

            try:
                enqueue_delivery(deps.outbox, tenant_id, ExportRunFailed(run_id=run_id, reason=reason),
                                 dedupe_key=f"run_failed\n{digest}\n{run_id}")
            except Exception as error:  # best effort, as for documents: the run history has it
                logger.warning("host_delivery_not_queued", extra={"error": type(error).__name__})
        if deps.notify is not None:
            try:
                deps.notify(FailureSummary(
                    title=f"Export run {run_id} for tenant {tenant_id} failed: the tenant's setup", tenant_id=tenant_id,
                    run_id=run_id, problems=[reason],
                    hint="Nothing was sent to Sage. Fix the setting named above (admin API settings); scheduled "
                         "runs keep trying and you are not told again about the same problem."))
            except Exception as error:
                logger.error("notify_failed", extra={"error": type(error).__name__})
        _tell_setup(store, tenant_id, told.position if told is not None else None, digest)
    result = ExportResult(run_id, tenant_id, job.dry_run, failures=[reason])
    result.status = RunStatus.FAILED
    return result


def _told_digest(position: str) -> str:
    return position.partition(" ")[2]


def _tell_setup(store: Store, tenant_id: str, last: str | None, digest: str) -> None:
    counter = int(last.partition(" ")[0]) + 1 if last else 1
    try:
        store.cursors.set(tenant_id, SETUP_FAILURE, f"{counter:012d} {digest}")
    except ConflictError:
        pass  # another worker recorded news at the same moment: theirs stands


__all__ = [
    "EXPORT_LEASE",
    "JobQueue",
    "LeaseHeld",
    "ScheduleReport",
    "WorkerDeps",
    "due_tenants",
    "handle_export_job",
    "request_for_job",
    "schedule_exports",
    "setup_failed",
]
