"""What the payment poller reads back from the regional API: receipts the accountant records in Sage,
with the invoices they are allocated to (paid, part paid), polled on Created/Modified; a document's
balance and what settled it; tax types and customers for the catalog."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sagebridge.connectors.sage_regional.feed import RegionalFeed
from sagebridge.connectors.sage_regional.product import RegionalLoginRefused, parse_company
from sagebridge.domain import DocumentKind
from sagebridge.domain.remote import MoneyKind

from .test_regional_connector import World

D = Decimal


def _invoices(world: World) -> tuple[int, int]:
    customer = world.box.ids["customer_acme"]
    one = world.connector.create_document(DocumentKind.SALES_INVOICE, world.invoice_body("INV-1", customer))
    two = world.connector.create_document(DocumentKind.SALES_INVOICE, world.invoice_body("INV-2", customer))
    return int(one.id), int(two.id)


def test_receipts_recorded_in_sage_come_back_with_their_allocations_once_changed_since_the_cursor():
    world = World()
    one, two = _invoices(world)
    feed = RegionalFeed(world.connector)
    cursor = world.box.clock.now()
    assert list(feed.payments_changed(cursor)) == []
    world.box.clock.advance(minutes=1)
    books = world.box.accountant()
    books.record_receipt(one)  # 110.00: paid
    books.record_receipt(two, "50.00")  # part paid
    got = {p.allocations[0].document_id: p for p in feed.payments_changed(cursor)}
    assert {k: (p.kind, p.total, p.allocations[0].amount, p.currency) for k, p in got.items()} == {
        str(one): (MoneyKind.RECEIPT, D("110.00"), D("110.00"), "AUD"),
        str(two): (MoneyKind.RECEIPT, D("50.00"), D("50.00"), "AUD")}
    assert all(p.version and p.version.endswith("+00:00") for p in got.values())  # a stamp the poller orders
    balance = feed.document(DocumentKind.SALES_INVOICE, str(two))
    assert (balance.total, balance.outstanding, balance.number) == (D("110.00"), D("60.00"), "INV-2")
    assert [(s.amount, s.by_allocation) for s in balance.settled_by] == [(D("50.00"), False)]
    world.box.clock.advance(minutes=5)
    assert list(feed.payments_changed(world.box.clock.now().astimezone(UTC))) == []


def test_many_balances_ask_which_sources_are_receipts_only_of_those_the_poll_did_not_list():
    world = World()
    one, two = _invoices(world)
    books = world.box.accountant()
    books.record_receipt(two, "10.00")  # before the window: not listed by this poll
    world.box.clock.advance(minutes=1)
    cursor = world.box.clock.now()
    world.box.clock.advance(minutes=1)
    books.record_receipt(one, "50.00")
    books.record_receipt(two, "20.00")
    feed = RegionalFeed(world.connector)
    listed = list(feed.payments_changed(cursor))
    assert len(listed) == 2
    before = len(world.box.request_log)
    balances = feed.documents(DocumentKind.SALES_INVOICE, [str(one), str(two)], cursor)
    asked = [service for service, *_ in list(world.box.request_log)[before:]]
    assert asked == ["TaxInvoice", "Allocation", "CustomerReceipt"]  # the one receipt it did not list
    assert balances == {str(i): feed.document(DocumentKind.SALES_INVOICE, str(i)) for i in (one, two)}
    assert [(s.amount, s.by_allocation) for s in balances[str(two)].settled_by] == [
        (D("10.00"), False), (D("20.00"), False)]
    before = len(world.box.request_log)
    feed.documents(DocumentKind.SALES_INVOICE, [str(one)], cursor)
    assert [service for service, *_ in list(world.box.request_log)[before:]] == ["TaxInvoice", "Allocation"]


def test_tax_types_and_customers_are_read_for_the_catalog():
    world = World()
    feed = RegionalFeed(world.connector)
    rates = {r.name: r.percentage for r in feed.tax_rates_changed(None)}
    assert rates["GST"] == D("10") and rates["GST Free"] == D("0")
    names = {c.name for c in feed.customers_changed(None)}
    assert {"Acme Fleet Services", "Brown & Daughters"} <= names
    assert list(feed.customers_changed(datetime(2030, 1, 1, tzinfo=UTC))) == []


def test_the_region_and_company_are_read_from_the_login_s_company_id():
    assert parse_company("au", None) == ("AU", None)
    assert parse_company("ZA:1234", None) == ("ZA", 1234)
    assert parse_company("NZ", "77") == ("NZ", 77)
    with pytest.raises(RegionalLoginRefused, match="AU, NZ, ZA, ASIA"):
        parse_company("UK", None)
    with pytest.raises(RegionalLoginRefused, match="whole number"):
        parse_company("AU:acme", None)
