"""Integration credentials (Sage client id/secret, the OAuth state signing key) from Secrets
Manager through Powertools Parameters: cached per container for `max_age` seconds, never in the
environment, never logged (SecretStr)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from sagebridge.domain.errors import ConfigurationError

DEFAULT_MAX_AGE = 300  # seconds: a rotated secret reaches every container within five minutes


class IntegrationSecrets(BaseModel):
    """The JSON document stored under SETTINGS_SECRET_NAME (other helpers' keys are ignored here)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sage_accounting_client_id: str = ""
    sage_accounting_client_secret: SecretStr = SecretStr("")
    # Sage 200 (Sage ID): our app's client and the API Management subscription key every call carries.
    sage200_client_id: str = ""
    sage200_client_secret: SecretStr = SecretStr("")
    sage200_subscription_key: SecretStr = SecretStr("")
    # Sage Intacct Web Services sender (the integration's, not a tenant's): sent on every request.
    intacct_sender_id: str = ""
    intacct_sender_password: SecretStr = SecretStr("")
    # Signs OAuth `state` and connect links; 32+ characters of randomness.
    state_signing_key: SecretStr = Field(min_length=32)

    def missing(self, keys: Iterable[str]) -> list[str]:
        """Those of `keys` (a product's declared secret keys) that are not set."""
        return [key for key in keys if not _value(getattr(self, key, None))]

    def has(self, keys: Iterable[str]) -> bool:
        return not self.missing(keys)

    def require(self, keys: Iterable[str]) -> None:
        """ConfigurationError naming the keys (never a value) when any of `keys` is not set."""
        missing = self.missing(keys)
        if missing:
            raise ConfigurationError("the settings secret has no " + " / ".join(missing))


def _value(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")


_providers: dict[int, parameters.SecretsProvider] = {}
_lock = threading.Lock()


def _provider(boto3_client: Any | None) -> parameters.SecretsProvider:
    # One provider (one cache) per injected client; None is Powertools' own lazily made client.
    key = id(boto3_client)
    with _lock:
        if key not in _providers:
            _providers[key] = parameters.SecretsProvider(boto3_client=boto3_client)
        return _providers[key]


def get_integration_secrets(
    secret_name: str, *, max_age: int = DEFAULT_MAX_AGE, boto3_client: Any | None = None,
    force_fetch: bool = False,
) -> IntegrationSecrets:
    """The integration secrets, from the Parameters cache when younger than `max_age`."""
    try:
        raw = _provider(boto3_client).get(secret_name, transform="json", max_age=max_age, force_fetch=force_fetch)
    except parameters.exceptions.GetParameterError as exc:
        # The SDK's message names the secret and the error code, never the value.
        raise ConfigurationError(f"cannot read the settings secret {secret_name!r}: {exc}") from None
    except parameters.exceptions.TransformParameterError:
        raise ConfigurationError(f"the settings secret {secret_name!r} is not a JSON object") from None
    try:
        return IntegrationSecrets.model_validate(raw or {})
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise ConfigurationError(f"the settings secret {secret_name!r} lacks or has bad: {fields}") from None


def clear_cache() -> None:
    """Forget cached secrets (tests; after a rotation when waiting `max_age` is not an option)."""
    with _lock:
        for provider in _providers.values():
            provider.clear_cache()
        _providers.clear()


__all__ = ["IntegrationSecrets", "clear_cache", "get_integration_secrets"]
