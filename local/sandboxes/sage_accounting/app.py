"""The sandbox ASGI app: Sage ID OAuth + the Accounting v3.1 API in one Starlette application."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import html
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import limits
from ..chaos import Chaos, for_sandbox
from . import spec
from .accountant import Accountant
from .clock import SandboxClock
from .faults import (
    CONCURRENT_REQUESTS_PER_APP,
    REQUESTS_PER_DAY_PER_APP,
    REQUESTS_PER_MINUTE_PER_BUSINESS,
    AppLimits,
    Faults,
    Refusal,
)
from .oauth import OAuthError, OAuthServer
from .resources import RESOURCES, ApiError, Resources, currency_link, parse_timestamp, render, select_ids
from .seed import seed_business
from .store import Business

HOST = "http://sage-accounting.local"
API_BASE_URL = f"{HOST}/v3.1"
AUTHORIZE_URL = f"{HOST}/oauth2/auth/central?filter=apiv3.1"
TOKEN_URL = f"{HOST}/token"
REVOKE_URL = f"{HOST}/revoke"
DEFAULT_CLIENT_ID = "sage-bridge-local"
DEFAULT_CLIENT_SECRET = "sage-bridge-local-secret"  # noqa: S105 - a fake for the sandbox
DEFAULT_BUSINESSES = ("Northwind Garage Services Ltd", "Southside Motors Ltd")
IDEMPOTENCY_DAYS = 7
IDEMPOTENCY_KEY = re.compile(r"[0-9a-fA-F]{32}")
# The resources Sage's idempotency guide lists that this sandbox serves: under the chaos profile an
# idempotency_id is honoured on these only (https://developer.sage.com/accounting/guides/concepts/idempotency).
IDEMPOTENT_COLLECTIONS = frozenset({
    "contacts", "contact_allocations", "contact_payments", "products", "services", "sales_invoices",
    "sales_credit_notes", "sales_quotes", "sales_estimates", "purchase_invoices", "purchase_credit_notes",
    "ledger_accounts", "bank_accounts", "journals", "other_payments",
})
MAX_ITEMS_PER_PAGE = 200
DEFAULT_ITEMS_PER_PAGE = 20


def _camel(collection: str) -> str:
    return "".join(part.title() for part in collection.split("_"))


_NUMBER_MARK = re.compile(r'"\\u0000([-0-9.]+)\\u0000"')


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        text = format(value, "f")
        # Marked, then unquoted below: Decimals go out as JSON numbers keeping their 2 dp.
        return "\x00" + (text if "." in text else text + ".0") + "\x00"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _sorted(value: Any) -> Any:
    """The same JSON whatever the order of its keys (an idempotent resend may reorder them)."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def to_json_bytes(value: Any) -> bytes:
    """JSON the way Sage writes it: money as numbers with 2 dp, dates ISO, times UTC with Z."""
    text = json.dumps(value, default=_json_default, separators=(",", ":"))
    return _NUMBER_MARK.sub(r"\1", text).encode("utf-8")


class _DroppedResponse(Response):
    """Sends the status line, then loses the connection (the write before it is committed)."""

    def __init__(self, response: Response, exception: BaseException) -> None:
        super().__init__(response.body, status_code=response.status_code, headers=dict(response.headers))
        self._exception = exception

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        raise self._exception


class SyncASGITransport(httpx.BaseTransport):
    """Lets a synchronous ``httpx.Client`` talk to the ASGI app in process.

    From sync code each calling thread runs the app on its own private event loop; from inside a
    running event loop requests go to a loop in a daemon thread. Exceptions raised by the app reach
    the caller unchanged.
    """

    def __init__(self, app: Any) -> None:
        self._transport = httpx.ASGITransport(app=app)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._thread_loops: list[asyncio.AbstractEventLoop] = []

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="sage-sandbox-loop", daemon=True).start()
                self._loop = loop
            return self._loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()

        async def run() -> httpx.Response:
            inner = httpx.Request(request.method, request.url, headers=request.headers, content=content)
            response = await self._transport.handle_async_request(inner)
            body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # The common case (sync code): run on this thread's own loop, no hand-off cost.
            loop = getattr(self._local, "loop", None)
            if loop is None:
                loop = self._local.loop = asyncio.new_event_loop()
                self._thread_loops.append(loop)
            return loop.run_until_complete(run())
        # Called from inside a running loop (an async test using a sync client): use a helper thread.
        return asyncio.run_coroutine_threadsafe(run(), self._ensure_loop()).result()

    def close(self) -> None:
        with self._lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._loop = None
            for loop in self._thread_loops:
                if not loop.is_running():
                    loop.close()
            self._thread_loops.clear()


