"""Sage Accounting's OAuth configuration; the flow itself is the provider-agnostic
`sagebridge.connectors.oauth`. Authorize at www.sageone.com (?filter=apiv3.1), tokens and revoke at
oauth.accounting.sage.com; scope full_access; access 300 s, refresh 31 days rotated on every use."""

from __future__ import annotations

from datetime import timedelta

from sagebridge.connectors.oauth import ClientCredentials, OAuthClient, OAuthError, OAuthProvider
from sagebridge.connectors.sage_accounting.settings import SageAccountingSettings

PROVIDER = "sage_accounting"


def sage_accounting_provider(settings: SageAccountingSettings) -> OAuthProvider:
    return OAuthProvider(
        name=PROVIDER,
        authorize_url=settings.auth_url,
        token_url=settings.token_url,
        revoke_url=settings.revoke_url,
        scope="full_access",
        default_refresh_ttl=timedelta(days=31),
    )



__all__ = ["PROVIDER", "ClientCredentials", "OAuthClient", "OAuthError", "OAuthProvider", "sage_accounting_provider"]
