"""In-memory records per business, with the indexes that keep every request O(page).

Nothing here is thread-safe on its own: the sandbox holds one lock around every request.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

_SEQ = itertools.count(1)


@dataclass(eq=False)
class Record:
    """One Sage object. ``data`` holds its attributes in Sage's shape (Decimal for money)."""

    id: str
    data: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    seq: int = field(default_factory=lambda: next(_SEQ))
    deleted_at: dt.datetime | None = None
    contact_id: str | None = None
    search_text: str = ""
    date: dt.date | None = None


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


class Collection:
    """Records of one kind (e.g. sales_invoices) in one business.

    Kept in creation order; indexes by contact, by update order (for ``updated_or_created_since``),
    by trigram (for ``search``) and a deletion log (for ``deleted_since``). Filtered id lists are
    cached until the collection changes, so walking pages costs O(page) after the first.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: dict[str, Record] = {}
        self._order: list[str] = []
        self._by_update: OrderedDict[str, None] = OrderedDict()
        self._by_contact: dict[str, dict[str, None]] = {}
        self._trigram_index: dict[str, set[str]] = {}
        self.deleted: list[Record] = []  # in deletion order
        self._deleted_times: list[dt.datetime] = []
        self.version = 0
        self._query_cache: OrderedDict[Any, tuple[int, list[str]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.records)

    def get(self, record_id: str) -> Record | None:
        return self.records.get(record_id)

    def add(self, record: Record) -> Record:
        self.records[record.id] = record
        self._order.append(record.id)
        self._by_update[record.id] = None
        if record.contact_id:
            self._by_contact.setdefault(record.contact_id, {})[record.id] = None
        self._index_text(record)
        self.version += 1
        return record

    def touch(self, record: Record, now: dt.datetime) -> None:
        """Mark a record changed: it moves to the end of the update order."""
        record.updated_at = now
        self._by_update.move_to_end(record.id)
        self.version += 1

    def reindex(self, record: Record, search_text: str, contact_id: str | None) -> None:
        self._unindex_text(record)
        if record.contact_id != contact_id:
            if record.contact_id:
                self._by_contact.get(record.contact_id, {}).pop(record.id, None)
            if contact_id:
                self._by_contact.setdefault(contact_id, {})[record.id] = None
            record.contact_id = contact_id
        record.search_text = search_text
        self._index_text(record)
        self.version += 1

    def remove(self, record: Record, now: dt.datetime) -> None:
        del self.records[record.id]
        self._order.remove(record.id)
        self._by_update.pop(record.id, None)
        if record.contact_id:
            self._by_contact.get(record.contact_id, {}).pop(record.id, None)
        self._unindex_text(record)
        record.deleted_at = now
        record.data["deleted_at"] = now
        self.deleted.append(record)
        self._deleted_times.append(now)
        self.version += 1

    def _index_text(self, record: Record) -> None:
        for gram in _trigrams(record.search_text):
            self._trigram_index.setdefault(gram, set()).add(record.id)

    def _unindex_text(self, record: Record) -> None:
        for gram in _trigrams(record.search_text):
            ids = self._trigram_index.get(gram)
            if ids is not None:
                ids.discard(record.id)

    # -- queries -------------------------------------------------------------------------------

    def all_ids(self) -> list[str]:
        return self._order

    def ids_for_contact(self, contact_id: str) -> list[str]:
        return list(self._by_contact.get(contact_id, {}))

    def ids_changed_since(self, since: dt.datetime) -> list[str]:
        """Inclusive of ``since``; O(matches) by walking the update order backwards."""
        found = []
        for record_id in reversed(self._by_update):
            if self.records[record_id].updated_at < since:
                break
            found.append(record_id)
        return found

    def ids_matching(self, text: str) -> list[str]:
        """Case-insensitive substring match on the record's searchable text."""
        needle = text.lower()
        if len(needle) < 3:
            return [rid for rid in self._order if needle in self.records[rid].search_text]
        candidates: set[str] | None = None
        for gram in sorted(_trigrams(needle), key=lambda g: len(self._trigram_index.get(g, ()))):
            ids = self._trigram_index.get(gram, set())
            candidates = set(ids) if candidates is None else candidates & ids
            if not candidates:
                return []
        return [rid for rid in candidates or () if needle in self.records[rid].search_text]

    def deleted_since(self, since: dt.datetime) -> list[Record]:
        """Not inclusive of ``since``, as Sage documents it."""
        return self.deleted[bisect.bisect_right(self._deleted_times, since):]

    def cached_query(self, key: Any) -> list[str] | None:
        hit = self._query_cache.get(key)
        if hit is None or hit[0] != self.version:
            return None
        self._query_cache.move_to_end(key)
        return hit[1]

    def remember_query(self, key: Any, ids: list[str]) -> None:
        self._query_cache[key] = (self.version, ids)
        self._query_cache.move_to_end(key)
        while len(self._query_cache) > 32:
            self._query_cache.popitem(last=False)


COLLECTIONS = (
    "contacts",
    "sales_invoices",
    "sales_credit_notes",
    "purchase_invoices",
    "purchase_credit_notes",
    "contact_payments",
    "contact_allocations",
    "tax_rates",
    "ledger_accounts",
    "bank_accounts",
    "products",
    "services",
    "artefact_statuses",
)


@dataclass(eq=False)
class Business:
    id: str
    name: str
    created_at: dt.datetime
    data: dict[str, Any]
    collections: dict[str, Collection] = field(default_factory=dict)
    # (collection, idempotency_id) -> (expires_at, status, body, fingerprint of the request's record)
    idempotency: dict[tuple[str, str], tuple[dt.datetime, int, Any, str]] = field(default_factory=dict)
    number_counters: dict[str, int] = field(default_factory=dict)
    base_currency: str = "GBP"  # GET /financial_settings; the only currency without multi-currency

    def __post_init__(self) -> None:
        for name in COLLECTIONS:
            self.collections.setdefault(name, Collection(name))

    def next_number(self, series: str) -> int:
        self.number_counters[series] = self.number_counters.get(series, 0) + 1
        return self.number_counters[series]
