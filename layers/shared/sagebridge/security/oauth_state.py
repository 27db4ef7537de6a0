"""OAuth `state`: signed, short-lived and single-use; plus PKCE.

The state string the browser carries is `<payload>.<mac>`: base64url JSON {nonce, tenant, provider,
purpose, expiry, browser} and its HMAC-SHA256 under the integration's state signing key. The signature
stops tampering (another tenant id, a later expiry) before anything is read from the store; the
stored copy (keyed by the nonce, consumed once) stops replays and holds what must never travel
through the browser (the PKCE verifier). `browser` is the SHA-256 of a random nonce kept in a
cookie of the browser that opened the connect link, so only that browser can finish the sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from sagebridge.domain.errors import SageBridgeError

STATE_TTL = timedelta(minutes=10)


class StateError(SageBridgeError):
    """The state is unusable; `reason` is one of tampered | expired | reused (safe to show)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ------------------------------------------------------------------------------------------------ PKCE


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    def __repr__(self) -> str:
        return f"Pkce(verifier=***, challenge={self.challenge!r})"


def pkce_challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def new_pkce() -> Pkce:
    """RFC 7636 S256: a 64-character verifier (43..128 allowed) and its SHA-256 challenge."""
    verifier = secrets.token_urlsafe(48)
    return Pkce(verifier=verifier, challenge=pkce_challenge(verifier))


# ------------------------------------------------------------------------------------------ signatures


@dataclass(frozen=True)
class StateClaims:
    nonce: str
    tenant_id: str
    provider: str
    purpose: str  # "authorize" (the hop to Sage) or "business" (picking one of several businesses)
    expires_at: datetime
    browser: str = ""  # browser_binding(nonce) of the browser that started the flow ("" = unbound)


def browser_binding(nonce: str) -> str:
    """What a state carries of the browser's nonce: its hash, so the state (seen by Sage and in URLs)
    never reveals the cookie's value."""
    return _b64(hashlib.sha256(f"connect-browser|{nonce}".encode()).digest())


def browser_matches(claims: StateClaims, nonce: str | None) -> bool:
    """True only for a bound state and the cookie nonce it was bound to."""
    return bool(claims.browser and nonce) and hmac.compare_digest(claims.browser, browser_binding(nonce or ""))


class StateSigner:
    """Signs and verifies state strings under one key (the `state_signing_key` secret)."""

    def __init__(self, key: SecretStr | str) -> None:
        raw = key.get_secret_value() if isinstance(key, SecretStr) else key
        if len(raw) < 32:
            raise ValueError("the state signing key must have at least 32 characters")
        self._key = raw.encode()

    def __repr__(self) -> str:
        return "StateSigner(key=***)"

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def sign(self, claims: StateClaims) -> str:
        body = {
            "n": claims.nonce, "t": claims.tenant_id, "p": claims.provider, "u": claims.purpose,
            "e": int(claims.expires_at.timestamp()),
        }
        if claims.browser:
            body["b"] = claims.browser
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(self, state: str, *, now: datetime, purpose: str) -> StateClaims:
        """The claims of a genuine, unexpired state for `purpose`; StateError otherwise."""
        payload, _, mac = (state or "").partition(".")
        if not payload or not mac or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise StateError("tampered", "the sign-in link was altered or is not ours")
        try:
            body: dict[str, Any] = json.loads(_unb64(payload))
            claims = StateClaims(
                nonce=str(body["n"]), tenant_id=str(body["t"]), provider=str(body["p"]),
                purpose=str(body["u"]), expires_at=datetime.fromtimestamp(int(body["e"]), UTC),
                browser=str(body.get("b") or ""),
            )
        except (ValueError, KeyError, TypeError):
            raise StateError("tampered", "the sign-in link is malformed") from None
        if claims.purpose != purpose:
            raise StateError("tampered", "the sign-in link was used for the wrong step")
        if claims.expires_at <= now:
            raise StateError("expired", "the sign-in link has expired (links last 10 minutes)")
        return claims

    def new_claims(self, *, tenant_id: str, provider: str, purpose: str, now: datetime,
                   browser: str = "") -> StateClaims:
        return StateClaims(
            nonce=secrets.token_urlsafe(24), tenant_id=tenant_id, provider=provider, purpose=purpose,
            expires_at=now + STATE_TTL, browser=browser,
        )


__all__ = [
    "STATE_TTL",
    "Pkce",
    "StateClaims",
    "StateError",
    "StateSigner",
    "browser_binding",
    "browser_matches",
    "new_pkce",
    "pkce_challenge",
]
