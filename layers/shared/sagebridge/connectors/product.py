"""What the engines need from one Sage product's wiring, whichever product it is.

`SageProducts` (sync/products.py) asks the registry (connectors/registry.py) for the tenant's
product and then talks to it only through `Product`: a connector and a feed bound to the tenant,
whether the tenant is connected, what a connection found dead means, keeping tokens alive,
disconnecting, and how a tenant connects (a connect link through Sage's own sign-in, or a login
typed in). A product also declares, as data, what it needs: the keys of the settings secret it
reads (`SecretKeys`) and its request limit (`Limits`); its own environment variables and secret
keys are typed in its package's settings module, on `ProductSettings` and `ProductSecrets`. The
poll itself is the engine's (sync/payments.py): a product only hands it the tenant's feed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, SecretStr

from sagebridge.domain.settings import TenantSettings

if TYPE_CHECKING:  # base.py re-exports this module, so the import runs one way only
    from sagebridge.connectors.base import AuthError, Connector, Feed


class ProductSettings(BaseModel):
    """A product's own environment variables: each field aliased by the variable's name, with the
    default a deployment gets. Read by `Settings.for_product` when the product is built."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class ProductSecrets(BaseModel):
    """A product's own keys of the settings secret: each field aliased by the key's name, SecretStr
    where secret; a field with no default is a key the product cannot do without. Read by
    `IntegrationSecrets.for_product` when the product is built. Shows field names only, never a
    value (in repr, str and validation errors)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, hide_input_in_errors=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(type(self).model_fields)})"

    __str__ = __repr__


@dataclass(frozen=True)
class SecretKeys:
    """The keys of the integration's settings secret a product reads: `required` must all be set
    before the product is built; `connect` (a subset, usually) decide whether its connect flow is
    offered at all (a deployment without them simply has no such product)."""

    required: tuple[str, ...]
    connect: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """What Sage allows a product's callers: requests per minute the client paces itself under
    (None: no pacing; 429s are honoured all the same)."""

    requests_per_minute: float | None = None


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

    def connect_link(self, api_base_url: str, tenant_id: str, *, allow_business_change: bool = False,
                     return_to: str | None = None, portal_url: str | None = None) -> str: ...


@runtime_checkable
class LoginConnect(Protocol):
    """The tenant connects with a login: verified with Sage first, then kept sealed."""

    @property
    def how_to_connect(self) -> str:
        """What to tell an operator who asks for a connect link instead."""
        ...

    def connect_login(self, tenant_id: str, login: Login) -> None: ...


@runtime_checkable
class Product(Protocol):
    """One Sage product's wiring, built once per container by its registry line."""

    @property
    def connects_by(self) -> LinkConnect | LoginConnect: ...

    @property
    def secret_keys(self) -> SecretKeys:
        """The settings-secret keys it reads (checked when it is built)."""
        ...

    @property
    def limits(self) -> Limits: ...

    def connector_for(self, tenant_id: str, settings: TenantSettings) -> Connector:
        """The product bound to the tenant's connection (NotConnected when it has none)."""
        ...

    def is_connected(self, tenant_id: str) -> bool: ...

    def feed_for(self, tenant_id: str, settings: TenantSettings) -> Feed:
        """What the payment poller and the catalog import read of the tenant's books (NotConnected
        when it has no connection)."""
        ...

    def connection_lost(self, tenant_id: str, error: AuthError) -> bool:
        """Sage refused the tenant's connection during a poll. True: the connection is dead (the
        tenant must connect again; the product has recorded it and told operators where it does);
        the poll reports it as expired. False: an ordinary failure, raised to the caller."""
        ...

    def keep_alive(self, tenant_ids: Sequence[str]) -> Mapping[str, int] | None:
        """Refresh the tenants' idle grants and warn of ends to come: counts by name (checked,
        refreshed, dead, failed, warned). None: the product holds nothing that expires."""
        ...

    def disconnect(self, tenant_id: str) -> bool:
        """Revoke at Sage where there is something to revoke, and forget what we hold. True if
        there was a connection."""
        ...


__all__ = ["Limits", "LinkConnect", "Login", "LoginConnect", "Product", "ProductSecrets", "ProductSettings",
           "SecretKeys"]
