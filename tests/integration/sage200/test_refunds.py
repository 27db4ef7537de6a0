"""A refund on Sage 200 end to end, as the accountant sees it: the host refunds a credit note, Sage
Bridge posts a `sales_payments` refund allocated to the credit note (`sales_allocations`), exactly once
when Sage's answer is lost (the refund is found again by its reference before anything is resent,
and allocated only while nothing is allocated against it), and the credit note is then fully
allocated in Sage 200."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sagebridge.domain import CustomerRefund, DocumentKind

from ..export.conftest import customer, document, line
from .conftest import TENANT

D = Decimal


@pytest.mark.parametrize("lost", ["/sales_payments", "/sales_allocations"])
def test_a_refund_of_a_credit_note_lands_once_and_allocates_it_fully_when_an_answer_is_lost(world, host, lost):
    world.add_tenant()
    party = customer(1)
    host.stage(party)
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, party=party, total=("10.00", "2.00"), lines=[line("10.00")]))
    world.export()
    host.stage(CustomerRefund(host_id="REF-1", party_id="CUST-1", payment_date=date(2025, 3, 3), amount=D("12.00"),
                              currency="GBP", reference="Card refund",
                              allocations=[{"kind": "sales_credit_note", "host_id": "CN-1", "amount": "12.00"}]))
    fault = world.sandbox.faults.drop_after_commit(times=1, method="POST", path=lost)
    world.export(strict=False)
    world.clock.advance(minutes=16)  # past the search settle time and any stale claim
    world.export(strict=False)
    world.export(strict=False)
    assert fault.fired == 1

    books = world.sandbox.accountant()
    [refund] = books.posted("refund")
    assert (refund["reference"], refund["second_reference"]) == ("REF-1", "Card refund")
    assert D(str(refund["document_gross_value"])) == D("12.00")  # a refund is a debit on the account
    assert D(str(refund["document_outstanding_value"])) == D("0.00")
    note = books.by_reference("sales_credit_note", "CN-00001")
    assert D(str(note["document_outstanding_value"])) == D("0.00")  # fully allocated
    assert D(str(note["document_allocated_value"])) == D("-12.00") and note.get("full_settlement_date")
    assert [i["urn"] for i in note["allocation_session_items"]] == [refund["urn"]]
    assert world.sandbox.request_count("POST", "sales_payments") == 1
    assert world.sandbox.request_count("POST", "sales_allocations") == 1
    entry = world.store.ledger.get(TENANT, "customer_refund", "REF-1")
    assert (entry.state.value, entry.sage_id) == ("exported", str(refund["id"]))
