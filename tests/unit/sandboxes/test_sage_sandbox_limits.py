"""Sage Accounting's rate limits, on by default: 200 requests a minute per business, 150 in flight
per app, 1,296,000 a day per app; 429 beyond, without Retry-After unless the knob asks for one."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from local.sandboxes import limits
from local.sandboxes.sage_accounting import API_BASE_URL, SageAccountingSandbox, SandboxClock
from local.sandboxes.sage_accounting.faults import AppLimits


class Seconds:
    """Elapsed time a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(sandbox: SageAccountingSandbox, business_id: str | None = None) -> httpx.Client:
    token = sandbox.issue_tokens()["access_token"]
    return httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL,
                        headers={"Authorization": f"Bearer {token}",
                                 "X-Business": business_id or sandbox.lead_business_id})


@pytest.mark.limit_refusals_expected
def test_the_201st_request_in_a_minute_of_one_business_gets_429_without_retry_after() -> None:
    seconds = Seconds()
    sandbox = SageAccountingSandbox(clock=SandboxClock.frozen_at(), rate_limit_seconds=seconds)
    api = client(sandbox)
    assert {api.get("/ledger_accounts", params={"items_per_page": 1}).status_code for _ in range(200)} == {200}
    refused = api.get("/ledger_accounts")
    assert refused.status_code == 429 and "retry-after" not in refused.headers
    assert refused.json()[0]["$dataCode"] == "TooManyRequests"
    assert [r.limit for r in limits.take()] == [limits.RATE]
    other = client(sandbox, list(sandbox.businesses)[1])
    assert other.get("/ledger_accounts").status_code == 200  # each business has its own minute
    seconds.now += 59
    assert api.get("/ledger_accounts").status_code == 429
    seconds.now += 1  # the first request of the window is now a minute old
    assert api.get("/ledger_accounts").status_code == 200


@pytest.mark.limit_refusals_expected
def test_the_retry_after_knob_names_the_seconds_until_the_window_frees() -> None:
    seconds = Seconds()
    sandbox = SageAccountingSandbox(clock=SandboxClock.frozen_at(), rate_limit_seconds=seconds,
                                    rate_limit_per_minute=2, retry_after_header=True)
    api = client(sandbox)
    api.get("/contacts")
    seconds.now += 20
    api.get("/contacts")
    assert api.get("/contacts").headers["retry-after"] == "40"


def test_the_window_runs_on_elapsed_time_while_the_sandbox_clock_is_frozen() -> None:
    clock = SandboxClock.frozen_at()
    sandbox = SageAccountingSandbox(clock=clock)
    before = sandbox.limits.seconds()
    time.sleep(0.02)
    assert sandbox.limits.seconds() - before >= 0.02 and clock.now() == SandboxClock.frozen_at().now()
    clock.advance(60)  # a jump of the sandbox clock is a minute passed at Sage too
    assert sandbox.limits.seconds() - before >= 60


@pytest.mark.limit_refusals_expected
def test_jumping_the_sandbox_clock_a_minute_empties_the_window() -> None:
    clock = SandboxClock.frozen_at()
    sandbox = SageAccountingSandbox(clock=clock, rate_limit_per_minute=3)
    api = client(sandbox)
    assert [api.get("/contacts").status_code for _ in range(4)] == [200, 200, 200, 429]
    clock.advance(60)
    assert api.get("/contacts").status_code == 200


@pytest.mark.limit_refusals_expected
def test_more_than_150_requests_in_flight_per_app_get_429() -> None:
    sandbox = SageAccountingSandbox(clock=SandboxClock.frozen_at(), concurrent_requests=2)
    assert SageAccountingSandbox().limits.concurrent == 150
    token = sandbox.issue_tokens()["access_token"]
    sandbox.faults.latency(0.2, times=3)

    async def three_at_once() -> list[int]:
        async with httpx.AsyncClient(transport=sandbox.transport(), base_url=API_BASE_URL,
                                     headers={"Authorization": f"Bearer {token}"}) as api:
            answers = await asyncio.gather(*(api.get("/contacts", headers={"X-Business": b})
                                             for b in [*sandbox.businesses, sandbox.lead_business_id]))
            return sorted(a.status_code for a in answers)

    assert asyncio.run(three_at_once()) == [200, 200, 429]  # across businesses: the app's budget
    assert [r.limit for r in limits.take()] == [limits.CONCURRENCY]
    assert sandbox.limits.in_flight == 0


def test_the_day_budget_is_per_app_over_a_sliding_24_hours() -> None:
    seconds = Seconds()
    app = AppLimits(seconds, per_minute=None, concurrent=None, per_day=3)
    assert [app.admit(b) for b in ("a", "b", "a")] == [None, None, None]
    seconds.now += 3600
    refusal = app.admit("c")
    assert refusal is not None and refusal.limit == limits.RATE and refusal.retry_after == 86_400 - 3600
    seconds.now += 86_400 - 3600
    assert app.admit("c") is None


def test_a_request_refused_for_the_minute_still_counts_towards_it() -> None:
    """Sage does not say a refused call is free: the sandbox counts it, so retrying faster than the
    limit keeps a client refused, and only a pause of a whole minute lets it through."""
    seconds = Seconds()
    app = AppLimits(seconds, per_minute=1, concurrent=None, per_day=None)
    assert app.admit("a") is None
    for _ in range(5):
        seconds.now += 10
        assert app.admit("a") is not None
    seconds.now += 10
    assert app.admit("a") is not None  # the refusals at 10..50 s are still in the minute
    seconds.now += 60
    assert app.admit("a") is None  # a minute with no calls


def test_limits_can_be_switched_off() -> None:
    sandbox = SageAccountingSandbox(clock=SandboxClock.frozen_at(), rate_limit_per_minute=None)
    api = client(sandbox)
    assert {api.get("/contacts", params={"items_per_page": 1}).status_code for _ in range(201)} == {200}


def test_an_injected_429_has_no_retry_after_unless_asked(sandbox, api) -> None:
    sandbox.faults.rate_limit_storm(times=3)
    responses = [api.get("/contacts") for _ in range(4)]
    assert [r.status_code for r in responses] == [429, 429, 429, 200]
    assert "retry-after" not in responses[0].headers
    sandbox.faults.rate_limit_storm(times=1, retry_after=7)
    assert api.get("/contacts").headers["retry-after"] == "7"
    sandbox.retry_after_header = True
    sandbox.faults.rate_limit_storm(times=1)
    assert api.get("/contacts").headers["retry-after"] == "1"
    assert limits.take() == []  # injected faults are not the client's doing
