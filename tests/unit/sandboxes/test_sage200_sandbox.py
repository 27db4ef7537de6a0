"""The Sage 200 sandbox answering as Sage 200 documents: `$filter` functions and dates, error bodies,
token lifetimes on the sandbox clock, and validation against the stock and purchases specs."""

from __future__ import annotations

import httpx
import pytest

from local.sandboxes.sage200 import API_BASE_URL, DEFAULT_SUBSCRIPTION_KEY, Sage200Sandbox, SandboxClock
from sagebridge.connectors.sage200.client import site_and_company


@pytest.fixture
def sandbox() -> Sage200Sandbox:
    return Sage200Sandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))


@pytest.fixture
def api(sandbox: Sage200Sandbox):
    token = sandbox.issue_tokens()["access_token"]
    site, company = site_and_company(sandbox.business_id)
    headers = {"Ocp-Apim-Subscription-Key": DEFAULT_SUBSCRIPTION_KEY, "Authorization": f"Bearer {token}",
               "X-Site": site, "X-Company": company}
    transport = sandbox.sync_transport()
    with httpx.Client(transport=transport, base_url=API_BASE_URL, headers=headers) as http:
        yield http
    transport.close()


def _names(api: httpx.Client, flt: str) -> list[str]:
    answer = api.get("/customers", params={"$filter": flt, "$orderby": "name"})
    assert answer.status_code == 200, answer.text
    return [c["name"] for c in answer.json()]


# ---- $filter (developer.sage.com/200/guides/query-parameters)

def test_the_documented_string_functions_filter(api):
    assert _names(api, "contains(name, 'Fleet')") == ["Acme Fleet Services Ltd"]
    assert _names(api, "startswith(reference, 'BRO')") == ["Brown & Daughters"]
    assert _names(api, "endswith(name, 'Ltd')") == ["Acme Fleet Services Ltd"]
    assert _names(api, "contains(name, 'Fleet') eq false") == ["Brown & Daughters"]
    assert _names(api, "contains(name, 'Fleet') ne true or reference eq 'ACME001'") == [
        "Acme Fleet Services Ltd", "Brown & Daughters"]
    assert _names(api, "contains(name, 'O''Brien')") == []


def test_a_date_without_a_time_filters_from_midnight_utc(api, sandbox):
    assert len(_names(api, "date_time_created ge 2025-03-03")) == 2
    assert _names(api, "date_time_created gt 2025-03-04") == []


@pytest.mark.parametrize(("flt", "words"), [
    ("substringof('Fleet', name)", "the function 'substringof' is not supported"),
    ("tolower(name) eq 'acme'", "the function 'tolower' is not supported"),
    ("not contains(name, 'Fleet')", "'not' is not supported"),
    ("reference in ('ACME001', 'BROWN01')", "'in' is not supported"),
    ("contains(name, Fleet)", "contains takes a field and a quoted text"),
    ("contains(nope, 'x')", "unknown field 'nope'"),
    ("contains(name, 'x') eq 'yes'", "can only be compared with true or false"),
])
def test_what_sage_does_not_document_is_refused_naming_what_is(api, flt, words):
    answer = api.get("/customers", params={"$filter": flt})
    assert answer.status_code == 400
    assert words in answer.text


# ---- errors

def test_an_error_is_a_status_and_one_message_about_the_first_problem(api):
    answer = api.post("/customers", json={"name": "Twin", "reference": "ACME001"})
    assert answer.status_code == 400
    assert answer.json() == {"statusCode": 400, "message": "A customer with the reference ACME001 already exists."}
    invalid = api.post("/sales_invoices", json={"customer_id": 1, "reference": "X" * 300, "colour": "red"}).json()
    assert set(invalid) == {"statusCode", "message"}
    assert invalid["message"].startswith("The request is invalid. ")  # the first problem only, as Sage says


# ---- stock.json and purchases.json validate what reaches /products and the purchase endpoints

def test_products_are_a_stock_json_list_and_its_query_options_are_checked_against_it(api):
    rows = api.get("/products", params={"$filter": "date_time_updated gt 2025-01-01T00:00:00Z",
                                        "$orderby": "id", "$select": "code,name,product_status_type"}).json()
    assert {r["code"] for r in rows} == {"LAB-HOUR", "OIL-5W30", "MOT-TEST"}
    assert all(r["product_status_type"] == "Active" for r in rows)
    for options, words in (({"$filter": "sales_price gt 1"}, "unknown field 'sales_price'"),
                           ({"$orderby": "price"}, "unknown field 'price'"),
                           ({"$select": "code,selling_price"}, "unknown field 'selling_price'")):
        answer = api.get("/products", params=options)
        assert answer.status_code == 400 and words in answer.text


def test_a_purchase_invoice_is_validated_against_purchases_json(api):
    answer = api.post("/purchase_invoices", json={"supplier_id": 1, "reference": "X" * 300, "colour": "red"})
    assert answer.status_code == 400
    assert answer.json()["statusCode"] == 400 and "'colour' was unexpected" in answer.json()["message"]
    assert api.get("/purchase_posted_transactions", params={"$filter": "nope eq 1"}).status_code == 400
