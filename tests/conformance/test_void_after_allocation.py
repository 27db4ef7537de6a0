"""A credit note Sage Bridge set against its invoice, then voided in the host app, on every product.
Sage Bridge's own allocation is not a payment: the product takes it back and the credit note is
voided (the invoice owes its full amount again, as the accountant reads it), once, also when the
worker dies between the two steps; or the product says it cannot take an allocation back, naming
the allocation and what to do in Sage, never "remove the payment". A refund voided in the same run
as the credit note it settled is taken back first, so the credit note is voided in that run too."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sagebridge.domain import DocumentKind
from sagebridge.store import LedgerState
from sagebridge.sync.export import CREDIT_NOTE_ALLOCATION, PURCHASE_CREDIT_NOTE_ALLOCATION
from sagebridge.sync.export.allocations import TAKEN_BACK

from .conftest import TENANT, World, customer, document, line, refund, vendor

SI, SCN, PI, PCN = (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
                    DocumentKind.PURCHASE_CREDIT_NOTE)
REFUND = DocumentKind.CUSTOMER_REFUND
D = Decimal
SIDES = {"sales": (SI, SCN, CREDIT_NOTE_ALLOCATION, "INV", "CN"),
         "purchase": (PI, PCN, PURCHASE_CREDIT_NOTE_ALLOCATION, "PI", "PCN")}


class WorkerKilled(BaseException):
    """The Lambda died right after Sage took the allocation back, before the credit note's void."""


def _allocated(world: World, side: str) -> bool:
    """The invoice (120.00) and its credit note (30.00) exported; True when Sage Bridge set the
    credit note against the invoice (the product allocates on this ledger)."""
    invoice_kind, note_kind, entry_kind, inv, cn = SIDES[side]
    party = customer(1) if side == "sales" else vendor(1)
    world.stage(party)
    world.stage(document(world, invoice_kind, 1, party=party))
    world.stage(document(world, note_kind, 1, party=party, lines=[line("25.00")], invoice_id=f"{inv}-1"))
    world.export()
    world.export(include_retries=True)
    entry = world.store.ledger.find(TENANT, entry_kind, f"{cn}-1")
    if entry is None or entry.state is not LedgerState.EXPORTED:
        return False  # the product's declared refusal (its own conformance case covers it)
    assert world.one(invoice_kind, f"{inv}-00001").outstanding == D("90.00")
    return True


def _void_note(world: World, side: str) -> None:
    _, note_kind, _, inv, _ = SIDES[side]
    party = customer(1) if side == "sales" else vendor(1)
    world.stage(document(world, note_kind, 1, party=party, lines=[line("25.00")], invoice_id=f"{inv}-1"),
                voided=True)


def _taken_back_or_told(world: World, side: str) -> bool:
    """True: the allocation taken back and the credit note voided, the invoice owing 120.00 again.
    False: left as it is, the host told once why, naming the allocation, not a payment."""
    invoice_kind, note_kind, _, inv, cn = SIDES[side]
    entry = world.store.ledger.get(TENANT, note_kind.value, f"{cn}-1")
    last = world.history(note_kind.value, f"{cn}-1")[0]
    told = [e["data"] for e in world.events("document.skipped") if e["data"]["host_id"] == f"{cn}-1"]
    if entry.state is LedgerState.EXPORTED:
        assert last.outcome.value == "updated" and "taken back first" in (last.reason or ""), last.reason
        assert not world.row.live(world.sandbox, note_kind, entry.sage_id)
        assert world.one(invoice_kind, f"{inv}-00001").outstanding == D("120.00")
        assert not told
        return True
    assert entry.state is LedgerState.SKIPPED, (entry.state, entry.reason)
    reason = last.reason or ""
    assert "remove the payment" not in reason and "allocated it against" in reason, reason
    assert f"'{inv}-1'" in reason and "voided in the host app" in reason, reason
    assert len(told) == 1 and told[0]["reasons"][0]["message"] == reason
    assert world.row.live(world.sandbox, note_kind, entry.sage_id)
    assert world.one(invoice_kind, f"{inv}-00001").outstanding == D("90.00")  # nothing half done
    return False


@pytest.mark.parametrize("side", ["sales", "purchase"])
def test_a_credit_note_sage_bridge_allocated_is_taken_back_and_voided_once_or_the_product_says_what_to_do(
        world: World, side: str):
    world.add_tenant()
    if not _allocated(world, side):
        pytest.skip(f"{world.provider.value} does not allocate {side} credit notes")
    _void_note(world, side)

    world.export()
    told = len(world.events())
    taken_back = _taken_back_or_told(world, side)
    for _ in range(2):  # later runs neither void again nor repeat the reason
        again = world.export(include_retries=True)
        assert not again.counts["updated"] and not again.counts["failed"], again.counts
    assert len(world.events()) == told
    assert _taken_back_or_told(world, side) is taken_back
    _, note_kind, _, _, cn = SIDES[side]
    assert world.copies(note_kind) in ({f"{cn}-00001": 1}, {})  # never sent twice (deleted: gone)


