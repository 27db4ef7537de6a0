"""Staged host records (TENANT#t / DOC#kind#host_id): canonical JSON + hash as the webhook received
them. Indexed by date twice so an export window is one Query whichever date basis the tenant uses:
GSI1 by posting date, GSI2 by document date, each per ledger (see keys.py), and GSI3 by when they
were staged (what changed since the last scheduled run)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime

from sagebridge.store import keys
from sagebridge.store.records import DateBasis, StagedDocument
from sagebridge.store.table import Item, Table, Write, delete, iso, missing, parse_iso, put, update

# Written only when absent or strictly newer: webhooks arrive out of order and more than once.
_NEWER = "attribute_not_exists(pk) OR #v < :v"
# The webhook door's rule: an equal version is a later change of the host's (event ids keep true
# duplicates out before this), so the later write wins the tie.
_SAME_OR_NEWER = "attribute_not_exists(pk) OR #v <= :v"


class Documents:
    def __init__(self, table: Table) -> None:
        self._table = table

    def put_op(self, document: StagedDocument, *, ties_win: bool = False) -> Write:
        """The conditional Put of `put`, for a transaction with the document's side records
        (`Store.transact`): a stale version cancels the whole transaction. `ties_win`: an equal
        version is written too (the later arrival wins)."""
        d = document
        staged_at = iso(self._table.now())
        item = {
            "pk": keys.tenant_pk(d.tenant_id), "sk": keys.document_sk(d.kind, d.host_id),
            "gsi1pk": keys.documents_by_posting_date_pk(d.tenant_id, d.ledger),
            "gsi1sk": keys.document_date_sk(d.posting_date, d.kind, d.host_id),
            "gsi2pk": keys.documents_by_document_date_pk(d.tenant_id, d.ledger),
            "gsi2sk": keys.document_date_sk(d.document_date, d.kind, d.host_id),
            "tenant_id": d.tenant_id, "kind": d.kind, "host_id": d.host_id, "ledger": d.ledger,
            "canonical_json": d.canonical_json, "payload_hash": d.payload_hash, "version": d.version,
            "posting_date": d.posting_date.isoformat(), "document_date": d.document_date.isoformat(),
            "voided": d.voided, "staged_at": staged_at,
            "gsi3pk": keys.documents_by_staged_at_pk(d.tenant_id),
            "gsi3sk": keys.staged_at_sk(staged_at, d.kind, d.host_id),
        }
        return put(item, condition=_SAME_OR_NEWER if ties_win else _NEWER, names={"#v": "version"},
                   values={":v": d.version},
                   what=f"document {d.kind}/{d.host_id} of tenant {d.tenant_id}")

    def put(self, document: StagedDocument) -> None:
        """Stage a host record. ConflictError if the stored version is the same or newer (a
        duplicate or out-of-order webhook: nothing to do)."""
        self._table.write(self.put_op(document))

    def get(self, tenant_id: str, kind: str, host_id: str) -> StagedDocument:
        found = self.find(tenant_id, kind, host_id)
        if found is None:
            raise missing(f"document {kind}/{host_id} of tenant {tenant_id}")
        return found

    def find(self, tenant_id: str, kind: str, host_id: str) -> StagedDocument | None:
        item = self._table.get(keys.tenant_pk(tenant_id), keys.document_sk(kind, host_id))
        return _record(item) if item else None

    def find_many(self, tenant_id: str, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], StagedDocument]:
        """Staged records of many (kind, host_id) at once (BatchGetItem): {(kind, host_id): record}."""
        pk = keys.tenant_pk(tenant_id)
        items = self._table.batch_get([(pk, keys.document_sk(kind, host_id)) for kind, host_id in refs])
        return {(d.kind, d.host_id): d for d in map(_record, items)}

    def between(
        self,
        tenant_id: str,
        ledger: str,
        basis: DateBasis | str,
        start: date,
        end: date,
        *,
        kinds: Iterable[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[StagedDocument]:
        """Documents of one ledger dated `start` through `end` (inclusive) by the posting or the
        document date, in date order, fetched page by page as the caller iterates. Voided
        documents are included: the export engine decides what a void means."""
        if DateBasis(basis) == DateBasis.POSTING:
            index, attr, partition = "GSI1", "gsi1", keys.documents_by_posting_date_pk(tenant_id, ledger)
        else:
            index, attr, partition = "GSI2", "gsi2", keys.documents_by_document_date_pk(tenant_id, ledger)
        low, high = keys.date_range_bounds(start, end)
        values: dict[str, object] = {":p": partition, ":low": low, ":high": high}
        wanted = None if kinds is None else sorted(set(kinds))
        if wanted == []:
            return
        filter_expression, names = _kind_filter(wanted, values)
        for item in self._table.query_all(
            f"{attr}pk = :p AND {attr}sk BETWEEN :low AND :high", values,
            partition=(f"{attr}pk", partition), index=index, limit=page_size,
            filter_expression=filter_expression, names=names,
        ):
            yield _record(item)

    def staged_since(
        self, tenant_id: str, since: datetime, *, kinds: Iterable[str] | None = None, page_size: int = 100
    ) -> Iterator[StagedDocument]:
        """Records staged (received, changed or voided) at or after `since`, whatever their dates,
        oldest first, page by page: what a scheduled run has to look at. Records staged before
        this index existed are not in it (an export without a window reads them by date)."""
        partition = keys.documents_by_staged_at_pk(tenant_id)
        values: dict[str, object] = {":p": partition, ":low": iso(since)}
        wanted = None if kinds is None else sorted(set(kinds))
        if wanted == []:
            return
        filter_expression, names = _kind_filter(wanted, values)
        for item in self._table.query_all(
            "gsi3pk = :p AND gsi3sk >= :low", values, partition=("gsi3pk", partition), index="GSI3",
            limit=page_size, filter_expression=filter_expression, names=names,
        ):
            yield _record(item)

    def mark_voided(self, tenant_id: str, kind: str, host_id: str, *, version: int) -> None:
        """The host voided the record (at `version`). NotFoundError if never staged; ConflictError
        if a newer version is already stored."""
        self._table.write_existing(self._void(tenant_id, kind, host_id, version, newer_only=True))

    def void_op(self, tenant_id: str, kind: str, host_id: str, *, version: int) -> Write:
        """Mark a staged record voided at `version`, keeping its content, if it exists and is not
        newer (an equal version is the later arrival: it wins). For a transaction."""
        return self._void(tenant_id, kind, host_id, version, newer_only=False)

    def _void(self, tenant_id: str, kind: str, host_id: str, version: int, *, newer_only: bool) -> Write:
        staged_at = iso(self._table.now())
        # Re-indexed by staged_at like any change: a scheduled run takes what was staged since the last
        # (a void that skipped this was never seen by the schedule: the front-door review's finding).
        return update(
            (keys.tenant_pk(tenant_id), keys.document_sk(kind, host_id)),
            set_={"voided": True, "version": version, "staged_at": staged_at,
                  "gsi3pk": keys.documents_by_staged_at_pk(tenant_id),
                  "gsi3sk": keys.staged_at_sk(staged_at, kind, host_id)},
            condition=f"attribute_exists(pk) AND #v {'<' if newer_only else '<='} :v", names={"#v": "version"},
            values={":v": version}, what=f"document {kind}/{host_id} of tenant {tenant_id}",
        )

    def delete(self, tenant_id: str, kind: str, host_id: str) -> None:
        """Forget a staged record (idempotent)."""
        self._table.write(delete((keys.tenant_pk(tenant_id), keys.document_sk(kind, host_id))))


def _record(item: Item) -> StagedDocument:
    return StagedDocument(
        tenant_id=item["tenant_id"], kind=item["kind"], host_id=item["host_id"], ledger=item["ledger"],
        canonical_json=item["canonical_json"], payload_hash=item["payload_hash"],
        version=int(item["version"]),
        posting_date=date.fromisoformat(item["posting_date"]),
        document_date=date.fromisoformat(item["document_date"]),
        voided=bool(item.get("voided", False)), staged_at=parse_iso(item.get("staged_at")),
    )


def _kind_filter(wanted: list[str] | None, values: dict[str, object]) -> tuple[str | None, dict[str, str] | None]:
    """A query's filter on the record kind (adds its values to `values`); (None, None): every kind."""
    if wanted is None:
        return None, None
    values |= {f":k{i}": k for i, k in enumerate(wanted)}
    return f"#kind IN ({', '.join(f':k{i}' for i in range(len(wanted)))})", {"#kind": "kind"}
