"""The Sage 200 sandbox answering as Sage 200 documents: `$filter` functions and dates, error bodies,
token lifetimes on the sandbox clock, and validation against the stock and purchases specs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from local.sandboxes.sage200 import API_BASE_URL, DEFAULT_SUBSCRIPTION_KEY, TOKEN_URL, Sage200Sandbox, SandboxClock
from sagebridge.connectors.oauth import ClientCredentials, OAuthClient, sage200_provider
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
    assert all("sales_price" not in r for r in api.get("/products").json())  # stock.json's product has no price
    views = api.get("/product_views", params={"$filter": "code eq 'OIL-5W30'", "$select": "id,selling_price"})
    assert [str(v["selling_price"]) for v in views.json()] == ["9.99"]
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


# ---- Sage ID tokens on the sandbox clock

def _form(sandbox: Sage200Sandbox, refresh_token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret}


def test_the_access_token_dies_480_sandbox_seconds_after_issue(sandbox, api):
    assert api.get("/tax_codes").status_code == 200
    sandbox.clock.advance(seconds=479)
    assert api.get("/tax_codes").status_code == 200
    sandbox.clock.advance(seconds=2)
    assert api.get("/tax_codes").status_code == 401


@pytest.mark.parametrize("rotate", [True, False])
def test_a_refresh_rotates_the_refresh_token_unless_the_knob_says_not(rotate):
    sandbox = Sage200Sandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"),
                             rotate_refresh_tokens=rotate)
    first = sandbox.issue_tokens()["refresh_token"]
    with httpx.Client(transport=sandbox.sync_transport()) as http:
        second = http.post(TOKEN_URL, data=_form(sandbox, first)).json()["refresh_token"]
        assert (second != first) is rotate
        again = http.post(TOKEN_URL, data=_form(sandbox, first))
        assert again.status_code == (400 if rotate else 200)  # a rotated token is dead
        sandbox.clock.advance(days=90, seconds=1)  # the grant ends 90 days after consent, refreshed or not
        assert http.post(TOKEN_URL, data=_form(sandbox, second)).json()["error"] == "invalid_grant"


def test_an_app_on_its_own_clock_sees_the_grant_end_move_with_the_sandbox_clock():
    """The local stack: the app keeps real time while a person moves the sandbox's clock on."""
    sandbox = Sage200Sandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"), report_refresh_expiry=True)
    app_now = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    tokens = sandbox.issue_tokens()
    assert tokens["refresh_token_expires_in"] == 90 * 86400
    sandbox.clock.advance(days=80)
    with httpx.Client(transport=sandbox.sync_transport()) as http:
        oauth = OAuthClient(sage200_provider(token_url=TOKEN_URL), http,
                            ClientCredentials(sandbox.client_id, SecretStr(sandbox.client_secret)),
                            clock=lambda: app_now)
        fresh = oauth.refresh(SecretStr(tokens["refresh_token"]))
    assert fresh.refresh_expires_at == app_now + timedelta(days=10)  # inside the 14-day warning


def test_by_default_the_token_answer_does_not_say_when_the_grant_ends(sandbox):
    assert "refresh_token_expires_in" not in sandbox.issue_tokens()


# ---- what only the desktop does: Amend Allocation, Correct Transactions > Reverse

def _posted(api: httpx.Client, transaction_id: int) -> dict:
    answer = api.get(f"/sales_posted_transactions/{transaction_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _invoice_and_receipt(sandbox: Sage200Sandbox) -> tuple[dict, dict]:
    books = sandbox.accountant()
    customer = int(books.ids["ACME001"])
    with sandbox.lock:
        books.books.post("sales_invoices", {"customer_id": customer, "reference": "INV-1",
                                            "document_goods_value": "100.00", "document_tax_value": "20.00"})
    invoice = books.by_reference("sales_invoice", "INV-1")
    sandbox.clock.advance(minutes=1)
    return invoice, books.record_receipt(invoice["id"], reference="BACS-1")


def test_removing_an_allocation_shows_in_the_api_as_outstanding_again_and_a_changed_receipt(sandbox, api):
    invoice, receipt = _invoice_and_receipt(sandbox)
    paid = _posted(api, receipt["id"])
    assert [i["urn"] for i in paid["allocation_session_items"]] == [invoice["urn"]]
    sandbox.clock.advance(minutes=1)

    sandbox.accountant().remove_allocation(receipt["id"])

    after, owed = _posted(api, receipt["id"]), _posted(api, invoice["id"])
    assert after["allocation_session_items"] == [] and owed["allocation_session_items"] == []
    assert (after["document_outstanding_value"], owed["document_outstanding_value"]) == (-120.0, 120.0)
    assert owed["document_allocated_value"] == 0 and "full_settlement_date" not in owed
    assert after["date_time_updated"] > paid["date_time_updated"]
    assert [h["allocation_value"] for h in owed["allocation_history_items"]] == [120.0, -120.0]
    changed = api.get("/sales_posted_transactions", params={
        "$filter": f"date_time_updated gt {paid['date_time_updated']}", "$orderby": "id"}).json()
    assert {r["id"] for r in changed} == {invoice["id"], receipt["id"]}


def test_reversing_posts_the_opposite_transaction_allocated_against_it_and_only_when_unallocated(sandbox, api):
    from local.sandboxes.sage200.books import SALES_PAYMENT, BusinessRuleError

    invoice, receipt = _invoice_and_receipt(sandbox)
    books = sandbox.accountant()
    with pytest.raises(BusinessRuleError, match="allocated"):
        books.reverse(receipt["id"])
    books.remove_allocation(receipt["id"])
    opposite = books.reverse(receipt["id"])

    assert opposite["trader_transaction_type"] == SALES_PAYMENT and opposite["reference"] == "BACS-1"
    cancelled = _posted(api, receipt["id"])
    assert cancelled["document_outstanding_value"] == 0
    assert [i["trader_transaction_type"] for i in cancelled["allocation_session_items"]] == [SALES_PAYMENT]
    assert _posted(api, invoice["id"])["document_outstanding_value"] == 120.0

    credit = books.reverse(invoice["id"])  # an invoice is reversed by a credit note of the same analysis
    assert credit["document_gross_value"] == -120 and credit["document_outstanding_value"] == 0
    assert _posted(api, invoice["id"])["document_outstanding_value"] == 0
