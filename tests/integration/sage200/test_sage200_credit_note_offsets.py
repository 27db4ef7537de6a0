"""Sage 200: a credit note linked to its invoice (`invoice_id`) is allocated against it once; a
payment that offsets a credit note posts a receipt of the money that moved; a pure offset posts no
receipt at all. Read back from the sandbox's posted transactions, as the accountant sees them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sagebridge.domain import CustomerPayment, DocumentKind

from ..export.conftest import customer, document, line
from .conftest import TENANT

D = Decimal


def _value(record: dict, key: str) -> Decimal:
    return D(str(record[key]))


def _stage_invoice_and_note(host, *, note_net: str, **note_fields):
    party = customer(1)
    host.stage(party)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=party, lines=[line("100.00")],
                        total=("100.00", "20.00")))
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, party=party, lines=[line(note_net)],
                        total=(note_net, str(D(note_net) * D("0.2"))), **note_fields))


def test_defect_06_sage_200_pure_offset_moves_no_money(world, host):
    world.add_tenant()
    _stage_invoice_and_note(host, note_net="100.00")
    host.stage(CustomerPayment(host_id="PAY-1", party_id="CUST-1", payment_date=date(2025, 3, 2),
                               amount=D("0"), currency="GBP", allocations=[
                                   {"kind": "sales_invoice", "host_id": "INV-1", "amount": "120.00"},
                                   {"kind": "sales_credit_note", "host_id": "CN-1", "amount": "120.00"}]))

    world.export()
    world.export(export_type="all")

    books = world.sandbox.accountant()
    assert books.posted("receipt") == []
    assert _value(books.by_reference("sales_invoice", "INV-00001"), "document_outstanding_value") == D("0.00")
    note = books.by_reference("sales_credit_note", "CN-00001")
    assert _value(note, "document_outstanding_value") == D("0.00")
    assert world.store.ledger.get(TENANT, "customer_payment", "PAY-1").sage_id == str(note["id"])
