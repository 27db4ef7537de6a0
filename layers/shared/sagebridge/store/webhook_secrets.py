"""Secrets Manager adapter for each tenant's webhook secret (`<stack>/tenants/<t>/webhook`): created
with the tenant, rotated on request, deleted with it. Reading them is sagebridge.host.secrets' job
(through the Powertools cache); this is the admin side that writes them."""

from __future__ import annotations

import json
import secrets

from botocore.exceptions import ClientError

from sagebridge.domain.errors import ConflictError, NotFoundError, SageBridgeError
from sagebridge.store.aws import AwsClients


class SecretStoreError(SageBridgeError):
    """Secrets Manager refused a request."""


def tenant_webhook_secret_name(settings_secret_name: str, tenant_id: str) -> str:
    """`acme` of stack `sage-bridge` -> `sage-bridge/tenants/acme/webhook` (as host.secrets reads it)."""
    prefix = settings_secret_name.rsplit("/", 1)[0] if "/" in settings_secret_name else settings_secret_name
    return f"{prefix}/tenants/{tenant_id}/webhook"


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookSecretStore:
    def __init__(self, settings_secret_name: str, clients: AwsClients) -> None:
        self._settings_secret_name = settings_secret_name
        self._clients = clients

    def name_for(self, tenant_id: str) -> str:
        return tenant_webhook_secret_name(self._settings_secret_name, tenant_id)

    def create(self, tenant_id: str) -> str:
        """A fresh secret for a new tenant; returns it (shown once, to hand to the host app).
        ConflictError if the tenant already has one."""
        value = new_webhook_secret()
        try:
            self._clients.secretsmanager.create_secret(
                Name=self.name_for(tenant_id), SecretString=json.dumps({"current": value}),
                Description=f"Sage Bridge webhook secret of tenant {tenant_id}",
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceExistsException":
                raise ConflictError(f"tenant {tenant_id} already has a webhook secret") from None
            raise SecretStoreError(f"Secrets Manager {code or 'error'} creating the secret of {tenant_id}") from None
        return value

    def rotate(self, tenant_id: str) -> str:
        """A new current secret; the old one stays valid as `previous` until the next rotation, so
        the host can switch over without dropping webhooks."""
        name = self.name_for(tenant_id)
        try:
            old = json.loads(self._clients.secretsmanager.get_secret_value(SecretId=name)["SecretString"])
            value = new_webhook_secret()
            previous = old.get("current") if isinstance(old, dict) else str(old)
            self._clients.secretsmanager.put_secret_value(
                SecretId=name, SecretString=json.dumps({"current": value, "previous": previous}))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise NotFoundError(f"tenant {tenant_id} has no webhook secret") from None
            raise SecretStoreError(f"Secrets Manager {code or 'error'} rotating the secret of {tenant_id}") from None
        return value

    def delete(self, tenant_id: str) -> bool:
        """Delete at once (no recovery window: the tenant is gone). False if there was none."""
        try:
            self._clients.secretsmanager.delete_secret(SecretId=self.name_for(tenant_id),
                                                       ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise SecretStoreError(f"Secrets Manager error deleting the secret of {tenant_id}") from None
        return True


__all__ = ["SecretStoreError", "WebhookSecretStore", "new_webhook_secret", "tenant_webhook_secret_name"]
