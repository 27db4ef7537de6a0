"""Sage's money arithmetic: Decimal inside, 2 dp per line, half-up like Sage rounds."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# A client's own computation may differ from Sage's by a rounding step at most.
TOLERANCE = Decimal("0.01")


def to_decimal(value: object) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a number")
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number") from exc


def money(value: object) -> Decimal:
    """Round to pennies the way Sage rounds each line (half up)."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def close_enough(given: Decimal, expected: Decimal) -> bool:
    return abs(given - expected) <= TOLERANCE
