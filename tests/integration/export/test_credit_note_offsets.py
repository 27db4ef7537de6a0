"""Credit notes and offsets (docs/host-integration.md): a credit note linked to its invoice
(`invoice_id`) is allocated against it in Sage exactly once, waiting (with a named reason) until the
invoice is there; a payment that offsets credit notes against invoices books only the money that
moved, and a pure offset moves none. Checked in the sandbox's books, as the accountant reads them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sagebridge.domain import CustomerPayment, DocumentKind
from sagebridge.store import LedgerState
from sagebridge.sync.export import CREDIT_NOTE_ALLOCATION

from .conftest import TENANT, document, line

D = Decimal
SI, SCN = DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE


def invoice(n: int = 1, net: str = "100.00", **fields):
    return document(SI, n, lines=[line(net)], total=(net, str(D(net) * D("0.2"))), **fields)


def credit_note(n: int = 1, net: str = "25.00", **fields):
    return document(SCN, n, lines=[line(net)], total=(net, str(D(net) * D("0.2"))), **fields)


def banked(acme) -> Decimal:
    """Money into the bank as the accountant sees it: the receipts' totals."""
    return sum((p["total_amount"] for p in acme.list("contact_payments")
                if p["transaction_type"]["id"] == "CUSTOMER_RECEIPT"), D("0"))


def by_reference(acme, collection: str, reference: str) -> dict:
    [found] = [r for r in acme.list(collection) if r["reference"] == reference]
    return found


def test_defect_06_credit_note_allocation_whose_answer_is_lost_is_not_doubled(export, host, sandbox, store):
    acme = sandbox.accountant()
    host.stage(invoice(1, "100.00"))
    host.stage(credit_note(1, "25.00", invoice_id="INV-1"))
    sandbox.faults.drop_after_commit(times=1, method="POST", path="/contact_allocations")

    result = export()

    assert len(acme.list("contact_allocations")) == 1, result.failures
    assert by_reference(acme, "sales_invoices", "INV-00001")["outstanding_amount"] == D("90.00")
    export(include_retries=True)
    assert len(acme.list("contact_allocations")) == 1
    assert store.ledger.get(TENANT, CREDIT_NOTE_ALLOCATION, "CN-1").state is LedgerState.EXPORTED


def test_defect_06_credit_note_waits_for_its_invoice_then_is_allocated(export, host, sandbox, store):
    acme = sandbox.accountant()
    host.stage(credit_note(1, "25.00", invoice_id="INV-1"))  # the invoice has not arrived yet

    first = export(include_retries=True)

    note = by_reference(acme, "sales_credit_notes", "CN-00001")
    assert note["outstanding_amount"] == D("30.00") and acme.list("contact_allocations") == []
    [waiting] = [e for e in store.synclog.for_run(TENANT, first.run_id, limit=100).items
                 if e.host_id == "CN-1" and e.outcome.value == "skipped"]
    assert waiting.reason_code == "waiting_for_invoice"
    assert "waits for invoice 'INV-1'" in waiting.reason
    assert store.ledger.get(TENANT, CREDIT_NOTE_ALLOCATION, "CN-1").state is LedgerState.SKIPPED
    assert first.counts["skipped"] == 1

    # Another run with the invoice still missing: still waiting, not logged again.
    again = export(include_retries=True)
    assert again.counts["skipped"] == 0
    assert store.synclog.for_run(TENANT, again.run_id, limit=100).items == []

    host.stage(invoice(1, "100.00"))
    export(include_retries=True)  # the invoice goes to Sage, then the credit note is allocated against it

    inv = by_reference(acme, "sales_invoices", "INV-00001")
    assert inv["outstanding_amount"] == D("90.00")
    assert by_reference(acme, "sales_credit_notes", "CN-00001")["outstanding_amount"] == D("0.00")
    assert len(acme.list("contact_allocations")) == 1
    assert store.ledger.get(TENANT, CREDIT_NOTE_ALLOCATION, "CN-1").state is LedgerState.EXPORTED


