"""HTTP plumbing the three Sage clients share: which methods are writes, which transport failures
prove nothing was sent, full-jitter backoff, `Retry-After`, the provider's request id, Decimal-exact
JSON and the token provider's shape."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

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


# ----------------------------------------------------------------------------------------------- JSON


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(json.dumps(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send a non-finite amount to Sage: {value}")
        out.append(format(value, "f"))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        # Money must never pass through float; refuse rather than silently round.
        raise TypeError("floats are not sent to Sage: use Decimal")
    elif isinstance(value, datetime):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, date):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(k)))
            out.append(":")
            _encode(v, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _encode(v, out)
        out.append("]")
    else:
        raise TypeError(f"cannot serialise {type(value).__name__} for Sage")


def dumps(value: Any) -> str:
    """JSON text with Decimal written as an exact JSON number (never through float)."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out)


def loads(text: str | bytes) -> Any:
    """JSON with every number that has a fraction read as Decimal (money stays exact)."""
    return json.loads(text, parse_float=Decimal)


# ------------------------------------------------------------------------------------------ transport


class TokenProvider(Protocol):
    """Returns a valid access token. `rejected` is the token Sage just answered 401 to: the
    provider returns a newer one (refreshing only if nobody else has already)."""

    def __call__(self, *, rejected: str | None = None) -> str: ...


__all__ = ["NOT_SENT", "WRITES", "TokenProvider", "dumps", "full_jitter_backoff", "loads", "parse_retry_after",
           "request_id"]
