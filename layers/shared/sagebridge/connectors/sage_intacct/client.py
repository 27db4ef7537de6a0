"""Sage Intacct XML gateway client (the `Connector` over it is connector.py).

Sessions. The first call logs in with the tenant's company, user and password (plus the
integration's sender id, sent on every request) through `getAPISession`; later calls send the
session id to the `<endpoint>` the session names. A session is shared by the clients of one
container (one per company, user and entity) and logged in again once when the gateway says it
is no longer valid.

Retries (why they are safe). Every write goes with `<uniqueid>true</uniqueid>` and a controlid
derived from the business event (`mapper.controlid`), so the gateway refuses to run a function it
has already executed and completed. A write is therefore retried like a read: on HTTP 429 /
GW-0010, on 5xx (not 524: the origin may still be working on it) and on a lost answer. When the
repeat is refused as already done, `UncertainWrite` tells the engine to look the record up by its
reference and adopt it: never a second posting.

A 429 with GW-0010 is safe to resend whatever the request: it is a control-level failure, and
at that level Intacct executes no operation (developer.intacct.com/web-services/error-handling),
so it is retried with full-jitter backoff (Retry-After when given; Intacct documents none).

Concurrency. Intacct allows about two requests at a time per company (../shared/specs/README.md;
the figure depends on the company's performance tier); a per-company semaphore holds this
container to that. Each worker sends one request at a time (the export engine and the payment
poller are sequential per tenant, and the export lease runs one export per tenant), so a tenant's
export plus its poll make two; anything beyond (an admin request at that very moment) gets a
GW-0010 429 and is retried.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from sagebridge.connectors.base import (
    AuthError,
    RateLimited,
    RecordInvalid,
    SageError,
    SageUnavailable,
    UncertainWrite,
)
from sagebridge.connectors.http import NOT_SENT, full_jitter_backoff, log_at, parse_retry_after, request_log_level
from sagebridge.connectors.sage_intacct.xml import (
    ErrorDetail,
    Function,
    Login,
    MalformedResponse,
    Response,
    Result,
    element,
    parse_response,
    readable,
    request_document,
    sub,
)
from sagebridge.observability import logger, metrics

PROVIDER = "sage_intacct"
DEFAULT_ENDPOINT = "https://api.intacct.com/ia/xml/xmlgw.phtml"
MAX_PAGE_SIZE = 1000  # readByQuery's maximum (Intacct's SDKs cap it there; `query` allows 2000: reads.py)
CONCURRENT_PER_COMPANY = 2
# The error numbers this client acts on. Intacct's errors are recognised by `errorno` only, never
# by their wording (which Intacct does not promise). Sources (FIDELITY.md, "Sage Intacct"):
# | errorno    | where          | meaning, what the client does                        | source                 |
# | XL03000003 | control        | the XML is not well formed / not valid: RecordInvalid| error-handling page    |
# | XL03000006 | control        | sender ID or its password refused: AuthError         | error-handling page    |
# | XL03000006 | authentication | login refused, or the company has not authorised the | error-handling page,   |
# |            |                | sender ID: AuthError naming both causes              | support/faq            |
# | XL03000009 | result         | the transaction was rolled back (others "aborted")   | SDK fixtures (3rd-pty) |
# | GW-0010    | control, 429   | rate/concurrency limit, nothing ran: retried         | error-handling page    |
# | XL03000004 | result         | uniqueid refused a repeated controlid: UncertainWrite| assumed (see below)    |
# Pages: https://developer.intacct.com/web-services/error-handling/ and /support/faq/; the rollback's
# shape is in intacct/intacct-sdk-php test/Intacct/OnlineClientTest.php. Intacct documents that a
# function whose controlid it has executed and completed is refused under uniqueid=true
# (https://developer.intacct.com/web-services/requests/) but not that refusal's errorno; the number
# here is an assumption, so a failed repeat that the client itself sent is treated as uncertain
# whatever its number (`_call`).
RATE_LIMITED = "GW-0010"
SCHEMA_ERROR = "XL03000003"
SIGN_IN_REFUSED = "XL03000006"
ROLLED_BACK = "XL03000009"
ALREADY_EXECUTED = frozenset({"XL03000004"})
WS_AUTHORIZATIONS = "Company > Setup > Company, Security tab, Web Services authorizations"
_READ_ONLY = frozenset({"readByQuery", "readMore", "read", "getAPISession", "readByName", "query"})


@dataclass(frozen=True)
class IntacctCredentials:
    """Who we are at Intacct: the integration's sender plus the tenant's company login."""

    sender_id: str
    sender_password: str = field(repr=False)
    company_id: str
    user_id: str
    user_password: str = field(repr=False)
    entity_id: str | None = None

    @property
    def session_key(self) -> tuple[str, str, str]:
        return (self.company_id, self.user_id, self.entity_id or "")


@dataclass
class IntacctSession:
    session_id: str = field(repr=False)
    endpoint: str
    started_at: float


class SessionCache:
    """Sessions of this container, per company/user/entity (thread-safe)."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str, str], IntacctSession] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> IntacctSession | None:
        with self._lock:
            return self._sessions.get(key)

    def put(self, key: tuple[str, str, str], session: IntacctSession) -> None:
        with self._lock:
            self._sessions[key] = session

    def drop(self, key: tuple[str, str, str], session: IntacctSession | None = None) -> None:
        with self._lock:
            if session is None or self._sessions.get(key) is session:
                self._sessions.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()


