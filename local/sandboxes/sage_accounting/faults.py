"""Fault injection and rate limiting, switched per test through ``sandbox.faults``.

Kinds:
    latency            sleep ``seconds`` before answering
    error              answer ``status`` (500/503...) with Sage's error array, nothing is written
    error_after_commit process the request (the write is committed), then answer ``status``
                       (500/502/503/504) with the sandbox's error body instead of the record, as a
                       gateway or the application does when it fails after the commit
    rate_limit         answer 429 (a "429 storm" is ``times=N``); without ``Retry-After``, as Sage
                       documents none, unless the fault gives ``retry_after`` or the sandbox's
                       ``retry_after_header`` knob is on
    drop_after_commit  process the request (the write is committed), then lose the answer:
                       in process (httpx.ASGITransport) the app raises ``exception``, by default
                       ``httpx.ReadTimeout``, which httpx hands to the client unchanged, so the
                       client sees exactly what a read timeout after a committed write looks like;
                       under uvicorn the status line goes out and the connection is cut, so the
                       client sees ``httpx.RemoteProtocolError`` (also an ``httpx.TransportError``).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from ..limits import CONCURRENCY, RATE
from .clock import SandboxClock

if TYPE_CHECKING:
    from ..chaos import Chaos

KINDS = ("latency", "error", "rate_limit", "drop_after_commit", "error_after_commit")
# The kinds that decide the answer: at most one of them fires per request.
ANSWERING = frozenset({"error", "rate_limit", "drop_after_commit", "error_after_commit"})


def _dropped_connection() -> BaseException:
    return httpx.ReadTimeout("sandbox: the answer was lost after the write was committed")


@dataclass(eq=False)
class Fault:
    kind: str
    times: int | None = 1  # None: until removed
    method: str | None = None  # e.g. "POST"
    path: str | None = None  # prefix, relative to /v3.1 ("/sales_invoices") or absolute ("/token")
    business_id: str | None = None
    status: int = 500
    seconds: float = 0.0
    retry_after: int | None = None  # rate_limit: the Retry-After to send (None: no header)
    exception: type[BaseException] | None = None  # drop_after_commit; default httpx.ReadTimeout
    fired: int = 0
    _remaining: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {KINDS}")
        self._remaining = self.times

    def matches(self, method: str, path: str, business_id: str | None) -> bool:
        if self._remaining == 0:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        if self.business_id and self.business_id != business_id:
            return False
        if self.path:
            relative = path[len("/v3.1"):] if path.startswith("/v3.1") else path
            if not (relative.startswith(self.path) or path.startswith(self.path)):
                return False
        return True

    def fire(self) -> None:
        self.fired += 1
        if self._remaining is not None:
            self._remaining -= 1

    @property
    def exhausted(self) -> bool:
        return self._remaining == 0

    def make_exception(self) -> BaseException:
        return self.exception("sandbox: connection dropped after commit") if self.exception else _dropped_connection()


class Faults:
    """``sandbox.faults``: add faults, they fire on matching requests in the order added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        # The chaos profile (local/sandboxes/chaos.py): a random after-commit fault for a write that
        # no added fault answers. None: the realistic profile.
        self.chaos: Chaos | None = None

    def add(self, fault: Fault | None = None, /, **kwargs: object) -> Fault:
        fault = fault or Fault(**kwargs)  # type: ignore[arg-type]
        with self._lock:
            self._faults.append(fault)
        return fault

    def latency(self, seconds: float, *, times: int | None = None, **match: object) -> Fault:
        return self.add(Fault("latency", seconds=seconds, times=times, **match))  # type: ignore[arg-type]

    def error(self, status: int = 500, *, times: int | None = 1, **match: object) -> Fault:
        return self.add(Fault("error", status=status, times=times, **match))  # type: ignore[arg-type]

    def rate_limit_storm(self, *, times: int | None = 5, retry_after: int | None = None, **match: object) -> Fault:
        return self.add(Fault("rate_limit", times=times, retry_after=retry_after, **match))  # type: ignore[arg-type]

    def drop_after_commit(self, *, times: int | None = 1, exception: type[BaseException] | None = None,
                          **match: object) -> Fault:
        return self.add(Fault("drop_after_commit", times=times, exception=exception, **match))  # type: ignore[arg-type]

    def error_after_commit(self, status: int = 503, *, times: int | None = 1, **match: object) -> Fault:
        return self.add(Fault("error_after_commit", status=status, times=times, **match))  # type: ignore[arg-type]

    def clear(self) -> None:
        """Remove the faults added (the chaos profile's random faults are not added: see ``chaos``)."""
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        return sum(1 for f in self._faults if not f.exhausted)

    def take(self, method: str, path: str, business_id: str | None, *, write: bool | None = None) -> list[Fault]:
        """The faults that fire for this request (at most one of each kind), counted as fired."""
        fired: list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if any(f.kind == fault.kind for f in fired) or not fault.matches(method, path, business_id):
                    continue
                fault.fire()
                fired.append(fault)
            self._faults = [f for f in self._faults if not f.exhausted]
        if self.chaos is not None and not any(f.kind in ANSWERING for f in fired):
            is_write = method.upper() in ("POST", "PUT", "PATCH", "DELETE") if write is None else write
            chance = self.chaos.after_commit_fault(is_write, business_id)
            if chance is not None:
                fired.append(chance)
        return fired


