"""Builds the Sage Intacct pieces of one container: connect (verify a login, save it encrypted),
a ready connector and feed per tenant, and what the payment poller reads of an Intacct tenant (its feed).

    intacct = build_sage_intacct(settings)              # cold start, kept
    connect_intacct("acme", "ACME-CO", "ws_user", "…")   # the admin API / CLI
    intacct.connector_for("acme", tenant_settings)       # export worker (provider sage_intacct)

The tenant's company id, user id, password and entity are sealed together with TokenCipher (KMS
envelope, context {tenant_id, provider}) and stored as the `sage_intacct` connection's ciphertext,
exactly like OAuth tokens; only the company id is stored in the clear (as the business id).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from sagebridge.connections.lifecycle import pack, unpack
from sagebridge.connections.wiring import container_defaults, default_http_client
from sagebridge.connectors.base import AuthError, Login, LoginRefused, NotConnected, SageError
from sagebridge.connectors.product import Limits, SecretKeys
from sagebridge.connectors.sage_intacct.client import (
    PROVIDER,
    IntacctClient,
    IntacctCredentials,
    SessionCache,
)
from sagebridge.connectors.sage_intacct.connector import IntacctConnector
from sagebridge.connectors.sage_intacct.feed import IntacctFeed
from sagebridge.connectors.sage_intacct.settings import SECRET_KEYS, SageIntacctSecrets, SageIntacctSettings
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import TenantSettings
from sagebridge.observability import logger
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.security.tokens import TokenCipher, TokenSet
from sagebridge.settings import Settings, get_settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.records import ConnectionRecord, ConnectionStatus
from sagebridge.store.store import Store

if TYPE_CHECKING:
    from sagebridge.connectors.product import Product

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Credentials do not expire; the sealed set still needs an expiry field.
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)
_KIND = "intacct_login"


class IntacctLoginRefused(LoginRefused):
    """Intacct refused the company/user/password (or the sender): nothing was saved."""


class IntacctCurrencyUnknown(ConfigurationError):
    """Intacct cannot tell the login's base currency and the tenant has not set `business_currency`:
    nothing was saved (a silent default would skip every invoice in the real currency)."""


@dataclass(frozen=True)
class IntacctConnection:
    """What the admin API shows of a tenant's Intacct connection (never the password)."""

    tenant_id: str
    company_id: str
    user_id: str
    entity_id: str | None
    status: str
    connected_at: datetime | None = None


def _seal_payload(company_id: str, user_id: str, user_password: str, entity_id: str | None) -> TokenSet:
    login = json.dumps({"company_id": company_id, "user_id": user_id, "user_password": user_password,
                        "entity_id": entity_id})
    return TokenSet(access_token=SecretStr(login), refresh_token=SecretStr(""), expires_at=_NEVER,
                    token_type=_KIND)


