"""The whole browser flow from /connect to the success page against the sandbox, and every failure page."""

from __future__ import annotations

import base64
import json
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

from tests.integration.connect.conftest import API_DOMAIN, ROOT, TENANT, Context


def location(response) -> str:
    assert response["statusCode"] == 302, response
    return response["headers"]["Location"]


def test_connect_to_success_page(world, browser):
    start = browser.start()
    url = location(start)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("http://sage-accounting.local/oauth2/auth/central?filter=apiv3.1&")
    assert query["scope"] == ["full_access"] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [f"https://{API_DOMAIN}/oauth/callback"]
    assert start["headers"]["Cache-Control"] == "no-store"

    page = browser.callback(browser.consent(url))
    assert page["statusCode"] == 200
    assert "Link to Sage established successfully" in page["body"]

    record = world.sa.service.find(TENANT)
    assert record.business_id == world.sandbox.lead_business_id and world.sa.service.is_connected(TENANT)
    # Only ciphertext is stored: no token in the record.
    grant = next(iter(world.sandbox.oauth.grants.values()))
    assert grant.refresh_token.encode() not in record.ciphertext
    # And the connection works.
    assert world.sa.client_for(TENANT).list("tax_rates")


def test_several_businesses_are_offered_and_the_pick_link_is_single_use(make_world, browser_for):
    world = make_world()  # two businesses
    browser = browser_for(world)
    page = browser.callback(browser.consent(location(browser.start())))
    assert page["statusCode"] == 200 and "Choose your Sage business" in page["body"]
    links = [unescape(h) for h in re.findall(r'href="([^"]+)"', page["body"])]
    assert len(links) == 2 and "Southside Motors Ltd" in page["body"]
    chosen = links[1]
    pick = {k: v[0] for k, v in parse_qs(urlsplit(chosen).query).items()}
    jar = dict(browser.jar)
    done = browser.callback(pick)
    assert "Link to Sage established successfully" in done["body"]
    assert world.sa.service.find(TENANT).business_name == "Southside Motors Ltd"
    assert browser.jar == {}  # the flow is over: its cookie is cleared
    again = browser.callback(pick)
    assert again["statusCode"] == 403 and "again in this browser" in again["body"]
    browser.jar.update(jar)  # even with the cookie back, the pick works once
    again = browser.callback(pick)
    assert again["statusCode"] == 400 and "already used" in again["body"]


def test_denied_consent(world, browser):
    page = browser.callback(browser.consent(location(browser.start()), decision="deny"))
    assert page["statusCode"] == 200 and "Sage was not connected" in page["body"]
    assert world.sa.service.find(TENANT) is None


def test_expired_code(world, browser):
    back = browser.consent(location(browser.start()))
    world.clock.advance(61)  # codes live 60 s
    page = browser.callback(back)
    assert page["statusCode"] == 400 and "took too long or was already used" in page["body"]
    assert world.sa.service.find(TENANT) is None


def test_reused_code(world, browser):
    first = browser.consent(location(browser.start()))
    assert "successfully" in browser.callback(first)["body"]
    # A fresh, valid state with the already spent code.
    second = browser.consent(location(browser.start()))
    page = browser.callback({"code": first["code"], "state": second["state"]})
    assert page["statusCode"] == 400 and "took too long or was already used" in page["body"]