def test_defect_06_pure_offset_moves_no_money(export, host, sandbox, store):
    acme = sandbox.accountant()
    host.stage(invoice(1, "100.00"))  # 120.00
    host.stage(credit_note(1, "100.00"))  # 120.00
    host.stage(CustomerPayment(host_id="PAY-1", party_id="CUST-1", payment_date=date(2025, 3, 2),
                               amount=D("0"), currency="GBP",
                               allocations=[{"kind": "sales_invoice", "host_id": "INV-1", "amount": "120.00"},
                                            {"kind": "sales_credit_note", "host_id": "CN-1", "amount": "120.00"}]))

    result = export()

    assert result.counts["failed"] == 0 and result.counts["skipped"] == 0, result.failures
    assert acme.list("contact_payments") == [] and banked(acme) == 0
    inv = by_reference(acme, "sales_invoices", "INV-00001")
    assert inv["outstanding_amount"] == D("0.00") and inv["status"]["id"] == "PAID"
    assert by_reference(acme, "sales_credit_notes", "CN-00001")["outstanding_amount"] == D("0.00")
    [offset] = acme.list("contact_allocations")
    assert store.ledger.get(TENANT, "customer_payment", "PAY-1").sage_id == offset["id"]
    export(export_type="all")
    assert len(acme.list("contact_allocations")) == 1  # exactly once


def test_defect_06_a_changed_pure_offset_updates_its_allocation(export, host, sandbox):
    acme = sandbox.accountant()
    host.stage(invoice(1, "100.00"))  # 120.00
    host.stage(credit_note(1, "100.00"))  # 120.00

    def offset(amount: str) -> CustomerPayment:
        return CustomerPayment(host_id="PAY-1", party_id="CUST-1", payment_date=date(2025, 3, 2), amount=D("0"),
                               currency="GBP", allocations=[
                                   {"kind": "sales_invoice", "host_id": "INV-1", "amount": amount},
                                   {"kind": "sales_credit_note", "host_id": "CN-1", "amount": amount}])

    host.stage(offset("120.00"))
    export()
    host.stage(offset("50.00"))  # the host corrected the offset
    result = export(export_type="all")

    assert result.counts["updated"] == 1 and result.counts["failed"] == 0, result.failures
    [allocation] = acme.list("contact_allocations")
    assert sorted(a["amount"] for a in allocation["allocated_artefacts"]) == [D("-50.00"), D("50.00")]
    assert by_reference(acme, "sales_invoices", "INV-00001")["outstanding_amount"] == D("70.00")
    assert acme.list("contact_payments") == []


class _Killed(Exception):
    pass


def test_defect_06_a_worker_killed_before_the_allocation_leaves_it_due_not_lost(
        export, host, sandbox, store, clock, monkeypatch):
    from sagebridge.sync.export.allocations import CreditNoteAllocations

    acme = sandbox.accountant()
    host.stage(invoice(1, "100.00"))
    host.stage(credit_note(1, "25.00", invoice_id="INV-1"))
    real = CreditNoteAllocations.allocate_all

    def killed(self):
        raise _Killed  # the worker dies after the documents were committed, before allocating

    monkeypatch.setattr(CreditNoteAllocations, "allocate_all", killed)
    try:
        export()
    except _Killed:
        pass
    monkeypatch.setattr(CreditNoteAllocations, "allocate_all", real)
    assert acme.list("contact_allocations") == []
    assert store.ledger.get(TENANT, CREDIT_NOTE_ALLOCATION, "CN-1").state is LedgerState.IN_FLIGHT

    clock.advance(minutes=16)  # the dead worker's claim goes stale
    export(include_retries=True)
    export(include_retries=True)

    assert len(acme.list("contact_allocations")) == 1
    assert by_reference(acme, "sales_invoices", "INV-00001")["outstanding_amount"] == D("90.00")
    assert store.ledger.get(TENANT, CREDIT_NOTE_ALLOCATION, "CN-1").state is LedgerState.EXPORTED


