"""New documents are claimed ten at a time ahead of their POSTs, and their commits written a few
per request (docs/performance.md, CPU per document): still exactly once. A document another worker
holds is not sent; claims the run did not get to are given back; a commit that lost its claim is
the only one lost of its request."""

from __future__ import annotations

from typing import Any

import pytest

from sagebridge.domain import DocumentKind
from sagebridge.store import LedgerState

from .conftest import TENANT, document


class WorkerKilled(Exception):
    """The Lambda died after Sage created a document and before its commit."""


def _references(sandbox: Any) -> dict[str, int]:
    return dict(sandbox.accountant().count_by_reference("sales_invoices"))


def test_a_page_where_another_worker_holds_one_document_sends_only_the_others_once(
        export, host, sandbox, store, monkeypatch):
    staged = [host.stage(document(DocumentKind.SALES_INVOICE, n)) for n in (1, 2, 3)]
    real = store.ledger.claim_new
    other: list[Any] = []

    def another_worker_first(tenant: str, wanted: Any) -> Any:
        # after the page was read (INV-2 had no entry then), before this run's claims
        other.append(store.ledger.claim(TENANT, "sales_invoice", "INV-2", idempotency_key="another worker",
                                        payload_hash=staged[1].payload_hash))
        return real(tenant, wanted)

    monkeypatch.setattr(store.ledger, "claim_new", another_worker_first)
    export()
    monkeypatch.setattr(store.ledger, "claim_new", real)
    export()

    assert _references(sandbox) == {"INV-00001": 1, "INV-00003": 1}
    held = store.ledger.get(TENANT, "sales_invoice", "INV-2")
    assert (held.state, held.claim_id) == (LedgerState.IN_FLIGHT, other[0].entry.claim_id)
    for host_id in ("INV-1", "INV-3"):
        assert store.ledger.get(TENANT, "sales_invoice", host_id).state is LedgerState.EXPORTED
    assert not store.synclog.newest(TENANT, kind="sales_invoice", host_id="INV-2").items


def test_claims_taken_ahead_of_a_worker_that_dies_are_given_back_and_the_next_run_sends_each_once(
        export, host, sandbox, store, clock):
    for n in range(1, 6):
        host.stage(document(DocumentKind.SALES_INVOICE, n))

    class KillAtTheSecond:
        def __init__(self) -> None:
            self.seen = 0

        def after_sage_call(self, kind: str, host_id: str, remote: Any) -> None:
            self.seen += 1
            if self.seen == 2:
                raise WorkerKilled(host_id)

    with pytest.raises(WorkerKilled):
        export(engine_options={"hooks": KillAtTheSecond()})

    # Only the document being sent when the worker died is in flight; the three it had not reached
    # have no entry, as if never claimed.
    in_flight = [e.host_id for e in store.ledger.list_by_state(TENANT, LedgerState.IN_FLIGHT)]
    assert in_flight == ["INV-2"]
    assert [store.ledger.find(TENANT, "sales_invoice", f"INV-{n}") for n in (3, 4, 5)] == [None] * 3

    export()  # the stale claim waits for the claim timeout; the others go now
    clock.advance(minutes=16)
    export()

    assert _references(sandbox) == {f"INV-0000{n}": 1 for n in range(1, 6)}
    assert not list(store.ledger.list_by_state(TENANT, LedgerState.IN_FLIGHT))


def test_a_commit_that_lost_its_claim_is_the_only_one_lost_of_its_request(export, host, sandbox, store, clock):
    for n in (1, 2, 3):
        host.stage(document(DocumentKind.SALES_INVOICE, n))
    taken: list[Any] = []

    class TakenOverWhileSending:
        def after_sage_call(self, kind: str, host_id: str, remote: Any) -> None:
            if host_id == "INV-2":  # this worker is too slow: another takes INV-2's stale claim over
                clock.advance(minutes=16)
                taken.append(store.ledger.claim(TENANT, kind, host_id, idempotency_key="another worker",
                                                payload_hash="another version"))

    export(engine_options={"hooks": TakenOverWhileSending()})

    for host_id in ("INV-1", "INV-3"):
        entry = store.ledger.get(TENANT, "sales_invoice", host_id)
        assert entry.state is LedgerState.EXPORTED and entry.sage_id
        assert store.mappings.get(TENANT, "sales_invoice", host_id).sage_id == entry.sage_id
        assert [h.outcome.value for h in store.synclog.newest(TENANT, kind="sales_invoice", host_id=host_id).items] \
            == ["created"]
    lost = store.ledger.get(TENANT, "sales_invoice", "INV-2")
    assert (lost.state, lost.claim_id) == (LedgerState.IN_FLIGHT, taken[0].entry.claim_id)
    assert store.mappings.find(TENANT, "sales_invoice", "INV-2") is None
    assert not store.synclog.newest(TENANT, kind="sales_invoice", host_id="INV-2").items
