"""Sage 200 mapper: analysis summaries that add up to the header exactly, deterministic rounding,
references within Sage 200's limits, allocations that balance to zero."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sagebridge.connectors.base import RemoteRecord
from sagebridge.connectors.sage200 import mapper
from sagebridge.domain import MODEL_FOR_KIND, Customer, CustomerPayment, DocumentKind, PartyKind, TenantSettings

TAXES = mapper.TaxTable.from_records([
    RemoteRecord("1", data={"code": 0, "name": "Zero rated", "tax_rate": Decimal("0")}),
    RemoteRecord("2", data={"code": 1, "name": "Standard rated", "tax_rate": Decimal("20")}),
    RemoteRecord("5", data={"code": 9, "name": "Non-vatable", "tax_rate": Decimal("0")}),
])
SETTINGS = TenantSettings(provider="sage200", tax_mappings={"S": "2", "Z": "1"},
                          ledger_mappings={"PARTS": "4010", "NORTH": "4100/NTH/WKS"},
                          default_sales_ledger_account_id="4000", receipt_bank_account_id="7")


def _invoice(lines, net, tax, number="INV-1"):
    return MODEL_FOR_KIND[DocumentKind.SALES_INVOICE].model_validate({
        "host_id": number, "number": number, "party_id": "C", "document_date": "2025-03-01", "currency": "GBP",
        "status": "pending_payment", "lines": lines,
        "totals": {"net": net, "tax": tax, "total": str(Decimal(net) + Decimal(tax))}})


def test_summaries_add_up_to_the_host_header_with_the_penny_on_the_largest_item():
    doc = _invoice([{"description": "a", "unit_price": "1.665", "tax_code": "S"},
                    {"description": "b", "unit_price": "1.665", "tax_code": "S", "ledger_code": "PARTS"},
                    {"description": "c", "unit_price": "5.00", "ledger_code": "NORTH"}], "8.34", "0.67")
    mapped = mapper.document_body(doc, contact_id="42", settings=SETTINGS, taxes=TAXES, business_currency="GBP")
    body = mapped.body
    assert body["customer_id"] == 42 and body["transaction_date"] == "2025-03-01T00:00:00"
    assert body["document_goods_value"] == Decimal("8.34") and body["document_tax_value"] == Decimal("0.67")
    taxes = {i["id"]: (i["goods_amount"], i["tax_amount"]) for i in body["tax_analysis_items"]}
    assert taxes == {2: (Decimal("3.34"), Decimal("0.67")), 5: (Decimal("5.00"), Decimal("0.00"))}
    nominal = {(i["code"], i.get("cost_centre"), i.get("department")): i["value"]
               for i in body["nominal_analysis_items"]}
    assert nominal == {("4000", None, None): Decimal("1.67"), ("4010", None, None): Decimal("1.67"),
                       ("4100", "NTH", "WKS"): Decimal("5.00")}
    assert mapped.total == Decimal("9.01")
    # Deterministic: the same document always maps to the same body.
    again = mapper.document_body(doc, contact_id="42", settings=SETTINGS, taxes=TAXES, business_currency="GBP")
    assert again.body == body


def test_spread_difference_breaks_ties_by_order_key():
    items = [{"code": "B", "value": Decimal("5.00")}, {"code": "A", "value": Decimal("5.00")}]
    mapper.spread_difference(items, "value", Decimal("10.01"), order_key="code")
    assert items == [{"code": "B", "value": Decimal("5.00")}, {"code": "A", "value": Decimal("5.01")}]


def test_references_fit_sage_200():
    assert len(mapper.contact_reference(PartyKind.CUSTOMER, "x" * 80)) == 8
    long = mapper.document_reference("INV-2025-000000012345-XYZ")
    assert len(long) == 20 and long == mapper.document_reference("INV-2025-000000012345-XYZ")
    assert mapper.NominalAccount.parse("4100/NTH/WKS").body() == {"code": "4100", "cost_centre": "NTH",
                                                                   "department": "WKS"}
    with pytest.raises(ValueError):
        mapper.NominalAccount.parse("123456789")
    body = mapper.contact_body(Customer(host_id="C", name="A" * 80, email="a@b.example"), business_currency="GBP")
    assert len(body["name"]) == 60 and body["contacts"][0]["emails"][0]["email"] == "a@b.example"


def test_receipt_and_allocation_balance_to_zero():
    # The credit note offsets part of the invoice: the receipt is the money that moved (150 - 30).
    payment = CustomerPayment(host_id="PAY-1", party_id="C", payment_date=date(2025, 3, 2), amount=Decimal("120"),
                              currency="GBP", allocations=[
                                  {"kind": "sales_invoice", "host_id": "I", "amount": "150.00"},
                                  {"kind": "sales_credit_note", "host_id": "N", "amount": "30.00"}])
    body = mapper.payment_body(payment, contact_id="42", allocations=[
        (DocumentKind.SALES_INVOICE, "11", Decimal("150.00")), (DocumentKind.SALES_CREDIT_NOTE, "12", Decimal("30"))],
        bank_account_id="7", settings=SETTINGS, business_currency="GBP")
    assert body["resource"] == "sales_receipts" and body["record"]["cheque_value"] == Decimal("120.00")
    allocation = mapper.allocation_body(42, 13, DocumentKind.CUSTOMER_PAYMENT, body["allocation_lines"], None)
    values = [line["value_to_allocate"] for line in allocation["allocation_lines"]]
    assert values == [Decimal("150.00"), Decimal("-30.00"), Decimal("-120.00")] and sum(values) == 0


def test_a_receipt_is_the_same_only_once_wholly_allocated():
    data = {"reference": "PAY-1", "customer_id": 42, "document_gross_value": Decimal("-120.00"),
            "trader_transaction_type": mapper.TRANSACTION_TYPE[DocumentKind.CUSTOMER_PAYMENT],
            "transaction_date": "2025-03-02T00:00:00", "document_outstanding_value": Decimal("-120.00")}
    unallocated = RemoteRecord("13", "PAY-1", data)
    assert not mapper.is_same_document(unallocated, reference="PAY-1", contact_id="42", total=Decimal("120"),
                                       on=date(2025, 3, 2))
    allocated = RemoteRecord("13", "PAY-1", {**data, "document_outstanding_value": Decimal("0.00")})
    assert mapper.is_same_document(allocated, reference="PAY-1", contact_id="42", total=Decimal("120"),
                                   on=date(2025, 3, 2))
    assert not mapper.remote_editable(allocated) and mapper.remote_total(allocated) == Decimal("120.00")


def test_nominal_accounts_read_from_sage_are_named_as_mappings_name_them():
    from sagebridge.connectors.sage200.mapper import NominalAccount, nominal_key

    assert nominal_key({"reference": "4000", "cost_centre_code": "", "department_code": ""}) == "4000"
    assert nominal_key({"reference": "4100", "cost_centre_code": "NTH", "department_code": "WKS"}) == "4100/NTH/WKS"
    assert nominal_key({"reference": "4100", "cost_centre_code": "", "department_code": "WKS"}) == "4100//WKS"
    # What the health check and the admin list show parses back to the same account the export posts to.
    assert NominalAccount.parse("4100//WKS") == NominalAccount("4100", "", "WKS")


# ---- the purchase ledger: suppliers and purchase invoices


def test_a_vendor_is_a_supplier_body_and_its_update_keeps_to_name_vat_and_address():
    from sagebridge.domain import Vendor

    vendor = Vendor(host_id="V-1", name="Bolt & Nut Ltd", email="ap@bolt.example", tax_number="GB1",
                    address={"lines": ["2 Dock Road"], "city": "Hull"})
    body = mapper.contact_body(vendor, business_currency="GBP")
    assert set(body) == {"supplier"}
    supplier = body["supplier"]
    assert supplier["reference"] == mapper.contact_reference(PartyKind.VENDOR, "V-1") != \
        mapper.contact_reference(PartyKind.CUSTOMER, "V-1")
    assert supplier["contacts"][0]["emails"] == [{"email": "ap@bolt.example", "is_default": True}]
    update = mapper.contact_update_body(vendor, business_currency="GBP")
    assert set(update) == {"supplier"} and set(update["supplier"]) == {"name", "vat_number", "main_address"}
    # A customer's body stays bare (what sales.json's customers take).
    assert "supplier" not in mapper.contact_body(Customer(host_id="C-1", name="Pat"), business_currency="GBP")


def test_a_purchase_invoice_names_its_supplier_posts_to_purchase_accounts_and_adds_up():
    doc = MODEL_FOR_KIND[DocumentKind.PURCHASE_INVOICE].model_validate({
        "host_id": "PI-1", "number": "PI-1", "reference": "SUP-88", "party_id": "V", "document_date": "2025-03-01",
        "due_date": "2025-03-31", "currency": "GBP", "status": "pending_payment",
        "lines": [{"description": "a", "unit_price": "1.665", "tax_code": "S"},
                  {"description": "b", "unit_price": "1.665", "tax_code": "S", "ledger_code": "PARTS"}],
        "totals": {"net": "3.34", "tax": "0.67", "total": "4.01"}})
    settings = SETTINGS.model_copy(update={"default_purchase_ledger_account_id": "5000"})
    body = mapper.document_body(doc, contact_id="77", settings=settings, taxes=TAXES, business_currency="GBP").body
    assert body["supplier_id"] == 77 and "customer_id" not in body
    assert (body["reference"], body["second_reference"], body["due_date"]) == ("PI-1", "SUP-88", "2025-03-31T00:00:00")
    assert {i["code"]: i["value"] for i in body["nominal_analysis_items"]} == {"5000": Decimal("1.67"),
                                                                              "4010": Decimal("1.67")}
    assert sum(i["goods_amount"] for i in body["tax_analysis_items"]) == body["document_goods_value"]
    assert sum(i["tax_amount"] for i in body["tax_analysis_items"]) == body["document_tax_value"]


def test_purchase_records_are_read_back_as_purchase_invoices_of_their_supplier():
    bill = RemoteRecord("9", data={"supplier_id": 77, "trader_transaction_type": "TradingAccountEntryTypeInvoice",
                                   "reference": "PI-1", "document_gross_value": Decimal("4.01")})
    assert mapper.remote_kind(bill) is DocumentKind.PURCHASE_INVOICE and mapper.remote_contact_id(bill) == "77"
    assert mapper.is_same_document(bill, reference="PI-1", contact_id="77", total=Decimal("4.01"))
    assert not mapper.is_same_document(bill, reference="PI-1", contact_id="78", total=Decimal("4.01"))
    sale = RemoteRecord("8", data={"customer_id": 77, "trader_transaction_type": "TradingAccountEntryTypeInvoice"})
    assert mapper.remote_kind(sale) is DocumentKind.SALES_INVOICE
    assert mapper.posted_resource(DocumentKind.PURCHASE_INVOICE) == "purchase_posted_transactions"
    note = RemoteRecord("10", data={"supplier_id": 77, "trader_transaction_type": "TradingAccountEntryTypeCreditNote"})
    assert mapper.remote_kind(note) is DocumentKind.PURCHASE_CREDIT_NOTE
    assert mapper.NOT_EXPORTED == {}  # every kind is exported


def test_a_purchase_credit_note_names_its_supplier_and_has_no_due_date():
    doc = MODEL_FOR_KIND[DocumentKind.PURCHASE_CREDIT_NOTE].model_validate({
        "host_id": "PCN-1", "number": "PCN-1", "party_id": "V", "document_date": "2025-03-01", "currency": "GBP",
        "status": "pending_payment",
        "lines": [{"description": "returned discs", "unit_price": "10.00", "tax_code": "S"}],
        "totals": {"net": "10.00", "tax": "2.00", "total": "12.00"}})
    settings = SETTINGS.model_copy(update={"default_purchase_ledger_account_id": "5000"})
    body = mapper.document_body(doc, contact_id="77", settings=settings, taxes=TAXES, business_currency="GBP").body
    assert (body["supplier_id"], body["reference"], body["document_goods_value"]) == (77, "PCN-1", Decimal("10.00"))
    assert "due_date" not in body and body["nominal_analysis_items"][0]["code"] == "5000"
