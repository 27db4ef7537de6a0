"""Sage 200's own settings: the environment variables that point it at Sage (same names and
defaults a deployment has always had) and its keys of the integration's settings secret."""

from __future__ import annotations

from pydantic import Field, SecretStr

from sagebridge.connectors.product import ProductSecrets, ProductSettings, SecretKeys
from sagebridge.security.secrets import required_keys


class Sage200Settings(ProductSettings):
    api_url: str = Field(alias="SAGE200_API_URL",
                         default="https://api.columbus.sage.com/uk/sage200extra/accounts/v1")
    # Client-side pacing per Sage 200 subscription key (connectors/sage200/client.py); Sage publishes
    # no limit, 100 a minute is the sandbox's assumed one (local/sandboxes/FIDELITY.md); 0 turns it off.
    requests_per_minute: float = Field(alias="SAGE200_REQUESTS_PER_MINUTE", default=100, ge=0)
    auth_url: str = Field(alias="SAGE200_AUTH_URL", default="https://id.sage.com/authorize")
    token_url: str = Field(alias="SAGE200_TOKEN_URL", default="https://id.sage.com/oauth/token")


class Sage200Secrets(ProductSecrets):
    """Our app at Sage ID, and the API Management subscription key every call carries."""

    client_id: str = Field(alias="sage200_client_id")
    client_secret: SecretStr = Field(alias="sage200_client_secret")
    subscription_key: SecretStr = Field(alias="sage200_subscription_key")


# Without the client id and secret no Sage 200 connect flow is offered.
SECRET_KEYS = SecretKeys(required=required_keys(Sage200Secrets), connect=("sage200_client_id", "sage200_client_secret"))

__all__ = ["SECRET_KEYS", "Sage200Secrets", "Sage200Settings"]
