"""Sage Accounting's feed reads its v3.1 JSON into the typed read models the payment poller and the
catalog import read (sagebridge.domain.remote), asking Sage for what it always asked."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from sagebridge.connectors.base import NotFound
from sagebridge.connectors.sage_accounting.feed import SageAccountingFeed
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


class FakeClient:
    """What the feed uses of SageAccountingClient: lists (`iterate`) and one record (`get`)."""

    def __init__(self, lists: dict[str, list[dict[str, Any]]] | None = None,
                 records: dict[tuple[str, str], dict[str, Any]] | None = None,
                 deleted: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.lists, self.records, self.deleted = lists or {}, records or {}, deleted or {}
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def iterate(self, resource: str, **filters: Any) -> Any:
        self.asked.append((resource, filters))
        return iter((self.deleted if "deleted_since" in filters else self.lists).get(resource, []))

    def get(self, resource: str, key: str, **params: Any) -> dict[str, Any]:
        self.asked.append((f"{resource}/{key}", params))
        if (resource, key) not in self.records:
            raise NotFound(f"{resource}/{key}", status=404)
        return self.records[(resource, key)]


def _feed(client: FakeClient) -> SageAccountingFeed:
    return SageAccountingFeed(client)  # type: ignore[arg-type]


RECEIPT_OVER_TWO_INVOICES = {
    "id": "pay-1", "transaction_type": {"id": "CUSTOMER_RECEIPT"}, "updated_at": "2025-03-03T09:00:00Z",
    "date": "2025-03-03", "total_amount": "150.00", "currency": {"id": "EUR"}, "reference": "BACS 1",
    "payment_method": {"displayed_as": "Bank Transfer"},
    "allocated_artefacts": [
        {"artefact": {"id": "inv-1", "$path": "/sales_invoices/inv-1"}, "amount": "100.00"},
        {"artefact": {"id": "inv-2", "$path": "/sales_invoices/inv-2"}, "amount": "50.00"},
        {"artefact": {"id": "oth-1", "$path": "/other_payments/oth-1"}, "amount": "1.00"},
    ],
}


def test_a_receipt_split_over_two_invoices_is_one_payment_with_two_allocations():
    client = FakeClient(lists={"contact_payments": [RECEIPT_OVER_TWO_INVOICES]})
    [payment] = list(_feed(client).payments_changed(SINCE))
    assert payment == RemotePayment(
        sage_id="pay-1", version="2025-03-03T09:00:00Z", kind=MoneyKind.RECEIPT, total=Decimal("150.00"),
        currency="EUR", on=date(2025, 3, 3), reference="BACS 1", method="Bank Transfer",
        allocations=(Allocation(DocumentKind.SALES_INVOICE, "inv-1", Decimal("100.00")),
                     Allocation(DocumentKind.SALES_INVOICE, "inv-2", Decimal("50.00"))))
    assert payment.updated_at == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert client.asked == [("contact_payments", {"updated_or_created_since": SINCE, "attributes": "all"})]


def test_a_refund_of_a_credit_note_settles_the_credit_note_and_supplier_money_is_left_out():
    refund = {"id": "ref-1", "transaction_type": {"id": "CUSTOMER_REFUND"}, "updated_at": "2025-03-03T10:00:00Z",
              "date": "2025-03-03", "total_amount": "-20.00",
              "allocated_artefacts": [{"artefact": {"id": "cn-1", "$path": "/sales_credit_notes/cn-1"},
                                       "amount": "-20.00"}]}
    supplier = {"id": "sp-1", "transaction_type": {"id": "SUPPLIER_PAYMENT"}, "allocated_artefacts": []}
    [payment] = list(_feed(FakeClient(lists={"contact_payments": [supplier, refund]})).payments_changed(SINCE))
    assert payment.kind is MoneyKind.REFUND
    assert payment.currency == "GBP"  # no currency on the record: what the host has always been told
    assert payment.total == Decimal("-20.00")  # as Sage wrote it
    assert payment.allocations == (Allocation(DocumentKind.SALES_CREDIT_NOTE, "cn-1", Decimal("20.00")),)


def test_a_credit_note_set_against_an_invoice_is_a_credit_allocation():
    allocation = {"id": "al-1", "transaction_type": {"id": "CUSTOMER_ALLOCATION"}, "updated_at": "v1",
                  "date": "2025-03-04", "total_amount": "0",
                  "allocated_artefacts": [
                      {"artefact": {"id": "inv-1", "$path": "/sales_invoices/inv-1"}, "amount": "30.00"},
                      {"artefact": {"id": "cn-1", "$path": "/sales_credit_notes/cn-1"}, "amount": "-30.00"}]}
    client = FakeClient(lists={"contact_allocations": [allocation]},
                        records={("contact_allocations", "al-1"): allocation})
    [listed] = list(_feed(client).allocations_changed(SINCE))
    assert listed.kind is MoneyKind.CREDIT_ALLOCATION and listed.updated_at is None  # "v1" is no time
    assert [(a.kind, a.amount) for a in listed.allocations] == [
        (DocumentKind.SALES_INVOICE, Decimal("30.00")), (DocumentKind.SALES_CREDIT_NOTE, Decimal("30.00"))]
    assert _feed(client).allocation("al-1") == listed


def test_deleted_payments_and_allocations_are_read_by_deleted_since():
    client = FakeClient(deleted={"contact_payments": [{"id": "pay-9", "deleted_at": "2025-03-03T11:00:00Z"}]})
    feed = _feed(client)
    assert list(feed.payments_deleted(SINCE)) == [Removed("pay-9")]
    assert list(feed.allocations_deleted(SINCE)) == []
    assert client.asked == [("contact_payments", {"deleted_since": SINCE}),
                            ("contact_allocations", {"deleted_since": SINCE})]


def test_one_payment_by_id_and_a_supplier_payment_is_not_found():
    client = FakeClient(records={("contact_payments", "pay-1"): RECEIPT_OVER_TWO_INVOICES,
                                 ("contact_payments", "sp-1"): {"id": "sp-1",
                                                                "transaction_type": {"id": "SUPPLIER_PAYMENT"}}})
    assert _feed(client).payment("pay-1").sage_id == "pay-1"
    with pytest.raises(NotFound):
        _feed(client).payment("sp-1")


def test_a_document_balance_lists_what_settled_it_in_sage_order():
    invoice = {"id": "inv-1", "invoice_number": "SI-7", "total_amount": "120.00", "outstanding_amount": "0.00",
               "payments_allocations": [
                   {"amount": "100.00", "contact_payment": {"id": "pay-1"}},
                   {"amount": "-20.00", "contact_allocation": {"id": "al-1"}}]}  # signed, as Sage may
    client = FakeClient(records={("sales_invoices", "inv-1"): invoice})
    assert _feed(client).document(DocumentKind.SALES_INVOICE, "inv-1") == DocumentBalance(
        kind=DocumentKind.SALES_INVOICE, sage_id="inv-1", number="SI-7", total=Decimal("120.00"),
        outstanding=Decimal("0.00"),
        settled_by=(Settlement("pay-1", Decimal("100.00")), Settlement("al-1", Decimal("20.00"), by_allocation=True)))
    assert client.asked == [("sales_invoices/inv-1", {"show_payments_allocations": True})]  # the swagger's switch


def test_items_products_then_services_and_an_item_without_price():
    product = {"id": "p-1", "item_code": "BOLT", "description": "Bolt", "sales_prices": [{"price": "1.50"}],
               "cost_price": "0.40", "sales_tax_rate": {"id": "GB_STANDARD"}, "updated_at": "2025-03-03T09:00:00Z"}
    unpriced = {"id": "p-2", "description": None, "sales_prices": [], "active": False, "updated_at": None}
    service = {"id": "s-1", "item_code": "LABOUR", "sales_rates": [{"rate": "45.00"}],
               "sales_ledger_account": {"id": "4000"}, "updated_at": "2025-03-03T09:00:00Z"}
    client = FakeClient(lists={"products": [product, unpriced], "services": [service]})
    items = list(_feed(client).items_changed(None))
    assert items == [
        RemoteItem(sage_id="p-1", version="2025-03-03T09:00:00Z", item_type=ItemType.PRODUCT, code="BOLT",
                   description="Bolt", sales_price=Decimal("1.50"), purchase_price=Decimal("0.40"),
                   tax_rate_id="GB_STANDARD"),
        RemoteItem(sage_id="p-2", version=None, item_type=ItemType.PRODUCT, code=None, active=False),
        RemoteItem(sage_id="s-1", version="2025-03-03T09:00:00Z", item_type=ItemType.SERVICE, code="LABOUR",
                   sales_price=Decimal("45.00"), sales_ledger_id="4000"),
    ]
    assert [r for r, _ in client.asked] == ["products", "services"]
    assert client.asked[0][1] == {"updated_or_created_since": None, "attributes": "all"}


def test_tax_rates_and_customers():
    rate = {"id": "GB_LOWER", "displayed_as": "Lower 5%", "percentage": "5.00", "is_visible": False,
            "updated_at": "2025-03-03T09:00:00Z"}
    contact = {"id": "c-1", "name": "Acme", "reference": "ACME", "created_at": "2025-03-01T09:00:00Z",
               "updated_at": "2025-03-03T09:00:00Z", "main_contact_person": {"email": "a@acme.test", "mobile": "07"},
               "tax_number": "", "currency": {"id": "GBP"},
               "main_address": {"address_line_1": "1 High St", "city": "Leeds", "region": "Yorks",
                                "postal_code": "LS1", "country": {"id": "GB"}}}
    client = FakeClient(lists={"tax_rates": [rate], "contacts": [contact]})
    feed = _feed(client)
    assert list(feed.tax_rates_changed(SINCE)) == [RemoteTaxRate(
        sage_id="GB_LOWER", version="2025-03-03T09:00:00Z", name="Lower 5%", percentage=Decimal("5.00"), active=False)]
    assert list(feed.customers_changed(SINCE)) == [RemoteCustomer(
        sage_id="c-1", version="2025-03-03T09:00:00Z", created="2025-03-01T09:00:00Z", name="Acme", reference="ACME",
        email="a@acme.test", phone="07", currency="GBP",
        address=RemoteAddress(("1 High St",), "Leeds", "Yorks", "LS1", "GB"))]
    assert client.asked[-1] == ("contacts", {"updated_or_created_since": SINCE, "attributes": "all",
                                             "contact_type_id": "CUSTOMER"})


def test_many_balances_come_from_the_changed_list_a_page_at_a_time_then_one_get_each():
    """A busy poll's invoices: list pages (200 each, just the balance's attributes) while a page
    costs less than the GETs left, then a GET for what the list did not have."""

    changed = [{"id": f"i{n}", "total_amount": "10.00", "outstanding_amount": "5.00", "payments_allocations": []}
               for n in range(1000)]
    client = FakeClient(lists={"sales_invoices": changed},
                        records={("sales_invoices", "old"): changed[0] | {"id": "old"}})
    since = datetime(2025, 3, 3, tzinfo=UTC)

    found = _feed(client).documents(DocumentKind.SALES_INVOICE, ["i10", "i300", "old", "gone"], since)

    assert sorted(found) == ["i10", "i300", "old"] and found["i300"].outstanding == Decimal("5.00")
    (resource, filters), *gets = client.asked
    assert resource == "sales_invoices" and filters["updated_or_created_since"] == since
    assert filters["items_per_page"] == 200 and filters["show_payments_allocations"] is True
    assert "payments_allocations" in filters["attributes"] and filters["attributes"] != "all"
    assert [g for g, _ in gets] == ["sales_invoices/gone", "sales_invoices/old"]
    # One wanted: a GET, no list.
    client.asked.clear()
    assert list(_feed(client).documents(DocumentKind.SALES_INVOICE, ["old"], since)) == ["old"]
    assert [a for a, _ in client.asked] == ["sales_invoices/old"]
