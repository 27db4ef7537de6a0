"""Each skip reason, produced by a realistic document, in words a bookkeeper understands."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sagebridge.domain import (
    DocumentKind,
    SalesInvoice,
    SkipCode,
    SkipReason,
    document_skip_reasons,
    payment_skip_reasons,
)
from sagebridge.domain.validation import already_paid_reasons

EXPORTED = {(DocumentKind.SALES_INVOICE, "inv-1001")}


def reasons_for(doc, settings, sage_tax_rates, *, contact_currency=None, party_in_sage=True,
                business_currency="GBP") -> list[SkipReason]:
    return document_skip_reasons(
        doc, settings=settings, sage_tax_rates=sage_tax_rates, business_currency=business_currency,
        contact_currency=contact_currency, party_in_sage=party_in_sage,
    )


def codes(reasons: list[SkipReason]) -> list[str]:
    return [reason.code.value for reason in reasons]


def test_a_clean_invoice_has_no_reasons(invoice, settings, sage_tax_rates):
    assert reasons_for(invoice(), settings, sage_tax_rates, contact_currency="GBP") == []


def test_unmapped_tax_code_names_the_line_and_the_code(invoice_data, settings, sage_tax_rates):
    data = invoice_data()
    data["lines"][1]["tax_code"] = "T9"
    reasons = reasons_for(SalesInvoice.model_validate(data), settings, sage_tax_rates)
    assert reasons == [SkipReason(
        code=SkipCode.TAX_CODE_NOT_MAPPED, field="lines[2].tax_code",
        message="Line 2: host tax code 'T9' is not mapped to a Sage tax rate",
    )]


def test_tax_code_mapped_to_a_rate_deleted_in_sage(invoice, settings):
    reasons = reasons_for(invoice(), settings, {"GB_ZERO": Decimal("0")})
    assert codes(reasons) == ["tax_rate_missing_in_sage", "tax_rate_missing_in_sage"]
    assert reasons[0].message == (
        "Line 1: host tax code 'S' is mapped to Sage tax rate 'GB_STANDARD', which no longer exists in Sage"
    )


def test_two_taxes_on_one_line(invoice_data, settings, sage_tax_rates):
    data = invoice_data()
    data["lines"][0]["extra_taxes"] = [{"tax_code": "ECO", "tax_amount": "1.00"}]
    reasons = reasons_for(SalesInvoice.model_validate(data), settings, sage_tax_rates)
    assert codes(reasons) == ["multiple_taxes_on_line"]  # and no totals noise on top
    assert reasons[0].message == "Line 1 has 2 taxes ('S', 'ECO'); Sage allows one tax per line"


def test_group_tax_on_the_header(invoice, settings, sage_tax_rates):
    reasons = reasons_for(invoice(tax_mode="group"), settings, sage_tax_rates)
    assert codes(reasons) == ["header_tax_mode"]
    assert "INV-1001" in reasons[0].message


def test_an_adjustment_amount_on_the_header(invoice, settings, sage_tax_rates):
    doc = invoice(adjustment_amount="-0.20", totals={"net": "156.00", "tax": "31.20", "total": "187.00"})
    reasons = reasons_for(doc, settings, sage_tax_rates)
    assert codes(reasons) == ["adjustment_amount"]
    assert "-0.20" in reasons[0].message


def test_host_rounded_tax_at_header_and_sage_will_not_agree(invoice, settings):
    # Five 5p washers at 10%: the host rounded tax once on the header (0.03), Sage rounds each line.
    mapped = settings.model_copy(update={"tax_mappings": {"R": "GB_REDUCED"}})
    doc = invoice(
        lines=[{"description": "Washer", "unit_price": "0.05", "tax_code": "R"}] * 5,
        totals={"net": "0.25", "tax": "0.03", "total": "0.28"},
    )
    reasons = reasons_for(doc, mapped, {"GB_REDUCED": Decimal("10")})
    assert codes(reasons) == ["totals_mismatch", "totals_mismatch"]
    assert [r.field for r in reasons] == ["totals.tax", "totals.total"]
    assert reasons[0].message == (
        "Invoice INV-1001: Tax total 0.03 in the host app differs from 0.05 that Sage will compute "
        "(Sage rounds tax on each line)"
    )


def test_a_penny_out_is_tolerated_only_with_a_total_tolerance(invoice, settings, sage_tax_rates):
    doc = invoice(totals={"net": "156.00", "tax": "31.21", "total": "187.21"})
    assert codes(reasons_for(doc, settings, sage_tax_rates)) == ["totals_mismatch", "totals_mismatch"]
    tolerant = settings.model_copy(update={"total_tolerance": Decimal("0.01")})
    assert reasons_for(doc, tolerant, sage_tax_rates) == []


def test_invoice_in_a_currency_the_customer_does_not_trade_in(invoice, settings, sage_tax_rates):
    reasons = reasons_for(invoice(currency="EUR", exchange_rate="1.17"), settings, sage_tax_rates,
                          contact_currency="GBP")
    assert codes(reasons) == ["currency_mismatch"]
    assert reasons[0].message.startswith("Invoice INV-1001 is in EUR but customer 'cust-7' trades in GBP: send the "
                                         "invoice in GBP, or send customer 'cust-7' with currency EUR")


def test_foreign_currency_without_an_exchange_rate(invoice_data, settings, sage_tax_rates):
    data = invoice_data(currency="EUR")
    data["party"]["currency"] = "EUR"
    reasons = reasons_for(SalesInvoice.model_validate(data), settings, sage_tax_rates)
    assert codes(reasons) == ["currency_mismatch"]
    assert reasons[0].field == "exchange_rate"
    assert "not the business currency GBP (the Sage business keeps its books in GBP), and has no exchange rate: " \
        "send its exchange_rate (EUR to GBP), or send it in GBP" in reasons[0].message
    data["exchange_rate"] = "1.17"
    assert reasons_for(SalesInvoice.model_validate(data), settings, sage_tax_rates) == []


def test_line_with_no_ledger_account_to_post_to(invoice, settings, sage_tax_rates):
    bare = settings.model_copy(update={"default_sales_ledger_account_id": None})
    reasons = reasons_for(invoice(), bare, sage_tax_rates)
    assert codes(reasons) == ["ledger_account_not_mapped"]  # line 1 has a mapped code, line 2 none
    assert reasons[0].message == "Line 2 has no ledger code and there is no default sales ledger account"


def test_customer_neither_in_sage_nor_sent(invoice, settings, sage_tax_rates):
    reasons = reasons_for(invoice(party=None), settings, sage_tax_rates, party_in_sage=False)
    assert codes(reasons) == ["party_missing"]
    assert reasons[0].message == "Customer 'cust-7' of invoice INV-1001 is not in Sage and was not sent with it"


def test_an_embedded_customer_is_enough_to_go_on(invoice, settings, sage_tax_rates):
    assert reasons_for(invoice(), settings, sage_tax_rates, party_in_sage=False) == []


def test_an_invoice_already_paid_in_sage_cannot_be_updated(invoice):
    reasons = already_paid_reasons(invoice(), total_in_sage=Decimal("187.20"),
                                   outstanding_in_sage=Decimal("87.20"))
    assert codes(reasons) == ["already_paid_in_sage"]
    assert "100.00 paid or allocated against it in Sage" in reasons[0].message
    assert "void it in the host app" in reasons[0].message  # the way out (second front-door review)
    assert already_paid_reasons(invoice(), total_in_sage=Decimal("187.20"),
                                outstanding_in_sage=Decimal("187.20")) == []


def test_reasons_add_up_when_a_document_has_several_problems(invoice_data, settings, sage_tax_rates):
    data = invoice_data(currency="USD", adjustment_amount="1.00")
    data["lines"][0]["tax_code"] = "T9"
    reasons = reasons_for(SalesInvoice.model_validate(data), settings, sage_tax_rates)
    assert codes(reasons) == ["currency_mismatch", "tax_code_not_mapped", "adjustment_amount"]


class TestPayments:
    def test_a_clean_payment_has_no_reasons(self, payment):
        assert payment_skip_reasons(payment(), exported=EXPORTED, business_currency="GBP",
                                    contact_currency="GBP") == []

    def test_allocated_to_an_invoice_that_was_not_exported(self, payment):
        reasons = payment_skip_reasons(payment(), exported=set(), business_currency="GBP",
                                       contact_currency="GBP")
        assert codes(reasons) == ["allocation_not_exported"]
        assert reasons[0].message == (
            "Payment 'Card ending 4242': allocation 1 is to invoice 'inv-1001', which has not been exported "
            "to Sage"
        )

    def test_same_host_id_of_another_kind_does_not_count(self, payment):
        reasons = payment_skip_reasons(
            payment(), exported={(DocumentKind.SALES_CREDIT_NOTE, "inv-1001")},
            business_currency="GBP", contact_currency="GBP",
        )
        assert codes(reasons) == ["allocation_not_exported"]

    def test_refund_in_the_wrong_currency(self, payment):
        reasons = payment_skip_reasons(payment(currency="EUR"), exported=EXPORTED, business_currency="GBP",
                                       contact_currency="GBP")
        assert codes(reasons) == ["currency_mismatch"]

    def test_payment_for_a_customer_we_cannot_find(self, payment):
        reasons = payment_skip_reasons(payment(), exported=EXPORTED, business_currency="GBP",
                                       contact_currency=None, party_in_sage=False)
        assert codes(reasons) == ["party_missing"]


@pytest.mark.parametrize("code", list(SkipCode))
def test_reason_codes_are_stable_snake_case(code):
    assert code.value == code.name.lower()
