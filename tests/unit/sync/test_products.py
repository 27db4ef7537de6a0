"""SageProducts (sagebridge.sync.products): every call goes to the tenant's own product, through the
`Product` protocol, whichever product it is; products are built through the registry on first use.

The products here are fakes that implement the protocol and record what they were asked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from sagebridge.connectors.base import (
    AuthError,
    GrantRevoked,
    LinkConnect,
    Login,
    LoginConnect,
    NotConnected,
    Product,
    SageError,
)
from sagebridge.connectors.product import Limits, SecretKeys
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import Provider, TenantSettings
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.settings import load_settings
from sagebridge.store.records import TenantRecord
from sagebridge.sync import products as products_module
from sagebridge.sync import tenant_polls
from sagebridge.sync.products import SageProducts, is_product
from sagebridge.sync.tenant_polls import TenantPoll

ENV = {name: "x" for name in ("TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "TOKEN_KEY_ID", "EXPORT_QUEUE_URL",
                              "DELIVERY_QUEUE_URL", "PAYMENT_POLL_QUEUE_URL", "NOTIFICATION_TOPIC_ARN",
                              "SETTINGS_SECRET_NAME")}
NOW = datetime(2026, 1, 5, tzinfo=UTC)
OUTBOX: Any = object()  # the delivery outbox: passed through untouched
SECRETS = IntegrationSecrets(state_signing_key=SecretStr("k" * 32))


class Link:
    def connect_link(self, api_base_url: str, tenant_id: str, *, allow_business_change: bool = False) -> str:
        return f"{api_base_url}/connect/{tenant_id}"


@dataclass
class FakeProduct:
    """One product: connected tenants, and a log of (call, tenant) it was asked."""

    name: str
    connected: set[str] = field(default_factory=set)
    expiring: bool = True  # holds grants that expire (OAuth) or a login that does not
    asked: list[tuple[str, str]] = field(default_factory=list)
    refusal: SageError | None = None  # what the tenant's feed raises (a dead connection, Sage down)
    lost: list[str] = field(default_factory=list)  # tenants whose connection it was told is lost

    secret_keys = SecretKeys(required=())
    limits = Limits()

    @property
    def connects_by(self) -> LinkConnect | LoginConnect:
        return Link() if self.expiring else self

    how_to_connect = "connect with a login"

    def connect_login(self, tenant_id: str, login: Login) -> None:
        self.asked.append(("connect_login", tenant_id))

    def connector_for(self, tenant_id: str, settings: TenantSettings) -> Any:
        self.asked.append(("connector_for", tenant_id))
        return f"{self.name} connector for {tenant_id}"

    def is_connected(self, tenant_id: str) -> bool:
        self.asked.append(("is_connected", tenant_id))
        return tenant_id in self.connected

    def feed_for(self, tenant_id: str, settings: TenantSettings) -> Any:
        self.asked.append(("feed_for", tenant_id))
        if self.refusal is not None:
            raise self.refusal
        return f"{self.name} feed"

    def connection_lost(self, tenant_id: str, error: AuthError) -> bool:
        self.lost.append(tenant_id)
        return isinstance(error, GrantRevoked)

    def keep_alive(self, tenant_ids: Sequence[str]) -> Mapping[str, int] | None:
        self.asked.append(("keep_alive", ",".join(tenant_ids)))
        return {"checked": len(tenant_ids), "refreshed": 1} if self.expiring else None

    def disconnect(self, tenant_id: str) -> bool:
        self.asked.append(("disconnect", tenant_id))
        return tenant_id in self.connected


class Tenants:
    def __init__(self, providers: Mapping[str, str], disabled: Sequence[str] = ()) -> None:
        self.records = {t: TenantRecord(t, {"provider": p}, t not in disabled, 1, NOW, NOW)
                        for t, p in providers.items()}

    def find(self, tenant_id: str) -> TenantRecord | None:
        return self.records.get(tenant_id)

    def get(self, tenant_id: str) -> TenantRecord:
        return self.records[tenant_id]

    def iter_all(self, *, enabled_only: bool = False) -> list[TenantRecord]:
        return [r for r in self.records.values() if r.enabled or not enabled_only]


class Connections:
    """The store's connections as SageProducts uses them here: it subscribes to their changes and asks
    whether Sage has paused one before a poll."""

    def __init__(self) -> None:
        self.watchers: list[Any] = []

    def watch(self, watcher: Any) -> None:
        self.watchers.append(watcher)

    def find(self, tenant_id: str, provider: str) -> None:
        return None  # no connection is paused by Sage here


@dataclass
class Store:
    tenants: Tenants
    connections: Connections = field(default_factory=Connections)


# acme on Sage Accounting, zuper on Intacct, brick on Sage 200 (connected), old disabled.
TENANTS = {"acme": "sage_accounting", "zuper": "sage_intacct", "brick": "sage200", "old": "sage200"}


def products_of(fakes: Mapping[Provider, FakeProduct], tenants: Tenants | None = None) -> SageProducts:
    store: Any = Store(tenants or Tenants(TENANTS, disabled=["old"]))
    return SageProducts(load_settings(ENV), store=store, built=dict(fakes), outbox=OUTBOX, secrets=SECRETS,
                        clock=lambda: NOW)


@pytest.fixture(autouse=True)
def feed_poll(monkeypatch):
    """The engine's poll of one feed, recorded: what it was given is what the tests check."""
    def poll(tenant_id: str, settings: TenantSettings, *, feed: Any, store: Any, outbox: Any, clock: Any) -> TenantPoll:
        assert outbox is OUTBOX and clock() == NOW
        return TenantPoll(tenant_id, "polled", error=f"polled by {feed}")
    monkeypatch.setattr(tenant_polls, "poll_tenant", poll)


