"""Integration credentials (each Sage product's client id/secret, the OAuth state signing key) from
Secrets Manager through Powertools Parameters: cached per container for `max_age` seconds, never in
the environment, never logged (SecretStr).

`IntegrationSecrets` types only the product-neutral key (`state_signing_key`); each product
declares its own keys as a model in its package (`connectors/<product>/settings.py`) and gets them
with `for_product(model)`, validated when the product is built, so a product no tenant uses needs
none of its keys."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, model_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from sagebridge.domain.errors import ConfigurationError

DEFAULT_MAX_AGE = 300  # seconds: a rotated secret reaches every container within five minutes
# What the template writes into every product key of a new stack's settings secret; still there
# means the deployer has not filled that key in (sent to Sage it gets its "invalid client" page).
PLACEHOLDER = "REPLACE_ME"

Model = TypeVar("Model", bound=BaseModel)


class IntegrationSecrets(BaseModel):
    """The JSON document stored under SETTINGS_SECRET_NAME. Its products' keys are kept as read,
    privately (never in repr, dumps or errors), for the products to take theirs with `for_product`."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    # Signs OAuth `state` and connect links; 32+ characters of randomness.
    state_signing_key: SecretStr = Field(min_length=32)
    # Signs tenant portal links and sessions (security/portal.py); unset: derived from the state key.
    portal_signing_key: SecretStr | None = Field(default=None, min_length=32)
    _raw: Mapping[str, object] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_every_key(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> IntegrationSecrets:
        secrets: IntegrationSecrets = handler(data)
        if isinstance(data, Mapping):
            secrets._raw = MappingProxyType({str(k): v for k, v in data.items() if k != "state_signing_key"})
        return secrets

    def portal_key(self) -> str:
        """The key portal links and sessions are signed with (never logged)."""
        if self.portal_signing_key is not None:
            return self.portal_signing_key.get_secret_value()
        from sagebridge.security.portal import derive_portal_key

        return derive_portal_key(self.state_signing_key.get_secret_value())

    def missing(self, keys: Iterable[str]) -> list[str]:
        """Those of `keys` (a product's declared secret keys) that are not set."""
        return [key for key in keys if not _value(self._raw.get(key))]

    def placeholders(self, keys: Iterable[str]) -> list[str]:
        """Those of `keys` still holding the template's PLACEHOLDER (set, but not filled in)."""
        return [key for key in keys if _value(self._raw.get(key)).strip() == PLACEHOLDER]

    def has(self, keys: Iterable[str]) -> bool:
        return not self.missing(keys)

    def require(self, keys: Iterable[str]) -> None:
        """ConfigurationError naming the keys (never a value) when any of `keys` is not set."""
        missing = self.missing(keys)
        if missing:
            raise ConfigurationError("the settings secret has no " + " / ".join(missing))

    def for_product(self, model: type[Model]) -> Model:
        """A product's own keys (`model`, e.g. `Sage200Secrets`: fields aliased by the keys' names),
        validated now: ConfigurationError naming every key that is not set or is bad, never a value."""
        self.require(required_keys(model))
        try:
            return model.model_validate(dict(self._raw))
        except ValidationError as exc:
            bad = " / ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            raise ConfigurationError(f"the settings secret has a bad {bad}") from None


def required_keys(model: type[BaseModel]) -> tuple[str, ...]:
    """The settings-secret keys `model` cannot do without (its fields with no default), by name."""
    return tuple(field.alias or name for name, field in model.model_fields.items() if field.is_required())


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


__all__ = ["PLACEHOLDER", "IntegrationSecrets", "clear_cache", "get_integration_secrets", "required_keys"]
