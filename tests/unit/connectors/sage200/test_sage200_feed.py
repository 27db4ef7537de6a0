"""Sage 200's feed reads posted transactions, products, tax codes and customers into the typed read
models the payment poller and the catalog import read (sagebridge.domain.remote). Sage 200 has no
payment records: a receipt is a posted transaction whose allocation sessions list the invoices it
settled, by URN."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sagebridge.connectors.sage200.feed import Sage200Feed
from sagebridge.connectors.sage200.mapper import TRANSACTION_TYPE
from sagebridge.domain.catalog import ItemType
from sagebridge.domain.kinds import DocumentKind
from sagebridge.domain.remote import (
    Allocation,
    DocumentBalance,
    MoneyKind,
    RemoteAddress,
    RemoteCustomer,
    RemoteItem,
    RemotePayment,
    RemoteTaxRate,
    Settlement,
)

SINCE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
INVOICE, CREDIT = TRANSACTION_TYPE[DocumentKind.SALES_INVOICE], TRANSACTION_TYPE[DocumentKind.SALES_CREDIT_NOTE]
RECEIPT, REFUND = TRANSACTION_TYPE[DocumentKind.CUSTOMER_PAYMENT], TRANSACTION_TYPE[DocumentKind.CUSTOMER_REFUND]


def _tx(urn: int, kind: str, value: str, outstanding: str = "0", sessions: tuple[tuple[int, str, str], ...] = (),
        **extra: Any) -> dict[str, Any]:
    return {"id": 1000 + urn, "urn": urn, "trader_transaction_type": kind, "document_gross_value": value,
            "document_outstanding_value": outstanding, "date_time_updated": "2025-03-03T09:00:00Z",
            "transaction_date": "2025-03-03T00:00:00",
            "allocation_session_items": [{"urn": u, "trader_transaction_type": k, "allocation_value": v}
                                         for u, k, v in sessions], **extra}


class FakeClient:
    """What the feed uses of Sage200Client: lists, one record, posted transactions by URN."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.rows = rows
        self.asked: list[tuple[str, str | None]] = []

    def iterate(self, resource: str, *, filter: str | None = None, orderby: str = "id",
                select: str | None = None, top: int | None = None) -> Any:
        self.asked.append((resource, filter))
        rows = self.rows.get(resource, [])
        if resource == "sales_posted_transactions" and filter and "trader_transaction_type" in filter:
            rows = [r for r in rows if f"'{r['trader_transaction_type']}'" in filter]
        if filter and (" eq " in filter) and ("urn eq" in filter or "id eq" in filter):
            key = "urn" if "urn eq" in filter else "id"
            wanted = {int(n) for n in re.findall(rf"{key} eq (\d+)", filter)}
            rows = [r for r in rows if int(r[key]) in wanted]
        return iter(rows)

    def list(self, resource: str, **options: Any) -> list[dict[str, Any]]:
        return list(self.iterate(resource, **options))

    def get(self, resource: str, key: str) -> dict[str, Any]:
        self.asked.append((f"{resource}/{key}", None))
        return next(r for r in self.rows[resource] if str(r["id"]) == str(key))

    def posted_transactions(self, filter: str) -> list[dict[str, Any]]:
        return self.list("sales_posted_transactions", filter=filter)


def _feed(rows: dict[str, list[dict[str, Any]]]) -> tuple[Sage200Feed, FakeClient]:
    client = FakeClient(rows)
    return Sage200Feed(client), client  # type: ignore[arg-type]


def _books() -> list[dict[str, Any]]:
    """Two invoices paid by one receipt (100 + 50); a credit note refunded; a credit note set
    against the second invoice."""
    return [
        _tx(1, INVOICE, "100.00", sessions=((3, RECEIPT, "-100.00"),), reference="SI-1"),
        _tx(2, INVOICE, "80.00", "0", sessions=((3, RECEIPT, "-50.00"), (5, CREDIT, "-30.00")), reference="SI-2"),
        _tx(3, RECEIPT, "-150.00", sessions=((1, INVOICE, "100.00"), (2, INVOICE, "50.00"), (3, RECEIPT, "-150.00")),
            reference="BACS 1"),
        _tx(4, CREDIT, "-20.00", sessions=((6, REFUND, "20.00"),)),
        _tx(5, CREDIT, "-30.00", sessions=((2, INVOICE, "30.00"),)),
        _tx(6, REFUND, "20.00", sessions=((4, CREDIT, "-20.00"),)),
    ]


def test_a_receipt_split_over_two_invoices_and_a_refund_of_a_credit_note():
    feed, client = _feed({"sales_posted_transactions": _books()})
    receipt, refund = list(feed.payments_changed(SINCE))
    assert receipt == RemotePayment(
        sage_id="1003", version="2025-03-03T09:00:00Z", kind=MoneyKind.RECEIPT, total=Decimal("150.00"),
        currency="GBP", on=date(2025, 3, 3), reference="BACS 1",
        allocations=(Allocation(DocumentKind.SALES_INVOICE, "1001", Decimal("100.00")),
                     Allocation(DocumentKind.SALES_INVOICE, "1002", Decimal("50.00"))))
    assert refund.kind is MoneyKind.REFUND
    assert refund.allocations == (Allocation(DocumentKind.SALES_CREDIT_NOTE, "1004", Decimal("20.00")),)
    # changed since, receipts and refunds only; the session URNs looked up in one request
    listed, urns = client.asked
    assert listed[0] == "sales_posted_transactions" and "date_time_updated gt 2025-03-01T09:00:00Z" in listed[1]
    assert f"'{RECEIPT}'" in listed[1] and f"'{REFUND}'" in listed[1] and f"'{INVOICE}'" not in listed[1]
    assert urns[0] == "sales_posted_transactions" and "urn eq 1" in urns[1]


