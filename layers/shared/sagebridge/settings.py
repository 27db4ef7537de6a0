"""Environment settings as one pydantic model, read once per cold start.

Only names and addresses live in the environment; secrets are fetched from Secrets Manager through
Powertools Parameters by the code that needs them (see `settings_secret_name`). `Settings` holds
what every function shares; each Sage product reads its own variables (its API address, its pacing)
into its own model (`connectors/<product>/settings.py`) through `Settings.for_product`, from the
same environment, when the product is built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from sagebridge.domain.errors import ConfigurationError

Model = TypeVar("Model", bound=BaseModel)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=1)
    token_key_id: str = Field(alias="TOKEN_KEY_ID", min_length=1)
    export_queue_url: str = Field(alias="EXPORT_QUEUE_URL", min_length=1)
    delivery_queue_url: str = Field(alias="DELIVERY_QUEUE_URL", min_length=1)
    payment_poll_queue_url: str = Field(alias="PAYMENT_POLL_QUEUE_URL", min_length=1)
    notification_topic_arn: str = Field(alias="NOTIFICATION_TOPIC_ARN", min_length=1)
    settings_secret_name: str = Field(alias="SETTINGS_SECRET_NAME", min_length=1)
    # Empty in AWS: the API's own URL is read from each request (a template can't name its own API
    # in a function's environment without a cycle); set when a custom domain fronts the API.
    public_api_url: str = Field(alias="PUBLIC_API_URL", default="")
    # The tenant portal (docs/portal.md): where a portal link may send people back to (space- or
    # comma-separated URL prefixes), who may frame it (CSP frame-ancestors), how long links and sessions last.
    portal_return_urls: str = Field(alias="PORTAL_RETURN_URLS", default="")
    portal_frame_ancestors: str = Field(alias="PORTAL_FRAME_ANCESTORS", default="'none'")
    portal_link_ttl_minutes: int = Field(alias="PORTAL_LINK_TTL_MINUTES", default=10, ge=1, le=1440)
    portal_session_minutes: int = Field(alias="PORTAL_SESSION_MINUTES", default=60, ge=5, le=720)
    export_interval_minutes: int = Field(alias="EXPORT_INTERVAL_MINUTES", default=15, ge=1)
    # An export run stops taking documents when its invocation has less than the larger of these
    # left, and goes on in a continuation job (docs/operations.md, "Runs that fit the deadline").
    export_stop_margin_seconds: float = Field(alias="EXPORT_STOP_MARGIN_SECONDS", default=60.0, ge=0)
    export_stop_margin_share: float = Field(alias="EXPORT_STOP_MARGIN_SHARE", default=0.2, ge=0, le=0.9)
    # How long a connect link (single use) can wait to be opened; docs/security.md.
    connect_link_ttl_minutes: int = Field(alias="CONNECT_LINK_TTL_MINUTES", default=15, ge=1, le=1440)
    stage: str = Field(alias="STAGE", default="dev")
    # The tenants' failure digests (docs/operations.md, "Failure emails"): the SNS topic their
    # addresses subscribe to (empty: no digests), and the sync log link a digest gives, with
    # {tenant_id} and {run_id} filled in (usually the host app's page that opens the portal).
    failure_digest_topic_arn: str = Field(alias="FAILURE_DIGEST_TOPIC_ARN", default="")
    failure_digest_link: str = Field(alias="FAILURE_DIGEST_LINK", default="")
    # The environment these settings were read from, for the products' own models; never in repr
    # or dumps. The runtime's AWS_* variables (credentials among them) are left out.
    _environ: Mapping[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_the_environment(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Settings:
        settings: Settings = handler(data)
        if isinstance(data, Mapping):
            settings._environ = MappingProxyType({str(k): v for k, v in data.items() if not str(k).startswith("AWS_")})
        return settings

    def for_product(self, model: type[Model]) -> Model:
        """A product's own environment fields (`model`, e.g. `Sage200Settings`), read from the
        environment these settings came from: defaults for what is not set, ConfigurationError
        naming every bad variable."""
        return _validate(model, self._environ)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Validate the environment, failing fast with the names of every missing or bad variable."""
    return _validate(Settings, os.environ if environ is None else environ)


def _validate(model: type[Model], environ: Mapping[str, str]) -> Model:
    try:
        return model.model_validate(dict(environ))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            reason = "is not set" if err["type"] == "missing" else err["msg"]
            problems.append(f"{name} {reason}")
        raise ConfigurationError("environment: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once (cold start) and cached."""
    return load_settings()
