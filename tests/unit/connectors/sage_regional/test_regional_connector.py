"""The regional product's client and connector against the regional sandbox: pacing that never trips
Sage's hour-long block, a 429 that stops the company for an hour, a refused login never tried again,
customers identified by paging (text filters do not work), and an uncertain write found again by the
fields Sage can filter, never sent twice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from local.sandboxes import sage_regional as sr
from local.sandboxes.sage_accounting import SandboxClock
from sagebridge.connectors.base import NotSupported, RateLimited, UncertainWrite
from sagebridge.connectors.sage_regional import mapper
from sagebridge.connectors.sage_regional.client import CompanyGate, LoginFailed, RegionalClient, RegionalLogin
from sagebridge.connectors.sage_regional.connector import RegionalConnector
from sagebridge.domain import DocumentKind

START = "2025-03-03T09:00:00+00:00"
D = Decimal


class World:
    def __init__(self, *, per_second: float = 1.0, password: str = sr.DEFAULT_PASSWORD, **knobs: Any) -> None:
        self.box = sr.SageRegionalSandbox(clock=SandboxClock.frozen_at(START), **knobs)
        self.http = httpx.Client(transport=self.box.sync_transport(), timeout=10)
        self.gate = CompanyGate(1.0 / per_second, clock=self.box.clock.now, sleep=self.sleep)
        self.lost: list[str] = []
        login = RegionalLogin("AU", sr.DEFAULT_USERNAME, password, self.box.lead_company_id)
        self.client = RegionalClient(self.http, base_url=sr.API_BASE_URL, api_key=sr.DEFAULT_API_KEY, login=login,
                                     gate=self.gate, sleep=self.sleep)
        self.client.on_login_failed = lambda: self.lost.append("login")
        self.connector = RegionalConnector(self.client, region="AU")

    def sleep(self, seconds: float) -> None:
        self.box.clock.advance(seconds=seconds)

    def invoice_body(self, reference: str, customer_id: int, on: str = "2025-03-01") -> dict[str, Any]:
        ids = self.box.ids
        return {"CustomerId": customer_id, "Date": f"{on}T00:00:00", "DueDate": "2025-03-31T00:00:00",
                "DocumentNumber": reference, "Reference": reference, "ExternalReference": reference, "Inclusive": False,
                "Lines": [{"LineType": 1, "SelectionId": ids["account_sales"], "TaxTypeId": ids["tax_standard"],
                           "Description": "Labour", "Quantity": D("1"), "UnitPriceExclusive": D("100.00")}]}


def test_a_paced_bulk_read_never_trips_the_block_and_stays_at_one_request_a_second():
    world = World()
    for n in range(250):
        world.box.accountant().add("Customer", Name=f"Customer {n}", Email=f"c{n}@x.example", Active=True)
    started = world.box.clock.now()
    for _ in range(40):  # 40 x 3 pages, and a lookup each: 120+ requests in a row
        world.connector._parties.clear()  # a new run reads the customers again
        assert len(world.connector.find_contacts(email="c249@x.example")) == 1
    minutes = (world.box.clock.now() - started).total_seconds() / 60
    assert world.box.throttled["rate"] == 0  # 0 requests that would have tripped the block
    per_minute = (world.gate.requests - 1) / minutes  # starts one second apart: n requests span n - 1 seconds
    assert world.gate.requests >= 120 and per_minute <= 60.0 + 1e-9  # against Sage's 100 a minute


@pytest.mark.limit_refusals_expected
def test_a_429_stops_the_company_for_an_hour_and_nothing_is_sent_before_then():
    world = World(per_second=2.0)  # 120 a minute: over Sage's limit, as a misconfigured deployment would be
    with pytest.raises(RateLimited) as refused:
        for _ in range(150):
            world.client.page("Customer")
    assert "for an hour" in refused.value.message and refused.value.retry_after == pytest.approx(3600)
    sent = world.box.request_count()
    world.box.clock.advance(minutes=59)
    with pytest.raises(RateLimited, match="sends it nothing until"):
        world.client.page("Customer")
    assert world.box.request_count() == sent  # refused here, not by Sage: the block is not extended
    world.box.clock.advance(minutes=2)
    assert world.client.page("Customer")["TotalResults"] >= 2
    assert world.box.throttled["rate"] == 1


def test_a_refused_login_is_never_tried_again_and_the_product_is_told():
    world = World(password="wrong")
    with pytest.raises(LoginFailed, match="reconnect") as refused:
        world.client.page("Customer")
    assert "for this request. It is not tried again" in refused.value.message  # one full stop, not two
    assert world.lost == ["login"]  # the product marks the connection: nothing tries this login again
    assert sum(len(tries) for tries in world.box.login_guard._failures.values()) == 1  # one attempt, no retry


def test_customers_are_identified_by_paging_since_sage_cannot_filter_text():
    world = World()
    for n in range(130):
        world.box.accountant().add("Customer", Name=f"Customer {n}", Email=f"c{n}@x.example", Active=True)
    found = world.connector.find_contacts(name="  customer 129 ", contact_type="CUSTOMER")
    assert [c.data["Name"] for c in found] == ["Customer 129"]
    assert world.connector.find_contacts(email="C7@X.example")[0].data["Name"] == "Customer 7"
    assert world.connector.find_contacts(name="Customer 1", contact_type="VENDOR") == []
    assert world.box.request_count("Customer", "Get") == 2  # two pages, read once for the run


def test_an_invoice_whose_answer_was_lost_is_found_by_customer_and_date_then_its_external_reference():
    world = World()
    customer = world.box.ids["customer_acme"]
    world.connector.create_document(DocumentKind.SALES_INVOICE, world.invoice_body("INV-1", customer))
    world.box.faults.drop_after_commit(times=1, method="POST", path="/TaxInvoice/Save")
    with pytest.raises(UncertainWrite):
        world.connector.create_document(DocumentKind.SALES_INVOICE, world.invoice_body("INV-2", customer))
    found = world.connector.find_documents_by_reference(DocumentKind.SALES_INVOICE, "INV-2")
    assert [r.reference for r in found] == ["INV-2"] and mapper.remote_total(found[0]) == D("110.00")
    assert mapper.is_same_document(found[0], reference="INV-2", contact_id=str(customer), total=D("110.00"),
                                   on=date(2025, 3, 1))
    assert world.box.accountant().count_by_external_reference()["INV-2"] == 1


def test_a_receipt_sent_again_completes_its_allocation_instead_of_doubling():
    world = World()
    customer = world.box.ids["customer_acme"]
    invoice = world.connector.create_document(DocumentKind.SALES_INVOICE, world.invoice_body("INV-1", customer))
    body = {"receipt": {"CustomerId": customer, "Date": "2025-03-02T00:00:00", "Total": D("110.00"),
                        "BankAccountId": world.box.ids["bank"], "Reference": "R-1", "Description": "Payment R-1"},
            "_allocations": [{"AllocatedToDocumentId": int(invoice.id), "Total": D("110.00")}]}
    world.box.faults.drop_after_commit(times=1, method="POST", path="/CustomerReceipt/Save")
    with pytest.raises(UncertainWrite):
        world.connector.create_payment(body)
    [held] = world.connector.find_documents_by_reference(DocumentKind.CUSTOMER_PAYMENT, "R-1")
    assert not mapper.is_same_document(held, reference="R-1", contact_id=str(customer), total=D("110.00"))
    done = world.connector.create_payment(body)  # the resend
    assert done.id == held.id and mapper.remote_outstanding(done) == D("0")
    receipts = world.box.accountant().list("CustomerReceipt")
    assert len(receipts) == 1 and world.box.accountant().get("TaxInvoice", int(invoice.id))["AmountDue"] == 0


def test_what_the_product_does_not_export_is_declared_and_refused_without_a_request():
    world = World()
    assert set(world.connector.not_exported) == {DocumentKind.CUSTOMER_REFUND}
    assert "refund" in world.connector.not_exported[DocumentKind.CUSTOMER_REFUND]
    with pytest.raises(NotSupported, match="void"):
        world.connector.void_document(DocumentKind.SALES_INVOICE, "1", reason="x")
    assert world.box.request_count() == 0


def test_a_party_made_in_a_run_that_died_before_remembering_it_is_found_not_saved_twice():
    """Found by the conformance storm: the worker killed after Sage answered a customer's Save, before
    its mapping was written; the next run (a new connector) saved the customer again, since the API
    has no idempotency key and no unique reference."""
    world = World()
    body = {"_service": "Customer", "Name": "Killed Run Ltd", "Active": True, "TextField1": "C1a2b3c4"}
    first = world.connector.create_contact(body)

    again = RegionalConnector(world.client, region="AU").create_contact(body)  # the next run's connector

    assert again.id == first.id
    assert [c.get("TextField1") for c in world.box.accountant().list("Customer")].count("C1a2b3c4") == 1
