"""Sage 200's rate limit (Azure API Management in front of the API, counted per subscription key):
the sandbox throttles by default, with and without Retry-After, and the client stays under it by
pacing, or waits as long as the 429 says (or a whole window when it says nothing)."""

from __future__ import annotations

import httpx
import pytest

from local.sandboxes import limits
from local.sandboxes.sage200 import (
    API_BASE_URL,
    DEFAULT_SUBSCRIPTION_KEY,
    RATE_LIMIT_PER_MINUTE,
    Sage200Sandbox,
    SandboxClock,
)
from sagebridge.connectors.base import RateLimited
from sagebridge.connectors.sage200.client import RATE_WINDOW_SECONDS, Sage200Client, site_and_company
from sagebridge.connectors.sage_accounting.client import RequestPacer
from sagebridge.observability import logger

logger.setLevel("WARNING")
HEADERS = {"Ocp-Apim-Subscription-Key": DEFAULT_SUBSCRIPTION_KEY}


def _sandbox(**knobs) -> Sage200Sandbox:
    return Sage200Sandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"), **knobs)


def _client(sandbox: Sage200Sandbox, http: httpx.Client, **options) -> Sage200Client:
    tokens = sandbox.issue_tokens()
    site, company = site_and_company(sandbox.business_id)
    options.setdefault("sleep", lambda s: sandbox.clock.advance(seconds=s))
    return Sage200Client(http, token_provider=lambda *, rejected=None: tokens["access_token"],
                         subscription_key=DEFAULT_SUBSCRIPTION_KEY, site_id=site, company_id=company,
                         base_url=API_BASE_URL, jitter=lambda: 0.0, **options)


def _burst(sandbox: Sage200Sandbox, count: int) -> list[httpx.Response]:
    token = sandbox.issue_tokens()["access_token"]
    site, company = site_and_company(sandbox.business_id)
    headers = HEADERS | {"Authorization": f"Bearer {token}", "X-Site": site, "X-Company": company}
    with httpx.Client(transport=sandbox.sync_transport()) as http:
        return [http.get(f"{API_BASE_URL}/tax_codes", headers=headers) for _ in range(count)]


@pytest.mark.limit_refusals_expected
def test_the_sandbox_throttles_by_default_like_api_management():
    sandbox = _sandbox()
    answers = _burst(sandbox, RATE_LIMIT_PER_MINUTE + 1)
    assert [r.status_code for r in answers[:-1]] == [200] * RATE_LIMIT_PER_MINUTE
    throttled = answers[-1]
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "60"
    assert throttled.json() == {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 60 seconds."}
    assert [r.limit for r in limits.take()] == [limits.RATE]
    sandbox.clock.advance(seconds=60)  # the sliding minute has moved on
    assert _burst(sandbox, 1)[0].status_code == 200


@pytest.mark.limit_refusals_expected
def test_the_knob_takes_retry_after_away():
    throttled = _burst(_sandbox(rate_limit_retry_after=False), RATE_LIMIT_PER_MINUTE + 1)[-1]
    assert throttled.status_code == 429
    assert "retry-after" not in throttled.headers
    assert throttled.json() == {"statusCode": 429, "message": "Rate limit is exceeded."}


def test_a_paced_client_never_crosses_the_limit():
    sandbox = _sandbox()
    pacer = RequestPacer(RATE_LIMIT_PER_MINUTE, clock=lambda: sandbox.clock.now().timestamp(),
                         sleep=lambda s: sandbox.clock.advance(seconds=s))
    started = sandbox.clock.now()
    with httpx.Client(transport=sandbox.sync_transport()) as http:
        client = _client(sandbox, http, pacer=pacer)
        for _ in range(RATE_LIMIT_PER_MINUTE * 2 + 10):
            client.request("GET", "tax_codes")
    # No 429 at all (the suite's limit check would fail this test), and it took Sage's time to do it.
    assert (sandbox.clock.now() - started).total_seconds() > 120


@pytest.mark.limit_refusals_expected
@pytest.mark.parametrize(("retry_after", "waited"), [(True, [60.0]), (False, [RATE_WINDOW_SECONDS])])
def test_an_unpaced_client_waits_as_long_as_the_429_says_or_a_whole_window(retry_after, waited):
    sandbox = _sandbox(rate_limit_retry_after=retry_after)
    _burst(sandbox, RATE_LIMIT_PER_MINUTE)  # someone else used up the minute on our key
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        sandbox.clock.advance(seconds=seconds)

    with httpx.Client(transport=sandbox.sync_transport()) as http:
        client = _client(sandbox, http, sleep=sleep)
        assert [c["code"] for c in client.request("GET", "tax_codes")] == [0, 1, 2, 5, 9]
    assert slept == waited


@pytest.mark.limit_refusals_expected
def test_a_paced_client_holds_every_request_after_a_429_and_gives_up_when_the_wait_is_too_long():
    sandbox = _sandbox()
    sandbox.faults.rate_limit_storm(times=1, retry_after=7)
    now = {"t": 0.0}
    pacer = RequestPacer(6000, clock=lambda: now["t"], sleep=lambda s: now.__setitem__("t", now["t"] + s))
    with httpx.Client(transport=sandbox.sync_transport()) as http:
        client = _client(sandbox, http, pacer=pacer)
        client.request("GET", "tax_codes")
        assert now["t"] >= 7  # the pause went through the pacer, so it holds every client of the key
        sandbox.faults.rate_limit_storm(times=1, retry_after=600)
        with pytest.raises(RateLimited):
            client.request("GET", "tax_codes")
