"""The sync log (TENANT#t / LOG#run#seq): what every run did to every document, with a human reason.
Kept 90 days through the table's TTL (`expires_at`). Run ids and seqs sort by time, so the sort key
alone gives one run in order and all runs newest first; GSI2 holds one document's history."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sagebridge.store import keys
from sagebridge.store.records import Outcome, SyncLogEntry
from sagebridge.store.table import Item, Page, Table, Write, encode_token, epoch_seconds, iso, parse_iso, put, serialize

RETENTION = timedelta(days=90)


class SyncLog:
    def __init__(self, table: Table) -> None:
        self._table = table

    def stamp(self, entry: SyncLogEntry) -> SyncLogEntry:
        """The entry as it will be stored: seq, logged_at and expires_at filled in."""
        now = self._table.now()
        return replace(
            entry,
            seq=entry.seq or keys.new_sortable_id(now),
            logged_at=entry.logged_at or now,
            expires_at=epoch_seconds((entry.logged_at or now) + RETENTION),
        )

    def append_op(self, entry: SyncLogEntry) -> Write:
        """The Put of `append`, for a transaction (e.g. with the ledger's mark_exported)."""
        e = self.stamp(entry)
        assert e.seq and e.logged_at
        item = {
            "pk": keys.tenant_pk(e.tenant_id), "sk": keys.log_sk(e.run_id, e.seq),
            "gsi2pk": keys.log_by_document_pk(e.tenant_id, e.kind, e.host_id),
            "gsi2sk": keys.log_by_document_sk(e.run_id, e.seq),
            "tenant_id": e.tenant_id, "run_id": e.run_id, "seq": e.seq, "kind": e.kind,
            "host_id": e.host_id, "outcome": Outcome(e.outcome).value, "reason": e.reason,
            "sage_id": e.sage_id, "logged_at": iso(e.logged_at), "expires_at": e.expires_at,
            "reason_code": e.reason_code, "number": e.number,
        }
        # Never overwrite: a retried append with the same seq is a duplicate, not a new line.
        return put(item, condition="attribute_not_exists(pk)",
                   what=f"sync log {e.run_id}/{e.seq} of tenant {e.tenant_id}")

    def append(self, entry: SyncLogEntry) -> SyncLogEntry:
        stamped = self.stamp(entry)
        self._table.write(self.append_op(stamped))
        return stamped

    def for_run(
        self, tenant_id: str, run_id: str, *, limit: int = 100, next_token: str | None = None
    ) -> Page[SyncLogEntry]:
        """One run's entries in the order they were written."""
        pk = keys.tenant_pk(tenant_id)
        items, token = self._table.query_page(
            "pk = :p AND begins_with(sk, :prefix)", {":p": pk, ":prefix": keys.log_prefix(run_id)},
            partition=("pk", pk), limit=limit, next_token=next_token,
        )
        return Page([_entry(i) for i in items], token)

    def newest(
        self,
        tenant_id: str,
        *,
        kind: str | None = None,
        outcome: Outcome | None = None,
        host_id: str | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> Page[SyncLogEntry]:
        """A tenant's log newest first, optionally only one kind / outcome / host id. With kind and
        host_id both given this reads that document's history (GSI2) instead of filtering."""
        names: dict[str, str] = {}
        values: dict[str, object] = {}
        filters = []
        if outcome is not None:
            names["#outcome"], values[":outcome"] = "outcome", Outcome(outcome).value
            filters.append("#outcome = :outcome")
        if kind is not None and host_id is not None:
            partition = keys.log_by_document_pk(tenant_id, kind, host_id)
            query, index, attr = "gsi2pk = :p", "GSI2", "gsi2pk"
        else:
            partition, index, attr = keys.tenant_pk(tenant_id), None, "pk"
            query = "pk = :p AND begins_with(sk, :prefix)"
            values[":prefix"] = keys.log_prefix()
            for field, value in (("kind", kind), ("host_id", host_id)):
                if value is not None:
                    names[f"#{field}"], values[f":{field}"] = field, value
                    filters.append(f"#{field} = :{field}")
        items, token = self._table.query_page(
            query, {":p": partition, **values}, partition=(attr, partition), index=index,
            names=names or None, filter_expression=" AND ".join(filters) or None,
            newest_first=True, limit=limit, next_token=next_token,
        )
        return Page([_entry(i) for i in items], token)

    def token_after(self, entry: SyncLogEntry, *, by_document: bool = False) -> str:
        """A next_token that goes on just after `entry` (`newest` or `for_run`; `by_document`: the
        history `newest` reads with kind and host_id): a reader that stops inside a page it read
        resumes there, neither skipping nor repeating a line."""
        assert entry.seq
        key = {"pk": keys.tenant_pk(entry.tenant_id), "sk": keys.log_sk(entry.run_id, entry.seq)}
        if by_document:
            key |= {"gsi2pk": keys.log_by_document_pk(entry.tenant_id, entry.kind, entry.host_id),
                    "gsi2sk": keys.log_by_document_sk(entry.run_id, entry.seq)}
        token = encode_token(serialize(key))
        assert token
        return token


def _entry(item: Item) -> SyncLogEntry:
    return SyncLogEntry(
        tenant_id=item["tenant_id"], run_id=item["run_id"], kind=item["kind"], host_id=item["host_id"],
        outcome=Outcome(item["outcome"]), reason=item.get("reason", ""), sage_id=item.get("sage_id"),
        seq=item["seq"], logged_at=parse_iso(item.get("logged_at")),
        expires_at=int(item["expires_at"]) if "expires_at" in item else None,
        reason_code=item.get("reason_code"), number=item.get("number"),
    )
