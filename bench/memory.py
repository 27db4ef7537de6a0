"""Figure 4: peak memory of one export run of 20,000 documents against one of 200, each in a fresh
subprocess (`python -m bench.memory --child N` prints one JSON line).

Measured as the whole process's peak resident memory (VmHWM, i.e. ru_maxrss, reset just before the
run through /proc/self/clear_refs so setup's peak does not count), which is what the goal compares
("the memory of the same process") and what a Lambda's memory size must hold. Setup streams the
staged documents (25 at a time) and a warm-up run imports everything first, so the peak is set by
the run, not by setup; the growth over the pre-run baseline is printed alongside. Not tracemalloc:
it made the 200-document run 3x slower, which would put the 20,000-document run near half an hour
(DynamoDB Local's writes already make it minutes). The sandbox keeps every invoice it is sent; the
harness empties that collection each page, so what could grow with the run is ours, not the fake
Sage's."""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
from typing import Any

import httpx

from bench.common import TENANT, Figure, World, dynamodb_endpoint, quiet_logs
from bench.pipeline import run_worker, steady_world
from local.sandboxes.sage_accounting.store import Collection

TRIM_EVERY = 100


class TrimmingTransport(httpx.BaseTransport):
    """The sandbox transport, forgetting created invoices (and its request log) every page."""

    def __init__(self, world: World) -> None:
        self.world, self.inner, self.seen = world, world.http._transport, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.seen += 1
        if self.seen % TRIM_EVERY == 0:
            box = self.world.sandbox
            with box.lock:
                business = box.business()
                business.collections["sales_invoices"] = Collection("sales_invoices")
                business.idempotency.clear()
                box.request_log.clear()
        return response


def child(n: int) -> dict[str, Any]:
    quiet_logs()
    warm = steady_world(min(20, n))
    run_worker(warm)  # imports, lazy clients, caches: paid before measuring
    warm.close()
    world = steady_world(n)
    world.http._transport = TrimmingTransport(world)
    gc.collect()
    rss_before = _rss_kb("VmRSS")
    _reset_peak()
    seconds, _, _, result = run_worker(world)
    assert result is not None and result.counts["created"] == n, result.counts if result else None
    peak = _rss_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"n": n, "maxrss_kb": peak, "baseline_kb": rss_before, "seconds": seconds, "tenant": TENANT}


def _reset_peak() -> None:
    """Reset the process's peak RSS (Linux >= 4.0: "5" > /proc/self/clear_refs), so the peak read
    after the run is the run's, not setup's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # then ru_maxrss: the peak may be setup's (the printed growth shows it)


def _rss_kb(field: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(n: int) -> dict[str, Any]:
    env = os.environ | {"BENCH_DYNAMODB_ENDPOINT": dynamodb_endpoint()}  # one engine for all children
    out = subprocess.run([sys.executable, "-m", "bench.memory", "--child", str(n)], check=True,
                         capture_output=True, text=True, env=env)
    lines = [line for line in out.stdout.splitlines() if line.startswith('{"n"')]
    return dict(json.loads(lines[-1]))


def run(small: int = 200, big: int = 20_000) -> list[Figure]:
    a, b = measure(small), measure(big)
    growth = [(m["maxrss_kb"] - m["baseline_kb"]) / 1024 for m in (a, b)]
    return [Figure(
        f"peak memory {big} docs / {small} docs", b["maxrss_kb"] / a["maxrss_kb"], "<= 1.5",
        f"ru_maxrss {a['maxrss_kb'] / 1024:.0f} MiB vs {b['maxrss_kb'] / 1024:.0f} MiB; growth during the run "
        f"{growth[0]:.1f} vs {growth[1]:.1f} MiB; {big} docs took {b['seconds']:.0f}s",
    )]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]))), flush=True)
    else:
        for figure in run():
            print(figure.line())
