"""Sage 200 accounts API v1 (OpenAPI 3.0.1, seven files) turned into JSON Schema validators.

Shared by the sandbox (a request body that does not validate -> 400, as Sage 200 answers) and the
contract tests (every request our client sends). The files live in ``../shared/specs/sage200`` and
are never edited; where they differ from the live API the difference is encoded here, with a comment.

OpenAPI 3.0 schemas are nearly JSON Schema draft 4; what is translated:
- ``nullable: true`` -> the type also allows ``null`` (and an ``enum`` gains ``None``);
- ``$ref: #/components/schemas/x`` -> resolved against the file the operation lives in;
- request bodies are validated strictly: ``readOnly`` properties are taken out and unknown
  properties refused. The live API ignores both silently, which would hide our typos; a request that
  passes here is one Sage reads the way we meant.
- ``format: date-time``: ISO 8601 with or without an offset (the API is ASP.NET and accepts
  "2025-03-01T00:00:00"); other formats ("decimal 2dp", "int64") are descriptions, not checked.

Public API:
    request_schema(method, path) -> dict | None        the body schema of an operation
    validate_request(method, path, body) -> list[str]  readable problems, [] if it is valid
    operation(method, path) -> (file, template) | None which operation a concrete path is
    validate_response(method, path, body) -> list[str] the 200 answer against its schema (lenient)
    list_fields(path) -> set[str] | None               the fields a list's $filter/$orderby/$select may name
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import os
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker

from . import odata

_REPO_ROOT = Path(__file__).resolve().parents[3]
SPEC_DIR = Path(os.environ.get("SAGE200_SPECS_DIR", _REPO_ROOT.parent / "shared" / "specs" / "sage200"))
SPEC_FILES = ("sales", "general", "nominal", "financials", "cash-book", "purchases", "stock")

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 `nullable` -> JSON Schema, everywhere in a document."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "$ref" in out:  # a nullable reference: either the thing or null
            out = {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}], **out}
    return out


def _strict(node: Any, components: dict[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """A request schema with references inlined, readOnly properties removed and unknown properties
    refused (see the module docstring)."""
    if isinstance(node, list):
        return [_strict(n, components, seen) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name in seen:  # a cycle: stop inlining, accept any object at that depth
            return {"type": "object"}
        return _strict(components[name], components, seen | {name})
    out = {k: _strict(v, components, seen) for k, v in node.items() if k not in ("properties", "description",
                                                                                  "example")}
    if "properties" in node:
        props = {k: _strict(v, components, seen) for k, v in node["properties"].items()
                 if not (isinstance(v, dict) and v.get("readOnly"))}
        out["properties"] = props
        out.setdefault("additionalProperties", False)
        if "required" in out:
            out["required"] = [r for r in out["required"] if r in props] or None
            if out["required"] is None:
                del out["required"]
    return out


@functools.cache
def documents() -> dict[str, dict[str, Any]]:
    """The seven files, `nullable` translated."""
    return {name: _nullable(json.loads((SPEC_DIR / f"{name}.json").read_text())) for name in SPEC_FILES}


@functools.cache
def _routes() -> list[tuple[str, str, re.Pattern[str]]]:
    routes = []
    for name, doc in documents().items():
        for template in doc["paths"]:
            pattern = re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "/?$")
            routes.append((name, template, pattern))
    # Literal paths before templated ones ("/customers_new" is not "/customers/{Id}").
    routes.sort(key=lambda r: (r[1].count("{"), -len(r[1])))
    return routes


def operation(method: str, path: str) -> tuple[str, str] | None:
    """(file, path template) of the operation `method path` (path relative to the API root)."""
    path = "/" + path.strip("/")
    for name, template, pattern in _routes():
        if pattern.match(path) and method.lower() in documents()[name]["paths"][template]:
            return name, template
    return None


@functools.cache
def request_schema(method: str, template_key: str) -> dict[str, Any] | None:
    """The strict JSON Schema of an operation's JSON body; `template_key` is "file:template"."""
    name, template = template_key.split(":", 1)
    doc = documents()[name]
    op = doc["paths"][template].get(method.lower()) or {}
    schema = (((op.get("requestBody") or {}).get("content") or {}).get("application/json") or {}).get("schema")
    if schema is None:
        return None
    return _strict(copy.deepcopy(schema), doc["components"]["schemas"])


