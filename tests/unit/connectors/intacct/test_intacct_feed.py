"""Sage Intacct's feed reads ARPYMT / ARPYMTDETAIL, ARINVOICE / ARADJUSTMENT, ITEM, TAXDETAIL and
CUSTOMER records into the typed read models the payment poller and the catalog import read
(sagebridge.domain.remote), with the queries it always sent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from sagebridge.connectors.base import NotFound
from sagebridge.connectors.sage_intacct.feed import IntacctFeed
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
    Removed,
    Settlement,
)

SINCE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
MODIFIED = "03/03/2025 09:00:00"


class FakeClient:
    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects
        self.asked: list[tuple[str, str]] = []

    def read_by_query(self, obj: str, query: str = "", **_: Any) -> Any:
        self.asked.append((obj, query))
        rows = self.objects.get(obj, [])
        if query.startswith("RECORDNO = "):
            rows = [r for r in rows if f"'{r['RECORDNO']}'" in query]
        if query.startswith("RECORDKEY = "):
            rows = [r for r in rows if f"'{r['RECORDKEY']}'" in query]
        return iter(rows)

    def read(self, obj: str, keys: list[str], **_: Any) -> list[dict[str, Any]]:
        self.asked.append((obj, ",".join(keys)))
        return [r for r in self.objects.get(obj, []) if r["RECORDNO"] in keys]


class FakeConnector:
    """What the feed uses of IntacctConnector: its client and the receipts' detail lines."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.client = FakeClient(objects)

    def payment_details(self, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
        self.client.asked.append(("ARPYMTDETAIL", f"PAYMENTKEY IN {keys}"))
        out: dict[str, list[dict[str, Any]]] = {}
        for row in self.client.objects.get("ARPYMTDETAIL", []):
            if row["PAYMENTKEY"] in keys:
                out.setdefault(row["PAYMENTKEY"], []).append(row)
        return out


def _feed(objects: dict[str, list[dict[str, Any]]]) -> tuple[IntacctFeed, FakeClient]:
    connector = FakeConnector(objects)
    return IntacctFeed(connector), connector.client  # type: ignore[arg-type]


RECEIPTS = {
    "ARPYMT": [
        {"RECORDNO": "77", "DOCNUMBER": "BACS 1", "TOTALENTERED": "150.00", "RECEIPTDATE": "03/03/2025",
         "CURRENCY": "USD", "PAYMENTMETHOD": "EFT", "STATE": "Posted", "WHENMODIFIED": MODIFIED},
        {"RECORDNO": "78", "TOTALENTERED": "10.00", "RECEIPTDATE": "03/03/2025", "STATE": "Reversed",
         "WHENMODIFIED": MODIFIED},
    ],
    "ARPYMTDETAIL": [
        {"RECORDNO": "2", "PAYMENTKEY": "77", "RECORDKEY": "11", "TRX_PAYMENTAMOUNT": "100.00"},
        {"RECORDNO": "3", "PAYMENTKEY": "77", "RECORDKEY": "12", "TRX_PAYMENTAMOUNT": "50.00"},
        {"RECORDNO": "1", "PAYMENTKEY": "70", "RECORDKEY": "12", "TRX_PAYMENTAMOUNT": "-5.00"},
    ],
    "ARINVOICE": [{"RECORDNO": "12", "RECORDID": "INV-12", "TOTALENTERED": "80.00", "TOTALPAID": "55.00",
                   "TOTALDUE": "", "STATE": "Partially Paid"}],
    "ARADJUSTMENT": [{"RECORDNO": "31", "RECORDID": "CN-31", "TOTALENTERED": "-20.00", "TOTALDUE": "-20.00"}],
}


def test_a_receipt_split_over_two_invoices():
    feed, client = _feed(RECEIPTS)
    assert list(feed.payments_changed(SINCE)) == [RemotePayment(
        sage_id="77", version="2025-03-03T09:00:00+00:00", kind=MoneyKind.RECEIPT, total=Decimal("150.00"),
        currency="USD", on=date(2025, 3, 3), reference="BACS 1", method="EFT",
        allocations=(Allocation(DocumentKind.SALES_INVOICE, "11", Decimal("100.00")),
                     Allocation(DocumentKind.SALES_INVOICE, "12", Decimal("50.00"))))]
    assert client.asked == [("ARPYMT", "WHENMODIFIED >= '03/01/2025 09:00:00'"),
                            ("ARPYMTDETAIL", "PAYMENTKEY IN ['77']")]


def test_a_reversed_receipt_is_deleted_and_no_longer_read_by_id():
    feed, _ = _feed(RECEIPTS)
    assert list(feed.payments_deleted(SINCE)) == [Removed("78")]
    with pytest.raises(NotFound):
        feed.payment("78")
    assert feed.payment("77").sage_id == "77"
    assert list(feed.allocations_changed(SINCE)) == [] and list(feed.allocations_deleted(SINCE)) == []
    with pytest.raises(NotFound):
        feed.allocation("5")


def test_document_balances_in_the_order_receipts_were_applied():
    feed, client = _feed(RECEIPTS)
    assert feed.document(DocumentKind.SALES_INVOICE, "12") == DocumentBalance(
        kind=DocumentKind.SALES_INVOICE, sage_id="12", number="INV-12", total=Decimal("80.00"),
        outstanding=Decimal("25.00"),  # no TOTALDUE: total less paid
        settled_by=(Settlement("70", Decimal("5.00")), Settlement("77", Decimal("50.00"))))
    assert client.asked == [("ARINVOICE", "12"), ("ARPYMTDETAIL", "RECORDKEY = '12'")]
    credit = feed.document(DocumentKind.SALES_CREDIT_NOTE, "31")  # credit memos are negative in Intacct
    assert (credit.number, credit.total, credit.outstanding, credit.settled_by) == (
        "CN-31", Decimal("20.00"), Decimal("20.00"), ())
    with pytest.raises(NotFound):
        feed.document(DocumentKind.SALES_INVOICE, "404")


def test_items_products_then_services_and_an_item_without_price():
    items = [
        {"ITEMID": "BOLT", "NAME": "Bolt", "ITEMTYPE": "Inventory", "BASEPRICE": "1.50", "STANDARD_COST": "0.40",
         "GLACCOUNT": "4000", "STATUS": "active", "WHENMODIFIED": MODIFIED},
        {"ITEMID": "LABOUR", "EXTENDED_DESCRIPTION": "Labour", "ITEMTYPE": "Non-Inventory", "BASEPRICE": "",
         "STATUS": "inactive", "WHENMODIFIED": MODIFIED},
    ]
    feed, client = _feed({"ITEM": items})
    assert list(feed.items_changed(None)) == [
        RemoteItem(sage_id="BOLT", version="2025-03-03T09:00:00+00:00", item_type=ItemType.PRODUCT, code="BOLT",
                   description="Bolt", sales_price=Decimal("1.50"), purchase_price=Decimal("0.40"),
                   sales_ledger_id="4000"),
        RemoteItem(sage_id="LABOUR", version="2025-03-03T09:00:00+00:00", item_type=ItemType.SERVICE,
                   code="LABOUR", description="Labour", active=False),
    ]
    assert client.asked == [("ITEM", ""), ("ITEM", "")]  # one query for products, one for services, as ever


def test_tax_details_and_customers():
    feed, client = _feed({
        "TAXDETAIL": [{"RECORDNO": "5", "DETAILID": "UK Sale Standard", "VALUE": "20", "DESCRIPTION": "",
                       "STATUS": "active", "WHENMODIFIED": MODIFIED}],
        "CUSTOMER": [{"CUSTOMERID": "C-1", "NAME": "Acme", "TAXID": "GB1", "CURRENCY": "GBP",
                      "WHENCREATED": "03/01/2025 09:00:00", "WHENMODIFIED": MODIFIED,
                      "DISPLAYCONTACT": {"EMAIL1": "a@acme.test", "PHONE1": "0113",
                                         "MAILADDRESS": {"ADDRESS1": "1 High St", "CITY": "Leeds", "ZIP": "LS1",
                                                         "COUNTRYCODE": "GB"}}}]})
    assert list(feed.tax_rates_changed(SINCE)) == [RemoteTaxRate(
        sage_id="UK Sale Standard", version="2025-03-03T09:00:00+00:00", name="UK Sale Standard",
        percentage=Decimal("20"))]
    assert list(feed.customers_changed(SINCE)) == [RemoteCustomer(
        sage_id="C-1", version="2025-03-03T09:00:00+00:00", created="2025-03-01T09:00:00+00:00", name="Acme",
        reference="C-1", email="a@acme.test", phone="0113", tax_number="GB1", currency="GBP",
        address=RemoteAddress(("1 High St",), "Leeds", None, "LS1", "GB"))]
    assert client.asked[0] == ("TAXDETAIL", "TAXTYPE = 'Sale' AND WHENMODIFIED >= '03/01/2025 09:00:00'")


CREDITS = {
    "ARPYMT": [
        # a credit memo applied to its invoice: no money moved
        {"RECORDNO": "90", "DOCNUMBER": "CM/31/12", "TOTALENTERED": "0", "RECEIPTDATE": "03/04/2025",
         "CURRENCY": "USD", "PAYMENTMETHOD": "EFT", "STATE": "Posted", "WHENMODIFIED": MODIFIED},
        # a receipt of 108 that also applies a credit memo of 12 to the invoice it pays
        {"RECORDNO": "91", "DOCNUMBER": "PAY-1", "TOTALENTERED": "108.00", "RECEIPTDATE": "03/05/2025",
         "CURRENCY": "USD", "PAYMENTMETHOD": "EFT", "STATE": "Posted", "WHENMODIFIED": MODIFIED},
    ],
    "ARPYMTDETAIL": [
        {"RECORDNO": "5", "PAYMENTKEY": "90", "RECORDKEY": "12", "ADJUSTMENTKEY": "31",
         "TRX_ADJUSTMENTAMOUNT": "20.00"},
        {"RECORDNO": "6", "PAYMENTKEY": "91", "RECORDKEY": "13", "TRX_PAYMENTAMOUNT": "108.00"},
        {"RECORDNO": "7", "PAYMENTKEY": "91", "RECORDKEY": "13", "ADJUSTMENTKEY": "32",
         "TRX_ADJUSTMENTAMOUNT": "12.00"},
    ],
    "ARINVOICE": [{"RECORDNO": "12", "RECORDID": "INV-12", "TOTALENTERED": "80.00", "TOTALPAID": "20.00",
                   "TOTALDUE": "60.00", "STATE": "Partially Paid"}],
}


def test_a_credit_memo_applied_with_no_money_is_a_credit_allocation_not_money_received():
    feed, _ = _feed(CREDITS)
    applied, paid = feed.payments_changed(SINCE)
    assert applied == RemotePayment(
        sage_id="90", version="2025-03-03T09:00:00+00:00", kind=MoneyKind.CREDIT_ALLOCATION, total=Decimal("0"),
        currency="USD", on=date(2025, 3, 4), reference="CM/31/12", method=None,
        allocations=(Allocation(DocumentKind.SALES_INVOICE, "12", Decimal("20.00")),))
    assert feed.payment("90").kind is MoneyKind.CREDIT_ALLOCATION
    # a receipt that also applies a credit memo: money received, each invoice once with all it settled
    assert (paid.kind, paid.total, paid.allocations) == (
        MoneyKind.RECEIPT, Decimal("108.00"), (Allocation(DocumentKind.SALES_INVOICE, "13", Decimal("120.00")),))


def test_an_invoice_s_balance_counts_the_credit_memos_applied_to_it():
    feed, _ = _feed(CREDITS)
    balance = feed.document(DocumentKind.SALES_INVOICE, "12")
    assert (balance.outstanding, balance.settled_by) == (Decimal("60.00"), (Settlement("90", Decimal("20.00")),))
