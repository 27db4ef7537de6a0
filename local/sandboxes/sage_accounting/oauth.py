"""Sage ID's OAuth 2.0 as Sage Accounting v3.1 integrators see it.

Codes single-use and valid 60 s; access tokens 300 s; refresh tokens 31 days and rotated on every
refresh (the old one dies at once); ``/revoke`` with the refresh token ends the grant: no refresh
works again, but access tokens already issued live out their 300 s (Sage: they cannot be revoked).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field

from .clock import SandboxClock

CODE_SECONDS = 60
ACCESS_TOKEN_SECONDS = 300
REFRESH_TOKEN_SECONDS = 31 * 24 * 3600


class OAuthError(Exception):
    def __init__(self, error: str, status: int = 400, description: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.description = description


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] | None = None  # None: any redirect_uri is accepted

    def allows(self, redirect_uri: str) -> bool:
        return self.redirect_uris is None or redirect_uri in self.redirect_uris


@dataclass(eq=False)
class Grant:
    """One user's consent to one client: covers every business the user can open."""

    id: str
    client_id: str
    user_id: str
    business_ids: tuple[str, ...]
    scope: str
    refresh_token: str = ""
    refresh_expires_at: dt.datetime | None = None
    revoked: bool = False
    refresh_count: int = 0
    access_tokens: dict[str, dt.datetime] = field(default_factory=dict)


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    grant: Grant
    expires_at: dt.datetime
    code_challenge: str | None
    used: bool = False


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthServer:
    """State of clients, codes, grants and tokens. The sandbox calls it under its lock."""

    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.grants: dict[str, Grant] = {}
        self._by_refresh: dict[str, Grant] = {}
        self._dead_refresh: dict[str, Grant] = {}
        self._by_access: dict[str, Grant] = {}
        self.token_requests = 0

    def add_client(self, client_id: str, client_secret: str, redirect_uris: list[str] | None = None) -> Client:
        client = Client(client_id, client_secret, tuple(redirect_uris) if redirect_uris is not None else None)
        self.clients[client_id] = client
        return client

    def new_grant(self, client_id: str, user_id: str, business_ids: tuple[str, ...], scope: str) -> Grant:
        grant = Grant(id=secrets.token_hex(8), client_id=client_id, user_id=user_id,
                      business_ids=business_ids, scope=scope or "full_access")
        self.grants[grant.id] = grant
        return grant

    def issue_code(self, client_id: str, redirect_uri: str, grant: Grant, code_challenge: str | None) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthorizationCode(code, client_id, redirect_uri, grant,
                                             self.clock.now() + dt.timedelta(seconds=CODE_SECONDS), code_challenge)
        return code

    def authenticate_client(self, client_id: str | None, client_secret: str | None) -> Client:
        client = self.clients.get(client_id or "")
        if client is None or not secrets.compare_digest(client.client_secret, client_secret or ""):
            raise OAuthError("invalid_client", 401)
        return client

    def exchange_code(self, client: Client, code: str, redirect_uri: str | None, verifier: str | None) -> dict:
        found = self.codes.get(code)
        now = self.clock.now()
        if found is None or found.client_id != client.client_id:
            raise OAuthError("invalid_grant")
        if found.used:
            # A replayed code is an attack signal; the code stays dead.
            raise OAuthError("invalid_grant", description="authorization code already used")
        found.used = True
        if now > found.expires_at:
            raise OAuthError("invalid_grant", description="authorization code expired")
        if redirect_uri != found.redirect_uri:
            raise OAuthError("invalid_grant", description="redirect_uri does not match")
        if found.code_challenge is not None and (not verifier or s256(verifier) != found.code_challenge):
            raise OAuthError("invalid_grant", description="code_verifier does not match")
        return self._issue_tokens(found.grant)

    def refresh(self, client: Client, refresh_token: str) -> dict:
        grant = self._by_refresh.get(refresh_token)
        if grant is None or grant.client_id != client.client_id or grant.revoked:
            raise OAuthError("invalid_grant")
        if grant.refresh_expires_at is None or self.clock.now() > grant.refresh_expires_at:
            raise OAuthError("invalid_grant", description="refresh token expired")
        del self._by_refresh[refresh_token]
        self._dead_refresh[refresh_token] = grant
        grant.refresh_count += 1
        return self._issue_tokens(grant)

    def _issue_tokens(self, grant: Grant) -> dict:
        now = self.clock.now()
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        grant.access_tokens[access] = now + dt.timedelta(seconds=ACCESS_TOKEN_SECONDS)
        self._by_access[access] = grant
        grant.refresh_token = refresh
        grant.refresh_expires_at = now + dt.timedelta(seconds=REFRESH_TOKEN_SECONDS)
        self._by_refresh[refresh] = grant
        return {
            "access_token": access,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "token_type": "bearer",
            "refresh_token": refresh,
            "refresh_token_expires_in": REFRESH_TOKEN_SECONDS,
            "scope": grant.scope,
            "requested_by_id": grant.user_id,
        }

    def revoke(self, client: Client, token: str) -> None:
        """Ends the grant's refreshing. Its live access tokens are left alone: Sage documents that an
        access token cannot be revoked and simply expires after 300 s."""
        grant = self._by_refresh.get(token) or self._dead_refresh.get(token)
        if grant is not None and grant.client_id == client.client_id:
            grant.revoked = True
            self._by_refresh.pop(grant.refresh_token, None)

    def grant_for_access_token(self, token: str) -> tuple[Grant | None, str]:
        """(grant, "") when usable; (None, "invalid"|"expired") when not (revoked grants included)."""
        grant = self._by_access.get(token)
        if grant is None:
            return None, "invalid"
        if self.clock.now() >= grant.access_tokens[token]:
            return None, "expired"
        return grant, ""
