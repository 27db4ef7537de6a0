from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from sagebridge.domain import (
    DocumentLine,
    computed_totals,
    line_net,
    line_tax,
    round_money,
    to_decimal,
    within_tolerance,
)
from sagebridge.domain.money import minor_units, precision_problem


def test_a_json_number_becomes_exactly_the_decimal_the_host_wrote():
    line = DocumentLine.model_validate_json('{"description": "Oil", "quantity": 3, "unit_price": 10.1}')
    assert line.unit_price == Decimal("10.1")
    assert str(line.unit_price) == "10.1"  # not 10.0999999999999996447286321199499070644378662109375
    assert line.net_amount() == Decimal("30.30")


def test_point_one_plus_point_two_adds_up_to_point_three():
    lines = [DocumentLine(description="a", unit_price=0.1), DocumentLine(description="b", unit_price=0.2)]
    assert sum(line.net_amount() for line in lines) == Decimal("0.30")
    assert line_net(Decimal(3), to_decimal(0.1)) == Decimal("0.30")


def test_a_float_that_cannot_be_held_exactly_is_refused_with_advice():
    with pytest.raises(ValidationError, match="send it as a string"):
        DocumentLine(description="x", unit_price=0.1 + 0.2)  # 0.30000000000000004


@pytest.mark.parametrize("bad", [True, "NaN", "Infinity", "ten", "1e16", None, [1]])
def test_amounts_that_are_not_money_are_refused(bad):
    with pytest.raises(ValidationError):
        DocumentLine(description="x", unit_price=bad)


def test_strings_keep_their_places():
    assert to_decimal("0.10") == Decimal("0.10")
    assert to_decimal(" 12.345 ") == Decimal("12.345")


def test_rounding_is_half_up_on_the_exact_value_not_the_float():
    assert round_money(Decimal("2.675")) == Decimal("2.68")  # round(2.675, 2) on a float gives 2.67
    assert round_money(Decimal("0.005")) == Decimal("0.01")
    assert round_money(Decimal("-0.005")) == Decimal("-0.01")  # away from zero, credit lines too
    assert round_money(Decimal("1.004999")) == Decimal("1.00")


def test_line_net_subtracts_the_discount_amount_then_rounds():
    assert line_net(Decimal("1.5"), Decimal("9.99"), Decimal("1")) == Decimal("13.99")  # 13.985
    assert line_net(Decimal("3"), Decimal("0.333")) == Decimal("1.00")  # 0.999


def test_line_tax_is_computed_on_the_rounded_net():
    assert line_tax(Decimal("13.99"), Decimal("20")) == Decimal("2.80")  # 2.798
    assert line_tax(Decimal("0.05"), Decimal("10")) == Decimal("0.01")  # 0.005 rounds up


def test_per_line_rounding_differs_from_header_rounding_and_we_follow_sage(invoice, settings):
    # Five 5p parts at a 10% rate: Sage rounds each line's 0.005 tax up to 0.01 -> 0.05 in all;
    # rounding the header instead would give 0.25 x 10% = 0.03.
    doc = invoice(
        lines=[{"description": f"Washer {n}", "unit_price": "0.05", "tax_code": "R"} for n in range(5)],
        totals={"net": "0.25", "tax": "0.05", "total": "0.30"},
    )
    mapped = settings.model_copy(update={"tax_mappings": {"R": "GB_REDUCED"}})
    totals = computed_totals(doc, settings=mapped, sage_tax_rates={"GB_REDUCED": Decimal("10")})
    assert totals is not None
    assert (totals.net, totals.tax, totals.total) == (Decimal("0.25"), Decimal("0.05"), Decimal("0.30"))
    assert round_money(totals.net * Decimal("0.10")) == Decimal("0.03")  # the header way, not ours


def test_realistic_invoice_totals(invoice, settings, sage_tax_rates):
    totals = computed_totals(invoice(), settings=settings, sage_tax_rates=sage_tax_rates)
    assert totals is not None
    assert (totals.net, totals.tax, totals.total) == (Decimal("156.00"), Decimal("31.20"), Decimal("187.20"))


def test_a_line_without_a_tax_code_carries_no_tax(invoice, settings, sage_tax_rates):
    doc = invoice(lines=[{"description": "MOT fee", "unit_price": "54.85"}],
                  totals={"net": "54.85", "tax": "0", "total": "54.85"})
    totals = computed_totals(doc, settings=settings, sage_tax_rates=sage_tax_rates)
    assert totals is not None and totals.tax == Decimal("0.00")


def test_tolerance_is_one_penny_inclusive():
    assert within_tolerance(Decimal("10.00"), Decimal("10.01"))
    assert within_tolerance(Decimal("10.00"), Decimal("9.99"))
    assert not within_tolerance(Decimal("10.00"), Decimal("10.011"))


# issue 13, defect 11: the host's amounts of money fit their currency; no exponent notation


@pytest.mark.parametrize(("currency", "places"), [("GBP", 2), ("eur", 2), ("ZAR", 2), ("JPY", 0), ("KRW", 0),
                                                  ("BHD", 3), ("KWD", 3), ("CLF", 4)])
def test_defect_11_minor_units_follow_iso_4217(currency, places):
    assert minor_units(currency) == places


def test_defect_11_precision_counts_only_significant_decimals():
    assert precision_problem(Decimal("12.10"), "GBP") is None
    assert precision_problem(Decimal("12.100"), "GBP") is None
    assert precision_problem(Decimal("1200"), "JPY") is None
    assert precision_problem(Decimal("12.345"), "GBP") == "has 3 decimal places; GBP amounts have at most 2"
    assert precision_problem(Decimal("12.5"), "JPY") == "has 1 decimal place; JPY amounts have at most 0"


@pytest.mark.parametrize("written", ["1e2", "1E+2", " 2.5e-1 "])
def test_defect_11_exponent_notation_is_refused_for_host_amounts(written):
    with pytest.raises(ValidationError, match="exponent notation"):
        DocumentLine(description="x", unit_price=written)
    assert to_decimal(written) == Decimal(written.strip())  # what Sage sends back is still read
