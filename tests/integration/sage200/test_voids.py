"""Voids on Sage 200: a posted transaction cannot be voided, cancelled or reversed through the API
(sales.json / purchases.json have no such operation; Sage 200 reverses a transaction only in the
desktop, Correct Transactions > Reverse). So a host void of any kind is logged with a reason that
tells the accountant what to do in Sage 200, the host hears it, and nothing is written to Sage; a
paid document says it is paid."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sagebridge.domain import CustomerPayment, CustomerRefund, DocumentKind

from ..export.conftest import customer, document, line, vendor
from .conftest import TENANT

D = Decimal
SI, SCN, PI, PCN = (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
                    DocumentKind.PURCHASE_CREDIT_NOTE)


def _stage_all(host):
    """One of each kind, exported: an invoice and a credit note (refunded), a receipt on a second
    invoice, and a purchase invoice and credit note."""
    party, supplier = customer(1), vendor(1)
    host.stage(party)
    host.stage(supplier)
    host.stage(document(SI, 1, party=party, total=("100.00", "20.00"), lines=[line("100.00")]))
    host.stage(document(SI, 2, party=party, total=("50.00", "10.00"), lines=[line("50.00")]))
    host.stage(document(SCN, 1, party=party, total=("10.00", "2.00"), lines=[line("10.00")]))
    host.stage(document(SCN, 2, party=party, total=("5.00", "1.00"), lines=[line("5.00")]))
    host.stage(CustomerPayment(host_id="PAY-1", party_id="CUST-1", payment_date=date(2025, 3, 2),
                               amount=D("60.00"), currency="GBP",
                               allocations=[{"kind": "sales_invoice", "host_id": "INV-2", "amount": "60.00"}]))
    host.stage(CustomerRefund(host_id="REF-1", party_id="CUST-1", payment_date=date(2025, 3, 2),
                              amount=D("12.00"), currency="GBP",
                              allocations=[{"kind": "sales_credit_note", "host_id": "CN-1", "amount": "12.00"}]))
    host.stage(document(PI, 1, party=supplier, total=("40.00", "8.00"), lines=[line("40.00")]))
    host.stage(document(PCN, 1, party=supplier, total=("4.00", "0.80"), lines=[line("4.00")]))


def _sage_writes(world) -> int:
    return sum(world.sandbox.request_count(method) for method in ("POST", "PUT", "DELETE", "PATCH"))


# kind, host id, what the reason tells the accountant to do in Sage 200
CASES = [
    ("sales_invoice", "INV-1", "a credit note"),
    ("sales_credit_note", "CN-2", "an invoice"),
    ("purchase_invoice", "PI-1", "a purchase credit note"),
    ("purchase_credit_note", "PCN-1", "a purchase invoice"),
    ("customer_payment", "PAY-1", "a refund"),
    ("customer_refund", "REF-1", "a receipt"),
]


def _held(world) -> dict:
    books = world.sandbox.accountant()
    return {(r["trader_transaction_type"], r["id"]): r for r in [*books.posted(), *books.purchase_posted()]}


def test_a_voided_document_of_each_kind_is_refused_with_what_to_do_in_sage_200(world, host):
    world.add_tenant(default_purchase_ledger_account_id="5000")
    _stage_all(host)
    world.export()
    held = _held(world)
    writes = _sage_writes(world)

    for kind, host_id, _ in CASES:
        host.void(kind, host_id)
    result = world.export(strict=False, engine_options={"outbox": world.outbox})

    assert result.counts["failed"] + result.counts["skipped"] == len(CASES)
    assert _sage_writes(world) == writes and _held(world) == held  # nothing written to Sage 200
    for kind, host_id, opposite in CASES:
        [entry] = world.store.synclog.newest(TENANT, kind=kind, host_id=host_id).items[:1]
        # as docs/mapping.md says: skipped not_supported, told as document.skipped
        assert (entry.outcome.value, entry.reason_code) == ("skipped", "not_supported"), (kind, entry)
        assert "Sage 200" in entry.reason and "cannot be voided" in entry.reason, (kind, entry.reason)
        assert "reverse it in Sage 200" in entry.reason and f"posts {opposite}" in entry.reason, (kind, entry.reason)
        [told] = [e["data"] for e in world.events() if e["type"] in ("export.failed", "document.skipped")
                  and e["data"]["host_id"] == host_id]
        assert "reverse it in Sage 200" in told["reasons"][0]["message"]  # document.skipped

    # Asked again, nothing more is sent or told.
    told_before = len(world.events())
    world.export(strict=False, export_type="all", engine_options={"outbox": world.outbox})
    assert _sage_writes(world) == writes and len(world.events()) == told_before


def test_a_voided_invoice_that_is_paid_in_sage_200_says_it_is_paid(world, host):
    world.add_tenant(default_purchase_ledger_account_id="5000")
    _stage_all(host)
    world.export()
    writes = _sage_writes(world)

    host.void("sales_invoice", "INV-2")  # PAY-1 paid 60.00 of it
    result = world.export(strict=False, engine_options={"outbox": world.outbox})

    assert result.counts["skipped"] == 1
    assert _sage_writes(world) == writes
    [entry] = world.store.synclog.newest(TENANT, kind="sales_invoice", host_id="INV-2").items[:1]
    assert entry.reason_code == "already_paid_in_sage" and "60.00 paid" in entry.reason
    [told] = [e["data"] for e in world.events("document.skipped") if e["data"]["host_id"] == "INV-2"]
    assert told["reasons"][0]["code"] == "already_paid_in_sage"
