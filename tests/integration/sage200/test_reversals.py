"""Reversals back to the host from Sage 200. The API cannot delete, cancel or unallocate anything; the
accountant does it in the desktop (Amend Allocation removes an allocation, Correct Transactions >
Reverse posts the opposite transaction against one). Either way the receipt, credit note or refund
that paid a document is changed (`date_time_updated`) and no longer lists that document among its
`allocation_session_items`, and the document's `document_outstanding_value` is back up. The poller
reads that as a payment that no longer pays what the host was told: invoice.payment_reversed /
credit_note.refund_reversed (reason "changed") with the outstanding amount now, once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sagebridge.domain import CustomerRefund, DocumentKind

from ..export.conftest import customer, document, line

D = Decimal


def _invoice(world, host, n: int = 1) -> dict:
    host.stage(document(DocumentKind.SALES_INVOICE, n, party=customer(1), total=("100.00", "20.00"),
                        lines=[line("100.00")]))
    world.export()
    return world.sandbox.accountant().by_reference("sales_invoice", f"INV-{n:05d}")


def _once(world, type_: str) -> list[dict]:
    """The events of a type, after two more polls over overlapping windows (nothing new may come)."""
    before = len(world.events(type_))
    world.poll(advance_minutes=15)
    world.poll(advance_minutes=15)
    assert len(world.events(type_)) == before
    return [e["data"] for e in world.events(type_)]


def test_a_receipt_cancelled_in_sage_200_reverses_the_payment_the_host_was_told_once(world, host):
    world.add_tenant()
    invoice = _invoice(world, host)
    world.poll()
    books = world.sandbox.accountant()
    world.clock.advance(minutes=1)
    receipt = books.record_receipt(invoice["id"], reference="BACS-7")
    world.poll(advance_minutes=15)
    assert [e["data"]["invoice"]["host_id"] for e in world.events("invoice.paid")] == ["INV-1"]

    world.clock.advance(minutes=1)
    opposite = books.cancel_receipt(receipt["id"])  # Amend Allocation, then Correct Transactions > Reverse
    world.poll(advance_minutes=15)

    [reversed_] = _once(world, "invoice.payment_reversed")
    assert reversed_["invoice"]["host_id"] == "INV-1"
    assert reversed_["payment_sage_id"] == str(receipt["id"])
    assert (reversed_["reversed_amount"], reversed_["outstanding_amount"], reversed_["reason"]) == (
        "120.00", "120.00", "changed")
    # The refund Sage posted to reverse the receipt pays no document of ours: nothing more is told.
    assert books.get("sales_posted_transactions", opposite["id"])["document_outstanding_value"] == 0
    assert len(world.events("invoice.payment_received")) == 1 and world.events("credit_note.refunded") == []


def test_a_credit_note_allocation_removed_in_sage_200_reverses_it_with_the_outstanding_now(world, host):
    world.add_tenant()
    invoice = _invoice(world, host)
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, party=customer(1), total=("10.00", "2.00"),
                        lines=[line("10.00")]))
    world.export()
    books = world.sandbox.accountant()
    note = books.by_reference("sales_credit_note", "CN-00001")
    world.poll()
    world.clock.advance(minutes=1)
    books.record_receipt(invoice["id"], "50.00")
    books.allocate_credit_note(note["id"], invoice["id"])
    world.poll(advance_minutes=15)
    assert [e["data"]["outstanding_amount"] for e in world.events("invoice.part_paid")] == ["70.00", "58.00"]

    world.clock.advance(minutes=1)
    books.remove_allocation(note["id"])  # the receipt's allocation stays
    world.poll(advance_minutes=15)

    [reversed_] = _once(world, "invoice.payment_reversed")
    assert reversed_["payment_sage_id"] == str(note["id"])
    assert (reversed_["reversed_amount"], reversed_["outstanding_amount"]) == ("12.00", "70.00")


def test_a_refund_unallocated_from_its_credit_note_in_sage_200_is_reversed_once(world, host):
    world.add_tenant()
    party = customer(1)
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, party=party, total=("10.00", "2.00"), lines=[line("10.00")]))
    world.export()
    world.poll()
    host.stage(CustomerRefund(host_id="REF-1", party_id="CUST-1", payment_date=date(2025, 3, 3), amount=D("12.00"),
                              currency="GBP",
                              allocations=[{"kind": "sales_credit_note", "host_id": "CN-1", "amount": "12.00"}]))
    world.clock.advance(minutes=1)
    world.export()
    world.poll(advance_minutes=15)
    [refunded] = world.events("credit_note.refunded")
    assert refunded["data"]["refund"]["host_id"] == "REF-1"

    books = world.sandbox.accountant()
    refund = books.by_reference("refund", "REF-1")
    world.clock.advance(minutes=1)
    books.remove_allocation(refund["id"])
    world.poll(advance_minutes=15)

    [reversed_] = _once(world, "credit_note.refund_reversed")
    assert reversed_["credit_note"]["host_id"] == "CN-1" and reversed_["refund_sage_id"] == str(refund["id"])
    assert (reversed_["reversed_amount"], reversed_["outstanding_amount"], reversed_["reason"]) == (
        "12.00", "12.00", "changed")
