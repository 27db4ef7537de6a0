"""HTTP client of Sage Business Cloud Accounting's regional API v2.0.0 (AU / NZ / ZA / Asia):
`[base]/{Service}/{Method}[/{id}]?apikey=...&companyid=...`, HTTP Basic with the tenant's Sage login.

Two limits decide how it behaves (specs/sage-accounting-regional README §0 facts 6, §3):
- 100 requests a minute per company, and the one over blocks the caller for an HOUR. So every request
  of a company passes its `CompanyGate`: one request in flight, starts at least 1/rate seconds apart
  (one a second by default, 60 a minute). A 429 closes the gate for an hour (nothing is sent to that
  company before then, whatever the caller does) and raises `RateLimited` saying until when.
- 20 failed logins in an hour block the username for 24 hours. So a refused login is never retried:
  `LoginFailed` is raised at once, and the product marks the connection for the tenant to reconnect.

Writes (Save) are never resent here: a failure after the request may have been sent (timeout,
dropped connection, 5xx) is `UncertainWrite`; the connector looks the record up before any resend.
Reads are retried twice on a 5xx or transport failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sagebridge.connectors.base import (
    AuthError,
    NotFound,
    RateLimited,
    RecordInvalid,
    SageError,
    SageUnavailable,
    UncertainWrite,
)
from sagebridge.connectors.http import NOT_SENT, dumps, loads
from sagebridge.observability import logger

PROVIDER = "sage_regional"
PAGE_SIZE = 100  # Sage never returns more than 100 rows a call (README §5)
BLOCK = timedelta(hours=1)  # what a 429 costs (README §8, S5)
READ_ATTEMPTS = 3
WAIT_WITHIN_RUN = 60.0  # a block at most this long (never Sage's hour) is waited out, not raised
THROTTLED_ATTEMPTS = 5


class LoginFailed(AuthError):
    """Sage refused the tenant's login (401). Never retried: 20 failures an hour lock the username
    for 24 hours. The tenant must reconnect with a working login."""


class ApiKeyRefused(AuthError):
    """Sage refused the integrator's API key (401 with `X-APIKey: Invalid`): an operator's fix."""


@dataclass
class CompanyGate:
    """One company's allowance, shared by every client of it in the container: one request in
    flight, starts at least `interval` seconds apart, and after a 429 nothing at all until the block
    Sage imposed is over. `clock` and `sleep` are injectable (tests move a virtual clock)."""

    interval: float
    block_seconds: float = BLOCK.total_seconds()
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep
    blocked_until: datetime | None = None
    requests: int = 0  # requests started through this gate (measuring achieved pacing)
    _last: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def refused(self) -> RateLimited | None:
        now = self.clock()
        if self.blocked_until is not None and now < self.blocked_until:
            left = (self.blocked_until - now).total_seconds()
            return RateLimited(
                f"Sage blocks this company after a request over its limit (100 a minute), for an hour; Sage Bridge "
                f"sends it nothing until {self.blocked_until:%Y-%m-%d %H:%M} UTC", retry_after=left, status=429)
        return None

    def block(self) -> None:
        self.blocked_until = self.clock() + timedelta(seconds=self.block_seconds)

    def __enter__(self) -> CompanyGate:
        self._lock.acquire()
        try:
            refused = self.refused()
            if refused is not None:
                if self.block_seconds > WAIT_WITHIN_RUN:
                    raise refused
                self.sleep(refused.retry_after or 0.0)
            if self._last is not None:
                wait = self.interval - (self.clock() - self._last).total_seconds()
                if wait > 0:
                    self.sleep(wait)
            self._last = self.clock()
            self.requests += 1
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


@dataclass(frozen=True)
class RegionalLogin:
    """What the tenant gave to connect: their Sage login, region and company (never logged)."""

    region: str
    username: str
    password: str = field(repr=False)
    company_id: int | None = None


class RegionalClient:
    """Requests of one tenant's company (or, without `company_id`, the login's company list)."""

    def __init__(self, http: httpx.Client, *, base_url: str, api_key: str, login: RegionalLogin,
                 gate: CompanyGate, sleep: Callable[[float], None] = time.sleep) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.login = login
        self.gate = gate
        self._sleep = sleep
        # Called before LoginFailed is raised: the product marks the connection so nothing retries it.
        self.on_login_failed: Callable[[], None] | None = None
        # Called with the block's end when Sage blocks the company (a 429 costing the hour): the product
        # keeps it on the connection, so every container and run honours it, not just this gate.
        self.on_blocked: Callable[[datetime], None] | None = None

    @property
    def company_id(self) -> int | None:
        return self.login.company_id

    # ---- methods

    def companies(self) -> list[dict[str, Any]]:
        """`Company/Get`: the companies the login can open (no companyid)."""
        body = self._call("GET", "Company/Get", company=False)
        return list(body.get("Results") or []) if isinstance(body, Mapping) else []

    def get(self, service: str, record_id: int | str) -> dict[str, Any]:
        return dict(self._call("GET", f"{service}/Get/{int(record_id)}"))

    def page(self, service: str, *, skip: int = 0, filter: str | None = None, orderby: str = "ID",
             extra: Mapping[str, str] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"$top": PAGE_SIZE, "$skip": skip, "$orderby": orderby, **(extra or {})}
        if filter:
            params["$filter"] = filter
        return dict(self._call("GET", f"{service}/Get", params=params))

    def iterate(self, service: str, *, filter: str | None = None, orderby: str = "ID",
                extra: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every row of a list, 100 a call ($skip/$top, ordered so pages do not overlap)."""
        skip = 0
        while True:
            body = self.page(service, skip=skip, filter=filter, orderby=orderby, extra=extra)
            rows = list(body.get("Results") or [])
            yield from rows
            skip += len(rows)
            if not rows or skip >= int(body.get("TotalResults") or 0):
                return

    def save(self, service: str, body: Mapping[str, Any], *, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return dict(self._call("POST", f"{service}/Save", params=params, body=body))

    def delete(self, service: str, record_id: int | str) -> None:
        """`{Service}/Delete/{id}` (DELETE): receipts and master data only (the API has no document Delete)."""
        self._call("DELETE", f"{service}/Delete/{int(record_id)}")

    # ---- the one request loop

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
              company: bool = True) -> Any:
        query: dict[str, Any] = {"apikey": self._api_key, **(params or {})}
        if company:
            if self.company_id is None:
                raise SageError("no Sage company chosen for this connection")
            query["companyid"] = self.company_id
        write = method != "GET"
        throttled = 0
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.gate:
                    response = self.http.request(
                        method, f"{self.base_url}/{path}", params=query,
                        content=dumps(body).encode() if body is not None else None,
                        headers={"Content-Type": "application/json", "Accept": "application/json"},
                        auth=(self.login.username, self.login.password))
            except NOT_SENT as exc:
                if attempt < READ_ATTEMPTS:  # nothing left: even a write may go again
                    self._sleep(2.0 * attempt)
                    continue
                raise SageUnavailable(f"Sage could not be reached ({type(exc).__name__}); nothing was sent",
                                      source=path) from None
            except httpx.TransportError as exc:
                if write:
                    raise UncertainWrite(f"{path}: the answer was lost ({type(exc).__name__}); Sage may have "
                                         "saved it", source=path) from None
                if attempt < READ_ATTEMPTS:
                    self._sleep(2.0 * attempt)
                    continue
                raise SageUnavailable(f"{path}: {type(exc).__name__}", source=path) from None
            if response.status_code >= 500 and not write and attempt < READ_ATTEMPTS:
                self._sleep(2.0 * attempt)
                continue
            if response.status_code == 429:
                # Refused before it ran (the limiter answers first): nothing was saved, even for a write.
                self.gate.block()
                throttled += 1
                if self.gate.block_seconds > WAIT_WITHIN_RUN and self.on_blocked is not None:
                    assert self.gate.blocked_until is not None
                    self.on_blocked(self.gate.blocked_until)
                if self.gate.block_seconds <= WAIT_WITHIN_RUN and throttled < THROTTLED_ATTEMPTS:
                    continue  # the gate holds this request until the (short) block is over
            return self._answer(response, path, write)

    def _answer(self, response: httpx.Response, path: str, write: bool) -> Any:
        status = response.status_code
        if status < 300:
            if not response.content:
                return {}
            try:
                return loads(response.content)
            except ValueError:
                if write:
                    raise UncertainWrite(f"{path}: Sage answered {status} with a body that is not JSON",
                                         status=status, source=path) from None
                raise SageUnavailable(f"{path}: Sage answered {status} with a body that is not JSON",
                                      status=status, source=path) from None
        message = _message(response)
        if status == 429:
            logger.warning("sage_regional_blocked", extra={"company_id": self.company_id, "path": path})
            refused = self.gate.refused()
            assert refused is not None
            raise RateLimited(f"{message} ({refused.message})", retry_after=refused.retry_after, status=429,
                              source=path)
        if status == 401:
            if response.headers.get("X-APIKey", "").lower() == "invalid":
                raise ApiKeyRefused("Sage refused the integration's API key (sage_regional_api_key)", status=401,
                                    source=path)
            if self.on_login_failed is not None:
                self.on_login_failed()
            raise LoginFailed(f"Sage refused the tenant's login: {message.rstrip('.')}. It is not tried again "
                              "(20 failures an hour lock the username for 24 hours): reconnect with the current login",
                              status=401, source=path)
        if status == 402:
            raise SageError(f"the Sage company's subscription has lapsed: {message}", status=402, source=path)
        if status == 404:
            raise NotFound(message, status=404, source=path)
        if status in (400, 409, 415):
            raise RecordInvalid(message, status=status, source=path)
        if status >= 500:
            if write:
                raise UncertainWrite(f"{path}: Sage answered {status} ({message}); it may have saved it",
                                     status=status, source=path)
            raise SageUnavailable(message, status=status, source=path)
        raise SageError(message, status=status, source=path)


def _message(response: httpx.Response) -> str:
    """Sage's readable reason: `Message` plus any ModelState entries; else the status text."""
    try:
        body = loads(response.content) if response.content else None
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        text = str(body.get("Message") or "")
        state = body.get("ModelState")
        if isinstance(state, Mapping):
            details = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in state.items())
            text = f"{text} ({details})" if details else text
        if text:
            return text
    if isinstance(body, str):
        return body
    return response.reason_phrase or f"HTTP {response.status_code}"


def odata_datetime(value: datetime) -> str:
    """OData v3's literal, the one Sage's date filters take: datetime'2025-01-31T00:00:00'."""
    return f"datetime'{value.replace(tzinfo=None, microsecond=0).isoformat()}'"


__all__ = ["BLOCK", "PAGE_SIZE", "PROVIDER", "ApiKeyRefused", "CompanyGate", "LoginFailed", "RegionalClient",
           "RegionalLogin", "odata_datetime"]
