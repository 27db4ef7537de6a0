"""Client-side pacing the Sage clients share: a sliding-window pacer per rate-limited allowance (a
Sage Accounting business, a Sage 200 subscription key), held whole by a 429."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RequestPacer:
    """Client-side pacing for one Sage business: at most `per_minute` x `headroom` requests start in
    any sliding `window` seconds, so a run never trips Sage's per-business rate limit instead of
    learning it from 429s (each one costs a wait and, for a write, an attempt). A sliding window,
    as Sage counts: a burst under the limit starts at once, and only the request that would be one
    too many in the last minute waits for the oldest to leave it. `headroom` (2%) and a window one
    second longer than Sage's keep a little under the limit for clock and latency jitter between us
    and Sage. A 429 still happens if someone else uses the same business; `pause` then holds every
    request of this pacer. Thread-safe; share one per business (`pacer_for`)."""

    def __init__(self, per_minute: float, *, headroom: float = 0.98, window: float = 61.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.per_minute = per_minute
        self.limit = max(1, int(per_minute * headroom))  # starts allowed in any window
        self.window = window
        self._clock, self._sleep = clock, sleep
        self._starts: deque[float] = deque()  # reserved start times of the last window, oldest first
        self._held_until: float | None = None  # a 429 holds the business until then
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            while self._starts and self._starts[0] <= now - self.window:
                self._starts.popleft()
            start = now if self._held_until is None else max(now, self._held_until)
            if self._starts:
                start = max(start, self._starts[-1])  # first come, first served
            if len(self._starts) >= self.limit:
                start = max(start, self._starts[-self.limit] + self.window)
            self._starts.append(start)
        if start > now:
            self._sleep(start - now)

    def delay(self) -> float:
        """How long a request starting now would wait (0: none), reserving nothing: a caller that
        would rather not sleep that long (an export run near its deadline) asks first."""
        with self._lock:
            now = self._clock()
            start = now if self._held_until is None else max(now, self._held_until)
            recent = [s for s in self._starts if s > now - self.window]
            if recent:
                start = max(start, recent[-1])
            if len(recent) >= self.limit:
                start = max(start, recent[-self.limit] + self.window)
            return max(0.0, start - now)

    def pause(self, seconds: float) -> None:
        with self._lock:
            resume = self._clock() + seconds
            self._held_until = resume if self._held_until is None else max(self._held_until, resume)


_pacers: dict[tuple[str, float], RequestPacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(business_id: str, per_minute: float) -> RequestPacer:
    """The container's pacer of a business: every client of that business shares its minute."""
    with _pacers_lock:
        key = (business_id, float(per_minute))
        if key not in _pacers:
            _pacers[key] = RequestPacer(per_minute)
        return _pacers[key]


__all__ = ["RequestPacer", "pacer_for"]
