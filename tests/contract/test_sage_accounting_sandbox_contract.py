"""The Sage Accounting sandbox against the published v3.1 swagger.

Every response the sandbox gives in these scenarios is checked with ``spec.validate_response``;
request validation is checked to answer 422 with Sage's error array. The same ``spec`` module is
what contract tests of our connector use on the requests it sends.
"""

from __future__ import annotations

import json

import httpx
import pytest
import pytest_socket

from local.sandboxes.sage_accounting import API_BASE_URL, SageAccountingSandbox, SandboxClock, spec
from local.sandboxes.sage_accounting import examples as ex


@pytest.fixture(autouse=True)
def _no_network():
    pytest_socket.disable_socket(allow_unix_socket=True)  # the event loop's self-pipe only
    yield
    pytest_socket.enable_socket()


@pytest.fixture
def sandbox() -> SageAccountingSandbox:
    return SageAccountingSandbox(clock=SandboxClock.frozen_at())


@pytest.fixture
def checked(sandbox):
    """An API client whose every response is validated against the swagger (problems collected)."""
    problems: list[str] = []
    seen: list[str] = []

    def check(response: httpx.Response) -> None:
        response.read()
        body = json.loads(response.content) if response.content else None
        path = response.request.url.path
        seen.append(f"{response.request.method} {spec.path_template(path)} {response.status_code}")
        for problem in spec.validate_response(path, response.request.method, response.status_code, body):
            problems.append(f"{response.request.method} {path} {response.status_code}: {problem}")

    token = sandbox.issue_tokens()["access_token"]
    client = httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL,
                          headers={"Authorization": f"Bearer {token}", "X-Business": sandbox.lead_business_id},
                          event_hooks={"response": [check]})
    client.problems = problems  # type: ignore[attr-defined]
    client.seen = seen  # type: ignore[attr-defined]
    yield client
    client.close()


def created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


def test_every_resource_round_trip_matches_the_swagger(checked, sandbox):
    ids = sandbox.ids
    api = checked
    contact = created(api.post("/contacts", json=ex.customer(
        "Fernhill Autos", "FERN01", main_address={"address_line_1": "2 Mill Lane", "city": "York",
                                                  "postal_code": "YO1 7HH", "country_id": "GB"},
        main_contact_person={"name": "Jo Fern", "email": "jo@fernhill.example"})))
    api.put(f"/contacts/{contact['id']}", json={"contact": {"notes": "Pays by BACS"}})
    api.get(f"/contacts/{contact['id']}", params={"show_balance": "true"})
    product = created(api.post("/products", json={"product": {
        "item_code": "PAD-01", "description": "Brake pads", "sales_ledger_account_id": ids["4000"],
        "purchase_ledger_account_id": ids["5000"], "cost_price": 12.5}}))
    service = created(api.post("/services", json={"service": {
        "item_code": "LAB-1", "description": "Labour", "sales_ledger_account_id": ids["4010"]}}))
    created(api.post("/tax_rates", json={"tax_rate": {"name": "Custom", "agency": "HMRC"}}))
    created(api.post("/ledger_accounts", json={"ledger_account": {
        "ledger_account_type_id": "SALES", "included_in_chart": True, "name": "Sales Type C",
        "display_name": "Sales Type C", "nominal_code": 4020}}))
    created(api.post("/bank_accounts", json={"bank_account": {
        "bank_account_type_id": "SAVINGS", "bank_account_details": {"account_name": "Reserve"}}}))
    invoice = created(api.post("/sales_invoices", json=ex.sales_invoice(ids, lines=[
        ex.invoice_line(ids, 40.0, 2, product_id=product["id"]),
        ex.invoice_line(ids, 55.0, 1, ledger="4010", service_id=service["id"])])))
    api.put(f"/sales_invoices/{invoice['id']}", json={"sales_invoice": {"notes": "Thanks"}})
    note = created(api.post("/sales_credit_notes", json=ex.sales_credit_note(ids)))
    allocation = created(api.post("/contact_allocations", json={"contact_allocation": {
        "transaction_type_id": "CUSTOMER_ALLOCATION", "contact_id": ids["ACME001"],
        "allocated_artefacts": [{"artefact_id": invoice["id"], "amount": 120.0},
                                {"artefact_id": note["id"], "amount": -120.0}]}}))
    payment = created(api.post("/contact_payments", json=ex.customer_receipt(ids, [(invoice["id"], 34.0)])))
    api.put(f"/contact_payments/{payment['id']}", json={"contact_payment": {"reference": "BACS 7"}})
    bill = created(api.post("/purchase_invoices", json=ex.purchase_invoice(ids)))
    created(api.post("/purchase_credit_notes", json=ex.purchase_credit_note(ids)))
    created(api.post("/contact_payments", json={"contact_payment": {
        "transaction_type_id": "VENDOR_PAYMENT", "contact_id": ids["DUNMORE"], "bank_account_id": ids["bank"],
        "date": "2025-03-04", "total_amount": 150.0,
        "allocated_artefacts": [{"artefact_id": bill["id"], "amount": 120.0}],
        "payment_on_account": {"total_amount": 30.0}}}))
    for collection in spec_collections():
        listing = api.get(f"/{collection}", params={"attributes": "all", "items_per_page": 200}).json()
        for item in listing["$items"][:3]:
            api.get(f"/{collection}/{item['id']}")
        api.get(f"/{collection}")
    api.get("/sales_invoices", params={"page": 99, "search": "INV"})
    api.get("/contact_payments", params={"deleted_since": "2025-01-01T00:00:00Z", "attributes": "all"})
    api.get("/businesses")
    api.get(f"/businesses/{sandbox.lead_business_id}")
    api.get("/businesses/lead")
    api.get("/user")
    api.delete(f"/contact_allocations/{allocation['id']}")
    api.delete(f"/contact_payments/{payment['id']}")
    api.delete(f"/sales_invoices/{invoice['id']}", params={"void_reason": "Duplicate"})
    api.delete(f"/products/{product['id']}")
    api.get("/contact_allocations", params={"deleted_since": "2025-01-01T00:00:00Z", "attributes": "all"})
    api.get("/sales_invoices/does-not-exist")
    api.post("/sales_invoices", json={"sales_invoice": {"date": "2025-03-01"}})
    assert api.problems == []
    # Sanity: the scenario really covered all verbs, including errors.
    kinds = {s.split(" ")[0] + " " + s.split(" ")[-1] for s in api.seen}
    assert {"GET 200", "POST 201", "PUT 200", "DELETE 204", "DELETE 200", "GET 404", "POST 422"} <= kinds
    assert len(api.seen) > 60


