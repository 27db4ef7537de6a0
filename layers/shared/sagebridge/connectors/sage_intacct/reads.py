"""Reading large record sets from Intacct with the `query` function, several pages per request.

`query` (dtdversion 3.0; newer than the published api-v3.0.xsd, which is why the sandbox and the
contract tests validate it against local/sandboxes/sage_intacct/query-supplement.xsd) takes
select/field, a filter tree, orderby, pagesize (at most 2000) and offset, and answers
`<data count totalcount numremaining offset>`. Once the first page has told the total, every other
page's offset is known, so the rest go as several `<function>`s in one request: Intacct runs the
functions of a request in order and answers one <result> each (api-v3.0.xsd: <content> holds an
unbounded sequence of <function>). 10,000 records = 2 requests (2,000, then 4 x 2,000).

Per-request limit. Neither the schema nor the developer guides we rely on give a maximum number of
functions per request; what they do document is that a synchronous request the gateway is still
working on after 15 minutes times out on the sender's side. A request is therefore held to
`MAX_FUNCTIONS_PER_REQUEST` pages (20,000 records), well inside that, and bigger sets take more
requests. Reads stay non-writing: `<uniqueid>false</uniqueid>` and no transaction.

Consistency. Pages are ordered by RECORDNO (unique, increasing), so offsets are stable while
nothing is added or deleted; if the last page says records remain (added meanwhile), reading goes on
from there. As with any offset paging, a record deleted during the read can shift another one
out of the pages; callers that must see everything re-read by WHENMODIFIED.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sagebridge.connectors.base import SageUnavailable
from sagebridge.connectors.sage_intacct.xml import Function, Result, element, sub

if TYPE_CHECKING:
    from sagebridge.connectors.sage_intacct.client import IntacctClient

MAX_QUERY_PAGE = 2000  # query's maximum pagesize
MAX_FUNCTIONS_PER_REQUEST = 10
COMPARISONS = frozenset({"equalto", "notequalto", "lessthan", "lessthanorequalto", "greaterthan",
                         "greaterthanorequalto", "like", "notlike"})


# ---------------------------------------------------------------------------------------- filters


def condition(operator: str, field: str, *values: Any) -> ET.Element:
    """One filter condition: equalto/notequalto/lessthan[orequalto]/greaterthan[orequalto]/like/notlike
    take one value, in/notin one or more, between two, isnull/isnotnull none."""
    expected = {"in": None, "notin": None, "between": 2, "isnull": 0, "isnotnull": 0}.get(
        operator, 1 if operator in COMPARISONS else -1)
    if expected == -1:
        raise ValueError(f"unknown query operator {operator!r}")
    if (expected is None and not values) or (expected is not None and len(values) != expected):
        raise ValueError(f"{operator} takes {'one or more' if expected is None else expected} value(s)")
    node = element(operator)
    sub(node, "field", field)
    for value in values:
        sub(node, "value", value)
    return node


def all_of(*conditions: ET.Element) -> ET.Element:
    return _logical("and", conditions)


def any_of(*conditions: ET.Element) -> ET.Element:
    return _logical("or", conditions)


def _logical(tag: str, conditions: Sequence[ET.Element]) -> ET.Element:
    if not conditions:
        raise ValueError(f"{tag} needs at least one condition")
    node = element(tag)
    node.extend(conditions)
    return node


# ---------------------------------------------------------------------------------------- queries


def query_element(obj: str, fields: Sequence[str], *, where: ET.Element | None = None,
                  order_by: Sequence[tuple[str, bool]] = (("RECORDNO", False),),
                  page_size: int = MAX_QUERY_PAGE, offset: int = 0) -> ET.Element:
    """<query> for one page: `order_by` is (field, descending) pairs; `where` a condition tree."""
    if not fields:
        raise ValueError("query needs at least one field to select")
    if not 1 <= page_size <= MAX_QUERY_PAGE:
        raise ValueError(f"query pagesize is 1..{MAX_QUERY_PAGE}, got {page_size}")
    node = element("query")
    sub(node, "object", obj)
    select = sub(node, "select")
    for name in fields:
        sub(select, "field", name)
    if where is not None:
        sub(node, "filter").append(where)
    if order_by:
        orders = sub(node, "orderby")
        for name, descending in order_by:
            order = sub(orders, "order")
            sub(order, "field", name)
            sub(order, "descending" if descending else "ascending")
    sub(node, "pagesize", page_size)
    sub(node, "offset", offset)
    return node


def _attribute(result: Result, name: str) -> int:
    try:
        return int(result.data_attributes.get(name) or 0)
    except ValueError:
        raise SageUnavailable(f"query answered a non-numeric {name}: {result.data_attributes.get(name)!r}") from None


def _run(client: IntacctClient, functions: list[Function]) -> list[Result]:
    """The functions in one request; each page's result in the order asked, failures raised."""
    from sagebridge.connectors.sage_intacct.client import error_for

    results = {r.controlid: r for r in client.call(functions)}
    out = []
    for function in functions:
        result = results.get(function.controlid)
        if result is None:
            raise SageUnavailable(f"Intacct answered no result for {function.controlid}")
        if not result.ok:
            raise error_for(result.errors)
        out.append(result)
    return out


def query_all(client: IntacctClient, obj: str, fields: Sequence[str], *, where: ET.Element | None = None,
              order_by: Sequence[tuple[str, bool]] = (("RECORDNO", False),), page_size: int = MAX_QUERY_PAGE,
              functions_per_request: int = MAX_FUNCTIONS_PER_REQUEST) -> Iterator[dict[str, Any]]:
    """Every `obj` record matching `where`, `fields` of each, in `order_by` order: the first page,
    then the other pages `functions_per_request` at a time in one request each."""
    per_request = max(1, min(functions_per_request, MAX_FUNCTIONS_PER_REQUEST))

    def page(offset: int) -> Function:
        return Function(f"query-{obj}-{offset}", query_element(obj, fields, where=where, order_by=order_by,
                                                              page_size=page_size, offset=offset))

    (first,) = _run(client, [page(0)])
    yield from first.records
    total = _attribute(first, "totalcount")
    next_offset = len(first.records)
    if _attribute(first, "numremaining") <= 0 or not first.records:
        return
    while True:
        offsets = list(range(next_offset, max(total, next_offset + 1), page_size))[:per_request]
        results = _run(client, [page(offset) for offset in offsets])
        for result in results:
            yield from result.records
        last = results[-1]
        next_offset = _attribute(last, "offset") + len(last.records) if last.data_attributes.get("offset") \
            else offsets[-1] + len(last.records)
        total = max(total, _attribute(last, "totalcount"))
        if _attribute(last, "numremaining") <= 0 or not last.records:
            return


__all__ = [
    "MAX_FUNCTIONS_PER_REQUEST",
    "MAX_QUERY_PAGE",
    "all_of",
    "any_of",
    "condition",
    "query_all",
    "query_element",
]
