"""Properties of the money rules over many amounts, not just the ones we thought of."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from sagebridge.domain import DocumentLine, line_net, line_tax, round_money, sum_money, totals_of

amounts = st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=4,
                      allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2)
quantities = st.decimals(min_value=Decimal("0"), max_value=Decimal("1000"), places=3)
rates = st.sampled_from([Decimal(r) for r in ("0", "5", "12.5", "17.5", "20", "23")])


@given(amounts)
def test_rounding_lands_on_a_penny_within_half_a_penny(value):
    rounded = round_money(value)
    assert rounded.as_tuple().exponent == -2
    assert abs(rounded - value) <= Decimal("0.005")
    assert round_money(rounded) == rounded


@given(amounts)
def test_rounding_is_symmetric_for_credits(value):
    assert round_money(-value) == -round_money(value)


@given(st.lists(st.tuples(quantities, prices, rates), min_size=1, max_size=30))
def test_totals_are_the_sums_of_rounded_lines(lines):
    nets = [line_net(q, p) for q, p, _ in lines]
    taxes = [line_tax(n, r) for n, (_, _, r) in zip(nets, lines, strict=True)]
    totals = totals_of(nets, taxes)
    assert totals.net == sum(nets) and totals.tax == sum(taxes)
    assert totals.total == totals.net + totals.tax
    # per-line rounding strays from header rounding by at most half a penny per line
    header_tax = round_money(sum(q * p * r / 100 for q, p, r in lines))
    assert abs(totals.tax - header_tax) <= Decimal("0.01") * len(lines)
    assert sum_money(nets) == totals.net


@given(st.decimals(min_value=Decimal("-99999999"), max_value=Decimal("99999999"), places=2))
def test_a_json_number_of_up_to_fifteen_digits_is_read_exactly(value):
    text = f'{{"description": "x", "unit_price": {value}}}'
    assert DocumentLine.model_validate_json(text).unit_price == value