def spec_collections() -> list[str]:
    return ["contacts", "sales_invoices", "sales_credit_notes", "purchase_invoices", "purchase_credit_notes",
            "contact_payments", "contact_allocations", "tax_rates", "ledger_accounts", "bank_accounts",
            "products", "services", "artefact_statuses"]


def test_unknown_and_missing_fields_give_422_with_sages_error_array(checked, sandbox):
    body = ex.sales_invoice(sandbox.ids)
    del body["sales_invoice"]["contact_id"]
    body["sales_invoice"]["colour"] = "blue"
    body["sales_invoice"]["invoice_lines"][0]["vat"] = 1
    response = checked.post("/sales_invoices", json=body)
    assert response.status_code == 422
    errors = response.json()
    assert spec.validate_response("/sales_invoices", "POST", 422, errors) == []
    assert {(e["$dataCode"], e["$source"]) for e in errors} == {
        ("RecordInvalid", "contact_id"), ("RecordInvalid", "colour"), ("RecordInvalid", "vat")}
    assert checked.problems == []


def test_unwrapped_body_is_refused(checked, sandbox):
    response = checked.post("/contacts", json={"name": "Bare Ltd", "contact_type_ids": ["CUSTOMER"]})
    assert response.status_code == 422
    assert {e["$source"] for e in response.json()} >= {"contact", "name"}


def test_validate_request_body_for_client_contract_tests():
    ids = {"ACME001": "c", "4000": "l", "bank": "b"}
    assert spec.validate_request_body("postSalesInvoices", ex.sales_invoice(ids)) == []
    # idempotency_id is not in the swagger but Sage takes it in the resource body.
    assert spec.validate_request_body("POST /sales_invoices", ex.sales_invoice(ids, idempotency_id="ab" * 16)) == []
    wrong_type = spec.validate_request_body("postContacts", {"contact": {"name": 7, "contact_type_ids": ["CUSTOMER"]}})
    assert [(e["$source"], e["$dataCode"]) for e in wrong_type] == [("name", "RecordInvalid")]
    bad_date = spec.validate_request_body("postSalesInvoices", ex.sales_invoice(ids, date="03/01/2025"))
    assert [e["$source"] for e in bad_date] == ["date"]


def test_validate_response_catches_what_sage_would_not_send():
    good = {"id": "x", "displayed_as": "SI-1", "$path": "/sales_invoices/x", "total_amount": 12.5, "due_date": None}
    assert spec.validate_response("/v3.1/sales_invoices/x", "GET", 200, good) == []
    assert spec.validate_response("/v3.1/sales_invoices/x", "GET", 200, good | {"total_amount": "12.50"})
    assert spec.validate_response("/v3.1/sales_invoices/x", "GET", 200, good | {"surprise": 1})
    envelope = {"$total": 1, "$page": 1, "$next": None, "$back": None, "$itemsPerPage": 20, "$items": [good]}
    assert spec.validate_response("/v3.1/sales_invoices", "GET", 200, envelope) == []
    assert spec.validate_response("/v3.1/sales_invoices", "GET", 200, envelope | {"$extra": 1})
    assert spec.validate_response("/v3.1/sales_invoices", "GET", 200, [good]) == []
    assert spec.validate_response("/v3.1/sales_invoices", "GET", 500, [{"$message": "x"}])
    assert spec.validate_response("/v3.1/no_such_thing", "GET", 200, {})
    # The live server accepts document references longer than the swagger's 25.
    assert spec.validate_response("/v3.1/sales_invoices/x", "GET", 200, good | {"reference": "R" * 40}) == []
