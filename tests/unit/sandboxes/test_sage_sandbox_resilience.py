"""Idempotent replays, rate limiting, fault injection and the test-facing counters."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from local.sandboxes.sage_accounting import API_BASE_URL, SageAccountingSandbox
from local.sandboxes.sage_accounting import examples as ex

KEY = "0f8fad5bd9cb469fa16570867728950e"


def test_idempotency_id_replays_the_first_result_for_7_days(sandbox, api, ids, clock, make_client):
    body = ex.sales_invoice(ids, idempotency_id=KEY)
    first = api.post("/sales_invoices", json=body)
    second = api.post("/sales_invoices", json=body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert sandbox.created_count("sales_invoices") == 1
    clock.advance(days=7, seconds=1)
    api = make_client(sandbox.issue_tokens()["access_token"])
    assert api.post("/sales_invoices", json=body).json()["id"] != first.json()["id"]
    assert sandbox.created_count("sales_invoices") == 2


@pytest.mark.parametrize("key", ["0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5bd9cb469f", "z" * 32, 12345])
def test_a_malformed_idempotency_id_is_refused_naming_it(sandbox, api, ids, key):
    answer = api.post("/sales_invoices", json=ex.sales_invoice(ids, idempotency_id=key))
    assert answer.status_code == 422 and answer.json()[0]["$source"] == "idempotency_id"
    assert sandbox.created_count("sales_invoices") == 0


def test_the_same_idempotency_id_with_a_different_body_is_refused_not_replayed(sandbox, api, ids, clock,
                                                                                make_client):
    first = api.post("/sales_invoices", json=ex.sales_invoice(ids, "INV-1", idempotency_id=KEY))
    changed = api.post("/sales_invoices", json=ex.sales_invoice(ids, "INV-1-CHANGED", idempotency_id=KEY))
    assert first.status_code == 201 and changed.status_code == 422
    refusal = changed.json()[0]
    assert refusal["$source"] == "idempotency_id" and "different request body" in refusal["$message"]
    assert sandbox.accountant().count_by_reference("sales_invoices") == {"INV-1": 1}
    clock.advance(days=7, seconds=1)  # the key is forgotten: a new document under it is a new create
    api = make_client(sandbox.issue_tokens()["access_token"], sandbox.lead_business_id)
    later = api.post("/sales_invoices", json=ex.sales_invoice(ids, "INV-1-CHANGED", idempotency_id=KEY))
    assert later.status_code == 201


def test_the_same_body_in_another_key_order_is_replayed(sandbox, api, ids):
    body = ex.sales_invoice(ids, idempotency_id=KEY.upper())
    first = api.post("/sales_invoices", json=body)
    record = body["sales_invoice"]
    reordered = {"sales_invoice": dict(reversed(list(record.items()))) | {"idempotency_id": KEY}}
    again = api.post("/sales_invoices", json=reordered)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert sandbox.created_count("sales_invoices") == 1


def test_a_failed_request_is_not_remembered_under_its_idempotency_id(api, ids):
    bad = ex.sales_invoice(ids, idempotency_id=KEY, total_amount=1.0)
    assert api.post("/sales_invoices", json=bad).status_code == 422
    assert api.post("/sales_invoices", json=ex.sales_invoice(ids, idempotency_id=KEY)).status_code == 201


def test_errors_on_the_next_n_matching_requests(sandbox, api, ids):
    sandbox.faults.error(503, times=2, method="POST", path="/sales_invoices")
    assert api.get("/sales_invoices").status_code == 200  # does not match
    statuses = [api.post("/sales_invoices", json=ex.sales_invoice(ids, f"R-{n}")).status_code for n in range(3)]
    assert statuses == [503, 503, 201]
    assert sandbox.accountant().count("sales_invoices") == 1  # failed attempts wrote nothing


def test_error_body_is_sages_error_array(sandbox, api):
    sandbox.faults.error(500)
    body = api.get("/contacts").json()
    assert body[0]["$dataCode"] == "UnexpectedError" and body[0]["$severity"] == "error"


def test_drop_after_commit_looks_like_a_read_timeout_but_the_invoice_exists(sandbox, api, ids):
    sandbox.faults.drop_after_commit(method="POST", path="/sales_invoices")
    body = ex.sales_invoice(ids, "DROP-1", idempotency_id=KEY)
    with pytest.raises(httpx.ReadTimeout):
        api.post("/sales_invoices", json=body)
    assert sandbox.accountant().count_by_reference("sales_invoices") == {"DROP-1": 1}
    retry = api.post("/sales_invoices", json=body)  # the safe retry replays, nothing duplicated
    assert retry.status_code == 201 and retry.json()["reference"] == "DROP-1"
    assert sandbox.accountant().count("sales_invoices") == 1


def test_drop_after_commit_can_raise_another_transport_error(sandbox, api, ids):
    sandbox.faults.drop_after_commit(exception=httpx.RemoteProtocolError)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/contacts", json=ex.customer("Late Answer Ltd"))
    assert api.get("/contacts", params={"search": "Late Answer"}).json()["$total"] == 1


def test_latency(sandbox, api):
    # Wide enough that a loaded machine's ordinary request stays well under the injected delay.
    sandbox.faults.latency(0.8, times=1)
    started = time.perf_counter()
    api.get("/contacts")
    slow = time.perf_counter() - started
    started = time.perf_counter()
    api.get("/contacts")
    assert slow >= 0.8 > time.perf_counter() - started


def test_token_endpoint_faults(sandbox):
    sandbox.faults.error(503, path="/token")
    with httpx.Client(transport=sandbox.sync_transport(), base_url="http://sage-accounting.local") as client:
        assert client.post("/token", data={}).status_code == 503
        assert client.post("/token", data={}).status_code == 401  # fault used up; no client given


def test_request_counts_per_business(sandbox, api, make_client):
    other_id = list(sandbox.businesses)[1]
    other = make_client(sandbox.issue_tokens()["access_token"], other_id)
    api.get("/contacts")
    api.get("/sales_invoices")
    other.get("/contacts")
    assert sandbox.request_counts[sandbox.lead_business_id] == 2
    assert sandbox.request_count(other_id) == 1
    assert sandbox.request_count(method="GET", path="/contacts") == 2


def test_single_business_sandbox_and_async_transport():
    sandbox = SageAccountingSandbox.single_business("Solo Repairs Ltd")
    token = sandbox.issue_tokens()["access_token"]

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=sandbox.transport(), base_url=API_BASE_URL,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            return await client.get("/businesses")

    businesses = asyncio.run(fetch()).json()
    assert [b["name"] for b in businesses["$items"]] == ["Solo Repairs Ltd"]
