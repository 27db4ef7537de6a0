"""Credit notes set against invoices on Sage Intacct, end to end: a credit note the host linked to its
invoice is applied to it in Intacct by one ARPYMT of no money (ARPYMTDETAIL ADJUSTMENTKEY), once; a
customer payment offsetting credit notes pays in cash only what they leave; reconciliation counts the
host's payments only; and the payment poller tells the host the invoice is part paid or paid, never
that money was received for a credit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sagebridge.connectors.base import UncertainWrite
from sagebridge.connectors.sage_intacct.connector import IntacctConnector
from sagebridge.domain import CustomerPayment, DocumentKind
from sagebridge.store import LedgerState
from sagebridge.sync.export import CREDIT_NOTE_ALLOCATION
from sagebridge.sync.export.allocations import CreditNoteAllocations
from sagebridge.sync.reconcile import reconcile

from .conftest import TENANT, customer, document, line

D = Decimal
SI, SCN = DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE


def _due(world, obj: str, number: str) -> Decimal:
    [record] = world.sandbox.accountant().find(obj, "RECORDID", number)
    return abs(record["TOTALDUE"])


def test_a_linked_credit_note_is_applied_once_and_the_host_hears_part_paid_not_money_received(world, host):
    world.add_tenant()
    pat = customer(1)
    host.stage(document(SI, 1, party=pat, lines=[line("100.00", tax="S")]))  # 120.00
    host.stage(document(SCN, 1, party=pat, lines=[line("25.00", tax="S")], invoice_id="INV-1"))  # 30.00
    world.export()
    world.poll()  # the first poll: its window starts now
    world.clock.advance(minutes=3)
    world.export(include_retries=True)
    world.export(include_retries=True)

    assert _due(world, "ARINVOICE", "INV-00001") == D("90.00") and _due(world, "ARADJUSTMENT", "CN-00001") == 0
    [applied] = world.sandbox.accountant().list("ARPYMT")  # once, however many runs
    assert applied["TOTALENTERED"] == 0 and applied["DOCNUMBER"].startswith("CM/")
    # The application is not one of the host's payments: reconciliation balances.
    report = reconcile(
        world.store, world.connector(), world.settings_of(), TENANT, window_from=date(2025, 3, 1),
        window_to=date(2025, 3, 31), kinds=["sales_invoice", "sales_credit_note", "customer_payment"])
    assert report.balanced and report.differences == [], [d.message for d in report.differences]

    for _ in range(2):  # overlapping windows read it again
        world.poll(advance_minutes=2)
    world.deliver_all()
    assert world.events("invoice.payment_received") == []  # no money moved
    [part] = world.events("invoice.part_paid")
    assert part["data"]["invoice"]["host_id"] == "INV-1"
    assert D(str(part["data"]["outstanding_amount"])) == D("90.00")


def test_a_payment_offsetting_a_credit_note_banks_only_the_money_that_moved(world, host):
    world.add_tenant()
    pat = customer(1)
    host.stage(document(SI, 1, party=pat, lines=[line("100.00", tax="S")]))  # 120.00
    host.stage(document(SCN, 2, party=pat, lines=[line("10.00", tax="S")]))  # 12.00
    host.stage(CustomerPayment.model_validate({
        "host_id": "PAY-1", "party_id": pat.host_id, "payment_date": "2025-03-05", "amount": "108.00",
        "currency": "USD", "allocations": [{"kind": "sales_invoice", "host_id": "INV-1", "amount": "120.00"},
                                           {"kind": "sales_credit_note", "host_id": "CN-2", "amount": "12.00"}]}))
    world.export()
    world.poll()
    world.clock.advance(minutes=3)
    world.export(include_retries=True)

    [payment] = world.sandbox.accountant().list("ARPYMT")
    assert payment["TOTALENTERED"] == D("108.00") and payment["DOCNUMBER"] == "PAY-1"
    assert _due(world, "ARINVOICE", "INV-00001") == 0 and _due(world, "ARADJUSTMENT", "CN-00002") == 0


def test_a_pure_offset_is_exported_as_a_credit_only_arpymt(world, host):
    world.add_tenant()
    pat = customer(1)
    host.stage(document(SI, 1, party=pat, lines=[line("10.00", tax="S")]))  # 12.00
    host.stage(document(SCN, 1, party=pat, lines=[line("10.00", tax="S")]))  # 12.00
    host.stage(CustomerPayment.model_validate({
        "host_id": "PAY-O1", "party_id": pat.host_id, "payment_date": "2025-03-05", "amount": "0",
        "currency": "USD", "allocations": [{"kind": "sales_invoice", "host_id": "INV-1", "amount": "12.00"},
                                           {"kind": "sales_credit_note", "host_id": "CN-1", "amount": "12.00"}]}))
    result = world.export()

    assert result.counts["failed"] == 0 and result.counts["skipped"] == 0, result.counts
    [offset] = world.sandbox.accountant().list("ARPYMT")
    assert offset["TOTALENTERED"] == 0 and offset["DOCNUMBER"] == "PAY-O1"
    assert _due(world, "ARINVOICE", "INV-00001") == 0 and _due(world, "ARADJUSTMENT", "CN-00001") == 0


class _Killed(Exception):
    pass


@pytest.mark.parametrize("fault", ["lost_answer", "worker_killed"])
def test_a_credit_note_application_survives_a_lost_answer_or_a_killed_worker_once(world, host, fault, monkeypatch):
    world.add_tenant()
    pat = customer(1)
    host.stage(document(SI, 1, party=pat, lines=[line("100.00", tax="S")]))  # 120.00
    host.stage(document(SCN, 1, party=pat, lines=[line("25.00", tax="S")], invoice_id="INV-1"))  # 30.00
    if fault == "lost_answer":
        real = IntacctConnector.create_allocation
        lost: list[bool] = []

        def answer_lost(self, body, *, idempotency_key=None):
            made = real(self, body, idempotency_key=idempotency_key)
            if not lost:
                lost.append(True)
                raise UncertainWrite("the connection dropped after Intacct applied the credit memo")
            return made

        monkeypatch.setattr(IntacctConnector, "create_allocation", answer_lost)
        world.export()
        assert lost  # the answer was lost once
    else:
        def killed(self):
            raise _Killed

        with monkeypatch.context() as patch:
            patch.setattr(CreditNoteAllocations, "allocate_all", killed)
            with pytest.raises(_Killed):
                world.export()
        assert world.sandbox.accountant().list("ARPYMT") == []
        world.clock.advance(minutes=16)  # the dead worker's claim goes stale
    world.export(include_retries=True)
    world.export(include_retries=True)

    [applied] = world.sandbox.accountant().list("ARPYMT")  # once
    assert _due(world, "ARINVOICE", "INV-00001") == D("90.00") and _due(world, "ARADJUSTMENT", "CN-00001") == 0
    entry = world.store.ledger.find(TENANT, CREDIT_NOTE_ALLOCATION, "CN-1")
    assert entry is not None and entry.state is LedgerState.EXPORTED
    assert applied["TOTALENTERED"] == 0
