"""Sage Intacct XML: request envelopes built with xml.etree, responses parsed with defusedxml.

A request is `<request><control>…</control><operation><authentication>…</authentication>
<content><function controlid="…">…</function>…</content></operation></request>` (api-v3.0.xsd).
A response is `<response><control>…</control><operation><authentication>…</authentication>
<result><status/><function/><controlid/><data …>|<key>|<errormessage></result>…</operation>`,
or a control-level `<errormessage>` when the gateway refused the request as a whole.

Pure functions: no I/O. Money is written from Decimal exactly and read back as text (the mapper
turns it into Decimal); passwords only ever go into the element tree, never into messages.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from defusedxml import ElementTree as SafeET

DTD_VERSION = "3.0"


# ------------------------------------------------------------------------------------------- building


def text_of(value: Any) -> str:
    """How a value is written into Intacct XML: Decimal exactly, dates mm/dd/yyyy (generic API)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send a non-finite amount to Intacct: {value}")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats are not sent to Intacct: use Decimal")
    if isinstance(value, datetime):
        return value.strftime("%m/%d/%Y %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%m/%d/%Y")
    return str(value)


def sub(parent: ET.Element, tag: str, value: Any = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if value is not None:
        child.text = text_of(value)
    return child


def element(tag: str, value: Any = None, **attributes: str) -> ET.Element:
    node = ET.Element(tag, attributes)
    if value is not None:
        node.text = text_of(value)
    return node


def date_element(tag: str, on: date) -> ET.Element:
    """Legacy functions (create_invoice…) take dates as <year>/<month>/<day>."""
    node = ET.Element(tag)
    sub(node, "year", f"{on.year:04d}")
    sub(node, "month", f"{on.month:02d}")
    sub(node, "day", f"{on.day:02d}")
    return node


def object_element(tag: str, fields: Mapping[str, Any]) -> ET.Element:
    """A generic-API object (<CUSTOMER><CUSTOMERID>…</CUSTOMERID>…</CUSTOMER>): nested mappings
    become child elements, lists repeat their element, None is left out."""
    node = ET.Element(tag)
    _fill(node, fields)
    return node


def _fill(node: ET.Element, fields: Mapping[str, Any]) -> None:
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            _fill(ET.SubElement(node, name), value)
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, Mapping):
                    _fill(ET.SubElement(node, name), item)
                else:
                    sub(node, name, item)
        else:
            sub(node, name, value)


@dataclass(frozen=True)
class Function:
    """One <function controlid="…"> of a request: its control id and the element inside it."""

    controlid: str
    body: ET.Element


@dataclass(frozen=True)
class Login:
    company_id: str
    user_id: str
    password: str = field(repr=False)
    entity_id: str | None = None


def request_document(
    *,
    sender_id: str,
    sender_password: str,
    control_id: str,
    functions: Iterable[Function],
    session_id: str | None = None,
    login: Login | None = None,
    unique: bool = False,
    transaction: bool = False,
) -> bytes:
    """The whole request. `unique` sets <uniqueid>true</uniqueid>: the gateway refuses a function
    whose controlid it has already executed and completed (safe retries of writes)."""
    if (session_id is None) == (login is None):
        raise ValueError("authenticate with a session id or a login, exactly one")
    root = ET.Element("request")
    control = sub(root, "control")
    sub(control, "senderid", sender_id)
    sub(control, "password", sender_password)
    sub(control, "controlid", control_id)
    sub(control, "uniqueid", unique)
    sub(control, "dtdversion", DTD_VERSION)
    sub(control, "includewhitespace", False)
    operation = sub(root, "operation")
    if transaction:
        operation.set("transaction", "true")
    authentication = sub(operation, "authentication")
    if session_id is not None:
        sub(authentication, "sessionid", session_id)
    else:
        assert login is not None
        node = sub(authentication, "login")
        sub(node, "userid", login.user_id)
        sub(node, "companyid", login.company_id)
        sub(node, "password", login.password)
        if login.entity_id:
            sub(node, "locationid", login.entity_id)
    content = sub(operation, "content")
    for function in functions:
        wrapper = sub(content, "function")
        wrapper.set("controlid", function.controlid)
        wrapper.append(function.body)
    return b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode").encode("utf-8")


