"""Payment poller fixtures: the Sage Accounting sandbox in process (its clock is everyone's clock),
DynamoDB Local through the store, KMS from moto, tenants connected to the sandbox, the export
engine to put invoices in Sage, and the host app sandbox at the end of the real delivery path
(enqueue_delivery -> captured queue messages -> host.delivery.deliver -> signed POST)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws
from pydantic import SecretStr

from local.sandboxes.host_app import DEMO_SECRET, HostApp, create_app
from local.sandboxes.sage_accounting import (
    API_BASE_URL,
    AUTHORIZE_URL,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    REVOKE_URL,
    TOKEN_URL,
    SageAccountingSandbox,
    SandboxClock,
    SyncASGITransport,
)
from sagebridge.connectors.sage_accounting.product import SageAccounting, build_sage_accounting
from sagebridge.domain import TenantSettings
from sagebridge.domain.settings import Provider
from sagebridge.host.delivery import DeliveryDeps, deliver
from sagebridge.host.outbound import DeliveryMessage, DeliveryOutbox
from sagebridge.observability import logger
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.security.tokens import TokenSet
from sagebridge.settings import load_settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.store import Store
from sagebridge.sync.export import ExportEngine, ExportRequest, ExportResult
from sagebridge.sync.tenant_polls import PollerReport, poll_all_tenants
from tests.integration.export.conftest import Host

logger.setLevel("WARNING")  # one INFO line per Sage request drowns the test output

TENANT = "acme"
START = "2025-03-03T09:00:00+00:00"
CALLBACK_URL = "http://host.test/callback"


class CapturingQueue:
    """The delivery queue: keeps what was sent (SQS would), can be made to fail."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.fail_next = 0

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("SQS is having a bad day")
        self.messages.append(body)
        return f"m{len(self.messages)}"


class _Secrets:
    def for_tenant(self, tenant_id: str) -> list[str]:
        return [DEMO_SECRET]


class _Visibility:
    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        pass


@dataclass
class World:
    sandbox: SageAccountingSandbox
    sage: SageAccounting
    store: Store
    queue: CapturingQueue
    host_app: HostApp
    delivery: DeliveryDeps
    delivered_upto: int = 0
    reports: list[PollerReport] = field(default_factory=list)

    @property
    def clock(self) -> SandboxClock:
        return self.sandbox.clock

    @property
    def outbox(self) -> DeliveryOutbox:
        return DeliveryOutbox(self.queue, self.store.deliveries)

    def add_tenant(self, tenant_id: str, business_id: str | None = None, **settings: Any) -> None:
        ids = self.sandbox.seed_ids[business_id or self.sandbox.lead_business_id]
        base = TenantSettings(
            provider="sage_accounting",
            tax_mappings={"S": "GB_STANDARD", "R": "GB_LOWER", "Z": "GB_ZERO"},
            ledger_mappings={"SALES": ids["4000"]},
            default_sales_ledger_account_id=ids["4000"], default_purchase_ledger_account_id=ids["5000"],
            receipt_bank_account_id=ids["bank"], host_callback_url=CALLBACK_URL,
        )
        data = base.model_copy(update=settings).model_dump(mode="json")
        self.store.tenants.create(tenant_id, data)
        self.connect(tenant_id, business_id)

    def settings_of(self, tenant_id: str = TENANT) -> TenantSettings:
        return TenantSettings.model_validate(self.store.tenants.get(tenant_id).settings)

    def connect(self, tenant_id: str, business_id: str | None = None) -> None:
        business_id = business_id or self.sandbox.lead_business_id
        now = self.clock.now()
        body = self.sandbox.issue_tokens([business_id])
        tokens = TokenSet(
            access_token=SecretStr(body["access_token"]), refresh_token=SecretStr(body["refresh_token"]),
            expires_at=now + timedelta(seconds=body["expires_in"]),
            refresh_expires_at=now + timedelta(seconds=body["refresh_token_expires_in"]),
        )
        self.sage.service.store_new_connection(tenant_id, tokens, business_id=business_id, business_name="Biz")

    def export(self, tenant_id: str = TENANT, **request: Any) -> ExportResult:
        engine = ExportEngine(store=self.store, connector=self.sage.connector_for(tenant_id),
                              settings=self.settings_of(tenant_id))
        result = engine.run(ExportRequest(tenant_id=tenant_id, **request))
        assert result.counts["failed"] == 0 and result.counts["skipped"] == 0, result.failures
        return result

    def poll(self, *, advance_minutes: float = 0) -> PollerReport:
        if advance_minutes:
            self.clock.advance(minutes=advance_minutes)
        report = poll_all_tenants(self.sage, Provider.SAGE_ACCOUNTING, store=self.sage.store, outbox=self.outbox,
                                  clock=self.clock.now)
        self.reports.append(report)
        return report

    def deliver_all(self, *, copies: int = 2) -> None:
        """Every message queued since the last call, each `copies` times (SQS delivers at least once)."""
        fresh = self.queue.messages[self.delivered_upto:]
        self.delivered_upto = len(self.queue.messages)
        for body in fresh:
            for n in range(copies):
                deliver(DeliveryMessage.model_validate(body), receive_count=n + 1, receipt_handle="r",
                        deps=self.delivery)

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        """What the host app accepted, in order."""
        got = [r.event for r in self.host_app.delivered() if r.event]
        return [e for e in got if type_ is None or e["type"] == type_]


