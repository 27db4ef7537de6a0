"""The real system, wired once per test module for the model: the webhooks function (its own
handler module, fed HTTP API v2 events signed as the host signs them), the export worker
(`handle_export_job`), the payment poller (`poll_product_tenant`), the Sage Accounting sandbox in
process and DynamoDB Local. Each hypothesis example gets a `Tenant` of its own (fresh tenant id and
a fresh sandbox business) on the shared tables, so no table is created per example.

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
from sagebridge.connectors.sage_accounting.product import SageAccounting, build_sage_accounting
from sagebridge.domain import TenantSettings
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
from sagebridge.sync.scheduling import LeaseHeld, WorkerDeps, handle_export_job
from sagebridge.sync.tenant_polls import PollerReport, TenantPoll, poll_each, poll_product_tenant

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

    @property
    def clock(self) -> SandboxClock:
        return self.sandbox.clock

    def new_tenant(self, **settings: Any) -> Tenant:
        n = next(_numbers)
        tenant_id = f"model-{n}"
        business = self.sandbox.add_business(f"Model Business {n}")
        tenant = Tenant(self, tenant_id, business.id)
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

    def create(self, **settings: Any) -> None:
        self.store.tenants.create(self.tenant_id, {**self.base_settings(), **settings})

    def settings(self) -> TenantSettings:
        return TenantSettings.model_validate(self.store.tenants.get(self.tenant_id).settings)

    def connect(self) -> None:
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

    def disable(self) -> None:
        """At the end of an example: out of every later scan."""
        try:
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
    system = System(sandbox, sage, store, webhooks, jobs, LambdaContext("WebhooksFunction", 512, 30))

    def close() -> None:
        http.close()
        transport.close()

    return Wiring(system, close)


def now_iso(clock: SandboxClock) -> str:
    return clock.now().astimezone(UTC).isoformat().replace("+00:00", "Z")


def as_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iter_sent(outbox: InMemoryOutbox) -> Iterator[dict[str, Any]]:
    yield from (m["event"] for m in outbox.sent)
