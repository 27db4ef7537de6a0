"""The sandboxes' chaos profile (local/sandboxes/chaos.py): writes committed and then answered 500 or
503 or never answered, searches that lag a create, idempotency_id kept only within stricter rules;
the realistic profile (the default) has none of it."""

from __future__ import annotations

import httpx
import pytest

from local.sandboxes import chaos
from local.sandboxes.sage200 import API_BASE_URL as SAGE200_URL
from local.sandboxes.sage200 import DEFAULT_SUBSCRIPTION_KEY, Sage200Sandbox
from local.sandboxes.sage_accounting import SageAccountingSandbox
from local.sandboxes.sage_accounting import examples as ex
from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    ENDPOINT,
    SageIntacctSandbox,
)
from sagebridge.connectors.base import SageUnavailable, UncertainWrite
from sagebridge.connectors.sage200.client import Sage200Client, odata_string, site_and_company
from sagebridge.connectors.sage_intacct.client import CompanyGates, IntacctClient, IntacctCredentials, SessionCache
from sagebridge.connectors.sage_intacct.reads import condition, query_element
from sagebridge.connectors.sage_intacct.xml import Function, element, sub

from .conftest import api_client

KEY = "0f8fad5bd9cb469fa16570867728950e"


@pytest.fixture
def quiet_chaos(monkeypatch):
    """The chaos profile with no random faults: the search lag and the idempotency rules only."""
    monkeypatch.setenv(chaos.PROFILE_ENV, "chaos")
    monkeypatch.setenv(chaos.RATE_ENV, "0")


def _api(sandbox: SageAccountingSandbox) -> httpx.Client:
    return api_client(sandbox, sandbox.issue_tokens()["access_token"], sandbox.lead_business_id)


def _search(api: httpx.Client, reference: str) -> list[str]:
    return [i["id"] for i in api.get("/sales_invoices", params={"search": reference}).json()["$items"]]


# -- the profile switch ------------------------------------------------------------------------------


def test_realistic_is_the_default_and_has_no_chaos(monkeypatch, clock):
    monkeypatch.delenv(chaos.PROFILE_ENV, raising=False)
    assert SageAccountingSandbox(clock=clock).chaos is None
    assert Sage200Sandbox(clock=clock).chaos is None
    assert SageIntacctSandbox(clock=clock).chaos is None


def test_one_setting_turns_chaos_on_in_every_sandbox(monkeypatch, clock):
    monkeypatch.setenv(chaos.PROFILE_ENV, "chaos")
    monkeypatch.setenv(chaos.RATE_ENV, "0.5")
    monkeypatch.setenv(chaos.SEARCH_LAG_ENV, "90")
    for sandbox in (SageAccountingSandbox(clock=clock), Sage200Sandbox(clock=clock), SageIntacctSandbox(clock=clock)):
        assert sandbox.chaos is not None and sandbox.chaos.rate == 0.5
        assert sandbox.chaos.search_lag.total_seconds() == 90
    assert SageAccountingSandbox(clock=clock, profile="realistic").chaos is None


def test_a_misspelt_profile_or_setting_is_refused_by_name(monkeypatch, clock):
    monkeypatch.setenv(chaos.PROFILE_ENV, "chaotic")
    with pytest.raises(ValueError, match="SAGEBRIDGE_SANDBOX_PROFILE must be one of realistic, chaos"):
        SageAccountingSandbox(clock=clock)
    monkeypatch.setenv(chaos.PROFILE_ENV, "chaos")
    monkeypatch.setenv(chaos.RATE_ENV, "often")
    with pytest.raises(ValueError, match="SAGEBRIDGE_CHAOS_RATE must be a number"):
        SageAccountingSandbox(clock=clock)


# -- after-commit faults -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_error_after_commit_answers_an_error_but_the_invoice_is_there(sandbox, api, ids, status):
    sandbox.faults.error_after_commit(status, method="POST", path="/sales_invoices")
    body = ex.sales_invoice(ids, "SPOILT-1", idempotency_id=KEY)
    answer = api.post("/sales_invoices", json=body)
    assert answer.status_code == status and answer.json()[0]["$severity"] == "error"
    assert sandbox.accountant().count_by_reference("sales_invoices") == {"SPOILT-1": 1}
    again = api.post("/sales_invoices", json=body)  # the key was committed with the write: replayed
    assert again.status_code == 201 and sandbox.accountant().count("sales_invoices") == 1


def test_chaos_commits_every_write_and_spoils_answers_at_its_rate(monkeypatch, clock):
    monkeypatch.setenv(chaos.PROFILE_ENV, "chaos")
    monkeypatch.setenv(chaos.RATE_ENV, "1")
    sandbox = SageAccountingSandbox(clock=clock)
    api = _api(sandbox)
    outcomes = []
    for n in range(12):
        try:
            outcomes.append(api.post("/sales_invoices", json=ex.sales_invoice(sandbox.ids, f"C-{n}")).status_code)
        except httpx.ReadTimeout:
            outcomes.append("timeout")
    assert set(outcomes) == {500, 503, "timeout"}  # every write spoilt, in all three ways
    assert sandbox.accountant().count("sales_invoices") == 12  # and every one committed
    assert api.get("/contacts").status_code == 200  # reads are never spoilt
    sandbox.chaos.paused = True  # a quiet run
    assert api.post("/sales_invoices", json=ex.sales_invoice(sandbox.ids, "QUIET")).status_code == 201