@pytest.fixture
def kms() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("kms", region_name="eu-west-2")
        yield client, client.create_key()["KeyMetadata"]["KeyId"]


@pytest.fixture
def world(app_table: str, dynamodb_client: Any, kms: tuple[Any, str]) -> Iterator[World]:
    sandbox = SageAccountingSandbox(clock=SandboxClock.frozen_at(START))
    settings = load_settings({
        "TABLE_NAME": app_table, "IDEMPOTENCY_TABLE_NAME": "idem", "TOKEN_KEY_ID": kms[1],
        "EXPORT_QUEUE_URL": "q", "DELIVERY_QUEUE_URL": "q", "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-2:1:t",
        "PAYMENT_POLL_QUEUE_URL": "q",
        "SETTINGS_SECRET_NAME": "sagebridge/settings", "SAGE_ACCOUNTING_API_URL": API_BASE_URL,
        "SAGE_ACCOUNTING_AUTH_URL": AUTHORIZE_URL, "SAGE_ACCOUNTING_TOKEN_URL": TOKEN_URL,
        "SAGE_ACCOUNTING_REVOKE_URL": REVOKE_URL,
    })
    secrets = IntegrationSecrets(sage_accounting_client_id=DEFAULT_CLIENT_ID,
                                 sage_accounting_client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
                                 state_signing_key=SecretStr("k" * 64))
    sage_transport = sandbox.sync_transport()
    http = httpx.Client(transport=sage_transport, base_url="http://sage-accounting.local")
    store = Store(app_table, dynamodb_client, clock=sandbox.clock.now)
    sage = build_sage_accounting(settings, store=store, clients=AwsClients(dynamodb=dynamodb_client, kms=kms[0]),
                                 http=http, secrets=secrets, clock=sandbox.clock.now, sleep=lambda s: None,
                                 notify=lambda summary: None)
    host_app = HostApp()
    host_transport = SyncASGITransport(create_app(host_app))
    host_http = httpx.Client(transport=host_transport)
    delivery = DeliveryDeps(tenants=store.tenants, deliveries=store.deliveries, secrets=_Secrets(),  # type: ignore[arg-type]
                            http=host_http, queue=_Visibility(), max_receive_count=5, jitter=lambda: 0.0)
    yield World(sandbox, sage, store, CapturingQueue(), host_app, delivery)
    http.close()
    host_http.close()
    sage_transport.close()
    host_transport.close()


@pytest.fixture
def host(world: World) -> Host:
    """Stages host records as the webhooks function would."""
    return Host(world.store, tenant=TENANT)