class RateLimiter:
    """Requests per minute per business (a sliding window on the sandbox clock)."""

    def __init__(self, clock: SandboxClock, per_minute: int | None = None) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self._seen: dict[str, deque[dt.datetime]] = {}

    def check(self, business_id: str) -> int | None:
        """None if allowed (and counted), else the seconds to wait."""
        if not self.per_minute:
            return None
        now = self.clock.now()
        window = self._seen.setdefault(business_id, deque())
        while window and (now - window[0]).total_seconds() >= 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return max(1, math.ceil(60 - (now - window[0]).total_seconds()))
        window.append(now)
        return None


# Sage Accounting's published limits (../shared/specs/README.md, "Limits"; FIDELITY.md cites them).
REQUESTS_PER_MINUTE_PER_BUSINESS = 200  # v3.0's documented figure: the conservative default for v3.1
CONCURRENT_REQUESTS_PER_APP = 150
REQUESTS_PER_DAY_PER_APP = 1_296_000


@dataclass(frozen=True)
class Refusal:
    limit: str  # limits.RATE or limits.CONCURRENCY
    detail: str
    retry_after: int  # seconds until the request would be admitted (sent only if the knob is on)


class AppLimits:
    """Sage Accounting's rate limits, counted in elapsed time rather than on the sandbox clock.

    Tests freeze the sandbox clock, so a window on it would never empty; ``seconds`` is real
    monotonic time plus however far the sandbox clock has been advanced (a test that jumps a minute
    empties the window, as the minute would have passed at Sage). Tests of the limiter pass their
    own ``seconds``. Per business: ``per_minute`` requests in any sliding 60 s; per app (every
    business): ``concurrent`` requests in flight and ``per_day`` requests in a sliding 24 h (counted
    in one-minute buckets). ``None`` switches a limit off. A request refused for the minute still
    counts towards it; nothing refused counts towards the day.
    """

    def __init__(self, seconds: Callable[[], float], *, per_minute: int | None = REQUESTS_PER_MINUTE_PER_BUSINESS,
                 concurrent: int | None = CONCURRENT_REQUESTS_PER_APP,
                 per_day: int | None = REQUESTS_PER_DAY_PER_APP) -> None:
        self.seconds = seconds
        self.per_minute, self.concurrent, self.per_day = per_minute, concurrent, per_day
        self.in_flight = 0
        self._minute: dict[str, deque[float]] = {}
        self._day: deque[list[float]] = deque()  # [minute start, count], oldest first
        self._day_total = 0
        self._lock = threading.Lock()

    def enter(self) -> Refusal | None:
        """A request arrives: None if it may run (then ``leave`` when it ends), else the refusal."""
        with self._lock:
            if self.concurrent is not None and self.in_flight >= self.concurrent:
                detail = f"{self.in_flight} requests in flight (at most {self.concurrent} per app)"
                return Refusal(CONCURRENCY, detail, 1)
            self.in_flight += 1
            return None

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def admit(self, business_id: str) -> Refusal | None:
        """Count one request of an authorised business, or refuse it (nothing counted)."""
        with self._lock:
            now = self.seconds()
            window = self._minute.setdefault(business_id, deque())
            while window and now - window[0] >= 60:
                window.popleft()
            while self._day and now - self._day[0][0] >= 86_400:
                self._day_total -= int(self._day.popleft()[1])
            if self.per_minute is not None and len(window) >= self.per_minute:
                wait = max(1, math.ceil(60 - (now - window[0])))
                # A refused call still counts towards the minute (Sage does not say it is free: the
                # stricter reading, so a client that retries faster than the limit stays refused).
                window.append(now)
                return Refusal(RATE, f"{len(window)} requests in the last minute for business {business_id} "
                                     f"(at most {self.per_minute})", wait)
            if self.per_day is not None and self._day_total >= self.per_day:
                wait = max(1, math.ceil(86_400 - (now - self._day[0][0])))
                detail = f"{self._day_total} requests in the last 24 hours (at most {self.per_day} per app)"
                return Refusal(RATE, detail, wait)
            window.append(now)
            if not self._day or now - self._day[-1][0] >= 60:
                self._day.append([now, 0])
            self._day[-1][1] += 1
            self._day_total += 1
            return None
