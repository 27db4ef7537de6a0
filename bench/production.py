"""Figures 10 to 12: the export and the payment poll at production latency (issue 20).

Sage answers with the latency profile of bench/latency.py (150 to 400 ms per request, virtual time:
the sandbox clock jumps instead of sleeping; our CPU and DynamoDB Local time count for real).

10. Documents per minute per tenant against the latency bound. Floor, measured in the same run: the
    latencies drawn for the documents' own POSTs (one Sage round trip per document, nothing else).
    Ratio = floor / the run's simulated time. Steady state (customers mapped), Sage's rate limit off;
    10b the same under Sage Accounting's 200/min limit with the pacer, against the lower of the two
    bounds (the rate limit's is 60 s / 196 requests).
11. A first export of 5,000 documents (every customer new) at 300 ms per Sage request, Sage's rate
    limit and the pacer on, in a 300 s Lambda that stops with 60 s (or 20%) left and continues in a
    new job: completed / staged, duplicates in Sage, claims left in flight, runs, and the longest
    invocation / its timeout (killed if over 1).
12. A busy payment poll: many exported invoices, many new receipts (one per invoice). Sage requests
    / (list pages + 1), DynamoDB requests per payment, SQS requests per event (SendMessageBatch)."""

from __future__ import annotations

import time
from typing import Any

from bench.common import TENANT, Figure, World, customer, invoice, make_world, map_customers, quiet_logs, stage
from bench.latency import SimClock, VirtualLatency, profile
from local.sandboxes.sage_accounting import SandboxClock
from sagebridge.connectors.sage_accounting.client import RequestPacer
from sagebridge.connectors.sage_accounting.feed import SageAccountingFeed
from sagebridge.domain.runs import RunTrigger
from sagebridge.host.jobs import ExportJob
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.store import LedgerState, RunStatus
from sagebridge.sync.export import EXPORT_CURSOR, ExportEngine, ExportRequest
from sagebridge.sync.export.deadline import Deadline
from sagebridge.sync.payments import poll_payments
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

SAGE_PER_MINUTE = 200  # Sage Accounting's documented limit per business (the template's default)


def latency_world(bounds_ms: tuple[float, float], *, limited: bool, customers: int = 0) -> World:
    """A tenant whose Sage answers with `bounds_ms` latency on a simulated clock; `limited`: Sage's
    200/min limit on and the client's pacer (as deployed) on that clock."""
    clock = SandboxClock.frozen_at()
    sim = SimClock(clock)
    options: dict[str, Any] = {}
    if limited:
        options["pacer"] = RequestPacer(SAGE_PER_MINUTE, clock=sim, sleep=sim.sleep)
    world = make_world(clock=clock, sleep=sim.sleep, rate_limit_per_minute=None, **options)
    world.sandbox.limits.seconds = sim  # Sage's minute runs on the simulated clock too
    sim.count_dynamodb(world.client)
    if customers:
        map_customers(world, [customer(i) for i in range(customers)])  # setup: no latency, no limit
    world.http._transport = latency = VirtualLatency(world.http._transport, clock, bounds_ms)
    if limited:
        world.sandbox.rate_limit_per_minute = SAGE_PER_MINUTE
    world.extra.update(clock=clock, sim=sim, latency=latency)
    return world


# ----------------------------------------------------------------------------- 10: per-tenant rate


def tenant_rate(docs: int, *, limited: bool, customers: int = 20) -> tuple[float, float, str]:
    """(floor seconds, simulated seconds, detail) of a steady-state export of `docs` invoices."""
    bounds = profile()["sage_accounting"]
    world = latency_world(bounds, limited=limited, customers=customers)
    stage(world, (invoice(i, customer(i % customers), embed_party=False) for i in range(docs)))
    world.store.cursors.set(TENANT, EXPORT_CURSOR, "2025-03-01T00:00:00+00:00")
    sim: SimClock = world.extra["sim"]
    latency: VirtualLatency = world.extra["latency"]
    started = sim()
    result = ExportEngine(store=world.store, connector=world.connector, settings=world.settings).run(
        ExportRequest(tenant_id=TENANT, triggered_by=RunTrigger.OPERATOR))
    took = sim() - started
    world.close()
    assert result.counts["created"] == docs, result.counts
    floor = latency.total("POST", "sales_invoices")
    if limited:  # the rate limit's own bound: 196 starts (2% headroom) per 61 s
        floor = max(floor, docs / (SAGE_PER_MINUTE * 0.98) * 61.0)
    detail = (f"{docs / took * 60:.0f} docs/min over {took:.0f} simulated s; bound {docs / floor * 60:.0f}/min; "
              f"{len(latency.drawn)} Sage requests, {bounds[0]:.0f}-{bounds[1]:.0f} ms")
    return floor, took, detail


# --------------------------------------------------------------------------- 11: a first export


class JobQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], int]] = []

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.sent.append((body, delay_seconds))
        return str(len(self.sent))


