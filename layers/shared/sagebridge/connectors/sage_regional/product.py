"""Builds the Sage Business Cloud Accounting regional (AU / NZ / ZA / Asia, API v2.0.0) pieces of one
container: connect (verify a login with `Company/Get`, pick the company, save it sealed), a ready
connector and feed per tenant, and each company's request gate.

    regional = build_sage_regional(settings)                 # cold start, kept
    regional.connect_login("acme", Login("AU:1234", "accounts@acme.example", SecretStr("...")))
    regional.connector_for("acme", tenant_settings)          # export worker (provider sage_regional)

How the tenant's login is given (the admin API's login-connection, whose fields are shared with
Intacct): `company_id` is the region, optionally with the Sage company ID after a colon ("AU",
"ZA:1234"); `entity_id` may name the company instead; `user_id` and `user_password` are the Sage
login (an email address and its password). With no company named, the login's only company is
taken; a login that sees several is refused with the list to choose from.

The region, username, password and company are sealed together with TokenCipher (KMS envelope,
context {tenant_id, provider}) as the `sage_regional` connection's ciphertext, like Intacct's login;
only "REGION:company" and the company's name are stored in the clear.

A refused login is never retried (20 failures an hour lock the username for 24 hours): the client
reports it here, the connection is marked expired at once, and every later run or poll of the tenant
is refused without a request until the tenant connects again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from sagebridge.connections.lifecycle import pack, unpack
from sagebridge.connections.wiring import container_defaults, default_http_client
from sagebridge.connectors.base import AuthError, Login, LoginRefused, NotConnected
from sagebridge.connectors.product import Limits, SecretKeys
from sagebridge.connectors.sage_regional.client import (
    PROVIDER,
    CompanyGate,
    LoginFailed,
    RegionalClient,
    RegionalLogin,
)
from sagebridge.connectors.sage_regional.connector import RegionalConnector
from sagebridge.connectors.sage_regional.feed import RegionalFeed
from sagebridge.connectors.sage_regional.settings import (
    REGIONS,
    SECRET_KEYS,
    SageRegionalSecrets,
    SageRegionalSettings,
)
from sagebridge.domain.errors import ConfigurationError, ConflictError
from sagebridge.domain.settings import TenantSettings
from sagebridge.observability import logger
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.security.tokens import TokenCipher, TokenSet
from sagebridge.settings import Settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.records import ConnectionRecord, ConnectionStatus
from sagebridge.store.store import Store

if TYPE_CHECKING:
    from sagebridge.connectors.product import Product

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)  # a login does not expire; the sealed set needs a date
_KIND = "regional_login"


class RegionalLoginRefused(LoginRefused):
    """Sage refused the login, the region is unknown, or the company must be chosen: nothing was saved."""


@dataclass(frozen=True)
class RegionalConnection:
    """What the admin API shows of a tenant's regional connection (never the password)."""

    tenant_id: str
    region: str
    company_id: int
    company_name: str
    username: str
    status: str
    connected_at: datetime | None = None


def parse_company(company_id: str, entity_id: str | None) -> tuple[str, int | None]:
    """("AU", None) from "AU"; ("ZA", 1234) from "ZA:1234" or from "ZA" with entity_id "1234"."""
    region, _, company = company_id.strip().upper().partition(":")
    company = company.strip() or (entity_id or "").strip()
    if region not in REGIONS:
        raise RegionalLoginRefused(f"Sage Business Cloud Accounting (regional) was not connected: {region!r} is not a "
                                   f"region; give company_id as one of {', '.join(REGIONS)}, optionally with the Sage "
                                   "company ID after a colon (AU:1234)")
    if company and not company.isdigit():
        raise RegionalLoginRefused(f"Sage Business Cloud Accounting (regional) was not connected: {company!r} is not a "
                                   "Sage company ID (a whole number, as Company/Get lists it)")
    return region, int(company) if company else None