def test_a_worker_killed_between_taking_the_allocation_back_and_the_void_leaves_it_to_the_next_run(
        world: World, monkeypatch: pytest.MonkeyPatch):
    world.add_tenant()
    if not _allocated(world, "sales"):
        pytest.skip(f"{world.provider.value} does not allocate credit notes")
    connector_class = type(world.connector())
    real = connector_class.remove_allocation
    killed: list[bool] = []

    def dies_after(self: Any, kind: DocumentKind, allocation_id: str, *, credit_note_id: str) -> None:
        real(self, kind, allocation_id, credit_note_id=credit_note_id)
        if not killed:
            killed.append(True)
            raise WorkerKilled

    monkeypatch.setattr(connector_class, "remove_allocation", dies_after)
    _void_note(world, "sales")
    try:
        world.export()
    except WorkerKilled:
        pass
    if not killed:  # the product cannot take an allocation back: nothing was half done
        assert _taken_back_or_told(world, "sales") is False
        return
    # Between the steps: the allocation is gone in Sage, the credit note still live, its claim in flight.
    entry = world.store.ledger.get(TENANT, SCN.value, "CN-1")
    assert entry.state is LedgerState.IN_FLIGHT
    assert world.one(SI, "INV-00001").outstanding == D("120.00")

    world.clock.advance(minutes=20)  # the dead worker's claim goes stale
    world.export(include_retries=True)
    world.export(include_retries=True)
    entry = world.store.ledger.get(TENANT, SCN.value, "CN-1")
    assert entry.state is LedgerState.EXPORTED, (entry.state, entry.reason)
    assert not world.row.live(world.sandbox, SCN, entry.sage_id)
    assert world.one(SI, "INV-00001").outstanding == D("120.00")  # taken back once, not twice
    voids = [h for h in world.history(SCN.value, "CN-1") if h.outcome.value == "updated"]
    assert len(voids) == 1, [h.reason for h in voids]
    assert not world.events("document.skipped")
    # The allocation's ledger entry no longer says it is allocated.
    assert world.store.ledger.get(TENANT, CREDIT_NOTE_ALLOCATION, "CN-1").exported_hash == TAKEN_BACK


def test_a_refund_voided_in_the_same_run_as_its_credit_note_is_taken_back_first(world: World):
    world.add_tenant()
    if REFUND in world.not_exported():
        pytest.skip(f"{world.provider.value} does not take refunds")
    pat = customer(1)
    note = document(world, SCN, 1, party=pat, lines=[line("25.00")])  # 30.00, on the customer's account
    money_back = refund(world, "REF-1", pat, "30.00", ("sales_credit_note", "CN-1", "30.00"))
    world.stage(pat)
    world.stage(note)
    world.stage(money_back)
    world.export()
    world.export(include_retries=True)
    refund_entry = world.store.ledger.get(TENANT, REFUND.value, "REF-1")
    if refund_entry.state is not LedgerState.EXPORTED:
        pytest.skip(f"{world.provider.value} does not take this refund")

    world.stage(note, voided=True)
    world.stage(money_back, voided=True)
    world.export()  # one run: the refund is taken back, then the credit note is voided

    note_entry = world.store.ledger.get(TENANT, SCN.value, "CN-1")
    refund_entry = world.store.ledger.get(TENANT, REFUND.value, "REF-1")
    if refund_entry.state is LedgerState.SKIPPED:  # the product cannot take a refund back: it stays paid
        assert world.row.live(world.sandbox, REFUND, refund_entry.sage_id)
        assert note_entry.state is LedgerState.SKIPPED and "remove the payment" in (note_entry.reason or "")
        return
    assert refund_entry.state is LedgerState.EXPORTED and not world.row.live(world.sandbox, REFUND,
                                                                             refund_entry.sage_id)
    # The credit note was not told "remove the payment" for a refund this same run took back.
    assert not [e for e in world.events("document.skipped") if e["data"]["host_id"] == "CN-1"]
    if note_entry.state is LedgerState.SKIPPED:  # the product cannot void a credit note: its own reason
        assert "paid" not in (note_entry.reason or ""), note_entry.reason
        return
    assert note_entry.state is LedgerState.EXPORTED, (note_entry.state, note_entry.reason)
    assert not world.row.live(world.sandbox, SCN, note_entry.sage_id)


@pytest.mark.parametrize("side", ["sales", "purchase"])
def test_an_invoice_voided_with_its_credit_note_set_against_it_says_how_to_take_the_note_back(world: World,
                                                                                             side: str):
    """Second front-door review: voiding the invoice (not the credit note) Sage Bridge had set a
    credit note against was skipped "remove the payment in Sage first", and there was no payment.
    The reason now names credit notes set against it and the way out in the host app."""
    world.add_tenant()
    if not _allocated(world, side):
        pytest.skip(f"{world.provider.value} does not allocate {side} credit notes")
    invoice_kind, _, _, inv, _ = SIDES[side]
    party = customer(1) if side == "sales" else vendor(1)
    world.stage(document(world, invoice_kind, 1, party=party), voided=True)
    world.export(strict=False)

    last = world.history(invoice_kind.value, f"{inv}-1")[0]
    assert last.outcome.value == "skipped", (last.outcome, last.reason)
    assert "credit notes set against it" in (last.reason or "") and "void in the host app" in (last.reason or "")
