"""Sage's list envelope, paging, attributes and filters."""

from __future__ import annotations

import pytest

from local.sandboxes.sage_accounting import examples as ex


def make_invoices(sandbox, count: int, **kwargs) -> list[dict]:
    accountant = sandbox.accountant()
    body = ex.sales_invoice(accountant.ids, **kwargs)["sales_invoice"]
    return [accountant.create("sales_invoices", body | {"reference": f"INV-{n:05d}"}) for n in range(count)]


def test_envelope_and_page_links(sandbox, api):
    make_invoices(sandbox, 45)
    first = api.get("/sales_invoices", params={"items_per_page": 20}).json()
    assert set(first) == {"$total", "$page", "$next", "$back", "$itemsPerPage", "$items"}
    assert (first["$total"], first["$page"], first["$itemsPerPage"], len(first["$items"])) == (45, 1, 20, 20)
    assert first["$next"] == "/sales_invoices?page=2&items_per_page=20" and first["$back"] is None
    last = api.get("/sales_invoices", params={"page": 3, "items_per_page": 20}).json()
    assert len(last["$items"]) == 5 and last["$next"] is None
    assert last["$back"] == "/sales_invoices?page=2&items_per_page=20"


def test_page_past_the_end_returns_the_last_page(sandbox, api):
    make_invoices(sandbox, 25)
    beyond = api.get("/sales_invoices", params={"page": 9}).json()
    assert beyond["$page"] == 2 and len(beyond["$items"]) == 5 and beyond["$next"] is None


@pytest.mark.limit_refusals_expected
def test_items_per_page_is_capped_at_200(api):
    assert api.get("/contacts", params={"items_per_page": 201}).status_code == 422
    assert api.get("/contacts", params={"items_per_page": 200}).status_code == 200


def test_following_next_visits_every_record_once_and_keeps_filters(sandbox, api):
    made = make_invoices(sandbox, 47)
    seen, url = [], "/sales_invoices?items_per_page=3&search=INV-0001"
    while url:
        page = api.get(url).json()
        seen += [item["id"] for item in page["$items"]]
        url = page["$next"]
    # INV-00010 .. INV-00019 match; the filter survives paging across 4 pages.
    assert seen == [m["id"] for m in made[10:20]]


def test_default_items_carry_base_attributes_only(sandbox, api):
    make_invoices(sandbox, 1)
    base = api.get("/sales_invoices").json()["$items"][0]
    assert set(base) == {"id", "displayed_as", "$path"}
    some = api.get("/sales_invoices", params={"attributes": "reference,total_amount"}).json()["$items"][0]
    assert set(some) == {"id", "displayed_as", "$path", "reference", "total_amount"}
    full = api.get("/sales_invoices", params={"attributes": "all"}).json()["$items"][0]
    assert full["outstanding_amount"] == 120.0 and "invoice_lines" in full


def test_search_finds_references_as_substrings_case_insensitively(sandbox, api):
    make_invoices(sandbox, 30)
    found = api.get("/sales_invoices", params={"search": "inv-0002", "attributes": "reference"}).json()
    assert sorted(i["reference"] for i in found["$items"]) == [f"INV-{n:05d}" for n in range(20, 30)]
    assert api.get("/sales_invoices", params={"search": "INV-00029"}).json()["$total"] == 1
    assert api.get("/sales_invoices", params={"search": "nothing-like-it"}).json()["$total"] == 0


def test_contact_id_and_date_filters(sandbox, api, ids):
    accountant = sandbox.accountant()
    accountant.create("sales_invoices", ex.sales_invoice(ids, "A-1", date="2025-01-10")["sales_invoice"])
    accountant.create("sales_invoices", ex.sales_invoice(ids, "B-1", customer="BRIGHT01",
                                                         date="2025-02-10")["sales_invoice"])
    by_contact = api.get("/sales_invoices", params={"contact_id": ids["BRIGHT01"], "attributes": "reference"}).json()
    assert [i["reference"] for i in by_contact["$items"]] == ["B-1"]
    by_date = api.get("/sales_invoices", params={"from_date": "2025-01-01", "to_date": "2025-01-31",
                                                 "attributes": "reference"}).json()
    assert [i["reference"] for i in by_date["$items"]] == ["A-1"]