# -------------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ErrorDetail:
    errorno: str = ""
    description: str = ""
    description2: str = ""
    correction: str = ""

    def readable(self) -> str:
        """Intacct's own words, joined: "BL01001973 Customer ID already exists. Use another ID"."""
        words = " ".join(p.strip() for p in (self.description, self.description2, self.correction) if p.strip())
        return f"{self.errorno}: {words}" if self.errorno and words else (words or self.errorno)


def readable(errors: Iterable[ErrorDetail]) -> str:
    return "; ".join(e.readable() for e in errors if e.readable()) or "Sage Intacct gave no reason"


@dataclass
class Result:
    status: str
    function: str
    controlid: str
    records: list[dict[str, Any]] = field(default_factory=list)
    data_attributes: dict[str, str] = field(default_factory=dict)  # listtype, count, numremaining, resultId
    key: str | None = None  # legacy create_* functions answer the new record's key
    errors: list[ErrorDetail] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "success"


@dataclass
class Response:
    control_status: str
    control_errors: list[ErrorDetail] = field(default_factory=list)
    authenticated: bool = True
    auth_errors: list[ErrorDetail] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    session_timeout: str | None = None


class MalformedResponse(ValueError):
    """The gateway answered something that is not an Intacct response."""


def _errors(node: ET.Element | None) -> list[ErrorDetail]:
    if node is None:
        return []
    return [ErrorDetail(**{name: (e.findtext(name) or "") for name in ("errorno", "description", "description2",
                                                                      "correction")})
            for e in node.findall("error")]


def to_value(node: ET.Element) -> Any:
    """An element as plain data: text for leaves, a dict for records (repeated children -> list)."""
    children = list(node)
    if not children:
        return node.text or ""
    out: dict[str, Any] = {}
    for child in children:
        value = to_value(child)
        if child.tag in out:
            existing = out[child.tag]
            out[child.tag] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[child.tag] = value
    return out


def parse_response(content: bytes) -> Response:
    """Parse a gateway answer. Raises MalformedResponse for anything that is not one; defusedxml
    refuses entity expansion and external references (the answer comes over the network)."""
    try:
        root = SafeET.fromstring(content)
    except (SafeET.ParseError, ValueError) as exc:
        raise MalformedResponse(f"not XML: {type(exc).__name__}") from None
    except Exception as exc:  # defusedxml's own refusals (DTDForbidden, EntitiesForbidden...)
        raise MalformedResponse(f"refused XML: {type(exc).__name__}") from None
    if root.tag != "response":
        raise MalformedResponse(f"expected <response>, got <{root.tag}>")
    response = Response(control_status=root.findtext("control/status") or "",
                        control_errors=_errors(root.find("errormessage")))
    operation = root.find("operation")
    if operation is None:
        return response
    auth = operation.find("authentication")
    if auth is not None:
        response.authenticated = (auth.findtext("status") or "") == "success"
        response.session_timeout = auth.findtext("sessiontimeout")
    if not response.authenticated or operation.find("errormessage") is not None:
        response.auth_errors = _errors(operation.find("errormessage"))
    for node in operation.findall("result"):
        result = Result(status=node.findtext("status") or "", function=node.findtext("function") or "",
                        controlid=node.findtext("controlid") or "", key=node.findtext("key"),
                        errors=_errors(node.find("errormessage")))
        data = node.find("data")
        if data is not None:
            result.data_attributes = dict(data.attrib)
            result.records = [_record(child) for child in data]
        response.results.append(result)
    return response


def _record(node: ET.Element) -> dict[str, Any]:
    value = to_value(node)
    record = value if isinstance(value, dict) else {"value": value}
    record.setdefault("_object", node.tag)
    return record


__all__ = [
    "DTD_VERSION",
    "ErrorDetail",
    "Function",
    "Login",
    "MalformedResponse",
    "Response",
    "Result",
    "date_element",
    "element",
    "object_element",
    "parse_response",
    "readable",
    "request_document",
    "sub",
    "text_of",
    "to_value",
]
