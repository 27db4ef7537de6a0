"""The real system, wired once per test module for the model: the webhooks function (its own
handler module, fed HTTP API v2 events signed as the host signs them), the export worker
(`handle_export_job`), the payment poller (`poll_product_tenant`), the Sage Accounting sandbox in
process and DynamoDB Local. Each hypothesis example gets a `Tenant` of its own (fresh tenant id and
a fresh sandbox business) on the shared tables, so no table is created per example.

A tenant on another product (Sage Intacct, Sage 200) gets a sandbox and a product of its own, built
from the conformance suite's row of that product (tests/conformance/products.py: its sandbox, its
tenant settings, how it connects, how the accountant reads what Sage holds); the webhooks function,
the tables and the clock stay the shared ones.

This file may use Sage Bridge freely; the reference model (reference.py) may not.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from pydantic import SecretStr

from local.runtime import LambdaContext
from local.sandboxes.host_app import http_api_event
from local.sandboxes.host_app.outbox import InMemoryOutbox
from local.sandboxes.host_app.sender import encode
from local.sandboxes.sage_accounting import (
    API_BASE_URL,
    AUTHORIZE_URL,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    REVOKE_URL,
    TOKEN_URL,
    SageAccountingSandbox,
    SandboxClock,
)
from sagebridge.connectors.base import LinkConnect, LoginConnect
from sagebridge.connectors.registry import product_builder
from sagebridge.connectors.sage_accounting.product import SageAccounting, build_sage_accounting
from sagebridge.domain import TenantSettings
from sagebridge.domain.settings import Provider
from sagebridge.host.jobs import DocumentRef, ExportJob, ExportTrigger
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.host.webhooks import WebhookDeps
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.security.signing import SIGNATURE_HEADER, sign
from sagebridge.security.tokens import TokenSet
from sagebridge.settings import load_settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.store import Store
from sagebridge.store.table import Table
from sagebridge.sync.export import ExportResult
from sagebridge.sync.products import SageProducts
from sagebridge.sync.scheduling import LeaseHeld, WorkerDeps, handle_export_job
from sagebridge.sync.tenant_polls import PollerReport, TenantPoll, poll_each, poll_product_tenant
from tests.conformance.products import ENVIRONMENT, PRODUCTS, SECRETS, ProductRow

# Where functions/ is read from; SAGEBRIDGE_MODEL_CODE_ROOT runs the machine against another checkout
# (with PYTHONPATH pointing at its layers/shared and root), e.g. to show a defect on older code.
ROOT = Path(os.environ.get("SAGEBRIDGE_MODEL_CODE_ROOT") or Path(__file__).resolve().parents[2])
SECRET = "whsec_model_suite_secret_value_00001"
START = "2025-03-03T09:00:00+00:00"
CALLBACK_URL = "http://host.test/callback"
_numbers = itertools.count(1)


def load_webhooks_module() -> ModuleType:
    """functions/webhooks/app.py under a name of its own, so its cached dependencies are ours."""
    name = "_model_webhooks_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / "webhooks" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Secrets:
    """Every model tenant signs with SECRET (the secrets lookup is not what the model explores)."""

    def for_tenant(self, tenant_id: str) -> list[str]:
        return [SECRET]


@dataclass
class JobQueue:
    """EXPORT_QUEUE_URL: what the webhooks function asked the export worker to do."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.sent.append(body)
        return str(len(self.sent))

    def take(self, tenant_id: str) -> list[dict[str, Any]]:
        mine = [b for b in self.sent if b["tenant_id"] == tenant_id]
        self.sent = [b for b in self.sent if b["tenant_id"] != tenant_id]
        return mine


class WorkerKilled(Exception):
    """The export worker's Lambda died between Sage's answer and the ledger commit."""


@dataclass
class KillSwitch:
    """ExportHooks: armed, the next Sage write is followed by the worker dying."""

    armed: int = 0
    killed: list[tuple[str, str]] = field(default_factory=list)

    def after_sage_call(self, kind: str, host_id: str, remote: Any) -> None:
        if self.armed:
            self.armed -= 1
            self.killed.append((kind, host_id))
            raise WorkerKilled(f"{kind}/{host_id}")


@dataclass
class Reply:
    status: int
    body: dict[str, Any]