def test_tampered_state(world, browser):
    back = browser.consent(location(browser.start()))
    payload, mac = back["state"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["t"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    page = browser.callback({**back, "state": f"{forged}.{mac}"})
    assert page["statusCode"] == 400 and "not valid" in page["body"]
    page = browser.callback({**back, "state": "garbage"})
    assert page["statusCode"] == 400 and "not valid" in page["body"]
    assert world.sa.service.find("someone-else") is None


def test_reused_state(world, browser):
    back = browser.consent(location(browser.start()))
    jar = dict(browser.jar)
    assert "successfully" in browser.callback(back)["body"]
    page = browser.callback(back)  # the cookie went with the finished flow
    assert page["statusCode"] == 403 and "already finished" in page["body"]
    browser.jar.update(jar)  # a replay with the cookie: the state itself works once
    page = browser.callback(back)
    assert page["statusCode"] == 400 and "already used" in page["body"]


def test_expired_state(world, browser):
    back = browser.consent(location(browser.start()))
    world.clock.advance(minutes=11)
    page = browser.callback(back)
    assert page["statusCode"] == 400 and "expired" in page["body"]


def test_unknown_tenant_and_unsigned_link(world, browser):
    page = browser.start("nobody")
    assert page["statusCode"] == 404 and "Unknown account" in page["body"]
    page = browser.start(TENANT, signed=False)
    assert page["statusCode"] == 403 and "not valid" in page["body"]


def test_disconnect_revokes_at_sage_and_forgets_tokens(world, browser):
    browser.callback(browser.consent(location(browser.start())))
    grant = next(iter(world.sandbox.oauth.grants.values()))
    assert world.sa.service.disconnect(TENANT) is True
    assert grant.revoked and world.sa.service.find(TENANT) is None
    assert not world.sa.service.is_connected(TENANT)


def test_sample_events_route_to_clear_pages(world, browser):
    events = ROOT / "events"
    start = browser.module.lambda_handler(json.loads((events / "connect_start.json").read_text()), Context())
    assert start["statusCode"] == 403 and "not valid" in start["body"]  # the sample's signature is a placeholder
    back = browser.module.lambda_handler(json.loads((events / "connect_callback.json").read_text()), Context())
    assert back["statusCode"] == 400 and "not valid" in back["body"]


# ---- defect 14: connect links are single-use, short-lived, and cannot silently switch business


def _pick(browser, page, name: str) -> dict[str, str]:
    """On the business choice page, the pick link of the business called `name`."""
    for href, label in re.findall(r'<a href="([^"]+)">([^<]+)</a>', page["body"]):
        if unescape(label) == name:
            return {k: v[0] for k, v in parse_qs(urlsplit(unescape(href)).query).items()}
    raise AssertionError(f"{name} not offered")


def _connect_to(browser, name: str, link: dict[str, str] | None = None) -> dict:
    page = browser.callback(browser.consent(location(browser.start(link=link))))
    return browser.callback(_pick(browser, page, name))


def test_defect_14_a_connect_link_opened_twice_does_not_let_a_second_person_connect(world, browser):
    link = browser.link()
    first = browser.start(link=link)  # the tenant's admin opens it: off to Sage
    assert first["statusCode"] == 302
    second = browser.start(link=link)  # anyone else holding the same link
    assert second["statusCode"] == 403 and "already been used" in second["body"]
    assert "Location" not in second["headers"]
    assert "successfully" in browser.callback(browser.consent(location(first)))["body"]
    assert browser.start(link=link)["statusCode"] == 403  # and after the connect, still spent
    assert world.sa.service.find(TENANT).business_id == world.sandbox.lead_business_id


def test_defect_14_a_connect_link_lives_minutes_not_a_day(world, browser):
    link = browser.link()
    world.clock.advance(minutes=16)  # default: 15 minutes
    page = browser.start(link=link)
    assert page["statusCode"] == 403 and "expired" in page["body"]
    assert world.sa.service.find(TENANT) is None
    assert browser.start(link=browser.link())["statusCode"] == 302  # a fresh one works


def test_defect_14_the_connect_link_lifetime_is_a_setting(make_world, browser_for, settings):
    world = make_world(businesses=("Northwind Garage Services Ltd",))
    world.settings = settings.model_copy(update={"connect_link_ttl_minutes": 5})
    world.sa = world.container()
    browser = browser_for(world)
    link = browser.link()
    world.clock.advance(minutes=6)
    assert browser.start(link=link)["statusCode"] == 403


def test_defect_14_reconnecting_to_a_different_business_needs_an_operator_link_and_is_logged(
    make_world, browser_for, caplog,
):
    world = make_world()  # the Sage user can open two businesses
    browser = browser_for(world)
    assert "successfully" in _connect_to(browser, "Northwind Garage Services Ltd")["body"]
    first = world.sa.service.find(TENANT)

    # An ordinary link (or a stolen one) cannot move the tenant's books to another business.
    refused = _connect_to(browser, "Southside Motors Ltd")
    assert refused["statusCode"] == 409
    assert "Northwind Garage Services Ltd" in unescape(refused["body"])
    assert "Nothing was changed" in refused["body"]
    after = world.sa.service.find(TENANT)
    assert (after.business_id, after.version) == (first.business_id, first.version)
    assert any(r.getMessage() == "connect_business_change_refused" for r in caplog.records)

    # The same business again just renews the grant.
    assert "successfully" in _connect_to(browser, "Northwind Garage Services Ltd")["body"]
    renewed = world.sa.service.find(TENANT)
    assert renewed.business_id == first.business_id and renewed.version > first.version

    # An operator's link that allows the change, confirmed on a page that names both businesses.
    link = browser.link(allow_business_change=True)
    page = browser.callback(browser.consent(location(browser.start(link=link))))
    assert "Northwind Garage Services Ltd" in unescape(page["body"])  # the page warns what it replaces
    done = browser.callback(_pick(browser, page, "Southside Motors Ltd"))
    assert done["statusCode"] == 200 and "Southside Motors Ltd" in unescape(done["body"])
    assert world.sa.service.find(TENANT).business_name == "Southside Motors Ltd"
    changed = [r for r in caplog.records if r.getMessage() == "connect_business_changed"]
    assert len(changed) == 1 and changed[0].previous_business_id == first.business_id


def test_a_business_another_tenant_holds_is_refused_until_that_tenant_disconnects(world, browser, caplog):
    """Known since issue 15: two tenants on one Sage business each took the other's documents for
    their own (matched by number when going live), so tenant B could change or void tenant A's live
    invoice. Connecting a business another tenant holds is refused; the other tenant is not named."""
    world.sa.store.tenants.create("bravo", {"provider": "sage_accounting"})
    assert "successfully" in browser.callback(browser.consent(location(browser.start())))["body"]
    held = world.sa.service.find(TENANT)

    refused = browser.callback(browser.consent(location(browser.start("bravo"))))
    assert refused["statusCode"] == 409
    assert "already linked to another account" in unescape(refused["body"]) and TENANT not in refused["body"]
    assert world.sa.service.find("bravo") is None
    assert world.sa.service.find(TENANT).version == held.version
    assert any(getattr(r, "held_by", None) == [TENANT] for r in caplog.records)

    assert world.sa.disconnect(TENANT)
    assert "successfully" in browser.callback(browser.consent(location(browser.start("bravo"))))["body"]
    assert world.sa.service.find("bravo").business_id == held.business_id


def test_a_link_made_by_the_tenant_portal_leads_back_to_the_host_app(world, browser):
    """Issue 18: the portal's connect link carries its (allow-listed) host app page, signed; the result
    page links back to it, and an edited way back is dropped rather than followed."""
    back = "https://host.example/app/settings?tab=sage"
    link = browser.link(return_to=back)
    assert link["back"] == back and link["back_sig"]
    page = browser.callback(browser.consent(location(browser.start(link=link))))
    assert "Link to Sage established successfully" in page["body"]
    assert 'href="https://host.example/app/settings?tab=sage">Back to your app</a>' in page["body"].replace(
        "&amp;", "&")

    edited = {**browser.link(return_to=back), "back": "https://evil.example/"}
    denied = browser.callback(browser.consent(location(browser.start(link=edited)), decision="deny"))
    assert "evil.example" not in denied["body"] and "Back to your app" not in denied["body"]


# ---- the flow is bound to the browser that opened the connect link


def _set_cookie(response) -> str:
    (cookie,) = [c for c in response.get("cookies") or [] if c.startswith("sb_connect=")]
    return cookie


def test_the_connect_cookie_is_httponly_secure_lax_scoped_to_the_callback_and_lives_as_long_as_the_state(
        world, browser):
    start = browser.start()
    cookie = _set_cookie(start)
    parts = [p.strip() for p in cookie.split(";")]
    assert len(parts[0]) > len("sb_connect=") + 40  # a random nonce
    assert set(parts[1:]) == {"Path=/oauth/callback", "Max-Age=600", "HttpOnly", "Secure", "SameSite=Lax"}
    nonce = parts[0].split("=", 1)[1]
    assert nonce not in location(start)  # Sage and the URL see only the state, never the cookie's value
    done = browser.callback(browser.consent(location(start)))
    assert "successfully" in done["body"]
    assert "Max-Age=0" in _set_cookie(done) and browser.jar == {}  # used: cleared


def test_a_callback_from_another_browser_is_refused_and_connects_nothing(world, browser):
    url = location(browser.start())
    back = browser.consent(url)  # Sage's "Allow" pressed; the callback URL handed to someone else
    exchanged = world.sandbox.oauth.token_requests
    stranger = browser.other()
    page = stranger.callback(back)
    assert page["statusCode"] == 403 and "Open the connect link again in this browser" in page["body"]
    assert page["headers"]["Content-Type"].startswith("text/html")
    assert world.sa.service.find(TENANT) is None
    assert world.sandbox.oauth.token_requests == exchanged  # Sage's code was never redeemed
    assert not page.get("cookies")  # and the real browser's cookie is not touched
    # The state is not spent by the refusal: the admin's own browser still finishes.
    assert "successfully" in browser.callback(back)["body"]
    assert world.sa.service.find(TENANT) is not None


def test_a_callback_with_another_flows_cookie_is_refused(world, browser):
    back = browser.consent(location(browser.start()))
    thief = browser.other()
    thief.start()  # the thief's own connect link sets the thief's own cookie
    assert thief.jar
    page = thief.callback(back)
    assert page["statusCode"] == 403 and "again in this browser" in page["body"]
    assert world.sa.service.find(TENANT) is None
    forged = browser.other()
    forged.jar = {"sb_connect": ("not-the-nonce", "/oauth/callback")}
    assert forged.callback(back)["statusCode"] == 403
    assert world.sa.service.find(TENANT) is None


def test_the_business_pick_is_bound_to_the_same_browser(make_world, browser_for):
    world = make_world()  # two businesses: a picker page comes between Sage and the connection
    browser = browser_for(world)
    page = browser.callback(browser.consent(location(browser.start())))
    assert page["statusCode"] == 200 and "Choose your Sage business" in page["body"]
    assert "Max-Age=600" in _set_cookie(page)  # kept (renewed) for the pick
    href = unescape(re.findall(r'href="([^"]+)"', page["body"])[0])
    pick = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    refused = browser.other().callback(pick)
    assert refused["statusCode"] == 403 and world.sa.service.find(TENANT) is None
    assert "successfully" in browser.callback(pick)["body"]


def test_a_state_without_a_browser_binding_is_refused(world, browser):
    from dataclasses import replace

    from sagebridge.security.oauth_state import StateSigner

    back = browser.consent(location(browser.start()))
    signer: StateSigner = world.sa.flow._signer
    claims = signer.verify(back["state"], now=world.clock.now(), purpose="authorize")
    unbound = signer.sign(replace(claims, browser=""))  # as signed before the binding existed
    page = browser.callback({**back, "state": unbound})
    assert page["statusCode"] == 403 and world.sa.service.find(TENANT) is None


def test_the_cookie_is_not_secure_only_on_a_plain_http_loopback(connect_module):
    local = str(connect_module.browser_cookie("n", "http://127.0.0.1:3000/oauth/callback"))
    assert "Secure" not in local and "HttpOnly" in local and "SameSite=Lax" in local
    staged = str(connect_module.browser_cookie("n", "https://abc.execute-api.eu-west-2.amazonaws.com/prod/oauth/callback"))
    assert "Secure" in staged and "Path=/prod/oauth/callback" in staged
    assert "Secure" in str(connect_module.browser_cookie("n", "http://sagebridge.example/oauth/callback"))


PORTAL = "https://sync.example/portal/t/acme/connection"


def test_a_link_from_the_portal_leads_back_to_it_and_names_its_way_to_change_business(make_world, browser_for):
    """Issue 18 review: the result page of a portal connect leads back to the portal (not "you can
    close this page"), and a plain reconnect that picked another business points at the portal's
    "Connect a different business" rather than at an administrator."""
    world = make_world()  # the Sage user can open two businesses
    browser = browser_for(world)
    page = _connect_to(browser, "Northwind Garage Services Ltd", browser.link(portal_url=PORTAL))
    body = unescape(page["body"])
    assert "successfully" in body and f'href="{PORTAL}">Back to the portal</a>' in body
    assert "You can close this page" not in body
    refused = _connect_to(browser, "Southside Motors Ltd", browser.link(portal_url=PORTAL))
    body = unescape(refused["body"])
    assert refused["statusCode"] == 409 and "\u201cConnect a different business\u201d on the portal" in body
    assert "ask your administrator" not in body and f'href="{PORTAL}">Back to the portal</a>' in body
    edited = {**browser.link(portal_url=PORTAL), "portal": "https://evil.example/"}
    denied = browser.callback(browser.consent(location(browser.start(link=edited)), decision="deny"))
    assert "evil.example" not in denied["body"] and "Back to the portal" not in denied["body"]
