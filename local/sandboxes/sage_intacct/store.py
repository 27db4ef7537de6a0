"""In-memory Intacct companies: objects as dicts of field -> value (Intacct's upper-case names),
a few indexes for the lookups integrations make all the time, and readByQuery's filter language.

Money is Decimal, dates `date`, timestamps aware UTC `datetime`; the app writes them the way the
gateway does (mm/dd/yyyy, mm/dd/yyyy HH:MM:SS, 2 dp).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

# The fields each object is looked up by (unique or not): an equality query on one is an index hit.
INDEXED: dict[str, tuple[str, ...]] = {
    "CUSTOMER": ("CUSTOMERID", "NAME"),
    "CONTACT": ("CONTACTNAME",),
    "ITEM": ("ITEMID",),
    "ARINVOICE": ("RECORDID", "CUSTOMERID"),
    "ARADJUSTMENT": ("RECORDID", "CUSTOMERID"),
    "ARPYMT": ("DOCNUMBER", "CUSTOMERID"),
    "ARPYMTDETAIL": ("PAYMENTKEY", "RECORDKEY"),
    "VENDOR": ("VENDORID", "NAME"),
    "APBILL": ("RECORDID", "VENDORID"),
    "APADJUSTMENT": ("RECORDID", "VENDORID"),
    "TAXDETAIL": ("DETAILID",),
    "GLACCOUNT": ("ACCOUNTNO",),
    "CHECKINGACCOUNT": ("BANKACCOUNTID",),
    "LOCATION": ("LOCATIONID",),
    # The entities of a multi-entity company (a get_list object in api-v3.0.xsd); CURRENCY is the
    # entity's base currency (Intacct's Entity object), which is how a login learns its base currency.
    "LOCATIONENTITY": ("LOCATIONID",),
    "DEPARTMENT": ("DEPARTMENTID",),
    "CLASS": ("CLASSID",),
}
OBJECTS = tuple(INDEXED)
# Query filters compare text as written, as Intacct documents; False is the old lenient knob. (The
# indexes stay case-blind: they only find candidates, which the filter then checks exactly.)
CASE_SENSITIVE_TEXT = True


class QueryError(ValueError):
    """readByQuery's query could not be understood."""


@dataclass
class Company:
    company_id: str
    users: dict[str, str]  # user id -> password
    entities: set[str] = field(default_factory=set)
    base_currency: str = "USD"
    objects: dict[str, dict[int, dict[str, Any]]] = field(default_factory=lambda: {o: {} for o in OBJECTS})
    indexes: dict[tuple[str, str], dict[str, set[int]]] = field(default_factory=dict)
    executed: set[str] = field(default_factory=set)  # controlids run and completed under uniqueid
    # Company > Setup > Company, Security tab, "Web Services authorizations": the sender IDs that may
    # make Web Services requests to this company (developer.intacct.com/support/faq).
    authorised_senders: set[str] = field(default_factory=set)
    custom_fields: dict[str, set[str]] = field(default_factory=dict)  # object -> custom field names
    next_recordno: int = 1

    def add(self, obj: str, record: dict[str, Any]) -> dict[str, Any]:
        recordno = self.next_recordno
        self.next_recordno += 1
        record["RECORDNO"] = recordno
        self.objects[obj][recordno] = record
        for name in INDEXED.get(obj, ()):
            value = record.get(name)
            if value is not None:
                self.indexes.setdefault((obj, name), {}).setdefault(_norm(value), set()).add(recordno)
        return record

    def replace(self, obj: str, recordno: int, record: dict[str, Any]) -> dict[str, Any]:
        """Store `record` as the new state of `recordno` (an update), its index entries moved."""
        self.remove(obj, recordno)
        record["RECORDNO"] = recordno
        self.objects[obj][recordno] = record
        for name in INDEXED.get(obj, ()):
            value = record.get(name)
            if value is not None:
                self.indexes.setdefault((obj, name), {}).setdefault(_norm(value), set()).add(recordno)
        return record

    def remove(self, obj: str, recordno: int) -> None:
        record = self.objects[obj].pop(recordno, None)
        if record is None:
            return
        for name in INDEXED.get(obj, ()):
            bucket = self.indexes.get((obj, name), {}).get(_norm(record.get(name)))
            if bucket is not None:
                bucket.discard(recordno)

    def find(self, obj: str, name: str, value: Any) -> list[dict[str, Any]]:
        if name == "RECORDNO":
            record = self.objects[obj].get(_int(value))
            return [record] if record is not None else []
        if name in INDEXED.get(obj, ()):
            ids = self.indexes.get((obj, name), {}).get(_norm(value), set())
            return [self.objects[obj][i] for i in sorted(ids)]
        return [r for r in self.objects[obj].values() if _norm(get_field(r, name)) == _norm(value)]

    def one(self, obj: str, name: str, value: Any) -> dict[str, Any] | None:
        found = self.find(obj, name, value)
        return found[0] if found else None

    def query(self, obj: str, text: str) -> list[dict[str, Any]]:
        """Records of `obj` matching a readByQuery filter, in RECORDNO order."""
        conditions = parse_query(text)
        records = self.objects[obj]
        # An index hit for a leading equality (the lookups integrations make for every document).
        if conditions and conditions[0][0] == "AND" and conditions[0][2] == "=" and (
                conditions[0][1] == "RECORDNO" or conditions[0][1] in INDEXED.get(obj, ())):
            candidates: Iterable[dict[str, Any]] = self.find(obj, conditions[0][1], conditions[0][3])
            if any(joiner == "OR" for joiner, *_ in conditions[1:]):
                candidates = records.values()
        else:
            candidates = records.values()
        return [r for r in candidates if matches(r, conditions)]


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return -1