@dataclass
class System:
    sandbox: SageAccountingSandbox
    sage: SageAccounting
    store: Store
    webhooks: ModuleType
    jobs: JobQueue
    context: LambdaContext
    build_product: Callable[[Provider, Any], SageProducts] | None = None

    @property
    def clock(self) -> SandboxClock:
        return self.sandbox.clock

    def new_tenant(self, provider: str = "sage_accounting", **settings: Any) -> Tenant:
        n = next(_numbers)
        tenant_id = f"model-{n}"
        if provider == "sage_accounting":
            business = self.sandbox.add_business(f"Model Business {n}")
            tenant = Tenant(self, tenant_id, business.id)
        else:
            # One Sage company holds one tenant: a fresh sandbox (and the product over it) per example.
            assert self.build_product is not None
            row = PRODUCTS[Provider(provider)]
            box = row.sandbox(self.clock)
            tenant = Tenant(self, tenant_id, "", row=row, box=box,
                            products=self.build_product(row.provider, box))
        tenant.create(**settings)
        return tenant


@dataclass
class Tenant:
    """One example's tenant: its Sage business, its host deliveries and what the worker did."""

    system: System
    tenant_id: str
    business_id: str
    outbox: InMemoryOutbox = field(default_factory=InMemoryOutbox)
    notifications: list[Any] = field(default_factory=list)
    kill: KillSwitch = field(default_factory=KillSwitch)
    results: list[ExportResult] = field(default_factory=list)
    connected: bool = False
    # Another product than Sage Accounting: its conformance row, its sandbox and the product over it.
    row: ProductRow | None = None
    box: Any = None
    products: SageProducts | None = None

    @property
    def provider(self) -> str:
        return self.row.provider.value if self.row is not None else "sage_accounting"

    @property
    def sandbox(self) -> Any:
        """The sandbox this tenant's Sage lives in (faults, chaos, the accountant)."""
        return self.box if self.box is not None else self.system.sandbox

    @property
    def ids(self) -> dict[str, str]:
        return self.system.sandbox.seed_ids[self.business_id]

    @property
    def store(self) -> Store:
        return self.system.store

    @property
    def accountant(self) -> Any:
        return self.system.sandbox.accountant(self.business_id)

    def base_settings(self) -> dict[str, Any]:
        ids = self.ids
        return TenantSettings(
            provider="sage_accounting",
            tax_mappings={"S": "GB_STANDARD", "R": "GB_LOWER", "Z": "GB_ZERO"},
            ledger_mappings={"SALES": ids["4000"], "SERVICES": ids["4010"], "PARTS": ids["5000"],
                             "FUEL": ids["7200"]},
            default_sales_ledger_account_id=ids["4000"], default_purchase_ledger_account_id=ids["5000"],
            receipt_bank_account_id=ids["bank"], host_callback_url=CALLBACK_URL, retry_limit=3,
        ).model_dump(mode="json")

    def product_settings(self) -> dict[str, Any]:
        """The conformance row's tenant settings; the model's extra codes on the same accounts."""
        assert self.row is not None
        base = self.row.settings(self.box)
        ledgers = dict(base["ledger_mappings"])
        ledgers.setdefault("SERVICES", ledgers["SALES"])
        ledgers.setdefault("FUEL", ledgers["PARTS"])
        return TenantSettings.model_validate({
            **base, "provider": self.provider, "ledger_mappings": ledgers, "host_callback_url": CALLBACK_URL,
            "retry_limit": 3}).model_dump(mode="json")

    def create(self, **settings: Any) -> None:
        base = self.base_settings() if self.row is None else self.product_settings()
        self.store.tenants.create(self.tenant_id, {**base, **settings})

    def settings(self) -> TenantSettings:
        return TenantSettings.model_validate(self.store.tenants.get(self.tenant_id).settings)

    def connect(self) -> None:
        if self.products is not None:
            return self._connect_product()
        sandbox = self.system.sandbox
        now = sandbox.clock.now()
        body = sandbox.issue_tokens([self.business_id])
        tokens = TokenSet(
            access_token=SecretStr(body["access_token"]), refresh_token=SecretStr(body["refresh_token"]),
            expires_at=now + timedelta(seconds=body["expires_in"]),
            refresh_expires_at=now + timedelta(seconds=body["refresh_token_expires_in"]),
        )
        self.system.sage.service.store_new_connection(self.tenant_id, tokens, business_id=self.business_id,
                                                      business_name="Model")
        self.connected = True

    def _connect_product(self) -> None:
        """The way the product says a tenant connects (as the conformance suite does): a login, or
        Sage's own sign-in (the link, the consent page, the callback, the first business offered)."""
        assert self.products is not None and self.row is not None
        how = self.products.product(self.row.provider).connects_by
        if isinstance(how, LoginConnect):
            assert self.row.login is not None
            how.connect_login(self.tenant_id, self.row.login)
        else:
            assert isinstance(how, LinkConnect)
            self.box.auto_approve = True
            link = how.connect_link(PUBLIC_API_URL, self.tenant_id)
            started = how.start(self.tenant_id, _query(link), redirect_uri=OAUTH_CALLBACK)  # type: ignore[attr-defined]
            with httpx.Client(transport=self.box.sync_transport(), timeout=10) as http:
                consent = http.get(started.location)
            cookie = started.browser_nonce  # the browser's connect cookie, sent back to the callback
            done = how.callback(_query(consent.headers["location"]), callback_url=OAUTH_CALLBACK, browser=cookie)  # type: ignore[attr-defined]
            if done.kind == "choose_business":
                done = how.callback(_query(done.choices[0][1]), callback_url=OAUTH_CALLBACK, browser=cookie)  # type: ignore[attr-defined]
            assert done.kind == "success", done.message
        self.connected = True

    def disable(self) -> None:
        """At the end of an example: out of every later scan (and off its Sage company, which the
        next example's tenant connects to: one company holds one tenant)."""
        try:
            if self.products is not None and self.row is not None and self.connected:
                self.products.disconnect(self.tenant_id, self.row.provider)
            self.store.tenants.set_enabled(self.tenant_id, False)
        except Exception:
            pass

    # -- the host app -------------------------------------------------------------------------------

    def send(self, event: dict[str, Any], *, raw: bytes | None = None) -> Reply:
        """POST /webhooks/{tenant} through the webhooks function's own handler, signed."""
        body = raw if raw is not None else encode(event)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, SECRET)}
        reply = self.system.webhooks.lambda_handler(http_api_event(self.tenant_id, body, headers),
                                                    self.system.context)
        return Reply(int(reply["statusCode"]), json.loads(reply.get("body") or "{}"))

    def delivered(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """What Sage Bridge queued for the host app (each event id once), the event bodies."""
        got = [m["event"] for m in self.outbox.sent]
        return [e for e in got if event_type is None or e["type"] == event_type]

    # -- the export worker --------------------------------------------------------------------------

    def _deps(self) -> WorkerDeps:
        outbox = DeliveryOutbox(self.outbox.queue, self.outbox.deliveries)  # type: ignore[arg-type]
        if self.products is not None:
            return WorkerDeps(store=self.store, connector_for=self.products.connector_for, outbox=outbox,
                              business_currency_for=self.products.business_currency_for,
                              notify=self.notifications.append, hooks=self.kill)
        sage = self.system.sage
        return WorkerDeps(
            store=self.store, connector_for=lambda tenant_id, _settings: sage.connector_for(tenant_id),
            outbox=DeliveryOutbox(self.outbox.queue, self.outbox.deliveries),  # type: ignore[arg-type]
            notify=self.notifications.append, hooks=self.kill,
        )

    def run_job(self, job: ExportJob) -> ExportResult | None:
        """One export job as the worker runs it. A killed worker leaves its claim behind: the clock
        moves past the claim timeout, as the next invocation would find it."""
        self.system.clock.advance(seconds=1)
        try:
            result = handle_export_job(job, self._deps())
        except WorkerKilled:
            self.system.clock.advance(minutes=16)
            return None
        except LeaseHeld:
            return None
        if result is not None:
            self.results.append(result)
        return result

    def run_trigger_jobs(self) -> list[ExportResult | None]:
        return [self.run_job(ExportJob.model_validate(body)) for body in self.system.jobs.take(self.tenant_id)]

    def scheduled_run(self, *, interval_minutes: int = 15) -> ExportResult | None:
        """The scheduler's job for this tenant (as schedule_exports builds it), once it is due."""
        self.system.clock.advance(minutes=interval_minutes)
        slot = self.system.clock.now().astimezone(UTC).isoformat(timespec="seconds")
        return self.run_job(ExportJob(tenant_id=self.tenant_id, trigger=ExportTrigger.SCHEDULE,
                                      scheduled_for=slot, event_id=f"schedule:{slot}"))

    def replay(self, refs: list[tuple[str, str]]) -> ExportResult | None:
        return self.run_job(ExportJob(tenant_id=self.tenant_id, trigger=ExportTrigger.REPLAY,
                                      documents=[DocumentRef(kind=k, host_id=h) for k, h in refs],
                                      requested_by="model replay"))

    # -- the payment poller -------------------------------------------------------------------------

    def poll(self) -> TenantPoll:
        """One poll of this tenant as the poller runs it: a tenant's failure (Sage down, a 429
        storm) is recorded as `failed` and retried on the next poll."""
        system = self.system
        outbox = DeliveryOutbox(self.outbox.queue, self.outbox.deliveries)  # type: ignore[arg-type]
        if self.products is not None:
            products = self.products
            report = poll_each(PollerReport(), [(self.tenant_id, self.settings())],
                               lambda tenant_id, settings: products.poll_tenant(tenant_id, outbox),
                               is_connected=lambda tenant_id: products.is_connected(tenant_id, self.settings()))
            return report.tenants[0]
        report = poll_each(
            PollerReport(), [(self.tenant_id, self.settings())],
            lambda tenant_id, settings: poll_product_tenant(system.sage, tenant_id, settings, store=system.sage.store,
                                                            outbox=outbox, clock=system.clock.now),
            is_connected=system.sage.service.is_connected)
        return report.tenants[0]


@dataclass
class Wiring:
    """What the module fixture keeps open."""

    system: System
    close: Callable[[], None]


def build_system(*, dynamodb_client: Any, kms: Any, key_id: str, app_table: str, idempotency_table: str) -> Wiring:
    sandbox = SageAccountingSandbox(clock=SandboxClock.frozen_at(START), businesses=())
    settings = load_settings({
        "TABLE_NAME": app_table, "IDEMPOTENCY_TABLE_NAME": idempotency_table, "TOKEN_KEY_ID": key_id,
        "EXPORT_QUEUE_URL": "q", "DELIVERY_QUEUE_URL": "q", "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-2:1:t",
        "PAYMENT_POLL_QUEUE_URL": "q", "SETTINGS_SECRET_NAME": "sagebridge/settings",
        "SAGE_ACCOUNTING_API_URL": API_BASE_URL, "SAGE_ACCOUNTING_AUTH_URL": AUTHORIZE_URL,
        "SAGE_ACCOUNTING_TOKEN_URL": TOKEN_URL, "SAGE_ACCOUNTING_REVOKE_URL": REVOKE_URL,
    })
    secrets = IntegrationSecrets(sage_accounting_client_id=DEFAULT_CLIENT_ID,
                                 sage_accounting_client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
                                 state_signing_key=SecretStr("k" * 64))
    transport = sandbox.sync_transport()
    http = httpx.Client(transport=transport, base_url="http://sage-accounting.local")
    store = Store(app_table, dynamodb_client, clock=sandbox.clock.now)
    sage = build_sage_accounting(settings, store=store, clients=AwsClients(dynamodb=dynamodb_client, kms=kms),
                                 http=http, secrets=secrets, clock=sandbox.clock.now, sleep=lambda s: None,
                                 notify=lambda summary: None)
    jobs = JobQueue()
    webhooks = load_webhooks_module()
    deps = WebhookDeps(
        table=Table(app_table, dynamodb_client), export_queue=jobs, secrets=_Secrets(),  # type: ignore[arg-type]
        idempotency_store=DynamoDBPersistenceLayer(table_name=idempotency_table, boto3_client=dynamodb_client),
    )
    webhooks.dependencies = lambda: deps  # the handler's wiring, with our queue and secrets
    clients = AwsClients(dynamodb=dynamodb_client, kms=kms)
    product_settings = load_settings({
        "TABLE_NAME": app_table, "IDEMPOTENCY_TABLE_NAME": idempotency_table, "TOKEN_KEY_ID": key_id,
        "EXPORT_QUEUE_URL": "q", "DELIVERY_QUEUE_URL": "q", "PAYMENT_POLL_QUEUE_URL": "q",
        "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-2:1:t", "SETTINGS_SECRET_NAME": "sagebridge/settings",
        "PUBLIC_API_URL": PUBLIC_API_URL, **ENVIRONMENT})
    product_secrets = IntegrationSecrets(state_signing_key=SecretStr("k" * 64), **SECRETS)  # type: ignore[arg-type]
    opened: list[Any] = []

    def build_product(provider: Provider, box: Any) -> SageProducts:
        """The product over one example's sandbox, as the conformance suite builds it (its registry
        line); its waits move the shared clock."""
        box_transport = box.sync_transport()
        box_http = httpx.Client(transport=box_transport, timeout=10)
        opened.extend((box_http, box_transport))
        product = product_builder(provider)(product_settings, store=store, clients=clients, http=box_http,
                                            secrets=product_secrets, clock=sandbox.clock.now,
                                            sleep=lambda s: sandbox.clock.advance(seconds=s))
        products = SageProducts(product_settings, clients=clients, store=store, secrets=product_secrets,
                                built={provider: product})
        products.outbox = None
        return products

    system = System(sandbox, sage, store, webhooks, jobs, LambdaContext("WebhooksFunction", 512, 30),
                    build_product=build_product)

    def close() -> None:
        for item in opened:
            item.close()
        http.close()
        transport.close()

    return Wiring(system, close)


PUBLIC_API_URL = "https://bridge.example"
OAUTH_CALLBACK = f"{PUBLIC_API_URL}/oauth/callback"


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def now_iso(clock: SandboxClock) -> str:
    return clock.now().astimezone(UTC).isoformat().replace("+00:00", "Z")


def as_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iter_sent(outbox: InMemoryOutbox) -> Iterator[dict[str, Any]]:
    yield from (m["event"] for m in outbox.sent)
