"""Each tenant's webhook secret, from Secrets Manager through Powertools Parameters (cached).

One secret per tenant, named `<stack>/tenants/<tenant_id>/webhook` (beside the stack's settings
secret `<stack>/settings`), used both ways: the host signs its webhooks with it, we sign our
deliveries with it. Its value is JSON, `{"current": "...", "previous": "..."}`: during a rotation
both verify inbound webhooks and outbound deliveries are signed with `current`. A plain string is
accepted too (no rotation in progress).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.parameters.base import BaseProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from sagebridge.domain.errors import ConfigurationError

CACHE_SECONDS = 300  # a rotated secret is picked up within five minutes


def tenant_webhook_secret_name(settings_secret_name: str, tenant_id: str) -> str:
    """`acme` of stack `sage-bridge` -> `sage-bridge/tenants/acme/webhook`."""
    prefix = settings_secret_name.rsplit("/", 1)[0] if "/" in settings_secret_name else settings_secret_name
    return f"{prefix}/tenants/{tenant_id}/webhook"


def webhook_secret_value(current: str, previous: str | None = None) -> str:
    """The SecretString to store for a tenant (what the admin API writes when it creates or rotates)."""
    return json.dumps({"current": current, **({"previous": previous} if previous else {})})


def parse_secret_value(value: Any) -> list[str]:
    """Secrets of a stored value, current first; empty strings are dropped."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value] if value else []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, dict):
        found = [value.get("current"), value.get("previous")]
        return [s for s in found if isinstance(s, str) and s]
    return []


class WebhookSecrets:
    """Looks up a tenant's secrets; `provider` is a Powertools SecretsProvider (its cache is ours)."""

    def __init__(self, provider: BaseProvider, settings_secret_name: str, *, max_age: int = CACHE_SECONDS) -> None:
        self._provider = provider
        self._settings_secret_name = settings_secret_name
        self._max_age = max_age

    def for_tenant(self, tenant_id: str) -> list[str]:
        """The tenant's secrets, current first; empty when it has none (the caller refuses)."""
        name = tenant_webhook_secret_name(self._settings_secret_name, tenant_id)
        try:
            value = self._provider.get(name, max_age=self._max_age)
        except GetParameterError:
            return []
        return parse_secret_value(value)

    def signing_secret(self, tenant_id: str) -> str:
        secrets = self.for_tenant(tenant_id)
        if not secrets:
            raise ConfigurationError(f"tenant {tenant_id} has no webhook secret")
        return secrets[0]
