"""A customer payment may offset credit notes against invoices: `amount` is the money that moved."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from sagebridge.domain import CustomerPayment, CustomerRefund


def payment(amount: str, *allocations: tuple[str, str], cls=CustomerPayment):
    return cls.model_validate({
        "host_id": "PAY-1", "party_id": "C1", "payment_date": "2025-03-02", "amount": amount, "currency": "GBP",
        "allocations": [{"kind": kind, "host_id": f"{kind}-{n}", "amount": value}
                        for n, (kind, value) in enumerate(allocations)]})


INVOICE, NOTE = "sales_invoice", "sales_credit_note"


def test_defect_06_amount_is_invoices_less_credit_notes():
    paid = payment("90.00", (INVOICE, "120.00"), (NOTE, "30.00"))
    assert (paid.allocated_to_invoices, paid.allocated_credit_notes) == (Decimal("120.00"), Decimal("30.00"))
    assert payment("0", (INVOICE, "120.00"), (NOTE, "120.00")).amount == 0  # a pure offset


@pytest.mark.parametrize(("amount", "allocations", "words"), [
    ("150.00", [(INVOICE, "120.00"), (NOTE, "30.00")], ["amount 150.00", "120.00", "30.00", "= 90.00"]),
    ("80.00", [(INVOICE, "120.00"), (NOTE, "30.00")], ["amount 80.00", "= 90.00"]),
    ("0", [(INVOICE, "20.00"), (NOTE, "30.00")], ["credit notes (30.00)", "invoices (20.00)", "refund"]),
    ("0", [(INVOICE, "20.00")], ["greater than 0"]),
    ("0", [], ["greater than 0"]),
])
def test_defect_06_offsets_that_do_not_add_up_are_refused_naming_the_figures(amount, allocations, words):
    with pytest.raises(ValidationError) as raised:
        payment(amount, *allocations)
    message = str(raised.value)
    for word in words:
        assert word in message


def test_refunds_keep_their_rules():
    assert payment("30.00", (NOTE, "30.00"), cls=CustomerRefund).amount == Decimal("30.00")
    with pytest.raises(ValidationError):
        payment("0", (NOTE, "30.00"), cls=CustomerRefund)
    with pytest.raises(ValidationError):  # allocations beyond the amount, as before
        payment("100.00", (INVOICE, "120.00"))
