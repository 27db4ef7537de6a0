from __future__ import annotations

from datetime import timedelta

import pytest

from sagebridge.domain.errors import ConflictError, NotFoundError
from sagebridge.store import Outcome, RunRecord, RunStatus, SyncLogEntry

pytestmark = pytest.mark.integration


def test_sync_log_entries_expire_after_90_days(store, clock, dynamodb_client):
    entry = store.synclog.append(SyncLogEntry("acme", "run-1", "invoice", "I1", Outcome.CREATED, sage_id="s1"))
    expected = int((clock.now + timedelta(days=90)).timestamp())
    assert entry.expires_at == expected
    raw = dynamodb_client.scan(TableName=store.table.name)["Items"][0]
    assert raw["expires_at"] == {"N": str(expected)}
    ttl = dynamodb_client.describe_time_to_live(TableName=store.table.name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


def write_two_runs(store, clock):
    runs = []
    for _ in range(2):
        run_id = store.runs.new_id()
        runs.append(run_id)
        for host_id, outcome, reason in [("I1", Outcome.CREATED, ""), ("I2", Outcome.SKIPPED, "currency USD"),
                                         ("C1", Outcome.FAILED, "Sage 500")]:
            kind = "customer" if host_id.startswith("C") else "invoice"
            store.synclog.append(SyncLogEntry("acme", run_id, kind, host_id, outcome, reason))
            clock.advance(milliseconds=5)
        clock.advance(minutes=15)
    return runs


def test_sync_log_by_run_and_newest_first_with_filters(store, clock):
    old_run, new_run = write_two_runs(store, clock)
    store.synclog.append(SyncLogEntry("globex", new_run, "invoice", "I1", Outcome.CREATED))

    assert [e.host_id for e in store.synclog.for_run("acme", old_run)] == ["I1", "I2", "C1"]

    newest = store.synclog.newest("acme")
    assert [(e.run_id, e.host_id) for e in newest] == [
        (new_run, "C1"), (new_run, "I2"), (new_run, "I1"), (old_run, "C1"), (old_run, "I2"), (old_run, "I1")]

    skipped = store.synclog.newest("acme", outcome=Outcome.SKIPPED)
    assert [(e.run_id, e.reason) for e in skipped] == [(new_run, "currency USD"), (old_run, "currency USD")]
    assert {e.kind for e in store.synclog.newest("acme", kind="customer")} == {"customer"}
    assert [e.run_id for e in store.synclog.newest("acme", host_id="I2")] == [new_run, old_run]
    history = store.synclog.newest("acme", kind="invoice", host_id="I1")  # one document's history (GSI2)
    assert [e.run_id for e in history] == [new_run, old_run]

    page1 = store.synclog.newest("acme", limit=4)
    page2 = store.synclog.newest("acme", limit=4, next_token=page1.next_token)
    assert len(page1) == 4 and len(page2) == 2


def test_a_log_line_is_never_overwritten(store):
    entry = store.synclog.append(SyncLogEntry("acme", "run-1", "invoice", "I1", Outcome.CREATED))
    with pytest.raises(ConflictError):
        store.synclog.append(entry)


def test_runs_counts_finish_and_newest_first(store, clock):
    ids = []
    for trigger in ("schedule", "webhook", "admin"):
        run_id = store.runs.new_id()
        ids.append(run_id)
        store.runs.start(RunRecord("acme", run_id, trigger, details={"window": ["2024-01-01", "2024-01-31"]}))
        clock.advance(seconds=1)

    store.runs.add_counts("acme", ids[0], {"created": 2, "skipped": 1})
    store.runs.add_counts("acme", ids[0], {"created": 1, "dry_run_previewed": 4})
    done = store.runs.finish("acme", ids[0], RunStatus.SUCCEEDED)
    # every outcome starts at zero; any other counter is created by its first ADD
    assert done.counts == {**{o.value: 0 for o in Outcome}, "created": 3, "skipped": 1, "dry_run_previewed": 4}
    assert done.status == RunStatus.SUCCEEDED and done.finished_at is not None
    assert done.details == {"window": ["2024-01-01", "2024-01-31"]}
    with pytest.raises(ConflictError):
        store.runs.finish("acme", ids[0], RunStatus.FAILED)
    with pytest.raises(NotFoundError):
        store.runs.add_counts("acme", "no-such-run", {"created": 1})

    assert [r.run_id for r in store.runs.newest("acme")] == list(reversed(ids))
    assert [r.trigger for r in store.runs.newest("acme", limit=1)] == ["admin"]
    with pytest.raises(ConflictError):
        store.runs.start(RunRecord("acme", ids[1], "schedule"))


def test_defect_12_only_runs_past_their_heartbeat_are_closed_as_abandoned(store, clock):
    dead, alive, old = store.runs.new_id(), store.runs.new_id() + "b", store.runs.new_id() + "c"
    store.runs.start(RunRecord("acme", dead, "schedule", alive_until=clock.now + timedelta(minutes=6)))
    store.runs.start(RunRecord("acme", alive, "schedule", alive_until=clock.now + timedelta(minutes=6)))
    store.runs.start(RunRecord("acme", old, "schedule"))  # from before heartbeats: left alone
    clock.advance(minutes=5)
    store.runs.heartbeat("acme", alive, clock.now + timedelta(minutes=6))
    clock.advance(minutes=2)

    closed = store.runs.close_abandoned("acme", now=clock.now)

    assert [r.run_id for r in closed] == [dead]
    assert store.runs.get("acme", dead).status is RunStatus.ABANDONED
    assert store.runs.get("acme", alive).status is RunStatus.RUNNING
    assert store.runs.get("acme", old).status is RunStatus.RUNNING
    with pytest.raises(ConflictError):  # its worker, if it wakes, cannot finish or beat it back to life
        store.runs.finish("acme", dead, RunStatus.SUCCEEDED)
    with pytest.raises(ConflictError):
        store.runs.heartbeat("acme", dead, clock.now + timedelta(minutes=6))
