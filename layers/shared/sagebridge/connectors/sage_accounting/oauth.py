"""Sage Accounting's OAuth configuration; the flow itself is the provider-agnostic
`sagebridge.connectors.oauth`. Authorize at www.sageone.com (?filter=apiv3.1), tokens and revoke at
oauth.accounting.sage.com; scope full_access; access 300 s, refresh 31 days rotated on every use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sagebridge.connectors.oauth import ClientCredentials, OAuthClient, OAuthError, OAuthProvider

PROVIDER = "sage_accounting"


def sage_accounting_provider(settings: Any) -> OAuthProvider:
    return OAuthProvider(
        name=PROVIDER,
        authorize_url=settings.sage_accounting_auth_url,
        token_url=settings.sage_accounting_token_url,
        revoke_url=settings.sage_accounting_revoke_url,
        scope="full_access",
        default_refresh_ttl=timedelta(days=31),
    )



__all__ = ["PROVIDER", "ClientCredentials", "OAuthClient", "OAuthError", "OAuthProvider", "sage_accounting_provider"]