@pytest.fixture
def fakes() -> dict[Provider, FakeProduct]:
    return {Provider.SAGE_ACCOUNTING: FakeProduct("accounting", connected={"acme"}),
            Provider.SAGE_INTACCT: FakeProduct("intacct", connected={"zuper"}, expiring=False),
            Provider.SAGE_200: FakeProduct("s200", connected={"brick"})}


def test_the_fakes_are_products(fakes):
    assert all(is_product(f) for f in fakes.values())
    assert not is_product(object())


@pytest.mark.parametrize(("tenant", "provider"), [("acme", Provider.SAGE_ACCOUNTING), ("zuper", Provider.SAGE_INTACCT),
                                                  ("brick", Provider.SAGE_200)])
def test_each_call_goes_to_the_tenant_s_own_product(fakes, tenant, provider):
    products = products_of(fakes)
    settings = TenantSettings(provider=provider)
    assert products.connector_for(tenant, settings) == f"{fakes[provider].name} connector for {tenant}"
    assert products.is_connected(tenant, settings)
    assert products.poll_tenant(tenant).error == f"polled by {fakes[provider].name} feed"
    assert products.disconnect(tenant, provider) is True
    assert [call for call, _ in fakes[provider].asked] == [
        "connector_for", "is_connected", "is_connected", "feed_for", "disconnect"]
    assert all(not f.asked for p, f in fakes.items() if p is not provider)  # the others were not asked


def test_a_tenant_not_connected_or_disabled_is_not_polled(fakes):
    fakes[Provider.SAGE_200].connected.clear()
    products = products_of(fakes)
    assert products.poll_tenant("brick").outcome == "not_connected"
    assert products.poll_tenant("old").outcome == "skipped" and products.poll_tenant("gone").outcome == "skipped"
    assert ("feed_for", "brick") not in fakes[Provider.SAGE_200].asked