@dataclass
class SageRegional:
    settings: Settings
    product_settings: SageRegionalSettings
    store: Store
    cipher: TokenCipher
    http: httpx.Client
    secrets: SageRegionalSecrets
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep
    _gates: dict[str, CompanyGate] = field(default_factory=dict, repr=False)
    _opened: dict[str, tuple[int, RegionalLogin]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    provider = PROVIDER
    how_to_connect = ("Sage Business Cloud Accounting (regional) tenants connect with their Sage login, not a connect "
                      "link: POST /admin/tenants/{id}/login-connection with company_id the region (AU, NZ, ZA, ASIA), "
                      "optionally ':' and the Sage company ID")

    # ---- clients

    def gate(self, base_url: str, company_id: int | None) -> CompanyGate:
        """The company's one gate in this container: every client of it shares the pace and the block."""
        key = f"{base_url}#{company_id}"
        with self._lock:
            if key not in self._gates:
                self._gates[key] = CompanyGate(1.0 / self.product_settings.requests_per_second,
                                               block_seconds=self.product_settings.block_seconds, clock=self.clock,
                                               sleep=self.sleep)
            return self._gates[key]

    def _base_url(self, region: str) -> str:
        url = self.product_settings.base_url(region)
        if not url:
            raise RegionalLoginRefused(
                f"Sage Business Cloud Accounting (regional) was not connected: no API host is configured for region "
                f"{region} (Sage publishes AU and ZA only); set SAGE_REGIONAL_{region}_URL")
        return url

    def _client(self, login: RegionalLogin, tenant_id: str | None = None) -> RegionalClient:
        base = self._base_url(login.region)
        client = RegionalClient(self.http, base_url=base, api_key=self.secrets.api_key.get_secret_value(),
                                login=login, gate=self.gate(base, login.company_id), sleep=self.sleep)
        if tenant_id is not None:
            client.on_login_failed = lambda: self._login_failed(tenant_id)
            client.on_blocked = lambda until: self._blocked(tenant_id, until)
        return client

    def find(self, tenant_id: str) -> ConnectionRecord | None:
        return self.store.connections.find(tenant_id, PROVIDER)

    def is_connected(self, tenant_id: str) -> bool:
        record = self.find(tenant_id)
        return record is not None and record.status == ConnectionStatus.CONNECTED

    def login_of(self, tenant_id: str, record: ConnectionRecord | None = None) -> RegionalLogin:
        record = record or self.find(tenant_id)
        if record is None or record.status != ConnectionStatus.CONNECTED:
            why = ("its Sage login was refused; reconnect with the current login"
                   if record is not None and record.status == ConnectionStatus.EXPIRED else "it never connected")
            raise NotConnected(f"tenant {tenant_id} has no live Sage Business Cloud Accounting (regional) connection: "
                               f"{why}")
        with self._lock:
            cached = self._opened.get(tenant_id)
        if cached and cached[0] == record.version:
            return cached[1]
        tokens = self.cipher.open(unpack(record.ciphertext), tenant_id=tenant_id, provider=PROVIDER)
        data = json.loads(tokens.access_token.get_secret_value())
        login = RegionalLogin(data["region"], data["username"], data["password"], int(data["company_id"]))
        with self._lock:
            self._opened[tenant_id] = (record.version, login)
        return login

    # ---- connect / disconnect

    def connect(self, tenant_id: str, company_id: str, username: str, password: str,
                entity_id: str | None = None) -> RegionalConnection:
        """Verify the login with Company/Get, choose the company, then save it sealed."""
        region, chosen = parse_company(company_id, entity_id)
        username = username.strip()
        if not username or not password:
            raise RegionalLoginRefused("the Sage login's username and password are both required")
        try:
            companies = self._client(RegionalLogin(region, username, password)).companies()
        except LoginFailed as exc:
            raise RegionalLoginRefused(f"Sage Business Cloud Accounting (regional) was not connected: {exc.message}",
                                       status=exc.status) from None
        except AuthError as exc:
            raise RegionalLoginRefused(f"Sage Business Cloud Accounting (regional) was not connected: {exc.message}",
                                       status=exc.status) from None
        listed = ", ".join(f"{c.get('ID')} ({c.get('Name')})" for c in companies)
        if chosen is None:
            if len(companies) != 1:
                raise RegionalLoginRefused(
                    "Sage Business Cloud Accounting (regional) was not connected: this login "
                    + (f"sees {len(companies)} companies: {listed}; connect again naming one ({region}:<ID>)"
                       if companies else "sees no company"))
            company = companies[0]
        else:
            found = [c for c in companies if int(c.get("ID") or 0) == chosen]
            if not found:
                raise RegionalLoginRefused(f"Sage Business Cloud Accounting (regional) was not connected: this login "
                                           f"cannot open company {chosen}; it sees {listed or 'none'}")
            company = found[0]
        company_no, name = int(company["ID"]), str(company.get("Name") or company["ID"])
        business = f"{region}:{company_no}"
        payload = json.dumps({"region": region, "username": username, "password": password, "company_id": company_no})
        sealed = pack(self.cipher.seal(TokenSet(access_token=SecretStr(payload), refresh_token=SecretStr(""),
                                                expires_at=_NEVER, token_type=_KIND),
                                       tenant_id=tenant_id, provider=PROVIDER))
        now = self.clock()
        before = self.find(tenant_id)
        # Connecting again does not lift Sage's block of the company: a block not over yet is kept.
        paused = before is not None and before.business_id == business and before.paused_until is not None \
            and now < before.paused_until
        self._save(ConnectionRecord(tenant_id=tenant_id, provider=PROVIDER, ciphertext=sealed,
                                    status=ConnectionStatus.CONNECTED, business_id=business, business_name=name,
                                    last_refreshed_at=now,
                                    paused_until=before.paused_until if paused and before else None,
                                    paused_reason=before.paused_reason if paused and before else None))
        logger.info("sage_connected", extra={"tenant_id": tenant_id, "provider": PROVIDER, "company_id": business})
        return RegionalConnection(tenant_id, region, company_no, name, username, ConnectionStatus.CONNECTED.value, now)

    def _save(self, record: ConnectionRecord) -> None:
        self.store.save_login_connection(record, what="Sage Business Cloud Accounting (regional)")
        with self._lock:
            self._opened.pop(record.tenant_id, None)

    def _login_failed(self, tenant_id: str) -> None:
        """Sage refused the stored login: mark the connection so nothing tries it again (the lockout)."""
        record = self.find(tenant_id)
        if record is None or record.status != ConnectionStatus.CONNECTED:
            return
        try:
            self.store.connections.save(replace(record, status=ConnectionStatus.EXPIRED),
                                        expected_version=record.version)
        except ConflictError:
            return
        with self._lock:
            self._opened.pop(tenant_id, None)
        logger.warning("sage_login_refused", extra={"tenant_id": tenant_id, "provider": PROVIDER})

    def _blocked(self, tenant_id: str, until: datetime) -> None:
        """Sage blocked the company until `until`: kept on the connection for every container and run (and
        the tenant's status) to honour; this container's gate holds it already if the write fails."""
        reason = (f"Sage has blocked requests for this company until {until:%H:%M} UTC: the regional API blocks a "
                  "caller for an hour after 100 requests a minute; Sage Bridge will resume by itself")
        try:
            self.store.connections.pause(tenant_id, PROVIDER, until, reason)
        except Exception as exc:  # the gate still holds it here; the status only misses the sentence
            logger.warning("sage_block_not_stored", extra={"tenant_id": tenant_id, "error": type(exc).__name__})
        logger.warning("sage_regional_blocked_until", extra={"tenant_id": tenant_id, "until": until.isoformat()})

    def disconnect(self, tenant_id: str) -> bool:
        if self.find(tenant_id) is None:
            return False
        self.store.connections.delete(tenant_id, PROVIDER)
        with self._lock:
            self._opened.pop(tenant_id, None)
        logger.info("sage_disconnected", extra={"tenant_id": tenant_id, "provider": PROVIDER})
        return True

    # ---- per tenant

    def connector_for(self, tenant_id: str, settings: TenantSettings | None = None) -> RegionalConnector:
        record = self.find(tenant_id)
        login = self.login_of(tenant_id, record)
        client = self._client(login, tenant_id)
        paused = record.paused_until if record is not None else None
        if paused is not None and (client.gate.blocked_until is None or client.gate.blocked_until < paused):
            # A block another container met: this gate sends nothing before it either.
            client.gate.blocked_until = paused
        return RegionalConnector(client, region=login.region)

    def feed_for(self, tenant_id: str, settings: TenantSettings | None = None) -> RegionalFeed:
        return RegionalFeed(self.connector_for(tenant_id, settings))

    # ---- the Product protocol (connectors/product.py)

    @property
    def connects_by(self) -> SageRegional:
        return self

    @property
    def secret_keys(self) -> SecretKeys:
        return SECRET_KEYS

    @property
    def limits(self) -> Limits:
        """Paced by the product's own gate (one request a second per company, one in flight)."""
        return Limits(60.0 * self.product_settings.requests_per_second)

    def connect_login(self, tenant_id: str, login: Login) -> None:
        self.connect(tenant_id, login.company_id, login.user_id, login.password.get_secret_value(), login.entity_id)

    def connection_lost(self, tenant_id: str, error: AuthError) -> bool:
        """A refused login: the connection is marked expired (never retried); the tenant reconnects."""
        if isinstance(error, LoginFailed):
            self._login_failed(tenant_id)
            return True
        return False

    def keep_alive(self, tenant_ids: Sequence[str]) -> None:
        return None  # a login does not expire


def build_sage_regional(
    settings: Settings,
    *,
    store: Store | None = None,
    clients: AwsClients | None = None,
    http: httpx.Client | None = None,
    secrets: IntegrationSecrets | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    product_settings: SageRegionalSettings | None = None,
    **_: Any,
) -> SageRegional:
    clients, store, secrets = container_defaults(settings, clients=clients, store=store, secrets=secrets, clock=clock)
    product_settings = product_settings or settings.for_product(SageRegionalSettings)
    return SageRegional(settings=settings, product_settings=product_settings, store=store,
                        cipher=TokenCipher(clients.kms, settings.token_key_id),
                        http=http or default_http_client(DEFAULT_TIMEOUT),
                        secrets=_secrets(secrets), clock=clock, sleep=sleep)


def _secrets(secrets: IntegrationSecrets) -> SageRegionalSecrets:
    """The integrator's API key, or an error that tells the operator where it goes (nothing can connect without it)."""
    try:
        return secrets.for_product(SageRegionalSecrets)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"Sage Business Cloud Accounting (regional) is not available: {exc}. Put the integration's regional API "
            "key (issued to the host-app vendor by Sage's developer programme) in the settings secret under "
            "sage_regional_api_key; tenants cannot connect until it is there") from None


if TYPE_CHECKING:  # mypy holds the wiring to the Product protocol
    _product: type[Product] = SageRegional

__all__ = ["SECRET_KEYS", "RegionalConnection", "RegionalLoginRefused", "SageRegional", "build_sage_regional",
           "parse_company"]
