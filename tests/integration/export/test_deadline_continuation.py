"""Runs that fit Lambda's deadline: a run whose invocation's time runs out pauses with every commit
settled and goes on in a continuation job with the same run id, until it is done; a pacer that would
make the next request wait long becomes the continuation's SQS delay; a continuation that never runs
is recovered like a crashed run."""

from __future__ import annotations

from typing import Any

import pytest

from sagebridge.connectors.pacing import RequestPacer
from sagebridge.domain import DocumentKind
from sagebridge.host.jobs import ExportJob
from sagebridge.store import ConnectionRecord, LedgerState, RunStatus, Store
from sagebridge.sync.export.deadline import Deadline
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

from .conftest import TENANT, customer, document

INVOICES = 24  # 8 customers: 32 Sage creates, with a budget of about 12 requests per invocation


class Queue:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], int]] = []

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.sent.append((body, delay_seconds))
        return str(len(self.sent))


class InvocationClock:
    """A Lambda context's time left that runs down by `per_request` for each Sage request."""

    def __init__(self, sandbox: Any, budget: float, per_request: float) -> None:
        self.sandbox, self.budget, self.per_request = sandbox, budget, per_request
        self.start = 0

    def deadline(self, margin: float) -> Deadline:
        self.start = len(self.sandbox.request_log)
        return Deadline(lambda: self.budget - self.per_request * (len(self.sandbox.request_log) - self.start),
                        margin=margin)


def _tenant(store: Store, settings: Any) -> None:
    store.tenants.create(TENANT, settings.model_dump(mode="json"), enabled=True)
    store.connections.save(ConnectionRecord(TENANT, "sage_accounting", b"sealed", business_id="biz"),
                           expected_version=None)


def _stage(host: Any, n: int = INVOICES) -> None:
    for i in range(n):
        host.stage(document(DocumentKind.SALES_INVOICE, i, party=customer(i % 8)))


def _run_to_the_end(first: ExportJob, deps: WorkerDeps, queue: Queue, timer: InvocationClock, clock: Any,
                    *, margin: float = 3.0) -> list[Any]:
    results = [handle_export_job(first, deps, deadline=timer.deadline(margin))]
    while queue.sent:
        body, delay = queue.sent.pop(0)
        clock.advance(seconds=delay + 1)
        results.append(handle_export_job(ExportJob.model_validate(body), deps, deadline=timer.deadline(margin)))
        assert len(results) < 50, "the run does not move on"
    return results


def test_a_run_that_runs_out_of_time_goes_on_in_continuations_as_one_run_with_nothing_twice(
        store, settings, connector, sandbox, host, clock):
    _tenant(store, settings)
    _stage(host)
    queue = Queue()
    deps = WorkerDeps(store=store, connector_for=lambda _t, _s: connector, jobs=queue)
    timer = InvocationClock(sandbox, budget=15.0, per_request=1.0)  # about 12 requests an invocation

    results = _run_to_the_end(ExportJob(tenant_id=TENANT, trigger="schedule"), deps, queue, timer, clock)

    assert len(results) >= 4, "the run should have needed several invocations"
    assert {r.run_id for r in results} == {results[0].run_id}, "one run id across its continuations"
    assert [r.status for r in results[:-1]] == [RunStatus.RUNNING] * (len(results) - 1)
    assert results[-1].status is RunStatus.SUCCEEDED
    # In Sage: every invoice and customer once.
    references = sandbox.accountant().count_by_reference("sales_invoices")
    assert len(references) == INVOICES and set(references.values()) == {1}, references
    assert all(store.ledger.get(TENANT, "sales_invoice", f"INV-{i}").state is LedgerState.EXPORTED
               for i in range(INVOICES))
    assert list(store.ledger.list_by_state(TENANT, LedgerState.IN_FLIGHT)) == [], "no claim left in flight"
    # The run history and the sync log read as one run.
    runs = list(store.runs.newest(TENANT))
    assert len(runs) == 1 and runs[0].status is RunStatus.SUCCEEDED
    assert runs[0].counts["created"] == INVOICES + 8, runs[0].counts
    assert runs[0].details["parts"] == len(results)
    lines = list(store.synclog.for_run(TENANT, results[0].run_id, limit=500))
    created = [(e.kind, e.host_id) for e in lines if e.outcome.value == "created"]
    assert len(created) == len(set(created)) == INVOICES + 8
    assert store.cursors.get(TENANT, "export") is not None  # a full run done: the cursor moved


def test_a_scheduled_job_while_a_run_is_paused_is_covered_by_that_run(store, settings, connector, sandbox, host,
                                                                      clock):
    _tenant(store, settings)
    _stage(host, 12)
    queue = Queue()
    deps = WorkerDeps(store=store, connector_for=lambda _t, _s: connector, jobs=queue)
    timer = InvocationClock(sandbox, budget=12.0, per_request=1.0)
    first = handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps, deadline=timer.deadline(3.0))
    assert first is not None and first.status is RunStatus.RUNNING

    assert handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps) is None
    assert handle_export_job(ExportJob(tenant_id=TENANT, trigger="webhook", documents=[
        {"kind": "sales_invoice", "host_id": "INV-11"}]), deps) is not None  # named documents still run

    _run_to_the_end(ExportJob.model_validate(queue.sent.pop(0)[0]), deps, queue, timer, clock)
    runs = [r for r in store.runs.newest(TENANT) if r.trigger == "schedule"]
    assert len(runs) == 1 and runs[0].status is RunStatus.SUCCEEDED and "continues" not in runs[0].details
    references = sandbox.accountant().count_by_reference("sales_invoices")
    assert len(references) == 12 and set(references.values()) == {1}