def first_export(docs: int, *, timeout: float, customers: int) -> dict[str, Any]:
    """Every invocation of a first export at 300 ms per request until it is done."""
    world = latency_world((300.0, 300.0), limited=True)
    stage(world, (invoice(i, customer(i % customers), embed_party=True) for i in range(docs)))
    sim: SimClock = world.extra["sim"]
    queue = JobQueue()
    deps = WorkerDeps(store=world.store, connector_for=lambda _t, _s: world.connector, jobs=queue)
    job: ExportJob | None = ExportJob(tenant_id=TENANT, trigger="schedule")
    invocations: list[float] = []
    run_ids: set[str] = set()
    real = time.perf_counter()
    while job is not None and len(invocations) < 200:
        started = sim()
        deadline = Deadline.of_invocation(lambda s=started: int((timeout - (sim() - s)) * 1000))  # type: ignore[misc]
        result = handle_export_job(job, deps, deadline=deadline)
        invocations.append(sim() - started)
        if result is not None:
            run_ids.add(result.run_id)
        job = None
        if queue.sent:
            body, delay = queue.sent.pop(0)
            sim.sleep(delay + 1.0)  # waiting in the queue is not billed
            job = ExportJob.model_validate(body)
    references = world.sandbox.accountant().count_by_reference("sales_invoices")
    runs = list(world.store.runs.newest(TENANT))
    out = {
        "exported": sum(1 for r in references if r), "duplicates": sum(n - 1 for n in references.values() if n > 1),
        "in_flight": len(list(world.store.ledger.list_by_state(TENANT, LedgerState.IN_FLIGHT))),
        "runs": len(run_ids), "succeeded": [r.status for r in runs] == [RunStatus.SUCCEEDED],
        "invocations": invocations, "real": time.perf_counter() - real, "sage": world.sage_requests,
    }
    world.close()
    return out


# ------------------------------------------------------------------------------- 12: a busy poll


class CountingQueue:
    """The delivery queue: one request per send, one per SendMessageBatch of up to 10."""

    def __init__(self) -> None:
        self.requests = 0
        self.events = 0

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.requests += 1
        self.events += 1
        return str(self.events)

    def send_batch(self, bodies: list[dict[str, Any]]) -> None:
        self.requests += -(-len(bodies) // 10)
        self.events += len(bodies)


def busy_poll(invoices: int, receipts: int, customers: int = 20) -> dict[str, Any]:
    world = latency_world(profile()["sage_accounting"], limited=False, customers=customers)
    clock: SandboxClock = world.extra["clock"]
    stage(world, (invoice(i, customer(i % customers), embed_party=False) for i in range(invoices)))
    world.store.cursors.set(TENANT, EXPORT_CURSOR, "2025-03-01T00:00:00+00:00")
    ExportEngine(store=world.store, connector=world.connector, settings=world.settings).run(
        ExportRequest(tenant_id=TENANT, triggered_by=RunTrigger.OPERATOR))
    feed = SageAccountingFeed(world.connector.client)
    queue = CountingQueue()
    outbox = DeliveryOutbox(queue, world.store.deliveries)
    poll_payments(TENANT, feed=feed, store=world.store, outbox=outbox, clock=clock.now)  # the quiet poll before
    clock.advance(minutes=5)
    acct = world.sandbox.accountant()
    for i in range(receipts):
        acct.record_customer_payment(world.store.mappings.get(TENANT, "sales_invoice", f"INV-{i}").sage_id, "50.00")
    clock.advance(minutes=10)
    world.connector.client._token(rejected="expired")  # a refresh is the connection service's, not the poll's
    sage0, queue.requests, queue.events = world.sage_requests, 0, 0
    world.counter.reset()
    report = poll_payments(TENANT, feed=feed, store=world.store, outbox=outbox, clock=clock.now)
    log = list(world.sandbox.request_log)[sage0:]
    out = {
        "sage": len(log), "list_pages": sum(1 for m, p, *_ in log if m == "GET" and p.count("/") == 2),
        "dynamodb": world.counter.total, "dynamodb_calls": dict(world.counter.calls), "sqs": queue.requests,
        "events": queue.events, "payments": report.payments_delivered,
    }
    world.close()
    return out


def run(docs: int = 400, first_docs: int = 5000, timeout: float = 300.0, invoices: int = 1000,
        receipts: int = 300, customers: int = 20) -> list[Figure]:
    quiet_logs()
    figures = []
    floor, took, detail = tenant_rate(docs, limited=False, customers=customers)
    figures.append(Figure("10 export docs/min / latency bound", floor / took, ">= 0.95", detail))
    floor, took, detail = tenant_rate(docs, limited=True, customers=customers)
    figures.append(Figure("10b the same / min(latency, 200/min) bound", floor / took, ">= 0.95", detail))

    first = first_export(first_docs, timeout=timeout, customers=max(1, first_docs // 20))
    longest = max(first["invocations"])
    figures += [
        Figure(f"11 first export of {first_docs}: exported / staged", first["exported"] / first_docs, "== 1",
               f"{len(first['invocations'])} invocations, {first['sage']} Sage requests, "
               f"{sum(first['invocations']) / 60:.1f} simulated min, {first['real']:.0f} s real"),
        Figure("11   duplicates in Sage", first["duplicates"], "== 0"),
        Figure("11   claims left in flight", first["in_flight"], "== 0"),
        Figure("11   runs (one run id, succeeded)", first["runs"] if first["succeeded"] else 99, "== 1"),
        Figure("11   longest invocation / timeout", longest / timeout, "<= 1",
               f"{longest:.0f} s of {timeout:.0f} s"),
    ]

    poll = busy_poll(invoices, receipts, customers)
    figures += [
        Figure(f"12 busy poll ({invoices}/{receipts}): Sage / (pages+1)", poll["sage"] / (poll["list_pages"] + 1),
               "<= 1", f"{poll['sage']} requests, {poll['list_pages']} list pages (was {receipts + 5})"),
        Figure("12   DynamoDB requests per payment", poll["dynamodb"] / max(1, poll["payments"]), "<= 1.5",
               f"{poll['dynamodb']} for {poll['payments']} payments: {poll['dynamodb_calls']}"),
        Figure("12   SQS requests per event", poll["sqs"] / max(1, poll["events"]), "<= 0.15",
               f"{poll['sqs']} for {poll['events']} events"),
    ]
    return figures
