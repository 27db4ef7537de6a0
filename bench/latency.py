"""A production-like latency profile for the Sage sandboxes, in virtual time.

Sage answers in a few hundred milliseconds; the in-process sandboxes answer in about one. Sleeping
for real would make a 5,000-document run take half an hour, so the latency is virtual: every request
draws a latency (uniform between the product's bounds, a seeded RNG) and moves the sandbox clock on
by it instead of sleeping. The simulated wall clock (`SimClock`) is those jumps plus our own time
(CPU time, and a production DynamoDB latency per request); the pacer and the Sage Accounting
sandbox's rate limiter run on it.

Knob: BENCH_SAGE_LATENCY_MS, e.g. "150-400" (every product), "300" (fixed), or per product
"sage_accounting=150-400,sage200=200-350". Default: 150 to 400 ms for every product (Sage publishes
no latency figure; this is the range issue 20 measured against the live APIs)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping

import httpx

from local.sandboxes.sage_accounting import SandboxClock

PRODUCTS = ("sage_accounting", "sage_intacct", "sage200", "sage_regional")
DEFAULT_MS = (150.0, 400.0)
ENV = "BENCH_SAGE_LATENCY_MS"


def _bounds(text: str) -> tuple[float, float]:
    low, _, high = text.strip().partition("-")
    bounds = (float(low), float(high or low))
    if not 0 <= bounds[0] <= bounds[1]:
        raise ValueError(f"{ENV}: {text!r} is not 'low-high' milliseconds")
    return bounds


def profile(text: str | None = None) -> dict[str, tuple[float, float]]:
    """Each product's latency bounds in milliseconds, from the knob."""
    text = os.environ.get(ENV, "") if text is None else text
    out = dict.fromkeys(PRODUCTS, DEFAULT_MS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        product, _, bounds = part.rpartition("=")
        for name in ([product] if product else PRODUCTS):
            if name not in out:
                raise ValueError(f"{ENV}: unknown product {name!r}; choose from {PRODUCTS}")
            out[name] = _bounds(bounds)
    return out


# A DynamoDB request in production (single-digit ms in the same region); DynamoDB Local's own time
# on a loaded shared machine says more about the machine than about us.
DYNAMODB_MS = 5.0


class SimClock:
    """The simulated wall clock in seconds: the sandbox clock's jumps (Sage's latency, the pacer's
    sleeps) plus our own time. Our time is this process's CPU time plus DYNAMODB_MS for each
    DynamoDB request made on the main thread (the write-behind commits' threads overlap the next
    Sage round trip, as in production), so the figures do not move with the machine's load; their
    CPU is counted in full, which errs against us."""

    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.dynamodb_calls = 0

    def count_dynamodb(self, client: object) -> None:
        def seen(**_: object) -> None:
            if threading.current_thread() is threading.main_thread():
                self.dynamodb_calls += 1
        client.meta.events.register("before-call.dynamodb", seen)  # type: ignore[attr-defined]

    def __call__(self) -> float:
        return (time.process_time() + self.dynamodb_calls * DYNAMODB_MS / 1000.0
                + self.clock.offset.total_seconds())

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.clock.advance(seconds=seconds)


class VirtualLatency(httpx.BaseTransport):
    """Every request first waits a drawn latency on the sandbox clock; keeps what it drew."""

    def __init__(self, inner: httpx.BaseTransport, clock: SandboxClock, bounds_ms: tuple[float, float],
                 *, seed: int = 20) -> None:
        self.inner, self.clock, self.bounds = inner, clock, bounds_ms
        self.rng = random.Random(seed)
        self.drawn: list[tuple[str, str, float]] = []  # (method, path, seconds)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        seconds = self.rng.uniform(*self.bounds) / 1000.0
        self.drawn.append((request.method, request.url.path, seconds))
        self.clock.advance(seconds=seconds)
        return self.inner.handle_request(request)

    def total(self, method: str | None = None, resource: str | None = None) -> float:
        return sum(s for m, p, s in self.drawn
                   if (method is None or m == method) and (resource is None or p.rstrip("/").endswith(resource)))

    def count(self, method: str | None = None, resource: str | None = None) -> int:
        return sum(1 for m, p, _ in self.drawn
                   if (method is None or m == method) and (resource is None or p.rstrip("/").endswith(resource)))


def describe(bounds: Mapping[str, tuple[float, float]]) -> str:
    return ", ".join(f"{p} {lo:.0f}-{hi:.0f} ms" for p, (lo, hi) in bounds.items())
