"""OAuth as Sage ID does it: consent, single-use codes, PKCE, 300 s access, rotated 31-day refresh, revoke."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from local.sandboxes.sage_accounting import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    HOST,
    SageAccountingSandbox,
    s256,
)

REDIRECT = "https://bridge.example/connect/callback"


def web(sandbox: SageAccountingSandbox) -> httpx.Client:
    return httpx.Client(transport=sandbox.sync_transport(), base_url=HOST)


def authorize(client: httpx.Client, **extra: str) -> httpx.Response:
    params = {"filter": "apiv3.1", "response_type": "code", "client_id": DEFAULT_CLIENT_ID,
              "redirect_uri": REDIRECT, "scope": "full_access", "state": "st-123", **extra}
    return client.get("/oauth2/auth/central", params=params)


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def consent(client: httpx.Client, decision: str, **extra: str) -> dict[str, str]:
    page = authorize(client, **extra)
    assert page.status_code == 200
    assert "Allow" in page.text and "Deny" in page.text
    form = {"response_type": "code", "client_id": DEFAULT_CLIENT_ID, "redirect_uri": REDIRECT,
            "scope": "full_access", "state": "st-123", "filter": "apiv3.1", "decision": decision, **extra}
    return redirect_params(client.post("/oauth2/auth/central", data=form))


def token(client: httpx.Client, **form: str) -> httpx.Response:
    return client.post("/token", data={"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET,
                                       **form})


def exchange(client: httpx.Client, code: str, **extra: str) -> httpx.Response:
    return token(client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, **extra)


def test_allow_redirects_with_code_state_and_country_and_the_code_buys_working_tokens(sandbox, make_client):
    with web(sandbox) as client:
        params = consent(client, "allow")
        assert params["state"] == "st-123" and params["country"] == "GB" and params["code"]
        response = exchange(client, params["code"])
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["expires_in"] == 300
    assert tokens["refresh_token_expires_in"] == 31 * 24 * 3600
    assert make_client(tokens["access_token"]).get("/businesses").json()["$total"] == 2


def test_deny_redirects_with_access_denied_and_state(sandbox):
    with web(sandbox) as client:
        assert consent(client, "deny") == {"error": "access_denied", "state": "st-123"}


def test_auto_approve_redirects_at_once(sandbox):
    sandbox.auto_approve = True
    with web(sandbox) as client:
        params = redirect_params(authorize(client))
    assert params["code"] and params["state"] == "st-123"


def test_unknown_client_gets_an_error_page_not_a_redirect(sandbox):
    with web(sandbox) as client:
        response = authorize(client, client_id="someone-else")
    assert response.status_code == 400 and "location" not in response.headers


def test_a_code_works_once(sandbox):
    sandbox.auto_approve = True
    with web(sandbox) as client:
        code = redirect_params(authorize(client))["code"]
        assert exchange(client, code).status_code == 200
        again = exchange(client, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_code_dies_after_60_seconds(sandbox, clock):
    sandbox.auto_approve = True
    with web(sandbox) as client:
        code = redirect_params(authorize(client))["code"]
        clock.advance(61)
        response = exchange(client, code)
    assert response.json() == {"error": "invalid_grant", "error_description": "authorization code expired"}


def test_pkce_verifier_must_match_the_challenge(sandbox):
    sandbox.auto_approve = True
    verifier = "v" * 50
    with web(sandbox) as client:
        code = redirect_params(authorize(client, code_challenge=s256(verifier), code_challenge_method="S256"))["code"]
        assert exchange(client, code, code_verifier="w" * 50).json()["error"] == "invalid_grant"
        code = redirect_params(authorize(client, code_challenge=s256(verifier), code_challenge_method="S256"))["code"]
        assert exchange(client, code, code_verifier=verifier).status_code == 200


def test_wrong_client_secret_is_invalid_client(sandbox):
    sandbox.auto_approve = True
    with web(sandbox) as client:
        code = redirect_params(authorize(client))["code"]
        response = client.post("/token", data={"client_id": DEFAULT_CLIENT_ID, "client_secret": "nope",
                                               "grant_type": "authorization_code", "code": code,
                                               "redirect_uri": REDIRECT})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_client_credentials_only_in_http_basic_are_refused_unless_the_knob_allows_them(sandbox):
    """Sage documents client_id/client_secret in the form; HTTP Basic is accepted only behind a knob."""
    import base64

    sandbox.auto_approve = True
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    with web(sandbox) as client:
        code = redirect_params(authorize(client))["code"]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        refused = client.post("/token", data=form, headers={"Authorization": f"Basic {basic}"})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        sandbox.accept_basic_client_auth = True
        accepted = client.post("/token", data=form, headers={"Authorization": f"Basic {basic}"})
    assert accepted.status_code == 200


def test_access_token_expires_after_300_seconds_and_refresh_rotates(sandbox, clock, make_client):
    tokens = sandbox.issue_tokens()
    api = make_client(tokens["access_token"])
    clock.advance(299)
    assert api.get("/user").status_code == 200
    clock.advance(1)
    expired = api.get("/user")
    assert expired.status_code == 401 and expired.json()[0]["$severity"] == "error"
    with web(sandbox) as client:
        fresh = token(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        assert fresh.status_code == 200
        assert fresh.json()["refresh_token"] != tokens["refresh_token"]
        # The old refresh token died the moment it was used.
        old = token(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        assert old.status_code == 400 and old.json() == {"error": "invalid_grant"}
    assert make_client(fresh.json()["access_token"]).get("/user").status_code == 200


@pytest.mark.parametrize(("days", "status"), [(30, 200), (31, 400)])
def test_refresh_token_lives_31_days(sandbox, clock, days, status):
    tokens = sandbox.issue_tokens()
    clock.advance(days=days, seconds=1 if days == 31 else 0)
    with web(sandbox) as client:
        assert token(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).status_code == status


def test_revoke_ends_refreshing_but_the_live_access_token_lives_out_its_300_seconds(sandbox, clock, make_client):
    tokens = sandbox.issue_tokens()
    api = make_client(tokens["access_token"])
    assert api.get("/contacts").status_code == 200
    with web(sandbox) as client:
        assert client.post("/revoke", data={"token": tokens["refresh_token"], "client_id": DEFAULT_CLIENT_ID,
                                            "client_secret": DEFAULT_CLIENT_SECRET}).status_code == 200
        again = token(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert again.json()["error"] == "invalid_grant"
    clock.advance(299)
    assert api.get("/contacts").status_code == 200  # Sage: an access token cannot be revoked
    clock.advance(1)
    expired = api.get("/contacts")
    assert expired.status_code == 401 and "expired" in expired.json()[0]["$message"]


def test_bad_token_is_401_and_every_response_has_a_request_id(sandbox, make_client):
    first = make_client("not-a-token").get("/contacts")
    second = make_client("not-a-token").get("/contacts")
    assert first.status_code == 401
    assert first.headers["x-request-id"] and first.headers["x-request-id"] != second.headers["x-request-id"]


def test_x_business_selects_and_is_echoed_missing_means_lead(sandbox, make_client):
    tokens = sandbox.issue_tokens()
    other = list(sandbox.businesses)[1]
    assert make_client(tokens["access_token"]).get("/contacts").headers["x-business"] == sandbox.lead_business_id
    assert make_client(tokens["access_token"], other).get("/contacts").headers["x-business"] == other
    denied = make_client(tokens["access_token"], "0" * 32).get("/contacts")
    assert denied.status_code == 403 and denied.json()[0]["$dataCode"] == "MultiUserAccessDenied"


def test_grant_for_one_business_cannot_open_another(sandbox, make_client):
    lead, other = list(sandbox.businesses)
    tokens = sandbox.issue_tokens([lead])
    assert make_client(tokens["access_token"], other).get("/contacts").status_code == 403
    assert make_client(tokens["access_token"]).get("/businesses").json()["$total"] == 1
