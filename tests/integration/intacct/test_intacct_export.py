"""The export engine with provider = sage_intacct: customers, invoices and credit notes arrive in
the sandbox with the right amounts, dimensions and custom field; customers are identified by
none / name / email; a receipt is applied to its invoice."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.domain import CustomerPayment, DocumentKind

from .conftest import TENANT, customer, document, line


def test_customers_invoices_and_credit_notes_with_correct_amounts(world, host):
    world.add_tenant()
    pat = customer(1)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=pat,
                        lines=[line("100.00", tax="S", ledger_code="LABOUR"),
                               line("19.99", "3", tax="R", description="Oil", ledger_code="PARTS"),
                               line("10.00", tax=None, description="Disposal")]))
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, party=pat, lines=[line("40.00", tax="S")]))

    result = world.export()
    assert result.counts["created"] == 3  # the customer, the invoice, the credit note

    acct = world.sandbox.accountant()
    [cust] = acct.find("CUSTOMER", "NAME", "Owner 1 Plumbing LLC")
    [person] = acct.find("CONTACT", "CONTACTNAME", f"Pat Owner 1 ({cust['CUSTOMERID']})")
    assert person["EMAIL1"] == "ap1@owner.example" and cust["CONTACTINFO"]["CONTACTNAME"] == person["CONTACTNAME"]
    assert world.store.mappings.find(TENANT, "customer", "CUST-1").sage_id == cust["CUSTOMERID"]

    [invoice] = acct.find("ARINVOICE", "RECORDID", "INV-00001")
    # 100 + 59.97 + 10 net; tax 20.00 + 3.00 on its own line to the tax account
    assert invoice["TOTALENTERED"] == Decimal("192.97") and invoice["TOTALDUE"] == Decimal("192.97")
    lines = invoice["ARINVOICEITEMS"]["ARINVOICEITEM"]
    assert [(x["ACCOUNTNO"], x["AMOUNT"]) for x in lines] == [
        ("4100", Decimal("100.00")), ("4200", Decimal("59.97")), ("4000", Decimal("10.00")),
        ("2200", Decimal("20.00")), ("2200", Decimal("3.00"))]
    assert all(x["LOCATIONID"] == "100" and x["DEPARTMENTID"] == "SVC" for x in lines)
    assert lines[1]["ENTRYDESCRIPTION"] == "Oil" and invoice["HOST_LOCATION"] == "Leeds depot"
    assert invoice["CUSTOMERID"] == cust["CUSTOMERID"]

    [credit] = acct.find("ARADJUSTMENT", "RECORDID", "CN-00001")
    assert credit["TOTALENTERED"] == Decimal("-48.00")  # a credit memo: negative amounts
    assert [x["AMOUNT"] for x in credit["ARADJUSTMENTITEMS"]["ARADJUSTMENTITEM"]] == [Decimal("-40.00"),
                                                                                     Decimal("-8.00")]
    mapped = world.store.mappings.find(TENANT, "sales_invoice", "INV-1")
    assert mapped.sage_id == str(invoice["RECORDNO"])

    # A second run sends nothing again (export type New).
    before = world.sandbox.created_count()
    again = world.export()
    assert again.counts["created"] == 0 and world.sandbox.created_count() == before


def test_a_receipt_is_applied_to_its_invoice(world, host):
    world.add_tenant()
    pat = customer(1)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=pat, lines=[line("100.00", tax="S")]))
    host.stage(CustomerPayment.model_validate({
        "host_id": "PAY-1", "party_id": pat.host_id, "payment_date": "2025-03-05", "amount": "50.00",
        "currency": "USD", "method": "card",
        "allocations": [{"kind": "sales_invoice", "host_id": "INV-1", "amount": "50.00"}]}))
    world.export()
    acct = world.sandbox.accountant()
    [invoice] = acct.find("ARINVOICE", "RECORDID", "INV-00001")
    assert invoice["TOTALDUE"] == Decimal("70.00") and invoice["STATE"] == "Partially Paid"
    [payment] = acct.list("ARPYMT")
    assert payment["PAYMENTMETHOD"] == "Credit Card" and payment["TOTALENTERED"] == Decimal("50.00")


def test_a_refused_document_fails_with_intacct_s_reason(world, host):
    world.add_tenant(intacct={"location_id": "999", "department_id": "SVC"})
    host.stage(document(DocumentKind.SALES_INVOICE, 1, lines=[line("10.00", ledger_code="LABOUR")]))
    result = world.export(strict=False)
    assert result.counts["failed"] == 1
    [entry] = [e for e in world.store.synclog.for_run(TENANT, result.run_id) if e.kind == "sales_invoice"]
    assert "Sage refused" in entry.reason and "'999' is not valid" in entry.reason, entry.reason


def test_reconciliation_reads_intacct_totals_of_exported_documents(world, host):
    from datetime import date

    from sagebridge.sync.reconcile import reconcile

    world.add_tenant()
    pat = customer(1)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=pat, lines=[line("100.00", tax="S")]))
    host.stage(document(DocumentKind.SALES_INVOICE, 2, party=pat, lines=[line("50.00", tax="S")]))
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, party=pat, lines=[line("40.00", tax="S")]))
    host.stage(CustomerPayment.model_validate({
        "host_id": "PAY-1", "party_id": pat.host_id, "payment_date": "2025-03-05", "amount": "120.00",
        "currency": "USD", "method": "card",
        "allocations": [{"kind": "sales_invoice", "host_id": "INV-1", "amount": "120.00"}]}))
    world.export()

    def report():
        return reconcile(world.store, world.connector(), world.settings_of(), TENANT,
                         window_from=date(2025, 3, 1), window_to=date(2025, 3, 31),
                         kinds=["sales_invoice", "sales_credit_note", "customer_payment"])

    clean = report()
    totals = {k.kind: (k.host_count, k.host_total, k.sage_count, k.sage_total) for k in clean.kinds}
    assert totals == {
        "sales_invoice": (2, Decimal("180.00"), 2, Decimal("180.00")),
        "sales_credit_note": (1, Decimal("48.00"), 1, Decimal("48.00")),
        "customer_payment": (1, Decimal("120.00"), 1, Decimal("120.00")),
    }
    assert clean.balanced and clean.differences == []

    # The accountant edits an invoice in Intacct: the report shows Intacct's figure.
    acct = world.sandbox.accountant()
    [invoice] = acct.find("ARINVOICE", "RECORDID", "INV-00002")
    acct.update("ARINVOICE", invoice["RECORDNO"], TOTALENTERED=Decimal("65.00"), TOTALDUE=Decimal("65.00"))
    [differs] = report().differences
    assert differs.problem == "total_differs" and differs.host_id == "INV-2"
    assert (differs.host_total, differs.sage_total) == (Decimal("60.00"), Decimal("65.00"))


def test_defect_09_a_line_on_a_gl_account_intacct_does_not_have_is_skipped_not_sent(world, host):
    world.add_tenant(ledger_mappings={"LABOUR": "9999"})
    host.stage(document(DocumentKind.SALES_INVOICE, 1, lines=[line("10.00", ledger_code="LABOUR")]))
    result = world.export(strict=False)
    assert result.counts["skipped"] == 1 and result.counts["failed"] == 0
    assert world.sandbox.accountant().list("ARINVOICE") == []
    [entry] = [e for e in world.store.synclog.for_run(TENANT, result.run_id) if e.kind == "sales_invoice"]
    assert entry.reason_code == "mapping_not_usable" and "ledger_mappings.LABOUR" in entry.reason


def test_an_intacct_export_never_calls_the_sage_accounting_mapper(world, host, monkeypatch):
    """Intacct brings its own mapper: customers, a changed customer, invoices, a credit note, a
    receipt and the reconciliation go through it alone (every public function of the Sage
    Accounting mapper is booby-trapped for this run)."""
    from datetime import date

    from sagebridge.connectors.sage_accounting import mapper as sage_accounting_mapper
    from sagebridge.sync.reconcile import reconcile

    def trap(name):
        def called(*args, **kwargs):
            raise AssertionError(f"the Intacct path called the Sage Accounting mapper's {name}")
        return called

    for name in sage_accounting_mapper.__all__:
        if callable(getattr(sage_accounting_mapper, name)) and name[0].islower():
            monkeypatch.setattr(sage_accounting_mapper, name, trap(name))
    monkeypatch.setattr(sage_accounting_mapper.TaxTable, "from_records", classmethod(trap("TaxTable")))
    world.add_tenant()
    pat = customer(1)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=pat, lines=[line("100.00", tax="S")]))
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, party=pat, lines=[line("40.00", tax="S")]))
    host.stage(CustomerPayment.model_validate({
        "host_id": "PAY-1", "party_id": pat.host_id, "payment_date": "2025-03-05", "amount": "50.00",
        "currency": "USD", "allocations": [{"kind": "sales_invoice", "host_id": "INV-1", "amount": "50.00"}]}))
    assert world.export().counts["created"] == 4
    host.stage(document(DocumentKind.SALES_INVOICE, 2, party=customer(1, tax_number="75-1234567"),
                        lines=[line("10.00", tax=None)]))
    result = world.export()
    assert (result.counts["created"], result.counts["updated"]) == (1, 1)
    report = reconcile(world.store, world.connector(), world.settings_of(), TENANT, window_from=date(2025, 3, 1),
                       window_to=date(2025, 3, 31), kinds=["sales_invoice", "sales_credit_note", "customer_payment"])
    assert report.balanced
