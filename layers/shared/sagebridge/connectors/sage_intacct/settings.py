"""Sage Intacct's own settings: the environment variable that points it at Sage (same name and
default a deployment has always had) and its keys of the integration's settings secret."""

from __future__ import annotations

from pydantic import Field, SecretStr

from sagebridge.connectors.product import ProductSecrets, ProductSettings, SecretKeys
from sagebridge.security.secrets import required_keys


class SageIntacctSettings(ProductSettings):
    # Sage Intacct's XML gateway; after getAPISession the client uses the endpoint the session names.
    endpoint: str = Field(alias="SAGE_INTACCT_ENDPOINT", default="https://api.intacct.com/ia/xml/xmlgw.phtml")


class SageIntacctSecrets(ProductSecrets):
    """The integration's Web Services sender (not a tenant's), sent on every request."""

    sender_id: str = Field(alias="intacct_sender_id")
    sender_password: SecretStr = Field(alias="intacct_sender_password")


# Tenants connect with a login typed in, not a connect link, so no keys decide a connect flow.
SECRET_KEYS = SecretKeys(required=required_keys(SageIntacctSecrets))

__all__ = ["SECRET_KEYS", "SageIntacctSecrets", "SageIntacctSettings"]
