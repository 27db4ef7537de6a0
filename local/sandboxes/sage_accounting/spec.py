"""Sage Accounting v3.1 swagger, turned into JSON Schema (draft 4) validators.

Shared by the sandbox (request validation -> 422) and by contract tests (what our client sends,
what the sandbox returns). The swagger files live in ``../shared/specs/sage-accounting`` and are
never edited; where they are wrong about the live API the difference is encoded here, with a
comment that says so (see ``../shared/specs/README.md``, "Known gaps").

Public API:
    validate_request_body(operation_or_definition, body) -> list[dict]   Sage error array, [] if ok
    validate_response(path, method, status, body) -> list[str]           messages, [] if ok
    response_properties(definition) -> list[str]                          attribute names, in order
    request_definition(operation_or_definition) -> str                    e.g. "postSalesInvoices"
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
from urllib.parse import urlsplit

import jsonschema
from jsonschema import Draft4Validator, FormatChecker

_REPO_ROOT = Path(__file__).resolve().parents[3]
SPEC_DIR = Path(
    os.environ.get("SAGE_SPECS_DIR", _REPO_ROOT.parent / "shared" / "specs" / "sage-accounting")
)
MAIN_SPEC = "swagger-v3.1.json"
BUSINESSES_SPEC = "swagger-v3.1-businesses.json"

# Known gap: the live API wraps every list in this envelope, the swagger says "array".
LIST_ENVELOPE_KEYS = ("$total", "$page", "$next", "$back", "$itemsPerPage", "$items")

# Known gap: opt-in idempotency is a field of the resource body (``{"sales_invoice":
# {"idempotency_id": ...}}``) that the swagger does not declare; accept it on every POST/PUT.
IDEMPOTENCY_FIELD = "idempotency_id"

# Known gap: these maxLength values are stricter than the live server, which accepts longer
# document references (25) and contact references (10). The sandbox behaves like the server, so
# its responses may carry longer values and must still validate.
_LIVE_SERVER_IGNORES_MAXLENGTH = {
    ("Contact", "reference"),
    *{
        (definition, "reference")
        for definition in (
            "SalesInvoice",
            "SalesCreditNote",
            "PurchaseInvoice",
            "PurchaseCreditNote",
            "SalesCorrectiveInvoice",
            "PurchaseCorrectiveInvoice",
            "SalesQuote",
            "SalesEstimate",
            "ContactPayment",
        )
    },
}

# Sage's error body: a JSON array of these (no schema in the swagger).
ERROR_ARRAY_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["$severity", "$dataCode", "$message", "$source"],
        "properties": {
            "$severity": {"type": "string"},
            "$dataCode": {"type": "string"},
            "$message": {"type": "string"},
            "$source": {"type": "string"},
        },
        "additionalProperties": False,
    },
}

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_RE.match(value):
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
    dt.date.fromisoformat(value)
    return True


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    # Sage accepts a date, or a date-time with Z or an offset.
    dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@functools.cache
def load_spec(name: str = MAIN_SPEC) -> dict[str, Any]:
    with open(SPEC_DIR / name, encoding="utf-8") as handle:
        return json.load(handle)


@functools.cache
def _definitions() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    merged.update(load_spec(BUSINESSES_SPEC)["definitions"])
    merged.update(load_spec(MAIN_SPEC)["definitions"])
    return merged


def _strict(node: Any) -> Any:
    """Swagger objects are open; Sage rejects attributes it does not know, so close them."""
    if isinstance(node, dict):
        out = {key: _strict(value) for key, value in node.items() if not key.startswith("x-")}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(item) for item in node]
    return node


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    # Swagger 2.0 cannot say "nullable"; the live API sends null for every unset attribute.
    if "$ref" in prop:
        return {"anyOf": [prop, {"type": "null"}]}
    out = dict(prop)
    if "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _response_defs() -> dict[str, Any]:
    defs = _strict(copy.deepcopy(_definitions()))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                for key, prop in list(node["properties"].items()):
                    walk(prop)
                    node["properties"][key] = _nullable(prop)
            else:
                for value in node.values():
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for name, definition in defs.items():
        for def_name, prop in _LIVE_SERVER_IGNORES_MAXLENGTH:
            if def_name == name:
                definition["properties"][prop].pop("maxLength", None)
        walk(definition)
    return defs


def _request_defs() -> dict[str, Any]:
    defs = _strict(copy.deepcopy(_definitions()))
    for name, definition in defs.items():
        if not re.match(r"^(post|put)[A-Z]", name):
            continue
        for wrapped in definition.get("properties", {}).values():
            if wrapped.get("type") == "object" and "properties" in wrapped:
                wrapped["properties"][IDEMPOTENCY_FIELD] = {"type": "string"}
    return defs


@functools.cache
def _defs(kind: str) -> dict[str, Any]:
    return _response_defs() if kind == "response" else _request_defs()


@functools.cache
def _validator(kind: str, definition: str) -> Draft4Validator:
    defs = _defs(kind)
    if definition not in defs:
        raise KeyError(f"no definition {definition!r} in the Sage Accounting swagger")
    schema = dict(defs[definition])
    schema["definitions"] = defs
    return Draft4Validator(schema, format_checker=_FORMATS)


@functools.cache
def _operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId (or "METHOD /path") -> (method, path template, operation)."""
    ops: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for spec_name in (MAIN_SPEC, BUSINESSES_SPEC):
        for path, item in load_spec(spec_name)["paths"].items():
            for method, op in item.items():
                if method not in {"get", "post", "put", "delete", "patch"}:
                    continue
                entry = (method, path, op)
                ops[f"{method.upper()} {path}"] = entry
                if op.get("operationId"):
                    ops[op["operationId"]] = entry
    return ops