def validate_request(method: str, path: str, body: Any) -> list[str]:
    found = operation(method, path)
    if found is None:
        return [f"{method.upper()} /{path.strip('/')} is not an operation of the Sage 200 API"]
    schema = request_schema(method.upper(), f"{found[0]}:{found[1]}")
    if schema is None:
        return [] if body is None else [f"{method.upper()} {found[1]} takes no body"]
    validator = Draft4Validator(schema, format_checker=FORMATS)
    problems = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(body)"
        problems.append(f"{where}: {error.message}")
    return problems


def _inline(node: Any, components: dict[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """References inlined, nothing else changed (responses are read leniently)."""
    if isinstance(node, list):
        return [_inline(n, components, seen) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        return {} if name in seen else _inline(components[name], components, seen | {name})
    return {k: _inline(v, components, seen) for k, v in node.items()}


@functools.cache
def _list_fields(name: str, template: str) -> frozenset[str] | None:
    op = documents()[name]["paths"][template].get("get") or {}
    schema = ((((op.get("responses") or {}).get("200") or {}).get("content") or {}).get("application/json")
              or {}).get("schema") or {}
    items = _inline(schema, documents()[name]["components"]["schemas"]).get("items")
    if not isinstance(items, dict) or not items.get("properties"):
        return None
    return frozenset(items["properties"])


def list_fields(path: str) -> frozenset[str] | None:
    """The properties of a list's items (what its query options may name), from the GET's 200
    schema; None when the path is no documented list."""
    found = operation("GET", path)
    return _list_fields(*found) if found else None


def validate_query(path: str, params: dict[str, str]) -> list[str]:
    """A list request's OData options against the spec: the fields they name exist, and the rules
    of `odata` hold. Readable problems, [] if the sandbox would answer it."""
    try:
        odata.apply([], {k: v for k, v in params.items() if k != "$expand"}, fields=list_fields(path))
    except odata.ODataError as exc:
        return [str(exc)]
    return []


# Known gap: `trader_transaction_type` says maxLength 30, yet the values the same spec documents are
# longer ("TradingAccountEntryTypePurchasePaymentSalesReceipt" is 50); answers are read without it.
_LONGER_THAN_SPEC = frozenset({"trader_transaction_type"})


def _live(node: Any) -> Any:
    if isinstance(node, list):
        return [_live(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _live(v) for k, v in node.items()}
    for name in _LONGER_THAN_SPEC & set(out.get("properties") or {}):
        out["properties"][name] = {k: v for k, v in out["properties"][name].items() if k != "maxLength"}
    return out


def validate_response(method: str, path: str, body: Any, status: int = 200) -> list[str]:
    """A response body against the operation's schema for `status` (properties not listed are
    allowed: responses are read leniently, as our client reads them)."""
    found = operation(method, path)
    if found is None:
        return [f"{method.upper()} /{path.strip('/')} is not an operation of the Sage 200 API"]
    name, template = found
    doc = documents()[name]
    op = doc["paths"][template][method.lower()]
    response = (op.get("responses") or {}).get(str(status)) or {}
    schema = ((response.get("content") or {}).get("application/json") or {}).get("schema")
    if schema is None:
        return []
    validator = Draft4Validator(_live(_inline(schema, doc["components"]["schemas"])), format_checker=FORMATS)
    return [f"{'.'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in validator.iter_errors(body)]


__all__ = ["SPEC_DIR", "documents", "list_fields", "operation", "request_schema", "validate_query",
           "validate_request", "validate_response"]
