"""Id mappings host -> Sage (TENANT#t / MAP#kind#host_id) with the reverse lookup Sage -> host on
GSI2 (TENANT#t#SAGE#kind#sage_id): payments polled from Sage name the Sage invoice, not ours."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sagebridge.store import keys
from sagebridge.store.records import IdMapping
from sagebridge.store.table import Item, Page, Table, Write, delete, iso, missing, parse_iso, plain, put


class Mappings:
    def __init__(self, table: Table) -> None:
        self._table = table

    def put_op(
        self, tenant_id: str, kind: str, host_id: str, sage_id: str, extra: dict[str, Any] | None = None
    ) -> Write:
        """The Put of `put`, for a transaction (e.g. with the ledger's mark_exported)."""
        item = {
            "pk": keys.tenant_pk(tenant_id), "sk": keys.mapping_sk(kind, host_id),
            "gsi2pk": keys.mapping_by_sage_id_pk(tenant_id, kind, sage_id),
            "gsi2sk": keys.mapping_sk(kind, host_id),
            "tenant_id": tenant_id, "kind": kind, "host_id": host_id, "sage_id": sage_id,
            "extra": extra or {}, "updated_at": iso(self._table.now()),
        }
        # Unconditional: re-linking a host record to another Sage record is a legitimate change,
        # not a state transition; the ledger guards exports.
        return put(item, what=f"mapping {kind}/{host_id} of tenant {tenant_id}")

    def put(
        self, tenant_id: str, kind: str, host_id: str, sage_id: str, extra: dict[str, Any] | None = None
    ) -> IdMapping:
        self._table.write(self.put_op(tenant_id, kind, host_id, sage_id, extra))
        return IdMapping(tenant_id, kind, host_id, sage_id, dict(extra or {}), self._table.now())

    def get(self, tenant_id: str, kind: str, host_id: str) -> IdMapping:
        found = self.find(tenant_id, kind, host_id)
        if found is None:
            raise missing(f"mapping {kind}/{host_id} of tenant {tenant_id}")
        return found

    def find(self, tenant_id: str, kind: str, host_id: str) -> IdMapping | None:
        item = self._table.get(keys.tenant_pk(tenant_id), keys.mapping_sk(kind, host_id))
        return _record(item) if item else None

    def find_many(self, tenant_id: str, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], IdMapping]:
        """Mappings of many (kind, host_id) at once (BatchGetItem): {(kind, host_id): mapping}."""
        pk = keys.tenant_pk(tenant_id)
        items = self._table.batch_get([(pk, keys.mapping_sk(kind, host_id)) for kind, host_id in refs])
        return {(m.kind, m.host_id): m for m in map(_record, items)}

    def find_by_sage_id(self, tenant_id: str, kind: str, sage_id: str) -> IdMapping | None:
        """The mapping whose Sage id is `sage_id` (None if none). Reads the index, which can lag a
        fresh write by a moment."""
        partition = keys.mapping_by_sage_id_pk(tenant_id, kind, sage_id)
        items, _ = self._table.query_page(
            "gsi2pk = :p", {":p": partition}, partition=("gsi2pk", partition), index="GSI2", limit=1
        )
        return _record(items[0]) if items else None

    def find_many_by_sage_id(self, tenant_id: str, kind: str, sage_ids: Iterable[str]) -> dict[str, IdMapping]:
        """The mappings of one kind whose Sage ids are among `sage_ids` ({sage_id: mapping}), in as
        few requests as it can tell: the kind's mappings a page (up to 1 MB) at a time while a page
        costs less than the index queries still to make, then one index query per Sage id not found.
        Never more than twice the cheaper of the two ways."""
        missing_ids = set(sage_ids)
        found: dict[str, IdMapping] = {}
        pk, token, pages = keys.tenant_pk(tenant_id), None, 0
        while len(missing_ids) > 1 + pages:
            items, token = self._table.query_page(
                "pk = :p AND begins_with(sk, :prefix)", {":p": pk, ":prefix": keys.mappings_prefix(kind)},
                partition=("pk", pk), limit=1000, next_token=token,
            )
            pages += 1
            for mapping in map(_record, items):
                if mapping.sage_id in missing_ids:
                    found[mapping.sage_id] = mapping
                    missing_ids.discard(mapping.sage_id)
            if not token:
                return found  # every mapping of the kind read: the rest are not ours
        for sage_id in sorted(missing_ids):
            one = self.find_by_sage_id(tenant_id, kind, sage_id)
            if one is not None:
                found[sage_id] = one
        return found

    def list(
        self, tenant_id: str, kind: str | None = None, *, limit: int = 100, next_token: str | None = None
    ) -> Page[IdMapping]:
        """A tenant's mappings (of one kind), for mapping health checks and the admin API."""
        pk = keys.tenant_pk(tenant_id)
        items, token = self._table.query_page(
            "pk = :p AND begins_with(sk, :prefix)", {":p": pk, ":prefix": keys.mappings_prefix(kind)},
            partition=("pk", pk), limit=limit, next_token=next_token,
        )
        return Page([_record(i) for i in items], token)

    def delete(self, tenant_id: str, kind: str, host_id: str) -> None:
        self._table.write(delete((keys.tenant_pk(tenant_id), keys.mapping_sk(kind, host_id))))


def _record(item: Item) -> IdMapping:
    return IdMapping(
        tenant_id=item["tenant_id"], kind=item["kind"], host_id=item["host_id"], sage_id=item["sage_id"],
        extra=plain(item.get("extra") or {}), updated_at=parse_iso(item.get("updated_at")),
    )
