"""HTTP plumbing the Sage clients share: which methods are writes, which transport failures prove
nothing was sent, full-jitter backoff, `Retry-After`, the provider's request id, Decimal-exact JSON,
and `Transport`, the one request loop of the REST products (Sage Accounting, Sage 200).

The retry policy `Transport` holds (why it is safe; exactly-once depends on it):
- GET: retried with exponential backoff and full jitter on 429, 5xx and transport errors.
- POST/PUT/PATCH/DELETE: retried only when Sage provably did not process the request: a 429
  *response* (the rate limiter refuses before the request reaches the application) or a failure to
  connect (nothing was sent). Any other failure after the request may have been sent (read timeout,
  dropped connection, 500/502/503/504) raises `UncertainWrite`: the caller must look the record up
  before sending it again. A 503 is among them: it may come from a gateway after the application
  committed the write. Never a blind resend.
- 401: the token provider is asked for a fresh token once and the request repeated once.
- A 429 waits as long as it asks (`Retry-After`, or what the product reads from it), else the
  product's own wait; a wait longer than `max_retry_after` is not slept through but raised as
  `RateLimited` so the job can be rescheduled instead of holding a Lambda. A wait that is honoured
  also pauses the pacer, so every request sharing the allowance holds, not just this one.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol, TypedDict
from urllib.parse import urlsplit

import httpx

from sagebridge.connectors.base import SageError, SageUnavailable, UncertainWrite
from sagebridge.observability import logger, metrics

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Failures that happen before a single byte of the request left: even a write may be retried.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# The per-request log line: a read answered well and in time at debug (reads are most requests and
# nobody reads their lines); a write at info, because it is the call that changed the books and the
# line an operator follows by correlation id from the webhook (docs/operations.md); an error answer
# at info, a slow one at warning. Errors and retries have their own lines and the sync log besides.
SLOW_REQUEST_MS = 2000.0
_LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning"}


def request_log_level(status: int, ms: float, *, write: bool = False) -> int:
    if ms >= SLOW_REQUEST_MS:
        return logging.WARNING
    return logging.INFO if status >= 400 or write else logging.DEBUG


def log_at(level: int, event: str, fields: dict[str, Any]) -> None:
    getattr(logger, _LEVELS[level])(event, extra=fields)


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


def error_entries(response: httpx.Response) -> list[Mapping[str, Any]]:
    """An error body's JSON objects: the object, or those of an array; none when it is not JSON."""
    try:
        body = loads(response.content) if response.content else None
    except ValueError:
        return []
    if isinstance(body, Mapping):
        return [body]
    return [e for e in body if isinstance(e, Mapping)] if isinstance(body, list) else []


def retry_after_of(response: httpx.Response) -> float | None:
    """The wait a response's `Retry-After` header asks for, or None."""
    return parse_retry_after(response.headers.get("retry-after"))


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


class Pacer(Protocol):
    """What the transport needs of a pacer (`pacing.RequestPacer`)."""

    def wait(self) -> None: ...

    def pause(self, seconds: float) -> None: ...


