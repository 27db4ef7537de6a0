"""Builds the Sage 200 pieces of one container, on the same machinery as Sage Accounting (token
lifecycle with single-flight refresh and keep-alive, the connect flow, the engines), parameterised:

- OAuth through Sage ID (`connectors.sage200.oauth`); our client id/secret and the API subscription
  key come from the settings secret, the addresses from the environment (both typed in
  `connectors.sage200.settings`);
- a tenant picks a site and company from `GET /sites`: the connection's business id is
  "<site id>/<company id>";
- the grant ends 90 days after consent whatever we do, so the daily keep-alive warns 14 and 3 days
  before (`ExpiryWarnings`, once each) with the reconnect link, and the status shows `days_left`;
- the payment poller reads Sage 200 through `Sage200Feed`, which presents posted transactions, tax
  codes, products and customers in the shapes the poller and the catalog import read.

Handlers call `build_sage200(...)` once per cold start; tests pass their own store, KMS client,
clock and an httpx client over the sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from sagebridge.connections.connect_flow import ConnectFlow
from sagebridge.connections.expiry import ExpiryWarnings, days_left
from sagebridge.connections.lifecycle import ConnectionService
from sagebridge.connections.signed_in import SignedInProduct, sign_in
from sagebridge.connections.wiring import container_defaults, default_http_client
from sagebridge.connectors.base import NotConnected
from sagebridge.connectors.oauth import ClientCredentials, OAuthClient
from sagebridge.connectors.pacing import RequestPacer
from sagebridge.connectors.product import Limits, SecretKeys
from sagebridge.connectors.sage200.client import (
    Sage200Client,
    Sage200Connector,
    business_id_of,
    site_and_company,
)
from sagebridge.connectors.sage200.feed import Sage200Feed
from sagebridge.connectors.sage200.oauth import PROVIDER, sage200_oauth_provider
from sagebridge.connectors.sage200.settings import SECRET_KEYS, Sage200Secrets, Sage200Settings
from sagebridge.domain.settings import TenantSettings
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.settings import Settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.notifications import FailureSummary, Notifier
from sagebridge.store.records import ConnectionStatus
from sagebridge.store.store import Store

if TYPE_CHECKING:
    from sagebridge.connectors.product import Product

Clock = Callable[[], datetime]


# ----------------------------------------------------------------------------------- the wiring


@dataclass
class Sage200(SignedInProduct):
    settings: Settings
    product_settings: Sage200Settings  # SAGE200_* (connectors/sage200/settings.py)
    store: Store
    service: ConnectionService
    flow: ConnectFlow
    http: httpx.Client
    subscription_key: SecretStr
    clock: Clock
    sleep: Callable[[float], None] = time.sleep
    client_options: dict[str, Any] = field(default_factory=dict)  # e.g. page_size, max_attempts
    _pacer: RequestPacer | None = field(default=None, init=False, repr=False)

    def __repr__(self) -> str:
        return "Sage200(...)"

    @property
    def pacer(self) -> RequestPacer | None:
        """The container's pacer of our subscription key: API Management counts calls per key, so
        every tenant's client shares it. Timed on `clock` and `sleep` (tests: the sandbox's)."""
        per_minute = self.limits.requests_per_minute
        if self._pacer is None and per_minute:
            self._pacer = RequestPacer(per_minute, clock=lambda: self.clock().timestamp(), sleep=self.sleep)
        return self._pacer

    def client_for(self, tenant_id: str, **client_options: Any) -> Sage200Client:
        """A client bound to the tenant's site and company, tokens managed by `service`.
        NotConnected if the tenant has no live Sage 200 connection."""
        record = self.service.find(tenant_id)
        if record is None or record.status != ConnectionStatus.CONNECTED or not record.business_id:
            raise NotConnected(f"tenant {tenant_id} has no live Sage 200 connection")
        site, company = site_and_company(record.business_id)
        return Sage200Client(
            self.http, token_provider=self.service.token_provider(tenant_id), subscription_key=self.subscription_key,
            site_id=site, company_id=company, base_url=self.product_settings.api_url, sleep=self.sleep,
            **({"pacer": self.pacer} | self.client_options | client_options),
        )

    def connector_for(self, tenant_id: str, settings: TenantSettings | None = None) -> Sage200Connector:
        return Sage200Connector(self.client_for(tenant_id))

    def feed_for(self, tenant_id: str, settings: TenantSettings | None = None) -> Sage200Feed:
        return Sage200Feed(self.client_for(tenant_id))

    def list_sites(self, access_token: str) -> list[dict[str, Any]]:
        """The companies the signing-in user can open, as the connect flow offers them."""
        client = Sage200Client(self.http, token_provider=lambda *, rejected=None: access_token,
                               subscription_key=self.subscription_key, base_url=self.product_settings.api_url,
                               sleep=self.sleep, pacer=self.pacer)
        return [{"id": business_id_of(str(s["site_id"]), s["company_id"]),
                 "name": f"{s.get('company_name') or s['company_id']} ({s.get('site_name') or s['site_id']})"}
                for s in client.list_sites() if s.get("site_id") and s.get("company_id") is not None]

    def days_left(self, tenant_id: str) -> int | None:
        """Days until the tenant's Sage 200 sign-in ends (None: not connected)."""
        return days_left(self.service.find(tenant_id), self.clock())

    def reconnect_link(self, api_base_url: str, tenant_id: str) -> str:
        """The one-click reconnect link for the status page: the signed connect link."""
        return self.flow.connect_link(api_base_url, tenant_id)

    # ---- the rest of the Product protocol (connectors/product.py; the sign-in part: SignedInProduct)

    @property
    def secret_keys(self) -> SecretKeys:
        return SECRET_KEYS

    @property
    def limits(self) -> Limits:
        """API Management's per-subscription-key rate (SAGE200_REQUESTS_PER_MINUTE; 0: no pacing)."""
        return Limits(self.product_settings.requests_per_minute or None)


