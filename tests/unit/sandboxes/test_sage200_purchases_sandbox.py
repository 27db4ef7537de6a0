"""The Sage 200 sandbox's purchase ledger as purchases.json shapes it: suppliers (create, find by
reference, name or email, update) and purchase invoices posted as purchase posted transactions after
the same arithmetic checks as sales (tax and nominal analysis add up to the header, to the penny)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from local.sandboxes.sage200 import API_BASE_URL, DEFAULT_SUBSCRIPTION_KEY, Sage200Sandbox, SandboxClock, spec
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


def _supplier(api: httpx.Client, **fields) -> dict:
    body = {"reference": "BOLT01", "name": "Bolt & Nut Ltd",
            "contacts": [{"first_name": "Accounts", "emails": [{"email": "ap@bolt.example", "is_default": True}]}],
            **fields}
    answer = api.post("/suppliers", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _invoice(supplier_id: int, **fields) -> dict:
    return {"supplier_id": supplier_id, "transaction_date": "2025-03-01T00:00:00", "reference": "PI-00001",
            "document_goods_value": 100.00, "document_tax_value": 20.00,
            "tax_analysis_items": [{"id": 2, "goods_amount": 100.00, "tax_amount": 20.00}],
            "nominal_analysis_items": [{"code": "5000", "value": 60.00}, {"code": "5010", "value": 40.00}],
            **fields}


def test_a_supplier_is_created_found_by_reference_name_and_email_and_updated(api):
    made = _supplier(api)
    assert api.post("/suppliers", json={"reference": "bolt01", "name": "Twin"}).status_code == 400
    by_ref = api.get("/suppliers", params={"$filter": "reference eq 'BOLT01'"}).json()
    by_name = api.get("/suppliers", params={"$filter": "name eq 'Bolt & Nut Ltd'"}).json()
    assert [s["id"] for s in by_ref] == [s["id"] for s in by_name] == [made["id"]]
    [email] = api.get("/supplier_emails", params={"$filter": "email eq 'ap@bolt.example'"}).json()
    contact = api.get(f"/supplier_contacts/{email['supplier_contact_id']}").json()
    assert contact["supplier_id"] == made["id"]
    changed = api.put(f"/suppliers/{made['id']}", json={"reference": "BOLT01", "name": "Bolt and Nut Ltd"})
    assert changed.status_code == 200 and api.get(f"/suppliers/{made['id']}").json()["name"] == "Bolt and Nut Ltd"
    assert api.put(f"/suppliers/{made['id']}", json={"name": "No reference"}).status_code == 400


def test_a_purchase_invoice_is_posted_as_a_purchase_posted_transaction_found_by_reference(api, sandbox):
    supplier = _supplier(api)
    answer = api.post("/purchase_invoices", json=_invoice(supplier["id"]))
    assert answer.status_code == 200 and set(answer.json()) == {"urn"}
    found = api.get("/purchase_posted_transactions",
                    params={"$filter": "reference eq 'PI-00001'"}).json()
    assert [(r["supplier_id"], r["trader_transaction_type"], Decimal(str(r["document_gross_value"])),
             str(r["urn"])) for r in found] == [
        (supplier["id"], "TradingAccountEntryTypeInvoice", Decimal("120.00"), answer.json()["urn"])]
    assert spec.validate_response("GET", "purchase_posted_transactions", found) == []
    assert api.get("/sales_posted_transactions", params={"$filter": "reference eq 'PI-00001'"}).json() == []
    assert Decimal(str(api.get(f"/suppliers/{supplier['id']}").json()["balance"])) == Decimal("120.00")


@pytest.mark.parametrize(("change", "words"), [
    ({"document_tax_value": 20.01}, "tax amounts do not add up"),
    ({"nominal_analysis_items": [{"code": "5000", "value": 99.99}]}, "nominal analysis values do not add up"),
    ({"nominal_analysis_items": [{"code": "9999", "value": 100.00}]}, "nominal account 9999 does not exist"),
    ({"supplier_id": 424242}, "supplier 424242 does not exist"),
    ({"customer_id": 1}, "'customer_id' was unexpected"),
])
def test_a_purchase_invoice_that_does_not_add_up_or_names_nothing_is_refused_and_not_posted(api, change, words):
    supplier = _supplier(api)
    answer = api.post("/purchase_invoices", json={**_invoice(supplier["id"]), **change})
    assert answer.status_code == 400 and words in answer.json()["message"], answer.text
    assert api.get("/purchase_posted_transactions", params={"$filter": "reference eq 'PI-00001'"}).json() == []
