"""Sage 200 client over the sandbox in process (no sockets): the four headers, APIM's 401 without a
subscription key, OData paging and literals, retries on reads, uncertain writes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import httpx
import pytest

from local.sandboxes.sage200 import API_BASE_URL, DEFAULT_SUBSCRIPTION_KEY, Sage200Sandbox, SandboxClock
from sagebridge.connectors.base import AuthError, RecordInvalid, SageUnavailable, UncertainWrite
from sagebridge.connectors.sage200.client import Sage200Client, odata_datetime, odata_string, site_and_company
from sagebridge.observability import logger

logger.setLevel("WARNING")


@pytest.fixture
def sandbox():
    return Sage200Sandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))


@pytest.fixture
def http(sandbox):
    transport = sandbox.sync_transport()
    with httpx.Client(transport=transport) as client:
        yield client
    transport.close()


def _client(sandbox, http, key=DEFAULT_SUBSCRIPTION_KEY, **options):
    tokens = sandbox.issue_tokens()
    site, company = site_and_company(sandbox.business_id)
    return Sage200Client(http, token_provider=lambda *, rejected=None: tokens["access_token"], subscription_key=key,
                         site_id=site, company_id=company, base_url=API_BASE_URL, sleep=lambda s: None,
                         jitter=lambda: 0.0, **options)


def test_pages_with_orderby_top_and_skip(sandbox, http):
    client = _client(sandbox, http, page_size=2)
    codes = client.list("tax_codes")
    assert [c["code"] for c in codes] == [0, 1, 2, 5, 9]
    assert sandbox.request_count("GET", "tax_codes") == 3  # 2 + 2 + 1


def test_a_missing_or_wrong_subscription_key_is_refused_like_apim(sandbox, http):
    with pytest.raises(AuthError, match="invalid subscription key"):
        _client(sandbox, http, key="wrong").list("tax_codes")
    assert repr(_client(sandbox, http, key="secret-key")).find("secret-key") == -1


def test_reads_are_retried_and_writes_after_sending_are_uncertain(sandbox, http):
    client = _client(sandbox, http)
    sandbox.faults.error(503, times=2, method="GET")
    assert client.list("banks")
    sandbox.faults.drop_after_commit(method="POST", path="/customers")
    with pytest.raises(UncertainWrite):
        client.post("customers", {"reference": "C0000001", "name": "Lost answer Ltd"})
    assert client.list("customers", filter=f"reference eq {odata_string('C0000001')}")  # it was committed
    sandbox.faults.error(500, times=10, method="GET")
    with pytest.raises(SageUnavailable):
        client.list("banks")


def test_odata_literals():
    assert odata_string("O'Brien") == "'O''Brien'"
    assert odata_datetime(datetime(2025, 3, 3, 10, 0, tzinfo=timezone(timedelta(hours=1)))) == "2025-03-03T09:00:00Z"
    assert odata_datetime(date(2025, 3, 3)) == "2025-03-03T00:00:00Z"
    assert odata_datetime(datetime(2025, 3, 3, tzinfo=UTC)).endswith("Z")
    with pytest.raises(ValueError):
        odata_datetime(datetime(2025, 3, 3))  # noqa: DTZ001 - naive on purpose


def test_sage_200s_error_message_reaches_the_caller(sandbox, http):
    client = _client(sandbox, http)
    with pytest.raises(RecordInvalid) as refused:
        client.post("customers", {"name": "Twin", "reference": "ACME001"})
    assert refused.value.status == 400
    assert refused.value.message == "A customer with the reference ACME001 already exists."


def test_a_write_answered_503_is_uncertain_not_resent(sandbox, http):
    """Sage committed it, then a gateway answered 503: a resend would make a second customer."""
    client = _client(sandbox, http)
    sandbox.faults.error_after_commit(503, method="POST", path="/customers")
    with pytest.raises(UncertainWrite):
        client.post("customers", {"reference": "C0000001", "name": "Spoilt answer Ltd"})
    assert sandbox.request_count("POST", "customers") == 1
    assert len(client.list("customers", filter=f"reference eq {odata_string('C0000001')}")) == 1


def test_a_write_answered_429_is_retried(sandbox, http):
    """A 429 is the gateway's refusal before the request reaches Sage: nothing was processed."""
    client = _client(sandbox, http)
    sandbox.faults.rate_limit_storm(times=1, retry_after=0, method="POST", path="/customers")
    client.post("customers", {"reference": "C0000002", "name": "Throttled Ltd"})
    assert len(client.list("customers", filter=f"reference eq {odata_string('C0000002')}")) == 1
