"""Sage 200's OAuth configuration (Sage ID); the flow itself is the provider-agnostic
`sagebridge.connectors.oauth`. Authorize at id.sage.com with the Sage 200 audience and
`offline_access` (else no refresh token); refresh tokens live at most 90 days from consent and a
refresh does not extend them, so the tenant reconnects before the end (see connectors.sage200.product)."""

from __future__ import annotations

from sagebridge.connectors.oauth import ClientCredentials, OAuthClient, OAuthError, OAuthProvider, sage200_provider
from sagebridge.connectors.sage200.settings import Sage200Settings

PROVIDER = "sage200"
AUDIENCE = "s200ukipd/sage200"


def revoke_url_for(token_url: str) -> str | None:
    """Sage ID revokes at .../oauth/revoke next to .../oauth/token."""
    return token_url[: -len("/token")] + "/revoke" if token_url.rstrip("/").endswith("/token") else None


def sage200_oauth_provider(settings: Sage200Settings) -> OAuthProvider:
    """The provider from the environment settings (SAGE200_AUTH_URL, SAGE200_TOKEN_URL)."""
    return sage200_provider(
        authorize_url=settings.auth_url, token_url=settings.token_url,
        revoke_url=revoke_url_for(settings.token_url), audience=AUDIENCE,
    )


__all__ = ["AUDIENCE", "PROVIDER", "ClientCredentials", "OAuthClient", "OAuthError", "OAuthProvider",
           "revoke_url_for", "sage200_oauth_provider"]