def test_the_random_faults_repeat_for_the_same_seed_and_business(monkeypatch, clock):
    monkeypatch.setenv(chaos.PROFILE_ENV, "chaos")
    first, second = chaos.Chaos(rate=0.3, seed=7), chaos.Chaos(rate=0.3, seed=7)
    picks = [[c.after_commit_fault(True, "biz") for _ in range(40)] for c in (first, second)]
    assert [(f.kind, f.status) if f else None for f in picks[0]] == [(f.kind, f.status) if f else None
                                                                      for f in picks[1]]
    assert any(picks[0]) and not all(picks[0])


# -- search lag --------------------------------------------------------------------------------------


def test_a_search_lags_a_create_but_a_get_by_id_does_not(quiet_chaos, clock):
    sandbox = SageAccountingSandbox(clock=clock)
    api = _api(sandbox)
    made = api.post("/sales_invoices", json=ex.sales_invoice(sandbox.ids, "LAG-1")).json()
    assert _search(api, "LAG-1") == []
    assert api.get("/sales_invoices").json()["$total"] == 0
    assert api.get(f"/sales_invoices/{made['id']}").status_code == 200
    clock.advance(seconds=59)
    assert _search(api, "LAG-1") == []
    clock.advance(seconds=1)
    assert _search(api, "LAG-1") == [made["id"]]


def test_no_search_lag_under_the_realistic_profile(sandbox, api, ids):
    made = api.post("/sales_invoices", json=ex.sales_invoice(ids, "NOW-1")).json()
    assert _search(api, "NOW-1") == [made["id"]]


def test_chaos_keeps_an_idempotency_id_for_a_day_not_seven(quiet_chaos, clock):
    sandbox = SageAccountingSandbox(clock=clock)
    api = _api(sandbox)
    body = ex.sales_invoice(sandbox.ids, "KEYED", idempotency_id=KEY)
    first = api.post("/sales_invoices", json=body).json()["id"]
    clock.advance(hours=23)
    api = _api(sandbox)  # the first access token has expired by now
    assert api.post("/sales_invoices", json=body).json()["id"] == first
    clock.advance(hours=1, seconds=1)
    api = _api(sandbox)
    assert api.post("/sales_invoices", json=body).json()["id"] != first
    assert sandbox.created_count("sales_invoices") == 2


# -- Sage 200 ----------------------------------------------------------------------------------------


def _sage200(sandbox: Sage200Sandbox, http: httpx.Client) -> Sage200Client:
    tokens = sandbox.issue_tokens()
    site, company = site_and_company(sandbox.business_id)
    return Sage200Client(http, token_provider=lambda *, rejected=None: tokens["access_token"],
                         subscription_key=DEFAULT_SUBSCRIPTION_KEY, site_id=site, company_id=company,
                         base_url=SAGE200_URL, sleep=lambda s: None, jitter=lambda: 0.0)


def test_sage200_commits_then_answers_500_and_its_queries_lag_the_create(quiet_chaos, clock):
    sandbox = Sage200Sandbox(clock=clock)
    with httpx.Client(transport=sandbox.sync_transport()) as http:
        client = _sage200(sandbox, http)
        sandbox.faults.error_after_commit(500, method="POST", path="/customers")
        with pytest.raises(UncertainWrite):
            client.post("customers", {"reference": "C0000001", "name": "Spoilt answer Ltd"})
        by_reference = f"reference eq {odata_string('C0000001')}"
        assert client.list("customers", filter=by_reference) == []  # committed, not searchable yet
        [row] = [r for books in sandbox.companies.values() for r in books.rows("customers")
                 if r["reference"] == "C0000001"]
        assert client.get("customers", row["id"])["name"] == "Spoilt answer Ltd"  # by id: at once
        clock.advance(seconds=60)
        assert [r["id"] for r in client.list("customers", filter=by_reference)] == [row["id"]]


# -- Intacct -----------------------------------------------------------------------------------------


def test_intacct_runs_the_function_then_answers_a_gateway_error_and_queries_lag(quiet_chaos, clock):
    sandbox = SageIntacctSandbox(clock=clock)
    with httpx.Client(transport=sandbox.sync_transport()) as http:
        client = IntacctClient(http, IntacctCredentials(DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD, DEFAULT_COMPANY,
                                                        DEFAULT_USER, DEFAULT_PASSWORD),
                               endpoint=ENDPOINT, sessions=SessionCache(), gates=CompanyGates(),
                               sleep=lambda s: None, max_attempts=1)
        client.call([Function("login", element("getAPISession"))])  # the session first: not a write
        create = element("create")
        customer = sub(create, "CUSTOMER")
        sub(customer, "CUSTOMERID", "LAGGY")
        sub(customer, "NAME", "Laggy Ltd")
        sandbox.faults.error_after_commit(502)
        with pytest.raises(SageUnavailable):  # the gateway error, after its retries
            client.execute(Function("create-laggy", create))
        company = sandbox.companies[DEFAULT_COMPANY]
        assert company.one("CUSTOMER", "CUSTOMERID", "LAGGY") is not None  # committed

        def found() -> list[str]:
            fn = query_element("CUSTOMER", ["CUSTOMERID"], where=condition("equalto", "CUSTOMERID", "LAGGY"))
            (result,) = client.call([Function("q", fn)])
            return [r["CUSTOMERID"] for r in result.records]

        assert found() == []
        clock.advance(seconds=60)
        assert found() == ["LAGGY"]
