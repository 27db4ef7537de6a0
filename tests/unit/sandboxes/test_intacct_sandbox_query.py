"""The Intacct sandbox's `query` function (validated against api-v3.0.xsd + query-supplement.xsd):
select, every filter operator the SDK and our client send, orderby, pagesize/offset and the
documented result attributes."""

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
from sagebridge.connectors.sage_intacct.client import CompanyGates, IntacctClient, IntacctCredentials, SessionCache
from sagebridge.connectors.sage_intacct.reads import all_of, any_of, condition, query_element
from sagebridge.connectors.sage_intacct.xml import Function, Login, element, request_document, sub


@pytest.fixture
def world():
    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    sandbox.accountant().add_customers(30)  # BULK-000001..30, RECORDNO after the seed's
    transport = sandbox.sync_transport()
    http = httpx.Client(transport=transport)
    client = IntacctClient(http, IntacctCredentials(DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD, DEFAULT_COMPANY,
                                                    DEFAULT_USER, DEFAULT_PASSWORD),
                           endpoint=ENDPOINT, sessions=SessionCache(), gates=CompanyGates(), sleep=lambda s: None)
    yield sandbox, client
    http.close()
    transport.close()


def _page(client: IntacctClient, obj: str, fields: list[str], **options):
    (result,) = client.call([Function("q", query_element(obj, fields, **options))])
    assert result.ok, result.errors
    return result


def _ids(result) -> list[str]:
    return [r["CUSTOMERID"] for r in result.records]


def test_paging_with_offset_reports_the_documented_attributes(world):
    _, client = world
    first = _page(client, "CUSTOMER", ["CUSTOMERID"], page_size=10)
    assert first.data_attributes == {"listtype": "CUSTOMER", "count": "10", "totalcount": "32",
                                     "numremaining": "22", "offset": "0"}
    assert _ids(first)[:2] == ["ACME", "GLOBEX"]  # RECORDNO order by default
    last = _page(client, "CUSTOMER", ["CUSTOMERID"], page_size=10, offset=30)
    assert _ids(last) == ["BULK-000029", "BULK-000030"]
    assert (last.data_attributes["count"], last.data_attributes["numremaining"]) == ("2", "0")
    past = _page(client, "CUSTOMER", ["CUSTOMERID"], page_size=10, offset=99)
    assert past.records == [] and past.data_attributes["numremaining"] == "0"


def test_only_the_selected_fields_come_back_in_select_order(world):
    _, client = world
    (record,) = _page(client, "CUSTOMER", ["NAME", "CUSTOMERID", "DISPLAYCONTACT.EMAIL1"],
                      where=condition("equalto", "CUSTOMERID", "BULK-000007")).records
    assert list(record) == ["NAME", "CUSTOMERID", "DISPLAYCONTACT.EMAIL1", "_object"]
    assert record["DISPLAYCONTACT.EMAIL1"] == "c7@bulk.example"


@pytest.mark.parametrize(("where", "expected"), [
    (condition("equalto", "CUSTOMERID", "BULK-000003"), ["BULK-000003"]),
    (condition("notequalto", "STATUS", "active"), []),
    (condition("like", "CUSTOMERID", "BULK-00001%"), [f"BULK-{n:06d}" for n in range(10, 20)]),
    (condition("notlike", "CUSTOMERID", "BULK%"), ["ACME", "GLOBEX"]),
    (condition("in", "CUSTOMERID", "ACME", "BULK-000030", "NOPE"), ["ACME", "BULK-000030"]),
    (condition("notin", "STATUS", "active"), []),
    (condition("isnull", "TAXID"), "all"),  # no customer has a TAXID
    (condition("isnotnull", "TAXID"), []),
    (all_of(condition("greaterthan", "CUSTOMERID", "BULK-000027"),
            condition("lessthanorequalto", "CUSTOMERID", "BULK-000029")), ["BULK-000028", "BULK-000029"]),
    (all_of(condition("greaterthanorequalto", "CUSTOMERID", "BULK-000029"),
            condition("lessthan", "CUSTOMERID", "BULK-000030")), ["BULK-000029"]),
    (any_of(condition("equalto", "CUSTOMERID", "GLOBEX"),
            all_of(condition("like", "NAME", "Bulk Customer 00000%"), condition("in", "CUSTOMERID", "BULK-000002"))),
     ["GLOBEX", "BULK-000002"]),
    # String operands are case-sensitive (developer.intacct.com/web-services/queries/).
    (condition("like", "NAME", "bulk customer 00000%"), []),
    (condition("equalto", "CUSTOMERID", "bulk-000003"), []),
    (condition("between", "CUSTOMERID", "BULK-000004", "BULK-000006"), ["BULK-000004", "BULK-000005", "BULK-000006"]),
])
def test_filter_operators(world, where, expected):
    _, client = world
    found = _ids(_page(client, "CUSTOMER", ["CUSTOMERID"], where=where, page_size=100))
    assert len(found) == 32 if expected == "all" else found == expected