def request_definition(operation_or_definition: str) -> str:
    """The body definition name for an operationId, "POST /path", or a definition name."""
    op = _operations().get(operation_or_definition)
    if op is None:
        return operation_or_definition
    for param in op[2].get("parameters", []):
        if isinstance(param, dict) and param.get("in") == "body":
            return param["schema"]["$ref"].rsplit("/", 1)[-1]
    raise KeyError(f"{operation_or_definition} takes no body")


def _leaf(path: Any) -> str:
    names = [str(part) for part in path if not isinstance(part, int)]
    return names[-1] if names else ""


def _dotted(path: Any) -> str:
    return ".".join(str(part) for part in path)


def _to_sage_errors(error: jsonschema.ValidationError) -> list[dict[str, str]]:
    where = _dotted(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        return [
            _error(f"{where + '.' if where else ''}{name} is not a known attribute", name)
            for name in sorted(set(error.instance) - known)
        ]
    if error.validator == "required":
        # jsonschema reports one error per missing name; the name is quoted in its message.
        name = error.message.split("'")[1] if error.message.count("'") >= 2 else ""
        return [_error(f"{where + '.' if where else ''}{name} is required", name)]
    return [_error(f"{where}: {error.message}" if where else error.message, _leaf(error.absolute_path))]


def _error(message: str, source: str, data_code: str = "RecordInvalid") -> dict[str, str]:
    return {"$severity": "error", "$dataCode": data_code, "$message": message, "$source": source}


def validate_request_body(operation_or_definition: str, body: Any) -> list[dict[str, str]]:
    """Validate a POST/PUT body (wrapped, e.g. ``{"sales_invoice": {...}}``).

    Returns Sage's error array (``$severity/$dataCode/$message/$source``), empty when valid.
    """
    validator = _validator("request", request_definition(operation_or_definition))
    errors: list[dict[str, str]] = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        for item in _to_sage_errors(error):
            if item not in errors:
                errors.append(item)
    return errors


def validate_definition(definition: str, instance: Any) -> list[str]:
    """Validate one object as the API returns it (strict, nulls allowed) against a definition."""
    validator = _validator("response", definition)
    return [f"{_dotted(e.absolute_path) or '<root>'}: {e.message}" for e in validator.iter_errors(instance)]


@functools.cache
def _path_matchers() -> list[tuple[re.Pattern[str], str]]:
    templates = {path for _, path, _ in _operations().values()}
    # Literal paths before templated ones, longer before shorter: "/sales_invoices/{key}/release"
    # must not be read as "/sales_invoices/{key}".
    ordered = sorted(templates, key=lambda p: (p.count("{"), -len(p)))
    return [(re.compile("^" + "/".join(_segment(s) for s in p.split("/")) + "$"), p) for p in ordered]


def _segment(segment: str) -> str:
    return "[^/]+" if segment.startswith("{") else re.escape(segment)


def path_template(path: str) -> str | None:
    """"/v3.1/sales_invoices/abc?x=1" or a full URL -> "/sales_invoices/{key}"."""
    rel = urlsplit(path).path
    if rel.startswith("/v3.1"):
        rel = rel[len("/v3.1") :]
    rel = rel.rstrip("/") or "/"
    for pattern, template in _path_matchers():
        if pattern.match(rel):
            return template
    return None


def _schema_errors(schema: dict[str, Any], instance: Any, where: str) -> list[str]:
    schema = dict(schema)
    schema["definitions"] = _defs("response")
    validator = Draft4Validator(schema, format_checker=_FORMATS)
    return [f"{where}{_dotted(e.absolute_path) or '<root>'}: {e.message}" for e in validator.iter_errors(instance)]


def validate_response(path: str, method: str, status: int, body: Any) -> list[str]:
    """Validate what the API returned against the swagger response schema.

    ``body`` is the parsed JSON (or None/"" for an empty body). The only tolerated differences
    from the swagger are the known gaps: the list envelope, nulls for unset attributes, the
    reference maxLength values, and Sage's error array for 4xx/5xx.
    """
    template = path_template(path)
    if template is None:
        return [f"{method.upper()} {path}: no such path in the swagger"]
    entry = _operations().get(f"{method.upper()} {template}")
    if entry is None:
        return [f"{method.upper()} {template}: no such operation in the swagger"]
    responses = entry[2].get("responses", {})
    if str(status) not in responses:
        if status >= 400:
            return _schema_errors(ERROR_ARRAY_SCHEMA, body, "error body ")
        return [f"{method.upper()} {template}: status {status} not documented ({sorted(responses)})"]
    schema = responses[str(status)].get("schema")
    if schema is None:
        return [] if body in (None, "", b"") else [f"{method.upper()} {template}: {status} must have no body"]
    if schema.get("type") == "array" and isinstance(body, dict):
        return _envelope_errors(schema, body)
    return _schema_errors(schema, body, "")


def _envelope_errors(schema: dict[str, Any], body: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if set(body) != set(LIST_ENVELOPE_KEYS):
        problems.append(f"list envelope keys {sorted(body)} != {sorted(LIST_ENVELOPE_KEYS)}")
    for key in ("$total", "$page", "$itemsPerPage"):
        if not isinstance(body.get(key), int) or isinstance(body.get(key), bool):
            problems.append(f"{key} must be an integer")
    for key in ("$next", "$back"):
        if body.get(key) is not None and not isinstance(body.get(key), str):
            problems.append(f"{key} must be a relative URL or null")
    problems.extend(_schema_errors(schema, body.get("$items"), "$items."))
    return problems


def response_properties(definition: str) -> list[str]:
    """Attribute names of a response definition, in swagger order."""
    return list(_definitions()[definition].get("properties", {}))


def property_schema(definition: str, name: str) -> dict[str, Any] | None:
    return _definitions()[definition].get("properties", {}).get(name)