def test_a_connection_the_product_declares_lost_is_an_outcome_and_any_other_refusal_raises(fakes):
    products = products_of(fakes)
    fakes[Provider.SAGE_200].refusal = GrantRevoked("invalid_grant")
    assert (products.poll_tenant("brick").outcome, products.poll_tenant("brick").error) == ("expired", "invalid_grant")
    fakes[Provider.SAGE_200].refusal = AuthError("401 after a refresh")
    with pytest.raises(AuthError):  # the product says this is not a dead connection: the job is retried
        products.poll_tenant("brick")
    assert fakes[Provider.SAGE_200].lost == ["brick", "brick", "brick"]
    fakes[Provider.SAGE_200].refusal = NotConnected("disconnected since the job was queued")
    assert products.poll_tenant("brick").outcome == "not_connected"
    assert fakes[Provider.SAGE_ACCOUNTING].lost == [] and fakes[Provider.SAGE_INTACCT].lost == []


def test_keep_alive_asks_each_product_in_use_once_for_its_own_tenants_and_adds_up_their_counts(fakes):
    products = products_of(fakes, Tenants({"acme": "sage_accounting", "acme2": "sage_accounting",
                                           "zuper": "sage_intacct"}))
    # "checked" counts tenants once each (a product asked about another product's tenants counted them too)
    assert products.keep_alive_all() == {"checked": 2, "refreshed": 1, "dead": 0, "failed": 0, "warned": 0,
                                         "expiring": 0}
    assert fakes[Provider.SAGE_ACCOUNTING].asked == [("keep_alive", "acme,acme2")]
    assert fakes[Provider.SAGE_INTACCT].asked == [("keep_alive", "zuper")]  # asked; nothing expires there
    assert fakes[Provider.SAGE_200].asked == []  # no tenant uses it


def test_a_product_that_cannot_be_built_does_not_stop_the_others_keep_alive(fakes, monkeypatch):
    del fakes[Provider.SAGE_ACCOUNTING]  # not built yet: the registry's builder says its credentials are missing

    def missing(provider: Provider) -> Any:
        def build(*args: Any, **kwargs: Any) -> Any:
            raise ConfigurationError("the settings secret has no sage_accounting_client_id")
        return build

    monkeypatch.setattr(products_module, "product_builder", missing)
    products = products_of(fakes)
    with pytest.raises(ConfigurationError, match="sage_accounting_client_id"):
        products.keep_alive_all()
    assert fakes[Provider.SAGE_200].asked == [("keep_alive", "brick")]  # still kept alive


def test_a_product_is_built_through_its_registry_line_once_with_the_shared_pieces(monkeypatch):
    built: list[tuple[Provider, dict[str, Any]]] = []

    def builder_of(provider: Provider) -> Any:
        def build(settings: Any, **shared: Any) -> FakeProduct:
            built.append((provider, shared))
            return FakeProduct(provider.value)
        return build

    monkeypatch.setattr(products_module, "product_builder", builder_of)
    secrets = SECRETS
    products = SageProducts(load_settings(ENV), store=Store(Tenants(TENANTS)), secrets=secrets)  # type: ignore[arg-type]
    first = products.product(Provider.SAGE_200)
    assert products.product(Provider.SAGE_200) is first and first.name == "sage200"
    [(provider, shared)] = built
    assert provider is Provider.SAGE_200 and set(shared) == {"store", "clients", "http", "secrets"}
    assert shared["secrets"] is secrets and shared["store"] is products.store


def test_a_builder_that_makes_no_product_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(products_module, "product_builder", lambda provider: lambda *a, **k: object())
    products = SageProducts(load_settings(ENV), store=Store(Tenants(TENANTS)), secrets=SECRETS)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="registered for sage_intacct built a object, which does not offer"):
        products.product(Provider.SAGE_INTACCT)


def test_how_a_product_connects_is_declared_by_the_product(fakes):
    products = products_of(fakes)
    oauth, login = (products.product(p).connects_by for p in (Provider.SAGE_200, Provider.SAGE_INTACCT))
    assert isinstance(oauth, LinkConnect) and not isinstance(oauth, LoginConnect)
    assert isinstance(login, LoginConnect) and not isinstance(login, LinkConnect)
    assert isinstance(fakes[Provider.SAGE_200], Product)
