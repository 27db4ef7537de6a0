"""Large reads with `query`: the first page tells the total, the rest go as several functions in
one request (10,000 customers = 2 requests after the login), never as a write."""

from __future__ import annotations

import httpx
import pytest
from defusedxml import ElementTree

from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    ENDPOINT,
    SageIntacctSandbox,
    SandboxClock,
)
from sagebridge.connectors.base import RecordInvalid
from sagebridge.connectors.sage_intacct import reads
from sagebridge.connectors.sage_intacct.client import CompanyGates, IntacctClient, IntacctCredentials, SessionCache


@pytest.fixture
def world():
    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    sent: list[bytes] = []
    inner = sandbox.sync_transport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request.read())
            return inner.handle_request(request)

    http = httpx.Client(transport=Recording())
    client = IntacctClient(http, IntacctCredentials(DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD, DEFAULT_COMPANY,
                                                    DEFAULT_USER, DEFAULT_PASSWORD),
                           endpoint=ENDPOINT, sessions=SessionCache(), gates=CompanyGates(), sleep=lambda s: None)
    yield sandbox, client, sent
    http.close()
    inner.close()


def test_ten_thousand_customers_take_two_requests_after_login(world):
    sandbox, client, sent = world
    sandbox.accountant().add_customers(10_000 - sandbox.accountant().count("CUSTOMER"))
    client.login()
    before = len(sent)
    rows = list(reads.query_all(client, "CUSTOMER", ["CUSTOMERID", "NAME", "RECORDNO"]))
    assert len(rows) == 10_000 and len({r["CUSTOMERID"] for r in rows}) == 10_000
    assert [int(r["RECORDNO"]) for r in rows] == sorted(int(r["RECORDNO"]) for r in rows)
    requests = [ElementTree.fromstring(body) for body in sent[before:]]
    assert [len(r.findall("operation/content/function")) for r in requests] == [1, 4]
    for request in requests:  # reads: repeatable, no transaction
        assert request.findtext("control/uniqueid") == "false"
        assert request.find("operation").get("transaction") is None
    assert [q.findtext("offset") for q in requests[1].iter("query")] == ["2000", "4000", "6000", "8000"]


def test_the_per_request_function_limit_is_kept(world):
    sandbox, client, sent = world
    sandbox.accountant().add_customers(62)  # 64 customers, pages of 2: the first, then 31 more
    client.login()
    before = len(sent)
    rows = list(reads.query_all(client, "CUSTOMER", ["CUSTOMERID"], page_size=2, functions_per_request=50))
    assert len(rows) == 64
    sizes = [len(ElementTree.fromstring(b).findall("operation/content/function")) for b in sent[before:]]
    assert sizes == [1, reads.MAX_FUNCTIONS_PER_REQUEST, reads.MAX_FUNCTIONS_PER_REQUEST,
                     reads.MAX_FUNCTIONS_PER_REQUEST, 1]


def test_filters_and_records_added_during_the_read(world):
    sandbox, client, _ = world
    sandbox.accountant().add_customers(9)
    where = reads.condition("like", "CUSTOMERID", "BULK%")
    pages = reads.query_all(client, "CUSTOMER", ["CUSTOMERID"], where=where, page_size=4)
    first = [next(pages)["CUSTOMERID"] for _ in range(4)]
    sandbox.accountant().add_customers(3, prefix="BULKX")  # after the first page told totalcount=9
    rest = [r["CUSTOMERID"] for r in pages]
    assert first + rest == [f"BULK-{n:06d}" for n in range(1, 10)] + [f"BULKX-{n:06d}" for n in range(1, 4)]


def test_small_and_empty_sets_take_one_request(world):
    _, client, sent = world
    client.login()
    before = len(sent)
    assert list(reads.query_all(client, "ARINVOICE", ["RECORDNO"])) == []
    assert [r["CUSTOMERID"] for r in reads.query_all(client, "CUSTOMER", ["CUSTOMERID"])] == ["ACME", "GLOBEX"]
    assert len(sent) - before == 2


def test_a_refused_query_raises_the_gateway_reason(world):
    _, client, _ = world
    with pytest.raises(RecordInvalid, match="NOSUCH"):
        list(reads.query_all(client, "NOSUCH", ["X"]))


def test_builders_refuse_what_the_gateway_would():
    with pytest.raises(ValueError):
        reads.condition("equalto", "A")
    with pytest.raises(ValueError):
        reads.condition("between", "A", "1")
    with pytest.raises(ValueError):
        reads.condition("sounds_like", "A", "1")
    with pytest.raises(ValueError):
        reads.query_element("CUSTOMER", ["A"], page_size=2001)
    with pytest.raises(ValueError):
        reads.all_of()
