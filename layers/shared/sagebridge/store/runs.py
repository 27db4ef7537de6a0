"""Runs (TENANT#t / RUN#run): one export or poll, its counts, window and trigger. Run ids sort by
time (keys.new_sortable_id), so a descending Query is newest first. Kept as long as the sync log.

A running run carries `alive_until`, pushed on by its worker's heartbeat; a run still `running`
past it lost its worker (killed, timed out) and is closed as `abandoned` by the tenant's next run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sagebridge.domain.errors import ConflictError
from sagebridge.store import keys
from sagebridge.store.records import Outcome, RunRecord, RunStatus
from sagebridge.store.synclog import RETENTION
from sagebridge.store.table import (
    Item,
    Page,
    Table,
    Write,
    epoch_seconds,
    iso,
    missing,
    parse_iso,
    plain,
    put,
    serialize,
    update,
)


class Runs:
    def __init__(self, table: Table) -> None:
        self._table = table

    def new_id(self) -> str:
        """A fresh, time-sortable run id."""
        return keys.new_sortable_id(self._table.now())

    def start_op(self, run: RunRecord) -> Write:
        now = self._table.now()
        started = run.started_at or now
        item = {
            "pk": keys.tenant_pk(run.tenant_id), "sk": keys.run_sk(run.run_id),
            "tenant_id": run.tenant_id, "run_id": run.run_id, "trigger": run.trigger,
            "status": RunStatus(run.status).value, "dry_run": run.dry_run,
            # Every outcome present from the start: add_counts ADDs into this map.
            "counts": {**{o.value: 0 for o in Outcome}, **run.counts},
            "details": run.details, "started_at": iso(started),
            "expires_at": epoch_seconds(started + RETENTION),
        }
        if run.alive_until is not None:
            item["alive_until"] = iso(run.alive_until)
        return put(item, condition="attribute_not_exists(pk)",
                   what=f"run {run.run_id} of tenant {run.tenant_id}")

    def start(self, run: RunRecord) -> RunRecord:
        """Record a new run (ConflictError if the id is taken)."""
        self._table.write(self.start_op(run))
        return self.get(run.tenant_id, run.run_id)

    def add_counts_op(self, tenant_id: str, run_id: str, counts: dict[str, int]) -> Write:
        """Atomic increments (ADD), safe with parallel writers within a run."""
        names = {"#counts": "counts", **{f"#c{i}": k for i, k in enumerate(counts)}}
        values = {f":c{i}": n for i, n in enumerate(counts.values())}
        adds = ", ".join(f"#counts.#c{i} :c{i}" for i in range(len(counts)))
        return Write("Update", {
            "Key": serialize({"pk": keys.tenant_pk(tenant_id), "sk": keys.run_sk(run_id)}),
            "UpdateExpression": f"ADD {adds}",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize(values),
        }, f"run {run_id} of tenant {tenant_id}")

    def add_counts(self, tenant_id: str, run_id: str, counts: dict[str, int]) -> None:
        if counts:
            self._table.write_existing(self.add_counts_op(tenant_id, run_id, counts))

    def finish(
        self, tenant_id: str, run_id: str, status: RunStatus, *, details: dict[str, Any] | None = None
    ) -> RunRecord:
        """Close a running run (ConflictError if it was already finished)."""
        now = self._table.now()
        fields: dict[str, Any] = {"status": RunStatus(status).value, "finished_at": iso(now)}
        if details is not None:
            fields["details"] = details
        new = self._table.write_existing(update(
            (keys.tenant_pk(tenant_id), keys.run_sk(run_id)), set_=fields,
            condition="#status = :running", names={"#status": "status"},
            values={":running": RunStatus.RUNNING.value}, what=f"run {run_id} of tenant {tenant_id}",
        ), ReturnValues="ALL_NEW")
        return _record(new)

    def heartbeat(self, tenant_id: str, run_id: str, alive_until: datetime) -> None:
        """The run's worker is alive: push `alive_until` on. ConflictError if the run is no longer
        running (a later run closed it as abandoned)."""
        self._table.write_existing(update(
            (keys.tenant_pk(tenant_id), keys.run_sk(run_id)), set_={"alive_until": iso(alive_until)},
            condition="#status = :running", names={"#status": "status"},
            values={":running": RunStatus.RUNNING.value}, what=f"run {run_id} of tenant {tenant_id}",
        ))

    def close_abandoned(self, tenant_id: str, *, now: datetime, newest: int = 50) -> list[RunRecord]:
        """Close the tenant's runs (among the `newest`) still `running` past their heartbeat as
        `abandoned`. Runs without a heartbeat (older records) are left alone. One Query, plus one
        conditional update per dead run; a heartbeat that lands first wins."""
        closed = []
        for run in self.newest(tenant_id, limit=newest):
            if run.status is not RunStatus.RUNNING or run.alive_until is None or run.alive_until >= now:
                continue
            why = (f"no heartbeat since {iso(run.alive_until)}: its worker stopped (killed or timed out) "
                   "before it finished; the next run took over its documents")
            try:
                new = self._table.write_existing(update(
                    (keys.tenant_pk(tenant_id), keys.run_sk(run.run_id)),
                    set_={"status": RunStatus.ABANDONED.value, "finished_at": iso(now),
                          "details": {**run.details, "abandoned": why}},
                    condition="#status = :running AND alive_until < :now", names={"#status": "status"},
                    values={":running": RunStatus.RUNNING.value, ":now": iso(now)},
                    what=f"run {run.run_id} of tenant {tenant_id}",
                ), ReturnValues="ALL_NEW")
            except ConflictError:
                continue  # it beat, or someone else closed it
            closed.append(_record(new))
        return closed

    def annotate(self, tenant_id: str, run_id: str, details: dict[str, Any]) -> None:
        """Replace a finished run's details (the export worker adds why a run failed)."""
        self._table.write_existing(update(
            (keys.tenant_pk(tenant_id), keys.run_sk(run_id)), set_={"details": details},
            condition="attribute_exists(pk)", what=f"run {run_id} of tenant {tenant_id}"))

    def get(self, tenant_id: str, run_id: str) -> RunRecord:
        item = self._table.get(keys.tenant_pk(tenant_id), keys.run_sk(run_id))
        if item is None:
            raise missing(f"run {run_id} of tenant {tenant_id}")
        return _record(item)

    def newest(self, tenant_id: str, *, limit: int = 20, next_token: str | None = None) -> Page[RunRecord]:
        """Run history, newest first."""
        pk = keys.tenant_pk(tenant_id)
        items, token = self._table.query_page(
            "pk = :p AND begins_with(sk, :prefix)", {":p": pk, ":prefix": keys.runs_prefix()},
            partition=("pk", pk), newest_first=True, limit=limit, next_token=next_token,
        )
        return Page([_record(i) for i in items], token)


def _record(item: Item) -> RunRecord:
    return RunRecord(
        tenant_id=item["tenant_id"], run_id=item["run_id"], trigger=item["trigger"],
        status=RunStatus(item["status"]), dry_run=bool(item.get("dry_run", False)),
        counts={k: int(v) for k, v in (item.get("counts") or {}).items()},
        details=plain(item.get("details") or {}),
        started_at=parse_iso(item.get("started_at")), finished_at=parse_iso(item.get("finished_at")),
        alive_until=parse_iso(item.get("alive_until")),
    )
