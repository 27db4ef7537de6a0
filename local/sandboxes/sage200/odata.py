"""The OData query options Sage 200 lists take, with Sage 200's rules:

- ``$top``: 500 when not given, at most 5000 (more is a 400, not a silent cap);
- ``$skip`` only together with ``$orderby`` (a 400 otherwise: pages without an order can overlap);
- ``$filter``: ``field op literal`` joined by ``and`` / ``or`` (``and`` binds tighter), parentheses;
  ops eq ne gt ge lt le; literals 'text' ('' escapes a quote), numbers, true/false/null, dates
  (2025-03-01, midnight UTC) and datetimes, which must be UTC with ``Z`` (an offset or a local time
  is a 400); the string functions Sage documents, ``contains(field, 'text')``, ``startswith(...)``
  and ``endswith(...)``, alone or compared with ``eq``/``ne`` true/false (how Sage 200 negates
  them); any other function, ``not`` and ``in`` are refused with a 400 naming what is supported.
- ``$orderby``: ``field [asc|desc]`` separated by commas;
- ``$select``: the listed fields only (``id`` always kept).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .. import limits

DEFAULT_TOP = 500
MAX_TOP = 5000


class ODataError(ValueError):
    """A query Sage 200 would refuse (answered 400)."""


_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<paren>[(),])|(?P<word>[^\s(),']+))")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# developer.sage.com/200/guides/query-parameters: the string functions a $filter may use.
FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda value, text: text in value,
    "startswith": lambda value, text: value.startswith(text),
    "endswith": lambda value, text: value.endswith(text),
}
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(?P<zone>Z|[+-]\d{2}:\d{2})?$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}
Predicate = Callable[[Mapping[str, Any]], bool]


def parse_datetime(text: str) -> dt.datetime:
    """A stored or rendered datetime; naive ones are UTC (Sage 200 keeps times in UTC)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _literal(token: str) -> Any:
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    lowered = token.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if _DATE.match(token):
        return dt.datetime.fromisoformat(token).replace(tzinfo=dt.UTC)
    match = _DATETIME.match(token)
    if match:
        if match.group("zone") != "Z":
            raise ODataError(f"the datetime {token} in $filter must be UTC and end with Z")
        return parse_datetime(token)
    try:
        return Decimal(token)
    except InvalidOperation:
        raise ODataError(f"$filter: {token!r} is not a value") from None


def _comparable(value: Any, like: Any) -> Any:
    """The record's value in the literal's type (stored datetimes are strings, money Decimal)."""
    if value is None or like is None:
        return value
    if isinstance(like, dt.datetime) and isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    if isinstance(like, Decimal) and isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


class _Parser:
    def __init__(self, text: str, fields: Iterable[str] | None) -> None:
        self.tokens = [m.group(0).strip() for m in _TOKEN.finditer(text) if m.group(0).strip()]
        self.pos = 0
        self.fields = set(fields) if fields is not None else None

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ODataError("$filter ends too early")
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek() is not None:
            raise ODataError(f"$filter: unexpected {self.peek()!r}")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while (self.peek() or "").lower() == "or":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.term()]
        while (self.peek() or "").lower() == "and":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def term(self) -> Predicate:
        if self.peek() == "(":
            self.take()
            inner = self.disjunction()
            if self.take() != ")":
                raise ODataError("$filter: missing )")
            return inner
        name = self.take()
        if name.lower() == "not":
            raise ODataError("$filter: 'not' is not supported; compare a function with 'eq false' instead")
        if self.peek() == "(":
            return self.function(name)
        op, raw = self.take().lower(), self.take()
        if op == "in":
            raise ODataError("$filter: 'in' is not supported; join 'eq' comparisons with 'or'")
        if op not in _OPS:
            raise ODataError(f"$filter: unknown operator {op!r}")
        self.known(name)
        value = _literal(raw)
        compare = _OPS[op]
        return lambda r: compare(_comparable(r.get(name), value), value)


    def known(self, name: str) -> None:
        if self.fields is not None and name not in self.fields:
            raise ODataError(f"$filter: unknown field {name!r}")

    def function(self, name: str) -> Predicate:
        """contains(field, 'text') and its kin, optionally `eq`/`ne` true/false."""
        test = FUNCTIONS.get(name.lower())
        if test is None:
            raise ODataError(f"$filter: the function {name!r} is not supported (Sage 200 documents "
                             f"{', '.join(FUNCTIONS)})")
        self.take()  # (
        field, comma, raw, close = self.take(), self.take(), self.take(), self.take()
        if comma != "," or close != ")" or not raw.startswith("'"):
            raise ODataError(f"$filter: {name} takes a field and a quoted text: {name}(field, 'text')")
        self.known(field)
        text = _literal(raw)
        wanted = True
        if (self.peek() or "").lower() in ("eq", "ne"):
            op, value = self.take().lower(), _literal(self.take())
            if not isinstance(value, bool):
                raise ODataError(f"$filter: {name}(...) can only be compared with true or false")
            wanted = value if op == "eq" else not value
        # Case-sensitive here (stricter than a SQL Server collation is likely to be).
        return lambda r: isinstance(r.get(field), str) and test(r[field], text) == wanted


def parse_filter(text: str, fields: Iterable[str] | None = None) -> Predicate:
    return _Parser(text, fields).parse()


def apply(records: list[dict[str, Any]], params: Mapping[str, str], *,
          fields: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The page of `records` a Sage 200 list answers for these query parameters."""
    unknown = [k for k in params if k.startswith("$") and k not in ("$filter", "$orderby", "$top", "$skip",
                                                                    "$select", "$count")]
    if unknown:
        raise ODataError(f"unsupported query option {unknown[0]}")
    try:
        top = int(params.get("$top", DEFAULT_TOP))
        skip = int(params.get("$skip", 0))
    except ValueError:
        raise ODataError("$top and $skip must be whole numbers") from None
    if top < 0 or skip < 0:
        raise ODataError("$top and $skip cannot be negative")
    if top > MAX_TOP:
        limits.record("sage200", limits.PAGE_SIZE, f"$top={top} (at most {MAX_TOP})")
        raise ODataError(f"$top can be at most {MAX_TOP}")
    if "$skip" in params and not params.get("$orderby"):
        raise ODataError("$skip needs $orderby")
    rows = records
    if params.get("$filter"):
        predicate = parse_filter(params["$filter"], fields)
        rows = [r for r in rows if predicate(r)]
    if params.get("$orderby"):
        for clause in reversed([c.strip() for c in params["$orderby"].split(",") if c.strip()]):
            name, _, direction = clause.partition(" ")
            if fields is not None and name not in fields:
                raise ODataError(f"$orderby: unknown field {name!r}")
            descending = direction.strip().lower() == "desc"
            rows = sorted(rows, key=lambda r, n=name: _sort_key(r.get(n)), reverse=descending)
    rows = rows[skip:skip + top]
    if params.get("$select"):
        wanted = {"id", *(f.strip() for f in params["$select"].split(","))}
        if fields is not None and wanted - set(fields):
            raise ODataError(f"$select: unknown field {sorted(wanted - set(fields))[0]!r}")
        rows = [{k: v for k, v in r.items() if k in wanted} for r in rows]
    return rows


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float | Decimal):
        return (1, Decimal(str(value)))
    if isinstance(value, str) and _DATETIME.match(value):
        return (2, parse_datetime(value).isoformat())
    return (3, str(value))


__all__ = ["DEFAULT_TOP", "FUNCTIONS", "MAX_TOP", "ODataError", "apply", "parse_datetime", "parse_filter"]
