"""The signature scheme both directions use."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sagebridge.security.signing import SignatureError, parse_header, sign, verify

BODY = b'{"id":"e1"}'
NOW = 1_714_558_500


def test_sign_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"s3cret", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, "s3cret", timestamp=NOW) == f"t={NOW},v1={expected}"


def test_round_trip_and_returns_the_timestamp() -> None:
    assert verify(BODY, sign(BODY, "k", timestamp=NOW), ["k"], now=NOW + 10) == NOW


@pytest.mark.parametrize("now", [NOW + 301, NOW - 301])
def test_outside_tolerance_either_way(now: int) -> None:
    with pytest.raises(SignatureError, match="tolerance"):
        verify(BODY, sign(BODY, "k", timestamp=NOW), ["k"], now=now)


def test_rotation_either_secret_either_side() -> None:
    assert verify(BODY, sign(BODY, "old", timestamp=NOW), ["new", "old"], now=NOW)
    assert verify(BODY, sign(BODY, ["new", "old"], timestamp=NOW), ["old"], now=NOW)


@pytest.mark.parametrize("header", [None, "", "t=1", "v1=ab", "t=x,v1=ab", "t=1,v1=zz", f"t={NOW},v1=" + "é" * 64])
def test_malformed_headers_refused(header: str | None) -> None:
    with pytest.raises(SignatureError):
        verify(BODY, header, ["k"], now=NOW)


def test_wrong_body_or_secret_refused_without_leaking() -> None:
    header = sign(BODY, "k", timestamp=NOW)
    for body, secrets in [(BODY + b" ", ["k"]), (BODY, ["other"]), (BODY, [])]:
        with pytest.raises(SignatureError) as exc:
            verify(body, header, secrets, now=NOW)
        assert "k" not in str(exc.value).split() and header.split("v1=")[1] not in str(exc.value)


def test_parse_header_ignores_unknown_schemes() -> None:
    assert parse_header(f"t={NOW},v0=abc,v1={'a' * 64}") == (NOW, ["a" * 64])
