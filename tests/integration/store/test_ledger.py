from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest

from sagebridge.domain.errors import ConflictError
from sagebridge.store import ClaimConflict, LedgerState, Outcome, SyncLogEntry

pytestmark = pytest.mark.integration


def claim(store, host_id="INV-1", payload_hash="h1", **kwargs):
    return store.ledger.claim("acme", "invoice", host_id, idempotency_key=f"key-{payload_hash}",
                              payload_hash=payload_hash, **kwargs)


def test_a_claim_cannot_be_taken_twice_ten_racing_threads(store):
    start = threading.Barrier(10)

    def race(n: int):
        start.wait()
        try:
            return claim(store)
        except ConflictError:
            return None

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(race, range(10)))

    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].previous is None
    entry = store.ledger.get("acme", "invoice", "INV-1")
    assert entry.state == LedgerState.IN_FLIGHT
    assert entry.claim_id == winners[0].entry.claim_id
    assert entry.attempts == 1


def test_claim_export_and_no_second_export_of_the_same_payload(store):
    first = claim(store)
    assert first.entry.state == LedgerState.IN_FLIGHT and not first.uncertain
    exported = store.ledger.mark_exported(first, "sage-1")
    assert exported.state == LedgerState.EXPORTED
    assert exported.sage_id == "sage-1" and exported.exported_hash == "h1" and exported.claim_id is None

    with pytest.raises(ClaimConflict) as lost:
        claim(store)
    assert lost.value.current.state == LedgerState.EXPORTED

    # The document changed: re-export allowed, and the previous state is handed back.
    again = claim(store, payload_hash="h2")
    assert again.previous.state == LedgerState.EXPORTED and again.previous.sage_id == "sage-1"
    assert again.entry.sage_id == "sage-1"
    # force re-exports an unchanged document too
    store.ledger.mark_exported(again, "sage-1")
    assert claim(store, payload_hash="h2", force=True).entry.state == LedgerState.IN_FLIGHT


def test_failed_and_skipped_are_claimable_and_listed_for_replay(store):
    store.ledger.mark_failed(claim(store, "INV-1"), "Sage said 500")
    store.ledger.mark_skipped(claim(store, "INV-2"), "tax code T9 not mapped")
    store.ledger.mark_exported(claim(store, "INV-3"), "sage-3")
    claim(store, "INV-4")

    failed = store.ledger.list_by_state("acme", LedgerState.FAILED)
    assert [(e.host_id, e.reason) for e in failed] == [("INV-1", "Sage said 500")]
    assert [e.host_id for e in store.ledger.list_by_state("acme", LedgerState.SKIPPED)] == ["INV-2"]
    assert [e.host_id for e in store.ledger.list_by_state("acme", LedgerState.IN_FLIGHT)] == ["INV-4"]
    with pytest.raises(ValueError):
        store.ledger.list_by_state("acme", LedgerState.EXPORTED)

    replay = claim(store, "INV-1")
    assert replay.previous.state == LedgerState.FAILED and replay.entry.attempts == 2
    assert store.ledger.list_by_state("acme", LedgerState.FAILED).items == []  # left the sparse index
    assert claim(store, "INV-2").previous.state == LedgerState.SKIPPED


def test_a_live_claim_blocks_and_a_stale_one_is_taken_over_as_uncertain(store, clock):
    dead = claim(store)
    clock.advance(minutes=14)
    with pytest.raises(ConflictError):
        claim(store)
    clock.advance(minutes=2)
    taken = claim(store)
    assert taken.uncertain
    assert taken.previous.claim_id == dead.entry.claim_id
    assert taken.entry.attempts == 2

    # The old holder woke up: its claim is fenced off, it cannot settle the new holder's claim.
    with pytest.raises(ConflictError):
        store.ledger.mark_exported(dead, "sage-dup")
    store.ledger.mark_exported(taken, "sage-1")
    assert store.ledger.get("acme", "invoice", "INV-1").sage_id == "sage-1"


def test_claim_timeout_is_the_callers_choice(store, clock):
    claim(store)
    clock.advance(seconds=61)
    assert claim(store, claim_timeout=timedelta(seconds=60)).uncertain


def test_settling_needs_the_claim_in_flight(store):
    c = claim(store)
    store.ledger.mark_skipped(c, "party missing")
    with pytest.raises(ConflictError):
        store.ledger.mark_failed(c, "late")


