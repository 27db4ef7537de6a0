"""One door to the Sage products, picked per tenant by `TenantSettings.provider`.

Each product is built through its registry line (connectors/registry.py) on first use and only
then, so a deployment that never has a Sage 200 tenant needs no Sage 200 credentials in its settings
secret, and a cold start imports only the products its tenants use. All of them share one store,
one set of AWS clients and one HTTP client. Nothing here names a product: every call goes to the
tenant's product through the `Product` protocol (connectors/product.py).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TypeGuard

from sagebridge.connections.lifecycle import KeepAliveReport
from sagebridge.connections.wiring import default_http_client
from sagebridge.connectors.base import Connector, LoginConnect, Product
from sagebridge.connectors.registry import product_builder, providers
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import Provider, TenantSettings, parse_tenant_settings
from sagebridge.host.outbound import DeliveryOutbox, connection_status_changed, enqueue_delivery
from sagebridge.observability import logger
from sagebridge.security.secrets import IntegrationSecrets, get_integration_secrets
from sagebridge.settings import Settings
from sagebridge.store import Store
from sagebridge.store.aws import AwsClients
from sagebridge.store.connections import ConnectionChange
from sagebridge.store.queues import MessageQueue
from sagebridge.store.records import ConnectionRecord
from sagebridge.sync.currency import BusinessCurrencies
from sagebridge.sync.payments import Clock
from sagebridge.sync.tenant_polls import TenantPoll, poll_product_tenant

# A product as the engines use it (the name the engines and tests know it by).
ProductWiring = Product


def is_product(candidate: object) -> TypeGuard[ProductWiring]:
    """Does `candidate` offer everything `Product` asks (checked once, when a product is built)?"""
    return isinstance(candidate, Product)


@dataclass
class SageProducts:
    settings: Settings
    clients: AwsClients = field(default_factory=AwsClients)
    store: Store | None = None
    secrets: IntegrationSecrets | None = None
    built: dict[Provider, ProductWiring] = field(default_factory=dict)  # products built already (tests pass theirs)
    outbox: DeliveryOutbox | None = None  # where news for the host goes (default: the delivery queue)
    currencies: BusinessCurrencies = field(default_factory=BusinessCurrencies)  # tenants' base currencies
    clock: Clock | None = None  # what a poll's window is timed on (default: the store's clock)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.store is None:
            self.store = Store(self.settings.table_name, self.clients.dynamodb)
        self._http = default_http_client()
        # Every product's connection is written through this store: the host hears each change.
        self.store.connections.watch(self.tell_host_connection_changed)

    def tell_host_connection_changed(self, change: ConnectionChange) -> None:
        """connection.status_changed to the tenant's host app (best effort: the change itself stands)."""
        try:
            data, key = connection_status_changed(change, reconnect_hint=self._reconnect_hint(change))
            enqueue_delivery(self.delivery_outbox(), change.tenant_id, data, dedupe_key=key, occurred_at=change.at)
        except Exception as exc:
            logger.warning("connection_news_not_queued", extra={"tenant_id": change.tenant_id,
                                                                 "status": change.status, "error": type(exc).__name__})

    def _reconnect_hint(self, change: ConnectionChange) -> str:
        """What the tenant does to connect again, by how its product connects (a login, or Sage's sign-in)."""
        try:
            login = isinstance(self.product(Provider(change.provider)).connects_by, LoginConnect)
        except (ConfigurationError, ValueError):
            login = False
        if login:
            return ("send the tenant's Sage login again: the operator posts it to "
                    f"/admin/tenants/{change.tenant_id}/login-connection, where it is checked with Sage first")
        return ("connect Sage again: open a new connect link (the operator's `sagebridge connect-url "
                f"{change.tenant_id}`) and sign in to Sage; the link works once, for a few minutes")

    def integration_secrets(self) -> IntegrationSecrets:
        """The settings secret, read once (the products' credentials and the state signing key)."""
        if self.secrets is None:
            self.secrets = get_integration_secrets(self.settings.settings_secret_name,
                                                   boto3_client=self.clients.secretsmanager)
        return self.secrets

    def product(self, provider: Provider) -> ProductWiring:
        """The product serving `provider`, built (and its module imported) on first use."""
        with self._lock:
            if provider not in self.built:
                build = product_builder(provider)
                product = build(self.settings, store=self.store, clients=self.clients, http=self._http,
                                secrets=self.integration_secrets())
                if not is_product(product):
                    raise ConfigurationError(f"the product registered for {provider.value} built a "
                                             f"{type(product).__name__}, which does not offer what Product asks")
                self.built[provider] = product
            return self.built[provider]

    def connector_for(self, tenant_id: str, settings: TenantSettings) -> Connector:
        """The tenant's product, bound to its connection (NotConnected when it has none)."""
        return self.product(settings.provider).connector_for(tenant_id, settings)

    def business_currency_for(self, tenant_id: str, connector: Connector,
                              settings: TenantSettings | None = None) -> str:
        """The tenant's base currency: its setting, else Sage's (one request, then cached an hour in
        this container), else GBP when Sage cannot say (see sagebridge.sync.currency)."""
        return self.currencies.currency_for(tenant_id, connector, settings)

    def is_connected(self, tenant_id: str, settings: TenantSettings) -> bool:
        return self.product(settings.provider).is_connected(tenant_id)

    def tenants_by_provider(self) -> dict[Provider, list[str]]:
        """The enabled tenants of each product in use (one pass over the tenant list)."""
        tenants: dict[Provider, list[str]] = {}
        assert self.store is not None
        for tenant in self.store.tenants.iter_all(enabled_only=True):
            try:
                provider = parse_tenant_settings(tenant.settings).provider
            except ConfigurationError:
                continue  # the per-product runs report the tenant's bad settings
            tenants.setdefault(provider, []).append(tenant.tenant_id)
        return tenants

    def poll_tenant(self, tenant_id: str, outbox: DeliveryOutbox | None = None) -> TenantPoll:
        """The payment poll worker's job: one tenant's payments and catalog, through its own product
        (the same per-tenant poll the in-process loops use). A tenant disabled, removed or
        disconnected since the job was queued is not polled; a dead grant marks the connection
        expired. Any other failure raises (the job goes back to the queue)."""
        assert self.store is not None
        tenant = self.store.tenants.find(tenant_id)
        if tenant is None or not tenant.enabled:
            return TenantPoll(tenant_id, "skipped", error="tenant removed or disabled")
        settings = parse_tenant_settings(tenant.settings)
        if not self.is_connected(tenant_id, settings):
            return TenantPoll(tenant_id, "not_connected")
        record = self.find_connection(tenant_id, settings.provider)
        now = (self.clock or self.store.table.now)()
        if record is not None and record.paused_until is not None and now < record.paused_until:
            # Sage blocks the tenant's requests until then (a product's rate-limit block): nothing is
            # sent, and the job is done, not handed back to the queue to fail its way to the DLQ.
            return TenantPoll(tenant_id, "skipped", error=record.paused_reason or "Sage blocks requests for now")
        return poll_product_tenant(self.product(settings.provider), tenant_id, settings, store=self.store,
                                   outbox=outbox or self.delivery_outbox(), clock=self.clock or self.store.table.now)

    def keep_alive_all(self) -> dict[str, int]:
        """Refresh idle grants and send expiry warnings, product by product, for the products the
        enabled tenants use (a product with nothing that expires reports nothing). A product that
        cannot be built (its credentials missing from the settings secret) does not stop the others;
        the run then fails with its error once they are done, so the failure is seen."""
        assert self.store is not None
        total: Counter[str] = Counter(asdict(KeepAliveReport()))
        tenants_of = self.tenants_by_provider()
        unavailable: ConfigurationError | None = None
        for provider in providers():
            if provider not in tenants_of:
                continue
            try:  # each product checks its own tenants only: "checked" counts tenants, once each
                report = self.product(provider).keep_alive(tenants_of[provider])
            except ConfigurationError as exc:
                logger.error("keep_alive_product_unavailable", extra={"provider": provider.value, "error": str(exc)})
                unavailable = unavailable or exc
                continue
            total.update(report or {})
        if unavailable is not None:
            raise unavailable
        return dict(total)

    def settings_of(self, tenant_id: str) -> TenantSettings:
        assert self.store is not None
        return parse_tenant_settings(self.store.tenants.get(tenant_id).settings)

    def find_connection(self, tenant_id: str, provider: Provider) -> ConnectionRecord | None:
        assert self.store is not None
        return self.store.connections.find(tenant_id, provider.value)

    def disconnect(self, tenant_id: str, provider: Provider) -> bool:
        """Revoke at Sage where there is a grant, and delete what we hold."""
        return self.product(provider).disconnect(tenant_id)

    def delivery_outbox(self) -> DeliveryOutbox:
        if self.outbox is None:
            assert self.store is not None
            self.outbox = DeliveryOutbox(MessageQueue(self.settings.delivery_queue_url, self.clients),
                                         self.store.deliveries)
        return self.outbox


__all__ = ["ProductWiring", "SageProducts", "is_product"]
