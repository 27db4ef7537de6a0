"""What the engines need from one Sage product's wiring, whichever product it is.

`SageProducts` (sync/products.py) asks the registry (connectors/registry.py) for the tenant's
product and then talks to it only through `Product`: a connector bound to the tenant, whether the
tenant is connected, one tenant's payment/catalog poll, keeping tokens alive, disconnecting, and how
a tenant connects (a connect link through Sage's own sign-in, or a login typed in).

`Product` is generic in what the poll writes to and returns (the host's delivery outbox and the
poll's report): those types belong to layers above the connectors, so the engine names them
(`Product[DeliveryOutbox, TenantPoll]`) and this module stays free of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from pydantic import SecretStr

from sagebridge.domain.settings import TenantSettings

if TYPE_CHECKING:  # base.py re-exports this module, so the import runs one way only
    from sagebridge.connectors.base import Connector

Outbox = TypeVar("Outbox", contravariant=True)  # where a poll queues news for the host
Poll = TypeVar("Poll", covariant=True)  # what a poll reports


@dataclass(frozen=True)
class Login:
    """A login a person types in to connect a product that has no OAuth sign-in."""

    company_id: str
    user_id: str
    password: SecretStr = field(repr=False)
    entity_id: str | None = None


@runtime_checkable
class LinkConnect(Protocol):
    """The tenant connects by opening a signed, single-use link that sends them through Sage's own
    sign-in (OAuth) and back."""

    def connect_link(self, api_base_url: str, tenant_id: str, *, allow_business_change: bool = False) -> str: ...


@runtime_checkable
class LoginConnect(Protocol):
    """The tenant connects with a login: verified with Sage first, then kept sealed."""

    @property
    def how_to_connect(self) -> str:
        """What to tell an operator who asks for a connect link instead."""
        ...

    def connect_login(self, tenant_id: str, login: Login) -> None: ...


@runtime_checkable
class Product(Protocol[Outbox, Poll]):
    """One Sage product's wiring, built once per container by its registry line."""

    @property
    def connects_by(self) -> LinkConnect | LoginConnect: ...

    def connector_for(self, tenant_id: str, settings: TenantSettings) -> Connector:
        """The product bound to the tenant's connection (NotConnected when it has none)."""
        ...

    def is_connected(self, tenant_id: str) -> bool: ...

    def poll_tenant(self, tenant_id: str, settings: TenantSettings, outbox: Outbox) -> Poll:
        """One tenant's payments and catalog. A dead grant or a refused login is an outcome (the
        tenant must connect again), not an error; any other failure raises."""
        ...

    def keep_alive(self, tenant_ids: Sequence[str]) -> Mapping[str, int] | None:
        """Refresh the tenants' idle grants and warn of ends to come: counts by name (checked,
        refreshed, dead, failed, warned). None: the product holds nothing that expires."""
        ...

    def disconnect(self, tenant_id: str) -> bool:
        """Revoke at Sage where there is something to revoke, and forget what we hold. True if
        there was a connection."""
        ...


__all__ = ["LinkConnect", "Login", "LoginConnect", "Product"]
