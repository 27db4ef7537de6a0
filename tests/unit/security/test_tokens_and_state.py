"""Envelope encryption of token sets (KMS from moto), signed OAuth state, PKCE, integration secrets."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from pydantic import SecretStr

from sagebridge.domain.errors import ConfigurationError
from sagebridge.security import secrets as secrets_module
from sagebridge.security.oauth_state import StateError, StateSigner, new_pkce, pkce_challenge
from sagebridge.security.tokens import TokenCipher, TokenDecryptionError, TokenSet

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def tokens() -> TokenSet:
    return TokenSet(access_token=SecretStr("ACCESS-abc"), refresh_token=SecretStr("REFRESH-xyz"),
                    expires_at=NOW + timedelta(seconds=300), refresh_expires_at=NOW + timedelta(days=31))


@pytest.fixture
def cipher():
    with mock_aws():
        kms = boto3.client("kms", region_name="eu-west-2")
        yield TokenCipher(kms, kms.create_key()["KeyMetadata"]["KeyId"]), kms


def test_seal_and_open_round_trip(cipher):
    c, _ = cipher
    sealed = c.seal(tokens(), tenant_id="t1", provider="sage_accounting")
    assert b"ACCESS-abc" not in sealed.ciphertext and b"REFRESH-xyz" not in sealed.ciphertext
    opened = c.open(sealed, tenant_id="t1", provider="sage_accounting")
    assert opened.refresh_token.get_secret_value() == "REFRESH-xyz" and opened.expires_at == tokens().expires_at


def test_generate_data_key_is_bound_to_the_tenant_context(cipher):
    c, kms = cipher
    calls = []
    real = kms.generate_data_key

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    kms.generate_data_key = spy
    c.seal(tokens(), tenant_id="t1", provider="sage_accounting")
    assert calls[0]["EncryptionContext"] == {"tenant_id": "t1", "provider": "sage_accounting"}
    assert calls[0]["KeySpec"] == "AES_256"


@pytest.mark.parametrize(("tenant", "provider"), [("t2", "sage_accounting"), ("t1", "sage200")])
def test_other_tenant_or_provider_cannot_open(cipher, tenant, provider):
    c, _ = cipher
    sealed = c.seal(tokens(), tenant_id="t1", provider="sage_accounting")
    with pytest.raises(TokenDecryptionError) as err:
        c.open(sealed, tenant_id=tenant, provider=provider)
    assert "REFRESH" not in str(err.value)


def test_tampered_ciphertext_is_refused(cipher):
    c, _ = cipher
    sealed = c.seal(tokens(), tenant_id="t1", provider="sage_accounting")
    flipped = bytearray(sealed.ciphertext)
    flipped[-1] ^= 1
    with pytest.raises(TokenDecryptionError):
        c.open(type(sealed)(ciphertext=bytes(flipped), encrypted_key=sealed.encrypted_key),
               tenant_id="t1", provider="sage_accounting")


def test_tokens_never_in_reprs():
    t = tokens()
    assert "ACCESS-abc" not in repr(t) and "REFRESH-xyz" not in str(t) and "REFRESH" not in t.model_dump_json()


# ---- state and PKCE

def test_pkce_is_s256():
    p = new_pkce()
    assert 43 <= len(p.verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(p.verifier.encode()).digest()).rstrip(b"=").decode()
    assert p.challenge == pkce_challenge(p.verifier) == expected and p.verifier not in repr(p)


def test_state_round_trip_and_failures():
    signer = StateSigner(SecretStr("s" * 40))
    claims = signer.new_claims(tenant_id="t1", provider="sage_accounting", purpose="authorize", now=NOW)
    state = signer.sign(claims)
    assert signer.verify(state, now=NOW, purpose="authorize") == claims
    with pytest.raises(StateError, match="wrong step"):
        signer.verify(state, now=NOW, purpose="business")
    with pytest.raises(StateError) as err:
        signer.verify(state, now=NOW + timedelta(minutes=10, seconds=1), purpose="authorize")
    assert err.value.reason == "expired"
    with pytest.raises(StateError) as err:
        StateSigner("o" * 40).verify(state, now=NOW, purpose="authorize")
    assert err.value.reason == "tampered"
    payload, mac = state.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["t"] = "t2"
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    with pytest.raises(StateError):
        signer.verify(f"{forged}.{mac}", now=NOW, purpose="authorize")
    assert "s" * 40 not in repr(signer)


# ---- integration secrets through Powertools Parameters

def test_secrets_are_read_once_and_cached():
    secrets_module.clear_cache()
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="eu-west-2")
        sm.create_secret(Name="sb/settings", SecretString=json.dumps({
            "sage_accounting_client_id": "cid", "sage_accounting_client_secret": "csecret",
            "state_signing_key": "k" * 64, "intacct_sender_id": "ignored"}))
        first = secrets_module.get_integration_secrets("sb/settings", boto3_client=sm)
        sm.update_secret(SecretId="sb/settings", SecretString=json.dumps({"state_signing_key": "z" * 64}))
        second = secrets_module.get_integration_secrets("sb/settings", boto3_client=sm)
        assert second is first or second == first  # served from the cache (max_age)
        assert first.has(("sage_accounting_client_id", "sage_accounting_client_secret"))
        assert "csecret" not in repr(first) and "cid" not in repr(first)
        with pytest.raises(ConfigurationError, match="cannot read"):
            secrets_module.get_integration_secrets("missing", boto3_client=sm)
        sm.create_secret(Name="bad", SecretString=json.dumps({"state_signing_key": "short"}))
        with pytest.raises(ConfigurationError, match="state_signing_key"):
            secrets_module.get_integration_secrets("bad", boto3_client=sm)
    secrets_module.clear_cache()