class RetryOptions(TypedDict, total=False):
    """The policy's knobs a client passes through to its `Transport` (defaults: `Transport`'s)."""

    max_attempts: int
    backoff_base: float
    backoff_cap: float
    max_retry_after: float
    sleep: Callable[[float], None]
    jitter: Callable[[], float]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Transport:
    """The retry policy of this module, once, for every REST product. What differs by product comes
    in as data and small callables: `read_error` (an error response as a typed `SageError`),
    `request_id_headers` (where the product puts its id of a request, for the logs),
    `authenticate` (the headers a token becomes), `throttle_pause` (how long a 429 asks to wait;
    None when it does not say), `throttle_wait` (the product's wait, by attempt, for a 429 that
    does not say), the pacer and the attempts, backoff, sleep and jitter (tests drive time)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        token_provider: TokenProvider,
        read_error: Callable[[httpx.Response], SageError],
        request_id_headers: Iterable[str],
        throttle_wait: Callable[[int], float],
        authenticate: Callable[[str], Mapping[str, str]] = bearer,
        throttle_pause: Callable[[httpx.Response], float | None] = retry_after_of,
        pacer: Pacer | None = None,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.http = http
        self.token_provider = token_provider
        self.read_error = read_error
        self.request_id_headers = tuple(request_id_headers)
        self.throttle_wait = throttle_wait
        self.authenticate = authenticate
        self.throttle_pause = throttle_pause
        self.pacer = pacer
        self.max_attempts = max(1, max_attempts)
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.max_retry_after = max_retry_after
        self.sleep, self.jitter = sleep, jitter

    def _backoff(self, attempt: int) -> float:
        return full_jitter_backoff(attempt, base=self.backoff_base, cap=self.backoff_cap, jitter=self.jitter)

    def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                headers: Mapping[str, str] | None = None) -> Any:
        """One API call under the policy; the parsed JSON (Decimal money) or None. `headers` are
        the call's own (which business or company it is for)."""
        method = method.upper()
        is_write = method in WRITES
        path = urlsplit(url).path
        content = dumps(body).encode() if body is not None else None
        refreshed, token, attempt = False, None, 0
        while True:
            attempt += 1
            token = token or self.token_provider()
            sent_headers = {**self.authenticate(token), "Accept": "application/json", **(headers or {})}
            if content is not None:
                sent_headers["Content-Type"] = "application/json"
            if self.pacer is not None:
                self.pacer.wait()
            started = time.perf_counter()
            try:
                response = self.http.request(method, url, params=params, content=content, headers=sent_headers)
            except httpx.TransportError as exc:
                metrics.add_metric(name="SageRequests", unit="Count", value=1)
                logger.warning("sage_transport_error", extra={"method": method, "path": path,
                                                              "error": type(exc).__name__, "attempt": attempt})
                if is_write and not isinstance(exc, NOT_SENT):
                    raise UncertainWrite(
                        f"{method} {path}: {type(exc).__name__} after sending; outcome unknown") from None
                if attempt >= self.max_attempts:
                    raise SageUnavailable(f"{method} {path}: {type(exc).__name__}") from None
                self.sleep(self._backoff(attempt))
                continue
            status = response.status_code
            elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
            metrics.add_metric(name="SageRequests", unit="Count", value=1)
            metrics.add_metric(name="SageLatency", unit="Milliseconds", value=elapsed_ms)  # the dashboard's p90
            if (level := request_log_level(status, elapsed_ms, write=method != "GET")) >= logger.log_level:
                log_at(level, "sage_request", {"method": method, "path": path, "status": status, "ms": elapsed_ms,
                                               "sage_request_id": request_id(response, self.request_id_headers),
                                               "attempt": attempt})
            if status < 400:
                return loads(response.content) if status != 204 and response.content else None
            error = self.read_error(response)
            if status == 401 and not refreshed:
                refreshed = True
                token = self.token_provider(rejected=token)
                attempt -= 1  # the refresh retry is not a backoff attempt
                continue
            if status == 429:
                metrics.add_metric(name="SageThrottled", unit="Count", value=1)
            # A write answered 5xx (503 too) may have been committed first: only a 429 is a clean refusal.
            if not (status == 429 or (not is_write and status >= 500)):
                if is_write and status >= 500:
                    raise UncertainWrite(error.message, status=status, data_code=error.data_code,
                                         request_id=error.request_id)
                raise error
            asked = self.throttle_pause(response) if status == 429 else retry_after_of(response)
            if asked is not None:
                wait = asked
            else:
                wait = self.throttle_wait(attempt) if status == 429 else self._backoff(attempt)
            too_long = asked is not None and asked > self.max_retry_after
            if status == 429 and self.pacer is not None and not too_long:
                # Hold every request of the allowance, not just this one: they would be refused too.
                self.pacer.pause(wait)
            if attempt >= self.max_attempts or too_long:
                if status == 429:
                    raise error
                raise SageUnavailable(error.message, status=status, data_code=error.data_code,
                                      request_id=error.request_id)
            self.sleep(wait)


__all__ = [
    "NOT_SENT",
    "WRITES",
    "Pacer",
    "RetryOptions",
    "TokenProvider",
    "Transport",
    "bearer",
    "dumps",
    "error_entries",
    "full_jitter_backoff",
    "loads",
    "parse_retry_after",
    "request_id",
    "retry_after_of",
]
