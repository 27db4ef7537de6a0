"""Sage 200 sign-ins end 90 days after consent and a refresh does not extend them: the status shows
the days left, the daily keep-alive warns 14 and 3 days before (once each, not daily) with the
one-click reconnect link, and after a reconnect the new sign-in gets its own warnings. Simulated
clock: the sandbox's, shared by everything."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from .conftest import PUBLIC_API_URL, TENANT


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
                           callback_url=f"{PUBLIC_API_URL}/oauth/callback")
    assert picked.kind == "choose_business"  # two companies: the tenant picks one
    label, href = picked.choices[0]
    assert label.startswith("Northwind")
    done = flow.callback(dict(parse_qsl(urlsplit(href).query)), callback_url=f"{PUBLIC_API_URL}/oauth/callback")
    assert done.kind == "success", done.message
    assert world.sage.days_left(TENANT) == 90
    assert world.sage.service.find(TENANT).business_id == world.sandbox.business_id

    world.clock.advance(days=76)
    _keep_alive(world)
    assert len(world.notices) == 2 and "14 days" in world.notices[1].title
