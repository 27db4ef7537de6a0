"""Vendor credit notes against vendor invoices on every product: a purchase credit note the host
linked to the purchase invoice it credits (`invoice_id`) is set against that invoice in Sage exactly
once (the invoice's outstanding amount, as the accountant reads it, drops by the note's amount), also
when Sage's answer to the allocation is lost or the worker dies before allocating. A product whose
API cannot allocate on the purchase ledger says so: the allocation ends skipped with the product's
reason, and the host is told. Never silence: an unallocated supplier invoice nobody heard about."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sagebridge.connectors.base import UncertainWrite
from sagebridge.domain import DocumentKind
from sagebridge.store import LedgerState
from sagebridge.sync.export import PURCHASE_CREDIT_NOTE_ALLOCATION

from .conftest import TENANT, World, document, line, vendor

PI, PCN = DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE
D = Decimal


def _stage_bill_and_note(world: World) -> None:
    acme = vendor(1)
    world.stage(acme)
    world.stage(document(world, PI, 1, party=acme, lines=[line("100.00")]))  # 120.00
    world.stage(document(world, PCN, 1, party=acme, lines=[line("25.00")], invoice_id="PI-1"))  # 30.00


def _allocated_or_refused(world: World) -> bool:
    """True: set against the bill once. False: refused with the product's reason, told to the host."""
    bill = world.one(PI, "PI-00001")
    entry = world.store.ledger.find(TENANT, PURCHASE_CREDIT_NOTE_ALLOCATION, "PCN-1")
    history = world.history(PCN.value, "PCN-1")
    if bill.outstanding == D("90.00"):
        assert entry is not None and entry.state is LedgerState.EXPORTED
        assert world.one(PCN, "PCN-00001").outstanding == D("0.00")
        assert any("30.00 allocated against vendor invoice 'PI-1'" in (h.reason or "") for h in history)
        return True
    assert bill.outstanding == D("120.00"), "the bill is neither allocated nor untouched"
    assert entry is not None and entry.state is LedgerState.SKIPPED, entry
    [refused] = [h for h in history if h.reason_code == "not_supported"]
    assert "was not allocated against vendor invoice 'PI-1'" in (refused.reason or "")
    told = [e for e in world.events("export.failed") if e["data"].get("host_id") == "PCN-1"]
    assert len(told) == 1 and told[0]["data"]["reason_code"] == "not_supported"
    assert told[0]["data"]["reason"] == refused.reason  # the host reads what the log says
    return False


def _exported(world: World) -> None:
    """Both documents are in Sage once, whatever became of the allocation."""
    assert world.copies(PI) == {"PI-00001": 1} and world.copies(PCN) == {"PCN-00001": 1}


def test_a_vendor_credit_note_linked_to_its_bill_is_set_against_it_once_or_refused_with_the_reason(world: World):
    world.add_tenant()
    _stage_bill_and_note(world)

    world.export()
    world.export(include_retries=True)
    world.export(export_type="all", include_retries=True)  # later runs (scheduled, All) never allocate again

    _exported(world)
    if _allocated_or_refused(world):
        return
    # A refusal is said once: the later runs above neither logged it again nor told the host twice.
    assert len([h for h in world.history(PCN.value, "PCN-1") if h.reason_code == "not_supported"]) == 1


def test_a_vendor_credit_note_waits_for_its_bill_then_is_set_against_it(world: World):
    world.add_tenant()
    acme = vendor(1)
    world.stage(acme)
    world.stage(document(world, PCN, 1, party=acme, lines=[line("25.00")], invoice_id="PI-1"))

    world.export(include_retries=True)

    [waiting] = [h for h in world.history(PCN.value, "PCN-1") if h.reason_code == "waiting_for_invoice"]
    assert "waits for vendor invoice 'PI-1'" in (waiting.reason or "")
    assert world.one(PCN, "PCN-00001").outstanding == D("30.00")

    world.stage(document(world, PI, 1, party=acme, lines=[line("100.00")]))
    world.export(include_retries=True)
    world.export(include_retries=True)

    _exported(world)
    _allocated_or_refused(world)


@pytest.mark.parametrize("fault", ["lost_answer", "worker_killed"])
def test_a_vendor_credit_note_allocation_survives_a_lost_answer_or_a_killed_worker_once(
        world: World, fault: str, monkeypatch: pytest.MonkeyPatch):
    world.add_tenant()
    _stage_bill_and_note(world)
    if fault == "lost_answer":
        _answer_lost_once(world, monkeypatch)
        world.export()
    else:
        _export_killed_before_allocating(world)
        world.clock.advance(minutes=16)  # the dead worker's claim goes stale

    world.export(include_retries=True)
    world.export(include_retries=True)

    _exported(world)
    _allocated_or_refused(world)


class _Killed(Exception):
    pass


def _answer_lost_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sage books the first allocation and its answer never arrives (a product that refuses to
    allocate refuses as before: there is no answer to lose)."""
    connector_class = type(world.connector())
    real = connector_class.create_allocation
    lost: list[bool] = []

    def answer_lost(self: Any, body: Any, *, idempotency_key: str | None = None) -> Any:
        made = real(self, body, idempotency_key=idempotency_key)
        if not lost:
            lost.append(True)
            raise UncertainWrite("the connection dropped after Sage booked the allocation")
        return made

    monkeypatch.setattr(connector_class, "create_allocation", answer_lost)


def _export_killed_before_allocating(world: World) -> None:
    """The worker dies after the documents were committed and before the allocation step."""
    from sagebridge.sync.export.allocations import CreditNoteAllocations

    real = CreditNoteAllocations.allocate_all

    def killed(self: Any) -> None:
        raise _Killed

    CreditNoteAllocations.allocate_all = killed  # type: ignore[method-assign]
    try:
        world.export()
    except _Killed:
        pass
    finally:
        CreditNoteAllocations.allocate_all = real  # type: ignore[method-assign]
    entry = world.store.ledger.find(TENANT, PURCHASE_CREDIT_NOTE_ALLOCATION, "PCN-1")
    assert entry is not None and entry.state is LedgerState.IN_FLIGHT, entry  # due, not lost