def test_filters_compare_dates_and_numbers_by_value_on_other_objects(world):
    _, client = world
    items = _page(client, "ITEM", ["ITEMID", "BASEPRICE"], where=condition("greaterthan", "BASEPRICE", "50"),
                  order_by=[("BASEPRICE", True)]).records
    assert [i["ITEMID"] for i in items] == ["LAB-HOUR", "MOT"]
    contacts = _page(client, "CONTACT", ["CONTACTNAME"],
                     where=condition("greaterthanorequalto", "WHENMODIFIED", "03/01/2025")).records
    assert len(contacts) == 2
    for obj in ("ARINVOICE", "ARPYMT"):
        assert _page(client, obj, ["RECORDNO"]).data_attributes["totalcount"] == "0"


def test_orderby_descending_then_ascending(world):
    _, client = world
    result = _page(client, "CUSTOMER", ["CUSTOMERID", "STATUS"], order_by=[("STATUS", False), ("CUSTOMERID", True)],
                   page_size=3)
    assert _ids(result) == ["GLOBEX", "BULK-000030", "BULK-000029"]


def test_a_query_past_the_schema_or_the_sandbox_is_refused(world):
    _, client = world
    too_big = query_element("CUSTOMER", ["CUSTOMERID"])
    too_big.find("pagesize").text = "2001"
    with pytest.raises(RecordInvalid, match="XL03000003"):  # the supplement's maxInclusive
        client.call([Function("q", too_big)])
    aggregate = element("query")
    sub(aggregate, "object", "CUSTOMER")
    sub(sub(aggregate, "select"), "count", "RECORDNO")
    (result,) = client.call([Function("q", aggregate)])
    assert not result.ok and "aggregate" in result.errors[0].description2
    (result,) = client.call([Function("q", query_element("NOSUCH", ["X"]))])
    assert not result.ok


def test_the_sdk_shape_validates_children_in_any_order(world):
    """sageintacctsdk sends <pagesize> before <filter> (xmltodict keeps dict order): still valid."""
    sandbox, _ = world
    query = element("query")
    sub(query, "object", "CUSTOMER")
    sub(sub(query, "select"), "field", "RECORDNO")
    sub(query, "pagesize", "1")
    equal = sub(sub(query, "filter"), "equalto")
    sub(equal, "field", "STATUS")
    sub(equal, "value", "active")
    body = request_document(sender_id=DEFAULT_SENDER_ID, sender_password=DEFAULT_SENDER_PASSWORD, control_id="c",
                            login=Login(DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD),
                            functions=[Function("count", query)])
    with httpx.Client(transport=sandbox.sync_transport()) as http:
        answer = ElementTree.fromstring(http.post(ENDPOINT, content=body).content)
    data = answer.find("operation/result/data")
    assert data is not None and data.get("totalcount") == "32" and data.get("count") == "1"


def _read_by_query(pagesize: str):
    fn = element("readByQuery")
    sub(fn, "object", "CUSTOMER")
    sub(fn, "fields", "CUSTOMERID")
    sub(fn, "query", "")
    sub(fn, "pagesize", pagesize)
    return Function("r", fn)


@pytest.mark.limit_refusals_expected
def test_defect_16_the_sandbox_refuses_a_read_by_query_page_over_1000_like_intacct(world):
    _, client = world
    (refused,) = client.call([_read_by_query("2000")])
    assert not refused.ok and "1000" in refused.errors[0].description
    (accepted,) = client.call([_read_by_query("1000")])
    assert accepted.ok and len(accepted.records) == 32  # the seed's two and the 30 added


def test_defect_16_the_client_reads_thousands_of_records_in_pages_of_1000(world):
    sandbox, client = world
    sandbox.accountant().add_customers(2_470, prefix="MORE")  # 2,502 customers in all
    sent: list[bytes] = []
    inner = client._http._transport

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request.read())
            return inner.handle_request(request)

    client._http._transport = Recording()
    rows = list(client.read_by_query("CUSTOMER", fields="CUSTOMERID"))
    assert len(rows) == 2_502 and len({r["CUSTOMERID"] for r in rows}) == 2_502
    asked = [b for b in sent if b"<readByQuery>" in b]
    assert len(asked) == 1 and b"<pagesize>1000</pagesize>" in asked[0]
    assert sum(b"<readMore>" in b for b in sent) == 2  # 1000 + 1000 + 502


def test_a_result_set_ends_with_the_session_that_opened_it(world):
    """No source gives a result set's lifetime: the sandbox takes the stricter reading, so a client
    must finish paging inside one session (after a new login, readMore of the old set is refused)."""
    sandbox, client = world
    (first,) = client.call([_read_by_query("10")])
    result_id = first.data_attributes["resultId"]
    more = element("readMore")
    sub(more, "resultId", result_id)
    (same_session,) = client.call([Function("m", more)])
    assert same_session.ok and len(same_session.records) == 10
    sandbox.expire_sessions()  # the client logs in again on its next call
    (new_session,) = client.call([Function("m", more)])
    assert not new_session.ok and result_id in new_session.errors[0].description


def test_read_by_query_compares_text_as_written(world):
    """Intacct: "String operands are case-sensitive" (developer.intacct.com/web-services/queries/)."""
    _, client = world
    assert [r["CUSTOMERID"] for r in client.read_by_query("CUSTOMER", "NAME = 'Acme Fleet Services'")] == ["ACME"]
    assert list(client.read_by_query("CUSTOMER", "NAME = 'acme fleet services'")) == []
    assert list(client.read_by_query("CUSTOMER", "NAME LIKE 'acme%'")) == []
