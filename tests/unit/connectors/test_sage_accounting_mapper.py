"""The mapper turns canonical records into v3.1 bodies with Sage's own arithmetic."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sagebridge.connectors.base import RemoteRecord
from sagebridge.connectors.sage_accounting import mapper
from sagebridge.domain import (
    Customer,
    CustomerPayment,
    CustomerRefund,
    DocumentKind,
    PartyKind,
    PurchaseInvoice,
    SalesInvoice,
    TenantSettings,
)

D = Decimal
SETTINGS = TenantSettings(provider="sage_accounting", tax_mappings={"S": "GB_STANDARD", "R": "GB_LOWER"},
                          default_sales_ledger_account_id="L4000", default_purchase_ledger_account_id="L5000",
                          ledger_mappings={"FUEL": "L7200"}, receipt_payment_method="BANK_TRANSFER")
TAXES = mapper.TaxTable.from_records([
    RemoteRecord("GB_STANDARD", data={"percentage": D("20.00"), "name": "Standard"}),
    RemoteRecord("GB_LOWER", data={"percentage": D("5.00"), "name": "Lower"}),
    RemoteRecord("GB_ZERO", data={"percentage": D("0.00"), "name": "Zero"}),
    RemoteRecord("GB_EXEMPT", data={"percentage": D("0"), "name": "Exempt"}),
    RemoteRecord("GB_NO_TAX", data={"percentage": D("0"), "name": "No Tax"}),
])


def invoice(model=SalesInvoice, **overrides):
    data = {"host_id": "INV-1", "number": "INV-00001", "party_id": "C1", "document_date": "2025-03-01",
            "currency": "GBP", "status": "pending_payment",
            "lines": [{"description": "Labour", "quantity": "3", "unit_price": "33.33", "tax_code": "R"},
                      {"description": "Parts", "quantity": "2", "unit_price": "120", "discount": "40",
                       "tax_code": "S"},
                      {"description": "Disposal", "unit_price": "5", "tax_code": None}],
            "totals": {"net": "304.99", "tax": "45.00", "total": "349.99"}, **overrides}
    return model.model_validate(data)


def test_lines_are_taxed_per_line_and_rounded_half_up():
    mapped = mapper.document_body(invoice(), contact_id="c-1", settings=SETTINGS, taxes=TAXES,
                                  business_currency="GBP")
    lines = mapped.body["invoice_lines"]
    # 99.99 at 5% = 4.9995 -> 5.00; (240 - 40) at 20% = 40.00; no tax -> the No Tax rate, 0.00
    assert [ln["tax_amount"] for ln in lines] == [D("5.00"), D("40.00"), D("0.00")]
    assert [ln["tax_rate_id"] for ln in lines] == ["GB_LOWER", "GB_STANDARD", "GB_NO_TAX"]
    assert lines[1]["discount_amount"] == D("40") and lines[1]["net_amount"] == D("200.00")
    assert (mapped.net, mapped.tax, mapped.total) == (D("304.99"), D("45.00"), D("349.99"))
    assert mapped.body["total_amount"] == D("349.99") and mapped.body["contact_id"] == "c-1"
    assert mapped.body["reference"] == "INV-00001" and mapped.body["date"] == date(2025, 3, 1)
    assert all(ln["ledger_account_id"] == "L4000" for ln in lines)


def test_purchase_invoice_has_vendor_reference_due_date_and_no_line_discount():
    doc = invoice(PurchaseInvoice, reference="SUP-778", lines=[
        {"description": "Diesel", "quantity": "4", "unit_price": "10", "discount": "2.50", "tax_code": "S",
         "ledger_code": "FUEL"}], totals={"net": "37.50", "tax": "7.50", "total": "45.00"})
    body = mapper.document_body(doc, contact_id="v-1", settings=SETTINGS, taxes=TAXES, business_currency="GBP").body
    assert body["vendor_reference"] == "SUP-778" and body["due_date"] == date(2025, 3, 1)
    (ln,) = body["invoice_lines"]
    assert (ln["quantity"], ln["unit_price"], ln["tax_amount"]) == (D(1), D("37.50"), D("7.50"))
    assert "discount_amount" not in ln and ln["ledger_account_id"] == "L7200"


def test_foreign_currency_carries_the_rate():
    doc = invoice(currency="EUR", exchange_rate="1.17")
    body = mapper.document_body(doc, contact_id="c", settings=SETTINGS, taxes=TAXES, business_currency="GBP").body
    assert (body["currency_id"], body["exchange_rate"]) == ("EUR", D("1.17"))


def test_references_fit_the_live_limits_and_stay_unique():
    long_a, long_b = "INV-2024-000000012345-NORTH", "INV-2024-000000012345-SOUTH"
    a, b = mapper.document_reference(long_a), mapper.document_reference(long_b)
    assert len(a) == len(b) == 25 and a != b and a.startswith("INV-2024-")
    assert mapper.document_reference("INV-1") == "INV-1"
    ref = mapper.contact_reference(PartyKind.CUSTOMER, "a-very-long-host-customer-id")
    assert len(ref) == 10 and ref == mapper.contact_reference(PartyKind.CUSTOMER, "a-very-long-host-customer-id")
    assert ref != mapper.contact_reference(PartyKind.VENDOR, "a-very-long-host-customer-id")


def test_idempotency_id_is_32_hex_and_deterministic():
    key = "f" * 64
    assert mapper.idempotency_id(key) == "f" * 32
    other = mapper.idempotency_id("not hex at all")
    assert len(other) == 32 and int(other, 16) >= 0 and other == mapper.idempotency_id("not hex at all")


def test_contact_body():
    party = Customer(host_id="C1", name="Acme Garages", email="ap@acme.example", phone="0113 000",
                     address={"lines": ["1 High St", "Unit 2"], "city": "Leeds", "postcode": "LS1 1AA",
                              "country_code": "gb"}, tax_number="GB123", currency="EUR")
    body = mapper.contact_body(party, business_currency="GBP")
    assert body["contact_type_ids"] == ["CUSTOMER"] and body["currency_id"] == "EUR"
    assert body["main_address"]["address_line_2"] == "Unit 2" and body["main_address"]["country_id"] == "GB"
    assert body["main_contact_person"]["email"] == "ap@acme.example"
    assert len(body["reference"]) <= 10


def test_receipt_allocates_and_leaves_the_overpayment_on_account():
    payment = CustomerPayment(host_id="PAY-1", party_id="C1", payment_date="2025-03-02", amount="400",
                              currency="GBP", method="Card",
                              allocations=[{"kind": "sales_invoice", "host_id": "INV-1", "amount": "344.99"}])
    body = mapper.payment_body(payment, contact_id="c", allocations=[(DocumentKind.SALES_INVOICE, "s-1",
                                                                      D("344.99"))],
                               bank_account_id="bank", settings=SETTINGS, business_currency="GBP")
    assert body["transaction_type_id"] == "CUSTOMER_RECEIPT" and body["payment_method_id"] == "CREDIT_DEBIT"
    assert body["allocated_artefacts"] == [{"artefact_id": "s-1", "amount": D("344.99")}]
    assert body["payment_on_account"]["total_amount"] == D("55.01")


def test_refund_goes_to_the_credit_note_and_not_to_an_invoice():
    refund = CustomerRefund(host_id="REF-1", party_id="C1", payment_date="2025-03-02", amount="60",
                            currency="GBP", allocations=[{"kind": "sales_credit_note", "host_id": "CN-1",
                                                          "amount": "60"}])
    body = mapper.payment_body(refund, contact_id="c", allocations=[(DocumentKind.SALES_CREDIT_NOTE, "n-1",
                                                                     D("60"))],
                               bank_account_id="bank", settings=SETTINGS, business_currency="GBP")
    assert body["transaction_type_id"] == "CUSTOMER_REFUND" and "payment_on_account" not in body
    assert body["payment_method_id"] == "BANK_TRANSFER"  # the tenant's default
    with pytest.raises(ValueError, match="cannot be allocated"):
        mapper.payment_body(refund, contact_id="c", allocations=[(DocumentKind.SALES_INVOICE, "i", D("60"))],
                            bank_account_id="bank", settings=SETTINGS, business_currency="GBP")


def test_reading_sage_back_and_matching_a_document():
    remote = RemoteRecord("s-1", "INV-00001", {"reference": "INV-00001", "contact": {"id": "c-1"},
                                              "total_amount": D("120.00"), "outstanding_amount": D("70.00"),
                                              "date": "2025-03-01", "status": {"id": "PART_PAID"}})
    assert mapper.remote_paid(remote) == D("50.00") and mapper.remote_status(remote) == "PART_PAID"
    assert mapper.is_same_document(remote, reference="INV-00001", contact_id="c-1", total=D("120"),
                                   on=date(2025, 3, 1))
    assert not mapper.is_same_document(remote, reference="INV-00001", contact_id="c-2", total=D("120"))
    assert not mapper.is_same_document(remote, reference="INV-00001", contact_id="c-1", total=D("121"))
    assert not mapper.is_same_document(remote, reference="INV-00002", contact_id="c-1", total=D("120"))


def test_a_tax_free_line_uses_no_tax_before_exempt_and_zero():
    assert TAXES.zero_rate_id == "GB_NO_TAX"
    only_zero = mapper.TaxTable.from_records([RemoteRecord("Z", data={"percentage": "0", "name": "Zero"})])
    assert only_zero.zero_rate_id == "Z"
