"""The provider-agnostic OAuth client against scripted token endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from sagebridge.connectors.base import GrantRevoked, SageUnavailable
from sagebridge.connectors.oauth import ClientCredentials, OAuthClient, OAuthError, sage200_provider
from sagebridge.connectors.sage_accounting.oauth import sage_accounting_provider
from sagebridge.connectors.sage_accounting.settings import SageAccountingSettings
from sagebridge.settings import load_settings

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ENV = {"TABLE_NAME": "t", "IDEMPOTENCY_TABLE_NAME": "i", "TOKEN_KEY_ID": "k", "EXPORT_QUEUE_URL": "q",
       "DELIVERY_QUEUE_URL": "q", "NOTIFICATION_TOPIC_ARN": "a", "SETTINGS_SECRET_NAME": "s",
       "PAYMENT_POLL_QUEUE_URL": "q"}
CREDS = ClientCredentials("cid", SecretStr("csecret"))


def client(handler, provider=None):
    provider = provider or sage_accounting_provider(load_settings(ENV).for_product(SageAccountingSettings))
    return OAuthClient(provider, httpx.Client(transport=httpx.MockTransport(handler)), CREDS, clock=lambda: NOW)


def test_authorize_url_keeps_the_filter_and_adds_pkce():
    oauth = client(lambda r: httpx.Response(500))
    url = oauth.authorize_url(redirect_uri="https://x/cb", state="S", code_challenge="C")
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    assert parts.netloc == "www.sageone.com" and q["filter"] == ["apiv3.1"]
    assert q["response_type"] == ["code"] and q["client_id"] == ["cid"] and q["scope"] == ["full_access"]
    assert q["code_challenge"] == ["C"] and q["code_challenge_method"] == ["S256"] and q["state"] == ["S"]


def test_sage200_is_configuration_not_code():
    url = client(lambda r: httpx.Response(500), sage200_provider()).authorize_url(
        redirect_uri="https://x/cb", state="S", code_challenge="C")
    q = parse_qs(urlsplit(url).query)
    assert q["audience"] == ["s200ukipd/sage200"] and "offline_access" in q["scope"][0]


def test_exchange_sends_form_and_computes_expiries():
    seen = []

    def handler(request):
        seen.append(parse_qs(request.content.decode()))
        return httpx.Response(200, json={"access_token": "A", "refresh_token": "R", "expires_in": 300,
                                         "refresh_token_expires_in": 2678400, "token_type": "bearer"})

    tokens = client(handler).exchange_code("CODE", redirect_uri="https://x/cb", code_verifier="V")
    assert seen[0]["grant_type"] == ["authorization_code"] and seen[0]["code_verifier"] == ["V"]
    assert seen[0]["client_secret"] == ["csecret"]
    assert tokens.expires_at == NOW + timedelta(seconds=300)
    assert tokens.refresh_expires_at == NOW + timedelta(days=31)


def test_refresh_invalid_grant_is_a_dead_grant_but_a_code_error_is_not():
    dead = client(lambda r: httpx.Response(400, json={"error": "invalid_grant"}))
    with pytest.raises(GrantRevoked):
        dead.refresh(SecretStr("R"))
    with pytest.raises(OAuthError) as err:
        dead.exchange_code("CODE", redirect_uri="https://x/cb")
    assert not isinstance(err.value, GrantRevoked) and err.value.data_code == "invalid_grant"


def test_refresh_is_not_retried_on_transport_errors():
    calls = []

    def handler(request):
        calls.append(1)
        raise httpx.ReadTimeout("lost")

    with pytest.raises(SageUnavailable):
        client(handler).refresh(SecretStr("R"))
    assert len(calls) == 1


def test_refresh_keeps_the_old_refresh_token_when_the_server_does_not_rotate():
    tokens = client(lambda r: httpx.Response(200, json={"access_token": "A2", "expires_in": 300})).refresh(
        SecretStr("R-old"))
    assert tokens.refresh_token.get_secret_value() == "R-old"


def test_credentials_never_in_repr():
    assert "csecret" not in repr(CREDS)
