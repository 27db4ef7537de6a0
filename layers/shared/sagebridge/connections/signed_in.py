"""What every product a tenant connects to through Sage's own sign-in (OAuth) does the same way:
the connect flow is how it connects, and its token lifecycle (`ConnectionService`) answers whether
the tenant is connected, what a refused grant means, the keep-alive and the disconnect. A product's
wiring (a dataclass with `service` and `flow` fields) takes these from here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sagebridge.connections.connect_flow import ConnectFlow
from sagebridge.connections.lifecycle import ConnectionService
from sagebridge.connectors.base import AuthError


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


__all__ = ["SignedInProduct"]