class CompanyGates:
    """At most `limit` requests in flight per Intacct company from this container."""

    def __init__(self, limit: int = CONCURRENT_PER_COMPANY) -> None:
        self.limit = limit
        self._gates: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def gate(self, company_id: str) -> threading.BoundedSemaphore:
        with self._lock:
            if company_id not in self._gates:
                self._gates[company_id] = threading.BoundedSemaphore(self.limit)
            return self._gates[company_id]


SESSIONS = SessionCache()
GATES = CompanyGates()


class _SessionInvalid(Exception):
    pass


def _already_executed(errors: Sequence[ErrorDetail]) -> bool:
    return any(e.errorno in ALREADY_EXECUTED for e in errors)


def error_for(errors: Sequence[ErrorDetail], *, status: int | None = None) -> SageError:
    """A typed error with Intacct's readable reasons (errorno, description, description2, correction)."""
    message = readable(errors)
    code = errors[0].errorno if errors else None
    if any(e.errorno == RATE_LIMITED for e in errors) or status == 429:
        return RateLimited(message, status=status or 429, data_code=code)
    if status is not None and status >= 500:
        return SageUnavailable(message, status=status, data_code=code)
    return RecordInvalid(message, status=status, data_code=code)


class IntacctClient:
    """One tenant's Intacct company. Thread-safe as far as `httpx.Client` is."""

    provider = PROVIDER

    def __init__(
        self,
        http: httpx.Client,
        credentials: IntacctCredentials,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        sessions: SessionCache | None = None,
        gates: CompanyGates | None = None,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        max_retry_after: float = 60.0,
        page_size: int = MAX_PAGE_SIZE,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._http = http
        self.credentials = credentials
        self.endpoint = endpoint
        self._sessions = sessions if sessions is not None else SESSIONS
        self._gates = gates if gates is not None else GATES
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_retry_after = max_retry_after
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self._sleep = sleep
        self._jitter = jitter
        self.logins = 0  # getAPISession calls made by this client (tests, metrics)

    # ---- transport

    def _backoff(self, attempt: int) -> float:
        return full_jitter_backoff(attempt, base=self._backoff_base, cap=self._backoff_cap, jitter=self._jitter)

    def _post(self, url: str, document: bytes, *, write: bool, what: str) -> Response:
        """POST one request with the retry policy of this module; returns the parsed answer."""
        return self._send(url, document, write=write, what=what)[0]

    def _send(self, url: str, document: bytes, *, write: bool, what: str) -> tuple[Response, bool]:
        """`_post`, also saying whether an earlier attempt of this request may have been processed
        (sent and then lost, or a 5xx). A 429/GW-0010 is a control-level failure, after which
        Intacct has executed nothing (developer.intacct.com/web-services/error-handling)."""
        attempt = 0
        maybe_processed = False
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                with self._gates.gate(self.credentials.company_id):
                    response = self._http.post(url, content=document,
                                               headers={"Content-Type": "application/xml", "Accept": "application/xml"})
            except httpx.TransportError as exc:
                metrics.add_metric(name="SageRequests", unit="Count", value=1)
                logger.warning("intacct_transport_error",
                               extra={"function": what, "error": type(exc).__name__, "attempt": attempt})
                if attempt >= self._max_attempts:
                    if write and not isinstance(exc, NOT_SENT):
                        raise UncertainWrite(f"{what}: {type(exc).__name__} after sending; outcome unknown") from None
                    raise SageUnavailable(f"{what}: {type(exc).__name__}") from None
                # uniqueid=true makes the repeat of a write safe: done before -> refused as a repeat.
                maybe_processed = maybe_processed or not isinstance(exc, NOT_SENT)
                self._sleep(self._backoff(attempt))
                continue
            metrics.add_metric(name="SageRequests", unit="Count", value=1)
            status = response.status_code
            ms = round((time.perf_counter() - started) * 1000, 1)
            if (level := request_log_level(status, ms, write=write)) >= logger.log_level:
                log_at(level, "intacct_request", {"function": what, "status": status, "attempt": attempt, "ms": ms})
            parsed: Response | None = None
            if response.content:
                try:
                    parsed = parse_response(response.content)
                except MalformedResponse:
                    parsed = None
            errors = parsed.control_errors if parsed else []
            throttled = status == 429 or any(e.errorno == RATE_LIMITED for e in errors)
            if throttled:
                metrics.add_metric(name="SageThrottled", unit="Count", value=1)
            if status < 400 and parsed is not None and not throttled:
                return parsed, maybe_processed
            retryable = throttled or (status >= 500 and status != 524)
            if not retryable:
                if status == 524 and write:
                    raise UncertainWrite(f"{what}: the gateway timed out (524); outcome unknown", status=status)
                if parsed is None:
                    raise SageUnavailable(f"{what}: Intacct answered HTTP {status} without a readable body",
                                          status=status)
                raise error_for(errors or [ErrorDetail(description=f"HTTP {status}")], status=status)
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if attempt >= self._max_attempts or (retry_after is not None and retry_after > self._max_retry_after):
                raise error_for(errors or [ErrorDetail(errorno=RATE_LIMITED if throttled else "",
                                                       description=f"HTTP {status}")], status=status)
            maybe_processed = maybe_processed or not throttled
            self._sleep(retry_after if retry_after is not None else self._backoff(attempt))

    def _document(self, functions: Sequence[Function], *, session: IntacctSession | None, unique: bool,
                  transaction: bool) -> bytes:
        c = self.credentials
        login = None if session else Login(c.company_id, c.user_id, c.user_password, c.entity_id)
        return request_document(
            sender_id=c.sender_id, sender_password=c.sender_password, control_id=uuid.uuid4().hex,
            functions=functions, session_id=session.session_id if session else None, login=login,
            unique=unique, transaction=transaction,
        )

    # ---- sessions

    def login(self) -> IntacctSession:
        """getAPISession with the tenant's login: verifies the credentials and opens a session at
        the endpoint Intacct names. AuthError (with Intacct's reason) if the login is refused."""
        fn = element("getAPISession")
        if self.credentials.entity_id:
            sub(fn, "locationid", self.credentials.entity_id)
        document = self._document([Function("getAPISession", fn)], session=None, unique=False, transaction=False)
        response = self._post(self.endpoint, document, write=False, what="getAPISession")
        self._check_control(response)
        if not response.authenticated:
            raise self.sign_in_refused(response.auth_errors)
        result = self._single(response, "getAPISession")
        api = (result.records or [{}])[0]
        session_id, endpoint = api.get("sessionid"), api.get("endpoint")
        if not session_id:
            raise SageUnavailable("getAPISession answered without a session id")
        self.logins += 1
        session = IntacctSession(session_id=str(session_id), endpoint=str(endpoint or self.endpoint).strip(),
                                 started_at=time.monotonic())
        self._sessions.put(self.credentials.session_key, session)
        return session

    def _session(self) -> IntacctSession:
        return self._sessions.get(self.credentials.session_key) or self.login()

    # ---- functions

    def call(self, functions: Sequence[Function], *, unique: bool = False,
             transaction: bool = False) -> list[Result]:
        """Send functions in one request on the session (logging in again once if it expired).
        Returns every result; the caller checks each one (see `execute`)."""
        return self._call(functions, unique=unique, transaction=transaction)[0]

    def _call(self, functions: Sequence[Function], *, unique: bool,
              transaction: bool) -> tuple[list[Result], bool]:
        """`call`, also saying whether this request was repeated after an attempt that may have
        been processed: a write's failure is then uncertain (its first run may have done it)."""
        write = unique or any(f.body.tag not in _READ_ONLY for f in functions)
        what = ",".join(f.body.tag for f in functions)
        repeated = False
        for relogin in (False, True):
            session = self._session()
            document = self._document(functions, session=session, unique=unique, transaction=transaction)
            response, maybe_processed = self._send(session.endpoint, document, write=write, what=what)
            repeated = repeated or maybe_processed
            self._check_control(response)
            if response.authenticated:
                return response.results, repeated
            # The session timed out or was ended: forget it and log in once more.
            self._sessions.drop(self.credentials.session_key, session)
            if relogin:
                raise self.sign_in_refused(response.auth_errors)
            logger.info("intacct_session_expired", extra={"function": what})
        raise AssertionError("unreachable")

    def execute(self, function: Function, *, unique: bool = False) -> Result:
        """One function; raises the typed error of a failed result."""
        results, repeated = self._call([function], unique=unique, transaction=False)
        result = self._single_result(results, function.controlid)
        if not result.ok:
            raise self._failure(result.errors, write=unique, repeated=repeated)
        return result

    def execute_all(self, functions: Sequence[Function], *, transaction: bool = True) -> list[Result]:
        """Several writes at once, all or nothing (transaction="true"), each under its controlid."""
        results, repeated = self._call(functions, unique=True, transaction=transaction)
        # The function that failed first, then those rolled back with it ("aborted").
        failed = sorted((r for r in results if not r.ok), key=lambda r: r.status != "failure")
        if failed:
            errors = [e for r in failed for e in r.errors]
            raise self._failure(errors, write=True, repeated=repeated)
        return results

    @staticmethod
    def _failure(errors: Sequence[ErrorDetail], *, write: bool, repeated: bool = False) -> SageError:
        code = next((e.errorno for e in errors if e.errorno != ROLLED_BACK), errors[0].errorno if errors else None)
        if write and _already_executed(errors):
            # Done before (the answer was lost): the caller looks the record up and adopts it.
            return UncertainWrite(f"Intacct already executed this function: {readable(errors)}", data_code=code)
        if write and repeated:
            # This client sent it before and that answer was lost: whatever the repeat's refusal
            # says, the first run may have done the work. The caller looks before anything else.
            return UncertainWrite(f"Intacct refused a repeat of a write whose first answer was lost: "
                                  f"{readable(errors)}", data_code=code)
        return error_for(errors)

    def _check_control(self, response: Response) -> None:
        if response.control_status != "success" and response.control_errors:
            errors = response.control_errors
            if any(e.errorno == SCHEMA_ERROR for e in errors):
                raise RecordInvalid(f"Intacct refused the request's XML: {readable(errors)}", data_code=SCHEMA_ERROR)
            if any(e.errorno == RATE_LIMITED for e in errors):
                raise RateLimited(readable(errors), status=429, data_code=RATE_LIMITED)
            if any(e.errorno == SIGN_IN_REFUSED for e in errors):
                raise AuthError(f"Intacct refused Sage Bridge's Web Services sender ID {self.credentials.sender_id!r} "
                                f"or its password, which are the integration's own (not the company's): check the "
                                f"Intacct sender in the integration's settings secret ({readable(errors)})",
                                data_code=SIGN_IN_REFUSED)
            raise AuthError(readable(errors), data_code=errors[0].errorno)

    def sign_in_refused(self, errors: Sequence[ErrorDetail]) -> AuthError:
        """The authentication's refusal in words a person can act on. Intacct answers XL03000006 both
        for a wrong company/user/password and for a company that has not authorised our sender ID
        (developer.intacct.com/support/faq), so both are named."""
        c = self.credentials
        if not any(e.errorno == SIGN_IN_REFUSED for e in errors):
            return AuthError(f"Intacct refused the sign-in: {readable(errors)}", status=401,
                             data_code=errors[0].errorno if errors else None)
        return AuthError(
            f"Intacct refused the sign-in to company {c.company_id!r} ({readable(errors)}). Either the company "
            f"ID, user ID or password is not correct, or the company has not authorised Sage Bridge's Web Services "
            f"sender ID {c.sender_id!r}: ask the company admin to add it under {WS_AUTHORIZATIONS}, then connect "
            "again.",
            status=401, data_code=SIGN_IN_REFUSED)

    @staticmethod
    def _single(response: Response, what: str) -> Result:
        if not response.results:
            raise SageUnavailable(f"{what}: Intacct answered without a result")
        result = response.results[0]
        if not result.ok:
            raise error_for(result.errors)
        return result

    @staticmethod
    def _single_result(results: list[Result], controlid: str) -> Result:
        for result in results:
            if result.controlid == controlid:
                return result
        if results:
            return results[0]
        raise SageUnavailable("Intacct answered without a result")

    # ---- reads

    def read_by_query(self, obj: str, query: str = "", *, fields: str = "*",
                      page_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Every record of `obj` matching `query`, page by page (readByQuery, then readMore with
        the result id until nothing remains)."""
        fn = element("readByQuery")
        sub(fn, "object", obj)
        sub(fn, "fields", fields)
        sub(fn, "query", query)
        sub(fn, "pagesize", str(max(1, min(page_size or self.page_size, MAX_PAGE_SIZE))))
        result = self.execute(Function(f"readByQuery-{obj}", fn))
        while True:
            yield from result.records
            remaining = int(result.data_attributes.get("numremaining") or 0)
            result_id = result.data_attributes.get("resultId")
            if remaining <= 0 or not result_id:
                return
            more = element("readMore")
            sub(more, "resultId", result_id)
            result = self.execute(Function(f"readMore-{obj}", more))

    def read(self, obj: str, keys: Sequence[str], *, fields: str = "*") -> list[dict[str, Any]]:
        fn = element("read")
        sub(fn, "object", obj)
        sub(fn, "keys", ",".join(keys))
        sub(fn, "fields", fields)
        return self.execute(Function(f"read-{obj}", fn)).records


__all__ = [
    "CONCURRENT_PER_COMPANY",
    "DEFAULT_ENDPOINT",
    "GATES",
    "MAX_PAGE_SIZE",
    "PROVIDER",
    "SESSIONS",
    "CompanyGates",
    "IntacctClient",
    "IntacctCredentials",
    "IntacctSession",
    "SessionCache",
    "error_for",
]
