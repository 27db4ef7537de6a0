"""While both exist: the Intacct mapper (canonical -> Intacct functions) builds, for the same
documents, byte for byte the XML the old path built (canonical -> Sage Accounting v3.1 body ->
Intacct functions). Removed with the old path; the golden-shape tests keep what it proved."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from sagebridge.connectors.base import RecordInvalid
from sagebridge.connectors.sage_accounting import mapper as v31
from sagebridge.connectors.sage_intacct import export_mapper as new
from sagebridge.connectors.sage_intacct import mapper as old
from sagebridge.domain import (
    Customer,
    CustomerPayment,
    SalesCreditNote,
    SalesInvoice,
    TenantSettings,
)

D = Decimal
DETAILS = [old.TaxDetail("Sales Tax Standard", D("8.25"), "2200", "Sales Tax Standard"),
           old.TaxDetail("Reduced", D("5"), "2210", "Reduced 5%"),
           old.TaxDetail("No GL", D("10"), None, "No GL")]
RECORDS = [old.NO_TAX_RECORD, *(new.tax_rate_record(d) for d in DETAILS)]
OLD_TAXES, NEW_TAXES = v31.TaxTable.from_records(RECORDS), new.TaxTable.from_records(RECORDS)
DETAILS_BY_ID = {d.detail_id: d for d in DETAILS}
PLAIN = TenantSettings(provider="sage_intacct", tax_mappings={"S": "Sales Tax Standard", "R": "Reduced",
                                                               "X": "No GL"},
                       default_sales_ledger_account_id="4000", ledger_mappings={"PARTS": "4100"},
                       receipt_bank_account_id="BOA-OPS")
DIMENSIONS = TenantSettings.model_validate({**PLAIN.model_dump(), "intacct": {
    "location_id": "100", "department_id": "SVC", "location_custom_field": "HOST_LOCATION",
    "host_location": "Austin depot"}})


def _xml(functions) -> list[tuple[str, bytes]]:
    return [(f.controlid, ET.tostring(f.body)) for f in functions]


def _old_options(settings: TenantSettings) -> old.PostingOptions:
    o = new.PostingOptions.of(settings)
    return old.PostingOptions(o.location_id, o.department_id, o.location_custom_field, o.host_location)


def _both(call):
    """(old outcome, new outcome): the XML, or the refusal's message."""
    out = []
    for path in ("old", "new"):
        try:
            out.append(_xml(call(path)))
        except RecordInvalid as exc:
            out.append(str(exc))
    return out


CUSTOMERS = [
    {"host_id": "C1", "name": "Jo O'Neil"},
    {"host_id": "C2", "name": "Pat Owner", "company": "O'Neil & Sons <Plumbing>", "email": "jo@oneil.example",
     "phone": "+1 512 555 0100", "tax_number": "12-345", "currency": "EUR",
     "address": {"lines": ["1 Main St", "Suite 4", "Back door"], "city": "Austin", "region": "TX",
                 "postcode": "78701", "country_code": "US"}},
    {"host_id": "C3", "name": "A" * 100, "phone": "555"},
    {"host_id": "C4", "name": "Only Email", "email": "e@x.example", "address": {"lines": [], "city": "Leeds"}},
    {"host_id": "C5", "name": "Same Currency", "currency": "USD", "address": {"lines": ["1 Road"]}},
]


@pytest.mark.parametrize("data", CUSTOMERS, ids=[c["host_id"] for c in CUSTOMERS])
def test_a_customer_is_created_and_updated_with_the_same_xml(data):
    party = Customer.model_validate(data)

    def create(path):
        if path == "old":
            return old.customer_functions(v31.contact_body(party, business_currency="USD"), "k")[0]
        body = new.contact_body(party, business_currency="USD")
        assert body["reference"] == v31.contact_body(party, business_currency="USD")["reference"]
        return new.functions(body, "k")

    def update(path):
        if path == "old":
            return [old.customer_update_function("C0000001", v31.contact_update_body(party, business_currency="USD"))]
        return new.customer_update_functions("C0000001", new.contact_update_body(party, business_currency="USD"))

    first, second = _both(create)
    assert first == second
    first, second = _both(update)
    assert first == second


LINES = [
    {"description": "Labour & parts", "quantity": "3", "unit_price": "33.33", "tax_code": "S",
     "ledger_code": "PARTS"},
    {"description": "Parts", "quantity": "2", "unit_price": "120", "discount": "40", "tax_code": "S"},
    {"description": "Call-out", "unit_price": "5", "tax_code": None},
    {"description": "Reduced goods", "quantity": "7", "unit_price": "1.11", "tax_code": "R"},
    {"description": "Deposit taken off", "unit_price": "-10", "tax_code": "S"},
    {"description": "x" * 1500, "unit_price": "0.01", "tax_code": "R"},
]
DOCUMENTS = [
    ("plain", SalesInvoice, {"lines": LINES[:1]}, PLAIN),
    ("several lines, taxes, discount", SalesInvoice, {"lines": LINES, "due_date": "2025-03-31",
                                                      "reference": "PO 7"}, PLAIN),
    ("dimensions and custom field", SalesInvoice, {"lines": LINES[:3]}, DIMENSIONS),
    ("foreign, a rate", SalesInvoice, {"lines": LINES[:2], "currency": "EUR", "exchange_rate": "1.0825"}, PLAIN),
    ("foreign, daily rate", SalesInvoice, {"lines": LINES[:2], "currency": "EUR"}, DIMENSIONS),
    ("long number", SalesInvoice, {"lines": LINES[:1], "number": "INV-2024-000000012345-XYZ-LONG"}, PLAIN),
    ("untaxed only", SalesInvoice, {"lines": [LINES[2]]}, PLAIN),
    ("tax detail without GL", SalesInvoice, {"lines": [{"description": "x", "unit_price": "10",
                                                        "tax_code": "X"}]}, PLAIN),
    ("credit note", SalesCreditNote, {"lines": LINES, "reference": "RMA 9", "invoice_id": "INV-1"}, PLAIN),
    ("credit note, dimensions, foreign", SalesCreditNote, {"lines": LINES[:2], "currency": "EUR",
                                                           "exchange_rate": "0.9"}, DIMENSIONS),
]


