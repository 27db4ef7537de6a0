"""Sage 200 sign-ins end 90 days after consent and a refresh does not extend them: the status shows
the days left, the daily keep-alive warns 14 and 3 days before (once each, not daily) with the
one-click reconnect link, and after a reconnect the new sign-in gets its own warnings. Simulated
clock: the sandbox's, shared by everything."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import SecretStr

from local.sandboxes.sage200 import Sage200Sandbox, SandboxClock
from sagebridge.connectors.sage200.product import build_sage200
from sagebridge.security.tokens import TokenSet
from sagebridge.store.aws import AwsClients
from sagebridge.store.store import Store

from .conftest import PUBLIC_API_URL, START, TENANT, sage200_secrets, sage200_settings


def _keep_alive(world) -> None:
    world.sage.service.keep_alive_all([TENANT])


def test_days_left_and_warnings_14_and_3_days_before_once_each(world):
    world.add_tenant()
    first_end = world.sage.service.find(TENANT).refresh_expires_at
    assert world.sage.days_left(TENANT) == 90

    world.clock.advance(days=8)
    _keep_alive(world)  # refreshes (weekly), but the end does not move
    record = world.sage.service.find(TENANT)
    assert record.last_refreshed_at == world.clock.now()
    assert record.refresh_expires_at == first_end
    assert world.sage.days_left(TENANT) == 82

    world.clock.advance(days=67)  # 15 days left
    _keep_alive(world)
    assert world.notices == []

    world.clock.advance(days=1)  # 14 days left: the first warning
    _keep_alive(world)
    assert len(world.notices) == 1
    notice = world.notices[0]
    assert "14 days" in notice.title and notice.tenant_id == TENANT
    assert f"{PUBLIC_API_URL}/connect/{TENANT}?" in notice.hint  # the one-click reconnect link
    for _ in range(3):  # the keep-alive runs daily: no repeats
        _keep_alive(world)
        world.clock.advance(days=1)
    assert len(world.notices) == 1

    world.clock.advance(days=8)  # 3 days left: the second warning
    assert world.sage.days_left(TENANT) == 3
    _keep_alive(world)
    assert len(world.notices) == 2 and "3 days" in world.notices[1].title
    world.clock.advance(days=1)
    _keep_alive(world)
    assert len(world.notices) == 2

    world.clock.advance(days=3)  # past the end: the grant is dead, the tenant paused
    _keep_alive(world)
    assert world.sage.days_left(TENANT) == 0
    assert not world.sage.service.is_connected(TENANT)
    assert any("expired" in n.title for n in world.notices[2:])


def test_reconnecting_from_the_link_starts_a_new_90_days_with_its_own_warnings(world):
    world.add_tenant()
    world.clock.advance(days=76)
    _keep_alive(world)
    [notice] = world.notices
    link = notice.hint[notice.hint.index(PUBLIC_API_URL):].rstrip(".")
    query = dict(parse_qsl(urlsplit(link).query))

    # One click: the signed link starts Sage ID's consent, which comes back to the callback.
    world.sandbox.auto_approve = True
    flow = world.sage.flow
    started = flow.start(TENANT, query, redirect_uri=f"{PUBLIC_API_URL}/oauth/callback")
    assert started.status == 302 and "audience=s200ukipd%2Fsage200" in started.location
    assert "offline_access" in dict(parse_qsl(urlsplit(started.location).query))["scope"]
    back = world.http.get(started.location)
    assert back.status_code == 302
    picked = flow.callback(dict(parse_qsl(urlsplit(back.headers["location"]).query)),
                           callback_url=f"{PUBLIC_API_URL}/oauth/callback", browser=started.browser_nonce)
    assert picked.kind == "choose_business"  # two companies: the tenant picks one
    label, href = picked.choices[0]
    assert label.startswith("Northwind")
    done = flow.callback(dict(parse_qsl(urlsplit(href).query)), callback_url=f"{PUBLIC_API_URL}/oauth/callback",
                         browser=started.browser_nonce)
    assert done.kind == "success", done.message
    assert world.sage.days_left(TENANT) == 90
    assert world.sage.service.find(TENANT).business_id == world.sandbox.business_id

    world.clock.advance(days=76)
    _keep_alive(world)
    assert len(world.notices) == 2 and "14 days" in world.notices[1].title


def test_on_its_own_clock_the_app_still_warns_when_the_sandbox_clock_nears_the_end(app_table, dynamodb_client, kms):
    """The local stack: the app keeps its own time while a person moves the sandbox's clock. The
    sandbox then says when the grant ends (`report_refresh_expiry`, on in the stack's factory), and
    the refresh that follows an expired token brings the warning forward."""
    sandbox = Sage200Sandbox(clock=SandboxClock.frozen_at(START), report_refresh_expiry=True)
    app_clock = SandboxClock.frozen_at(START)
    transport = sandbox.sync_transport()
    notices: list = []
    with httpx.Client(transport=transport) as http:
        sage = build_sage200(sage200_settings(app_table, kms[1]), store=Store(app_table, dynamodb_client,
                                                                              clock=app_clock.now),
                             clients=AwsClients(dynamodb=dynamodb_client, kms=kms[0]), http=http,
                             secrets=sage200_secrets(), clock=app_clock.now,
                             sleep=lambda s: app_clock.advance(seconds=s), notify=notices.append)
        body = sandbox.issue_tokens()
        sage.service.store_new_connection(TENANT, TokenSet(
            access_token=SecretStr(body["access_token"]), refresh_token=SecretStr(body["refresh_token"]),
            expires_at=app_clock.now() + timedelta(seconds=body["expires_in"]),
            refresh_expires_at=app_clock.now() + timedelta(seconds=body["refresh_token_expires_in"])),
            business_id=sandbox.business_id, business_name="Northwind")
        assert sage.days_left(TENANT) == 90

        sandbox.clock.advance(days=80)  # only Sage's clock moves
        sage.connector_for(TENANT).list_tax_rates()  # 401 on Sage's clock, one refresh, then the answer
        left = sage.service.find(TENANT).refresh_expires_at - app_clock.now()
        assert timedelta(days=9, hours=23) < left <= timedelta(days=10)  # the app's clock barely moved (pacing)
        sage.service.keep_alive_all([TENANT])
        expected = f"ends in {sage.days_left(TENANT)} days"  # 10, or 9 if pacing moved the app's clock
    transport.close()
    assert len(notices) == 1 and expected in notices[0].title  # the 14-day warning, on the app's clock


def test_the_keep_alive_counts_connections_expiring_within_7_days_for_the_alarm(world):
    """The `ConnectionsExpiring` metric (and the alarm on it) counts what the status page calls
    `expiring`: still connected, the sign-in ends within 7 days of the keep-alive's run."""
    world.add_tenant()
    world.clock.advance(days=82)  # 8 days left
    assert world.sage.service.keep_alive_all([TENANT]).expiring == 0
    world.clock.advance(days=1)  # 7 days left
    assert world.sage.service.keep_alive_all([TENANT]).expiring == 1
    world.clock.advance(days=8)  # ended: expired, no longer "expiring"
    assert world.sage.service.keep_alive_all([TENANT]).expiring == 0
