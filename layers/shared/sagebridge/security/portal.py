"""Signed portal links and portal sessions: what lets a tenant's own people into the tenant portal
without AWS credentials.

Both are `<payload>.<mac>`: base64url JSON and its HMAC-SHA256 under the portal signing key. Each
carries its purpose ("link" or "session"), so a link cannot be replayed as a session cookie nor a
session cookie pasted as a link; its tenant and role; and its end. A session also carries a CSRF
secret: the forms of its pages send a token derived from it, which a page of another site cannot
read, so a change without it is refused.

Both are also bound to the tenant's identity when issued (`tenant_binding`: its creation time and
its portal epoch), so deleting a tenant and creating one of the same id, or renewing the epoch (the
admin API's portal-sessions/revoke), ends every link and session made before. A link opens once (its
nonce is spent in the store when opened). A session stores nothing: it lasts an hour at most, and
rotating `portal_signing_key` ends every link and session at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import SecretStr

from sagebridge.domain.errors import SageBridgeError

Role = Literal["viewer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "admin")
LINK_TTL = timedelta(minutes=10)
MAX_LINK_TTL = timedelta(days=1)
SESSION_TTL = timedelta(minutes=60)
_DOMAIN = b"sagebridge-portal-v1|"


class PortalTokenError(SageBridgeError):
    """The link or session is unusable; `reason` is tampered | expired | wrong_purpose (safe to show)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PortalClaims:
    tenant_id: str
    role: Role
    expires_at: datetime
    purpose: Literal["link", "session"]
    return_url: str | None = None  # the host app page to go back to (allow-listed when the link was made)
    csrf: str | None = None  # sessions only: the secret the forms' tokens derive from
    nonce: str = ""
    binding: str = ""  # the tenant's identity when issued (`tenant_binding`); a mismatch is refused

    @property
    def can_change(self) -> bool:
        return self.role == "admin"

    def csrf_token(self) -> str:
        """The token every form of this session sends (the secret itself never reaches a page)."""
        if not self.csrf:
            raise PortalTokenError("wrong_purpose", "a portal link has no CSRF secret")
        return _b64(hmac.new(self.csrf.encode(), f"csrf|{self.tenant_id}".encode(), hashlib.sha256).digest())

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and bool(self.csrf) and hmac.compare_digest(str(token).encode(),
                                                                       self.csrf_token().encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def tenant_binding(created_at: datetime, portal_epoch: str) -> str:
    """What ties a link or session to one incarnation of a tenant: a tenant deleted and created again
    under the same id, or one whose portal epoch was renewed, no longer matches."""
    return _b64(hashlib.sha256(f"{created_at.isoformat()}|{portal_epoch}".encode()).digest()[:12])


def derive_portal_key(state_signing_key: str) -> str:
    """The portal key when the settings secret has no `portal_signing_key`: derived from the state
    key with a label of its own, so a portal token and an OAuth state never verify under one key."""
    return _b64(hmac.new(state_signing_key.encode(), b"sagebridge portal signing key", hashlib.sha256).digest())


class PortalSigner:
    def __init__(self, key: SecretStr | str) -> None:
        raw = key.get_secret_value() if isinstance(key, SecretStr) else key
        if len(raw) < 32:
            raise ValueError("the portal signing key must have at least 32 characters")
        self._key = raw.encode()

    def __repr__(self) -> str:
        return "PortalSigner(key=***)"

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, _DOMAIN + payload.encode(), hashlib.sha256).digest())

    def _sign(self, claims: PortalClaims) -> str:
        body: dict[str, Any] = {"u": claims.purpose, "t": claims.tenant_id, "r": claims.role,
                                "e": int(claims.expires_at.timestamp()), "n": claims.nonce, "g": claims.binding}
        if claims.return_url:
            body["b"] = claims.return_url
        if claims.csrf:
            body["c"] = claims.csrf
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def link(self, tenant_id: str, role: Role, *, now: datetime, ttl: timedelta = LINK_TTL,
             return_url: str | None = None, binding: str = "") -> tuple[str, PortalClaims]:
        """(token, claims) of a link for `tenant_id` as `role`, good for `ttl`, bound to `binding`."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not timedelta(0) < ttl <= MAX_LINK_TTL:
            raise ValueError("a portal link lasts between 1 minute and 1 day")
        claims = PortalClaims(tenant_id=tenant_id, role=role, expires_at=now + ttl, purpose="link",
                              return_url=return_url, nonce=secrets.token_urlsafe(12), binding=binding)
        return self._sign(claims), claims

    def session(self, link: PortalClaims, *, now: datetime, ttl: timedelta = SESSION_TTL) -> tuple[str, PortalClaims]:
        """(cookie value, claims) of a session opened by `link` (never longer than `ttl`)."""
        claims = PortalClaims(tenant_id=link.tenant_id, role=link.role, expires_at=now + ttl, purpose="session",
                              return_url=link.return_url, csrf=secrets.token_urlsafe(24),
                              nonce=secrets.token_urlsafe(12), binding=link.binding)
        return self._sign(claims), claims

    def verify(self, token: str | None, *, purpose: Literal["link", "session"], now: datetime) -> PortalClaims:
        payload, _, mac = (token or "").partition(".")
        if not payload or not mac or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise PortalTokenError("tampered", "this portal link is not valid (altered, or not ours)")
        try:
            body: dict[str, Any] = json.loads(_unb64(payload))
            role = str(body["r"])
            if role not in ROLES:
                raise ValueError(role)
            claims = PortalClaims(tenant_id=str(body["t"]), role=role,  # type: ignore[arg-type]
                                  expires_at=datetime.fromtimestamp(int(body["e"]), UTC),
                                  purpose=str(body["u"]),  # type: ignore[arg-type]
                                  return_url=body.get("b"), csrf=body.get("c"), nonce=str(body.get("n", "")),
                                  binding=str(body.get("g", "")))
        except (ValueError, KeyError, TypeError):
            raise PortalTokenError("tampered", "this portal link is malformed") from None
        if claims.purpose != purpose:
            raise PortalTokenError("wrong_purpose", "this is not a portal " + purpose)
        if claims.expires_at <= now:
            raise PortalTokenError("expired", f"this portal {purpose} has expired")
        return claims


__all__ = ["LINK_TTL", "MAX_LINK_TTL", "ROLES", "SESSION_TTL", "PortalClaims", "PortalSigner", "PortalTokenError",
           "Role", "derive_portal_key", "tenant_binding"]
