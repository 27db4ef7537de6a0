"""What a person can try in the running local stack, done here over HTTP only: connect through Sage's
consent page and Sage Bridge's business picker (the stack's Sage user has two businesses), move the
sandboxes' clock with their control endpoint and watch tokens expire and be refreshed, and see the
Sage 200 sign-in warnings 14 and 3 days before the grant ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from local import dynamodb_local
from local.demo import parse_page, sign_in_to_sage
from local.sandboxes.host_app import WebhookSender
from local.sandboxes.host_app.fixtures import example_event
from local.sandboxes.stack_entry import STACK_BUSINESSES

pytestmark = pytest.mark.e2e

SECOND = STACK_BUSINESSES[1]


class Operator:
    """The admin API as an operator uses it (the stack signs every caller in as the operator)."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.api = httpx.Client(base_url=stack.outputs["api_url"], timeout=60)

    def __call__(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.api.request(method, f"/admin/tenants{path}", **kwargs)
        assert answer.status_code < 400, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json()

    def create_tenant(self, tenant_id: str, provider: str = "sage_accounting") -> str:
        callback = f"{self.stack.outputs['sandboxes']['host_app']}/callback"
        created = self.api.post("/admin/tenants", json={"tenant_id": tenant_id, "settings": {
            "provider": provider, "host_callback_url": callback, "trigger_statuses": ["pending_payment"]}})
        assert created.status_code == 201, created.text
        return str(created.json()["webhook_secret"])


@pytest.fixture(scope="module")
def operator(stack: Any) -> Operator:
    return Operator(stack)


def test_connecting_shows_sages_consent_page_then_the_business_picker_and_links_the_chosen_business(
        stack, operator):
    secret = operator.create_tenant("picker-garage")
    link = operator("GET", "/picker-garage/connect-url")["url"]
    pages: list[str] = []
    page = sign_in_to_sage(link, business=SECOND, seen=pages)
    assert pages == ["Sage - Allow access", "Choose your Sage business", "Link to Sage established successfully"]
    assert SECOND in page.text
    connection = operator("GET", "/picker-garage/connection")
    assert connection["state"] == "connected" and connection["business_name"] == SECOND

    # The tenant's documents land in the business it picked, not the user's first one.
    rates = operator("GET", "/picker-garage/sage/tax-rates")
    accounts = operator("GET", "/picker-garage/sage/ledger-accounts")
    standard = next(r for r in rates if r["name"].lower().startswith("standard"))
    sales = next(a for a in accounts if a.get("code") == "4000")
    operator("PATCH", "/picker-garage/settings", json={"changes": {
        "tax_mappings": {"S20": standard["id"]}, "default_sales_ledger_account_id": sales["id"]}})
    sender = WebhookSender("picker-garage", secret, base_url=stack.outputs["api_url"])
    assert sender.send(example_event("customer.upserted")).status == 202
    assert sender.send(example_event("invoice.upserted")).status == 202  # pending_payment: exported at once
    stack.drain_queues()
    log = operator("GET", "/picker-garage/log", params={"kind": "sales_invoice"})["entries"]
    assert [(e["host_id"], e["outcome"]) for e in log] == [("INV-1001", "created")]
    sage = stack.sandboxes["sage_accounting"]
    chosen = next(b.id for b in sage.businesses.values() if b.name == SECOND)
    assert sage.business(chosen).collections["sales_invoices"].get(log[0]["sage_id"]) is not None


def test_denying_on_sages_consent_page_connects_nothing(operator):
    operator.create_tenant("denied-garage")
    link = operator("GET", "/denied-garage/connect-url")["url"]
    pages: list[str] = []
    page = sign_in_to_sage(link, business=SECOND, decision="deny", seen=pages)
    assert pages == ["Sage - Allow access", "Sage was not connected"]
    assert "You chose not to give access to Sage" in page.text
    assert operator("GET", "/denied-garage/connection")["state"] == "not_connected"


def test_a_sign_in_finished_in_another_http_client_is_refused(operator):
    """The reviewer's reproduction: open the connect link in one client, press Allow and come back to
    the callback in another with no cookies. Refused; the opener's own client still gets through."""
    operator.create_tenant("elsewhere-garage")
    link = operator("GET", "/elsewhere-garage/connect-url")["url"]
    opener = httpx.Client(timeout=60)
    hop = opener.get(link)
    assert hop.status_code == 302
    cookie = [p.strip() for p in hop.headers["set-cookie"].split(";")]
    assert cookie[0].startswith("sb_connect=")
    # Plain http on loopback: no Secure, or no client would send it back; the rest as in AWS.
    assert set(cookie[1:]) == {"Path=/oauth/callback", "Max-Age=600", "HttpOnly", "SameSite=Lax"}
    other = httpx.Client(follow_redirects=True, timeout=60)
    consent = other.get(hop.headers["location"])
    form = next(f for f in parse_page(consent.text).forms if ("decision", "allow") in f["buttons"])
    page = other.post(urljoin(str(consent.url), form["action"]), data={**form["fields"], "decision": "allow"})
    assert page.status_code == 403 and "Open the connect link again in this browser" in page.text
    assert operator("GET", "/elsewhere-garage/connection")["state"] == "not_connected"
    back = opener.get(str(page.url))  # the same callback, from the client that opened the link
    assert back.status_code == 200 and "Choose your Sage business" in back.text


def test_the_stacks_sage_sandboxes_send_a_code_only_to_sage_bridges_registered_callback(stack):
    """As at Sage, an authorize request whose redirect_uri is not the app's registered callback gets an
    error page, not a redirect carrying a code (found by a reviewer: any URL used to work locally)."""
    accounting, sage200 = stack.sandboxes["sage_accounting"], stack.sandboxes["sage200"]
    tries = [
        (stack.outputs["sandboxes"]["sage_accounting"] + "/oauth2/auth/central",
         {"response_type": "code", "client_id": accounting.client_id, "state": "s", "filter": "apiv3.1"}),
        (stack.outputs["sandboxes"]["sage200"] + "/authorize",
         {"response_type": "code", "client_id": sage200.client_id, "state": "s", "audience": "s200ukipd/sage200",
          "scope": "openid profile email offline_access"}),
    ]
    registered = f"{stack.outputs['api_url']}/oauth/callback"
    for url, params in tries:
        refused = httpx.get(url, params=params | {"redirect_uri": "http://evil.example/cb"}, timeout=30)
        assert refused.status_code == 400 and "location" not in refused.headers, url
        assert httpx.get(url, params=params | {"redirect_uri": registered}, timeout=30).status_code == 200, url


# --- the clock: a stack of its own, in its own process, driven the way a person drives it --------
# (time moves for the whole stack and never back, so the session's shared stack stays untouched)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("clock-stack")
    env = {**os.environ, "SAGEBRIDGE_LOCAL_STATE": str(state)}
    log = (state / "stack.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "local.stack", "--port", str(dynamodb_local.free_port()),
                                "--speedup", "0"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C to stop" not in (state / "stack.log").read_text():
            assert process.poll() is None and time.monotonic() < deadline, (state / "stack.log").read_text()
            time.sleep(0.2)
        yield {"state": state, **json.loads((state / "outputs.json").read_text())}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _clock(stack: dict[str, Any], sandbox: str = "sage_accounting", **move: float) -> dict[str, Any]:
    url = stack["sandboxes"][sandbox] + "/_sandbox/clock"
    answer = httpx.post(url, json=move, timeout=30) if move else httpx.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _keep_alive(stack: dict[str, Any]) -> dict[str, int]:
    """The daily TokenKeepAliveFunction, now, as a person runs it: `python -m local.invoke`."""
    done = subprocess.run([sys.executable, "-m", "local.invoke", "TokenKeepAliveFunction"], cwd=ROOT,
                          env={**os.environ, "SAGEBRIDGE_LOCAL_STATE": str(stack["state"])},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _connect(stack: dict[str, Any], tenant_id: str, provider: str, business: str) -> Operator:
    operator = Operator(_Outputs(stack))
    operator.create_tenant(tenant_id, provider)
    page = sign_in_to_sage(operator("GET", f"/{tenant_id}/connect-url")["url"], business=business)
    assert "Link to Sage established successfully" in page.text, page.text[:300]
    return operator


class _Outputs:
    def __init__(self, outputs: dict[str, Any]) -> None:
        self.outputs = outputs


def test_the_control_endpoint_moves_the_clock_forward_only_and_says_what_it_refuses(own_stack):
    before = _clock(own_stack)
    url = own_stack["sandboxes"]["sage_accounting"] + "/_sandbox/clock"
    for body, error in (({"minutes": -5}, "only moves forward"), ({"weeks": 1}, "unknown unit(s) weeks"),
                        ({}, "say how far"), ({"days": "two"}, "days must be a number")):
        answer = httpx.post(url, json=body, timeout=30)
        assert answer.status_code == 400 and error in answer.json()["error"], (body, answer.text)
    assert httpx.get(own_stack["sandboxes"]["sage_accounting"] + "/_sandbox/nothing").status_code == 404
    assert _clock(own_stack)["moved_by_seconds"] == before["moved_by_seconds"] == 0
    # One clock for the stack: the Sage 200 and Intacct sandboxes answer the same time.
    moved = _clock(own_stack, "sage200", seconds=30)
    assert moved["moved_by_seconds"] == 30 == _clock(own_stack, "sage_intacct")["moved_by_seconds"]


def test_clock_past_the_access_tokens_300_s_the_next_call_refreshes_it_and_works(own_stack):
    operator = _connect(own_stack, "clock-garage", "sage_accounting", SECOND)
    [grant] = _clock(own_stack)["grants"]
    assert grant["access_token_expired"] is False and grant["refreshes"] == 0

    [grant] = _clock(own_stack, minutes=6)["grants"]
    assert grant["access_token_expired"] is True

    assert operator("GET", "/clock-garage/sage/tax-rates")  # reads Sage: works, on a fresh token
    [grant] = _clock(own_stack)["grants"]
    assert grant["access_token_expired"] is False and grant["refreshes"] == 1
    refreshed = operator("GET", "/clock-garage/connection")["last_refreshed_at"]
    # At the stack's time (6 minutes ahead), not the machine's; a loaded machine may cross a minute.
    drift = datetime.fromisoformat(_clock(own_stack)["now"]) - datetime.fromisoformat(refreshed)
    assert abs(drift) < timedelta(seconds=90), (refreshed, drift)  # the machine is 6 minutes behind

    # A week and a day idle: the daily keep-alive refreshes the grant before Sage's 31 days run out.
    _clock(own_stack, days=8)
    assert _keep_alive(own_stack)["refreshed"] == 1
    [grant] = _clock(own_stack)["grants"]
    assert grant["refreshes"] == 2 and grant["access_token_expired"] is False


def test_sage200_sign_in_warnings_reach_operators_14_and_3_days_before_the_grant_ends(own_stack):
    import boto3

    operator = _connect(own_stack, "clock-motors", "sage200", SECOND)
    # Operators subscribe to the notification topic (by email in AWS); here a queue stands in.
    sqs = boto3.client("sqs", endpoint_url=own_stack["moto_endpoint"], region_name="eu-west-2")
    sns = boto3.client("sns", endpoint_url=own_stack["moto_endpoint"], region_name="eu-west-2")
    inbox = sqs.create_queue(QueueName="operator-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=own_stack["resources"]["NotificationTopic"], Protocol="sqs", Endpoint=inbox_arn)

    def warnings() -> list[str]:
        got = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
        for message in got:  # read once: left in the queue, it comes back after the visibility timeout
            sqs.delete_message(QueueUrl=inbox, ReceiptHandle=message["ReceiptHandle"])
        subjects = [json.loads(m["Body"])["Subject"] for m in got]
        return [s for s in subjects if "clock-motors" in s]

    assert operator("GET", "/clock-motors/connection")["expires_in_days"] == 89
    assert _keep_alive(own_stack)["warned"] == 0

    _clock(own_stack, days=77)  # the grant ends 90 days after consent, whatever the refreshes
    assert _keep_alive(own_stack)["warned"] == 1
    left = operator("GET", "/clock-motors/connection")["expires_in_days"]
    assert left < 14 and warnings() == [f"Sage Bridge: Sage 200 connection of tenant clock-motors ends in {left} days"]
    assert _keep_alive(own_stack)["warned"] == 0 and warnings() == []  # once per threshold

    _clock(own_stack, days=10)
    assert _keep_alive(own_stack)["warned"] == 1
    connection = operator("GET", "/clock-motors/connection")
    assert connection["state"] == "expiring" and connection["expires_in_days"] < 3
    left = connection["expires_in_days"]
    assert warnings() == [f"Sage Bridge: Sage 200 connection of tenant clock-motors ends in {left} days"]

    # What `python -m local.notifications` shows a person: both warnings, with the reconnect link.
    shown = subprocess.run([sys.executable, "-m", "local.notifications", "--tenant", "clock-motors"], cwd=ROOT,
                           env={**os.environ, "SAGEBRIDGE_LOCAL_STATE": str(own_stack["state"])},
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("Sage 200 connection of tenant clock-motors ends in") == 2
    assert "/connect/clock-motors?link=" in shown.stdout


def test_the_stacks_sage_sandboxes_answer_after_a_realistic_latency(stack):
    assert stack.outputs["sandbox_latency_ms"] == [20, 50]
    for name in ("sage_accounting", "sage200", "sage_intacct"):
        started = time.monotonic()
        httpx.get(stack.outputs["sandboxes"][name] + "/no-such-page", timeout=30)
        assert time.monotonic() - started >= 0.02, name