@dataclass
class SageIntacct:
    settings: Settings
    product_settings: SageIntacctSettings  # SAGE_INTACCT_ENDPOINT (connectors/sage_intacct/settings.py)
    store: Store
    cipher: TokenCipher
    http: httpx.Client
    sender: SageIntacctSecrets  # the integration's Web Services sender (the settings secret)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep
    sessions: SessionCache = field(default_factory=SessionCache)
    client_options: dict[str, Any] = field(default_factory=dict)
    _opened: dict[str, tuple[int, IntacctCredentials]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    provider = PROVIDER
    how_to_connect = ("Sage Intacct tenants connect with their company and user credentials, "
                      "not a connect link: POST /admin/tenants/{id}/login-connection")

    # ---- credentials

    def _credentials(self, company_id: str, user_id: str, user_password: str,
                     entity_id: str | None) -> IntacctCredentials:
        return IntacctCredentials(
            sender_id=self.sender.sender_id,
            sender_password=self.sender.sender_password.get_secret_value(),
            company_id=company_id, user_id=user_id, user_password=user_password, entity_id=entity_id or None,
        )

    def _client(self, credentials: IntacctCredentials) -> IntacctClient:
        return IntacctClient(self.http, credentials, endpoint=self.product_settings.endpoint,
                             sessions=self.sessions, sleep=self.sleep, **self.client_options)

    def find(self, tenant_id: str) -> ConnectionRecord | None:
        return self.store.connections.find(tenant_id, PROVIDER)

    def is_connected(self, tenant_id: str) -> bool:
        record = self.find(tenant_id)
        return record is not None and record.status == ConnectionStatus.CONNECTED

    def credentials(self, tenant_id: str) -> IntacctCredentials:
        """The tenant's login, opened once per connection version. NotConnected if there is none."""
        record = self.find(tenant_id)
        if record is None or record.status != ConnectionStatus.CONNECTED:
            raise NotConnected(f"tenant {tenant_id} has no live Sage Intacct connection")
        with self._lock:
            cached = self._opened.get(tenant_id)
        if cached and cached[0] == record.version:
            return cached[1]
        tokens = self.cipher.open(unpack(record.ciphertext), tenant_id=tenant_id, provider=PROVIDER)
        login = json.loads(tokens.access_token.get_secret_value())
        credentials = self._credentials(login["company_id"], login["user_id"], login["user_password"],
                                        login.get("entity_id"))
        with self._lock:
            self._opened[tenant_id] = (record.version, credentials)
        return credentials

    # ---- connect / disconnect

    def connect(self, tenant_id: str, company_id: str, user_id: str, user_password: str,
                entity_id: str | None = None) -> IntacctConnection:
        """Verify the login with getAPISession, then save it sealed. IntacctLoginRefused (with
        Intacct's reason, never the password) when Intacct says no; nothing is saved then."""
        company_id, user_id, entity_id = company_id.strip(), user_id.strip(), (entity_id or "").strip() or None
        if not company_id or not user_id or not user_password:
            raise IntacctLoginRefused("company id, user id and password are all required")
        credentials = self._credentials(company_id, user_id, user_password, entity_id)
        try:
            self._client(credentials).login()
        except AuthError as exc:
            raise IntacctLoginRefused(f"Sage Intacct was not connected: {exc.message}",
                                      data_code=exc.data_code) from None
        self._require_base_currency(tenant_id, credentials)
        sealed = pack(self.cipher.seal(_seal_payload(company_id, user_id, user_password, entity_id),
                                       tenant_id=tenant_id, provider=PROVIDER))
        now = self.clock()
        record = ConnectionRecord(tenant_id=tenant_id, provider=PROVIDER, ciphertext=sealed,
                                  status=ConnectionStatus.CONNECTED, business_id=company_id,
                                  business_name=entity_id or company_id, last_refreshed_at=now)
        # Separate entities of one company are separate books.
        self.store.save_login_connection(record, what="Sage Intacct",
                                         same_books=lambda other: other.business_name == record.business_name)
        with self._lock:
            self._opened.pop(tenant_id, None)
        logger.info("sage_connected", extra={"tenant_id": tenant_id, "provider": PROVIDER, "company_id": company_id})
        return IntacctConnection(tenant_id, company_id, user_id, entity_id, ConnectionStatus.CONNECTED.value, now)

    def _require_base_currency(self, tenant_id: str, credentials: IntacctCredentials) -> None:
        """Refuse a login whose base currency Intacct cannot tell, unless the tenant has set it:
        every check of a document's currency depends on it, and a guess would skip (or post) every
        invoice in the wrong currency."""
        tenant = self.store.tenants.find(tenant_id)
        if tenant is not None and (tenant.settings or {}).get("business_currency"):
            return
        code, why = IntacctConnector(self._client(credentials)).read_base_currency()
        if code is not None:
            return
        logger.warning("intacct_currency_unknown", extra={"tenant_id": tenant_id, "why": why})
        raise IntacctCurrencyUnknown(
            f"Sage Intacct was not connected: {why}, so Sage Bridge cannot tell which currency the books "
            f"are kept in. Set the tenant setting business_currency (e.g. `sagebridge tenants set {tenant_id} "
            "business_currency=USD`) or connect with a login scoped to one entity (entity_id), then "
            "connect again.")

    def disconnect(self, tenant_id: str) -> bool:
        """Forget the login (Intacct has nothing to revoke). True if there was one."""
        record = self.find(tenant_id)
        if record is None:
            return False
        self.store.connections.delete(tenant_id, PROVIDER)
        with self._lock:
            self._opened.pop(tenant_id, None)
        logger.info("sage_disconnected", extra={"tenant_id": tenant_id, "provider": PROVIDER})
        return True

    def connection(self, tenant_id: str) -> IntacctConnection | None:
        record = self.find(tenant_id)
        if record is None:
            return None
        try:
            credentials = self.credentials(tenant_id)
            user_id, entity = credentials.user_id, credentials.entity_id
        except (NotConnected, SageError):
            user_id, entity = "", None
        return IntacctConnection(tenant_id, record.business_id or "", user_id, entity, record.status.value,
                                 record.last_refreshed_at)

    # ---- per tenant

    def client_for(self, tenant_id: str) -> IntacctClient:
        return self._client(self.credentials(tenant_id))

    def connector_for(self, tenant_id: str, settings: TenantSettings | None = None) -> IntacctConnector:
        # The tenant's posting options (dimensions, location field) reach Intacct through the
        # connector's mapper, which the export engine gives the tenant's settings.
        return IntacctConnector(self.client_for(tenant_id), settings)

    def feed_for(self, tenant_id: str, settings: TenantSettings | None = None) -> IntacctFeed:
        return IntacctFeed(self.connector_for(tenant_id, settings))

    # ---- the Product protocol (connectors/product.py); connector_for, is_connected and disconnect above

    @property
    def connects_by(self) -> SageIntacct:
        """A login typed in (`connect_login`); Intacct has no OAuth sign-in."""
        return self

    @property
    def secret_keys(self) -> SecretKeys:
        return SECRET_KEYS

    @property
    def limits(self) -> Limits:
        """No pacing configured for Intacct: its throttling answers (GW-0010, 429) are honoured by
        the client instead."""
        return Limits(None)

    def connect_login(self, tenant_id: str, login: Login) -> None:
        self.connect(tenant_id, login.company_id, login.user_id, login.password.get_secret_value(), login.entity_id)

    def connection_lost(self, tenant_id: str, error: AuthError) -> bool:
        """Intacct refused the login: the tenant must connect again (nothing to mark; a login does
        not expire, so the next poll asks Intacct again)."""
        return True

    def keep_alive(self, tenant_ids: Sequence[str]) -> None:
        """Nothing to keep alive: a login does not expire."""
        return None


def build_sage_intacct(
    settings: Settings,
    *,
    store: Store | None = None,
    clients: AwsClients | None = None,
    http: httpx.Client | None = None,
    secrets: IntegrationSecrets | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    product_settings: SageIntacctSettings | None = None,
    **client_options: Any,
) -> SageIntacct:
    clients, store, secrets = container_defaults(settings, clients=clients, store=store, secrets=secrets, clock=clock)
    # Validated now, before anything is built: a bad variable or a missing key is named here.
    product_settings = product_settings or settings.for_product(SageIntacctSettings)
    sender = secrets.for_product(SageIntacctSecrets)
    return SageIntacct(settings=settings, product_settings=product_settings, store=store,
                       cipher=TokenCipher(clients.kms, settings.token_key_id),
                       http=http or default_http_client(DEFAULT_TIMEOUT),
                       sender=sender, clock=clock, sleep=sleep, client_options=client_options)


_default: SageIntacct | None = None
_default_lock = threading.Lock()


def default_intacct() -> SageIntacct:
    """The container's SageIntacct, built on first use from the environment."""
    global _default
    with _default_lock:
        if _default is None:
            _default = build_sage_intacct(get_settings())
        return _default


def connect_intacct(tenant_id: str, company_id: str, user_id: str, user_password: str,
                    entity_id: str | None = None, *, intacct: SageIntacct | None = None) -> IntacctConnection:
    """For the admin API and the CLI: verify the tenant's Intacct login, then save it encrypted."""
    return (intacct or default_intacct()).connect(tenant_id, company_id, user_id, user_password, entity_id)


if TYPE_CHECKING:  # mypy holds the wiring to the Product protocol
    _product: type[Product] = SageIntacct

__all__ = [
    "SECRET_KEYS",
    "IntacctConnection",
    "IntacctLoginRefused",
    "SageIntacct",
    "build_sage_intacct",
    "connect_intacct",
    "default_intacct",
]
