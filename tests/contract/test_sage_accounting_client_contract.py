"""Every request body SageAccountingClient sends validates against the v3.1 swagger definitions
(through the sandbox's spec module), and the sandbox accepts them. Money goes out as Decimal."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import httpx
import pytest

from local.sandboxes.sage_accounting import VirtualSeconds, spec
from local.sandboxes.sage_accounting.app import API_BASE_URL, SageAccountingSandbox
from local.sandboxes.sage_accounting.clock import SandboxClock
from sagebridge.connectors.base import RateLimited
from sagebridge.connectors.sage_accounting.client import (
    RequestPacer,
    SageAccountingClient,
    SageAccountingConnector,
    loads,
)
from sagebridge.domain.kinds import DocumentKind


class Recorder(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        if body:
            self.sent.append((request.method, request.url.path, loads(body)))
        return self.inner.handle_request(request)


@pytest.fixture
def sage():
    sandbox = SageAccountingSandbox.single_business(clock=SandboxClock.frozen_at())
    token = sandbox.issue_tokens()["access_token"]
    recorder = Recorder(sandbox.sync_transport())
    client = SageAccountingClient(httpx.Client(transport=recorder), token_provider=lambda *, rejected=None: token,
                                  business_id=sandbox.lead_business_id, base_url=API_BASE_URL, sleep=lambda s: None)
    return sandbox, client, recorder


def line(ids, ledger="4000", net=Decimal("100.00"), rate="GB_STANDARD", tax=Decimal("20.00")) -> dict[str, Any]:
    return {"description": "Service visit", "ledger_account_id": ids[ledger], "quantity": Decimal("1"),
            "unit_price": net, "tax_rate_id": rate, "tax_amount": tax}


def operation_id(method: str, path: str) -> str:
    """POST /v3.1/sales_invoices -> postSalesInvoices; PUT /v3.1/contacts/abc -> putContactsKey."""
    parts = path.removeprefix("/v3.1/").split("/")
    camel = "".join(p.title() for p in parts[0].split("_"))
    return f"{method.lower()}{camel}{'Key' if len(parts) > 1 else ''}"


def test_every_body_the_client_sends_matches_the_swagger(sage):
    sandbox, client, recorder = sage
    ids = sandbox.ids
    connector = SageAccountingConnector(client)

    customer = connector.create_contact({"name": "Fernhill Autos", "contact_type_ids": ["CUSTOMER"],
                                         "reference": "FERN01"},
                                        idempotency_key="0" * 64)
    client.update("contacts", customer.id, {"name": "Fernhill Autos Ltd"})
    invoice = connector.create_document(DocumentKind.SALES_INVOICE, {
        "contact_id": customer.id, "date": "2025-03-01", "reference": "INV-1001",
        "invoice_lines": [line(ids)]}, idempotency_key="a" * 64)
    assert invoice.data["total_amount"] == Decimal("120.00")
    connector.update_document(DocumentKind.SALES_INVOICE, invoice.id, {"notes": "Thanks"})
    credit = connector.create_document(DocumentKind.SALES_CREDIT_NOTE, {
        "contact_id": customer.id, "date": "2025-03-02", "reference": "CN-1001",
        "credit_note_lines": [line(ids, net=Decimal("10.00"), tax=Decimal("2.00"))]}, idempotency_key="b" * 64)
    connector.create_document(DocumentKind.PURCHASE_INVOICE, {
        "contact_id": ids["DUNMORE"], "date": "2025-03-01", "due_date": "2025-03-31", "reference": "PINV-1",
        "vendor_reference": "D-77", "invoice_lines": [line(ids, ledger="5000")]}, idempotency_key="c" * 64)
    connector.create_document(DocumentKind.PURCHASE_CREDIT_NOTE, {
        "contact_id": ids["DUNMORE"], "date": "2025-03-02", "reference": "PCN-1",
        "credit_note_lines": [line(ids, ledger="5000", net=Decimal("5.00"), tax=Decimal("1.00"))]},
        idempotency_key="d" * 64)
    connector.create_payment({
        "transaction_type_id": "CUSTOMER_RECEIPT", "contact_id": customer.id, "bank_account_id": ids["bank"],
        "date": "2025-03-05", "total_amount": Decimal("50.00"),
        "allocated_artefacts": [{"artefact_id": invoice.id, "amount": Decimal("50.00")}]}, idempotency_key="e" * 64)
    connector.create_allocation({
        "transaction_type_id": "CUSTOMER_ALLOCATION", "contact_id": customer.id, "date": "2025-03-06",
        "allocated_artefacts": [{"artefact_id": invoice.id, "amount": Decimal("12.00")},
                                {"artefact_id": credit.id, "amount": Decimal("-12.00")}]}, idempotency_key="f" * 64)

    assert len(recorder.sent) == 9
    for method, path, body in recorder.sent:
        errors = spec.validate_request_body(operation_id(method, path), body)
        assert errors == [], (method, path, errors)
    # Money left as exact decimals, and every create carried an idempotency id.
    creates = [b for m, _, b in recorder.sent if m == "POST"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", next(iter(b.values()))["idempotency_id"]) for b in creates)


def test_an_idempotent_replay_returns_the_first_record(sage):
    sandbox, client, _ = sage
    body = {"name": "Once Only Ltd", "contact_type_ids": ["CUSTOMER"]}
    first = client.create("contacts", body, idempotency_id="1" * 32)
    second = client.create("contacts", body, idempotency_id="1" * 32)
    assert first["id"] == second["id"] and sandbox.created_count("contacts") == 1


def test_reads_used_by_the_engines(sage):
    sandbox, client, _ = sage
    connector = SageAccountingConnector(client)
    assert {r.id for r in connector.list_tax_rates()} >= {"GB_STANDARD"}
    assert connector.list_bank_accounts() and connector.list_ledger_accounts()
    found = connector.find_contacts(reference="ACME001")
    assert [c.reference for c in found] == ["ACME001"]
    connector.create_document(DocumentKind.SALES_INVOICE, {
        "contact_id": sandbox.ids["ACME001"], "date": "2025-03-01", "reference": "INV-77",
        "invoice_lines": [line(sandbox.ids)]})
    found_docs = connector.find_documents_by_reference(DocumentKind.SALES_INVOICE, "INV-77")
    assert [d.reference for d in found_docs] == ["INV-77"]
    assert client.list_businesses()[0]["id"] == sandbox.lead_business_id


def test_business_currency_is_one_get_of_financial_settings_as_the_swagger_describes():
    sandbox = SageAccountingSandbox.single_business(clock=SandboxClock.frozen_at(), base_currency="EUR")
    token = sandbox.issue_tokens()["access_token"]
    seen: list[tuple[httpx.Request, httpx.Response]] = []

    class Seen(httpx.BaseTransport):
        def __init__(self, inner: httpx.BaseTransport) -> None:
            self.inner = inner

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = self.inner.handle_request(request)
            response.read()
            seen.append((request, response))
            return response

    client = SageAccountingClient(httpx.Client(transport=Seen(sandbox.sync_transport())),
                                  token_provider=lambda *, rejected=None: token,
                                  business_id=sandbox.lead_business_id, base_url=API_BASE_URL, sleep=lambda s: None)

    assert SageAccountingConnector(client).business_currency() == "EUR"

    [(request, response)] = seen
    assert (request.method, spec.path_template(request.url.path)) == ("GET", "/financial_settings")
    assert not request.url.params and request.headers["x-business"] == sandbox.lead_business_id
    assert "GET /financial_settings" in spec._operations()  # getFinancialSettings: no parameters
    assert spec.validate_response(request.url.path, "GET", 200, loads(response.content)) == []
    assert loads(response.content)["base_currency"]["id"] == "EUR"


def _limited(per_minute: int, **client_options: Any) -> tuple[SageAccountingSandbox, SageAccountingClient, Any]:
    """A sandbox whose per-minute limit counts virtual seconds that the client's sleeps move on."""
    elapsed = VirtualSeconds()
    sandbox = SageAccountingSandbox.single_business(clock=SandboxClock.frozen_at(), rate_limit_per_minute=per_minute,
                                                    rate_limit_seconds=elapsed)
    token = sandbox.issue_tokens()["access_token"]
    client = SageAccountingClient(httpx.Client(transport=sandbox.sync_transport()),
                                  token_provider=lambda *, rejected=None: token, business_id=sandbox.lead_business_id,
                                  base_url=API_BASE_URL, sleep=elapsed.sleep, jitter=lambda: 1.0, **client_options)
    return sandbox, client, elapsed