def build_sage200(
    settings: Settings,
    *,
    store: Store | None = None,
    clients: AwsClients | None = None,
    http: httpx.Client | None = None,
    secrets: IntegrationSecrets | None = None,
    clock: Clock = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    notify: Callable[[FailureSummary], Any] | None = None,
    require_signed_link: bool = True,
    product_settings: Sage200Settings | None = None,
) -> Sage200:
    clients, store, secrets = container_defaults(settings, clients=clients, store=store, secrets=secrets, clock=clock)
    http = http or default_http_client()
    # Validated now, before anything is built: a bad variable or a missing key is named here.
    product_settings = product_settings or settings.for_product(Sage200Settings)
    credentials = secrets.for_product(Sage200Secrets)
    if notify is None:
        notify = Notifier(settings.notification_topic_arn, clients).publish
    oauth = OAuthClient(sage200_oauth_provider(product_settings), http,
                        ClientCredentials(credentials.client_id, credentials.client_secret), clock=clock)
    holder: dict[str, Sage200] = {}

    def reconnect_link(tenant_id: str) -> str | None:
        # In AWS the API's own URL is only known per request; the warning then points at the status page.
        return holder["s200"].reconnect_link(settings.public_api_url, tenant_id) if settings.public_api_url else None

    warnings = ExpiryWarnings(provider=PROVIDER, cursors=store.cursors, notify=notify,
                              reconnect_link=reconnect_link, label="Sage 200")
    service, flow = sign_in(settings, provider=PROVIDER, oauth=oauth, store=store, clients=clients, secrets=secrets,
                            notify=notify, clock=clock, require_signed_link=require_signed_link,
                            list_businesses=lambda token: holder["s200"].list_sites(token), expiry_warnings=warnings)
    holder["s200"] = Sage200(settings=settings, product_settings=product_settings, store=store, service=service,
                             flow=flow, http=http, subscription_key=credentials.subscription_key, clock=clock,
                             sleep=sleep)
    return holder["s200"]


if TYPE_CHECKING:  # mypy holds the wiring to the Product protocol
    _product: type[Product] = Sage200

__all__ = ["SECRET_KEYS", "Sage200", "build_sage200", "days_left"]
