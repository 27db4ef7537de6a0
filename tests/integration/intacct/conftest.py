"""Sage Intacct fixtures: the Intacct sandbox in process (its clock is everyone's clock), DynamoDB
Local through the store, KMS from moto, a tenant connected with `connect_intacct`, the export
engine over the Intacct connector, and the host app sandbox at the end of the delivery path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws
from pydantic import SecretStr

from local.sandboxes.host_app import HostApp, create_app
from local.sandboxes.sage_accounting import SyncASGITransport
from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    ENDPOINT,
    LOCATION_FIELD,
    SageIntacctSandbox,
    SandboxClock,
)
from sagebridge.connectors.sage_intacct.client import CompanyGates
from sagebridge.connectors.sage_intacct.connector import IntacctConnector
from sagebridge.connectors.sage_intacct.product import (
    SageIntacct,
    build_sage_intacct,
    connect_intacct,
)
from sagebridge.domain import Customer, DocumentKind, TenantSettings
from sagebridge.domain.settings import Provider
from sagebridge.host.delivery import DeliveryDeps, deliver
from sagebridge.host.outbound import DeliveryMessage, DeliveryOutbox
from sagebridge.observability import logger
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.settings import load_settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.store import Store
from sagebridge.sync.export import ExportEngine, ExportRequest, ExportResult
from sagebridge.sync.tenant_polls import PollerReport, poll_all_tenants
from tests.integration.export.conftest import Host
from tests.integration.payments.conftest import CapturingQueue, _Secrets, _Visibility

logger.setLevel("WARNING")

TENANT = "acme"
START = "2025-03-03T09:00:00+00:00"
CALLBACK_URL = "http://host.test/callback"
TAXES = {"S": "Sales Tax Standard", "R": "Sales Tax Reduced", "Z": "Sales Tax Zero"}


def tenant_settings(**changes: Any) -> TenantSettings:
    base = TenantSettings(
        provider="sage_intacct",
        export_kinds=frozenset({DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE,
                                DocumentKind.CUSTOMER_PAYMENT}),
        tax_mappings=TAXES, ledger_mappings={"LABOUR": "4100", "PARTS": "4200"},
        default_sales_ledger_account_id="4000", receipt_bank_account_id="BOA-OPS", host_callback_url=CALLBACK_URL,
        intacct={"location_id": "100", "department_id": "SVC", "location_custom_field": LOCATION_FIELD,
                 "host_location": "Leeds depot"},
    )
    return TenantSettings.model_validate({**base.model_dump(mode="json"), **changes})


@dataclass
class World:
    sandbox: SageIntacctSandbox
    intacct: SageIntacct
    store: Store
    queue: CapturingQueue
    host_app: HostApp
    delivery: DeliveryDeps
    sent: list[bytes] = field(default_factory=list)  # every request body the client sent
    delivered_upto: int = 0

    @property
    def clock(self) -> SandboxClock:
        return self.sandbox.clock

    @property
    def outbox(self) -> DeliveryOutbox:
        return DeliveryOutbox(self.queue, self.store.deliveries)

    def add_tenant(self, tenant_id: str = TENANT, **changes: Any) -> None:
        self.store.tenants.create(tenant_id, tenant_settings(**changes).model_dump(mode="json"))
        connect_intacct(tenant_id, DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD, intacct=self.intacct)

    def settings_of(self, tenant_id: str = TENANT) -> TenantSettings:
        return TenantSettings.model_validate(self.store.tenants.get(tenant_id).settings)

    def connector(self, tenant_id: str = TENANT) -> IntacctConnector:
        return self.intacct.connector_for(tenant_id, self.settings_of(tenant_id))

    def export(self, tenant_id: str = TENANT, *, strict: bool = True, engine_options: dict[str, Any] | None = None,
               **request: Any) -> ExportResult:
        self.clock.advance(seconds=1)
        engine = ExportEngine(store=self.store, connector=self.connector(tenant_id),
                              settings=self.settings_of(tenant_id), business_currency="USD",
                              **(engine_options or {}))
        result = engine.run(ExportRequest(tenant_id=tenant_id, **request))
        if strict:
            assert result.counts["failed"] == 0 and result.counts["skipped"] == 0, result.failures
        return result

    def poll(self, *, advance_minutes: float = 0) -> PollerReport:
        if advance_minutes:
            self.clock.advance(minutes=advance_minutes)
        report = poll_all_tenants(self.intacct, Provider.SAGE_INTACCT, store=self.intacct.store, outbox=self.outbox,
                                  clock=self.clock.now)
        report.tenants = [t for t in report.tenants if t.outcome != "skipped"]  # other products' tenants
        return report

    def deliver_all(self, *, copies: int = 2) -> None:
        fresh = self.queue.messages[self.delivered_upto:]
        self.delivered_upto = len(self.queue.messages)
        for body in fresh:
            for n in range(copies):
                deliver(DeliveryMessage.model_validate(body), receive_count=n + 1, receipt_handle="r",
                        deps=self.delivery)

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        got = [r.event for r in self.host_app.delivered() if r.event]
        return [e for e in got if type_ is None or e["type"] == type_]


class RecordingTransport(httpx.BaseTransport):
    """The sandbox transport, keeping a copy of every request body (contract checks)."""

    def __init__(self, inner: httpx.BaseTransport, sent: list[bytes]) -> None:
        self.inner, self.sent = inner, sent

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.read())
        return self.inner.handle_request(request)


@pytest.fixture
def kms() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("kms", region_name="eu-west-2")
        yield client, client.create_key()["KeyMetadata"]["KeyId"]


@pytest.fixture
def secrets() -> IntegrationSecrets:
    return IntegrationSecrets(intacct_sender_id=DEFAULT_SENDER_ID,
                              intacct_sender_password=SecretStr(DEFAULT_SENDER_PASSWORD),
                              state_signing_key=SecretStr("k" * 64))


@pytest.fixture
def make_world(app_table: str, dynamodb_client: Any, kms: tuple[Any, str], secrets: IntegrationSecrets):
    closers: list[Any] = []

    def make(*, sandbox: SageIntacctSandbox | None = None, **client_options: Any) -> World:
        box = sandbox or SageIntacctSandbox(clock=SandboxClock.frozen_at(START))
        settings = load_settings({
            "TABLE_NAME": app_table, "IDEMPOTENCY_TABLE_NAME": "idem", "TOKEN_KEY_ID": kms[1],
            "EXPORT_QUEUE_URL": "q", "DELIVERY_QUEUE_URL": "q", "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-2:1:t",
            "PAYMENT_POLL_QUEUE_URL": "q",
            "SETTINGS_SECRET_NAME": "sagebridge/settings", "SAGE_INTACCT_ENDPOINT": ENDPOINT,
        })
        sent: list[bytes] = []
        transport = box.sync_transport()
        http = httpx.Client(transport=RecordingTransport(transport, sent), timeout=10)
        store = Store(app_table, dynamodb_client, clock=box.clock.now)
        client_options.setdefault("gates", CompanyGates())
        client_options.setdefault("jitter", lambda: 0.0)
        client_options.setdefault("sleep", lambda s: None)
        intacct = build_sage_intacct(settings, store=store, clients=AwsClients(dynamodb=dynamodb_client, kms=kms[0]),
                                     http=http, secrets=secrets, clock=box.clock.now, **client_options)
        host_app = HostApp()
        host_transport = SyncASGITransport(create_app(host_app))
        host_http = httpx.Client(transport=host_transport)
        delivery = DeliveryDeps(tenants=store.tenants, deliveries=store.deliveries, secrets=_Secrets(),  # type: ignore[arg-type]
                                http=host_http, queue=_Visibility(), max_receive_count=5, jitter=lambda: 0.0)
        closers.extend([http, host_http, transport, host_transport])
        return World(box, intacct, store, CapturingQueue(), host_app, delivery, sent)

    yield make
    for closer in closers:
        closer.close()


@pytest.fixture
def world(make_world) -> World:
    return make_world()


@pytest.fixture
def host(world: World) -> Host:
    return Host(world.store, tenant=TENANT)


# --------------------------------------------------------------------------------------- host records


def customer(n: int = 1, **fields: Any) -> Customer:
    return Customer(host_id=f"CUST-{n}", name=f"Pat Owner {n}", company=f"Owner {n} Plumbing LLC",
                    email=f"ap{n}@owner.example", **fields)


def line(price: str = "100.00", qty: str = "1", tax: str | None = "S", **fields: Any) -> dict[str, Any]:
    return {"description": fields.pop("description", "Labour"), "quantity": qty, "unit_price": price,
            "tax_code": tax, **fields}


def document(kind: DocumentKind, n: int, *, party: Any = None, lines: list[dict[str, Any]] | None = None,
             total: tuple[str, str] | None = None, **fields: Any) -> Any:
    from sagebridge.domain.records import parse_host_record

    lines = lines or [line()]
    net = sum((Decimal(x["unit_price"]) * Decimal(x["quantity"])).quantize(Decimal("0.01")) for x in lines)
    rates = {"S": Decimal("0.20"), "R": Decimal("0.05"), "Z": Decimal("0"), None: Decimal("0")}
    tax = sum(((Decimal(x["unit_price"]) * Decimal(x["quantity"])).quantize(Decimal("0.01")) * rates[x["tax_code"]])
              .quantize(Decimal("0.01")) for x in lines)
    if total is not None:
        net, tax = Decimal(total[0]), Decimal(total[1])
    party = party or customer(1)
    prefix = "INV" if kind is DocumentKind.SALES_INVOICE else "CN"
    data = {"host_id": f"{prefix}-{n}", "number": f"{prefix}-{n:05d}", "party_id": party.host_id,
            "party": party.model_dump(mode="json", exclude_none=True), "document_date": "2025-03-01",
            "due_date": "2025-03-31", "currency": "USD", "status": "pending_payment", "lines": lines,
            "totals": {"net": str(net), "tax": str(tax), "total": str(net + tax)}, **fields}
    if kind is not DocumentKind.SALES_INVOICE:
        data.pop("due_date")
    return parse_host_record(kind, data)
