"""The gateway's `query` function (dtdversion 3.0; see query-supplement.xsd for why it is not in
api-v3.0.xsd): select fields, a filter tree, orderby, pagesize (<= 2000, default 100) and offset
over one object; the answer's <data> carries listtype, count, totalcount, numremaining and offset.

Filters compile once per request into Python predicates (no per-record parsing), and an `equalto`
on an indexed field at the top of the filter is an index hit, so 10,000 records page quickly.
Comparisons follow the sandbox's readByQuery (store.py): dates and numbers by value, text as
written (case-sensitive, as Intacct documents). Only plain fields are selected; aggregates (count, sum...) are refused.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from .store import INDEXED, Company, _case, _compare, get_field

MAX_PAGE_SIZE = 2000
DEFAULT_PAGE_SIZE = 100
INVALID = "BL03000018"

Predicate = Callable[[dict[str, Any]], bool]
_COMPARISONS = {"equalto": "=", "notequalto": "!=", "lessthan": "<", "lessthanorequalto": "<=",
                "greaterthan": ">", "greaterthanorequalto": ">="}


class QueryRefused(ValueError):
    """The query cannot be run (unknown operator, aggregate, bad number...)."""


def _field(node: ET.Element) -> str:
    name = (node.findtext("field") or "").strip()
    if not name:
        raise QueryRefused(f"<{node.tag}> needs a <field>")
    return name


def _values(node: ET.Element) -> list[str]:
    return [(v.text or "") for v in node.findall("value")]


def _comparison(name: str, op: str, value: str) -> Predicate:
    def holds(record: dict[str, Any]) -> bool:
        actual = get_field(record, name)
        if actual is None:
            return op == "!="
        return _compare(actual, value, op)
    return holds


def _like(name: str, value: str, negate: bool) -> Predicate:
    pattern = re.compile("^" + re.escape(_case(value)).replace("%", ".*").replace("_", ".") + "$", re.DOTALL)

    def holds(record: dict[str, Any]) -> bool:
        actual = get_field(record, name)
        hit = actual is not None and pattern.match(_case(str(actual))) is not None
        return hit != negate
    return holds


def _in(name: str, values: list[str], negate: bool) -> Predicate:
    def holds(record: dict[str, Any]) -> bool:
        actual = get_field(record, name)
        inside = actual is not None and any(_compare(actual, v, "=") for v in values)
        return inside != negate
    return holds


def compile_condition(node: ET.Element) -> Predicate:
    """One filter element (and/or nest) as a predicate over a record."""
    tag = node.tag
    if tag in ("and", "or"):
        parts = [compile_condition(child) for child in node]
        if not parts:
            raise QueryRefused(f"<{tag}> needs at least one condition")
        if tag == "and":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    name = _field(node)
    values = _values(node)
    if tag in _COMPARISONS:
        if len(values) != 1:
            raise QueryRefused(f"<{tag}> needs one <value>")
        return _comparison(name, _COMPARISONS[tag], values[0])
    if tag in ("like", "notlike"):
        if len(values) != 1:
            raise QueryRefused(f"<{tag}> needs one <value>")
        return _like(name, values[0], negate=tag == "notlike")
    if tag in ("in", "notin"):
        if not values:
            raise QueryRefused(f"<{tag}> needs at least one <value>")
        return _in(name, values, negate=tag == "notin")
    if tag == "between":
        if len(values) != 2:
            raise QueryRefused("<between> needs two <value>s")
        low, high = _comparison(name, ">=", values[0]), _comparison(name, "<=", values[1])
        return lambda r: low(r) and high(r)
    if tag == "isnull":
        return lambda r: get_field(r, name) in (None, "")
    if tag == "isnotnull":
        return lambda r: get_field(r, name) not in (None, "")
    raise QueryRefused(f"the filter operator <{tag}> is not supported")


def _candidates(company: Company, obj: str, condition: ET.Element | None) -> Iterable[dict[str, Any]]:
    """Every record, or an index's few when the filter is (or starts an <and> with) an equalto on
    an indexed field."""
    probe = condition
    if probe is not None and probe.tag == "and" and len(probe):
        probe = probe[0]
    if probe is not None and probe.tag == "equalto":
        name = (probe.findtext("field") or "").strip()
        if name == "RECORDNO" or name in INDEXED.get(obj, ()):
            return company.find(obj, name, probe.findtext("value") or "")
    return company.objects[obj].values()


def _number(node: ET.Element, tag: str, default: int) -> int:
    text = (node.findtext(tag) or "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise QueryRefused(f"{tag} must be a whole number, got {text!r}") from None


def _sort_key(name: str) -> Callable[[dict[str, Any]], Any]:
    def key(record: dict[str, Any]) -> tuple[int, str | float]:
        value = get_field(record, name)
        if value is None or value == "":
            return (0, "")
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return (1, float(value))
        return (2, str(value).lower()) if not hasattr(value, "isoformat") else (2, value.isoformat())
    return key


def run_query(node: ET.Element, company: Company, objects: Iterable[str], *,
              hidden: Callable[[str], set[str]] | None = None) -> tuple[str, list[dict[str, Any]],
                                                                         list[str], dict[str, Any]]:
    """(object, the page's records, the selected fields, the <data> attributes) of a <query>;
    `hidden(obj)`: RECORDNOs the query does not see yet (the chaos profile's search lag)."""
    obj = (node.findtext("object") or "").strip().upper()
    if obj not in objects:
        raise QueryRefused(f"Object '{node.findtext('object')}' is not available")
    select = node.find("select")
    fields: list[str] = []
    for child in select if select is not None else ():
        if child.tag != "field":
            raise QueryRefused(f"the aggregate <{child.tag}> is not supported by this sandbox")
        if (child.text or "").strip():
            fields.append(child.text.strip())  # type: ignore[union-attr]
    if not fields:
        raise QueryRefused("select at least one field (returning all fields is not supported)")
    size = _number(node, "pagesize", DEFAULT_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise QueryRefused(f"pagesize must be between 1 and {MAX_PAGE_SIZE}")
    offset = _number(node, "offset", 0)
    if offset < 0:
        raise QueryRefused("offset cannot be negative")
    filter_node = node.find("filter")
    condition = next(iter(filter_node), None) if filter_node is not None else None
    predicate = compile_condition(condition) if condition is not None else None
    candidates = _candidates(company, obj, condition)
    matched = [r for r in candidates if predicate(r)] if predicate is not None else list(candidates)
    lagging = hidden(obj) if hidden is not None else set()
    if lagging:
        matched = [r for r in matched if str(r.get("RECORDNO")) not in lagging]
    orders = node.findall("orderby/order")
    if orders:
        for order in reversed(orders):  # stable sorts, last key first
            matched.sort(key=_sort_key(_field(order)), reverse=order.find("descending") is not None)
    else:
        matched.sort(key=lambda r: r["RECORDNO"])
    page = matched[offset:offset + size]
    total = len(matched)
    attributes = {"listtype": obj, "count": len(page), "totalcount": total,
                  "numremaining": max(0, total - offset - len(page)), "offset": offset}
    return obj, page, fields, attributes


def render(obj: str, records: list[dict[str, Any]], fields: list[str]) -> list[ET.Element]:
    """Each record as <OBJ> with exactly the selected fields, in select order (missing ones empty)."""
    from .app import _write

    out = []
    for record in records:
        node = ET.Element(obj)
        for name in fields:
            _write(node, name, get_field(record, name))
        out.append(node)
    return out


__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "QueryRefused", "compile_condition", "render", "run_query"]
