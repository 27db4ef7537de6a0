"""Figure 13: the real-time path (the default trigger status) at production latency.

A burst of N invoices reaches the trigger status through the webhooks' enqueue path (one every
`gap` simulated seconds, arriving while runs are going: each Sage answer lets the arrivals due by
then in). One worker takes the export jobs in the order they become visible, as the lease makes it
for one tenant. Sage answers with bench/latency.py's profile on a simulated clock, rate limit off
(as figure 10). Every sixth invoice has a customer Sage has not seen (a contact is created).

Before: one job per trigger, each run reading Sage's setup (tax rates, ledger accounts) again.
After: triggers coalesce into the tenant's queued job (host/triggers.py), setup reads are kept per
container (sync/setup_reads.py).

Figures: Sage requests per record written (documents + contacts) in the burst, before and after;
documents per minute against the latency bound (the drawn latencies of the documents' own POSTs,
as figure 10); what a single trigger costs (cold container, and warm)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bench.common import TENANT, Figure, customer, invoice, quiet_logs, stage
from bench.latency import SimClock, VirtualLatency, profile
from bench.production import JobQueue, latency_world
from sagebridge.host.jobs import ExportJob
from sagebridge.host.webhooks import queue_trigger
from sagebridge.sync.currency import BusinessCurrencies
from sagebridge.sync.export import EXPORT_CURSOR
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job
from sagebridge.sync.setup_reads import SetupReads


class _Arrivals:
    """The host's webhooks, due at simulated times; `after_sage_call` lets in those due by now."""

    def __init__(self, world: Any, sim: SimClock, queue: JobQueue, docs: int, gap: float, *, coalesce: bool) -> None:
        self.world, self.sim, self.queue = world, sim, queue
        start = sim()
        self.due = [(start + i * gap, invoice(i, customer(i // 6 if i % 6 == 0 else 0), embed_party=True))
                    for i in range(docs)]
        self.visible: list[float] = []  # when each queued job may be taken
        self.webhooks = SimpleNamespace(table=world.store.table, export_queue=self, coalesce_triggers=coalesce)
        self.elsewhere = 0.0  # our time spent being the host and the webhooks function (other Lambdas)

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.visible.append(self.sim() - self.elsewhere + delay_seconds)
        return self.queue.send(body, delay_seconds=delay_seconds)

    def let_in(self) -> None:
        while self.due and self.due[0][0] <= self.sim() - self.elsewhere:
            before = self.sim()
            _at, record = self.due.pop(0)
            stage(self.world, [record])
            queue_trigger(TENANT, "sales_invoice", record.host_id, f"evt-{record.host_id}", self.webhooks)
            self.elsewhere += self.sim() - before

    def after_sage_call(self, kind: str, host_id: str, remote: Any) -> None:
        self.let_in()


def burst(docs: int, gap: float, *, after: bool) -> dict[str, Any]:
    world = latency_world(profile()["sage_accounting"], limited=False, customers=1)
    world.store.cursors.set(TENANT, EXPORT_CURSOR, "2025-03-01T00:00:00+00:00")
    sim: SimClock = world.extra["sim"]
    latency: VirtualLatency = world.extra["latency"]
    queue = JobQueue()
    arrivals = _Arrivals(world, sim, queue, docs, gap, coalesce=after)
    currencies = BusinessCurrencies()  # cached per container, before and after
    deps = WorkerDeps(store=world.store, connector_for=lambda _t, _s: world.connector, jobs=arrivals,
                      business_currency_for=lambda t, c: currencies.currency_for(t, c, None), hooks=arrivals,
                      setup_reads=SetupReads(clock=sim) if after else None)
    sage0, started = world.sage_requests, sim()
    runs = 0
    while arrivals.due or queue.sent:
        arrivals.let_in()
        if not queue.sent:
            sim.sleep(max(0.0, arrivals.due[0][0] - (sim() - arrivals.elsewhere)))
            continue
        sim.sleep(max(0.0, arrivals.visible[0] - (sim() - arrivals.elsewhere)))
        body, _delay = queue.sent.pop(0)
        arrivals.visible.pop(0)
        if handle_export_job(ExportJob.model_validate(body), deps) is not None:
            runs += 1
    took = sim() - arrivals.elsewhere - started
    log = list(world.sandbox.request_log)[sage0:]
    written = sum(1 for m, _p, _b, status in log if m in ("POST", "PUT") and 200 <= status < 300)
    references = world.sandbox.accountant().count_by_reference("sales_invoices")
    out = {"sage": world.sage_requests - sage0, "written": written, "runs": runs, "took": took,
           "floor": latency.total("POST"),  # one round trip per record written (documents and contacts)
           "exported": sum(1 for r in references if r), "duplicates": sum(n - 1 for n in references.values() if n > 1)}
    world.close()
    return out


def batched(docs: int) -> dict[str, Any]:
    """The same records staged at once and sent by one operator's run (a batched run, as figure 10)."""
    world = latency_world(profile()["sage_accounting"], limited=False, customers=1)
    world.store.cursors.set(TENANT, EXPORT_CURSOR, "2025-03-01T00:00:00+00:00")
    sim: SimClock = world.extra["sim"]
    latency: VirtualLatency = world.extra["latency"]
    stage(world, (invoice(i, customer(i // 6 if i % 6 == 0 else 0), embed_party=True) for i in range(docs)))
    deps = WorkerDeps(store=world.store, connector_for=lambda _t, _s: world.connector)
    started = sim()
    handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), deps)
    out = {"took": sim() - started, "floor": latency.total("POST"), "sage": world.sage_requests}
    world.close()
    return out


def single(warm: bool) -> int:
    """Sage requests of one triggered invoice whose customer is mapped (cold container, or warm)."""
    world = latency_world((150.0, 150.0), limited=False, customers=1)
    world.store.cursors.set(TENANT, EXPORT_CURSOR, "2025-03-01T00:00:00+00:00")
    queue = JobQueue()
    currencies = BusinessCurrencies()
    deps = WorkerDeps(store=world.store, connector_for=lambda _t, _s: world.connector, jobs=queue,
                      business_currency_for=lambda t, c: currencies.currency_for(t, c, None),
                      setup_reads=SetupReads())
    webhooks = SimpleNamespace(table=world.store.table, export_queue=queue, coalesce_triggers=True)
    count = 0
    for n in range(2 if warm else 1):
        record = invoice(n, customer(0), embed_party=False)
        stage(world, [record])
        queue_trigger(TENANT, "sales_invoice", record.host_id, f"evt-{n}", webhooks)
        sage0 = world.sage_requests
        while queue.sent:
            handle_export_job(ExportJob.model_validate(queue.sent.pop(0)[0]), deps)
        count = world.sage_requests - sage0
    world.close()
    return count


def run(docs: int = 248, gap: float = 0.1) -> list[Figure]:
    quiet_logs()
    before = burst(docs, gap, after=False)
    after = burst(docs, gap, after=True)
    per_before = before["sage"] / max(1, before["written"])
    per_after = after["sage"] / max(1, after["written"])
    cold, warm = single(warm=False), single(warm=True)
    batch = batched(docs)

    def rate(r: dict[str, Any]) -> str:
        return f"{docs / r['took'] * 60:.0f} docs/min, bound {docs / r['floor'] * 60:.0f}/min"

    return [
        Figure(f"13 burst of {docs} triggers: Sage requests / record, before", per_before, ">= 0",
               f"{before['sage']} for {before['written']} records, {before['runs']} jobs; {rate(before)}"),
        Figure("13   Sage requests / record, after", per_after, "<= 1.1",
               f"{after['sage']} for {after['written']} records, {after['runs']} jobs; {rate(after)}"),
        Figure("13   docs/min / latency bound, after", after["floor"] / after["took"], ">= 0.95",
               f"before {before['floor'] / before['took']:.2f}; a batched run of the same records "
               f"{batch['floor'] / batch['took']:.2f} ({docs / batch['took'] * 60:.0f} docs/min)"),
        Figure("13   docs/min, after / a batched run's", batch["took"] / after["took"], ">= 0.95",
               f"before {batch['took'] / before['took']:.2f}"),
        Figure("13   exported once each (after)", after["exported"] / docs if not after["duplicates"] else 0, "== 1",
               f"{after['duplicates']} duplicates"),
        Figure("13   single trigger: Sage requests (cold / warm container)", warm, "<= 2",
               f"cold {cold}: currency, tax rates, ledger accounts, the day's listing, the POST; warm {warm}"),
    ]
