"""Reconciliation against Sage Intacct: a receipt Intacct holds as Reversed (ARPYMT STATE
Reversed, still listed) is out of the books, like a reversed invoice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sagebridge.domain import CustomerPayment, DocumentKind
from sagebridge.sync.reconcile import reconcile

from .conftest import TENANT, customer, document, line


def _report(world):
    return reconcile(world.store, world.connector(), world.settings_of(), TENANT,
                     window_from=date(2025, 3, 1), window_to=date(2025, 3, 31), kinds=["customer_payment"])


def _receipt(pat, host_id: str = "PAY-1") -> CustomerPayment:
    return CustomerPayment.model_validate({
        "host_id": host_id, "party_id": pat.host_id, "payment_date": "2025-03-05", "amount": "50.00",
        "currency": "USD", "method": "card",
        "allocations": [{"kind": "sales_invoice", "host_id": "INV-1", "amount": "50.00"}]})


def test_a_receipt_sage_bridge_reversed_is_not_live_in_the_reconciliation(world, host):
    world.add_tenant()
    pat = customer(1)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=pat, lines=[line("100.00", tax="S")]))
    host.stage(_receipt(pat))
    world.export()
    host.void("customer_payment", "PAY-1")
    world.export()
    [receipt] = world.sandbox.accountant().list("ARPYMT")
    assert receipt["STATE"] == "Reversed"  # Intacct keeps it, reversed

    report = _report(world)
    [payments] = report.kinds
    assert (payments.voided_in_host, payments.sage_count, payments.sage_total) == (1, 0, Decimal("0"))
    assert report.differences == [], [d.message for d in report.differences]
    assert report.balanced


def test_a_receipt_the_accountant_entered_and_reversed_is_not_only_in_sage(world, host):
    world.add_tenant()
    pat = customer(1)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=pat, lines=[line("100.00", tax="S")]))
    world.export()
    acct = world.sandbox.accountant()
    [invoice] = acct.find("ARINVOICE", "RECORDID", "INV-00001")
    typed = acct.record_payment(invoice["RECORDNO"], "30.00", on=date(2025, 3, 6), reference="BY-HAND")
    assert [d.problem for d in _report(world).differences] == ["only_in_sage"]  # live: it shows
    acct.reverse_payment(typed["RECORDNO"])

    report = _report(world)
    assert report.differences == [], [d.message for d in report.differences]
    assert report.kinds[0].only_in_sage_count == 0