def _norm(value: Any) -> str:
    return "" if value is None else str(value).strip().lower() if isinstance(value, str) else str(value)


def get_field(record: dict[str, Any], name: str) -> Any:
    """A field by its name; dotted names reach into nested contacts (DISPLAYCONTACT.EMAIL1)."""
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# ---------------------------------------------------------------------------------- readByQuery


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<list>\((?:[^()']|'(?:[^']|'')*')*\))|"
    r"(?P<comma>,)|(?P<op><>|!=|<=|>=|=|<|>)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<num>-?\d+(?:\.\d+)?))",
)
Condition = tuple[str, str, str, Any]  # (joiner AND/OR, field, operator, value)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise QueryError(f"cannot read the query near {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _literal(kind: str, raw: str) -> Any:
    if kind == "str":
        return raw[1:-1].replace("''", "'")
    if kind == "num":
        return raw
    if kind == "list":
        return [_literal(k, v) for k, v in _tokens(raw[1:-1]) if k in ("str", "num")]
    raise QueryError(f"expected a value, got {raw!r}")


def parse_query(text: str) -> list[Condition]:
    """FIELD op value [AND|OR FIELD op value]...; ops = != <> < <= > >= like, not like, in,
    not in, is null, is not null. Evaluated left to right (the sandbox has no parentheses)."""
    tokens = _tokens(text or "")
    conditions: list[Condition] = []
    i, joiner = 0, "AND"
    while i < len(tokens):
        kind, name = tokens[i]
        if kind != "word":
            raise QueryError(f"expected a field name, got {name!r}")
        i += 1
        words = []
        while i < len(tokens) and tokens[i][0] == "word" and tokens[i][1].upper() in ("NOT", "LIKE", "IN", "IS",
                                                                                      "NULL"):
            words.append(tokens[i][1].upper())
            i += 1
        if words[-2:] == ["IS", "NULL"] or words == ["IS", "NULL"]:
            conditions.append((joiner, name, "isnull", None))
        elif words == ["IS", "NOT", "NULL"]:
            conditions.append((joiner, name, "notnull", None))
        else:
            if words:
                op = " ".join(words).lower()
            else:
                if i >= len(tokens) or tokens[i][0] != "op":
                    raise QueryError(f"expected an operator after {name}")
                op = tokens[i][1]
                i += 1
            if i >= len(tokens):
                raise QueryError(f"expected a value after {name} {op}")
            conditions.append((joiner, name, op, _literal(*tokens[i])))
            i += 1
        if i < len(tokens):
            kind, word = tokens[i]
            if kind != "word" or word.upper() not in ("AND", "OR"):
                raise QueryError(f"expected AND or OR, got {word!r}")
            joiner = word.upper()
            i += 1
    return conditions


def _comparable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | Decimal):
        return value
    text = str(value).strip()
    for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y"):
        try:
            parsed = dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)
            return parsed if " " in text else parsed.date()
        except ValueError:
            continue
    try:
        return Decimal(text)
    except InvalidOperation:
        # "String operands are case-sensitive" (developer.intacct.com/web-services/queries/).
        return text if CASE_SENSITIVE_TEXT else text.lower()


def _case(text: str) -> str:
    return text if CASE_SENSITIVE_TEXT else text.lower()


def _compare(left: Any, right: Any, op: str) -> bool:
    a, b = _comparable(left), _comparable(right)
    if isinstance(a, dt.datetime) and isinstance(b, dt.date) and not isinstance(b, dt.datetime):
        a = a.date()
    elif isinstance(b, dt.datetime) and isinstance(a, dt.date) and not isinstance(a, dt.datetime):
        b = b.date()
    try:
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "=": lambda x, y: x == y, "!=": lambda x, y: x != y, "<>": lambda x, y: x != y,
            "<": lambda x, y: x < y, "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y,
        }
        return ops[op](a, b)
    except TypeError:
        return ops[op](str(a), str(b))


def _holds(record: dict[str, Any], name: str, op: str, value: Any) -> bool:
    actual = get_field(record, name)
    if op == "isnull":
        return actual in (None, "")
    if op == "notnull":
        return actual not in (None, "")
    if op in ("in", "not in"):
        inside = any(_compare(actual, v, "=") for v in value) if actual is not None else False
        return inside if op == "in" else not inside
    if op in ("like", "not like"):
        pattern = "^" + re.escape(_case(str(value))).replace("%", ".*").replace("_", ".") + "$"
        hit = actual is not None and re.match(pattern, _case(str(actual)), re.DOTALL) is not None
        return hit if op == "like" else not hit
    if actual is None:
        return op in ("!=", "<>")
    return _compare(actual, value, op)


def matches(record: dict[str, Any], conditions: list[Condition]) -> bool:
    result = True
    for index, (joiner, name, op, value) in enumerate(conditions):
        holds = _holds(record, name, op, value)
        result = holds if index == 0 else (result and holds) if joiner == "AND" else (result or holds)
    return result