def test_defect_06_a_waiting_allocation_can_be_replayed_like_any_skipped_document(export, host, sandbox, store):
    acme = sandbox.accountant()
    host.stage(credit_note(1, "25.00", invoice_id="INV-1"))
    export()
    host.stage(invoice(1, "100.00"))
    export(kinds=["sales_invoice"], documents=(("sales_invoice", "INV-1"),))  # a trigger-status export

    # What the admin API's replay sends for every skipped ledger entry, this one included.
    refs = [(e.kind, e.host_id) for e in store.ledger.list_by_state(TENANT, LedgerState.SKIPPED)]
    assert (CREDIT_NOTE_ALLOCATION, "CN-1") in refs
    result = export(triggered_by="replay", documents=tuple(refs))

    assert result.counts["failed"] == 0, result.failures
    assert by_reference(acme, "sales_invoices", "INV-00001")["outstanding_amount"] == D("90.00")
    assert len(acme.list("contact_allocations")) == 1


def _export_as_before_allocations(export, monkeypatch) -> None:
    """Export as a release without credit-note allocation did: the credit note reaches Sage, nothing
    allocates it (its ledger entry is exported, there is no allocation entry)."""
    from sagebridge.sync.export.allocations import CreditNoteAllocations

    with monkeypatch.context() as m:
        m.setattr(CreditNoteAllocations, "hold", lambda self, host_id: None)
        m.setattr(CreditNoteAllocations, "allocate_all", lambda self: None)
        export()


def test_silence_a_credit_note_exported_before_allocations_is_allocated_by_a_replay_once(
        export, host, sandbox, store, monkeypatch):
    acme = sandbox.accountant()
    host.stage(invoice(1, "100.00"))  # 120.00
    host.stage(credit_note(1, "25.00", invoice_id="INV-1"))  # 30.00
    _export_as_before_allocations(export, monkeypatch)
    assert store.ledger.find(TENANT, CREDIT_NOTE_ALLOCATION, "CN-1") is None
    assert acme.list("contact_allocations") == []

    result = export(triggered_by="replay", documents=(("sales_credit_note", "CN-1"),))

    assert result.counts["failed"] == 0, result.failures
    assert by_reference(acme, "sales_invoices", "INV-00001")["outstanding_amount"] == D("90.00")
    assert by_reference(acme, "sales_credit_notes", "CN-00001")["outstanding_amount"] == D("0.00")
    assert len(acme.list("contact_allocations")) == 1
    assert store.ledger.get(TENANT, CREDIT_NOTE_ALLOCATION, "CN-1").state is LedgerState.EXPORTED

    # Replayed again, scheduled: never allocated twice.
    export(triggered_by="replay", documents=(("sales_credit_note", "CN-1"),))
    export(include_retries=True)
    assert len(acme.list("contact_allocations")) == 1
    assert by_reference(acme, "sales_invoices", "INV-00001")["outstanding_amount"] == D("90.00")


def test_silence_a_replay_does_not_allocate_a_credit_note_the_accountant_already_allocated(
        export, host, sandbox, store, monkeypatch):
    acme = sandbox.accountant()
    host.stage(invoice(1, "100.00"))
    host.stage(credit_note(1, "25.00", invoice_id="INV-1"))
    _export_as_before_allocations(export, monkeypatch)
    inv = by_reference(acme, "sales_invoices", "INV-00001")
    note = by_reference(acme, "sales_credit_notes", "CN-00001")
    acme.allocate_credit_note(note["id"], inv["id"])  # done by hand in Sage meanwhile

    result = export(triggered_by="replay", documents=(("sales_credit_note", "CN-1"),))

    assert result.counts["failed"] == 0, result.failures
    assert len(acme.list("contact_allocations")) == 1
    assert by_reference(acme, "sales_invoices", "INV-00001")["outstanding_amount"] == D("90.00")
    logged = [e.reason for e in store.synclog.for_run(TENANT, result.run_id, limit=100).items if e.host_id == "CN-1"]
    assert any("already allocated in Sage" in r for r in logged), logged
