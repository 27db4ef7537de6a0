"""Injectable time for the sandbox: tests jump 31 days without sleeping."""

from __future__ import annotations

import datetime as dt
import threading
import time


class SandboxClock:
    """A UTC clock that tests can move.

    ``SandboxClock()`` follows real time (for the local stack); ``SandboxClock(start=..., frozen=True)``
    stands still until ``advance()`` is called (for tests). Either way ``advance`` jumps ahead.
    """

    def __init__(self, start: dt.datetime | None = None, *, frozen: bool = False) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._start = start or dt.datetime.now(dt.UTC)
        self._started_at = time.monotonic()
        self._offset = dt.timedelta()
        self._frozen = frozen
        self._lock = threading.Lock()

    @classmethod
    def frozen_at(cls, when: str | dt.datetime = "2025-03-03T09:00:00+00:00") -> SandboxClock:
        start = dt.datetime.fromisoformat(when) if isinstance(when, str) else when
        return cls(start=start, frozen=True)

    def now(self) -> dt.datetime:
        with self._lock:
            elapsed = dt.timedelta() if self._frozen else dt.timedelta(seconds=time.monotonic() - self._started_at)
            return self._start + elapsed + self._offset

    def today(self) -> dt.date:
        return self.now().date()

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> dt.datetime:
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        return self.now()

    @property
    def offset(self) -> dt.timedelta:
        """How far `advance()` has moved the clock (the rate limiter adds it to real time; the local stack's
        functions follow it)."""
        with self._lock:
            return self._offset


class VirtualSeconds:
    """Elapsed seconds that pass only when someone sleeps on them.

    For tests that send more than a minute's worth of requests: give the same instance to the
    sandbox's rate limiter (``rate_limit_seconds``) and to the client's pacer (``clock`` and
    ``sleep``). The pacer then waits out the sandbox's window in no real time, and the sandbox
    still refuses any request the pacer should have held back.
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)
