"""The regional API's two published limits (README §3 and §8, S5), counted in elapsed seconds.

- ``RequestLimit``: at most ``per_minute`` requests in any sliding 60 s per (API key, company, user);
  the one over it is answered 429 and the caller is blocked for ``block_seconds`` (one hour). Sage
  warns that calling on while blocked may extend the block: with ``extend_block`` every call during
  the block starts the hour again.
- ``LoginGuard``: ``per_hour`` failed logins of one username in any sliding hour; the attempt after
  them is answered 429 and the username is blocked for ``block_seconds`` (24 hours), whatever the
  password.

Elapsed seconds are the sandbox's: real time plus every jump of the sandbox clock (a test that
advances the clock an hour lifts the block), or an injected source (``VirtualSeconds``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

REQUESTS_PER_MINUTE = 100
REQUEST_BLOCK_SECONDS = 3600
FAILED_LOGINS_PER_HOUR = 20
LOGIN_BLOCK_SECONDS = 24 * 3600
# Sage's own words (S5, https://marketplace.sage.co.za/request-limits/).
REQUEST_BLOCK_MESSAGE = ("Your IP address has exceeded the allowed number of transactions per minute and has been "
                         "blocked for 1 hour")
LOGIN_BLOCK_MESSAGE = ("Your Username has exceeded the allowed number of login attempts and has been blocked for "
                       "24 hours")


class RequestLimit:
    def __init__(self, seconds: Callable[[], float], *, per_minute: int | None = REQUESTS_PER_MINUTE,
                 block_seconds: float = REQUEST_BLOCK_SECONDS, extend_block: bool = True,
                 per_day: int | None = None) -> None:
        self.seconds = seconds
        self.per_minute, self.block_seconds, self.extend_block, self.per_day = per_minute, block_seconds, \
            extend_block, per_day
        self._minute: dict[tuple[str, ...], deque[float]] = {}
        self._day: dict[tuple[str, ...], deque[float]] = {}
        self.blocked_until: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def admit(self, caller: tuple[str, ...]) -> str | None:
        """None if the request may run (and is counted), else why it is refused (the caller is blocked)."""
        with self._lock:
            now = self.seconds()
            until = self.blocked_until.get(caller)
            if until is not None and now < until:
                if self.extend_block:
                    self.blocked_until[caller] = now + self.block_seconds
                return f"blocked until {self.blocked_until[caller] - now:.0f} s from now"
            window = self._minute.setdefault(caller, deque())
            while window and now - window[0] >= 60:
                window.popleft()
            if self.per_minute is not None and len(window) >= self.per_minute:
                self.blocked_until[caller] = now + self.block_seconds
                return f"more than {self.per_minute} requests in a minute"
            day = self._day.setdefault(caller, deque())
            while day and now - day[0] >= 86_400:
                day.popleft()
            if self.per_day is not None and len(day) >= self.per_day:
                return f"more than {self.per_day} requests in a day"
            window.append(now)
            day.append(now)
            return None


class LoginGuard:
    def __init__(self, seconds: Callable[[], float], *, per_hour: int | None = FAILED_LOGINS_PER_HOUR,
                 block_seconds: float = LOGIN_BLOCK_SECONDS) -> None:
        self.seconds = seconds
        self.per_hour, self.block_seconds = per_hour, block_seconds
        self._failures: dict[str, deque[float]] = {}
        self.blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def blocked(self, username: str) -> bool:
        with self._lock:
            until = self.blocked_until.get(username.lower())
            return until is not None and self.seconds() < until

    def failed(self, username: str) -> bool:
        """Count a failed login; True when it is one too many (the username is now blocked)."""
        with self._lock:
            now, key = self.seconds(), username.lower()
            failures = self._failures.setdefault(key, deque())
            while failures and now - failures[0] >= 3600:
                failures.popleft()
            if self.per_hour is not None and len(failures) >= self.per_hour:
                self.blocked_until[key] = now + self.block_seconds
                failures.clear()
                return True
            failures.append(now)
            return False


__all__ = ["FAILED_LOGINS_PER_HOUR", "LOGIN_BLOCK_MESSAGE", "LOGIN_BLOCK_SECONDS", "REQUESTS_PER_MINUTE",
           "REQUEST_BLOCK_MESSAGE", "REQUEST_BLOCK_SECONDS", "LoginGuard", "RequestLimit"]