@pytest.mark.parametrize(("model", "overrides", "settings"), [d[1:] for d in DOCUMENTS],
                         ids=[d[0] for d in DOCUMENTS])
def test_a_document_is_posted_with_the_same_xml(model, overrides, settings):
    doc = model.model_validate({"host_id": "D1", "number": "INV-00001", "party_id": "C1",
                                "document_date": "2025-03-01", "currency": "USD", "status": "pending_payment",
                                "totals": {"net": "0", "tax": "0", "total": "0"},
                                **overrides})

    def post(path):
        if path == "old":
            mapped = v31.document_body(doc, contact_id="C0000001", settings=settings, taxes=OLD_TAXES,
                                       business_currency="USD")
            return [old.document_function(doc.kind, mapped.body, "k", taxes=DETAILS_BY_ID,
                                          options=_old_options(settings))]
        mapped = new.document_body(doc, contact_id="C0000001", settings=settings, taxes=NEW_TAXES,
                                   business_currency="USD")
        if new.refusal(mapped.body):
            raise RecordInvalid(new.refusal(mapped.body))
        return new.functions(mapped.body, "k")

    first, second = _both(post)
    assert first == second
    theirs = v31.document_body(doc, contact_id="C0000001", settings=settings, taxes=OLD_TAXES,
                               business_currency="USD")
    ours = new.document_body(doc, contact_id="C0000001", settings=settings, taxes=NEW_TAXES,
                             business_currency="USD")
    assert (ours.net, ours.tax, ours.total, ours.reference) == (theirs.net, theirs.tax, theirs.total,
                                                                theirs.reference)
    assert ours.body["total_amount"] == theirs.body["total_amount"]


PAYMENTS = [
    ("applied in full", {"amount": "60.00", "method": "cheque",
                         "allocations": [{"kind": "sales_invoice", "host_id": "I1", "amount": "60.00"}]}, PLAIN),
    ("two invoices, card", {"amount": "150.50", "method": "Credit Card", "allocations": [
        {"kind": "sales_invoice", "host_id": "I1", "amount": "100.25"},
        {"kind": "sales_invoice", "host_id": "I2", "amount": "50.25"}]}, PLAIN),
    ("method from the setting", {"amount": "10", "allocations": [
        {"kind": "sales_invoice", "host_id": "I1", "amount": "10"}]},
     PLAIN.model_copy(update={"receipt_payment_method": "CASH"})),
    ("unknown method, foreign with a rate", {"amount": "10", "method": "barter", "currency": "EUR",
                                             "exchange_rate": "1.1", "allocations": [
                                                 {"kind": "sales_invoice", "host_id": "I1", "amount": "10"}]}, PLAIN),
    ("foreign, no rate", {"amount": "10", "currency": "EUR", "allocations": [
        {"kind": "sales_invoice", "host_id": "I1", "amount": "10"}]}, PLAIN),
    ("over-payment", {"amount": "70", "allocations": [
        {"kind": "sales_invoice", "host_id": "I1", "amount": "60"}]}, PLAIN),
    ("unallocated", {"amount": "70"}, PLAIN),
]


@pytest.mark.parametrize(("overrides", "settings"), [p[1:] for p in PAYMENTS], ids=[p[0] for p in PAYMENTS])
def test_a_receipt_is_posted_with_the_same_xml(overrides, settings):
    payment = CustomerPayment.model_validate({"host_id": "P1", "party_id": "C1", "payment_date": "2025-03-04",
                                              "currency": "USD", **overrides})
    sage_ids = {"I1": "101", "I2": "102"}
    allocations = [(a.kind, sage_ids[a.host_id], a.amount) for a in payment.allocations]
    kwargs = {"contact_id": "C0000001", "allocations": allocations, "bank_account_id": "BOA-OPS",
              "settings": settings, "business_currency": "USD"}

    def post(path):
        if path == "old":
            return [old.payment_function(v31.payment_body(payment, **kwargs), "k")]
        body = new.payment_body(payment, **kwargs)
        if new.refusal(body):
            raise RecordInvalid(new.refusal(body))
        return new.functions(body, "k")

    first, second = _both(post)
    assert first == second
    theirs, ours = v31.payment_body(payment, **kwargs), new.payment_body(payment, **kwargs)
    assert (ours["reference"], ours["total_amount"]) == (theirs["reference"], theirs["total_amount"])
    assert new.payment_reference(payment) == v31.payment_reference(payment)