def test_a_continuation_that_never_runs_is_recovered_like_a_crashed_run(store, settings, connector, sandbox, host,
                                                                        clock):
    _tenant(store, settings)
    _stage(host)
    queue = Queue()
    deps = WorkerDeps(store=store, connector_for=lambda _t, _s: connector, jobs=queue)
    timer = InvocationClock(sandbox, budget=15.0, per_request=1.0)
    first = handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps, deadline=timer.deadline(3.0))
    assert first is not None and first.status is RunStatus.RUNNING and queue.sent
    queue.sent.clear()  # the continuation is lost
    assert list(store.ledger.list_by_state(TENANT, LedgerState.IN_FLIGHT)) == []

    clock.advance(minutes=10)  # past the paused run's heartbeat
    later = handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps)

    assert later is not None and later.status is RunStatus.SUCCEEDED
    assert store.runs.get(TENANT, first.run_id).status is RunStatus.ABANDONED
    references = sandbox.accountant().count_by_reference("sales_invoices")
    assert len(references) == INVOICES and set(references.values()) == {1}


def test_a_long_pacer_wait_is_the_continuations_delay_not_a_sleep(store, settings, connector, sandbox, host, clock,
                                                                   elapsed):
    _tenant(store, settings)
    _stage(host, 12)
    slept: list[float] = []
    pacer = RequestPacer(10, clock=elapsed, sleep=lambda s: (slept.append(s), elapsed.sleep(s)))
    connector.client._pacer = pacer
    connector.client._transport.pacer = pacer
    queue = Queue()
    deps = WorkerDeps(store=store, connector_for=lambda _t, _s: connector, jobs=queue)

    result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps,
                               deadline=Deadline(lambda: 300.0, margin=60.0))

    assert result is not None and result.status is RunStatus.RUNNING
    (_body, delay), = queue.sent
    assert 20 < delay <= 62, delay
    assert not [s for s in slept if s > 20], "no long sleep inside the invocation"
    assert list(store.ledger.list_by_state(TENANT, LedgerState.IN_FLIGHT)) == []


def test_no_pause_while_a_void_found_paid_in_sage_waits_for_the_end_of_the_run(store, settings, connector, sandbox,
                                                                                host, clock):
    """Such voids are held in memory until the run's payments are done: a pause would drop them."""
    _tenant(store, settings)
    _stage(host, 1)
    queue = Queue()
    deps = WorkerDeps(store=store, connector_for=lambda _t, _s: connector, jobs=queue)
    assert handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps).status is RunStatus.SUCCEEDED
    sandbox.accountant().record_customer_payment(store.ledger.get(TENANT, "sales_invoice", "INV-0").sage_id, "10.00")
    clock.advance(seconds=1)
    host.void("sales_invoice", "INV-0")
    for i in range(1, 5):
        clock.advance(seconds=1)
        host.stage(document(DocumentKind.SALES_INVOICE, i, party=customer(i)))

    result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps,
                               deadline=Deadline(lambda: 0.0, margin=1.0))  # out of time after one record

    assert result is not None and result.status is RunStatus.SUCCEEDED and queue.sent == []
    assert store.ledger.get(TENANT, "sales_invoice", "INV-0").state is LedgerState.SKIPPED  # paid: not voided


def test_the_margin_is_the_larger_of_seconds_and_share_but_at_most_half_the_time():
    assert Deadline.of_invocation(lambda: 300_000).margin == 60
    assert Deadline.of_invocation(lambda: 900_000).margin == 180
    assert Deadline.of_invocation(lambda: 30_000).margin == 15


def test_the_worker_handler_gives_the_run_its_invocations_deadline(store, settings, connector, host, monkeypatch):
    import json

    from tests.integration.export.test_scheduling import ROOT, _load_handler

    _tenant(store, settings)
    _stage(host, 4)
    queue = Queue()
    app = _load_handler("export_worker")
    monkeypatch.setattr(app, "dependencies", lambda: WorkerDeps(store=store, connector_for=lambda _t, _s: connector,
                                                                 jobs=queue))
    event = json.loads((ROOT / "events" / "export_worker.json").read_text())
    event["Records"] = event["Records"][:1]
    event["Records"][0]["body"] = json.dumps({"tenant_id": TENANT, "trigger": "schedule"})
    left = iter([1_000] + [0] * 1000)  # a second at the start, then nothing

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "export-worker", 512, "req-1"
        invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:export-worker"

        def get_remaining_time_in_millis(self) -> int:
            return next(left)

    assert app.lambda_handler(event, Context()) == {"batchItemFailures": []}
    (body, _delay), = queue.sent
    job = ExportJob.model_validate(body)
    assert job.continues is not None and job.continues.part == 2 and job.tenant_id == TENANT


@pytest.mark.parametrize("started", [0, 5])
def test_pacer_delay_says_the_wait_and_reserves_nothing(started):
    now = [0.0]
    pacer = RequestPacer(3, headroom=1.0, window=60.0, clock=lambda: now[0], sleep=lambda s: None)
    for _ in range(started):
        pacer.wait()
    if started == 0:
        assert pacer.delay() == 0.0
    else:
        assert pacer.delay() == pytest.approx(60.0)
        assert pacer.delay() == pytest.approx(60.0)  # asking twice reserves nothing
        now[0] = 61.0
        assert pacer.delay() == 0.0
