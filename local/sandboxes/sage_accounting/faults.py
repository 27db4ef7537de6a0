"""Fault injection and rate limiting, switched per test through ``sandbox.faults``.

Kinds:
    latency            sleep ``seconds`` before answering
    error              answer ``status`` (500/503...) with Sage's error array, nothing is written
    error_after_commit process the request (the write is committed), then answer ``status``
                       (500/502/503/504) with the sandbox's error body instead of the record, as a
                       gateway or the application does when it fails after the commit
    rate_limit         answer 429 with ``Retry-After`` (a "429 storm" is ``times=N``)
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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

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
    retry_after: int = 1
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

    def rate_limit_storm(self, *, times: int | None = 5, retry_after: int = 1, **match: object) -> Fault:
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
