"""What every product a tenant connects to through Sage's own sign-in (OAuth) does the same way:
the connect flow is how it connects, and its token lifecycle (`ConnectionService`) answers whether
the tenant is connected, what a refused grant means, the keep-alive and the disconnect. A product's
wiring (a dataclass with `service` and `flow` fields) takes these from here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sagebridge.connections.connect_flow import ConnectFlow, ListBusinesses
from sagebridge.connections.expiry import ExpiryWarnings
from sagebridge.connections.lifecycle import ConnectionService, LeaseRefreshLock
from sagebridge.connectors.base import AuthError
from sagebridge.connectors.oauth import OAuthClient
from sagebridge.security.oauth_state import StateSigner
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.security.tokens import TokenCipher
from sagebridge.settings import Settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.notifications import FailureSummary
from sagebridge.store.store import Store


def sign_in(
    settings: Settings, *, provider: str, oauth: OAuthClient, store: Store, clients: AwsClients,
    secrets: IntegrationSecrets, notify: Callable[[FailureSummary], Any], clock: Callable[[], datetime],
    list_businesses: ListBusinesses, require_signed_link: bool, expiry_warnings: ExpiryWarnings | None = None,
) -> tuple[ConnectionService, ConnectFlow]:
    """A sign-in product's token lifecycle (sealed tokens, single-flight refresh, keep-alive) and its
    connect flow (signed link, OAuth, the business picker `list_businesses` fills)."""
    service = ConnectionService(
        provider=provider, connections=store.connections, cipher=TokenCipher(clients.kms, settings.token_key_id),
        oauth=oauth, lock=LeaseRefreshLock(store.leases), notify=notify, clock=clock,
        expiry_warnings=expiry_warnings,
    )
    key = secrets.state_signing_key.get_secret_value()
    flow = ConnectFlow(
        service=service, states=store.oauth_states, tenants=store.tenants, signer=StateSigner(key),
        link_key=key.encode(), list_businesses=list_businesses, clock=clock,
        require_signed_link=require_signed_link, link_ttl=timedelta(minutes=settings.connect_link_ttl_minutes),
    )
    return service, flow


class SignedInProduct:
    service: ConnectionService
    flow: ConnectFlow

    @property
    def connects_by(self) -> ConnectFlow:
        return self.flow

    def is_connected(self, tenant_id: str) -> bool:
        return self.service.is_connected(tenant_id)

    def connection_lost(self, tenant_id: str, error: AuthError) -> bool:
        """A revoked grant: the connection is marked expired and operators are told (once)."""
        return self.service.connection_lost(tenant_id, error)

    def keep_alive(self, tenant_ids: Sequence[str]) -> dict[str, int]:
        """Refresh idle grants (and warn before a grant that cannot be extended ends)."""
        return asdict(self.service.keep_alive_all(list(tenant_ids)))

    def disconnect(self, tenant_id: str) -> bool:
        """Revoke the grant at Sage and forget the tokens. True if there was a connection."""
        return self.service.disconnect(tenant_id)


__all__ = ["SignedInProduct", "sign_in"]
