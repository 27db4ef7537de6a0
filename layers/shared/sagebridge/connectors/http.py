"""HTTP plumbing the three Sage clients share: which methods are writes, which transport failures
prove nothing was sent, full-jitter backoff, `Retry-After` and the provider's request id."""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import httpx

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Failures that happen before a single byte of the request left: even a write may be retried.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def full_jitter_backoff(attempt: int, *, base: float, cap: float, jitter: Callable[[], float]) -> float:
    """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^(attempt - 1))]."""
    return jitter() * min(cap, base * 2 ** (attempt - 1))


def parse_retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = now() if now else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def request_id(response: httpx.Response, headers: Iterable[str]) -> str | None:
    """The first of `headers` the response carries (the provider's id of the request), or None."""
    return next((response.headers[h] for h in headers if h in response.headers), None)


__all__ = ["NOT_SENT", "WRITES", "full_jitter_backoff", "parse_retry_after", "request_id"]
