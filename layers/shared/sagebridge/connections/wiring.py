"""The defaults every product's builder (`build_sage_accounting`, `build_sage200`,
`build_sage_intacct`) starts from, for what the caller did not pass: the AWS clients, the store over
them, the integration's settings secret and the HTTP client the OAuth products share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from sagebridge.security.secrets import IntegrationSecrets, get_integration_secrets
from sagebridge.settings import Settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.store import Store

# Production timeouts: the token call must finish well inside the refresh lock (30 s).
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


def default_http_client() -> httpx.Client:
    return httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False)


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
