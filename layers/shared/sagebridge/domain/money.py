"""Money rules: Decimal only, two places ROUND_HALF_UP, rounded per line the way Sage computes.

Sage rounds each line's net and tax to the penny and adds the rounded lines up; it never rounds a
header total. We do the same so that what we compute is what Sage will show.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

CENT = Decimal("0.01")
TOLERANCE = CENT  # the host's totals may differ from ours by a penny, no more
ZERO = Decimal("0")

# A binary float holds 15 significant decimal digits for sure; beyond that its shortest repr
# may not be the number the host wrote, so we refuse rather than guess.
_FLOAT_SAFE_DIGITS = 15
_MAX_INTEGER_DIGITS = 15


def to_decimal(value: object) -> Decimal:
    """Parse an amount exactly: strings, ints and Decimals as written, a float (a JSON number) by its
    shortest repr, so 10.1 becomes Decimal('10.1'), never Decimal(10.1)'s 10.0999...

    Refuses booleans, NaN, infinities, floats with more than 15 significant digits and amounts too
    large for an accounting system."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
        if amount.is_finite() and len(amount.as_tuple().digits) > _FLOAT_SAFE_DIGITS:
            raise ValueError(
                f"{value!r} has more than {_FLOAT_SAFE_DIGITS} significant digits; "
                "send it as a string to keep it exact"
            )
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    else:
        raise ValueError(f"must be a number, not {type(value).__name__}")
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount and amount.adjusted() >= _MAX_INTEGER_DIGITS:
        raise ValueError(f"is too large (at most {_MAX_INTEGER_DIGITS} digits before the point)")
    return amount


# Any exact decimal quantity from the host: amounts, quantities, unit prices, rates.
Amount = Annotated[Decimal, BeforeValidator(to_decimal)]


def _host_decimal(value: object) -> Decimal:
    """`to_decimal`, refusing exponent notation: a host writes amounts out in full ("100.00"), and
    "1E+2" is more likely a spreadsheet's mangling than a price."""
    if isinstance(value, str) and "e" in value.lower():
        raise ValueError(f"{value!r} is in exponent notation; write the number out in full, such as '100.00'")
    return to_decimal(value)


# A decimal quantity as the host sends it: amounts, quantities, unit prices.
HostAmount = Annotated[Decimal, BeforeValidator(_host_decimal)]

# The active ISO 4217 alphabetic codes (list one: currencies and funds; metals, SDRs and the bond
# units too), without XTS (testing) and XXX (no currency): anything else is refused at the door.
CURRENCIES = frozenset("""
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
    EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR
    MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
    RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD
    TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR
    XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG
""".split())


def is_currency(code: str) -> bool:
    """Is `code` an active ISO 4217 currency code (any case)?"""
    return code.upper() in CURRENCIES


# ISO 4217 minor units (decimal places) of the currencies that do not have two; every other
# currency has two (GBP, EUR, USD, AUD, NZD, ZAR, CAD...).
_MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                     "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


assert _MINOR_UNITS.keys() <= CURRENCIES  # one table of codes: the minor units name only real ones


def minor_units(currency: str) -> int:
    """How many decimal places an amount in `currency` can have (ISO 4217)."""
    return _MINOR_UNITS.get(currency.upper(), 2)


def decimal_places(amount: Decimal) -> int:
    """Decimal places as significant: 12.10 has one, 12.00 none (trailing zeros add no precision)."""
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def precision_problem(amount: Decimal, currency: str) -> str | None:
    """Why `amount` cannot be an amount of money in `currency`, or None if it can."""
    places, allowed = decimal_places(amount), minor_units(currency)
    if places <= allowed:
        return None
    return f"has {places} decimal place{'s' if places != 1 else ''}; {currency.upper()} amounts have at most {allowed}"


def round_money(value: Decimal) -> Decimal:
    """Two places, half away from zero (0.005 -> 0.01, -0.005 -> -0.01), as Sage rounds."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_net(quantity: Decimal, unit_price: Decimal, discount: Decimal = ZERO) -> Decimal:
    """A line's net: round(quantity x unit price - discount amount, 2)."""
    return round_money(quantity * unit_price - discount)


def line_tax(net: Decimal, rate_percent: Decimal) -> Decimal:
    """A line's tax: round(net x rate / 100, 2), computed on the already rounded net."""
    return round_money(net * rate_percent / 100)


def sum_money(values: Iterable[Decimal]) -> Decimal:
    """Add amounts that are each already rounded; the result needs no rounding of its own."""
    return round_money(sum(values, ZERO))


def within_tolerance(ours: Decimal, theirs: Decimal, tolerance: Decimal = TOLERANCE) -> bool:
    return abs(ours - theirs) <= tolerance


class Totals(BaseModel):
    """A document's net, tax and gross total: the host's own, or the ones we compute."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built on first use (cold start)

    net: HostAmount
    tax: HostAmount
    total: HostAmount


def totals_of(line_nets: Iterable[Decimal], line_taxes: Iterable[Decimal]) -> Totals:
    """Document totals as sums of per-line values (never re-rounded at header level)."""
    net = sum_money(line_nets)
    tax = sum_money(line_taxes)
    return Totals(net=net, tax=tax, total=net + tax)
