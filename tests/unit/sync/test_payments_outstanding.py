"""The outstanding amount after each receipt comes from the order of Sage's own list of a document's
payments and allocations, so several receipts in one poll window each carry their own amount."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sagebridge.domain.kinds import DocumentKind
from sagebridge.domain.remote import DocumentBalance, MoneyKind, RemotePayment, Settlement
from sagebridge.sync.payments import _order, _outstanding_after, _Touch, cursor_position

D = Decimal
INVOICE = DocumentBalance(
    kind=DocumentKind.SALES_INVOICE, sage_id="inv", number="SI-1", total=D("120.00"), outstanding=D("10.00"),
    settled_by=(Settlement("p1", D("50.00")), Settlement("a1", D("20.00"), by_allocation=True),
                Settlement("p2", D("40.00"))),
)


def touch(source_id: str) -> _Touch:
    payment = RemotePayment(sage_id=source_id, version="v1", kind=MoneyKind.RECEIPT, total=D("1"), currency="GBP",
                            on=None)
    return _Touch(payment, DocumentKind.SALES_INVOICE, "inv", D("1"))


def test_outstanding_after_each_receipt_in_sages_order():
    assert _outstanding_after(INVOICE, [touch("p2"), touch("a1"), touch("p1")]) == {
        "p1": D("70.00"), "a1": D("50.00"), "p2": D("10.00")}


def test_a_receipt_sage_no_longer_lists_gets_the_current_outstanding():
    assert _outstanding_after(INVOICE, [touch("gone")]) == {"gone": D("10.00")}


def test_touches_are_sent_in_the_order_sage_applied_them():
    ordered = _order(INVOICE, [touch("gone"), touch("p2"), touch("p1")])
    assert [t.source.sage_id for t in ordered] == ["p1", "p2", "gone"]


def test_cursor_positions_sort_as_strings_like_the_times_they_stand_for():
    start = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    times = [start + timedelta(microseconds=n) for n in (0, 1, 999_999)] + [start + timedelta(days=400)]
    positions = [cursor_position(t) for t in times]
    assert positions == sorted(positions) and len({len(p) for p in positions}) == 1
    assert [datetime.fromisoformat(p) for p in positions] == times
