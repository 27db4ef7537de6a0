"""Figure 5: throughput under Sage's per-business rate limit.

The sandbox refuses more than N requests in any sliding minute per business (429 + Retry-After).
Time is virtual so minutes pass in seconds: the sandbox clock is frozen, every Sage request moves
it on by a realistic latency, and every sleep of ours (the pacer's spacing, a Retry-After) moves it
on instead of sleeping. The export worker then exports invoices of an already-live tenant for a few
virtual minutes; achieved requests per minute / N and 429s per minute are read off the sandbox's
request log. The same run without the pacer is printed for comparison."""

from __future__ import annotations

from typing import Any

import httpx

from bench.common import START, Figure, World, customer, invoice, map_customers, quiet_logs, stage
from bench.common import make_world as _make_world
from bench.pipeline import run_worker
from local.sandboxes.sage_accounting import SandboxClock
from sagebridge.connectors.sage_accounting.client import RequestPacer
from sagebridge.sync.export import EXPORT_CURSOR

LATENCY = 0.05  # virtual seconds per Sage answer


class VirtualLatency(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, clock: SandboxClock) -> None:
        self.inner, self.clock = inner, clock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.clock.advance(LATENCY)
        return self.inner.handle_request(request)


def limited_world(per_minute: int, docs: int, *, paced: bool) -> World:
    clock = SandboxClock.frozen_at(START)

    def virtual_now() -> float:
        return (clock.now() - START).total_seconds()

    def virtual_sleep(seconds: float) -> None:
        clock.advance(max(0.0, seconds))

    options: dict[str, Any] = {}
    if paced:
        options["pacer"] = RequestPacer(per_minute, clock=virtual_now, sleep=virtual_sleep)
    world = _make_world(clock=clock, sleep=virtual_sleep, **options)
    customers = [customer(i) for i in range(20)]
    map_customers(world, customers)  # before the limit is switched on: setup is not measured
    stage(world, (invoice(i, customers[i % len(customers)], embed_party=False) for i in range(docs)))
    world.store.cursors.set("acme", EXPORT_CURSOR, "2025-03-01T00:00:00+00:00")
    world.http._transport = VirtualLatency(world.http._transport, clock)
    world.sandbox.request_log.clear()
    world.sandbox.rate_limit_per_minute = per_minute
    world.extra["clock"] = clock
    return world


def measure(per_minute: int, docs: int, *, paced: bool) -> tuple[float, float, float]:
    """(achieved requests per minute, 429s per minute, virtual minutes)."""
    world = limited_world(per_minute, docs, paced=paced)
    clock: SandboxClock = world.extra["clock"]
    started = clock.now()
    _, _, _, result = run_worker(world)
    minutes = (clock.now() - started).total_seconds() / 60
    statuses = [status for *_, status in world.sandbox.request_log]
    world.close()
    assert result is not None, "no run"
    ok = sum(1 for s in statuses if s != 429)
    return ok / minutes, (len(statuses) - ok) / minutes, minutes


def run(per_minute: int = 120, docs: int = 600) -> list[Figure]:
    quiet_logs()
    rate, throttled, minutes = measure(per_minute, docs, paced=True)
    bare_rate, bare_throttled, _ = measure(per_minute, docs, paced=False)
    return [
        Figure(f"throughput under a {per_minute}/min limit", rate / per_minute, ">= 0.9",
               f"{rate:.0f} requests/min over {minutes:.1f} virtual min"),
        Figure("  429s per minute", throttled, "<= 1",
               f"without the pacer: {bare_rate / per_minute:.2f} of the limit, {bare_throttled:.1f} 429s/min"),
    ]
