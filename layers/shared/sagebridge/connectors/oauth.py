"""OAuth 2.0 authorization-code flow (PKCE S256), refresh and revoke for Sage's identity servers.

Provider-agnostic: everything that differs between Sage products is an `OAuthProvider` value.
Sage Accounting: `connectors.sage_accounting.oauth.sage_accounting_provider(settings)`. Sage 200
(Sage ID) reuses this module with `sage200_provider(...)` (audience parameter, `offline_access`).

Refresh semantics (Sage Accounting): access tokens live 300 s; refresh tokens 31 days and are
rotated on every refresh, the old one dead at once. So a refresh must be spent by exactly one
caller: single-flight is the caller's job (sagebridge.connections.lifecycle), this module never retries
a refresh whose request may have reached the server.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from sagebridge.connectors.base import GrantRevoked, SageError, SageUnavailable
from sagebridge.security.tokens import TokenSet


class OAuthError(SageError):
    """The token endpoint refused a request; `data_code` holds the OAuth `error` code
    (invalid_grant for an expired or already used authorization code)."""


@dataclass(frozen=True)
class OAuthProvider:
    """How one identity server is spoken to."""

    name: str  # the connection's provider name, e.g. "sage_accounting"
    authorize_url: str  # may already carry query parameters (Sage Accounting's ?filter=apiv3.1)
    token_url: str
    revoke_url: str | None = None
    scope: str = ""
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)  # e.g. audience
    client_auth: Literal["body", "basic"] = "body"
    pkce: bool = True
    rotates_refresh_token: bool = True
    default_refresh_ttl: timedelta | None = None  # when the server does not say
    # Sage 200 (Sage ID): a refresh token lives a fixed time from consent; a refresh does not
    # push its end out, so the connection keeps the first expiry (connections.lifecycle).
    refresh_extends_on_use: bool = True


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: SecretStr

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret=**********)"


def sage200_provider(
    *, authorize_url: str = "https://id.sage.com/authorize", token_url: str = "https://id.sage.com/oauth/token",  # noqa: S107
    revoke_url: str | None = "https://id.sage.com/oauth/revoke", audience: str = "s200ukipd/sage200",
) -> OAuthProvider:
    """Sage 200 through Sage ID: the same flow with an audience and offline_access."""
    return OAuthProvider(
        name="sage200",
        authorize_url=authorize_url,
        token_url=token_url,
        revoke_url=revoke_url,
        scope="openid profile email offline_access",
        extra_authorize_params={"audience": audience},
        client_auth="body",
        default_refresh_ttl=timedelta(days=90),
        refresh_extends_on_use=False,
    )


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class OAuthClient:
    """Talks to one provider's token endpoints over an injected `httpx.Client`."""

    def __init__(
        self,
        provider: OAuthProvider,
        http: httpx.Client,
        credentials: ClientCredentials,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.provider = provider
        self._http = http
        self._credentials = credentials
        self._clock = clock

    def authorize_url(self, *, redirect_uri: str, state: str, code_challenge: str | None = None) -> str:
        params = {
            "response_type": "code",
            "client_id": self._credentials.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.provider.scope,
            "state": state,
            **self.provider.extra_authorize_params,
        }
        if self.provider.pkce:
            if not code_challenge:
                raise ValueError(f"{self.provider.name} needs a PKCE code challenge")
            params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        return _with_query(self.provider.authorize_url, params)

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str | None = None) -> TokenSet:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return self._token_request(form, previous_refresh=None)

    def refresh(self, refresh_token: SecretStr) -> TokenSet:
        """Spend `refresh_token` for a new token set. invalid_grant -> GrantRevoked (the grant is
        dead). A transport failure raises SageUnavailable and is NOT retried here: the server may
        have rotated the token already, and only the single-flight owner may decide what next."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token.get_secret_value()}
        return self._token_request(form, previous_refresh=refresh_token)

    def revoke(self, token: SecretStr) -> None:
        """Revoke a refresh token at the provider (revoking it ends the whole grant). Best effort
        is the caller's choice: errors are raised."""
        if not self.provider.revoke_url:
            return
        response = self._post(self.provider.revoke_url, {"token": token.get_secret_value()})
        if response.status_code >= 400 and response.status_code != 404:
            raise self._error(response, grant_dead=False)

    # ---- internals

    def _post(self, url: str, form: dict[str, str]) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if self.provider.client_auth == "basic":
            secret = self._credentials.client_secret.get_secret_value()
            basic = base64.b64encode(f"{self._credentials.client_id}:{secret}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        else:
            form = form | {
                "client_id": self._credentials.client_id,
                "client_secret": self._credentials.client_secret.get_secret_value(),
            }
        try:
            return self._http.post(url, data=form, headers=headers)
        except httpx.TransportError as exc:
            raise SageUnavailable(f"{self.provider.name} token endpoint: {type(exc).__name__}") from None

    def _token_request(self, form: dict[str, str], *, previous_refresh: SecretStr | None) -> TokenSet:
        now = self._clock()
        response = self._post(self.provider.token_url, form)
        if response.status_code >= 400:
            raise self._error(response, grant_dead=previous_refresh is not None)
        try:
            body = response.json()
            access = body["access_token"]
        except (ValueError, KeyError, TypeError):
            raise SageUnavailable(f"{self.provider.name} token endpoint answered without a token") from None
        refresh = body.get("refresh_token") or (
            previous_refresh.get_secret_value() if previous_refresh is not None else None
        )
        if not refresh:
            raise OAuthError(f"{self.provider.name} issued no refresh token (is offline access granted?)")
        refresh_ttl = body.get("refresh_token_expires_in")
        refresh_expires_at = (
            now + timedelta(seconds=int(refresh_ttl)) if refresh_ttl
            else now + self.provider.default_refresh_ttl if self.provider.default_refresh_ttl
            else None
        )
        return TokenSet(
            access_token=SecretStr(access),
            refresh_token=SecretStr(refresh),
            expires_at=now + timedelta(seconds=int(body.get("expires_in", 300))),
            refresh_expires_at=refresh_expires_at,
            token_type=str(body.get("token_type", "bearer")),
            scope=body.get("scope"),
        )

    def _error(self, response: httpx.Response, *, grant_dead: bool) -> SageError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        code = str(body.get("error") or f"http_{response.status_code}")
        # The description is the server's; it never echoes our secrets, but keep it short anyway.
        message = str(body.get("error_description") or code)[:300]
        text = f"{self.provider.name} token endpoint: {message}"
        kwargs: dict[str, Any] = {"status": response.status_code, "data_code": code}
        if response.status_code >= 500:
            return SageUnavailable(text, **kwargs)
        if grant_dead and code == "invalid_grant":
            return GrantRevoked(text, **kwargs)
        return OAuthError(text, **kwargs)


__all__ = [
    "ClientCredentials",
    "OAuthClient",
    "OAuthError",
    "OAuthProvider",
    "sage200_provider",
]