class SageAccountingSandbox:
    """An in-memory Sage Business Cloud Accounting v3.1 (see the package docstring)."""

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        businesses: Iterable[str] = DEFAULT_BUSINESSES,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        redirect_uris: list[str] | None = None,
        rate_limit_per_minute: int | None = REQUESTS_PER_MINUTE_PER_BUSINESS,
        concurrent_requests: int | None = CONCURRENT_REQUESTS_PER_APP,
        requests_per_day: int | None = REQUESTS_PER_DAY_PER_APP,
        retry_after_header: bool = False,
        rate_limit_seconds: Callable[[], float] | None = None,
        auto_approve: bool = False,
        accept_basic_client_auth: bool = False,
        base_currency: str = "GBP",
        profile: str | None = None,
    ) -> None:
        self.clock = clock or SandboxClock()
        self.base_currency = base_currency  # of the businesses made here (add_business can differ)
        self.lock = threading.RLock()
        self.auto_approve = auto_approve
        # Sage documents the client's credentials in the form only; HTTP Basic is a knob, off.
        self.accept_basic_client_auth = accept_basic_client_auth
        self.faults = Faults()
        # Sage's limits are on by default (None switches one off). They count elapsed time, not the
        # frozen test clock: real seconds plus the clock's jumps, or `rate_limit_seconds` if given.
        clock_ = self.clock
        self.limits = AppLimits(rate_limit_seconds or (lambda: time.monotonic() + clock_.offset.total_seconds()),
                                per_minute=rate_limit_per_minute, concurrent=concurrent_requests,
                                per_day=requests_per_day)
        # Sage documents no Retry-After on its 429s: sent only with this knob (tests of the header).
        self.retry_after_header = retry_after_header
        # The chaos profile (local/sandboxes/chaos.py; SAGEBRIDGE_SANDBOX_PROFILE): None when realistic.
        self.chaos: Chaos | None = for_sandbox(profile)
        self.faults.chaos = self.chaos
        self.oauth = OAuthServer(self.clock)
        self.oauth.add_client(client_id, client_secret, redirect_uris)
        self.client_id, self.client_secret = client_id, client_secret
        self.resources = Resources(self.clock.now)
        self.businesses: dict[str, Business] = {}
        self.seed_ids: dict[str, dict[str, str]] = {}
        self.user = {"id": uuid.uuid4().hex, "first_name": "Alex", "last_name": "Accountant", "initials": "AA",
                     "email": "alex.accountant@example.co.uk", "locale": "en-GB"}
        self.request_log: deque[tuple[str, str, str | None, int]] = deque(maxlen=1_000_000)
        self.created: Counter[tuple[str, str]] = Counter()
        for name in businesses:
            self.add_business(name)
        self.app = Starlette(routes=[
            Route("/oauth2/auth/central", self._authorize, methods=["GET", "POST"]),
            Route("/token", self._token, methods=["POST"]),
            Route("/revoke", self._revoke, methods=["POST"]),
            Route("/v3.1/{rest:path}", self._api, methods=["GET", "POST", "PUT", "DELETE"]),
        ])

    @classmethod
    def single_business(cls, name: str = DEFAULT_BUSINESSES[0], **kwargs: Any) -> SageAccountingSandbox:
        return cls(businesses=(name,), **kwargs)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # -- set-up and inspection helpers for tests ---------------------------------------------------

    def add_business(self, name: str, *, base_currency: str | None = None) -> Business:
        with self.lock:
            now = self.clock.now()
            business_id = uuid.uuid4().hex
            biz = Business(id=business_id, name=name, created_at=now, base_currency=base_currency or self.base_currency,
                           data={
                "id": business_id, "displayed_as": name, "name": name, "address_line_1": "1 High Street",
                "address_line_2": None, "city": "Leeds", "postal_code": "LS1 1AA", "region": "West Yorkshire",
                "country": {"id": "GB", "displayed_as": "United Kingdom (GB)"}, "telephone": "0113 496 0000",
                "mobile": None, "website": None, "is_demo": False, "ni_based": False,
                "subscriptions": [{"id": uuid.uuid4().hex, "displayed_as": "Accounting", "active": True,
                                   "status": "active", "created_at": now, "updated_at": now}],
                "created_at": now, "updated_at": now,
            })
            self.businesses[business_id] = biz
            self.seed_ids[business_id] = seed_business(biz, now)
            return biz

    @property
    def lead_business_id(self) -> str:
        return next(iter(self.businesses))

    @property
    def ids(self) -> dict[str, str]:
        """Seeded ids of the lead business: "4000", "GB_STANDARD", "bank", "ACME001", "DUNMORE"..."""
        return self.seed_ids[self.lead_business_id]

    @property
    def rate_limit_per_minute(self) -> int | None:
        return self.limits.per_minute

    @rate_limit_per_minute.setter
    def rate_limit_per_minute(self, value: int | None) -> None:
        self.limits.per_minute = value

    def business(self, business_id: str | None = None) -> Business:
        return self.businesses[business_id or self.lead_business_id]

    def issue_tokens(self, business_ids: Iterable[str] | None = None) -> dict[str, Any]:
        """Skip the browser: a grant for the default client, as the token endpoint would answer."""
        with self.lock:
            grant = self.oauth.new_grant(self.client_id, self.user["id"],
                                         tuple(business_ids or self.businesses), "full_access")
            return self.oauth._issue_tokens(grant)

    def accountant(self, business_id: str | None = None) -> Accountant:
        """Act in Sage directly, as the business's accountant would (not counted as API traffic)."""
        return Accountant(self, self.business(business_id))

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self)

    def sync_transport(self) -> SyncASGITransport:
        return SyncASGITransport(self)

    def request_count(self, business_id: str | None = None, method: str | None = None,
                      path: str | None = None) -> int:
        """API requests seen (after auth), optionally per business, method and path prefix."""
        return sum(
            1 for m, p, b, _ in list(self.request_log)
            if (business_id is None or b == business_id) and (method is None or m == method.upper())
            and (path is None or p.startswith(path) or p.startswith("/v3.1" + path))
        )

    @property
    def request_counts(self) -> Counter[str | None]:
        return Counter(b for _, _, b, _ in list(self.request_log))

    def created_count(self, collection: str | None = None, business_id: str | None = None) -> int:
        """Records created through POST (idempotent replays not counted)."""
        return sum(n for (b, c), n in self.created.items()
                   if (collection is None or c == collection) and (business_id is None or b == business_id))

    # -- OAuth ------------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        if request.method == "POST":
            params = dict(parse_qsl((await request.body()).decode()))
        else:
            params = dict(request.query_params)
        with self.lock:
            client = self.oauth.clients.get(params.get("client_id", ""))
            redirect_uri = params.get("redirect_uri", "")
            if client is None:
                return HTMLResponse("<h1>Unknown client_id</h1>", status_code=400)
            if not redirect_uri or not client.allows(redirect_uri):
                return HTMLResponse("<h1>redirect_uri is not registered for this client</h1>", status_code=400)
            state = params.get("state")
            if params.get("response_type") != "code":
                return self._redirect(redirect_uri, {"error": "unsupported_response_type", "state": state})
            challenge = params.get("code_challenge") or None
            if challenge and params.get("code_challenge_method", "plain") != "S256":
                return self._redirect(redirect_uri, {"error": "invalid_request", "state": state})
            decision = params.get("decision") if request.method == "POST" else ("allow" if self.auto_approve else None)
            if decision is None:
                return HTMLResponse(self._consent_page(params))
            if decision != "allow":
                return self._redirect(redirect_uri, {"error": "access_denied", "state": state})
            grant = self.oauth.new_grant(client.client_id, self.user["id"], tuple(self.businesses),
                                         params.get("scope", "full_access"))
            code = self.oauth.issue_code(client.client_id, redirect_uri, grant, challenge)
            return self._redirect(redirect_uri, {"code": code, "country": "GB", "state": state})

    @staticmethod
    def _redirect(uri: str, params: dict[str, str | None]) -> RedirectResponse:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{query}", status_code=302)

    def _consent_page(self, params: dict[str, str]) -> str:
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in params.items() if k != "decision")
        names = "".join(f"<li>{html.escape(b.name)}</li>" for b in self.businesses.values())
        return (
            "<!doctype html><html><head><title>Sage - Allow access</title></head><body>"
            f"<h1>{html.escape(params.get('client_id', ''))} would like to access your Sage data</h1>"
            f"<p>Signed in as {html.escape(self.user['email'])}. Businesses:</p><ul>{names}</ul>"
            f'<form method="post" action="/oauth2/auth/central">{hidden}'
            '<button type="submit" name="decision" value="allow">Allow</button>'
            '<button type="submit" name="decision" value="deny">Deny</button></form></body></html>'
        )

    async def _client_credentials(self, request: Request) -> tuple[dict[str, str], Any]:
        form = dict(parse_qsl((await request.body()).decode()))
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if self.accept_basic_client_auth and auth.lower().startswith("basic "):
            import base64

            decoded = base64.b64decode(auth[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        return form, self.oauth.authenticate_client(client_id, client_secret)

    def _oauth_faults(self, request: Request) -> Response | None:
        for fault in self.faults.take(request.method, request.url.path, None, write=False):
            if fault.kind == "error":
                return Response(to_json_bytes({"error": "server_error"}), status_code=fault.status,
                                media_type="application/json")
            if fault.kind == "rate_limit":
                return Response(to_json_bytes({"error": "too_many_requests"}), status_code=429,
                                media_type="application/json", headers=self._retry_after(fault.retry_after))
        return None

    async def _token(self, request: Request) -> Response:
        faulted = self._oauth_faults(request)
        if faulted is not None:
            return faulted
        try:
            form, client = await self._client_credentials(request)
            with self.lock:
                self.oauth.token_requests += 1
                grant_type = form.get("grant_type")
                if grant_type == "authorization_code":
                    body = self.oauth.exchange_code(client, form.get("code", ""), form.get("redirect_uri"),
                                                    form.get("code_verifier"))
                elif grant_type == "refresh_token":
                    body = self.oauth.refresh(client, form.get("refresh_token", ""))
                else:
                    raise OAuthError("unsupported_grant_type")
        except OAuthError as exc:
            error = {"error": exc.error} | ({"error_description": exc.description} if exc.description else {})
            return Response(to_json_bytes(error), status_code=exc.status, media_type="application/json")
        return Response(to_json_bytes(body), media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    async def _revoke(self, request: Request) -> Response:
        try:
            form, client = await self._client_credentials(request)
        except OAuthError as exc:
            return Response(to_json_bytes({"error": exc.error}), status_code=exc.status,
                            media_type="application/json")
        with self.lock:
            self.oauth.revoke(client, form.get("token", ""))
        return Response(b"", status_code=200)

    # -- the API ----------------------------------------------------------------------------------

    def _retry_after(self, seconds: int | None) -> dict[str, str]:
        """The Retry-After header of a 429: a fault's own figure, or the knob's; none by default."""
        if seconds is None and self.retry_after_header:
            seconds = 1
        return {"Retry-After": str(seconds)} if seconds is not None else {}

    def _refuse(self, refusal: Refusal, method: str, path: str, headers: dict[str, str]) -> ApiError:
        limits.record("sage_accounting", refusal.limit, f"{method} {path}: {refusal.detail}")
        if self.retry_after_header:
            headers["Retry-After"] = str(refusal.retry_after)
        return ApiError(429, "Too many requests, retry later", data_code="TooManyRequests")

    async def _api(self, request: Request) -> Response:
        refusal = self.limits.enter()
        if refusal is not None:
            headers = {"X-Request-Id": uuid.uuid4().hex}
            error = self._refuse(refusal, request.method, request.url.path, headers)
            self.request_log.append((request.method, request.url.path, request.headers.get("x-business"), 429))
            return self._errors(error, headers)
        try:
            return await self._api_admitted(request)
        finally:
            self.limits.leave()

    async def _api_admitted(self, request: Request) -> Response:
        request_id = uuid.uuid4().hex
        headers = {"X-Request-Id": request_id}
        method, path = request.method, request.url.path
        fired = self.faults.take(method, path, request.headers.get("x-business"))
        drop = spoil = None
        for fault in fired:
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
        for fault in fired:
            if fault.kind == "error":
                self.request_log.append((method, path, request.headers.get("x-business"), fault.status))
                message = "Service unavailable" if fault.status == 503 else "An unexpected error occurred"
                return self._errors(ApiError(fault.status, message), headers)
            if fault.kind == "rate_limit":
                self.request_log.append((method, path, request.headers.get("x-business"), 429))
                return self._errors(ApiError(429, "Too many requests, retry later", data_code="TooManyRequests"),
                                    headers | self._retry_after(fault.retry_after))
            if fault.kind == "drop_after_commit":
                drop = fault
            if fault.kind == "error_after_commit":
                spoil = fault
        raw = await request.body()
        with self.lock:
            status, body, business_id = self._handle(request, raw, headers)
            self.request_log.append((method, path, business_id, status))
        if business_id:
            headers["X-Business"] = business_id
        if isinstance(body, ApiError):
            response = self._errors(body, headers)
        elif body is None:
            response = Response(b"", status_code=status, headers=headers)
        else:
            response = Response(to_json_bytes(body), status_code=status, headers=headers,
                                media_type="application/json")
        if drop is not None:
            return _DroppedResponse(response, drop.make_exception())
        if spoil is not None and status < 400:
            # Committed above; the answer the client gets is an error (a gateway or a late failure).
            message = "Service unavailable" if spoil.status == 503 else "An unexpected error occurred"
            return self._errors(ApiError(spoil.status, message), {"X-Request-Id": request_id})
        return response

    @staticmethod
    def _errors(error: ApiError, headers: dict[str, str]) -> Response:
        return Response(to_json_bytes(error.errors), status_code=error.status, headers=headers,
                        media_type="application/json")

    def _handle(self, request: Request, raw: bytes, headers: dict[str, str]) -> tuple[int, Any, str | None]:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        grant, problem = self.oauth.grant_for_access_token(token) if token else (None, "invalid")
        if grant is None:
            return 401, ApiError(401, f"The access token is {problem}", data_code="Unauthorized"), None
        wanted = request.headers.get("x-business") or grant.business_ids[0]
        if wanted not in grant.business_ids or wanted not in self.businesses:
            return 403, ApiError(403, "You do not have access to this business"), None
        refusal = self.limits.admit(wanted)
        if refusal is not None:
            return 429, self._refuse(refusal, request.method, request.url.path, headers), wanted
        biz = self.businesses[wanted]
        try:
            status, body = self._route(request, raw, biz, grant.business_ids)
        except ApiError as exc:
            return exc.status, exc, wanted
        return status, body, wanted

    def _route(self, request: Request, raw: bytes, biz: Business, allowed: tuple[str, ...]) -> tuple[int, Any]:
        method = request.method
        parts = [p for p in request.path_params["rest"].split("/") if p]
        if not parts:
            raise ApiError(404, "Route not found", data_code="RouteNotFound")
        if parts[0] == "businesses" and method == "GET":
            return self._businesses(parts, biz, allowed, request)
        if parts == ["user"] and method == "GET":
            now = self.clock.now()
            return 200, self.user | {"displayed_as": f"{self.user['first_name']} {self.user['last_name']}",
                                     "created_at": now, "updated_at": now}
        if parts == ["financial_settings"]:
            return self._financial_settings(method, biz)
        collection = parts[0]
        template = f"/{collection}" + ("/{key}" if len(parts) == 2 else "")
        if collection not in RESOURCES or len(parts) > 2:
            raise ApiError(404, "Route not found", data_code="RouteNotFound")
        if f"{method} {template}" not in spec._operations():
            raise ApiError(405, f"{method} is not supported on {template}")
        coll = biz.collections[collection]
        if len(parts) == 1 and method == "GET":
            return 200, self._list(collection, biz, request)
        if len(parts) == 1:  # POST
            return self._create(collection, biz, raw)
        record = coll.get(parts[1])
        if record is None:
            raise ApiError(404, f"{RESOURCES[collection][0]} {parts[1]} not found")
        if method == "GET":
            return 200, self._render_one(collection, biz, record, request)
        if method == "PUT":
            payload = self._body(collection, raw, "put")
            self.resources.update(biz, collection, record, payload)
            return 200, render(collection, record, None)
        voided = self.resources.delete(biz, collection, record, request.query_params.get("void_reason"))
        return (200, render(collection, voided, None)) if voided is not None else (204, None)

    def _financial_settings(self, method: str, biz: Business) -> tuple[int, Any]:
        """`GET /financial_settings`: a singleton (no key, no list envelope). Without multi-currency
        the base currency is the only one the business trades in (see Resources._link_for)."""
        if method != "GET":
            raise ApiError(405, f"{method} /financial_settings is not supported by the sandbox")
        year_end = dt.date(biz.created_at.year, 12, 31)
        return 200, {
            "$path": "/financial_settings", "year_end_date": year_end, "accounting_type": "accrual",
            "accounts_start_date": dt.date(biz.created_at.year, 1, 1),
            "base_currency": currency_link(biz.base_currency), "multi_currency_enabled": False,
            "use_live_exchange_rates": False, "tax_number": None, "updated_at": biz.created_at,
        }

    def _body(self, collection: str, raw: bytes, verb: str) -> dict[str, Any]:
        try:
            payload = json.loads(raw or b"null", parse_float=Decimal)
        except ValueError as exc:
            raise ApiError(400, "The request body is not valid JSON", data_code="InvalidJSON") from exc
        errors = spec.validate_request_body(f"{verb}{_camel(collection)}", payload)
        if errors:
            raise ApiError(422, errors[0]["$message"], errors=errors)
        return payload[RESOURCES[collection][0]]

    def _create(self, collection: str, biz: Business, raw: bytes) -> tuple[int, Any]:
        payload = self._body(collection, raw, "post")
        key = payload.get(spec.IDEMPOTENCY_FIELD)
        now = self.clock.now()
        fingerprint = ""
        if self.chaos is not None and collection not in IDEMPOTENT_COLLECTIONS:
            key = None  # chaos: honoured only where Sage documents it
        if key is not None:
            # Sage's rule (third-party): a 32-hex GUID. Anything else is refused (stricter).
            if not isinstance(key, str) or not IDEMPOTENCY_KEY.fullmatch(key):
                raise ApiError(422, "idempotency_id must be a GUID of 32 hexadecimal digits", spec.IDEMPOTENCY_FIELD)
            record_only = {k: v for k, v in payload.items() if k != spec.IDEMPOTENCY_FIELD}
            fingerprint = hashlib.sha256(to_json_bytes(_sorted(record_only))).hexdigest()
            remembered = biz.idempotency.get((collection, key.lower()))
            if remembered is not None and remembered[0] > now:
                if remembered[3] != fingerprint:
                    # Sage would replay the first answer and hide the changed document: refuse (stricter).
                    raise ApiError(422, f"idempotency_id {key} was used within {IDEMPOTENCY_DAYS} days for a "
                                        "different request body", spec.IDEMPOTENCY_FIELD)
                return remembered[1], remembered[2]
        record = self.resources.create(biz, collection, payload)
        body = render(collection, record, None)
        self.created[(biz.id, collection)] += 1
        if self.chaos is not None:
            self.chaos.created(biz.id, collection, record.id, now)
        if key is not None:
            window = self.chaos.idempotency_window if self.chaos is not None else dt.timedelta(days=IDEMPOTENCY_DAYS)
            biz.idempotency[(collection, key.lower())] = (now + window, 201, body, fingerprint)
        return 201, body

    def _render_one(self, collection: str, biz: Business, record: Any, request: Request) -> dict[str, Any]:
        extra = None
        if collection == "contacts" and request.query_params.get("show_balance", "").lower() == "true":
            extra = {"balance": self.resources.contact_balance(biz, record.id)}
        return render(collection, record, None, extra)

    def _list(self, collection: str, biz: Business, request: Request) -> dict[str, Any]:
        params = dict(request.query_params)
        op = spec._operations()[f"GET /{collection}"][2]
        allowed = {p["name"] for p in op.get("parameters", []) if isinstance(p, dict) and p.get("in") == "query"}
        try:
            per_page = int(params.get("items_per_page", DEFAULT_ITEMS_PER_PAGE))
            page = int(params.get("page", 1))
        except ValueError as exc:
            raise ApiError(400, "page and items_per_page must be integers", "items_per_page") from exc
        if not 1 <= per_page <= MAX_ITEMS_PER_PAGE:
            limits.record("sage_accounting", limits.PAGE_SIZE,
                          f"GET /{collection} items_per_page={per_page} (at most {MAX_ITEMS_PER_PAGE})")
            raise ApiError(422, f"items_per_page must be between 1 and {MAX_ITEMS_PER_PAGE}", "items_per_page")
        raw_attributes = params.get("attributes", "")
        attributes = None if raw_attributes == "all" else {a.strip() for a in raw_attributes.split(",") if a.strip()}
        coll = biz.collections[collection]
        if "deleted_since" in params and "deleted_since" in allowed:
            since = parse_timestamp(params["deleted_since"], "deleted_since")
            deleted = coll.deleted_since(since)
            wanted = set(attributes or ()) | {"deleted_at"} if attributes is not None else None
            items_source: list[Any] = deleted
            total = len(deleted)
            page, start = self._page(total, page, per_page)
            items = [render(collection, r, wanted) for r in items_source[start:start + per_page]]
        else:
            ids = select_ids(coll, params, allowed)
            if self.chaos is not None:
                # chaos: Sage's search lags a create; a GET by id finds the record at once.
                hidden = self.chaos.hidden(biz.id, collection, self.clock.now())
                if hidden:
                    ids = [i for i in ids if i not in hidden]
            total = len(ids)
            page, start = self._page(total, page, per_page)
            show_balance = collection == "contacts" and params.get("show_balance", "").lower() == "true"
            items = []
            for record_id in ids[start:start + per_page]:
                record = coll.records[record_id]
                extra = {"balance": self.resources.contact_balance(biz, record_id)} if show_balance else None
                items.append(render(collection, record, attributes, extra))
        others = [(k, v) for k, v in request.query_params.multi_items() if k not in ("page", "items_per_page")]

        def page_url(number: int) -> str:
            return f"/{collection}?" + urlencode([("page", number), ("items_per_page", per_page), *others])

        last = max(1, -(-total // per_page))
        return {
            "$total": total,
            "$page": page,
            "$next": page_url(page + 1) if page < last else None,
            "$back": page_url(page - 1) if page > 1 else None,
            "$itemsPerPage": per_page,
            "$items": items,
        }

    @staticmethod
    def _page(total: int, page: int, per_page: int) -> tuple[int, int]:
        # A page past the end returns the last page (the live API does, so clients follow $next).
        last = max(1, -(-total // per_page))
        page = min(max(page, 1), last)
        return page, (page - 1) * per_page

    def _businesses(self, parts: list[str], biz: Business, allowed: tuple[str, ...],
                    request: Request) -> tuple[int, Any]:
        visible = [self.businesses[b] for b in allowed if b in self.businesses]
        if len(parts) == 1:
            return 200, {"$total": len(visible), "$page": 1, "$next": None, "$back": None,
                         "$itemsPerPage": max(len(visible), 1), "$items": [b.data for b in visible]}
        key = parts[1]
        found = visible[0] if key == "lead" else next((b for b in visible if b.id == key), None)
        if found is None or len(parts) > 2:
            raise ApiError(404, f"business {key} not found")
        return 200, found.data
