"""Every body the mapper builds validates against Sage's v3.1 swagger (the sandbox's validator, with
the live-API differences the specs README lists: idempotency_id in the body, laxer references)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from local.sandboxes.sage_accounting import spec
from sagebridge.connectors.base import RemoteRecord
from sagebridge.connectors.sage_accounting import mapper
from sagebridge.connectors.sage_accounting.client import RESOURCES
from sagebridge.domain import (
    MODEL_FOR_KIND,
    Customer,
    CustomerPayment,
    CustomerRefund,
    DocumentKind,
    TenantSettings,
    Vendor,
)

D = Decimal
SETTINGS = TenantSettings(provider="sage_accounting", tax_mappings={"S": "GB_STANDARD", "R": "GB_LOWER"},
                          default_sales_ledger_account_id="L4000", default_purchase_ledger_account_id="L5000")
TAXES = mapper.TaxTable.from_records([RemoteRecord("GB_STANDARD", data={"percentage": "20"}),
                                      RemoteRecord("GB_LOWER", data={"percentage": "5"}),
                                      RemoteRecord("GB_NO_TAX", data={"percentage": "0", "name": "No Tax"})])
OPERATION = {DocumentKind.SALES_INVOICE: "postSalesInvoices", DocumentKind.SALES_CREDIT_NOTE: "postSalesCreditNotes",
             DocumentKind.PURCHASE_INVOICE: "postPurchaseInvoices",
             DocumentKind.PURCHASE_CREDIT_NOTE: "postPurchaseCreditNotes"}
RESOURCE = {DocumentKind.SALES_INVOICE: "sales_invoices", DocumentKind.SALES_CREDIT_NOTE: "sales_credit_notes",
            DocumentKind.PURCHASE_INVOICE: "purchase_invoices",
            DocumentKind.PURCHASE_CREDIT_NOTE: "purchase_credit_notes"}


def wire(body: dict, resource: str, idempotency: bool = True) -> dict:
    """What the client puts on the wire: the wrapped body, Decimals as JSON numbers."""
    import json

    from sagebridge.connectors.sage_accounting.client import dumps

    record = dict(body)
    if idempotency:
        record["idempotency_id"] = mapper.idempotency_id("a" * 64)
    return json.loads(dumps({RESOURCES[resource]: record}), parse_float=Decimal)


@pytest.mark.parametrize("kind", list(OPERATION))
@pytest.mark.parametrize("variant", ["plain", "discount_foreign_notax"])
def test_document_bodies_validate(kind: DocumentKind, variant: str):
    lines = [{"description": "Labour", "quantity": "1.5", "unit_price": "60", "tax_code": "S"}]
    extra: dict = {}
    if variant != "plain":
        lines.append({"description": "Parts", "quantity": "2", "unit_price": "10", "discount": "1",
                      "tax_code": None})
        extra = {"currency": "EUR", "exchange_rate": "1.17", "due_date": "2025-04-01", "reference": "PO-77"}
    doc = MODEL_FOR_KIND[kind].model_validate({
        "host_id": "X-1", "number": "X-000000000000000000000000001", "party_id": "P1", "document_date": "2025-03-01",
        "currency": "GBP", "status": "pending_payment", "lines": lines,
        "totals": {"net": "0", "tax": "0", "total": "0"}, **extra})
    body = mapper.document_body(doc, contact_id="c-1", settings=SETTINGS, taxes=TAXES, business_currency="GBP").body
    assert spec.validate_request_body(OPERATION[kind], wire(body, RESOURCE[kind])) == []
    assert len(body["reference"]) <= mapper.DOCUMENT_REFERENCE_MAX


@pytest.mark.parametrize("party", [
    Customer(host_id="C1", name="Acme", email="a@acme.example", phone="1", tax_number="GB1",
             address={"lines": ["1 High St", "Unit 2", "Estate"], "city": "Leeds", "postcode": "LS1",
                      "region": "W Yorks", "country_code": "GB"}),
    Vendor(host_id="V1", name="Parts Co", currency="EUR"),
])
def test_contact_bodies_validate(party):
    body = mapper.contact_body(party, business_currency="GBP")
    assert spec.validate_request_body("postContacts", wire(body, "contacts")) == []
    update = mapper.contact_update_body(party, business_currency="GBP")
    assert spec.validate_request_body("putContacts", wire(update, "contacts", idempotency=False)) == []
    assert not {"reference", "contact_type_ids", "currency_id"} & update.keys()  # Sage keeps the contact's own


@pytest.mark.parametrize("payment", [
    CustomerPayment(host_id="PAY-1", party_id="C1", payment_date="2025-03-02", amount="334.99", currency="GBP",
                    method="cash", reference="Till 3",
                    allocations=[{"kind": "sales_invoice", "host_id": "INV-1", "amount": "344.99"},
                                 {"kind": "sales_credit_note", "host_id": "CN-1", "amount": "10"}]),
    CustomerRefund(host_id="REF-1", party_id="C1", payment_date="2025-03-02", amount="60", currency="GBP",
                   allocations=[{"kind": "sales_credit_note", "host_id": "CN-1", "amount": "60"}]),
    CustomerPayment(host_id="PAY-2", party_id="C1", payment_date="2025-03-02", amount="25", currency="GBP"),
])
def test_payment_bodies_validate(payment):
    allocations = [(a.kind, f"sage-{a.host_id}", a.amount) for a in payment.allocations]
    body = mapper.payment_body(payment, contact_id="c-1", allocations=allocations, bank_account_id="bank",
                               settings=SETTINGS, business_currency="GBP")
    assert spec.validate_request_body("postContactPayments", wire(body, "contact_payments")) == []


def test_defect_06_offset_and_credit_note_allocation_bodies_validate():
    offset = CustomerPayment(host_id="PAY-9", party_id="C1", payment_date="2025-03-02", amount="0", currency="GBP",
                             allocations=[{"kind": "sales_invoice", "host_id": "INV-1", "amount": "30"},
                                          {"kind": "sales_credit_note", "host_id": "CN-1", "amount": "30"}])
    allocations = [(a.kind, f"sage-{a.host_id}", a.amount) for a in offset.allocations]
    body = mapper.payment_body(offset, contact_id="c-1", allocations=allocations, bank_account_id="bank",
                               settings=SETTINGS, business_currency="GBP")
    assert body["transaction_type_id"] == "CUSTOMER_ALLOCATION" and "bank_account_id" not in body
    assert spec.validate_request_body("postContactAllocations", wire(body, "contact_allocations")) == []
    linked = mapper.credit_note_allocation_body(contact_id="c-1", invoice_id="sage-INV-1", credit_note_id="sage-CN-1",
                                                amount=Decimal("30"), on=date(2025, 3, 2))
    assert [a["amount"] for a in linked["allocated_artefacts"]] == [Decimal("30.00"), Decimal("-30.00")]
    assert spec.validate_request_body("postContactAllocations", wire(linked, "contact_allocations")) == []
    vendor_side = mapper.credit_note_allocation_body(contact_id="v-1", invoice_id="sage-PI-1",
                                                     credit_note_id="sage-PCN-1", amount=Decimal("30"),
                                                     on=date(2025, 3, 2), kind=DocumentKind.PURCHASE_CREDIT_NOTE)
    assert vendor_side["transaction_type_id"] == "VENDOR_ALLOCATION"
    assert spec.validate_request_body("postContactAllocations", wire(vendor_side, "contact_allocations")) == []


def test_the_validator_does_catch_a_bad_body():
    body = {"contact_id": "c", "date": "2025-03-01", "invoice_lines": [{"description": "x"}], "colour": "red"}
    assert spec.validate_request_body("postSalesInvoices", wire(body, "sales_invoices")) != []
