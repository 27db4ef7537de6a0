"""Every request the Sage 200 connector and feed send, checked against the OpenAPI files in
../shared/specs/sage200: the operation exists, the body validates (strictly: no unknown or read-only
fields), the four headers are there, and the OData rules hold ($top <= 5000, $skip only with
$orderby, datetimes in $filter UTC with Z). The sandbox's answers are checked against the same files."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from local.sandboxes.sage200 import (
    API_BASE_URL,
    API_PATH,
    DEFAULT_SUBSCRIPTION_KEY,
    Sage200Sandbox,
    SandboxClock,
    spec,
)
from sagebridge.connectors.sage200 import mapper
from sagebridge.connectors.sage200.client import Sage200Client, Sage200Connector, site_and_company
from sagebridge.connectors.sage200.feed import Sage200Feed
from sagebridge.domain import MODEL_FOR_KIND, Customer, CustomerPayment, DocumentKind, PartyKind, TenantSettings, Vendor
from sagebridge.domain.remote import MoneyKind
from sagebridge.observability import logger

logger.setLevel("WARNING")
_DATETIME_IN_FILTER = re.compile(r"\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2})?")


class Recorder(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.seen.append((request, response))
        return response


@pytest.fixture
def traffic() -> list[tuple[httpx.Request, httpx.Response]]:
    sandbox = Sage200Sandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    inner = sandbox.sync_transport()
    recorder = Recorder(inner)
    tokens = sandbox.issue_tokens()
    site, company = site_and_company(sandbox.business_id)
    with httpx.Client(transport=recorder) as http:
        client = Sage200Client(http, token_provider=lambda *, rejected=None: tokens["access_token"],
                               subscription_key=DEFAULT_SUBSCRIPTION_KEY, site_id=site, company_id=company,
                               base_url=API_BASE_URL, page_size=2, sleep=lambda s: None)
        _scenario(sandbox, client)
    inner.close()
    return recorder.seen


def _scenario(sandbox: Sage200Sandbox, client: Sage200Client) -> None:
    connector = Sage200Connector(client)
    ids = sandbox.ids
    settings = TenantSettings(provider="sage200", tax_mappings={"S": ids["T1"], "R": ids["T5"]},
                              ledger_mappings={"NORTH": "4100/NTH/WKS"}, default_sales_ledger_account_id="4000",
                              receipt_bank_account_id=ids["bank"])
    client.list_sites()
    assert connector.business_currency() == "GBP"  # currencies: is_base_currency, ISO code expanded
    taxes = mapper.TaxTable.from_records(connector.list_tax_rates())
    connector.list_ledger_accounts()
    connector.list_bank_accounts()
    party = Customer(host_id="C-1", name="O'Brien Motors", email="ap@obrien.example", phone="0113 496 0001",
                     tax_number="GB123456789", address={"lines": ["1 Mill Lane", "Unit 4", "Holbeck", "West"],
                                                        "city": "Leeds", "region": "West Yorkshire",
                                                        "postcode": "LS11 5AA"})
    made = connector.create_contact(mapper.contact_body(party, business_currency="GBP"))
    moved = Customer(host_id="C-1", name="O'Brien Motors (Holbeck)", tax_number="GB123456789",
                     address={"lines": ["2 Canal Wharf"], "city": "Leeds", "postcode": "LS11 5PS"})
    connector.update_contact(made.id, mapper.contact_update_body(moved, business_currency="GBP"))
    connector.find_contacts(reference=made.reference)
    connector.find_contacts(name="O'Brien Motors")
    connector.find_contacts(email="ap@obrien.example")
    posted = {}
    for kind, number in ((DocumentKind.SALES_INVOICE, "INV-1"), (DocumentKind.SALES_CREDIT_NOTE, "CN-1")):
        doc = MODEL_FOR_KIND[kind].model_validate({
            "host_id": number, "number": number, "reference": "PO 7", "party_id": "C-1",
            "document_date": "2025-03-01", "due_date": "2025-03-31", "currency": "GBP", "status": "pending_payment",
            "lines": [{"description": "Labour", "quantity": "2", "unit_price": "60.00", "tax_code": "S"},
                      {"description": "Oil", "quantity": "1", "unit_price": "20.00", "tax_code": "R",
                       "ledger_code": "NORTH"}],
            "totals": {"net": "140.00", "tax": "25.00", "total": "165.00"},
        })
        body = mapper.document_body(doc, contact_id=made.id, settings=settings, taxes=taxes,
                                    business_currency="GBP").body
        posted[kind] = connector.create_document(kind, body)
        connector.find_documents_by_reference(kind, number)
    # The credit note offsets part of the invoice: the receipt is the money that moved (165 - 20).
    payment = CustomerPayment(host_id="PAY-1", party_id="C-1", payment_date=date(2025, 3, 2), amount=Decimal("145"),
                              currency="GBP", reference="BACS 1", allocations=[
                                  {"kind": "sales_invoice", "host_id": "INV-1", "amount": "165.00"},
                                  {"kind": "sales_credit_note", "host_id": "CN-1", "amount": "20.00"}])
    body = mapper.payment_body(payment, contact_id=made.id, allocations=[
        (DocumentKind.SALES_INVOICE, posted[DocumentKind.SALES_INVOICE].id, Decimal("165.00")),
        (DocumentKind.SALES_CREDIT_NOTE, posted[DocumentKind.SALES_CREDIT_NOTE].id, Decimal("20.00"))],
        bank_account_id=ids["bank"], settings=settings, business_currency="GBP")
    receipt = connector.create_payment(body)
    list(connector.list_documents(DocumentKind.SALES_INVOICE, from_date=date(2025, 1, 1), to_date=date(2025, 12, 31)))
    since = datetime(2025, 3, 1, tzinfo=UTC)
    list(connector.payments_changed_since(since))
    feed = Sage200Feed(client)
    for changed in (feed.payments_changed, feed.allocations_changed, feed.items_changed, feed.tax_rates_changed,
                    feed.customers_changed):
        list(changed(since))
    feed.document(DocumentKind.SALES_INVOICE, posted[DocumentKind.SALES_INVOICE].id)
    # One receipt by id (money on a document linked going live), read as `payments_changed` lists it.
    money = feed.payment(receipt.id)
    assert money.kind is MoneyKind.RECEIPT
    assert posted[DocumentKind.SALES_INVOICE].id in {a.document_id for a in money.allocations}
    _purchases(connector, settings, taxes)


def _purchases(connector: Sage200Connector, settings: TenantSettings, taxes: mapper.TaxTable) -> None:
    """A supplier (created, updated, found three ways) and a purchase invoice, as the mapper builds them."""
    supplier = Vendor(host_id="V-1", name="Bolt & Nut Ltd", email="ap@bolt.example", phone="01482 000111",
                      tax_number="GB999888777",
                      address={"lines": ["2 Dock Road"], "city": "Hull", "postcode": "HU1 2AB"})
    made = connector.create_contact(mapper.contact_body(supplier, business_currency="GBP"))
    connector.update_contact(made.id, mapper.contact_update_body(supplier.model_copy(update={"name": "Bolt Ltd"}),
                                                                 business_currency="GBP"))
    kind = mapper.CONTACT_TYPE[PartyKind.VENDOR]
    assert [r.id for r in connector.find_contacts(reference=made.reference, contact_type=kind)] == [made.id]
    assert [r.id for r in connector.find_contacts(name="Bolt Ltd", contact_type=kind)] == [made.id]
    assert [r.id for r in connector.find_contacts(email="ap@bolt.example", contact_type=kind)] == [made.id]
    bill = MODEL_FOR_KIND[DocumentKind.PURCHASE_INVOICE].model_validate({
        "host_id": "PI-1", "number": "PI-1", "reference": "SUP-INV-88", "party_id": "V-1",
        "document_date": "2025-03-01", "due_date": "2025-03-31", "currency": "GBP", "status": "pending_payment",
        "lines": [{"description": "Discs", "quantity": "2", "unit_price": "60.00", "tax_code": "S"},
                  {"description": "Oil", "quantity": "1", "unit_price": "20.00", "tax_code": "R",
                   "ledger_code": "NORTH"}],
        "totals": {"net": "140.00", "tax": "25.00", "total": "165.00"},
    })
    body = mapper.document_body(bill, contact_id=made.id, settings=settings.model_copy(
        update={"default_purchase_ledger_account_id": "5000"}), taxes=taxes, business_currency="GBP").body
    posted = connector.create_document(DocumentKind.PURCHASE_INVOICE, body)
    assert [r.id for r in connector.find_documents_by_reference(DocumentKind.PURCHASE_INVOICE, "PI-1")] == [posted.id]
    assert mapper.remote_kind(connector.get_document(DocumentKind.PURCHASE_INVOICE, posted.id)) is \
        DocumentKind.PURCHASE_INVOICE
    list(connector.list_documents(DocumentKind.PURCHASE_INVOICE, from_date=date(2025, 1, 1)))
    note = MODEL_FOR_KIND[DocumentKind.PURCHASE_CREDIT_NOTE].model_validate({
        "host_id": "PCN-1", "number": "PCN-1", "party_id": "V-1", "document_date": "2025-03-02", "currency": "GBP",
        "status": "pending_payment", "lines": [{"description": "Returned discs", "unit_price": "10.00",
                                                 "tax_code": "S"}],
        "totals": {"net": "10.00", "tax": "2.00", "total": "12.00"}})
    body = mapper.document_body(note, contact_id=made.id, settings=settings.model_copy(
        update={"default_purchase_ledger_account_id": "5000"}), taxes=taxes, business_currency="GBP").body
    credited = connector.create_document(DocumentKind.PURCHASE_CREDIT_NOTE, body)
    assert [r.id for r in connector.find_documents_by_reference(DocumentKind.PURCHASE_CREDIT_NOTE, "PCN-1")] == [
        credited.id]


def _relative(request: httpx.Request) -> str:
    path = request.url.path
    assert path.startswith(API_PATH + "/"), path
    return path[len(API_PATH) + 1:]


def test_every_request_is_an_operation_with_a_valid_body_and_the_headers(traffic):
    assert len(traffic) > 25
    posted, put = set(), set()
    for request, response in traffic:
        path = _relative(request)
        assert response.status_code < 400, (request.method, path, response.text)
        assert spec.operation(request.method, path) is not None, (request.method, path)  # products: stock.json
        if request.method == "GET" and spec.list_fields(path) is not None:
            assert spec.validate_query(path, dict(request.url.params)) == [], (path, request.url.params)
        assert request.headers["ocp-apim-subscription-key"] == DEFAULT_SUBSCRIPTION_KEY
        assert request.headers["authorization"].startswith("Bearer ")
        if path != "sites":
            assert request.headers["x-site"] and request.headers["x-company"]
        if request.method == "POST":
            posted.add(path)
            body = json.loads(request.content, parse_float=Decimal)
            assert spec.validate_request("POST", path, body) == [], (path, body)
        if request.method == "PUT":
            put.add(path.split("/")[0])
            body = json.loads(request.content, parse_float=Decimal)
            assert spec.validate_request("PUT", path, body) == [], (path, body)
        params = dict(request.url.params)
        assert int(params.get("$top", 500)) <= 5000
        assert "$skip" not in params or params.get("$orderby")
        for stamp in _DATETIME_IN_FILTER.findall(params.get("$filter", "")):
            assert stamp == "Z", params["$filter"]
    assert posted == {"customers", "sales_invoices", "sales_credit_notes", "sales_receipts", "sales_allocations",
                      "suppliers", "purchase_invoices", "purchase_credit_notes"}
    assert put == {"customers", "suppliers"}


def test_the_sandbox_answers_as_the_specs_describe(traffic):
    for request, response in traffic:
        path = _relative(request)
        problems = spec.validate_response(request.method, path, response.json(), response.status_code)
        assert problems == [], (request.method, path, problems[:3])


def test_the_sandbox_refuses_what_sage_200_refuses() -> None:
    assert spec.validate_request("POST", "sales_invoices", {"customer_id": 1, "reference": "X" * 21})
    assert spec.validate_request("POST", "customers", {"name": "A", "reference": "A", "balance": 1})  # read-only
    assert spec.validate_request("POST", "sales_receipts", {"customer_id": 1}) != []  # bank_id, cheque_value
    assert spec.validate_request("POST", "suppliers", {"name": "A"}) != []  # reference
    assert spec.validate_request("POST", "purchase_invoices", {"customer_id": 1}) != []  # supplier_id
    nullable = spec._nullable({"type": "string", "nullable": True})
    assert nullable == {"type": ["string", "null"]}