def test_updated_or_created_since_sees_payments_touching_invoices(sandbox, api, clock):
    _untouched, paid = make_invoices(sandbox, 2)
    clock.advance(60)
    since = clock.now().isoformat()
    assert api.get("/sales_invoices", params={"updated_or_created_since": since}).json()["$total"] == 0
    sandbox.accountant().record_customer_payment(paid["id"])
    changed = api.get("/sales_invoices", params={"updated_or_created_since": since}).json()
    assert [i["id"] for i in changed["$items"]] == [paid["id"]]
    payments = api.get("/contact_payments", params={"updated_or_created_since": since}).json()
    assert payments["$total"] == 1


def test_contact_type_filter(api):
    customers = api.get("/contacts", params={"contact_type_id": "CUSTOMER", "attributes": "reference"}).json()
    suppliers = api.get("/contacts", params={"contact_type_id": "VENDOR", "attributes": "reference"}).json()
    assert {c["reference"] for c in customers["$items"]} == {"ACME001", "BRIGHT01", "COBALT"}
    assert {c["reference"] for c in suppliers["$items"]} == {"DUNMORE", "ELMFUEL"}


def test_seeded_uk_chart_and_tax_rates(api):
    codes = {a["nominal_code"] for a in api.get("/ledger_accounts", params={"attributes": "nominal_code",
                                                                             "items_per_page": 200}).json()["$items"]}
    assert {1100, 1200, 2100, 2200, 2201, 4000, 4010, 5000} <= codes and any(7000 <= c < 8000 for c in codes)
    listed = api.get("/tax_rates", params={"attributes": "percentage"}).json()["$items"]
    rates = {r["id"]: r["percentage"] for r in listed}
    assert rates == {"GB_STANDARD": 20.0, "GB_LOWER": 5.0, "GB_ZERO": 0.0, "GB_EXEMPT": 0.0, "GB_NO_TAX": 0.0}
    assert api.get("/bank_accounts").json()["$total"] == 1
    assert api.post("/artefact_statuses", json={}).status_code == 405


def test_defect_08_contacts_filter_by_email_and_contact_type_together(sandbox, api):
    accountant = sandbox.accountant()
    person = {"name": "Accounts", "email": "ap@shared.example"}
    customer = accountant.create("contacts", {"name": "Shared Ltd", "contact_type_ids": ["CUSTOMER"],
                                              "main_contact_person": person})
    accountant.create("contacts", {"name": "Shared Supplies", "contact_type_ids": ["VENDOR"],
                                   "main_contact_person": person})
    found = api.get("/contacts", params={"email": "AP@shared.example", "contact_type_id": "CUSTOMER"}).json()
    assert [c["id"] for c in found["$items"]] == [customer["id"]]


def test_money_set_against_an_invoice_brings_it_into_the_changed_since_list_with_its_balance(sandbox, api, clock):
    """What a busy payment poll reads instead of one GET per invoice (sync/payments.py)."""
    invoices = make_invoices(sandbox, 3)
    clock.advance(seconds=30)
    since = clock.now().isoformat()
    clock.advance(seconds=30)
    sandbox.accountant().record_customer_payment(invoices[1]["id"], "50.00")
    page = api.get("/sales_invoices", params={
        "updated_or_created_since": since, "items_per_page": 200, "show_payments_allocations": "true",
        "attributes": "total_amount,outstanding_amount,payments_allocations,reference"}).json()
    assert isinstance(page, dict), page
    (item,) = page["$items"]
    assert item["id"] == invoices[1]["id"] and item["outstanding_amount"] == 70.0
    assert [entry["amount"] for entry in item["payments_allocations"]] == [50.0]
    assert "invoice_lines" not in item  # only what was asked for
