"""The Sage 200 sandbox ASGI app: Sage ID OAuth + the accounts API v1 in one Starlette application.

Every API request goes through the gate Sage 200 puts in front of it, in this order: fault injection,
the API Management subscription key (missing or wrong: 401 with APIM's words), APIM's rate limit
on that key (429, `RATE_LIMIT_PER_MINUTE`, recorded in `local.sandboxes.limits`), the bearer token
(401), the site and company headers (400 when missing, 403 when the grant cannot open them), then
the OData rules and the body's validation against the OpenAPI files (400 with the problems).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import threading
import uuid
from collections import Counter, deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from local.sandboxes.chaos import Chaos, for_sandbox
from local.sandboxes.sage_accounting.app import SyncASGITransport, to_json_bytes
from local.sandboxes.sage_accounting.clock import SandboxClock
from local.sandboxes.sage_accounting.faults import Faults, RateLimiter

from .. import limits
from . import odata, spec
from .accountant import Accountant
from .books import Books, BusinessRuleError
from .oauth import AUDIENCE, OAuthError, SageIdServer

HOST = "http://sage200.local"
API_PATH = "/uk/sage200extra/accounts/v1"
API_BASE_URL = f"{HOST}{API_PATH}"
AUTHORIZE_URL = f"{HOST}/authorize"
TOKEN_URL = f"{HOST}/oauth/token"
REVOKE_URL = f"{HOST}/oauth/revoke"
DEFAULT_CLIENT_ID = "sage-bridge-local-200"
DEFAULT_CLIENT_SECRET = "sage-bridge-local-200-secret"  # noqa: S105 - a fake for the sandbox
DEFAULT_SUBSCRIPTION_KEY = "sandbox-subscription-key-0000"
DEFAULT_COMPANIES = ("Northwind Garage Services Ltd", "Southside Motors Ltd")
# Azure API Management's own words (what a client sees when the key is missing or wrong).
APIM_MISSING_KEY = ("Access denied due to missing subscription key. Make sure to include subscription key when "
                    "making requests to an API.")
APIM_INVALID_KEY = ("Access denied due to invalid subscription key. Make sure to provide a valid key for an "
                    "active subscription.")
_ID = re.compile(r"^\d+$")
# Sage 200 sits behind Azure API Management, whose `rate-limit` policy counts calls per subscription
# (our app's key, shared by every tenant) over a sliding window and answers 429. Sage publishes no
# figure: 100 a minute is our assumption, low on purpose (FIDELITY.md, Sage 200, "rate limit").
RATE_LIMIT_PER_MINUTE = 100


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json_bytes(body), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, *, code: str = "Error", details: list[str] | None = None) -> Response:
    """An error as Sage 200 documents it: a status and one readable message about the first problem
    (developer.sage.com/200c/guides/what-makes-an-api-request shows `{"statusCode", "message"}`; the
    UK specs only say the body "will include details"). `code` names the case for readers of this
    file; Sage sends no such code, so neither does the sandbox."""
    first = f"{message} {details[0]}" if details else message
    return _json({"statusCode": status, "message": first}, status)


class _DroppedResponse(Response):
    """The write is committed; the answer is lost (see sage_accounting.faults, drop_after_commit)."""

    def __init__(self, response: Response, exception: BaseException) -> None:
        super().__init__(response.body, status_code=response.status_code, headers=dict(response.headers))
        self._exception = exception

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        raise self._exception


def _high_water(books: Books) -> int:
    """The highest record id in the company (ids come from one counter, so a POST's are above it)."""
    return max((max((k for k in c if isinstance(k, int)), default=0) for c in books.collections.values()),
               default=0)


class Sage200Sandbox:
    """An in-memory Sage 200 (one site, one or more companies). See the package docstring."""

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        companies: Iterable[str] = DEFAULT_COMPANIES,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        subscription_key: str = DEFAULT_SUBSCRIPTION_KEY,
        redirect_uris: list[str] | None = None,
        rate_limit_per_minute: int | None = RATE_LIMIT_PER_MINUTE,
        rate_limit_retry_after: bool = True,
        auto_approve: bool = False,
        rotate_refresh_tokens: bool = True,
        report_refresh_expiry: bool = False,
        profile: str | None = None,
    ) -> None:
        self.clock = clock or SandboxClock()
        self.lock = threading.RLock()
        self.auto_approve = auto_approve
        self.faults = Faults()
        # The chaos profile (local/sandboxes/chaos.py; SAGEBRIDGE_SANDBOX_PROFILE): None when realistic.
        self.chaos: Chaos | None = for_sandbox(profile)
        self.faults.chaos = self.chaos
        self.rate_limiter = RateLimiter(self.clock, rate_limit_per_minute)  # None or 0: off
        # APIM sends Retry-After by default; False models a policy without it (and without the
        # seconds in its message), so a client must find its own pause.
        self.rate_limit_retry_after = rate_limit_retry_after
        self.oauth = SageIdServer(self.clock, rotate_refresh_tokens=rotate_refresh_tokens,
                                  report_refresh_expiry=report_refresh_expiry)
        self.oauth.add_client(client_id, client_secret, redirect_uris)
        self.client_id, self.client_secret = client_id, client_secret
        self.subscription_key = subscription_key
        self.site_id = str(uuid.uuid4())
        self.site_name = "Sandbox site"
        self.companies: dict[str, Books] = {}
        self.user_id = uuid.uuid4().hex
        self.request_log: deque[tuple[str, str, str | None, int]] = deque(maxlen=1_000_000)
        self.requests: Counter[tuple[str, str]] = Counter()  # (method, resource) -> API requests seen
        for name in companies:
            self.add_company(name)
        self.app = Starlette(routes=[
            Route("/authorize", self._authorize, methods=["GET", "POST"]),
            Route("/oauth/token", self._token, methods=["POST"]),
            Route("/oauth/revoke", self._revoke, methods=["POST"]),
            Route(API_PATH + "/{rest:path}", self._api, methods=["GET", "POST", "PUT", "DELETE"]),
        ])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # -- set-up and inspection helpers for tests ---------------------------------------------------

    def add_company(self, name: str, *, base_currency: str = "GBP") -> Books:
        with self.lock:
            company_id = str(len(self.companies) + 1)
            books = Books(company_id, name, self.clock, base_currency=base_currency)
            self.companies[company_id] = books
            return books

    @property
    def lead_company_id(self) -> str:
        return next(iter(self.companies))

    @property
    def business_id(self) -> str:
        """The lead company as Sage Bridge stores a Sage 200 connection's business: "<site>/<company>"."""
        return f"{self.site_id}/{self.lead_company_id}"

    @property
    def ids(self) -> dict[str, str]:
        """Seeded ids of the lead company: tax codes "T1" (standard), "T5" (reduced)..., "bank"."""
        return self.companies[self.lead_company_id].seed_ids

    def books(self, company_id: str | None = None) -> Books:
        return self.companies[company_id or self.lead_company_id]

    def accountant(self, company_id: str | None = None) -> Accountant:
        """Act in Sage 200 directly, as the company's accountant would (not counted as API traffic)."""
        return Accountant(self, self.books(company_id))

    def issue_tokens(self, company_ids: Iterable[str] | None = None, scope: str = "openid offline_access") -> dict:
        """Skip the browser: a grant for the default client, as the token endpoint would answer."""
        with self.lock:
            grant = self.oauth.new_grant(self.client_id, self.user_id, tuple(company_ids or self.companies), scope)
            return self.oauth._issue_tokens(grant)

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self)

    def sync_transport(self) -> SyncASGITransport:
        return SyncASGITransport(self)

    def request_count(self, method: str | None = None, resource: str | None = None) -> int:
        """API requests seen (after the gate), optionally per method and resource."""
        return sum(n for (m, r), n in self.requests.items()
                   if (method is None or m == method.upper()) and (resource is None or r == resource))

    # -- OAuth ------------------------------------------------------------------------------------

    @staticmethod
    def _redirect(uri: str, params: dict[str, str | None]) -> RedirectResponse:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{query}", status_code=302)

    async def _authorize(self, request: Request) -> Response:
        params = dict(parse_qsl((await request.body()).decode())) if request.method == "POST" \
            else dict(request.query_params)
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
            if params.get("audience") != AUDIENCE:
                return self._redirect(redirect_uri, {"error": "invalid_request", "state": state,
                                                     "error_description": f"audience must be {AUDIENCE}"})
            challenge = params.get("code_challenge") or None
            if challenge and params.get("code_challenge_method", "plain") != "S256":
                return self._redirect(redirect_uri, {"error": "invalid_request", "state": state})
            decision = params.get("decision") if request.method == "POST" else ("allow" if self.auto_approve else None)
            if decision is None:
                hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                                 for k, v in params.items() if k != "decision")
                return HTMLResponse(
                    "<!doctype html><title>Sage ID</title><h1>Allow access to Sage 200?</h1>"
                    f'<form method="post" action="/authorize">{hidden}'
                    '<button name="decision" value="allow">Allow</button>'
                    '<button name="decision" value="deny">Deny</button></form>')
            if decision != "allow":
                return self._redirect(redirect_uri, {"error": "access_denied", "state": state})
            grant = self.oauth.new_grant(client.client_id, self.user_id, tuple(self.companies),
                                         params.get("scope", "openid"))
            code = self.oauth.issue_code(client.client_id, redirect_uri, grant, challenge)
            return self._redirect(redirect_uri, {"code": code, "state": state})

    def _oauth_fault(self, request: Request) -> Response | None:
        for fault in self.faults.take(request.method, request.url.path, None, write=False):
            if fault.kind == "error":
                return _json({"error": "server_error"}, fault.status)
            if fault.kind == "rate_limit":
                headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                return _json({"error": "too_many_requests"}, 429, headers)
        return None

    async def _token(self, request: Request) -> Response:
        faulted = self._oauth_fault(request)
        if faulted is not None:
            return faulted
        form = dict(parse_qsl((await request.body()).decode()))
        with self.lock:
            self.oauth.token_requests += 1
            try:
                client = self.oauth.authenticate_client(form.get("client_id"), form.get("client_secret"))
                grant_type = form.get("grant_type")
                if grant_type == "authorization_code":
                    answer = self.oauth.exchange_code(client, form.get("code", ""), form.get("redirect_uri"),
                                                      form.get("code_verifier"))
                elif grant_type == "refresh_token":
                    answer = self.oauth.refresh(client, form.get("refresh_token", ""))
                else:
                    raise OAuthError("unsupported_grant_type")
            except OAuthError as exc:
                body = {"error": exc.error}
                if exc.description:
                    body["error_description"] = exc.description
                return _json(body, exc.status)
        return _json(answer)

    async def _revoke(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        with self.lock:
            try:
                client = self.oauth.authenticate_client(form.get("client_id"), form.get("client_secret"))
            except OAuthError as exc:
                return _json({"error": exc.error}, exc.status)
            self.oauth.revoke(client, form.get("token", ""))
        return Response(status_code=200)

    # -- the API ----------------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        rest = request.path_params["rest"].strip("/")
        method = request.method.upper()
        company = request.headers.get("x-company")
        fired = self.faults.take(method, "/" + rest, company)
        drop = spoil = None
        for fault in fired:
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "error_after_commit":
                spoil = fault
            elif fault.kind == "error":
                return _error(fault.status, "The service is temporarily unavailable", code="ServerError")
            elif fault.kind == "rate_limit":
                return self._throttled(fault.retry_after)
            elif fault.kind == "drop_after_commit":
                drop = fault
        response = await self._handle(request, method, rest)
        if drop is not None and response.status_code < 400:
            return _DroppedResponse(response, drop.make_exception())
        if spoil is not None and response.status_code < 400:
            # Committed above; the client is told the service failed (a gateway or a late failure).
            return _error(spoil.status, "The service is temporarily unavailable", code="ServerError")
        return response

    async def _handle(self, request: Request, method: str, rest: str) -> Response:
        key = request.headers.get("ocp-apim-subscription-key")
        if not key:
            return _json({"statusCode": 401, "message": APIM_MISSING_KEY}, 401)
        if not secrets.compare_digest(key, self.subscription_key):
            return _json({"statusCode": 401, "message": APIM_INVALID_KEY}, 401)
        with self.lock:
            wait = self.rate_limiter.check("subscription")  # one key, so one count
        if wait is not None:
            limits.record("sage200", limits.RATE, f"{method} /{rest}: more than {self.rate_limiter.per_minute} "
                                                  "requests a minute on the subscription key")
            return self._throttled(wait)
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return _error(401, "Authorization has been denied for this request.", code="Unauthorized")
        with self.lock:
            grant, problem = self.oauth.grant_for_access_token(auth[7:].strip())
        if grant is None or problem:
            return _error(401, f"Authorization has been denied for this request (token {problem}).",
                          code="Unauthorized")
        resource, _, record_id = rest.partition("/")
        self.requests[(method, resource)] += 1
        if rest == "sites":
            response = self._sites(grant.business_ids) if method == "GET" else _error(405, "Method not allowed")
            self.request_log.append((method, rest, None, response.status_code))
            return response
        site, company = request.headers.get("x-site"), request.headers.get("x-company")
        if not site or not company:
            return _error(400, "The X-Site and X-Company headers are required.", code="MissingHeaders")
        if site != self.site_id or company not in self.companies or company not in grant.business_ids:
            return _error(403, "You do not have access to this site and company.", code="Forbidden")
        body: Any = None
        if method in ("POST", "PUT"):
            try:
                body = json.loads(await request.body(), parse_float=Decimal)
            except ValueError:
                return _error(400, "The request body is not JSON.", code="InvalidJson")
        response = self._route(method, rest, resource, record_id, dict(request.query_params), body, company)
        self.request_log.append((method, rest, company, response.status_code))
        return response

    def _throttled(self, wait: int | None) -> Response:
        """APIM's rate-limit answer: its JSON, and Retry-After unless the knob (or a fault without a
        wait) takes it away."""
        if wait is None or not self.rate_limit_retry_after:
            return _json({"statusCode": 429, "message": "Rate limit is exceeded."}, 429)
        return _json({"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {wait} seconds."}, 429,
                     {"Retry-After": str(wait)})

    def _lagging(self, company: str, books: Books, before: int) -> None:
        """chaos: every record a POST made (the posted transaction too) starts its search lag."""
        assert self.chaos is not None
        now = self.clock.now()
        for collection, records in books.collections.items():
            for record_id in records:
                if isinstance(record_id, int) and record_id > before:
                    self.chaos.created(company, collection, record_id, now)

    def _sites(self, company_ids: Iterable[str]) -> Response:
        return _json([{"site_id": self.site_id, "site_name": self.site_name, "site_short_name": "SANDBOX",
                       "company_id": int(c), "company_name": self.companies[c].name}
                      for c in company_ids if c in self.companies])

    def _route(self, method: str, rest: str, resource: str, record_id: str, params: dict[str, str], body: Any,
               company: str) -> Response:
        if spec.operation(method, rest) is None:
            return _error(404, f"No HTTP resource was found that matches {method} /{rest}.", code="NotFound")
        books = self.companies[company]
        with self.lock:
            try:
                expand = params.pop("$expand", None) if method == "GET" else None
                if method == "GET" and not record_id:
                    rows = books.rows(resource)
                    if self.chaos is not None:
                        # chaos: queries lag a create; a GET by id finds the record at once.
                        hidden = self.chaos.hidden(company, resource, self.clock.now())
                        rows = [r for r in rows if str(r.get("id")) not in hidden] if hidden else rows
                    # Query options may name what the spec lists for the resource's items, nothing else.
                    rows = odata.apply(rows, params, fields=spec.list_fields(rest))
                    return _json(books.expand(resource, rows, expand) if expand else rows)
                if method == "GET":
                    found = books.get(resource, record_id) if _ID.match(record_id) else None
                    if found is None:
                        return _error(404, f"The {resource} record {record_id} was not found.", code="NotFound")
                    return _json(books.expand(resource, [found], expand)[0] if expand else found)
                if method == "POST" and not record_id:
                    problems = spec.validate_request(method, rest, body)
                    if problems:
                        return _error(400, "The request is invalid.", code="ValidationError", details=problems)
                    before = _high_water(books) if self.chaos is not None else 0
                    posted = books.post(resource, body)
                    if self.chaos is not None:
                        self._lagging(company, books, before)
                    return _json(posted)
                if method == "PUT" and record_id:
                    problems = spec.validate_request(method, rest, body)
                    if problems:
                        return _error(400, "The request is invalid.", code="ValidationError", details=problems)
                    found = books.put(resource, record_id, body) if _ID.match(record_id) else None
                    if found is None:
                        return _error(404, f"The {resource} record {record_id} was not found.", code="NotFound")
                    return _json(found)
                return _error(405, f"The sandbox does not support {method} /{rest}.", code="NotSupported")
            except odata.ODataError as exc:
                return _error(400, str(exc), code="InvalidQuery")
            except BusinessRuleError as exc:
                return _error(400, str(exc), code=exc.code)


__all__ = [
    "API_BASE_URL",
    "API_PATH",
    "AUTHORIZE_URL",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SUBSCRIPTION_KEY",
    "HOST",
    "RATE_LIMIT_PER_MINUTE",
    "REVOKE_URL",
    "TOKEN_URL",
    "Sage200Sandbox",
    "SyncASGITransport",
]
