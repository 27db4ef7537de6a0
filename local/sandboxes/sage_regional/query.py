"""The OData subset the regional API's Get lists take (README §5, S3):

- ``$top`` / ``$skip``: whole numbers; at most ``MAX_RESULTS`` (100) rows a call whatever ``$top`` says
  (a larger ``$top`` is answered with 100 rows, and recorded as a page-size refusal so a test whose
  client asked for more fails);
- ``$orderby``: ``Field [asc|desc]`` separated by commas; the default order is ``ID``;
- ``$filter``: ``Field op literal`` joined by ``and``/``or`` (``and`` binds tighter), parentheses; ops
  eq ne gt ge lt le; literals: numbers, ``true``/``false``, ``null`` and ``datetime'2025-01-31T00:00:00'``
  (OData v3's literal; a bare date is refused naming it).
Sage says filter and orderby "will not work for string values of any kind": a text field (or a quoted
text literal) in ``$filter`` or ``$orderby`` is refused with a 400 that says so, never silently ignored.
Field names are matched exactly (OData property names are case-sensitive); an unknown one is a 400.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_RESULTS = 100


class QueryError(ValueError):
    """A query option Sage would not honour (answered 400)."""


_TOKEN = re.compile(r"\s*(?:(?P<dt>datetime'[^']*')|(?P<str>'(?:[^']|'')*')|(?P<paren>[()])|(?P<word>[^\s()']+))")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}
Predicate = Callable[[Mapping[str, Any]], bool]
FieldKinds = Callable[[str], str | None]  # field name -> "text", "number", "bool", "date", or None (no such field)


def kind_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, Decimal, float)):
        return "number"
    if isinstance(value, dt.datetime):
        return "date"
    if isinstance(value, str):
        return "text"
    return None


def _tokens(text: str) -> list[str]:
    out, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(f"$filter could not be read at {text[position:]!r}.")
        out.append(match.group(match.lastgroup or "word"))
        position = match.end()
    return out


def _literal(token: str, field: str, kind: str) -> Any:
    if token == "null":  # noqa: S105 - an OData literal
        return None
    if token.startswith("'"):
        raise QueryError(f"$filter compares {field} with the text {token}: filter does not work on text values "
                         "(Sage's API methods page); filter on a number, date or true/false field.")
    if kind == "bool":
        if token not in ("true", "false"):
            raise QueryError(f"{field} is true/false: compare it with true or false, not {token}.")
        return token == "true"  # noqa: S105 - an OData literal
    if kind == "date":
        if not token.startswith("datetime'"):
            raise QueryError(f"{field} is a date: write it as datetime'2025-01-31T00:00:00', not {token}.")
        text = token[len("datetime'"):-1]
        if not _DATETIME.match(text):
            raise QueryError(f"{token} is not a date-time (datetime'YYYY-MM-DDTHH:MM:SS').")
        return dt.datetime.fromisoformat(text)
    try:
        return Decimal(token)
    except InvalidOperation:
        raise QueryError(f"{field} is a number: {token} is not one.") from None


def parse_filter(text: str, kinds: FieldKinds) -> Predicate:
    tokens = _tokens(text)
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise QueryError("$filter ends too early.")
        position += 1
        return tokens[position - 1]

    def comparison() -> Predicate:
        if peek() == "(":
            take()
            inner = disjunction()
            if take() != ")":
                raise QueryError("$filter has a '(' without its ')'.")
            return inner
        field = take()
        if "(" in field or peek() == "(":
            raise QueryError(f"$filter function {field}(...) is not supported: filter works on number, date and "
                             "true/false fields only.")
        kind = kinds(field)
        if kind is None:
            raise QueryError(f"$filter names {field!r}, which is not a field of this list (names are "
                             "case-sensitive).")
        if kind == "text":
            raise QueryError(f"$filter on the text field {field} does not work (Sage's API methods page: filter "
                             "and orderby do not work on string values); filter on a number, date or true/false "
                             "field and compare text yourself.")
        if kind not in ("number", "bool", "date"):
            raise QueryError(f"$filter on {field} does not work: it is not a number, date or true/false field.")
        op = take().lower()
        if op not in _OPS:
            raise QueryError(f"$filter operator {op!r} is not one of {', '.join(_OPS)}.")
        value = _literal(take(), field, kind)
        compare = _OPS[op]

        def check(row: Mapping[str, Any]) -> bool:
            have = row.get(field)
            if isinstance(have, (int, float)) and not isinstance(have, bool):
                have = Decimal(str(have))
            return compare(have, value)

        return check

    def conjunction() -> Predicate:
        parts = [comparison()]
        while peek() == "and":
            take()
            parts.append(comparison())
        return lambda row: all(p(row) for p in parts)

    def disjunction() -> Predicate:
        parts = [conjunction()]
        while peek() == "or":
            take()
            parts.append(conjunction())
        return lambda row: any(p(row) for p in parts)

    predicate = disjunction()
    if position != len(tokens):
        raise QueryError(f"$filter has more after {' '.join(tokens[:position])!r}: {' '.join(tokens[position:])!r}.")
    return predicate


def _whole(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise QueryError(f"{name} must be a whole number, not {raw!r}.")
    return int(raw)


def _order(rows: list[dict[str, Any]], text: str, kinds: FieldKinds) -> list[dict[str, Any]]:
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise QueryError(f"$orderby {part.strip()!r} is not 'Field [asc|desc]'.")
        kind = kinds(words[0])
        if kind is None:
            raise QueryError(f"$orderby names {words[0]!r}, which is not a field of this list.")
        if kind == "text":
            raise QueryError(f"$orderby on the text field {words[0]} does not work (Sage's API methods page); "
                             "order by ID or a number or date field.")
        if kind not in ("number", "bool", "date"):
            raise QueryError(f"$orderby on {words[0]} does not work: it is not a number, date or true/false field.")
        keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    for field, descending in reversed(keys):
        present = [r for r in rows if r.get(field) is not None]
        missing = [r for r in rows if r.get(field) is None]
        present.sort(key=lambda r, f=field: r[f], reverse=descending)  # type: ignore[misc]
        rows = missing + present if not descending else present + missing
    return rows


def apply(rows: list[dict[str, Any]], params: Mapping[str, str], kinds: FieldKinds, *,
          require_orderby_to_skip: bool, on_capped: Callable[[int], None]) -> tuple[int, list[dict[str, Any]]]:
    """(TotalResults, this call's rows) for a list after the query options (params' names lower-cased)."""
    if "$select" in params:
        raise QueryError("$select is not one of the query options Sage documents ($top, $skip, $orderby, $filter).")
    top, skip = _whole(params, "$top"), _whole(params, "$skip")
    if skip and require_orderby_to_skip and not params.get("$orderby"):
        raise QueryError("$skip needs an $orderby (e.g. $orderby=ID): Sage asks for an order clause to page.")
    if params.get("$filter"):
        keep = parse_filter(params["$filter"], kinds)
        rows = [r for r in rows if keep(r)]
    rows = _order(sorted(rows, key=lambda r: r["ID"]), params["$orderby"], kinds) if params.get("$orderby") \
        else sorted(rows, key=lambda r: r["ID"])
    total = len(rows)
    if top is not None and top > MAX_RESULTS:
        on_capped(top)
    size = MAX_RESULTS if top is None else min(top, MAX_RESULTS)
    start = skip or 0
    return total, rows[start:start + size]


__all__ = ["MAX_RESULTS", "QueryError", "apply", "kind_of", "parse_filter"]
