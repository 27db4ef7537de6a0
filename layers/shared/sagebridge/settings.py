"""Environment settings as one pydantic model, read once per cold start.

Only names and addresses live in the environment; secrets are fetched from Secrets Manager through
Powertools Parameters by the code that needs them (see `settings_secret_name`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sagebridge.domain.errors import ConfigurationError


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
    sage_accounting_api_url: str = Field(
        alias="SAGE_ACCOUNTING_API_URL", default="https://api.accounting.sage.com/v3.1"
    )
    # Client-side pacing per Sage business (connectors/pacing.py RequestPacer): on by
    # default at Sage's documented 200 requests a minute per business (v3.0's figure; v3.1 publishes
    # none), so an export of a few hundred documents is paced instead of refused; 0 turns it off
    # (Sage's 429s are honoured either way).
    sage_accounting_requests_per_minute: float = Field(
        alias="SAGE_ACCOUNTING_REQUESTS_PER_MINUTE", default=200, ge=0
    )
    sage_accounting_auth_url: str = Field(
        alias="SAGE_ACCOUNTING_AUTH_URL", default="https://www.sageone.com/oauth2/auth/central?filter=apiv3.1"
    )
    sage_accounting_token_url: str = Field(
        alias="SAGE_ACCOUNTING_TOKEN_URL", default="https://oauth.accounting.sage.com/token"
    )
    sage_accounting_revoke_url: str = Field(
        alias="SAGE_ACCOUNTING_REVOKE_URL", default="https://oauth.accounting.sage.com/revoke"
    )
    sage200_api_url: str = Field(
        alias="SAGE200_API_URL", default="https://api.columbus.sage.com/uk/sage200extra/accounts/v1"
    )
    # Client-side pacing per Sage 200 subscription key (connectors/sage200/client.py); Sage publishes
    # no limit, 100 a minute is the sandbox's assumed one (local/sandboxes/FIDELITY.md); 0 turns it off.
    sage200_requests_per_minute: float = Field(alias="SAGE200_REQUESTS_PER_MINUTE", default=100, ge=0)
    sage200_auth_url: str = Field(alias="SAGE200_AUTH_URL", default="https://id.sage.com/authorize")
    sage200_token_url: str = Field(alias="SAGE200_TOKEN_URL", default="https://id.sage.com/oauth/token")
    # Sage Intacct's XML gateway; after getAPISession the client uses the endpoint the session names.
    sage_intacct_endpoint: str = Field(
        alias="SAGE_INTACCT_ENDPOINT", default="https://api.intacct.com/ia/xml/xmlgw.phtml"
    )
    export_interval_minutes: int = Field(alias="EXPORT_INTERVAL_MINUTES", default=15, ge=1)
    # How long a connect link (single use) can wait to be opened; docs/security.md.
    connect_link_ttl_minutes: int = Field(alias="CONNECT_LINK_TTL_MINUTES", default=15, ge=1, le=1440)
    stage: str = Field(alias="STAGE", default="dev")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Validate the environment, failing fast with the names of every missing or bad variable."""
    try:
        return Settings.model_validate(dict(os.environ if environ is None else environ))
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
