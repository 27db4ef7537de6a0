"""Intacct client and mapper without a network: retries and their safety, session renewal, error
reasons, XML parsing that refuses entity tricks, and the mapping of the engine's bodies."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from sagebridge.connectors.base import AuthError, RateLimited, RecordInvalid, SageUnavailable, UncertainWrite
from sagebridge.connectors.sage_intacct import mapper
from sagebridge.connectors.sage_intacct.client import CompanyGates, IntacctClient, IntacctCredentials, SessionCache
from sagebridge.connectors.sage_intacct.xml import Function, MalformedResponse, element, parse_response, sub
from sagebridge.domain.kinds import DocumentKind

CREDS = IntacctCredentials("sender", "sender-secret", "CO", "user", "user-secret")


def _answer(results: str, *, authenticated: bool = True, control: str = "success", errors: str = "") -> bytes:
    auth = "success" if authenticated else "failure"
    return (f"<response><control><status>{control}</status></control>{errors}<operation><authentication>"
            f"<status>{auth}</status></authentication>{results}</operation></response>").encode()


LOGIN = _answer("<result><status>success</status><function>getAPISession</function><controlid>getAPISession"
                "</controlid><data><api><sessionid>S1</sessionid><endpoint>https://pod.example/ia/xml/xmlgw.phtml"
                "</endpoint></api></data></result>")
OK_READ = _answer("<result><status>success</status><function>readByQuery</function><controlid>r</controlid>"
                  "<data listtype=\"customer\" count=\"1\" numremaining=\"0\"><CUSTOMER><CUSTOMERID>A</CUSTOMERID>"
                  "</CUSTOMER></data></result>")
OK_INVOICE = _answer("<result><status>success</status><function>create_invoice</function><controlid>invoice-k"
                     "</controlid><key>42</key></result>")
REPEAT = _answer("<result><status>failure</status><function>create_invoice</function><controlid>invoice-k</controlid>"
                 "<errormessage><error><errorno>XL03000004</errorno><description>Duplicate control id</description>"
                 "<description2>A function with control id 'invoice-k' was already executed and completed."
                 "</description2><correction></correction></error></errormessage></result>")


def _client(replies: list, seen: list[httpx.Request] | None = None, **options) -> IntacctClient:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, body = reply if isinstance(reply, tuple) else (200, reply)
        return httpx.Response(status, content=body)

    http = httpx.Client(transport=httpx.MockTransport(handle))
    return IntacctClient(http, CREDS, endpoint="https://api.example/ia/xml/xmlgw.phtml", sessions=SessionCache(),
                         gates=CompanyGates(), sleep=lambda s: None, jitter=lambda: 0.0, **options)


def _read(client: IntacctClient) -> list:
    return list(client.read_by_query("CUSTOMER", "CUSTOMERID = 'A'"))


def test_login_then_the_session_endpoint_is_used():
    seen: list[httpx.Request] = []
    client = _client([LOGIN, OK_READ, OK_READ], seen)
    assert _read(client) and _read(client)
    assert [str(r.url) for r in seen] == ["https://api.example/ia/xml/xmlgw.phtml",
                                         "https://pod.example/ia/xml/xmlgw.phtml",
                                         "https://pod.example/ia/xml/xmlgw.phtml"]
    assert b"<sessionid>S1</sessionid>" in seen[1].content and b"user-secret" not in seen[1].content


def test_an_expired_session_logs_in_once_more():
    client = _client([LOGIN, _answer("", authenticated=False), LOGIN, OK_READ])
    assert _read(client)[0]["CUSTOMERID"] == "A" and client.logins == 2


def test_a_refused_login_is_an_auth_error_with_intacct_s_words_and_no_password():
    refused = _answer("", authenticated=False).replace(
        b"</operation>", b"<errormessage><error><errorno>XL03000006</errorno><description>Sign-in information is "
                         b"incorrect</description></error></errormessage></operation>")
    with pytest.raises(AuthError) as exc:
        _client([refused]).login()
    assert "XL03000006: Sign-in information is incorrect" in str(exc.value) and "user-secret" not in str(exc.value)


def test_429_and_5xx_are_retried_but_not_524():
    gw = b"<response><control><status>failure</status></control><errormessage><error><errorno>GW-0010</errorno>" \
         b"<description>Rate limit</description></error></errormessage></response>"
    client = _client([LOGIN, (429, gw), (502, b""), (503, b"<html/>"), OK_READ])
    assert _read(client)
    with pytest.raises(SageUnavailable):
        _read(_client([LOGIN, (524, b"")]))
    with pytest.raises(RateLimited):
        _read(_client([LOGIN] + [(429, gw)] * 3, max_attempts=3))


def test_a_lost_answer_on_a_write_is_resent_and_a_repeat_becomes_uncertain_write():
    fn = element("create_invoice")
    client = _client([LOGIN, httpx.ReadTimeout("lost"), REPEAT])
    with pytest.raises(UncertainWrite) as exc:
        client.execute(Function("invoice-k", fn), unique=True)
    assert "already executed" in str(exc.value)
    assert _client([LOGIN, httpx.ReadTimeout("lost"), OK_INVOICE]).execute(Function("invoice-k", fn),
                                                                            unique=True).key == "42"
    with pytest.raises(UncertainWrite):
        _client([LOGIN, (524, b"")]).execute(Function("invoice-k", fn), unique=True)


def _refusal(errorno: str, words: str) -> bytes:
    return _answer(f"<result><status>failure</status><function>create_invoice</function><controlid>invoice-k"
                   f"</controlid><errormessage><error><errorno>{errorno}</errorno><description></description>"
                   f"<description2>{words}</description2></error></errormessage></result>")


def test_the_repeat_refusal_is_known_by_its_number_not_its_words():
    fn = Function("invoice-k", element("create_invoice"))
    # Known number, any words: uncertain, even on the first send (an earlier run may have sent it).
    with pytest.raises(UncertainWrite):
        _client([LOGIN, _refusal("XL03000004", "Something in words Intacct never promised")]).execute(fn, unique=True)
    # Words that say "already executed" under another number are a plain refusal now.
    with pytest.raises(RecordInvalid):
        _client([LOGIN, _refusal("BL03000018", "control id already executed, duplicate")]).execute(fn, unique=True)


def test_a_refused_repeat_of_a_lost_write_is_uncertain_whatever_its_number():
    fn = Function("invoice-k", element("create_invoice"))
    for lost in (httpx.ReadTimeout("lost"), (502, b""), (500, b"")):
        with pytest.raises(UncertainWrite):
            _client([LOGIN, lost, _refusal("BL01001973", "not created")]).execute(fn, unique=True)
    # After a 429 (a control-level failure: nothing ran) the refusal is the real answer.
    gw = b"<response><control><status>failure</status></control><errormessage><error><errorno>GW-0010</errorno>" \
         b"</error></errormessage></response>"
    with pytest.raises(RecordInvalid):
        _client([LOGIN, (429, gw), _refusal("BL01001973", "not created")]).execute(fn, unique=True)


def test_a_refused_sender_names_the_integration_s_sender_not_the_company_login():
    sender = _answer("", control="failure", errors="<errormessage><error><errorno>XL03000006</errorno>"
                                                   "<description2>no</description2></error></errormessage>")
    with pytest.raises(AuthError) as exc:
        _client([sender]).login()
    assert exc.value.data_code == "XL03000006" and "sender ID 'sender'" in str(exc.value)
    assert "sender-secret" not in str(exc.value)


def test_business_refusals_are_record_invalid_with_every_reason():
    refused = _answer("<result><status>failure</status><function>create_invoice</function><controlid>c</controlid>"
                      "<errormessage><error><errorno>BL03000018</errorno><description>Enter a valid account"
                      "</description><description2>Account '9999' is not valid.</description2><correction>Pick "
                      "one</correction></error></errormessage></result>")
    with pytest.raises(RecordInvalid) as exc:
        _client([LOGIN, refused]).execute(Function("c", element("create_invoice")), unique=True)
    assert str(exc.value).startswith("BL03000018: Enter a valid account Account '9999' is not valid. Pick one")


def test_responses_with_entities_are_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><response>&b;</response>'
    with pytest.raises(MalformedResponse):
        parse_response(bomb)


def test_controlids_are_deterministic_per_event():
    assert mapper.controlid("invoice", "abc") == mapper.controlid("invoice", "abc") == "invoice-abc"
    assert len(mapper.controlid("invoice", "k" * 400)) == 256


def test_reading_back_makes_amounts_positive_and_dates_iso():
    record = mapper.document_record(DocumentKind.SALES_CREDIT_NOTE, {
        "RECORDNO": "7", "RECORDID": "CN-1", "TOTALENTERED": "-12.00", "TOTALPAID": "0", "TOTALDUE": "-12.00",
        "CUSTOMERID": "C1", "WHENCREATED": "03/01/2025", "STATE": "Posted", "WHENMODIFIED": "03/02/2025 10:00:00"})
    assert record.data["total_amount"] == Decimal("12.00") and record.data["date"] == "2025-03-01"
    assert record.data["updated_at"] == "2025-03-02T10:00:00+00:00"
    fn = element("x")
    sub(fn, "amount", Decimal("1.50"))
    with pytest.raises(TypeError):
        sub(fn, "amount", 1.5)


def test_defect_16_read_by_query_never_asks_for_more_than_1000_per_page():
    seen: list[httpx.Request] = []
    client = _client([LOGIN, OK_READ, OK_READ, OK_READ], seen, page_size=5000)
    _read(client)
    list(client.read_by_query("CUSTOMER", "CUSTOMERID = 'A'", page_size=2000))
    list(client.read_by_query("CUSTOMER", "CUSTOMERID = 'A'", page_size=10))
    sizes = [r.content.split(b"<pagesize>")[1].split(b"</pagesize>")[0] for r in seen[1:]]
    assert sizes == [b"1000", b"1000", b"10"]
    default = _client([LOGIN, OK_READ], seen := [])
    _read(default)
    assert b"<pagesize>1000</pagesize>" in seen[1].content
