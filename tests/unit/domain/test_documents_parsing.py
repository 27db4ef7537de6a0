"""What the host app sends: parsed strictly, errors that name the field."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from sagebridge.domain import (
    CustomerPayment,
    DateBasis,
    DocumentKind,
    PartyKind,
    PurchaseCreditNote,
    SalesInvoice,
    TaxMode,
    TaxRate,
    Vendor,
    describe_problems,
    ledger_of,
    parse_host_record,
    record_kind,
)


def problems(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return describe_problems(exc.value)


def test_an_unknown_field_on_a_line_is_named(invoice_data):
    data = invoice_data()
    data["lines"][1]["vat_code"] = "S"
    with pytest.raises(ValidationError) as caught:
        SalesInvoice.model_validate(data)
    assert problems(caught) == ["lines.1.vat_code: is not a known field"]


def test_a_document_without_lines_or_totals_is_refused(invoice_data):
    data = invoice_data(lines=[])
    del data["totals"]
    with pytest.raises(ValidationError) as caught:
        SalesInvoice.model_validate(data)
    assert [p.split(":")[0] for p in problems(caught)] == ["lines", "totals"]


def test_the_embedded_party_must_be_the_one_named(invoice_data):
    data = invoice_data(party_id="cust-8")
    with pytest.raises(ValidationError, match=re.escape("party.host_id 'cust-7' is not the party_id 'cust-8'")):
        SalesInvoice.model_validate(data)


def test_host_words_are_normalised(invoice):
    doc = invoice(status="Pending Payment", currency="gbp", tax_mode="GROUP")
    assert doc.status == "pending_payment"
    assert doc.currency == "GBP"
    assert doc.tax_mode is TaxMode.HEADER


def test_timestamps_are_utc_and_must_say_their_zone(invoice):
    doc = invoice(updated_at="2025-03-03T11:15:00+01:00")
    assert doc.updated_at == datetime(2025, 3, 3, 10, 15, tzinfo=UTC)
    assert doc.updated_at is not None and doc.updated_at.tzinfo is UTC
    with pytest.raises(ValidationError):
        invoice(updated_at="2025-03-03T11:15:00")


def test_the_date_a_document_has_for_each_basis(invoice):
    doc = invoice()
    assert doc.date_for(DateBasis.DOCUMENT) == date(2025, 3, 3)
    assert doc.date_for(DateBasis.POSTING) == date(2025, 3, 4)
    assert invoice(posting_date=None).date_for(DateBasis.POSTING) == date(2025, 3, 3)


def test_a_payment_has_one_date_for_both_bases(payment):
    pay = payment()
    assert pay.date_for(DateBasis.POSTING) == pay.date_for(DateBasis.DOCUMENT) == date(2025, 3, 10)


def test_which_ledger_each_kind_belongs_to(invoice, payment):
    assert invoice().ledger is PartyKind.CUSTOMER
    assert payment().ledger is PartyKind.CUSTOMER
    assert ledger_of(DocumentKind.PURCHASE_CREDIT_NOTE) is PartyKind.VENDOR
    assert ledger_of(DocumentKind.CUSTOMER_REFUND) is PartyKind.CUSTOMER
    assert ledger_of(PartyKind.VENDOR) is PartyKind.VENDOR


def test_kinds_parse_from_their_words():
    assert record_kind("sales_credit_note") is DocumentKind.SALES_CREDIT_NOTE
    assert record_kind("vendor") is PartyKind.VENDOR
    with pytest.raises(ValueError, match="'supplier_payment' is not a kind"):
        record_kind("supplier_payment")


def test_a_purchase_credit_note_against_an_invoice_with_its_vendor():
    note = parse_host_record(DocumentKind.PURCHASE_CREDIT_NOTE, {
        "host_id": "pcn-3", "number": "SUP-CN-3", "party_id": "ven-2", "invoice_id": "pinv-40",
        "party": {"host_id": "ven-2", "name": "Parts Direct Ltd", "address": {
            "lines": ["Unit 4", "Trade Park"], "city": "Leeds", "postcode": "LS1 1AA", "country_code": "gb"}},
        "document_date": "2025-03-05", "currency": "GBP", "status": "approved",
        "lines": [{"description": "Returned pads", "unit_price": "20.00", "tax_code": "S"}],
        "totals": {"net": "20.00", "tax": "4.00", "total": "24.00"},
    })
    assert isinstance(note, PurchaseCreditNote) and note.invoice_id == "pinv-40"
    assert isinstance(note.party, Vendor)
    assert note.party.address is not None and note.party.address.country_code == "GB"


def test_parse_host_record_reads_json_text_exactly():
    pay = parse_host_record(DocumentKind.CUSTOMER_PAYMENT, (
        '{"host_id": "p1", "party_id": "c1", "payment_date": "2025-03-10", "amount": 99.99,'
        ' "currency": "GBP", "allocations": []}'
    ))
    assert isinstance(pay, CustomerPayment) and str(pay.amount) == "99.99"


def test_more_than_one_tax_on_a_line_can_be_represented(invoice_data):
    data = invoice_data()
    data["lines"][0]["extra_taxes"] = [{"tax_code": "ECO"}, {"tax_code": "LEVY", "tax_amount": "0.50"}]
    doc = SalesInvoice.model_validate(data)
    assert doc.lines[0].tax_codes() == ["S", "ECO", "LEVY"]


def test_allocations_cannot_exceed_the_payment(payment):
    with pytest.raises(ValidationError, match=re.escape("allocations add up to 200.00, more than the amount 187.20")):
        payment(allocations=[{"kind": "sales_invoice", "host_id": "inv-1001", "amount": "200.00"}])


def test_a_customer_payment_cannot_be_allocated_to_a_purchase_invoice(payment):
    with pytest.raises(ValidationError, match="cannot be allocated to a purchase_invoice"):
        payment(allocations=[{"kind": "purchase_invoice", "host_id": "pinv-1", "amount": "10"}])


def test_negative_or_zero_payments_are_refused(payment):
    with pytest.raises(ValidationError):
        payment(amount="0")


def test_tax_rate_percentages_stay_in_range():
    assert TaxRate(code="S", name="Standard 20%", percentage="20").percentage == 20
    with pytest.raises(ValidationError):
        TaxRate(code="X", name="Nonsense", percentage="120")
