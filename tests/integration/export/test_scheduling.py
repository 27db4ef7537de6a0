"""The scheduler queues one job per due tenant; the worker runs it under the tenant's lease, drops a
job a later run already covered, and its handler reports partial batch failures to SQS."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sagebridge.domain import DocumentKind
from sagebridge.host.jobs import ExportJob
from sagebridge.store import ConnectionRecord, Store
from sagebridge.sync.scheduling import LeaseHeld, WorkerDeps, handle_export_job, schedule_exports

from .conftest import TENANT, document

ROOT = Path(__file__).resolve().parents[3]


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.sent.append(body)
        return str(len(self.sent))


def add_tenant(store: Store, tenant: str, settings: Any, *, enabled: bool = True, connected: bool = True) -> None:
    store.tenants.create(tenant, settings.model_dump(mode="json"), enabled=enabled)
    if connected:
        store.connections.save(ConnectionRecord(tenant, "sage_accounting", b"sealed", business_id="biz"),
                               expected_version=None)


@pytest.fixture
def deps(store: Store, connector: Any) -> WorkerDeps:
    return WorkerDeps(store=store, connector_for=lambda _tenant, _settings: connector)


def test_scheduler_queues_due_connected_enabled_tenants_once_per_interval(store, settings, deps, host, clock):
    add_tenant(store, TENANT, settings)
    add_tenant(store, "globex", settings, enabled=False)
    add_tenant(store, "initech", settings, connected=False)
    queue = FakeQueue()

    report = schedule_exports(store, queue)

    assert report.queued == [TENANT] and len(report.not_ready) == 2
    job = ExportJob.model_validate(queue.sent[0])
    assert job.trigger.value == "schedule" and job.scheduled_for

    host.stage(document(DocumentKind.SALES_INVOICE, 1))
    result = handle_export_job(job, deps)
    assert result is not None and result.counts["created"] == 2
    # Within the interval: not due. After it: due again.
    assert schedule_exports(store, FakeQueue()).queued == []
    clock.advance(minutes=settings.export_interval_minutes)
    assert schedule_exports(store, FakeQueue()).queued == [TENANT]
    # The old job, delivered late, is dropped: a later run already covered it.
    assert handle_export_job(job, deps) is None


def test_worker_refuses_while_the_tenant_lease_is_held(store, settings, deps, host):
    add_tenant(store, TENANT, settings)
    host.stage(document(DocumentKind.SALES_INVOICE, 1))
    store.leases.acquire(TENANT, "export", "another-worker", 300)
    job = ExportJob(tenant_id=TENANT, trigger="webhook", documents=[{"kind": "sales_invoice", "host_id": "INV-1"}])
    with pytest.raises(LeaseHeld):
        handle_export_job(job, deps)
    store.leases.release(TENANT, "export", "another-worker")
    result = handle_export_job(job, deps)
    assert result is not None and result.counts["created"] == 2  # just that document (and its customer)


def test_a_scheduled_run_takes_what_was_staged_since_the_last_run(store, settings, deps, host, clock):
    add_tenant(store, TENANT, settings)
    first = handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps)
    assert first is not None
    first_run = store.runs.get(TENANT, first.run_id)
    assert "staged_since" not in first_run.details  # the first run takes everything
    clock.advance(days=40)
    second = handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps)
    assert second is not None
    since = store.runs.get(TENANT, second.run_id).details["staged_since"]
    assert datetime.fromisoformat(since) == first_run.started_at.replace(microsecond=0) - timedelta(minutes=5)


def _load_handler(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"{name}_app", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_worker_handler_reports_partial_batch_failures(store, settings, deps, host, monkeypatch):
    add_tenant(store, TENANT, settings)
    add_tenant(store, "globex", settings)
    host.stage(document(DocumentKind.SALES_INVOICE, 1))
    store.leases.acquire("globex", "export", "another-worker", 300)
    app = _load_handler("export_worker")
    monkeypatch.setattr(app, "dependencies", lambda: deps)
    event = json.loads((ROOT / "events" / "export_worker.json").read_text())
    event["Records"][1]["body"] = json.dumps({"tenant_id": "globex", "trigger": "schedule"})

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "export-worker", 512, "req-1"
        invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:export-worker"

        def get_remaining_time_in_millis(self) -> int:
            return 300_000

    answer = app.lambda_handler(event, Context())

    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert store.ledger.get(TENANT, "sales_invoice", "INV-1").state.value == "exported"


def test_silence_a_setup_error_is_a_failed_run_told_once_and_the_job_is_not_retried(
        store, settings, deps, host, monkeypatch):
    from local.sandboxes.host_app.outbox import InMemoryOutbox
    from sagebridge.domain.errors import ConfigurationError, ThrottledError

    add_tenant(store, TENANT, settings.model_copy(update={"business_currency": None}))
    host.stage(document(DocumentKind.SALES_INVOICE, 1))
    outbox, mails = InMemoryOutbox(), []

    def unknown_currency(_tenant: str, _connector: Any) -> str:
        raise ConfigurationError("Sage Intacct cannot tell the business currency: set business_currency")

    deps.outbox, deps.notify, deps.business_currency_for = outbox, mails.append, unknown_currency
    app = _load_handler("export_worker")
    monkeypatch.setattr(app, "dependencies", lambda: deps)
    event = json.loads((ROOT / "events" / "export_worker.json").read_text())
    event["Records"] = event["Records"][:1]
    event["Records"][0]["body"] = json.dumps({"tenant_id": TENANT, "trigger": "schedule"})

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "export-worker", 512, "req-1"
        invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:export-worker"

        def get_remaining_time_in_millis(self) -> int:
            return 300_000

    for _ in range(3):
        answer = app.lambda_handler(event, Context())
        assert answer == {"batchItemFailures": []}, "a setup error cannot be fixed by retrying the job"

    runs = list(store.runs.newest(TENANT))
    assert [r.status.value for r in runs] == ["failed"] * 3
    assert "set business_currency" in runs[0].details["error"]
    told = [b["event"]["data"] for b in outbox.sent if b["event_type"] == "export.run_failed"]
    assert len(told) == 1 and "set business_currency" in told[0]["reason"], outbox.types()
    assert len(mails) == 1 and "set business_currency" in mails[0].problems[0]
    from sagebridge.admin.mappings import MappingHealth
    from sagebridge.admin.status import connection_view, tenant_status
    status = tenant_status(store, TENANT, mapping_health=MappingHealth(checked=False, ok=False, reason="-"),
                           connection=connection_view(store.connections.find(TENANT, "sage_accounting"),
                                                      "sage_accounting", store.table.now()))
    assert status.health == "broken" and "set business_currency" in status.problems[0], status.problems

    # Another problem (settings the worker cannot read) is news: told again.
    good = settings.model_dump(mode="json")
    version = store.tenants.get(TENANT).version
    store.tenants.update_settings(TENANT, {**good, "retry_limit": "many"}, expected_version=version)
    job = ExportJob(tenant_id=TENANT, trigger="schedule")
    result = handle_export_job(job, deps)
    assert result is not None and result.status.value == "failed"
    assert "retry_limit" in store.runs.get(TENANT, result.run_id).details["error"]
    assert len([t for t in outbox.types() if t == "export.run_failed"]) == 2 and len(mails) == 2
    store.tenants.update_settings(TENANT, good, expected_version=version + 1)

    # Our own store or Sage being unavailable is not a setup error: the job is retried.
    def outage(_tenant: str, _settings: Any) -> Any:
        raise ThrottledError("DynamoDB is throttling")

    deps.connector_for = outage
    with pytest.raises(ThrottledError):
        handle_export_job(job, deps)
    assert store.ledger.find(TENANT, "sales_invoice", "INV-1") is None


def test_a_job_queued_for_a_tenant_that_lost_its_connection_is_a_failed_run_that_says_so(store, settings, deps, host):
    """Second front-door review: a webhook answered export_queued for a disconnected tenant and then
    nothing ran or was logged (the worker's NotConnected sent the job round the queue to the DLQ)."""
    from local.sandboxes.host_app.outbox import InMemoryOutbox
    from sagebridge.connectors.base import NotConnected

    add_tenant(store, TENANT, settings)
    host.stage(document(DocumentKind.SALES_INVOICE, 1))

    def disconnected(tenant_id: str, _settings: Any) -> Any:
        raise NotConnected(f"tenant {tenant_id} has no live Sage Accounting connection")

    outbox = InMemoryOutbox()
    deps.connector_for, deps.outbox, deps.notify = disconnected, outbox, lambda _summary: None
    result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="webhook", event_id="evt-1"), deps)  # no raise

    assert result is not None and result.status.value == "failed"
    error = store.runs.get(TENANT, result.run_id).details["error"]
    assert "no live Sage Accounting connection" in error and "connect the tenant again" in error
    told = [b["event"]["data"] for b in outbox.sent if b["event_type"] == "export.run_failed"]
    assert len(told) == 1 and "connect the tenant again" in told[0]["reason"]
    assert store.ledger.find(TENANT, "sales_invoice", "INV-1") is None  # untouched: it waits for the next run
