"""The Intacct mapper: canonical records -> the Intacct functions the gateway receives. The golden
files (golden/*.xml) were proven byte-identical to what the earlier path (canonical -> Sage
Accounting body -> Intacct functions) sent for the same records; any change to them is a change in
what reaches Intacct."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from sagebridge.connectors.base import RemoteRecord
from sagebridge.connectors.sage_intacct import export_mapper as m
from sagebridge.connectors.sage_intacct.mapper import NO_TAX_RECORD, TaxDetail
from sagebridge.domain import (
    Customer,
    CustomerPayment,
    DocumentKind,
    PurchaseCreditNote,
    PurchaseInvoice,
    SalesCreditNote,
    SalesInvoice,
    TenantSettings,
    Vendor,
)

D = Decimal
GOLDEN = Path(__file__).parent / "golden"
TAXES = m.TaxTable.from_records([NO_TAX_RECORD, *(m.tax_rate_record(d) for d in (
    TaxDetail("Sales Tax Standard", D("8.25"), "2200", "Sales Tax Standard"),
    TaxDetail("Reduced", D("5"), "2210", "Reduced 5%"),
    TaxDetail("No GL", D("10"), None, "No GL"),
    TaxDetail("Input Standard", D("8.25"), "2300", "Input Standard", tax_type="Purchase")))])
PLAIN = TenantSettings(provider="sage_intacct", tax_mappings={"S": "Sales Tax Standard", "R": "Reduced",
                                                               "X": "No GL"},
                       default_sales_ledger_account_id="4000", ledger_mappings={"PARTS": "4100"},
                       receipt_bank_account_id="BOA-OPS")
DIMENSIONS = TenantSettings.model_validate({**PLAIN.model_dump(), "intacct": {
    "location_id": "100", "department_id": "SVC", "location_custom_field": "HOST_LOCATION",
    "host_location": "Austin depot"}})
PAT = Customer.model_validate({
    "host_id": "C2", "name": "Pat Owner", "company": "O'Neil & Sons <Plumbing>", "email": "jo@oneil.example",
    "phone": "+1 512 555 0100", "tax_number": "12-345", "currency": "EUR",
    "address": {"lines": ["1 Main St", "Suite 4", "Back door"], "city": "Austin", "region": "TX",
                "postcode": "78701", "country_code": "US"}})
LINES = [
    {"description": "Labour & parts", "quantity": "3", "unit_price": "33.33", "tax_code": "S",
     "ledger_code": "PARTS"},
    {"description": "Parts", "quantity": "2", "unit_price": "120", "discount": "40", "tax_code": "S"},
    {"description": "Call-out", "unit_price": "5", "tax_code": None},
    {"description": "Reduced goods", "quantity": "7", "unit_price": "1.11", "tax_code": "R"},
    {"description": "Deposit taken off", "unit_price": "-10", "tax_code": "S"},
    {"description": "x" * 1500, "unit_price": "0.01", "tax_code": "R"},
]


def _doc(model, **overrides):
    return model.model_validate({"host_id": "D1", "number": "INV-00001", "party_id": "C1",
                                 "document_date": "2025-03-01", "currency": "USD", "status": "pending_payment",
                                 "totals": {"net": "0", "tax": "0", "total": "0"}, **overrides})


def _receipt(**overrides):
    return CustomerPayment.model_validate({"host_id": "P1", "party_id": "C1", "payment_date": "2025-03-04",
                                           "currency": "USD", **overrides})


def _sent(functions) -> str:
    return "".join(f"<!-- controlid {f.controlid} -->\n{ET.tostring(f.body).decode()}\n" for f in functions)


def _golden(name: str) -> str:
    return (GOLDEN / f"{name}.xml").read_text()


def test_a_customer_is_its_person_then_its_organisation():
    body = m.contact_body(PAT, business_currency="USD")
    assert _sent(m.functions(body, "k")) == _golden("customer")
    assert body["reference"] == m.contact_reference(PAT.kind, "C2") and len(body["reference"]) == 10
    assert m.refusal(body) is None


def test_a_changed_customer_is_an_update_of_its_customer_record():
    body = m.contact_update_body(PAT, business_currency="USD")
    assert _sent(m.customer_update_functions("C0000001", body)) == _golden("customer_update")


def test_an_invoice_has_a_line_per_host_line_and_one_per_tax_detail_with_dimensions():
    doc = _doc(SalesInvoice, lines=LINES, due_date="2025-03-31", reference="PO 7", currency="EUR",
               exchange_rate="1.0825")
    mapped = m.document_body(doc, contact_id="C0000001", settings=DIMENSIONS, taxes=TAXES,
                             business_currency="USD")
    assert _sent(m.functions(mapped.body, "k")) == _golden("invoice")
    # 99.99 + 200 + 5 + 7.77 - 10 + 0.01 net; tax per line at 8.25% / 5%, rounded half up
    assert (mapped.net, mapped.tax, mapped.total) == (D("302.77"), D("24.31"), D("327.08"))
    assert mapped.body["total_amount"] == mapped.total and mapped.reference == "INV-00001"


def test_a_credit_note_is_an_adjustment_with_negative_amounts():
    doc = _doc(SalesCreditNote, lines=LINES[:3], number="CN-00001", reference="RMA 9")
    mapped = m.document_body(doc, contact_id="C0000001", settings=PLAIN, taxes=TAXES, business_currency="USD")
    assert _sent(m.functions(mapped.body, "k")) == _golden("credit_note")


def test_a_receipt_is_applied_to_the_invoices_it_pays():
    receipt = _receipt(currency="EUR", exchange_rate="1.1", amount="150.50", method="Credit Card", allocations=[
        {"kind": "sales_invoice", "host_id": "I1", "amount": "100.25"},
        {"kind": "sales_invoice", "host_id": "I2", "amount": "50.25"}])
    body = m.payment_body(receipt, contact_id="C0000001", allocations=[
        (DocumentKind.SALES_INVOICE, "101", D("100.25")), (DocumentKind.SALES_INVOICE, "102", D("50.25"))],
        bank_account_id="BOA-OPS", settings=PLAIN, business_currency="USD")
    assert _sent(m.functions(body, "k")) == _golden("receipt")
    assert (body["reference"], body["total_amount"], m.refusal(body)) == ("P1", D("150.50"), None)


@pytest.mark.parametrize(("method", "setting", "expected"), [
    ("cheque", None, "Printed Check"), ("Bank Transfer", None, "EFT"), ("cash", "CHECK", "Cash"),
    (None, "CASH", "Cash"), ("barter", None, "EFT"), (None, None, "EFT")])
def test_the_payment_method_is_the_host_s_words_else_the_setting_else_eft(method, setting, expected):
    settings = PLAIN.model_copy(update={"receipt_payment_method": setting})
    body = m.payment_body(_receipt(amount="10", method=method), contact_id="C1",
                          allocations=[(DocumentKind.SALES_INVOICE, "101", D("10"))], bank_account_id="B",
                          settings=settings, business_currency="USD")
    assert body["functions"][0]["fields"]["ARPYMT"]["PAYMENTMETHOD"] == expected


def test_what_intacct_would_refuse_is_said_before_anything_is_sent():
    over = m.payment_body(_receipt(amount="70"), contact_id="C1",
                          allocations=[(DocumentKind.SALES_INVOICE, "101", D("60"))], bank_account_id="B",
                          settings=PLAIN, business_currency="USD")
    assert m.refusal(over) == m.NOT_APPLIED_IN_FULL
    no_gl = m.document_body(_doc(SalesInvoice, lines=[{"description": "x", "unit_price": "10", "tax_code": "X"}]),
                            contact_id="C1", settings=PLAIN, taxes=TAXES, business_currency="USD")
    assert m.refusal(no_gl.body) == "tax detail 'No GL' is not in Sage Intacct or has no GL account"
    past_the_domain = _receipt(amount="10").model_copy(update={"amount": D("0")})  # the domain refuses it too
    offset_too_big = m.payment_body(
        past_the_domain, contact_id="C1", allocations=[(DocumentKind.SALES_INVOICE, "101", D("10")),
                                      (DocumentKind.SALES_CREDIT_NOTE, "201", D("12"))],
        bank_account_id="B", settings=PLAIN, business_currency="USD")
    assert m.refusal(offset_too_big) == m.CREDIT_LEFT_OVER


def test_a_vendor_is_a_contact_then_a_vendor_and_updates_by_its_vendorid():
    vendor = Vendor(host_id="V1", name="Supplier", email="ap@supplier.example")
    body = m.contact_body(vendor, business_currency="USD")
    assert m.refusal(body) is None
    assert [(f["action"], *f["fields"]) for f in body["functions"]] == [("contact", "CONTACT"), ("vendor", "VENDOR")]
    made = body["functions"][1]["fields"]["VENDOR"]
    assert made["VENDORID"] == body["reference"] == m.contact_reference(vendor.kind, "V1")
    assert made["PAYTO"] == {"CONTACTNAME": body["functions"][0]["fields"]["CONTACT"]["CONTACTNAME"]}
    [update] = m.customer_update_functions("V-9", m.contact_update_body(vendor, business_currency="USD"))
    assert update.body.tag == "update" and update.body.findtext("VENDOR/VENDORID") == "V-9"
    assert update.body.findtext("VENDOR/DISPLAYCONTACT/EMAIL1") == "ap@supplier.example"


def _purchases(base: TenantSettings, **purchase_tax: str) -> TenantSettings:
    dumped = base.model_dump()
    intacct = {**(dumped.get("intacct") or {}), "purchase_tax_mappings": purchase_tax}
    return TenantSettings.model_validate({**dumped, "default_purchase_ledger_account_id": "5000",
                                          "intacct": intacct})


def test_a_purchase_invoice_is_a_bill_with_purchase_accounts_tax_lines_and_dimensions():
    settings = _purchases(DIMENSIONS, S="Input Standard")
    bill = m.document_body(_doc(PurchaseInvoice, number="BILL-1", reference="AP-77", due_date="2025-03-31",
                                lines=[{"description": "Pads", "unit_price": "40", "tax_code": "S"}]),
                           contact_id="V1", settings=settings, taxes=TAXES, business_currency="USD")
    assert m.refusal(bill.body) is None and bill.total == D("43.30")
    [function] = m.functions(bill.body, "key-1")
    assert function.controlid == "bill-key-1" and function.body.tag == "create_bill"
    fields = function.body
    assert (fields.findtext("vendorid"), fields.findtext("billno"), fields.findtext("datedue/day")) == \
        ("V1", "BILL-1", "31")
    assert fields.findtext("description") == "Vendor reference: AP-77"
    lines = [(li.findtext("glaccountno"), li.findtext("amount"), li.findtext("locationid"))
             for li in fields.iter("lineitem")]
    # input VAT on the Purchase detail's account (2300), never the sales tax account (2200)
    assert lines == [("5000", "40.00", "100"), ("2300", "3.30", "100")]


def test_purchase_tax_details_are_not_sales_rates():
    assert "Input Standard" not in TAXES.rates and TAXES.purchase_rates["Input Standard"] == D("8.25")


def test_a_bill_whose_tax_code_has_no_purchase_mapping_is_refused_with_the_setting_to_set():
    settings = TenantSettings.model_validate({**PLAIN.model_dump(), "default_purchase_ledger_account_id": "5000"})
    bill = m.document_body(_doc(PurchaseInvoice, number="BILL-2",
                                lines=[{"description": "Pads", "unit_price": "40", "tax_code": "S"}]),
                           contact_id="V1", settings=settings, taxes=TAXES, business_currency="USD")
    reason = m.refusal(bill.body)
    assert reason is not None and "'S'" in reason and "intacct.purchase_tax_mappings.S" in reason


def test_a_purchase_mapping_to_a_sales_detail_is_refused():
    bill = m.document_body(_doc(PurchaseInvoice, number="BILL-3",
                                lines=[{"description": "Pads", "unit_price": "40", "tax_code": "S"}]),
                           contact_id="V1", settings=_purchases(PLAIN, S="Sales Tax Standard"), taxes=TAXES,
                           business_currency="USD")
    assert "not an active purchase tax detail" in (m.refusal(bill.body) or "")


def test_an_untaxed_bill_line_needs_no_purchase_mapping():
    settings = TenantSettings.model_validate({**PLAIN.model_dump(), "default_purchase_ledger_account_id": "5000"})
    bill = m.document_body(_doc(PurchaseInvoice, number="BILL-4", lines=[{"description": "Pads", "unit_price": "40"}]),
                           contact_id="V1", settings=settings, taxes=TAXES, business_currency="USD")
    assert m.refusal(bill.body) is None and bill.total == D("40.00")


def test_a_purchase_credit_note_is_an_ap_adjustment_with_negative_lines():
    settings = _purchases(PLAIN, S="Input Standard")
    note = m.document_body(_doc(PurchaseCreditNote, number="VCN-1",
                                lines=[{"description": "Return", "unit_price": "10", "tax_code": "S"}]),
                           contact_id="V1", settings=settings, taxes=TAXES, business_currency="USD")
    [function] = m.functions(note.body, "key-2")
    assert function.controlid == "apadjustment-key-2" and function.body.tag == "create_apadjustment"
    assert (function.body.findtext("vendorid"), function.body.findtext("adjustmentno")) == ("V1", "VCN-1")
    assert [(li.findtext("glaccountno"), li.findtext("amount")) for li in function.body.iter("lineitem")] == \
        [("5000", "-10.00"), ("2300", "-0.83")]
    assert note.total == D("10.83") and m.refusal(note.body) is None


def test_untaxed_lines_use_no_tax_and_inactive_details_are_not_rates():
    table = m.TaxTable.from_records([
        RemoteRecord("EXEMPT", data={"percentage": D("0"), "name": "Exempt"}), NO_TAX_RECORD,
        RemoteRecord("OLD", data={"percentage": D("7"), "name": "Old", "is_visible": False})])
    assert table.zero_rate_id == "NO_TAX" and "OLD" not in table.rates


def test_a_record_is_the_same_document_by_number_customer_total_and_date():
    record = RemoteRecord("7", reference="INV-1", data={"total_amount": D("12.00"), "contact": {"id": "C1"},
                                                        "date": "2025-03-01"})
    assert m.is_same_document(record, reference="INV-1", contact_id="C1", total=D("12.004"), on=date(2025, 3, 1))
    assert not m.is_same_document(record, reference="INV-1", contact_id="C2", total=D("12"))
    assert not m.is_same_document(record, reference="INV-1", contact_id=None, total=D("12.01"))
    assert not m.is_same_document(record, reference="INV-1", contact_id=None, total=D("12"), on=date(2025, 3, 2))


# ------------------------------------------------------------------ dimensions on every line, refunds

CLASSED = _purchases(TenantSettings.model_validate({**DIMENSIONS.model_dump(), "intacct": {
    **(DIMENSIONS.intacct.model_dump() if DIMENSIONS.intacct else {}), "class_id": "FIELD",
    "bill_location_custom_field": "BILL_LOCATION"}}), S="Input Standard")
KINDS = [(SalesInvoice, "create_invoice"), (SalesCreditNote, "create_aradjustment"),
         (PurchaseInvoice, "create_bill"), (PurchaseCreditNote, "create_apadjustment")]


@pytest.mark.parametrize(("model", "tag"), KINDS)
def test_every_line_of_every_kind_carries_location_department_and_class_in_schema_order(model, tag):
    mapped = m.document_body(_doc(model, lines=[{"description": "Pads", "unit_price": "40", "tax_code": "S"},
                                                {"description": "Call-out", "unit_price": "5"}]),
                             contact_id="C1", settings=CLASSED, taxes=TAXES, business_currency="USD")
    [function] = m.functions(mapped.body, "k")
    assert function.body.tag == tag
    lines = list(function.body.iter("lineitem"))
    assert len(lines) == 3  # two host lines and the tax line, each with the tenant's dimensions
    for li in lines:
        assert [c.tag for c in li] == ["glaccountno", "amount", "memo", "locationid", "departmentid", "classid"]
        assert (li.findtext("locationid"), li.findtext("departmentid"), li.findtext("classid")) == \
            ("100", "SVC", "FIELD")


def test_no_class_is_sent_when_the_tenant_maps_none():
    mapped = m.document_body(_doc(SalesInvoice, lines=[{"description": "x", "unit_price": "10"}]),
                             contact_id="C1", settings=DIMENSIONS, taxes=TAXES, business_currency="USD")
    [function] = m.functions(mapped.body, "k")
    assert function.body.find("invoiceitems/lineitem/classid") is None


@pytest.mark.parametrize(("model", "field"), [(SalesInvoice, "HOST_LOCATION"), (PurchaseInvoice, "BILL_LOCATION"),
                                              (SalesCreditNote, None), (PurchaseCreditNote, None)])
def test_the_host_location_goes_in_each_object_s_own_custom_field(model, field):
    mapped = m.document_body(_doc(model, lines=[{"description": "x", "unit_price": "10"}]),
                             contact_id="C1", settings=CLASSED, taxes=TAXES, business_currency="USD")
    [function] = m.functions(mapped.body, "k")
    custom = [(c.findtext("customfieldname"), c.findtext("customfieldvalue"))
              for c in function.body.findall("customfields/customfield")]
    assert custom == ([(field, "Austin depot")] if field else [])


def test_a_bill_without_its_own_custom_field_name_carries_no_location_field():
    mapped = m.document_body(_doc(PurchaseInvoice, lines=[{"description": "x", "unit_price": "10"}]),
                             contact_id="V1", settings=_purchases(DIMENSIONS), taxes=TAXES, business_currency="USD")
    [function] = m.functions(mapped.body, "k")
    assert function.body.find("customfields") is None  # the invoice's field name is not APBILL's


def test_a_refund_is_refused_with_the_one_reason_that_says_what_to_do_and_why():
    from sagebridge.connectors.sage_intacct.mapper import NOT_EXPORTED
    from sagebridge.domain import CustomerRefund

    refund = CustomerRefund.model_validate({"host_id": "R1", "party_id": "C1", "payment_date": "2025-03-04",
                                            "currency": "USD", "amount": "30"})
    body = m.payment_body(refund, contact_id="C1", allocations=[], bank_account_id="B", settings=PLAIN,
                          business_currency="USD")
    reason = m.refusal(body)
    assert reason == NOT_EXPORTED[DocumentKind.CUSTOMER_REFUND] == m.NOT_EXPORTED[DocumentKind.CUSTOMER_REFUND]
    assert "XML API" in reason and "has no customer refund" in reason  # why
    assert "record the refund in Intacct as an AR refund" in reason  # what to do


def test_a_payment_of_nothing_that_applies_nothing_is_refused_as_no_money_moved_not_as_a_refund():
    nothing = _receipt(amount="10").model_copy(update={"amount": D("0")})  # past the domain's own check
    body = m.payment_body(nothing, contact_id="C1", allocations=[],
                          bank_account_id="B", settings=PLAIN, business_currency="USD")
    assert m.refusal(body) == m.NO_MONEY_MOVED


def _details(body):
    return body["functions"][0]["fields"]["ARPYMT"]["ARPYMTDETAILS"]["ARPYMTDETAIL"]


def test_a_pure_offset_is_an_arpymt_applying_the_credit_memo_to_the_invoice_with_no_cash():
    offset = _receipt(amount="0", allocations=[{"kind": "sales_invoice", "host_id": "I1", "amount": "12"},
                                               {"kind": "sales_credit_note", "host_id": "N1", "amount": "12"}])
    body = m.payment_body(offset, contact_id="C1", allocations=[(DocumentKind.SALES_INVOICE, "101", D("12")),
                                                                (DocumentKind.SALES_CREDIT_NOTE, "201", D("12"))],
                          bank_account_id="B", settings=PLAIN, business_currency="USD")
    assert m.refusal(body) is None
    assert _details(body) == [{"RECORDKEY": "101", "ADJUSTMENTKEY": "201", "TRX_ADJUSTMENTAMOUNT": D("12.00")}]


def test_a_receipt_offsetting_credit_notes_pays_in_cash_only_what_the_credits_leave():
    paid = _receipt(amount="108", allocations=[{"kind": "sales_invoice", "host_id": "I1", "amount": "100"},
                                               {"kind": "sales_invoice", "host_id": "I2", "amount": "20"},
                                               {"kind": "sales_credit_note", "host_id": "N1", "amount": "5"},
                                               {"kind": "sales_credit_note", "host_id": "N2", "amount": "7"}])
    body = m.payment_body(paid, contact_id="C1", allocations=[
        (DocumentKind.SALES_INVOICE, "101", D("100")), (DocumentKind.SALES_INVOICE, "102", D("20")),
        (DocumentKind.SALES_CREDIT_NOTE, "201", D("5")), (DocumentKind.SALES_CREDIT_NOTE, "202", D("7"))],
        bank_account_id="B", settings=PLAIN, business_currency="USD")
    assert m.refusal(body) is None
    # one detail per credit memo (Intacct: one per credit applied), the cash is the money that moved
    assert _details(body) == [
        {"RECORDKEY": "101", "TRX_PAYMENTAMOUNT": D("88.00")}, {"RECORDKEY": "102", "TRX_PAYMENTAMOUNT": D("20.00")},
        {"RECORDKEY": "101", "ADJUSTMENTKEY": "201", "TRX_ADJUSTMENTAMOUNT": D("5.00")},
        {"RECORDKEY": "101", "ADJUSTMENTKEY": "202", "TRX_ADJUSTMENTAMOUNT": D("7.00")}]
    assert sum(d.get("TRX_PAYMENTAMOUNT", D(0)) for d in _details(body)) == D("108.00")


def test_a_credit_note_linked_to_its_invoice_is_an_arpymt_of_no_money_found_again_by_its_docnumber():
    body = m.credit_note_allocation_body(contact_id="C1", invoice_id="11", credit_note_id="12", amount=D("30"),
                                         on=date(2025, 3, 4))
    assert m.refusal(body) is None
    arpymt = body["functions"][0]["fields"]["ARPYMT"]
    assert arpymt["CUSTOMERID"] == "C1" and arpymt["RECEIPTDATE"] == date(2025, 3, 4)
    assert arpymt["DOCNUMBER"] == body["reference"] == m.credit_application_reference("12", "11") == "CM/12/11"
    assert _details(body) == [{"RECORDKEY": "11", "ADJUSTMENTKEY": "12", "TRX_ADJUSTMENTAMOUNT": D("30.00")}]
    [function] = m.functions(body, "key-1")
    assert function.controlid == "credit-key-1"  # the same allocation always has the same controlid


def test_a_vendor_credit_memo_is_refused_saying_why_intacct_cannot_apply_it_once_and_what_to_do():
    body = m.credit_note_allocation_body(contact_id="V1", invoice_id="11", credit_note_id="12", amount=D("30"),
                                         on=date(2025, 3, 4), kind=DocumentKind.PURCHASE_CREDIT_NOTE)
    assert body["functions"] == [] and m.refusal(body) == body["refused"]
    assert "through an AP payment, which waits in the company's payment approvals" in body["refused"]  # why
    assert "apply the vendor credit memo to its bill in Intacct's Accounts Payable" in body["refused"]  # what to do
