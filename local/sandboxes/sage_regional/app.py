"""The Sage Business Cloud Accounting regional API v2.0.0 sandbox: one ASGI app over in-memory companies.

Every request goes through the gate in this order (README §2, §3, §7, §8):
1. the path ``/api/2.0.0/{Service}/{Method}[/{id}]`` (names case-insensitive): an unknown service is a
   404 ``{"Message": "No HTTP resource was found ..."}``, an unknown method a 404 with a bare JSON
   string, a wrong verb a 405 with ``Allow``;
2. ``apikey`` (braces optional): missing or wrong is IIS's HTML 401 with ``X-APIKey: Invalid``;
3. HTTP Basic with the Sage login: none is a 400 ``Username is Required.``; a blocked username a 429;
   a wrong login a 401 JSON + ``WWW-Authenticate: Basic`` (counted towards the 20 an hour);
4. ``companyid`` (not on ``Company/Get``): missing is a 400, a company the login cannot open a 404;
5. 100 requests a minute per (API key, company, user): the one over is a 429 and blocks for an hour;
6. ``Content-Type: application/json`` on POSTs (and GETs, ``require_content_type_on_get``): else 415;
7. the method: Get lists (``{TotalResults, ReturnedResults, Results}``, at most 100), Get/{id}, Save
   (validated against entities.schema.json), Calculate, Delete.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from local.sandboxes.sage_accounting.app import SyncASGITransport, _DroppedResponse, to_json_bytes

from .. import limits
from ..chaos import Chaos, for_sandbox
from ..sage_accounting.clock import SandboxClock
from ..sage_accounting.faults import Faults
from . import gate, query, schema
from .accountant import Accountant
from .books import DOCUMENTS, PAYMENTS, Books, RuleError, Settings, render_value, seed

HOST = "http://sage-regional.local"
API_PATH = "/api/2.0.0"
API_BASE_URL = f"{HOST}{API_PATH}"
# Live hosts (README §1): South Africa and Australia are Sage's; NZ and Asia were not found.
LIVE_BASE_URLS = {"ZA": "https://accounting.sageone.co.za/api/2.0.0", "AU": "https://accounting.sageone.com.au/api/2.0.0"}
DEFAULT_API_KEY = "{6f1d2c3b-8a4e-4f5a-9b6c-7d8e9f0a1b2c}"  # the integrator's key (a fake GUID)
DEFAULT_USERNAME = "accounts@demo-garage.example"
DEFAULT_PASSWORD = "regional-password-1"  # noqa: S105 - a fake for the sandbox
DEFAULT_COMPANIES = ("Demo Garage Pty Ltd", "Demo Bodyshop Pty Ltd")
NAME = "sage_regional"
BLOCK_PATH = "/_sandbox/block"  # the local-only control that forces Sage's hour-long block (a 429) on a company

GET, POST, DELETE = "GET", "POST", "DELETE"
_LIST_METHODS = {"Get": GET}
_MASTER_METHODS = {"Get": GET, "Save": POST, "Delete": DELETE}
_DOCUMENT_METHODS = {"Get": GET, "Save": POST, "Calculate": POST}
# The services and methods the sandbox serves (README §4), by their canonical names.
SERVICES: dict[str, dict[str, str]] = {
    "Company": {"Get": GET, "Current": GET},
    "Customer": _MASTER_METHODS, "Supplier": _MASTER_METHODS, "TaxType": _MASTER_METHODS, "Item": _MASTER_METHODS,
    "Account": _LIST_METHODS, "BankAccount": _LIST_METHODS,
    "TaxInvoice": _DOCUMENT_METHODS, "CustomerReturn": {"Get": GET, "Save": POST},
    "SupplierInvoice": _DOCUMENT_METHODS, "SupplierReturn": _DOCUMENT_METHODS,
    "CustomerReceipt": _MASTER_METHODS, "SupplierPayment": _MASTER_METHODS,
    "Allocation": {"Get": GET, "Save": POST},
}
_CANONICAL = {name.lower(): name for name in SERVICES}
_PATH = re.compile(r"^/api/2\.0\.0/(?P<service>[^/]+)(?:/(?P<method>[^/]+)(?:/(?P<id>[^/]+))?)?/?$", re.IGNORECASE)
_GUID = re.compile(r"^\{?([0-9a-fA-F-]{36})\}?$")
# Fields every entity has whatever its schema says (for $filter/$orderby on an empty list).
_COMMON_KINDS = {"ID": "number", "Created": "date", "Modified": "date", "Date": "date", "DueDate": "date",
                 "AmountDue": "number", "Total": "number", "TotalUnallocated": "number", "Status": "text",
                 "Balance": "number", "HasActivity": "bool", "Paid": "bool", "Editable": "bool", "Locked": "bool"}


@dataclass
class Login:
    username: str
    password: str
    company_ids: set[int] = field(default_factory=set)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json_bytes(body), status_code=status, headers=headers,
                    media_type="application/json; charset=utf-8")


def _message(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"Message": text}, status, headers)


def _api_key(raw: str | None) -> str | None:
    match = _GUID.match((raw or "").strip())
    return match.group(1).lower() if match else None


def _schema_kind(service: str, name: str) -> str | None:
    rule = schema.definitions().get(service, {}).get("properties", {}).get(name)
    if rule is None:
        return None
    if "anyOf" in rule or "pattern" in rule:
        return "date"
    kinds = rule.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    for kind, word in (("boolean", "bool"), ("integer", "number"), ("number", "number"), ("string", "text")):
        if kind in kinds:
            return word
    return "object"


class SageRegionalSandbox:
    """An in-memory regional Sage Business Cloud Accounting (see the package docstring for knobs)."""

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        companies: Iterable[str] = DEFAULT_COMPANIES,
        region: str = "AU",
        api_key: str = DEFAULT_API_KEY,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        rate_limit_per_minute: int | None = gate.REQUESTS_PER_MINUTE,
        rate_limit_block_seconds: float = gate.REQUEST_BLOCK_SECONDS,
        rate_limit_extends_block: bool = True,
        requests_per_day: int | None = None,
        failed_logins_per_hour: int | None = gate.FAILED_LOGINS_PER_HOUR,
        login_block_seconds: float = gate.LOGIN_BLOCK_SECONDS,
        rate_limit_seconds: Callable[[], float] | None = None,
        exceeded_reason_header: bool = False,
        require_content_type_on_get: bool = True,
        require_orderby_to_skip: bool = True,
        refuse_unknown_fields: bool = True,
        created_status: int = 201,
        inline_receipt_allocations: bool = True,
        allocation_header_aliases: bool = True,
        list_lines: bool = False,
        change_filters: bool = True,
        midpoint_rounding: str = "half_up",
        void_by_status: bool = False,
        reject_duplicate_document_numbers: bool = False,
        auto_allocate: bool = True,
        profile: str | None = None,
    ) -> None:
        self.clock = clock or SandboxClock()
        self.lock = threading.RLock()
        self.faults = Faults()
        self.chaos: Chaos | None = for_sandbox(profile)
        self.faults.chaos = self.chaos
        self.region = region.upper()
        self.api_keys = {_api_key(api_key) or api_key}
        self.api_key = api_key
        seconds = rate_limit_seconds or (lambda: time.monotonic() + self.clock.offset.total_seconds())
        self.request_limit = gate.RequestLimit(seconds, per_minute=rate_limit_per_minute,
                                               block_seconds=rate_limit_block_seconds,
                                               extend_block=rate_limit_extends_block, per_day=requests_per_day)
        self.login_guard = gate.LoginGuard(seconds, per_hour=failed_logins_per_hour,
                                           block_seconds=login_block_seconds)
        # One client reads X-RequestLimit-ExceededReason on a 429 (README §8, T2 only): off, so no client
        # depends on it unless a test says so.
        self.exceeded_reason_header = exceeded_reason_header
        self.require_content_type_on_get = require_content_type_on_get
        self.require_orderby_to_skip = require_orderby_to_skip
        self.refuse_unknown_fields = refuse_unknown_fields
        self.created_status = created_status
        self.inline_receipt_allocations = inline_receipt_allocations
        self.allocation_header_aliases = allocation_header_aliases
        self.list_lines = list_lines
        # README §9: filtering on Created/Modified is the natural change feed but no source shows it
        # working; False refuses it so a client's fallback (paging the whole list) can be tested.
        self.change_filters = change_filters
        self.settings = Settings(midpoint=midpoint_rounding, void_by_status=void_by_status,
                                 reject_duplicate_document_numbers=reject_duplicate_document_numbers,
                                 auto_allocate=auto_allocate)
        self._ids = itertools.count(1)
        self.companies: dict[int, Books] = {}
        self.logins: dict[str, Login] = {}
        self.throttled: Counter[str] = Counter()  # 429s served: "rate" (request limit), "login" (lockout)
        self.requests: Counter[tuple[str, str]] = Counter()  # (Service, Method) -> authorised requests
        self.request_log: deque[tuple[str, str, int | None, int]] = deque(maxlen=1_000_000)
        self.login = self.add_login(username, password)
        for name in companies:
            self.add_company(name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self._answer(request)
        await response(scope, receive, send)

    # -- set-up and inspection helpers for tests ---------------------------------------------------

    def next_id(self) -> int:
        # One counter for the whole sandbox: an ID from another company is never found by accident.
        return next(self._ids)

    def add_login(self, username: str, password: str) -> Login:
        with self.lock:
            login = self.logins[username.lower()] = Login(username, password)
            return login

    def add_company(self, name: str, *, logins: Iterable[str] | None = None, region: str | None = None) -> Books:
        """A company with a new company's tax types, accounts, bank account and a few customers and items;
        the sandbox's login (or `logins`) can open it."""
        with self.lock:
            books = Books(self.next_id(), name, (region or self.region).upper(), self.next_id, self.clock.now,
                          self.settings)
            seed(books)
            self.companies[books.company_id] = books
            for username in logins if logins is not None else (self.login.username,):
                self.logins[username.lower()].company_ids.add(books.company_id)
            return books

    @property
    def lead_company_id(self) -> int:
        return next(iter(self.companies))

    @property
    def ids(self) -> dict[str, int]:
        """Seeded IDs of the lead company: "tax_standard", "tax_zero", "tax_exempt", "account_sales",
        "account_services", "account_purchases", "account_expenses", "bank", "item_service", "item_part",
        "customer_acme", "customer_brown", "supplier_parts"."""
        return self.companies[self.lead_company_id].seed_ids

    def books(self, company_id: int | None = None) -> Books:
        return self.companies[company_id or self.lead_company_id]

    def accountant(self, company_id: int | None = None) -> Accountant:
        """Act in Sage directly, as the company's accountant would (not counted as API traffic)."""
        return Accountant(self, self.books(company_id))

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self)

    def sync_transport(self) -> SyncASGITransport:
        return SyncASGITransport(self)

    def basic_auth(self, username: str | None = None, password: str | None = None) -> tuple[str, str]:
        return (username or self.login.username, password or self.login.password)

    def request_count(self, service: str | None = None, method: str | None = None) -> int:
        return sum(n for (s, m), n in self.requests.items()
                   if (service is None or s == service) and (method is None or m == method))

    # -- local-only controls (served by local/sandboxes/control.py in the stack) ------------------

    @property
    def controls(self) -> dict[str, Callable[[str, Any], tuple[int, dict[str, Any]]]]:
        return {BLOCK_PATH: self.block_control}

    def block_control(self, method: str, body: Any) -> tuple[int, dict[str, Any]]:
        """GET: the companies blocked now. POST {"company_id": N}: block every caller of company N as going
        over 100 requests a minute does (the next request answers 429, Sage's message, for the hour);
        {"company_id": N, "lift": true} ends the block."""
        if method == POST:
            if not isinstance(body, dict) or isinstance(body.get("company_id"), bool) \
                    or not isinstance(body.get("company_id"), int) or not isinstance(body.get("lift", False), bool):
                return 400, {"error": 'send {"company_id": <a Company/Get ID>} to block it, with "lift": true to '
                                      "end the block"}
            company = int(body["company_id"])
            if company not in self.companies:
                return 400, {"error": f"no company {company}; there is {', '.join(map(str, self.companies))}"}
            limit = self.request_limit
            with limit._lock:
                for login in self.logins.values():
                    if company not in login.company_ids:
                        continue
                    for key in self.api_keys:
                        caller = (str(key), str(company), login.username.lower())
                        if body.get("lift"):
                            limit.blocked_until.pop(caller, None)
                        else:
                            limit.blocked_until[caller] = limit.seconds() + limit.block_seconds
        return 200, self.blocks()

    def blocks(self) -> dict[str, Any]:
        """The blocked callers: company, username and seconds left (never a key or a password)."""
        limit = self.request_limit
        now = limit.seconds()
        with limit._lock:
            rows = [{"company_id": int(caller[1]), "username": caller[2], "seconds_left": round(until - now)}
                    for caller, until in limit.blocked_until.items() if until > now and caller[1].isdigit()]
        return {"blocked": rows, "throttled": dict(self.throttled)}

    # -- the gate ---------------------------------------------------------------------------------

    async def _answer(self, request: Request) -> Response:
        params = {k.lower(): v for k, v in parse_qsl(request.url.query, keep_blank_values=True)}
        company = params.get("companyid")
        match = _PATH.match(request.url.path)
        where = f"/{match.group('service')}/{match.group('method') or ''}" if match else request.url.path
        drop = spoil = None
        for fault in self.faults.take(request.method, where, company):
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "error":
                return _message(fault.status, "An error has occurred.")
            elif fault.kind == "rate_limit":
                self.throttled["rate"] += 1
                return self._throttled(gate.REQUEST_BLOCK_MESSAGE)
            elif fault.kind == "drop_after_commit":
                drop = fault
            elif fault.kind == "error_after_commit":
                spoil = fault
        response = await self._gate(request, match, params)
        if drop is not None and response.status_code < 400:
            return _DroppedResponse(response, drop.make_exception())
        if spoil is not None and response.status_code < 400:
            return _message(spoil.status, "An error has occurred.")
        return response

    async def _gate(self, request: Request, match: re.Match[str] | None, params: dict[str, str]) -> Response:
        not_found = f"No HTTP resource was found that matches the request URI '{request.url}'."
        if match is None:
            return _message(404, not_found)
        if _api_key(params.get("apikey")) not in self.api_keys:
            # IIS's own page (README §3, T4 capture), not JSON.
            return HTMLResponse("<html><head><title>401 - Unauthorized: Access is denied due to invalid credentials."
                                "</title></head><body><h2>401 - Unauthorized: Access is denied due to invalid "
                                "credentials.</h2></body></html>", 401, headers={"X-APIKey": "Invalid"})
        service = _CANONICAL.get(match.group("service").lower())
        if service is None:
            return _message(404, not_found)
        method_name = match.group("method") or ""
        methods = {name.lower(): (name, verb) for name, verb in SERVICES[service].items()}
        if method_name.lower() not in methods:
            return _json(f"No action was found on the controller '{service}' that matches the name "
                         f"'{method_name}'.", 404)
        method, verb = methods[method_name.lower()]
        if request.method.upper() != verb:
            return _message(405, f"The requested resource does not support http method '{request.method.upper()}'.",
                            {"Allow": verb})
        login, refused = self._authenticate(request)
        if refused is not None:
            return refused
        assert login is not None
        company_id: int | None = None
        if service != "Company" or params.get("companyid"):
            raw = params.get("companyid", "")
            if not raw:
                return _message(400, "The companyid query parameter is required on this method.")
            if not raw.isdigit() or int(raw) not in login.company_ids or int(raw) not in self.companies:
                return _message(404, f"Company {raw} was not found for this login. Entities are bound to companies: "
                                     "pass a companyid that Company/Get lists.")
            company_id = int(raw)
            if self.companies[company_id].registration_expired:
                # README §7 (S4): 402 Payment Requested when the registration has expired.
                return _message(402, "Payment Requested: the registration of this company has expired.")
        caller = (str(_api_key(params.get("apikey"))), str(company_id or "-"), login.username.lower())
        why = self.request_limit.admit(caller)
        if why is not None:
            self.throttled["rate"] += 1
            limits.record(NAME, limits.RATE, f"{request.method} {service}/{method} for company {company_id}: {why} "
                                             f"(at most {self.request_limit.per_minute} a minute, then blocked)")
            return self._throttled(gate.REQUEST_BLOCK_MESSAGE)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if (verb == POST or self.require_content_type_on_get) and content_type != "application/json":
            return _message(415, "A valid Content-Type header such as application/json is required on all requests.")
        self.requests[(service, method)] += 1
        record_id = match.group("id")
        body: Any = None
        if verb == POST:
            try:
                body = json.loads(await request.body() or b"null", parse_float=Decimal)
            except ValueError:
                return _message(400, "The request body is not valid JSON.")
        with self.lock:
            try:
                response = self._route(request, service, method, record_id, params, body, company_id, login)
            except RuleError as exc:
                response = _json(exc.body(), exc.status)
            except query.QueryError as exc:
                response = _message(400, str(exc))
        self.request_log.append((service, method, company_id, response.status_code))
        return response

    def _throttled(self, message: str) -> Response:
        """429 "Request Limit Reached" with Sage's message; no Retry-After (Sage documents none)."""
        headers = {"X-RequestLimit-ExceededReason": message} if self.exceeded_reason_header else None
        return _message(429, message, headers)

    def _authenticate(self, request: Request) -> tuple[Login | None, Response | None]:
        header = request.headers.get("authorization", "")
        username = password = ""
        if header.lower().startswith("basic "):
            try:
                username, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                username = ""
        if not username:
            return None, PlainTextResponse("Username is Required.", 400)
        denied = _message(401, "Authorization has been denied for this request.", {"WWW-Authenticate": "Basic"})
        if self.login_guard.blocked(username):
            self.throttled["login"] += 1
            limits.record(NAME, limits.RATE, f"username {username!r} is blocked after too many failed logins")
            return None, self._throttled(gate.LOGIN_BLOCK_MESSAGE)
        login = self.logins.get(username.lower())
        if login is None or login.password != password:
            if self.login_guard.failed(username):
                self.throttled["login"] += 1
                limits.record(NAME, limits.RATE, f"username {username!r}: more than "
                                                 f"{self.login_guard.per_hour} failed logins in an hour")
                return None, self._throttled(gate.LOGIN_BLOCK_MESSAGE)
            return None, denied
        return login, None

    # -- the methods ------------------------------------------------------------------------------

    def _route(self, request: Request, service: str, method: str, record_id: str | None, params: dict[str, str],
               body: Any, company_id: int | None, login: Login) -> Response:
        if service == "Company":
            return self._company(method, record_id, company_id, login)
        assert company_id is not None
        books = self.companies[company_id]
        if method == "Get" and record_id is None:
            return self._list(books, service, params, company_id)
        if record_id is not None and not record_id.isdigit():
            raise RuleError(f"{record_id!r} is not an ID.", 404)
        if method == "Get":
            if record_id is None:
                raise RuleError("Get needs an ID.", 404)
            record = books.get(service, int(record_id))
            return _json(books.render(service, record))
        if method == "Delete":
            if record_id is None:
                raise RuleError("Delete needs an ID.", 404)
            books.delete(service, int(record_id))
            return Response(status_code=204)
        return self._save(request, books, service, method, params, body, company_id)

    def _company(self, method: str, record_id: str | None, company_id: int | None, login: Login) -> Response:
        visible = [self.companies[c] for c in sorted(login.company_ids) if c in self.companies]
        if method == "Current" or record_id is not None:
            by_id = int(record_id) if record_id and record_id.isdigit() else -1
            wanted = company_id if method == "Current" else by_id
            found = next((b for b in visible if wanted in (None, b.company_id)), None)
            if found is None:
                raise RuleError(f"Company {record_id} was not found for this login.", 404)
            return _json(self._company_record(found))
        rows = [self._company_record(b) for b in visible]
        return _json({"TotalResults": len(rows), "ReturnedResults": len(rows), "Results": rows})

    def _company_record(self, books: Books) -> dict[str, Any]:
        return {"ID": books.company_id, "Name": books.name, "DisplayName": books.name, "Active": True,
                "CurrencySymbol": {"ZA": "R", "AU": "$", "NZ": "$"}.get(books.region, "$"),
                "CurrencyDecimalDigits": books.currency_digits, "NumberDecimalDigits": 2, "RoundingType": 0,
                "RoundingValue": 0, "TaxSystem": 0, "UseInclusiveProcessingByDefault": False,
                "CheckForDuplicateCustomerReferences": False, "CheckForDuplicateSupplierReferences": False,
                "IsOwner": True, "Status": 1}

    def _list(self, books: Books, service: str, params: dict[str, str], company_id: int) -> Response:
        rows = books.rows(service)
        if self.chaos is not None:
            hidden = self.chaos.hidden(str(company_id), service, self.clock.now())
            rows = [r for r in rows if str(r["ID"]) not in hidden] if hidden else rows

        def kinds(name: str) -> str | None:
            if name in ("Created", "Modified") and not self.change_filters:
                raise query.QueryError(f"{name} cannot be filtered or ordered on (change_filters is off).")
            for row in rows:
                if row.get(name) is not None:
                    return query.kind_of(row[name]) or "object"
            return _schema_kind(service, name) or _COMMON_KINDS.get(name)

        def capped(top: int) -> None:
            limits.record(NAME, limits.PAGE_SIZE, f"{service}/Get asked for $top={top}; at most "
                                                  f"{query.MAX_RESULTS} rows come back a call")

        total, page = query.apply(rows, params, kinds, require_orderby_to_skip=self.require_orderby_to_skip,
                                  on_capped=capped)
        detail = self.list_lines or params.get("includedetail", "").lower() == "true"
        with_party = params.get("includecustomerdetails", "").lower() == "true" and service in (
            "TaxInvoice", "CustomerReturn", "CustomerReceipt")
        results = [books.render(service, books.records[service][r["ID"]], lines=detail, party=with_party)
                   if service in DOCUMENTS or service in PAYMENTS else render_value(r) for r in page]
        return _json({"TotalResults": total, "ReturnedResults": len(results), "Results": results})

    def _save(self, request: Request, books: Books, service: str, method: str, params: dict[str, str], body: Any,
              company_id: int) -> Response:
        if service == "Allocation" and isinstance(body, dict) and self.allocation_header_aliases:
            body = dict(body)
            body.setdefault("SourceDocumentId", body.get("DocumentHeaderId_Source"))
            body.setdefault("AllocatedToDocumentId", body.get("DocumentHeaderId_Allocation"))
            body = {k: v for k, v in body.items() if v is not None}
        if service == "CustomerReceipt" and isinstance(body, dict) and body.get("Allocations") \
                and not self.inline_receipt_allocations:
            raise RuleError("Allocations is not a field of CustomerReceipt: allocate with Allocation/Save.", 400,
                            "Allocations")
        found = schema.problems(service, body, refuse_unknown_fields=self.refuse_unknown_fields)
        if found:
            return _json({"Message": schema.message(found), "ModelState": found}, 400)
        system_number = params.get("usesystemdocumentnumber", "").lower() == "true"
        if method == "Calculate":
            record, _ = books.save(service, body, system_number=False, dry_run=True)
            return _json(books.render(service, record, party=False))
        if service == "Allocation":
            allocation = books.allocate(int(body["SourceDocumentId"]), int(body["AllocatedToDocumentId"]),
                                        body["Total"], body.get("Discount", 0), allocation_type=body.get("Type"))
            return self._saved(request, service, render_value(allocation), created=True)
        record, created = books.save(service, body, system_number=system_number)
        if created and self.chaos is not None:
            self.chaos.created(str(company_id), service, record["ID"], self.clock.now())
        return self._saved(request, service, books.render(service, record), created=created)

    def _saved(self, request: Request, service: str, entity: dict[str, Any], *, created: bool) -> Response:
        if not created:
            return _json(entity)
        # S3: the saved entity comes back and "the new location url" is a response header.
        location = f"{request.base_url}api/2.0.0/{service}/Get/{entity['ID']}"
        return _json(entity, self.created_status, {"Location": location})


__all__ = ["API_BASE_URL", "API_PATH", "DEFAULT_API_KEY", "DEFAULT_COMPANIES", "DEFAULT_PASSWORD",
           "DEFAULT_USERNAME", "HOST", "LIVE_BASE_URLS", "SERVICES", "Login", "SageRegionalSandbox",
           "SyncASGITransport"]
