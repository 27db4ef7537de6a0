"""Sage 200 fixtures: the Sage 200 sandbox in process (its clock is everyone's clock), DynamoDB Local
through the store, KMS from moto, the real wiring (`build_sage200`: token lifecycle, connect flow,
connector, payment feed), tenants with provider sage200, and helpers to stage host records and to
export and poll."""

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

from local.sandboxes.sage200 import (
    API_BASE_URL,
    AUTHORIZE_URL,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SUBSCRIPTION_KEY,
    TOKEN_URL,
    Sage200Sandbox,
    SandboxClock,
)
from sagebridge.connectors.sage200.product import Sage200, build_sage200
from sagebridge.domain import TenantSettings
from sagebridge.domain.settings import Provider
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.observability import logger
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.security.tokens import TokenSet
from sagebridge.settings import load_settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.notifications import FailureSummary
from sagebridge.store.store import Store
from sagebridge.sync.export import ExportEngine, ExportRequest, ExportResult
from sagebridge.sync.tenant_polls import PollerReport, poll_all_tenants
from tests.integration.export.conftest import Host

logger.setLevel("WARNING")  # one INFO line per Sage request drowns the test output

TENANT = "acme"
START = "2025-03-03T09:00:00+00:00"
PUBLIC_API_URL = "https://bridge.example"
SIGNING_KEY = "k" * 64


class CapturingQueue:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.messages.append(body)
        return f"m{len(self.messages)}"


@dataclass
class World:
    sandbox: Sage200Sandbox
    sage: Sage200
    store: Store
    queue: CapturingQueue
    notices: list[FailureSummary]
    http: httpx.Client
    reports: list[PollerReport] = field(default_factory=list)

    @property
    def clock(self) -> SandboxClock:
        return self.sandbox.clock

    @property
    def outbox(self) -> DeliveryOutbox:
        return DeliveryOutbox(self.queue, self.store.deliveries)

    def tenant_settings(self, **overrides: Any) -> TenantSettings:
        ids = self.sandbox.ids
        base = TenantSettings(
            provider="sage200",
            tax_mappings={"S": ids["T1"], "R": ids["T5"], "Z": ids["T0"], "E": ids["T2"]},
            ledger_mappings={"SALES": "4000", "PARTS": "4010", "FUEL": "4020", "NORTH": "4100/NTH/WKS"},
            default_sales_ledger_account_id="4000",
            receipt_bank_account_id=ids["bank"],
            host_callback_url="http://host.test/callback",
        )
        return base.model_copy(update=overrides)

    def add_tenant(self, tenant_id: str = TENANT, *, connect: bool = True, **settings: Any) -> None:
        self.store.tenants.create(tenant_id, self.tenant_settings(**settings).model_dump(mode="json"))
        if connect:
            self.connect(tenant_id)

    def settings_of(self, tenant_id: str = TENANT) -> TenantSettings:
        return TenantSettings.model_validate(self.store.tenants.get(tenant_id).settings)

    def connect(self, tenant_id: str = TENANT) -> None:
        """A completed consent, as the connect flow stores it (the flow itself: test_connect_demo)."""
        now = self.clock.now()
        body = self.sandbox.issue_tokens()
        tokens = TokenSet(access_token=SecretStr(body["access_token"]), refresh_token=SecretStr(body["refresh_token"]),
                          expires_at=now + timedelta(seconds=body["expires_in"]),
                          refresh_expires_at=now + timedelta(days=90))
        self.sage.service.store_new_connection(tenant_id, tokens, business_id=self.sandbox.business_id,
                                               business_name="Northwind (Sandbox site)")

    def export(self, tenant_id: str = TENANT, *, strict: bool = True, engine_options: dict[str, Any] | None = None,
               **request: Any) -> ExportResult:
        self.clock.advance(seconds=1)
        engine = ExportEngine(store=self.store, connector=self.sage.connector_for(tenant_id),
                              settings=self.settings_of(tenant_id), **(engine_options or {}))
        result = engine.run(ExportRequest(tenant_id=tenant_id, **request))
        if strict:
            assert result.counts["failed"] == 0 and result.counts["skipped"] == 0, result.failures
        return result

    def poll(self, *, advance_minutes: float = 0) -> PollerReport:
        if advance_minutes:
            self.clock.advance(minutes=advance_minutes)
        report = poll_all_tenants(self.sage, Provider.SAGE_200, store=self.sage.store, outbox=self.outbox,
                                  clock=self.clock.now)
        self.reports.append(report)
        return report

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        got = [m["event"] for m in self.queue.messages]
        return [e for e in got if type_ is None or e["type"] == type_]


@pytest.fixture
def kms() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("kms", region_name="eu-west-2")
        yield client, client.create_key()["KeyMetadata"]["KeyId"]


def sage200_settings(app_table: str, key_id: str) -> Any:
    return load_settings({
        "TABLE_NAME": app_table, "IDEMPOTENCY_TABLE_NAME": "idem", "TOKEN_KEY_ID": key_id,
        "EXPORT_QUEUE_URL": "q", "DELIVERY_QUEUE_URL": "q", "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-2:1:t",
        "PAYMENT_POLL_QUEUE_URL": "q",
        "SETTINGS_SECRET_NAME": "sagebridge/settings", "PUBLIC_API_URL": PUBLIC_API_URL,
        "SAGE200_API_URL": API_BASE_URL, "SAGE200_AUTH_URL": AUTHORIZE_URL, "SAGE200_TOKEN_URL": TOKEN_URL,
    })


def sage200_secrets() -> IntegrationSecrets:
    return IntegrationSecrets(sage200_client_id=DEFAULT_CLIENT_ID,
                              sage200_client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
                              sage200_subscription_key=SecretStr(DEFAULT_SUBSCRIPTION_KEY),
                              state_signing_key=SecretStr(SIGNING_KEY))


@pytest.fixture
def world(app_table: str, dynamodb_client: Any, kms: tuple[Any, str]) -> Iterator[World]:
    sandbox = Sage200Sandbox(clock=SandboxClock.frozen_at(START))
    transport = sandbox.sync_transport()
    http = httpx.Client(transport=transport)
    store = Store(app_table, dynamodb_client, clock=sandbox.clock.now)
    notices: list[FailureSummary] = []
    sage = build_sage200(sage200_settings(app_table, kms[1]), store=store,
                         clients=AwsClients(dynamodb=dynamodb_client, kms=kms[0]), http=http,
                         secrets=sage200_secrets(), clock=sandbox.clock.now,
                         sleep=lambda s: sandbox.clock.advance(seconds=s),  # a wait is time passing in Sage
                         notify=notices.append)
    yield World(sandbox, sage, store, CapturingQueue(), notices, http)
    http.close()
    transport.close()


@pytest.fixture
def host(world: World) -> Host:
    return Host(world.store, tenant=TENANT)
