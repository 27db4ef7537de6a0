"""Sage Business Cloud Accounting's own settings: the environment variables that point it at Sage
(same names and defaults a deployment has always had) and its keys of the integration's settings
secret."""

from __future__ import annotations

from pydantic import Field, SecretStr

from sagebridge.connectors.product import ProductSecrets, ProductSettings, SecretKeys
from sagebridge.security.secrets import required_keys


class SageAccountingSettings(ProductSettings):
    api_url: str = Field(alias="SAGE_ACCOUNTING_API_URL", default="https://api.accounting.sage.com/v3.1")
    # Client-side pacing per Sage business (connectors/pacing.py RequestPacer): on by
    # default at Sage's documented 200 requests a minute per business (v3.0's figure; v3.1 publishes
    # none), so an export of a few hundred documents is paced instead of refused; 0 turns it off
    # (Sage's 429s are honoured either way).
    requests_per_minute: float = Field(alias="SAGE_ACCOUNTING_REQUESTS_PER_MINUTE", default=200, ge=0)
    auth_url: str = Field(alias="SAGE_ACCOUNTING_AUTH_URL",
                          default="https://www.sageone.com/oauth2/auth/central?filter=apiv3.1")
    token_url: str = Field(alias="SAGE_ACCOUNTING_TOKEN_URL", default="https://oauth.accounting.sage.com/token")
    revoke_url: str = Field(alias="SAGE_ACCOUNTING_REVOKE_URL", default="https://oauth.accounting.sage.com/revoke")


class SageAccountingSecrets(ProductSecrets):
    """Our app at Sage (the Sage Developer Portal's client id and secret)."""

    client_id: str = Field(alias="sage_accounting_client_id")
    client_secret: SecretStr = Field(alias="sage_accounting_client_secret")


SECRET_KEYS = SecretKeys(required=required_keys(SageAccountingSecrets), connect=required_keys(SageAccountingSecrets))

__all__ = ["SECRET_KEYS", "SageAccountingSecrets", "SageAccountingSettings"]
