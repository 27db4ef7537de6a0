"""The real-time path: triggers of one tenant coalesce into one queued job whose run also sends the
triggers that arrive while it runs (none waits for the schedule), a job with nothing left sends no
Sage request, and Sage's tax rates and accounts are read once per container for a while (again
after a run Sage refused something in, or an operator's)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from sagebridge.domain import DocumentKind
from sagebridge.host.jobs import ExportJob
from sagebridge.host.triggers import LEASE_HELD_RETRY_SECONDS, STALE_AFTER
from sagebridge.host.webhooks import queue_trigger
from sagebridge.store import ConnectionRecord, Store
from sagebridge.sync.export import EXPORT_CURSOR
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job
from sagebridge.sync.setup_reads import SetupReads

from .conftest import TENANT, document, line

SI = DocumentKind.SALES_INVOICE


class Queue:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], int]] = []
        self.down = False

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        if self.down:
            raise ConnectionError("the export queue is unreachable")
        self.sent.append((body, delay_seconds))
        return str(len(self.sent))

    def take(self) -> ExportJob:
        return ExportJob.model_validate(self.sent.pop(0)[0])


class Arrivals:
    """ExportHooks: lets host documents reach the trigger status while the run is sending."""

    def __init__(self) -> None:
        self.during: list[Any] = []

    def after_sage_call(self, kind: str, host_id: str, remote: Any) -> None:
        while self.during:
            self.during.pop(0)()


@pytest.fixture
def world(store: Store, settings: Any, connector: Any, host: Any, sandbox: Any) -> SimpleNamespace:
    store.tenants.create(TENANT, settings.model_dump(mode="json"))
    store.connections.save(ConnectionRecord(TENANT, "sage_accounting", b"sealed", business_id="biz"),
                           expected_version=None)
    store.cursors.set(TENANT, EXPORT_CURSOR, "2025-03-01T00:00:00+00:00")
    queue, arrivals = Queue(), Arrivals()
    deps = WorkerDeps(store=store, connector_for=lambda _t, _s: connector, jobs=queue, hooks=arrivals,
                      setup_reads=SetupReads())
    webhooks = SimpleNamespace(table=store.table, export_queue=queue, coalesce_triggers=True)

    def trigger(n: int, **fields: Any) -> None:
        """The webhook of invoice n reaching the trigger status: staged, then its export queued."""
        host.stage(document(SI, n, **fields))
        queue_trigger(TENANT, SI.value, f"INV-{n}", f"evt-{n}-{host.versions[(SI.value, f'INV-{n}')]}", webhooks)

    def work() -> list[Any]:
        """The worker takes every queued job, as SQS hands them over."""
        results = []
        while queue.sent:
            results.append(handle_export_job(queue.take(), deps))
        return results

    return SimpleNamespace(queue=queue, arrivals=arrivals, deps=deps, trigger=trigger, work=work, store=store,
                           sandbox=sandbox, books=sandbox.accountant())


def requests(sandbox: Any, since: int) -> list[tuple[str, str]]:
    return [(m, p.split("?")[0].rsplit("/v3.1/", 1)[-1]) for m, p, *_ in list(sandbox.request_log)[since:]]


def test_a_burst_of_triggers_is_one_queued_job_one_run_and_one_read_of_sages_setup(world):
    for n in range(1, 6):
        world.trigger(n)

    assert len(world.queue.sent) == 1 and world.queue.sent[0][1] == 0  # not held back
    since = len(world.sandbox.request_log)
    [result] = world.work()

    assert result.counts["created"] == 6  # five invoices and their customer
    assert sorted(i["reference"] for i in world.books.list("sales_invoices")) == [
        f"INV-{n:05d}" for n in range(1, 6)]
    asked = requests(world.sandbox, since)
    assert asked.count(("GET", "tax_rates")) == 1 and asked.count(("GET", "ledger_accounts")) == 1
    assert len(asked) <= 6 + 4  # the records, the base currency, the two setup reads, the day's listing


def test_a_trigger_arriving_while_the_run_sends_is_sent_by_that_run_not_left_for_the_schedule(world):
    world.trigger(1)
    world.trigger(2)
    world.arrivals.during.append(lambda: world.trigger(3))  # after Sage answered the first write

    results = world.work()

    assert len(results) == 1  # the third coalesced into the running job: no second job was queued
    assert sorted(i["reference"] for i in world.books.list("sales_invoices")) == [
        "INV-00001", "INV-00002", "INV-00003"]
    # The run ended with nothing waiting: the next trigger queues a job again, and it is sent.
    world.trigger(4)
    assert len(world.queue.sent) == 1
    world.work()
    assert world.books.count_by_reference("sales_invoices")["INV-00004"] == 1


def test_a_new_version_arriving_while_its_document_is_sent_is_sent_too(world):
    world.trigger(1)
    world.arrivals.during.append(lambda: world.trigger(1, lines=[line("200.00")], total=("200.00", "40.00")))

    [result] = world.work()  # the same job's second round (its result is the last round's)

    # Version 2 was decided by that run, not left for the schedule: Sage's copy brought up to it,
    # or skipped with a reason (the host is told either way).
    assert result.total == 1 and world.queue.sent == []
    entry = world.store.ledger.get(TENANT, SI.value, "INV-1")
    assert entry.payload_hash == world.store.documents.find(TENANT, SI.value, "INV-1").payload_hash


def test_a_job_that_finds_nothing_left_sends_no_sage_request(world):
    world.trigger(1)
    job = world.queue.sent[0][0]
    world.work()
    world.queue.sent.append((job, 0))  # SQS delivers the same job again
    since = len(world.sandbox.request_log)

    world.work()

    assert requests(world.sandbox, since) == []
    assert world.books.count_by_reference("sales_invoices")["INV-00001"] == 1


def test_a_queued_mark_no_job_will_clear_stops_coalescing_after_a_while(world, clock):
    world.trigger(1)
    world.queue.sent.clear()  # the job is lost (dropped, or the queue lost it)
    world.trigger(2)
    assert world.queue.sent == []  # coalesced: a job was queued moments ago
    clock.advance(seconds=STALE_AFTER.total_seconds() + 1)

    world.trigger(3)

    assert len(world.queue.sent) == 1
    world.work()
    assert sorted(i["reference"] for i in world.books.list("sales_invoices")) == [
        "INV-00001", "INV-00002", "INV-00003"]


def test_a_trigger_whose_job_could_not_be_queued_lets_the_hosts_retry_queue_one(world):
    world.queue.down = True
    with pytest.raises(ConnectionError):
        world.trigger(1)
    world.queue.down = False

    world.trigger(1)  # the host's retry

    assert len(world.queue.sent) == 1
    world.work()
    assert world.books.count_by_reference("sales_invoices")["INV-00001"] == 1


def test_a_trigger_job_that_finds_an_export_running_tries_again_in_seconds(world, store):
    world.trigger(1)
    store.leases.acquire(TENANT, "export", "someone-else", 360)

    # The lease is held: the job goes back with a short delay, not the queue's visibility timeout.
    assert handle_export_job(world.queue.take(), world.deps) is None

    [(_body, delay)] = world.queue.sent
    assert delay == LEASE_HELD_RETRY_SECONDS
    store.leases.release(TENANT, "export", "someone-else")
    world.work()
    assert world.books.count_by_reference("sales_invoices")["INV-00001"] == 1


def test_setup_reads_are_kept_between_runs_and_read_again_after_a_refused_or_skipped_document(world, sandbox):
    world.trigger(1)
    world.work()
    since = len(sandbox.request_log)
    world.trigger(2)
    world.work()
    assert [r for r in requests(sandbox, since) if r[1] in ("tax_rates", "ledger_accounts")] == []

    # The accountant hides the mapped rate in Sage: the kept list still shows it usable.
    world.books._record("tax_rates", "GB_LOWER").data["is_visible"] = False
    world.trigger(3, lines=[line("100.00", tax="R")], total=("100.00", "5.00"))
    first = world.work()[0]
    assert first.counts["created"] + first.counts["failed"] + first.counts["skipped"] == 1
    since = len(sandbox.request_log)
    world.trigger(4, lines=[line("100.00", tax="R")], total=("100.00", "5.00"))
    second = world.work()[0]
    if first.counts["created"]:  # Sage took it on the kept list: nothing to re-read for
        return
    # The run that was not clean dropped the kept lists: this one read Sage and skipped with the reason.
    assert ("GET", "tax_rates") in requests(sandbox, since)
    assert second.counts["skipped"] == 1


def test_an_operators_run_reads_sages_setup_afresh(world, sandbox, clock):
    world.trigger(1)
    world.work()
    since = len(sandbox.request_log)
    clock.advance(seconds=1)
    handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), world.deps)
    assert ("GET", "tax_rates") in requests(sandbox, since) or requests(sandbox, since) == []


def test_kept_setup_reads_expire(world, sandbox):
    world.deps.setup_reads.ttl = timedelta(0)
    world.trigger(1)
    world.work()
    since = len(sandbox.request_log)
    world.trigger(2)
    world.work()
    assert ("GET", "tax_rates") in requests(sandbox, since)
