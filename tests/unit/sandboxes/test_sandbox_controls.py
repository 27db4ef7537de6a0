"""The local-only controls in front of a sandbox (local/sandboxes/control.py) and the functions
following the stack's clock (local/timeshift.py), in process."""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from defusedxml import ElementTree

from local import timeshift
from local.sandboxes.control import SandboxControls
from local.sandboxes.sage_accounting import API_BASE_URL, HOST, SageAccountingSandbox, SandboxClock
from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    ENDPOINT,
    SageIntacctSandbox,
)
from sagebridge.connectors.sage_intacct.xml import Function, Login, element, request_document


def _client(app: object) -> httpx.Client:
    from local.sandboxes.sage_accounting import SyncASGITransport

    return httpx.Client(transport=SyncASGITransport(app), base_url=HOST)


def test_a_sandbox_has_no_control_endpoint_unless_served_through_the_controls(clock):
    sandbox = SageAccountingSandbox(clock=clock)
    assert _client(sandbox).get("/_sandbox/clock").status_code == 404  # no Sage has one
    controlled = _client(SandboxControls(sandbox, clock, sandbox=sandbox))
    assert controlled.get("/_sandbox/clock").json() == {"now": "2025-03-03T09:00:00+00:00", "moved_by_seconds": 0,
                                                        "grants": []}


def test_moving_the_clock_expires_the_access_token_the_sandbox_then_refuses(clock):
    sandbox = SageAccountingSandbox(clock=clock)
    tokens = sandbox.issue_tokens()
    controlled = _client(SandboxControls(sandbox, clock, sandbox=sandbox))
    api = httpx.Client(transport=controlled._transport, base_url=API_BASE_URL,
                       headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert api.get("/businesses").status_code == 200
    moved = controlled.post("/_sandbox/clock", json={"minutes": 5}).json()
    assert moved["now"] == "2025-03-03T09:05:00+00:00" and moved["moved_by_seconds"] == 300
    [grant] = moved["grants"]
    assert grant["access_token_expired"] is True and tokens["access_token"] not in str(moved)  # times, not tokens
    assert api.get("/businesses").status_code == 401


@pytest.mark.parametrize(("body", "error"), [
    (b'{"minutes": -1}', "only moves forward"), (b'{"fortnights": 1}', "unknown unit(s) fortnights"),
    (b"{}", "say how far"), (b"6 minutes", "must be JSON"), (b'{"hours": true}', "hours must be a number"),
])
def test_the_clock_refuses_what_it_cannot_do_and_says_why(clock, body, error):
    controlled = _client(SandboxControls(SageAccountingSandbox(clock=clock), clock))
    answer = controlled.post("/_sandbox/clock", content=body)
    assert answer.status_code == 400 and error in answer.json()["error"]
    assert clock.offset == timedelta()


def test_functions_follow_the_stack_clock_and_datetimes_stay_datetimes(monkeypatch):
    module = types.ModuleType("sagebridge._timeshift_probe")
    module.datetime = datetime  # type: ignore[attr-defined]
    other = types.ModuleType("somebody_else")
    other.datetime = datetime  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(sys.modules, other.__name__, other)
    stack_clock = SandboxClock()
    try:
        timeshift.follow(lambda: stack_clock.offset)
        assert not timeshift.moved()
        stack_clock.advance(days=8)
        assert timeshift.moved()
        timeshift.patch_loaded_modules()
        shifted = module.datetime.now(UTC)
        assert shifted - datetime.now(UTC) > timedelta(days=7, hours=23)
        assert type(shifted) is datetime  # what the code stores and compares is a plain datetime
        assert isinstance(datetime.now(UTC), module.datetime)  # a real datetime still passes the check
        assert other.datetime is datetime  # only Sage Bridge's modules are shifted
    finally:
        timeshift.follow(timedelta())
    assert abs(module.datetime.now(UTC) - datetime.now(UTC)) < timedelta(seconds=5)


def test_each_request_waits_the_latency_but_the_control_endpoint_does_not(clock):
    import time

    sandbox = SageAccountingSandbox(clock=clock)
    controlled = _client(SandboxControls(sandbox, clock, sandbox=sandbox, latency=(0.05, 0.05)))
    started = time.monotonic()
    assert controlled.get("/v3.1/businesses").status_code == 401  # reached the sandbox, after the wait
    assert time.monotonic() - started >= 0.05
    started = time.monotonic()
    controlled.get("/_sandbox/clock")
    assert time.monotonic() - started < 0.05


@pytest.mark.parametrize(("value", "bounds"), [("", (0.02, 0.05)), ("0", (0.0, 0.0)), ("30", (0.03, 0.03)),
                                               ("10-80", (0.01, 0.08))])
def test_latency_knob(value, bounds):
    from local.sandboxes.control import latency_from_env

    assert latency_from_env(value) == pytest.approx(bounds)


@pytest.mark.parametrize("value", ["fast", "50-20", "-5"])
def test_latency_knob_refuses_what_is_not_milliseconds(value):
    from local.sandboxes.control import latency_from_env

    with pytest.raises(ValueError, match="SAGEBRIDGE_SANDBOX_LATENCY_MS"):
        latency_from_env(value)


def test_a_person_can_take_the_sender_authorisation_away_and_give_it_back_over_http(clock):
    """What the Intacct company admin does in Intacct, done locally over the control endpoint: the next
    sign-in is refused as Intacct refuses it (XL03000006 at the authentication level)."""
    sandbox = SageIntacctSandbox(clock=clock)
    controlled = _client(SandboxControls(sandbox, clock, sandbox=sandbox))

    def sign_in() -> str | None:
        doc = request_document(sender_id=DEFAULT_SENDER_ID, sender_password=DEFAULT_SENDER_PASSWORD,
                               control_id="signin", functions=[Function("s", element("getAPISession"))],
                               login=Login(DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD))
        answer = ElementTree.fromstring(controlled.post(ENDPOINT, content=doc).content)
        return answer.findtext("operation/errormessage/error/errorno")

    assert controlled.get("/_sandbox/sender-authorisations").json() == {
        "companies": {DEFAULT_COMPANY: [DEFAULT_SENDER_ID]}}
    assert sign_in() is None
    taken = controlled.post("/_sandbox/sender-authorisations",
                            json={"company_id": DEFAULT_COMPANY, "sender_id": DEFAULT_SENDER_ID, "authorised": False})
    assert taken.status_code == 200 and taken.json() == {"companies": {DEFAULT_COMPANY: []}}
    assert sign_in() == "XL03000006"
    controlled.post("/_sandbox/sender-authorisations",
                    json={"company_id": DEFAULT_COMPANY, "sender_id": DEFAULT_SENDER_ID, "authorised": True})
    assert sign_in() is None
    wrong = controlled.post("/_sandbox/sender-authorisations", json={"company_id": "NOPE", "sender_id": "x",
                                                                     "authorised": False})
    assert wrong.status_code == 400 and "no company 'NOPE'" in wrong.json()["error"]
    # The Sage Accounting sandbox has no companies that authorise senders: no such control there.
    other = _client(SandboxControls(SageAccountingSandbox(clock=clock), clock))
    assert other.get("/_sandbox/sender-authorisations").status_code == 404
