"""The regional Sage Accounting sandbox's Get lists as a client sees them over HTTP: the
{TotalResults, ReturnedResults, Results} envelope, at most 100 rows a call, paging with $skip/$top/$orderby,
and $filter working on numbers, dates and true/false but refused on text
(../shared/specs/sage-accounting-regional/README.md §5)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.sandboxes.sage_regional import API_BASE_URL, DEFAULT_API_KEY, SageRegionalSandbox, SandboxClock
from local.sandboxes.stack_entry import SANDBOXES, stack_entry


@pytest.fixture(scope="module")
def sandbox() -> SageRegionalSandbox:
    """One company with 250 customers and three invoices (read-only tests share it)."""
    box = SageRegionalSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"), rate_limit_per_minute=None)
    accountant = box.accountant()
    for n in range(248):
        accountant.add("Customer", Name=f"Customer {n:03d}", Active=n % 2 == 0, CreditLimit=n)
    books = box.books()
    for day, customer in ((1, "customer_acme"), (15, "customer_brown"), (28, "customer_acme")):
        books.save("TaxInvoice", {"CustomerId": box.ids[customer], "Date": f"2025-02-{day:02d}",
                                  "DueDate": "2025-03-31", "Lines": [{"SelectionId": box.ids["item_service"],
                                                                       "Quantity": day}]}, system_number=True)
    return box


@pytest.fixture
def api(sandbox: SageRegionalSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL, auth=sandbox.basic_auth(),
                      headers={"Content-Type": "application/json"},
                      params={"apikey": DEFAULT_API_KEY, "companyid": sandbox.lead_company_id}) as client:
        yield client


def _list(api: httpx.Client, service: str, **params: str) -> dict:
    answer = api.get(f"/{service}/Get", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_list_is_an_envelope_of_at_most_100_rows_with_the_total(api):
    body = _list(api, "Customer")
    assert (body["TotalResults"], body["ReturnedResults"], len(body["Results"])) == (250, 100, 100)


@pytest.mark.limit_refusals_expected
def test_top_over_100_still_gets_100_rows_and_is_recorded(api):
    body = _list(api, "Customer", **{"$top": "500"})
    assert body["ReturnedResults"] == 100


def test_skip_top_and_orderby_page_through_everything_once(api):
    seen: list[int] = []
    skip = 0
    while True:
        page = _list(api, "Customer", **{"$skip": str(skip), "$top": "100", "$orderby": "ID"})
        if page["ReturnedResults"] == 0:
            break  # past the end: an empty page, as the paging loops third parties write expect
        seen += [c["ID"] for c in page["Results"]]
        skip += page["ReturnedResults"]
    assert len(seen) == len(set(seen)) == 250


def test_skip_without_an_orderby_is_refused(api):
    answer = api.get("/Customer/Get", params={"$skip": "100"})
    assert answer.status_code == 400 and "$orderby" in answer.json()["Message"]


def test_orderby_desc_on_a_number(api):
    ids = [c["ID"] for c in _list(api, "Customer", **{"$orderby": "ID desc", "$top": "3"})["Results"]]
    assert ids == sorted(ids, reverse=True)


def test_filter_works_on_numbers_dates_and_true_false(api, sandbox):
    acme = _list(api, "TaxInvoice", **{"$filter": f"CustomerId eq {sandbox.ids['customer_acme']}"})
    assert acme["TotalResults"] == 2
    late = _list(api, "TaxInvoice", **{"$filter": "Date ge datetime'2025-02-15T00:00:00' and Total gt 1000"})
    assert [i["Date"] for i in late["Results"]] == ["2025-02-15T00:00:00", "2025-02-28T00:00:00"]
    assert _list(api, "Customer", **{"$filter": "Active eq false"})["TotalResults"] == 124
    either = _list(api, "Customer", **{"$filter": "(CreditLimit lt 2 or CreditLimit eq 100) and Active eq true"})
    assert either["TotalResults"] == 2


@pytest.mark.parametrize(("flt", "words"), [
    ("Name eq 'Customer 001'", "text field Name does not work"),
    ("ExternalReference eq 'x'", "text field ExternalReference does not work"),
    ("ID eq 'x'", "filter does not work on text values"),
    ("substringof('Acme', Name)", "not supported"),
    ("Date ge 2025-02-15", "datetime'2025-01-31T00:00:00'"),
    ("name eq 1", "not a field of this list"),
    ("ID like 1", "operator"),
])
def test_filter_on_text_or_outside_the_subset_is_refused_saying_why(api, flt, words):
    service = "TaxInvoice" if "Date" in flt or "External" in flt else "Customer"
    answer = api.get(f"/{service}/Get", params={"$filter": flt})
    assert answer.status_code == 400
    assert words in answer.json()["Message"]


def test_orderby_on_text_and_select_are_refused(api):
    assert "text field Name" in api.get("/Customer/Get", params={"$orderby": "Name"}).json()["Message"]
    assert api.get("/Customer/Get", params={"$select": "ID"}).status_code == 400


def test_document_lists_leave_lines_out_unless_include_detail(api):
    assert "Lines" not in _list(api, "TaxInvoice")["Results"][0]
    assert len(_list(api, "TaxInvoice", includeDetail="true")["Results"][0]["Lines"]) == 1
    assert "Customer" in _list(api, "TaxInvoice", includeCustomerDetails="true")["Results"][0]


def test_reference_lists_the_connector_needs(api):
    assert {t["Name"] for t in _list(api, "TaxType")["Results"]} == {"GST", "GST Free", "Input Taxed"}
    assert {i["Code"] for i in _list(api, "Item")["Results"]} == {"SERVICE", "PART-001"}
    assert _list(api, "BankAccount")["TotalResults"] == 1
    assert _list(api, "Account")["TotalResults"] == 4


def test_the_stack_serves_it_with_its_base_url_and_api_key():
    entry = stack_entry("sage_regional")
    assert entry is not None
    assert entry.environment("http://127.0.0.1:9") == {"SAGE_REGIONAL_AU_URL": "http://127.0.0.1:9/api/2.0.0"}
    assert entry.secrets == {"sage_regional_api_key": DEFAULT_API_KEY}
    sandbox, app = entry.build(SandboxClock.frozen_at())
    assert app is sandbox and len(sandbox.companies) == 2
    assert "sage_regional" in SANDBOXES
