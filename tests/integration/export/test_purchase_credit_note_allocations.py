"""Vendor credit notes against vendor invoices (Sage Accounting): a purchase credit note the host
linked to the purchase invoice it credits (`invoice_id`) is set against it with a vendor allocation
exactly once, as sales credit notes are; what the accountant reads in Sage is checked."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.domain import DocumentKind
from sagebridge.store import LedgerState
from sagebridge.sync.export import CREDIT_NOTE_ALLOCATION, PURCHASE_CREDIT_NOTE_ALLOCATION

from .conftest import TENANT, document, line

D = Decimal
SI, SCN, PI, PCN = (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
                    DocumentKind.PURCHASE_CREDIT_NOTE)


def doc(kind: DocumentKind, n: int, net: str, **fields):
    return document(kind, n, lines=[line(net)], total=(net, str(D(net) * D("0.2"))), **fields)


def held(acme, collection: str, reference: str) -> dict:
    [found] = [r for r in acme.list(collection) if reference in (r.get("reference"), r.get("vendor_reference"))]
    return found


def vendor_allocations(acme) -> list[dict]:
    return [a for a in acme.list("contact_allocations") if a["transaction_type"]["id"] == "VENDOR_ALLOCATION"]


def test_a_vendor_credit_note_is_set_against_its_bill_with_a_vendor_allocation(export, host, sandbox, store):
    acme = sandbox.accountant()
    host.stage(doc(PI, 1, "100.00"))  # 120.00
    host.stage(doc(PCN, 1, "25.00", invoice_id="PI-1"))  # 30.00

    result = export()

    assert result.counts["failed"] == 0, result.failures
    bill, note = held(acme, "purchase_invoices", "PI-00001"), held(acme, "purchase_credit_notes", "PCN-00001")
    assert bill["outstanding_amount"] == D("90.00") and note["outstanding_amount"] == D("0.00")
    [allocation] = vendor_allocations(acme)
    assert allocation["contact"]["id"] == bill["contact"]["id"]
    assert sorted((a["artefact"]["id"], a["amount"]) for a in allocation["allocated_artefacts"]) == sorted(
        [(bill["id"], D("30.00")), (note["id"], D("-30.00"))])
    assert acme.list("contact_payments") == []  # no money moved
    logged = [e.reason for e in store.synclog.for_run(TENANT, result.run_id, limit=100).items if e.host_id == "PCN-1"]
    assert any("Vendor credit note PCN-00001: 30.00 allocated against vendor invoice 'PI-1'" in r for r in logged)


def test_a_vendor_credit_note_allocation_whose_answer_is_lost_is_not_doubled(export, host, sandbox, store):
    acme = sandbox.accountant()
    host.stage(doc(PI, 1, "100.00"))
    host.stage(doc(PCN, 1, "25.00", invoice_id="PI-1"))
    sandbox.faults.drop_after_commit(times=1, method="POST", path="/contact_allocations")

    result = export()

    assert len(vendor_allocations(acme)) == 1, result.failures
    assert held(acme, "purchase_invoices", "PI-00001")["outstanding_amount"] == D("90.00")
    export(include_retries=True)
    export(export_type="all", include_retries=True)
    assert len(vendor_allocations(acme)) == 1
    assert store.ledger.get(TENANT, PURCHASE_CREDIT_NOTE_ALLOCATION, "PCN-1").state is LedgerState.EXPORTED


def test_a_vendor_credit_note_against_a_bill_already_paid_in_sage_stays_on_the_vendors_account(
        export, host, sandbox, store):
    acme = sandbox.accountant()
    host.stage(doc(PI, 1, "100.00"))
    export()
    acme.record_supplier_payment(held(acme, "purchase_invoices", "PI-00001")["id"])  # paid in full in Sage
    host.stage(doc(PCN, 1, "25.00", invoice_id="PI-1"))

    result = export()

    assert vendor_allocations(acme) == []
    assert held(acme, "purchase_credit_notes", "PCN-00001")["outstanding_amount"] == D("30.00")
    [skipped] = [e for e in store.synclog.for_run(TENANT, result.run_id, limit=100).items
                 if e.host_id == "PCN-1" and e.outcome.value == "skipped"]
    assert skipped.reason_code == "already_paid_in_sage"
    assert "stays on the vendor's account" in skipped.reason


def test_a_sales_and_a_purchase_credit_note_with_the_same_host_id_are_each_allocated_once(
        export, host, sandbox, store):
    acme = sandbox.accountant()
    host.stage(doc(SI, 1, "100.00"))
    host.stage(doc(PI, 1, "100.00"))
    # Host ids are unique per kind only: both credit notes are "N-1".
    host.stage(doc(SCN, 1, "25.00", invoice_id="INV-1", host_id="N-1", number="CN-00001"))
    host.stage(doc(PCN, 1, "10.00", invoice_id="PI-1", host_id="N-1", number="PCN-00001"))

    export()
    export(include_retries=True)

    assert held(acme, "sales_invoices", "INV-00001")["outstanding_amount"] == D("90.00")
    assert held(acme, "purchase_invoices", "PI-00001")["outstanding_amount"] == D("108.00")
    assert len(acme.list("contact_allocations")) == 2
    assert store.ledger.get(TENANT, CREDIT_NOTE_ALLOCATION, "N-1").state is LedgerState.EXPORTED
    assert store.ledger.get(TENANT, PURCHASE_CREDIT_NOTE_ALLOCATION, "N-1").state is LedgerState.EXPORTED


def test_a_vendor_credit_note_exported_before_purchase_allocations_is_allocated_by_a_replay_once(
        export, host, sandbox, store, monkeypatch):
    from sagebridge.sync.export.allocations import CreditNoteAllocations

    acme = sandbox.accountant()
    host.stage(doc(PI, 1, "100.00"))  # 120.00
    host.stage(doc(PCN, 1, "25.00", invoice_id="PI-1"))  # 30.00
    with monkeypatch.context() as m:  # as the release that allocated only sales credit notes left it
        m.setattr(CreditNoteAllocations, "hold", lambda self, side, host_id: None)
        export()
    assert held(acme, "purchase_invoices", "PI-00001")["outstanding_amount"] == D("120.00")
    assert store.ledger.find(TENANT, PURCHASE_CREDIT_NOTE_ALLOCATION, "PCN-1") is None

    result = export(triggered_by="replay", documents=(("purchase_credit_note", "PCN-1"),))

    assert result.counts["failed"] == 0, result.failures
    assert held(acme, "purchase_invoices", "PI-00001")["outstanding_amount"] == D("90.00")
    export(triggered_by="replay", documents=(("purchase_credit_note", "PCN-1"),))
    export(include_retries=True)
    assert len(vendor_allocations(acme)) == 1
    assert store.ledger.get(TENANT, PURCHASE_CREDIT_NOTE_ALLOCATION, "PCN-1").state is LedgerState.EXPORTED