def test_a_credit_note_set_against_an_invoice_is_a_credit_allocation():
    feed, _ = _feed({"sales_posted_transactions": _books()})
    allocations = list(feed.allocations_changed(SINCE))
    assert [(a.sage_id, a.kind, a.allocations) for a in allocations] == [
        ("1004", MoneyKind.CREDIT_ALLOCATION, ()),  # refunded, set against no invoice
        ("1005", MoneyKind.CREDIT_ALLOCATION, (Allocation(DocumentKind.SALES_INVOICE, "1002", Decimal("30.00")),)),
    ]
    assert feed.allocation("1005") == allocations[1] and feed.payment("1003").kind is MoneyKind.RECEIPT


def test_nothing_is_ever_deleted_and_asking_costs_nothing():
    feed, client = _feed({"sales_posted_transactions": _books()})
    assert list(feed.payments_deleted(SINCE)) == [] and list(feed.allocations_deleted(SINCE)) == []
    assert client.asked == []


def test_a_document_balance_lists_receipts_and_credit_notes_that_settled_it():
    feed, _ = _feed({"sales_posted_transactions": _books()})
    assert feed.document(DocumentKind.SALES_INVOICE, "1002") == DocumentBalance(
        kind=DocumentKind.SALES_INVOICE, sage_id="1002", number="SI-2", total=Decimal("80.00"),
        outstanding=Decimal("0"),
        settled_by=(Settlement("1003", Decimal("50.00")), Settlement("1005", Decimal("30.00"), by_allocation=True)))


def test_many_balances_come_from_the_lists_the_poll_already_read_with_no_request_of_their_own():
    feed, client = _feed({"sales_posted_transactions": _books()})
    list(feed.payments_changed(SINCE))  # the receipt's invoices, listed by URN (whole records)
    list(feed.allocations_changed(SINCE))
    asked = len(client.asked)
    balances = feed.documents(DocumentKind.SALES_INVOICE, ["1001", "1002"], SINCE)
    assert balances == {i: feed.document(DocumentKind.SALES_INVOICE, i) for i in ("1001", "1002")}
    assert client.asked[asked:asked + 1] == [("sales_posted_transactions/1001", None)]  # the comparison's GETs only


def test_many_balances_not_yet_listed_are_read_20_a_request_by_id_and_a_missing_one_left_out():
    rows = _books() + [_tx(urn, INVOICE, "10.00", "10.00") for urn in range(100, 125)]
    feed, client = _feed({"sales_posted_transactions": rows})
    wanted = ["1002", "9999"] + [str(1000 + urn) for urn in range(100, 125)]
    balances = feed.documents(DocumentKind.SALES_INVOICE, wanted, SINCE)
    assert set(balances) == set(wanted) - {"9999"}
    assert balances["1002"].settled_by == (Settlement("1003", Decimal("50.00")),
                                           Settlement("1005", Decimal("30.00"), by_allocation=True))
    by_id = [f for r, f in client.asked if f and "id eq" in f and "urn" not in f]
    assert len(by_id) == 2 and all(f.count(" or ") < 20 for f in by_id)  # 27 ids: 20 + 7
    assert not any("/" in r for r, _ in client.asked)  # no GET of one record
    assert feed.documents(DocumentKind.CUSTOMER_PAYMENT, ["1003"], SINCE) == {}


def test_products_priced_from_their_views_and_a_product_without_price():
    products = [{"id": 1, "code": "BOLT", "name": "Bolt", "tax_code_id": 7, "product_status_type": "Active",
                 "date_time_updated": "2025-03-03T09:00:00Z"},
                {"id": 2, "code": "NUT", "description": "Nut", "product_status_type": "Inactive",
                 "date_time_updated": "2025-03-03T09:00:00Z"}]
    feed, client = _feed({"products": products, "product_views": [{"id": 1, "selling_price": "1.50"}]})
    assert list(feed.items_changed(None)) == [
        RemoteItem(sage_id="1", version="2025-03-03T09:00:00Z", item_type=ItemType.PRODUCT, code="BOLT",
                   description="Bolt", sales_price=Decimal("1.50"), tax_rate_id="7"),
        RemoteItem(sage_id="2", version="2025-03-03T09:00:00Z", item_type=ItemType.PRODUCT, code="NUT",
                   description="Nut", active=False),
    ]
    assert client.asked == [("products", None), ("product_views", "id eq 1 or id eq 2")]


def test_tax_codes_and_customers():
    feed, _ = _feed({
        "tax_codes": [{"id": 1, "name": "Standard", "tax_rate": "20.00", "date_time_updated": "v2"}],
        "customers": [{"id": 9, "name": "Acme", "reference": "ACME", "vat_number": "GB1",
                       "date_time_created": "2025-03-01T09:00:00Z", "date_time_updated": "2025-03-01T09:00:00Z",
                       "main_address": {"address_1": "1 High St", "city": "Leeds", "county": "Yorks",
                                        "postcode": "LS1"}}]})
    assert list(feed.tax_rates_changed(SINCE)) == [
        RemoteTaxRate(sage_id="1", version="v2", name="Standard", percentage=Decimal("20.00"))]
    assert list(feed.customers_changed(SINCE)) == [RemoteCustomer(
        sage_id="9", version="2025-03-01T09:00:00Z", created="2025-03-01T09:00:00Z", name="Acme", reference="ACME",
        tax_number="GB1", address=RemoteAddress(("1 High St",), "Leeds", "Yorks", "LS1"))]
