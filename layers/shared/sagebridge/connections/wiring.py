"""The defaults every product's builder (`build_sage_accounting`, `build_sage200`,
`build_sage_intacct`) starts from, for what the caller did not pass: the AWS clients, the store over
them, the integration's settings secret and the HTTP client the OAuth products share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import httpx

from sagebridge.security.secrets import IntegrationSecrets, get_integration_secrets
from sagebridge.settings import Settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.store import Store

# Production timeouts: the token call must finish well inside the refresh lock (30 s).
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class _BuiltOnFirstUse:
    """An httpx.Client built when it is first used (its first request), not when the container is:
    building one loads certifi's CA bundle into a TLS context (about 40 ms of CPU), which a cold
    start whose invocation sends nothing to Sage (no tenant due, a token still fresh) never needs."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._client: httpx.Client | None = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = httpx.Client(**self._options)
        return getattr(self._client, name)


def default_http_client(timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.Client:
    return cast(httpx.Client, _BuiltOnFirstUse(timeout=timeout, follow_redirects=False))


def container_defaults(
    settings: Settings,
    *,
    clients: AwsClients | None,
    store: Store | None,
    secrets: IntegrationSecrets | None,
    clock: Callable[[], datetime],
) -> tuple[AwsClients, Store, IntegrationSecrets]:
    """`clients`, `store` and `secrets` as given, else built from the settings (the secret read once
    through Secrets Manager). The caller checks the secret holds its product's credentials."""
    clients = clients or AwsClients()
    store = store or Store(settings.table_name, clients.dynamodb, clock=clock)
    if secrets is None:
        secrets = get_integration_secrets(settings.settings_secret_name, boto3_client=clients.secretsmanager)
    return clients, store, secrets


__all__ = ["DEFAULT_TIMEOUT", "container_defaults", "default_http_client"]
