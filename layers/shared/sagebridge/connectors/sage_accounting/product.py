"""Builds the Sage Accounting pieces of one container: token lifecycle, connect flow, and a ready
client per tenant. Handlers and engines call `build_sage_accounting(...)` once (cold start) and keep
the result; tests pass their own store, KMS client, clock and an httpx client over the sandbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from sagebridge.connections.connect_flow import ConnectFlow
from sagebridge.connections.lifecycle import ConnectionService
from sagebridge.connections.signed_in import SignedInProduct, sign_in
from sagebridge.connections.wiring import DEFAULT_TIMEOUT, container_defaults, default_http_client
from sagebridge.connectors.base import NotConnected
from sagebridge.connectors.oauth import ClientCredentials, OAuthClient
from sagebridge.connectors.pacing import RequestPacer
from sagebridge.connectors.product import Limits, SecretKeys
from sagebridge.connectors.sage_accounting.client import SageAccountingClient, SageAccountingConnector
from sagebridge.connectors.sage_accounting.feed import SageAccountingFeed
from sagebridge.connectors.sage_accounting.oauth import PROVIDER, sage_accounting_provider
from sagebridge.connectors.sage_accounting.settings import SECRET_KEYS, SageAccountingSecrets, SageAccountingSettings
from sagebridge.domain.settings import TenantSettings
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.settings import Settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.notifications import FailureSummary, Notifier
from sagebridge.store.records import ConnectionStatus
from sagebridge.store.store import Store

if TYPE_CHECKING:
    from sagebridge.connectors.product import Product

@dataclass
class SageAccounting(SignedInProduct):
    settings: Settings
    product_settings: SageAccountingSettings  # SAGE_ACCOUNTING_* (connectors/sage_accounting/settings.py)
    store: Store
    service: ConnectionService
    flow: ConnectFlow
    http: httpx.Client
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Each business's pacer (Sage counts requests per business), shared by every client of it in
    # this container and timed on `clock` and `sleep` (tests: the sandbox's).
    _pacers: dict[str, RequestPacer] = field(default_factory=dict, init=False, repr=False)

    def pacer_for(self, business_id: str) -> RequestPacer | None:
        per_minute = self.limits.requests_per_minute
        if not per_minute:
            return None
        if business_id not in self._pacers:
            self._pacers[business_id] = RequestPacer(per_minute, clock=lambda: self.clock().timestamp(),
                                                     sleep=self.sleep)
        return self._pacers[business_id]

    def client_for(self, tenant_id: str, **client_options: Any) -> SageAccountingClient:
        """A client bound to the tenant's chosen business, with tokens managed by `service`.
        NotConnected if the tenant has no live connection."""
        record = self.service.find(tenant_id)
        if record is None or record.status != ConnectionStatus.CONNECTED or not record.business_id:
            raise NotConnected(f"tenant {tenant_id} has no live Sage Accounting connection")
        client_options.setdefault("pacer", self.pacer_for(record.business_id))
        return SageAccountingClient(
            self.http, token_provider=self.service.token_provider(tenant_id), business_id=record.business_id,
            base_url=self.product_settings.api_url, sleep=self.sleep, **client_options,
        )

    # ---- the Product protocol (connectors/product.py)

    @property
    def secret_keys(self) -> SecretKeys:
        return SECRET_KEYS

    @property
    def limits(self) -> Limits:
        """Paced under Sage's per-business limit unless SAGE_ACCOUNTING_REQUESTS_PER_MINUTE is 0."""
        return Limits(self.product_settings.requests_per_minute or None)

    def connector_for(self, tenant_id: str, settings: TenantSettings | None = None) -> SageAccountingConnector:
        return SageAccountingConnector(self.client_for(tenant_id))

    def feed_for(self, tenant_id: str, settings: TenantSettings | None = None) -> SageAccountingFeed:
        return SageAccountingFeed(self.client_for(tenant_id))

    def list_businesses(self, access_token: str) -> list[dict[str, Any]]:
        client = SageAccountingClient(
            self.http, token_provider=lambda *, rejected=None: access_token,
            base_url=self.product_settings.api_url, sleep=self.sleep,
        )
        return client.list_businesses()


def build_sage_accounting(
    settings: Settings,
    *,
    store: Store | None = None,
    clients: AwsClients | None = None,
    http: httpx.Client | None = None,
    secrets: IntegrationSecrets | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    notify: Callable[[FailureSummary], Any] | None = None,
    require_signed_link: bool = True,
    product_settings: SageAccountingSettings | None = None,
) -> SageAccounting:
    clients, store, secrets = container_defaults(settings, clients=clients, store=store, secrets=secrets, clock=clock)
    http = http or default_http_client()
    # Validated now, before anything is built: a bad variable or a missing key is named here.
    product_settings = product_settings or settings.for_product(SageAccountingSettings)
    credentials = secrets.for_product(SageAccountingSecrets)
    if notify is None:
        notify = Notifier(settings.notification_topic_arn, clients).publish
    oauth = OAuthClient(
        sage_accounting_provider(product_settings), http,
        ClientCredentials(credentials.client_id, credentials.client_secret),
        clock=clock,
    )
    holder: dict[str, SageAccounting] = {}
    service, flow = sign_in(settings, provider=PROVIDER, oauth=oauth, store=store, clients=clients, secrets=secrets,
                            notify=notify, clock=clock, require_signed_link=require_signed_link,
                            list_businesses=lambda token: holder["sa"].list_businesses(token))
    holder["sa"] = SageAccounting(settings=settings, product_settings=product_settings, store=store,
                                  service=service, flow=flow, http=http, sleep=sleep, clock=clock)
    return holder["sa"]


if TYPE_CHECKING:  # mypy holds the wiring to the Product protocol
    _product: type[Product] = SageAccounting

__all__ = ["DEFAULT_TIMEOUT", "SECRET_KEYS", "SageAccounting", "build_sage_accounting", "default_http_client"]