@pytest.mark.limit_refusals_expected
def test_the_client_waits_out_the_sandboxs_429_without_retry_after_and_gets_through():
    sandbox, client, elapsed = _limited(3)
    for _ in range(3):
        client.list("tax_rates")
    client.list("tax_rates")  # refused until the minute is over: waits 5, 10, 20, 40 s, then through
    assert elapsed() == 75.0
    assert [status for *_, status in sandbox.request_log][-5:] == [429, 429, 429, 429, 200]


@pytest.mark.limit_refusals_expected
def test_the_client_gives_up_on_a_429_without_retry_after_as_rate_limited():
    _, client, _ = _limited(1, max_attempts=3)
    client.list("tax_rates")
    with pytest.raises(RateLimited) as err:
        client.list("tax_rates")  # 5 s + 10 s is not a minute: the job is rescheduled instead
    assert err.value.retry_after is None


def test_a_paced_client_stays_under_the_sandboxs_limit_without_a_single_429():
    elapsed = VirtualSeconds()
    sandbox = SageAccountingSandbox.single_business(clock=SandboxClock.frozen_at(), rate_limit_seconds=elapsed)
    token = sandbox.issue_tokens()["access_token"]
    client = SageAccountingClient(httpx.Client(transport=sandbox.sync_transport()),
                                  token_provider=lambda *, rejected=None: token, business_id=sandbox.lead_business_id,
                                  base_url=API_BASE_URL, sleep=elapsed.sleep,
                                  pacer=RequestPacer(200, clock=elapsed, sleep=elapsed.sleep))
    for _ in range(450):
        client.get("tax_rates", "GB_STANDARD")
    assert {status for *_, status in sandbox.request_log} == {200}
    assert 120 < elapsed() < 125  # 196 at once, the next 196 a window later, and so on
