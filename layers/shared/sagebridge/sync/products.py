"""One door to the three Sage products, picked per tenant by `TenantSettings.provider`.

Each product's wiring is built on first use and only then, so a deployment that never has a Sage
200 tenant needs no Sage 200 credentials in its settings secret, and a cold start pays only for the
products its tenants use. All of them share one store, one set of AWS clients and one HTTP client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sagebridge.connectors.base import Connector
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import Provider, TenantSettings, parse_tenant_settings
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.security.secrets import IntegrationSecrets, get_integration_secrets
from sagebridge.settings import Settings
from sagebridge.store import Store
from sagebridge.store.aws import AwsClients
from sagebridge.store.queues import MessageQueue
from sagebridge.sync.connections import KeepAliveReport
from sagebridge.sync.currency import BusinessCurrencies
from sagebridge.sync.intacct_wiring import SageIntacct, build_sage_intacct, poll_intacct_tenant
from sagebridge.sync.payments import TenantPoll, poll_connected_tenant
from sagebridge.sync.sage200_wiring import Sage200, build_sage200
from sagebridge.sync.sage_accounting_wiring import SageAccounting, build_sage_accounting, default_http_client


@dataclass
class SageProducts:
    settings: Settings
    clients: AwsClients = field(default_factory=AwsClients)
    store: Store | None = None
    secrets: IntegrationSecrets | None = None
    built: dict[Provider, Any] = field(default_factory=dict)  # products built already (tests pass theirs)
    outbox: DeliveryOutbox | None = None  # where news for the host goes (default: the delivery queue)
    currencies: BusinessCurrencies = field(default_factory=BusinessCurrencies)  # tenants' base currencies
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.store is None:
            self.store = Store(self.settings.table_name, self.clients.dynamodb)
        self._http = default_http_client()

    def _secrets(self) -> IntegrationSecrets:
        if self.secrets is None:
            self.secrets = get_integration_secrets(self.settings.settings_secret_name,
                                                   boto3_client=self.clients.secretsmanager)
        return self.secrets

    def _product(self, provider: Provider) -> Any:
        with self._lock:
            if provider not in self.built:
                common = {"store": self.store, "clients": self.clients, "http": self._http, "secrets": self._secrets()}
                builders: dict[Provider, Callable[..., Any]] = {
                    Provider.SAGE_ACCOUNTING: build_sage_accounting, Provider.SAGE_INTACCT: build_sage_intacct,
                    Provider.SAGE_200: build_sage200}
                build = builders[provider]
                self.built[provider] = build(self.settings, **common)
            return self.built[provider]

    @property
    def sage_accounting(self) -> SageAccounting:
        return self._product(Provider.SAGE_ACCOUNTING)

    @property
    def sage_intacct(self) -> SageIntacct:
        return self._product(Provider.SAGE_INTACCT)

    @property
    def sage200(self) -> Sage200:
        return self._product(Provider.SAGE_200)

    def connector_for(self, tenant_id: str, settings: TenantSettings) -> Connector:
        """The tenant's product, bound to its connection (NotConnected when it has none)."""
        if settings.provider is Provider.SAGE_INTACCT:
            return self.sage_intacct.connector_for(tenant_id, settings)
        if settings.provider is Provider.SAGE_200:
            return self.sage200.connector_for(tenant_id)
        return self.sage_accounting.connector_for(tenant_id)

    def business_currency_for(self, tenant_id: str, connector: Connector,
                              settings: TenantSettings | None = None) -> str:
        """The tenant's base currency: its setting, else Sage's (one request, then cached an hour in
        this container), else GBP when Sage cannot say (see sagebridge.sync.currency)."""
        return self.currencies.currency_for(tenant_id, connector, settings)

    def is_connected(self, tenant_id: str, settings: TenantSettings) -> bool:
        if settings.provider is Provider.SAGE_INTACCT:
            return self.sage_intacct.is_connected(tenant_id)
        product = self.sage200 if settings.provider is Provider.SAGE_200 else self.sage_accounting
        return bool(product.service.is_connected(tenant_id))

    def providers_in_use(self) -> set[Provider]:
        """The products the enabled tenants use (one pass over the tenant list)."""
        used = set()
        assert self.store is not None
        for tenant in self.store.tenants.iter_all(enabled_only=True):
            try:
                used.add(parse_tenant_settings(tenant.settings).provider)
            except ConfigurationError:
                continue  # the per-product runs report the tenant's bad settings
        return used

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
        outbox = outbox or self.delivery_outbox()
        if settings.provider is Provider.SAGE_INTACCT:
            return poll_intacct_tenant(self.sage_intacct, tenant_id, settings, outbox)
        if settings.provider is Provider.SAGE_200:
            return self.sage200.poll_tenant(tenant_id, settings, outbox)
        sage = self.sage_accounting
        return poll_connected_tenant(sage, tenant_id, settings, outbox, clock=sage.store.table.now)

    def keep_alive_all(self) -> dict[str, int]:
        """Refresh idle OAuth connections (Sage Accounting, Sage 200) and send Sage 200's expiry
        warnings. Intacct logins hold no tokens that expire."""
        assert self.store is not None
        total = KeepAliveReport()
        used = self.providers_in_use()
        for provider in (Provider.SAGE_ACCOUNTING, Provider.SAGE_200):
            if provider not in used:
                continue
            product = self._product(provider)
            tenants = [t.tenant_id for t in self.store.tenants.iter_all(enabled_only=True)]
            report = product.service.keep_alive_all(tenants)
            for name, value in asdict(report).items():
                setattr(total, name, getattr(total, name) + value)
        return asdict(total)

    def settings_of(self, tenant_id: str) -> TenantSettings:
        assert self.store is not None
        return parse_tenant_settings(self.store.tenants.get(tenant_id).settings)

    def oauth_product(self, provider: Provider) -> SageAccounting | Sage200:
        """The product whose connection is an OAuth grant (ConnectionService + connect flow)."""
        if provider is Provider.SAGE_INTACCT:
            raise ConfigurationError("Sage Intacct tenants connect with their company and user credentials, "
                                     "not a connect link: POST /admin/tenants/{id}/intacct-connection")
        return self.sage200 if provider is Provider.SAGE_200 else self.sage_accounting

    def find_connection(self, tenant_id: str, provider: Provider) -> Any:
        assert self.store is not None
        return self.store.connections.find(tenant_id, provider.value)

    def disconnect(self, tenant_id: str, provider: Provider) -> bool:
        """Revoke at Sage where there is a grant, and delete what we hold."""
        if provider is Provider.SAGE_INTACCT:
            return self.sage_intacct.disconnect(tenant_id)
        return bool(self.oauth_product(provider).service.disconnect(tenant_id))

    def delivery_outbox(self) -> DeliveryOutbox:
        if self.outbox is None:
            assert self.store is not None
            self.outbox = DeliveryOutbox(MessageQueue(self.settings.delivery_queue_url, self.clients),
                                         self.store.deliveries)
        return self.outbox