def test_commit_is_one_transaction_with_mapping_and_log(store):
    c = claim(store)
    entry = SyncLogEntry("acme", "run-1", "invoice", "INV-1", Outcome.CREATED, sage_id="sage-1")
    store.transact([
        store.ledger.mark_exported_op(c, "sage-1"),
        store.mappings.put_op("acme", "invoice", "INV-1", "sage-1"),
        store.synclog.append_op(entry),
    ])
    assert store.ledger.get("acme", "invoice", "INV-1").state == LedgerState.EXPORTED
    assert store.mappings.get("acme", "invoice", "INV-1").sage_id == "sage-1"
    assert len(store.synclog.for_run("acme", "run-1")) == 1

    # A lost claim cancels the mapping and the log entry with it.
    with pytest.raises(ConflictError):
        store.transact([
            store.ledger.mark_exported_op(c, "sage-2"),
            store.mappings.put_op("acme", "invoice", "INV-1", "sage-2"),
            store.synclog.append_op(entry),
        ])
    assert store.mappings.get("acme", "invoice", "INV-1").sage_id == "sage-1"
    assert len(store.synclog.for_run("acme", "run-1")) == 1


def test_many_entries_and_mappings_in_one_read(store):
    for n in range(3):
        store.ledger.mark_exported(claim(store, f"INV-{n}"), f"sage-{n}")
        store.mappings.put("acme", "invoice", f"INV-{n}", f"sage-{n}")
    refs = [("invoice", f"INV-{n}") for n in range(5)]
    entries = store.ledger.find_many("acme", refs)
    assert sorted(entries) == refs[:3] and entries[("invoice", "INV-2")].sage_id == "sage-2"
    assert store.mappings.find_many("acme", refs)[("invoice", "INV-1")].sage_id == "sage-1"
    assert store.ledger.find_many("acme", []) == {}


def test_new_documents_claimed_together_are_claimed_as_one_by_one_except_the_one_held(store):
    """claim_new: one request for many documents with no entry; one another worker claimed
    meanwhile is refused (left out), the others are claimed exactly as `claim` would claim them."""
    other = claim(store, "INV-2")
    wanted = [("invoice", f"INV-{n}", "h1", "key-h1") for n in (1, 2, 3)]

    won = store.ledger.claim_new("acme", wanted)

    assert sorted(won) == [("invoice", "INV-1"), ("invoice", "INV-3")]
    for host_id in ("INV-1", "INV-3"):
        taken, stored = won[("invoice", host_id)], store.ledger.get("acme", "invoice", host_id)
        assert taken.previous is None and not taken.uncertain
        assert replace(stored, claimed_at=None, updated_at=None) == replace(taken.entry, claimed_at=None,
                                                                             updated_at=None)
        assert (stored.state, stored.attempts, stored.idempotency_key) == (LedgerState.IN_FLIGHT, 1, "key-h1")
    assert store.ledger.get("acme", "invoice", "INV-2").claim_id == other.entry.claim_id
    # a claim taken ahead settles as any claim does
    store.ledger.mark_exported(won[("invoice", "INV-1")], "sage-1")
    assert store.ledger.get("acme", "invoice", "INV-1").state == LedgerState.EXPORTED
    # and is listed among the claims in flight like any other
    listed = {e.host_id for e in store.ledger.list_by_state("acme", LedgerState.IN_FLIGHT)}
    assert listed == {"INV-2", "INV-3"}


def test_claims_taken_ahead_and_given_back_leave_no_entry_and_never_touch_another_claim(store, clock):
    won = store.ledger.claim_new("acme", [("invoice", f"INV-{n}", "h1", "key-h1") for n in (1, 2)])
    clock.advance(minutes=16)  # INV-2's claim goes stale and another worker takes it over
    taken_over = claim(store, "INV-2")

    store.ledger.release_new(list(won.values()))

    assert store.ledger.find("acme", "invoice", "INV-1") is None
    assert store.ledger.get("acme", "invoice", "INV-2").claim_id == taken_over.entry.claim_id
    assert claim(store, "INV-1").previous is None  # claimable again, as if never claimed


def test_groups_of_writes_in_one_transaction_stand_or_fall_each_on_their_own(store):
    """Table.transact_groups: a group whose condition fails is left out, the others are written."""
    held = claim(store, "INV-2")
    store.ledger.mark_exported(held, "sage-2")  # settled: the stale claim below cannot settle it again
    claims = {n: claim(store, f"INV-{n}") for n in (1, 3)}
    def group(taken, n, sage_id):
        return [store.ledger.mark_exported_op(taken, sage_id), store.mappings.put_op("acme", "invoice", f"INV-{n}",
                                                                                       f"s{n}")]

    groups = [group(claims[1], 1, "sage-1"), group(held, 2, "sage-x"), group(claims[3], 3, "sage-3")]

    assert store.table.transact_groups(groups) == [True, False, True]

    assert store.ledger.get("acme", "invoice", "INV-1").sage_id == "sage-1"
    assert store.ledger.get("acme", "invoice", "INV-2").sage_id == "sage-2"
    assert store.mappings.find("acme", "invoice", "INV-2") is None  # all of a lost group, not part of it
    assert store.mappings.get("acme", "invoice", "INV-3").sage_id == "s3"
