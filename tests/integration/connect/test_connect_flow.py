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
    done = browser.callback(pick)
    assert "Link to Sage established successfully" in done["body"]
    assert world.sa.service.find(TENANT).business_name == "Southside Motors Ltd"
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
    assert "successfully" in browser.callback(back)["body"]
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
