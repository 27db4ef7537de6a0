"""The Sage Intacct sandbox: an ASGI XML gateway (Starlette) over in-memory companies.

What it checks, in the gateway's order:
1. the request is XML and valid against api-v3.0.xsd, else the control fails with XL03000003;
2. the sender id and password (the integration's), else the control fails (XL03000006);
3. the operation's login (company, user, password, entity) or session id, else the
   authentication fails; sessions time out after `session_seconds` of the sandbox clock; then
   that the company has authorised the request's sender ID (`Company.authorised_senders`), else
   the authentication fails with XL03000006 (a login's or a live session's);
4. at most `max_concurrent` requests per company in flight, else HTTP 429 with GW-0010;
5. each function: a repeated controlid under <uniqueid>true</uniqueid> is refused and runs nothing
   (REPEATED_CONTROLID, an assumed number); with <operation transaction="true"> one failing
   function rolls back the others, which answer "aborted" with XL03000009.
Answers use the documented envelope: <response><control>…<operation><authentication>…<result>
<status/><function/><controlid/><data listtype count totalcount numremaining resultId>|<key>.

Functions: getAPISession, create (CUSTOMER, CONTACT, ITEM, ARPYMT), create_invoice,
create_aradjustment, reverse_invoice, delete_aradjustment, read, readByQuery, readMore, query.
The published v3.0 schema has no `query` function (it came later) although the live gateway
accepts it under dtdversion 3.0: requests are validated against api-v3.0.xsd plus our
query-supplement.xsd (`schemas.gateway_schema()`), so `query` is still schema-checked and every
other function validates against the published schema unchanged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import threading
import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import httpx
import xmlschema
from defusedxml import ElementTree as SafeET
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import limits
from ..chaos import Chaos, for_sandbox
from ..sage_accounting.app import SyncASGITransport, _DroppedResponse
from ..sage_accounting.clock import SandboxClock
from ..sage_accounting.faults import Faults
from .accountant import Accountant
from .functions import Functions, GatewayError
from .schemas import gateway_schema
from .seed import seed_company
from .store import Company

HOST = "http://sage-intacct.local"
ENDPOINT = f"{HOST}/ia/xml/xmlgw.phtml"
SESSION_PATH = "/session/ia/xml/xmlgw.phtml"  # where getAPISession sends the client next
DEFAULT_SENDER_ID = "sage-bridge-local"
DEFAULT_SENDER_PASSWORD = "sage-bridge-local-sender"  # noqa: S105 - a fake for the sandbox
DEFAULT_COMPANY = "DEMO-GARAGE"
DEFAULT_USER = "ws_sagebridge"
DEFAULT_PASSWORD = "ws-password-1"  # noqa: S105 - a fake for the sandbox
SESSION_SECONDS = 3600
MAX_CONCURRENT = 2
# Error numbers (their sources: FIDELITY.md, "Sage Intacct").
SIGN_IN_REFUSED = "XL03000006"  # sender, sender authorisation or login refused
ROLLED_BACK = "XL03000009"
REPEATED_CONTROLID = "XL03000004"  # assumed: Intacct documents the refusal, not its number
RATE_LIMITED = "GW-0010"
ROLLED_BACK_ERROR = (ROLLED_BACK, "", "Nothing in this operation was kept: one of its functions failed, so the "
                     "whole transaction was rolled back.", "")


def schema() -> xmlschema.XMLSchema:
    """What the gateway validates against: api-v3.0.xsd plus the `query` supplement (compiled once)."""
    return gateway_schema()


class Session:
    __slots__ = ("company_id", "entity_id", "expires_at", "session_id", "user_id")

    def __init__(self, session_id: str, company_id: str, user_id: str, entity_id: str | None,
                 expires_at: dt.datetime) -> None:
        self.session_id, self.company_id, self.user_id = session_id, company_id, user_id
        self.entity_id, self.expires_at = entity_id, expires_at


def _text(parent: ET.Element, tag: str, value: Any = None) -> ET.Element:
    node = ET.SubElement(parent, tag)
    if value is not None:
        node.text = value if isinstance(value, str) else write_value(value)
    return node


def write_value(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.quantize(Decimal("0.01")), "f")
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%m/%d/%Y %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%m/%d/%Y")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def record_element(tag: str, record: dict[str, Any], fields: Iterable[str] | None = None) -> ET.Element:
    node = ET.Element(tag)
    wanted = None if fields is None else {f.upper() for f in fields}
    for name, value in record.items():
        if name.startswith("_") or (wanted is not None and name.upper() not in wanted and name != "RECORDNO"):
            continue
        _write(node, name, value)
    return node


def _write(parent: ET.Element, name: str, value: Any) -> None:
    if isinstance(value, dict):
        child = ET.SubElement(parent, name)
        for key, inner in value.items():
            _write(child, key, inner)
    elif isinstance(value, list):
        for item in value:
            _write(parent, name, item)
    else:
        _text(parent, name, "" if value is None else value)


def _errors(parent: ET.Element, errors: list[tuple[str, str, str, str]]) -> None:
    node = ET.SubElement(parent, "errormessage")
    for errorno, description, description2, correction in errors:
        error = ET.SubElement(node, "error")
        _text(error, "errorno", errorno)
        _text(error, "description", description)
        _text(error, "description2", description2)
        _text(error, "correction", correction)


def _bytes(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode").encode("utf-8")


class SageIntacctSandbox:
    """An in-memory Sage Intacct XML gateway (see the module docstring)."""

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        sender_id: str = DEFAULT_SENDER_ID,
        sender_password: str = DEFAULT_SENDER_PASSWORD,
        company_id: str = DEFAULT_COMPANY,
        user_id: str = DEFAULT_USER,
        user_password: str = DEFAULT_PASSWORD,
        session_seconds: int = SESSION_SECONDS,
        max_concurrent: int = MAX_CONCURRENT,
        validate: bool = True,
        base_currency: str = "USD",
        profile: str | None = None,
    ) -> None:
        self.clock = clock or SandboxClock()
        self.lock = threading.RLock()
        self.faults = Faults()
        # The chaos profile (local/sandboxes/chaos.py; SAGEBRIDGE_SANDBOX_PROFILE): None when realistic.
        self.chaos: Chaos | None = for_sandbox(profile)
        self.faults.chaos = self.chaos
        self.senders = {sender_id: sender_password}
        self.sender_id, self.sender_password = sender_id, sender_password
        self.session_seconds = session_seconds
        self.max_concurrent = max_concurrent
        self.validate = validate
        self.companies: dict[str, Company] = {}
        self.sessions: dict[str, Session] = {}
        self.result_sets: dict[str, dict[str, Any]] = {}
        self.in_flight: Counter[str] = Counter()
        self.peak_in_flight: Counter[str] = Counter()
        self.request_log: deque[tuple[str, str | None, str, int]] = deque(maxlen=1_000_000)
        self.created: Counter[tuple[str, str]] = Counter()
        self.functions = Functions(self)
        self.add_company(company_id, {user_id: user_password}, entities={"100", "200"}, base_currency=base_currency)
        self.app = Starlette(routes=[
            Route("/ia/xml/xmlgw.phtml", self._gateway, methods=["POST"]),
            Route(SESSION_PATH, self._gateway, methods=["POST"]),
        ])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # -- set-up and inspection helpers for tests ----------------------------------------------------

    def add_company(self, company_id: str, users: dict[str, str], *, entities: Iterable[str] = (),
                    base_currency: str = "USD", authorised_senders: Iterable[str] | None = None) -> Company:
        """A company; it authorises the sandbox's own sender unless `authorised_senders` says otherwise
        (the accountant can add or remove one later: `Accountant.authorise_sender`)."""
        with self.lock:
            senders = {self.sender_id} if authorised_senders is None else set(authorised_senders)
            company = Company(company_id=company_id, users=dict(users), entities=set(entities),
                              base_currency=base_currency, authorised_senders=senders)
            seed_company(company, self.clock.now())
            self.companies[company_id] = company
            return company

    @property
    def company(self) -> Company:
        return next(iter(self.companies.values()))

    def accountant(self, company_id: str | None = None) -> Accountant:
        """Act in Intacct directly, as the company's accountant would (not counted as API traffic)."""
        return Accountant(self, self.companies[company_id or self.company.company_id])

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self)

    def sync_transport(self) -> SyncASGITransport:
        return SyncASGITransport(self)

    def expire_sessions(self) -> int:
        """End every session now (as a timeout would); returns how many there were."""
        with self.lock:
            count = len(self.sessions)
            self.sessions.clear()
            return count

    def request_count(self, function: str | None = None, company_id: str | None = None,
                      path: str | None = None) -> int:
        """Requests seen, optionally those carrying a function, for a company, at a path."""
        return sum(1 for p, c, fns, _ in list(self.request_log)
                   if (function is None or function in fns.split(","))
                   and (company_id is None or c == company_id) and (path is None or p == path))

    @property
    def request_counts(self) -> Counter[str]:
        """Requests per function name (a request with two functions counts for both)."""
        out: Counter[str] = Counter()
        for _, _, fns, _ in list(self.request_log):
            out.update(f for f in fns.split(",") if f)
        return out

    def created_count(self, obj: str | None = None, company_id: str | None = None) -> int:
        return sum(n for (c, o), n in self.created.items()
                   if (obj is None or o == obj) and (company_id is None or c == company_id))

    # -- the gateway ----------------------------------------------------------------------------------

    async def _gateway(self, request: Request) -> Response:
        raw = await request.body()
        path = request.url.path
        try:
            root = SafeET.fromstring(raw)
        except Exception:  # not XML, or XML defusedxml refuses (entities, DTDs)
            return self._control_failure(path, None, [("XL03000003", "", "XML Parse error: the request is not "
                                                       "well-formed XML", "Check the request and try again.")])
        if self.validate:
            problem = next(iter(schema().iter_errors(raw.decode("utf-8", "replace"))), None)
            if problem is not None:
                reason = (problem.reason or str(problem)).splitlines()[0]
                return self._control_failure(path, root, [("XL03000003", "", f"XML Parse schema error: {reason} "
                                                           f"(at {problem.path})", "")])
        control = root.find("control")
        assert control is not None  # the schema requires it
        sender = control.findtext("senderid") or ""
        if self.senders.get(sender) != (control.findtext("password") or ""):
            # Documented at the control level (developer.intacct.com/web-services/error-handling).
            return self._control_failure(path, root, [(
                SIGN_IN_REFUSED, "", "The Web Services sender ID or its password is not correct.", "")])
        operation = root.find("operation")
        assert operation is not None
        function_nodes = [f for content in operation.findall("content") for f in content.findall("function")]
        names = ",".join(next(iter(f)).tag for f in function_nodes if len(f))
        with self.lock:
            session, auth_error, fresh = self._authenticate(operation.find("authentication"), sender)
        company_id = session.company_id if session else None
        if auth_error is not None:
            self.request_log.append((path, company_id, names, 200))
            return self._auth_failure(root, operation, auth_error)
        assert session is not None
        with self.lock:
            if self.in_flight[company_id] >= self.max_concurrent:
                # About two at a time per company (specs README; the figure depends on the tier).
                limits.record("sage_intacct", limits.CONCURRENCY,
                              f"a request ({names}) while {self.in_flight[company_id]} were in flight for "
                              f"company {company_id} (at most {self.max_concurrent})")
                self.request_log.append((path, company_id, names, 429))
                return self._rate_limited(root, "Too many concurrent requests for this company")
            self.in_flight[company_id] += 1
            self.peak_in_flight[company_id] = max(self.peak_in_flight[company_id], self.in_flight[company_id])
        try:
            writes = any(f.tag not in self.functions.READS for n in function_nodes for f in n[:1])
            fired = self.faults.take("POST", names, company_id, write=writes)
            for fault in fired:
                if fault.kind == "latency":
                    await asyncio.sleep(fault.seconds)
            drop = spoil = None
            for fault in fired:
                if fault.kind == "error_after_commit":
                    spoil = fault
                if fault.kind == "error":
                    self.request_log.append((path, company_id, names, fault.status))
                    response = Response(self._control_failure_body(root, [(
                        "GW-0001", "The gateway could not process the request", f"HTTP {fault.status}", "")]),
                        status_code=fault.status, media_type="application/xml")
                    return response
                if fault.kind == "rate_limit":
                    self.request_log.append((path, company_id, names, 429))
                    return self._rate_limited(root, "Rate limit exceeded", retry_after=fault.retry_after)
                if fault.kind == "drop_after_commit":
                    drop = fault
            with self.lock:
                body = self._operation(root, operation, function_nodes, session, fresh, request)
                self.request_log.append((path, company_id, names, 200))
            response = Response(body, media_type="application/xml")
            if drop is not None:
                return _DroppedResponse(response, drop.make_exception())
            if spoil is not None:
                # The functions ran and committed; the gateway answers an error instead of their results.
                return Response(self._control_failure_body(root, [(
                    "GW-0001", "The gateway could not process the request", f"HTTP {spoil.status}", "")]),
                    status_code=spoil.status, media_type="application/xml")
            return response
        finally:
            with self.lock:
                self.in_flight[company_id] -= 1

    @staticmethod
    def _sender_not_authorised(sender: str, company: Company) -> tuple[str, ...] | None:
        # Documented at the authentication level, after a valid sender (developer.intacct.com/support/faq).
        if sender in company.authorised_senders:
            return None
        return (SIGN_IN_REFUSED, "Web Services sender not authorised",
                f"Company '{company.company_id}' has not authorised sender ID '{sender}' to make Web Services "
                "requests.", "The company administrator must add this sender ID to the company's Web Services "
                "authorizations.")

    def _authenticate(self, auth: ET.Element | None,
                      sender: str) -> tuple[Session | None, tuple[str, ...] | None, bool]:
        now = self.clock.now()
        assert auth is not None
        session_id = auth.findtext("sessionid")
        if session_id is not None:
            session = self.sessions.get(session_id.strip())
            if session is None or session.expires_at <= now:
                self.sessions.pop(session_id.strip(), None)
                return None, (SIGN_IN_REFUSED, "", "Invalid session: it has timed out or was ended.",
                              "Sign in again with getAPISession."), False
            refused = self._sender_not_authorised(sender, self.companies[session.company_id])
            if refused is not None:  # the authorisation was removed while the session lived
                return None, refused, False
            session.expires_at = now + dt.timedelta(seconds=self.session_seconds)  # sliding, as Intacct's
            return session, None, False
        login = auth.find("login")
        if login is None:
            return None, (SIGN_IN_REFUSED, "", "No sign-in was given.", "Use a login or a session id."), False
        company = self.companies.get((login.findtext("companyid") or "").strip())
        user_id = (login.findtext("userid") or "").strip()
        if company is None or company.users.get(user_id) != (login.findtext("password") or ""):
            return None, (SIGN_IN_REFUSED, "", "The company ID, user ID or password is not correct.", ""), False
        refused = self._sender_not_authorised(sender, company)
        if refused is not None:
            return None, refused, False
        entity = (login.findtext("locationid") or "").strip() or None
        if entity is not None and entity not in company.entities:
            return None, (SIGN_IN_REFUSED, "", "The company ID, user ID or password is not correct.",
                          f"Entity '{entity}' does not exist in this company."), False
        session = Session(secrets.token_urlsafe(24), company.company_id, user_id, entity,
                          now + dt.timedelta(seconds=self.session_seconds))
        self.sessions[session.session_id] = session
        return session, None, True

    def _control(self, response: ET.Element, root: ET.Element | None, status: str) -> None:
        control = ET.SubElement(response, "control")
        _text(control, "status", status)
        source = root.find("control") if root is not None else None
        _text(control, "senderid", (source.findtext("senderid") if source is not None else "") or "")
        _text(control, "controlid", (source.findtext("controlid") if source is not None else "") or "")
        _text(control, "uniqueid", (source.findtext("uniqueid") if source is not None else "") or "false")
        _text(control, "dtdversion", "3.0")

    def _control_failure_body(self, root: ET.Element | None, errors: list[tuple[str, str, str, str]]) -> bytes:
        response = ET.Element("response")
        self._control(response, root, "failure")
        _errors(response, errors)
        return _bytes(response)

    def _control_failure(self, path: str, root: ET.Element | None,
                         errors: list[tuple[str, str, str, str]]) -> Response:
        self.request_log.append((path, None, "", 200))
        return Response(self._control_failure_body(root, errors), media_type="application/xml")

    def _rate_limited(self, root: ET.Element, why: str, *, retry_after: int | None = None) -> Response:
        body = self._control_failure_body(root, [(RATE_LIMITED, why, "HTTP 429 Too Many Requests",
                                                  "Reduce the number of concurrent requests, then retry.")])
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return Response(body, status_code=429, media_type="application/xml", headers=headers)

    def _auth_failure(self, root: ET.Element, operation: ET.Element, error: tuple[str, ...]) -> Response:
        response = ET.Element("response")
        self._control(response, root, "success")
        op = ET.SubElement(response, "operation")
        auth = ET.SubElement(op, "authentication")
        _text(auth, "status", "failure")
        login = operation.find("authentication/login")
        _text(auth, "userid", (login.findtext("userid") if login is not None else "") or "")
        _text(auth, "companyid", (login.findtext("companyid") if login is not None else "") or "")
        _errors(op, [tuple(error)])  # type: ignore[list-item]
        return Response(_bytes(response), media_type="application/xml")

    def _operation(self, root: ET.Element, operation: ET.Element, function_nodes: list[ET.Element],
                   session: Session, fresh: bool, request: Request) -> bytes:
        company = self.companies[session.company_id]
        unique = (root.findtext("control/uniqueid") or "false").strip().lower() == "true"
        transaction = operation.get("transaction") == "true"
        response = ET.Element("response")
        self._control(response, root, "success")
        op = ET.SubElement(response, "operation")
        auth = ET.SubElement(op, "authentication")
        _text(auth, "status", "success")
        _text(auth, "userid", session.user_id)
        _text(auth, "companyid", session.company_id)
        _text(auth, "locationid", session.entity_id or "")
        _text(auth, "sessiontimestamp", self.clock.now().isoformat())
        _text(auth, "sessiontimeout", session.expires_at.isoformat())
        undo: list[tuple[str, int]] = []
        done: list[str] = []
        results: list[ET.Element] = []
        failed = False
        origin = f"{request.url.scheme}://{request.url.netloc}"
        for node in function_nodes:
            controlid = node.get("controlid", "")
            inner = next(iter(node))
            result = ET.Element("result")
            results.append(result)
            if transaction and failed:
                self._result_failure(result, inner.tag, controlid, [ROLLED_BACK_ERROR], status="aborted")
                continue
            if unique and inner.tag not in self.functions.READS and controlid in company.executed:
                # Documented: under uniqueid=true a function whose controlid was executed and completed
                # is not run again (developer.intacct.com/web-services/requests). Its errorno is not
                # published anywhere we could find: REPEATED_CONTROLID is assumed (FIDELITY.md).
                self._result_failure(result, inner.tag, controlid, [(
                    REPEATED_CONTROLID, "",
                    f"This request cannot be repeated: the function with control ID '{controlid}' was "
                    "already executed and completed.", "Send new work under a new control ID.")])
                failed = True
                continue
            try:
                outcome = self.functions.run(inner, company, session, origin=origin, undo=undo)
            except GatewayError as exc:
                # In a transaction the failing function also names the rollback (SDK fixtures).
                self._result_failure(result, inner.tag, controlid,
                                     exc.errors + ([ROLLED_BACK_ERROR] if transaction else []))
                failed = True
                continue
            _text(result, "status", "success")
            _text(result, "function", inner.tag)
            _text(result, "controlid", controlid)
            if outcome.key is not None:
                _text(result, "key", str(outcome.key))
            if outcome.data is not None:
                data = ET.SubElement(result, "data", {k: str(v) for k, v in outcome.attributes.items()})
                for element in outcome.data:
                    data.append(element)
            if unique and inner.tag not in self.functions.READS:
                done.append(controlid)
        if transaction and failed:
            for obj, recordno in reversed(undo):
                company.remove(obj, recordno)
                self.created[(company.company_id, obj)] -= 1
            for result in results:  # earlier successes were rolled back too: "aborted", as Intacct says
                if result.findtext("status") == "success":
                    for child in list(result):
                        if child.tag in ("key", "data"):
                            result.remove(child)
                    result.find("status").text = "aborted"  # type: ignore[union-attr]
                    _errors(result, [ROLLED_BACK_ERROR])
            done.clear()
        company.executed.update(done)
        for result in results:
            op.append(result)
        return _bytes(response)

    @staticmethod
    def _result_failure(result: ET.Element, function: str, controlid: str,
                        errors: list[tuple[str, str, str, str]], *, status: str = "failure") -> None:
        _text(result, "status", status)
        _text(result, "function", function)
        _text(result, "controlid", controlid)
        _errors(result, errors)


__all__ = [
    "DEFAULT_COMPANY",
    "DEFAULT_PASSWORD",
    "DEFAULT_SENDER_ID",
    "DEFAULT_SENDER_PASSWORD",
    "DEFAULT_USER",
    "ENDPOINT",
    "HOST",
    "SESSION_PATH",
    "SageIntacctSandbox",
    "schema",
    "write_value",
]
