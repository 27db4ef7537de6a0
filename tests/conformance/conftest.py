"""The conformance world: one product-neutral harness, parametrised over every registered product.

Each test runs once per provider in `connectors.registry.providers()`. The product is built only
through its registry line (`product_builder(provider)(settings, store=..., ...)`), a tenant connects
the way the product says (`Product.connects_by`: Sage's sign-in, or a login), exports run as the
export worker runs them (`handle_export_job`), and polls as the payment poll worker does
(`SageProducts.poll_tenant`). Everything product-specific (the sandbox, seeded ids, reading back
what Sage holds, fault hooks) comes from the product's row in products.py.

One clock for everything: the sandbox's (frozen; tests move it), which is also the store's and the
product's, and the product's waits (`sleep`) are that clock moving, so retries and pacing cost no
real time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import httpx
import pytest
from moto import mock_aws
from pydantic import SecretStr

from local.sandboxes.sage_accounting import SandboxClock
from sagebridge.connectors.base import Connector, LinkConnect, LoginConnect, not_exported
from sagebridge.connectors.registry import product_builder, providers
from sagebridge.domain import (
    Customer,
    CustomerPayment,
    CustomerRefund,
    DocumentKind,
    TenantSettings,
    Vendor,
    canonical_json,
    ledger_of,
    payload_hash,
)
from sagebridge.domain.kinds import RecordKind
from sagebridge.domain.records import HostRecord, parse_host_record
from sagebridge.domain.settings import Provider
from sagebridge.host.jobs import ExportJob
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.observability import logger
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.settings import load_settings
from sagebridge.store import StagedDocument, Store, SyncLogEntry
from sagebridge.store.aws import AwsClients
from sagebridge.sync.products import SageProducts
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

# The integration suite's DynamoDB Local fixtures (one engine per session, shared with it).
from tests.integration.conftest import app_table, dynamodb_client, dynamodb_endpoint  # noqa: F401

from .products import ENVIRONMENT, PRODUCTS, SECRETS, Held, ProductRow, copies

logger.setLevel("WARNING")  # one INFO line per Sage request drowns the test output

TENANT = "acme"
START = "2025-03-03T09:00:00+00:00"
PUBLIC_API_URL = "https://bridge.example"
CALLBACK_URL = f"{PUBLIC_API_URL}/oauth/callback"
RATES = {"S": Decimal("0.20"), "R": Decimal("0.05"), "Z": Decimal("0"), None: Decimal("0")}
CENT = Decimal("0.01")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # DynamoDB Local, as the integration suite
        if "tests/conformance/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


class Tap(httpx.BaseTransport):
    """The product's wire to its sandbox, with a seam: each of `after` sees a request once Sage has
    answered it (a test kills the worker there, after Sage committed and before anything of ours)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.after: list[Callable[[httpx.Request, httpx.Response], None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        for seen in list(self.after):
            seen(request, response)
        return response

    def close(self) -> None:
        self.inner.close()


class CapturingQueue:
    """The delivery queue: what the host would be told, in order."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.messages.append(body)
        return f"m{len(self.messages)}"


@dataclass
class World:
    provider: Provider
    row: ProductRow
    sandbox: Any
    store: Store
    products: SageProducts
    http: httpx.Client
    queue: CapturingQueue = field(default_factory=CapturingQueue)
    versions: dict[tuple[str, str, str], int] = field(default_factory=dict)
    tap: Tap | None = None

    @property
    def clock(self) -> SandboxClock:
        return self.sandbox.clock

    @property
    def outbox(self) -> DeliveryOutbox:
        return DeliveryOutbox(self.queue, self.store.deliveries)

    @property
    def currency(self) -> str:
        return self.row.currency

    # ---- tenants

    def add_tenant(self, tenant_id: str = TENANT, *, connect: bool = True, **changes: Any) -> None:
        base = {"provider": self.provider.value, "host_callback_url": "http://host.test/callback",
                **self.row.settings(self.sandbox)}
        settings = TenantSettings.model_validate({**base, **changes})
        self.store.tenants.create(tenant_id, settings.model_dump(mode="json"))
        if connect:
            self.connect(tenant_id)

    def connect(self, tenant_id: str = TENANT) -> None:
        """The way the product says a tenant connects: a login typed in, or Sage's own sign-in
        (the signed link, the consent page, the callback, the first business offered)."""
        how = self.products.product(self.provider).connects_by
        if isinstance(how, LoginConnect):
            assert self.row.login is not None, "a product that connects by login needs the sandbox's login"
            how.connect_login(tenant_id, self.row.login)
        else:
            assert isinstance(how, LinkConnect)
            self.sandbox.auto_approve = True
            link = how.connect_link(PUBLIC_API_URL, tenant_id)
            started = how.start(tenant_id, _query(link), redirect_uri=CALLBACK_URL)  # type: ignore[attr-defined]
            consent = self.http.get(started.location)
            cookie = started.browser_nonce  # the browser's connect cookie, sent back to the callback
            done = how.callback(_query(consent.headers["location"]), callback_url=CALLBACK_URL, browser=cookie)  # type: ignore[attr-defined]
            if done.kind == "choose_business":
                done = how.callback(_query(done.choices[0][1]), callback_url=CALLBACK_URL, browser=cookie)  # type: ignore[attr-defined]
            assert done.kind == "success", done.message
        assert self.products.is_connected(tenant_id, self.settings_of(tenant_id))

    def settings_of(self, tenant_id: str = TENANT) -> TenantSettings:
        return self.products.settings_of(tenant_id)

    def disconnect(self, tenant_id: str) -> None:
        """As an operator does before another tenant takes over the same Sage business."""
        assert self.products.product(self.provider).disconnect(tenant_id)

    def connector(self, tenant_id: str = TENANT) -> Connector:
        return self.products.connector_for(tenant_id, self.settings_of(tenant_id))

    def not_exported(self) -> dict[RecordKind, str]:
        """What the product declares it never takes, with the reason the host sees."""
        return dict(not_exported(self.connector()))

    # ---- the host

    def stage(self, record: HostRecord, *, tenant_id: str = TENANT, voided: bool = False) -> StagedDocument:
        """As the webhooks function stages a host record (canonical JSON + hash, versioned)."""
        kind = record.kind.value
        version = self.versions.get((tenant_id, kind, record.host_id), 0) + 1
        self.versions[(tenant_id, kind, record.host_id)] = version
        on = getattr(record, "document_date", None) or getattr(record, "payment_date", None) or date(2025, 3, 1)
        staged = StagedDocument(
            tenant_id=tenant_id, kind=kind, host_id=record.host_id, ledger=ledger_of(record.kind).value,
            canonical_json=canonical_json(record, ignore=()), payload_hash=payload_hash(record), version=version,
            posting_date=getattr(record, "posting_date", None) or on, document_date=on, voided=voided)
        self.store.documents.put(staged)
        return staged

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        got = [m["event"] for m in self.queue.messages]
        return [e for e in got if type_ is None or e["type"] == type_]

    # ---- the workers

    def export(self, tenant_id: str = TENANT, *, hooks: Any = None, engine_options: dict[str, Any] | None = None,
               trigger: str = "schedule", **job: Any) -> Any:
        """One export job as the export worker runs it (a second after the last, so runs sort)."""
        self.clock.advance(seconds=1)
        deps = WorkerDeps(store=self.store, connector_for=self.products.connector_for, outbox=self.outbox,
                          business_currency_for=self.products.business_currency_for, hooks=hooks,
                          engine_options=engine_options or {})
        return handle_export_job(ExportJob(tenant_id=tenant_id, trigger=trigger, **job), deps)

    def poll(self, tenant_id: str = TENANT, *, advance_minutes: float = 0) -> Any:
        """One tenant's payment and catalog poll, as the payment poll worker runs it."""
        if advance_minutes:
            self.clock.advance(minutes=advance_minutes)
        return self.products.poll_tenant(tenant_id, self.outbox)

    # ---- what happened

    def held(self, kind: RecordKind) -> list[Held]:
        return self.row.held(self.sandbox, kind)

    def copies(self, kind: RecordKind) -> dict[str | None, int]:
        return dict(copies(self.row, self.sandbox, kind))

    def one(self, kind: RecordKind, reference: str) -> Held:
        found = [h for h in self.held(kind) if h.reference == reference]
        assert len(found) == 1, f"{len(found)} {kind.value} with reference {reference} in Sage"
        return found[0]

    def history(self, kind: str, host_id: str, tenant_id: str = TENANT) -> list[SyncLogEntry]:
        """The sync log of one record, newest first."""
        return list(self.store.synclog.newest(tenant_id, kind=kind, host_id=host_id).items)

    def faults(self) -> Any:
        return self.sandbox.faults


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def kms() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("kms", region_name="eu-west-2")
        yield client, client.create_key()["KeyMetadata"]["KeyId"]


@pytest.fixture(params=providers(), ids=lambda p: p.value)
def provider(request: pytest.FixtureRequest) -> Provider:
    if request.param not in PRODUCTS:
        pytest.fail(f"{request.param.value} is registered and has no row in tests/conformance/products.py: "
                    "every product runs the conformance suite", pytrace=False)
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def world(provider: Provider, app_table: str, dynamodb_client: Any, kms: tuple[Any, str],  # noqa: F811
          monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    row = PRODUCTS[provider]
    box = row.sandbox(SandboxClock.frozen_at(START))
    transport = Tap(box.sync_transport())
    http = httpx.Client(transport=transport, timeout=10)
    store = Store(app_table, dynamodb_client, clock=box.clock.now)
    settings = load_settings({
        "TABLE_NAME": app_table, "IDEMPOTENCY_TABLE_NAME": "idem", "TOKEN_KEY_ID": kms[1],
        "EXPORT_QUEUE_URL": "q", "DELIVERY_QUEUE_URL": "q", "PAYMENT_POLL_QUEUE_URL": "q",
        "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-2:1:t", "SETTINGS_SECRET_NAME": "sagebridge/settings",
        "PUBLIC_API_URL": PUBLIC_API_URL, **ENVIRONMENT})
    secrets = IntegrationSecrets(state_signing_key=SecretStr("k" * 64), **SECRETS)  # type: ignore[arg-type]
    clients = AwsClients(dynamodb=dynamodb_client, kms=kms[0])
    product = product_builder(provider)(settings, store=store, clients=clients, http=http, secrets=secrets,
                                        clock=box.clock.now, sleep=lambda s: box.clock.advance(seconds=s))
    products = SageProducts(settings, clients=clients, store=store, secrets=secrets, built={provider: product})
    products.outbox = None
    yield World(provider, row, box, store, products, http, tap=transport)
    http.close()
    transport.close()


# ------------------------------------------------------------------------------------ host records


def customer(n: int = 1, **fields: Any) -> Customer:
    return Customer(host_id=f"CUST-{n}", name=f"Customer {n} Ltd", email=f"ap{n}@customer.example", **fields)


def vendor(n: int = 1, **fields: Any) -> Vendor:
    return Vendor(host_id=f"VEND-{n}", name=f"Vendor {n} Supplies", **fields)


def line(price: str = "100.00", qty: str = "1", tax: str | None = "S", **fields: Any) -> dict[str, Any]:
    return {"description": fields.pop("description", "Labour"), "quantity": qty, "unit_price": price,
            "tax_code": tax, **fields}


PREFIX = {DocumentKind.SALES_INVOICE: "INV", DocumentKind.SALES_CREDIT_NOTE: "CN",
          DocumentKind.PURCHASE_INVOICE: "PI", DocumentKind.PURCHASE_CREDIT_NOTE: "PCN"}


def document(world: World, kind: DocumentKind, n: int, *, party: Any = None,
             lines: list[dict[str, Any]] | None = None, currency: str | None = None, **fields: Any) -> Any:
    """A host document whose totals are Sage's per-line arithmetic (20% / 5% / 0%)."""
    lines = lines or [line()]
    nets = [(Decimal(x["unit_price"]) * Decimal(x["quantity"])).quantize(CENT) for x in lines]
    net = sum(nets, Decimal("0"))
    tax = sum(((v * RATES[x["tax_code"]]).quantize(CENT) for v, x in zip(nets, lines, strict=True)), Decimal("0"))
    party = party if party is not None else (customer() if kind.value.startswith("sales") else vendor())
    data = {"host_id": f"{PREFIX[kind]}-{n}", "number": f"{PREFIX[kind]}-{n:05d}", "party_id": party.host_id,
            "party": party.model_dump(mode="json", exclude_none=True), "document_date": "2025-03-01",
            "currency": currency or world.currency, "status": "pending_payment", "lines": lines,
            "totals": {"net": str(net), "tax": str(tax), "total": str(net + tax)}, **fields}
    if kind is DocumentKind.SALES_INVOICE:
        data.setdefault("due_date", "2025-03-31")
    return parse_host_record(kind, data)


def payment(world: World, host_id: str, party: Customer, amount: str, *allocations: tuple[str, str, str],
            on: date = date(2025, 3, 2)) -> CustomerPayment:
    return CustomerPayment.model_validate({
        "host_id": host_id, "party_id": party.host_id, "party": party.model_dump(mode="json", exclude_none=True),
        "payment_date": on.isoformat(), "amount": amount, "currency": world.currency,
        "allocations": [{"kind": k, "host_id": h, "amount": a} for k, h, a in allocations]})


def refund(world: World, host_id: str, party: Customer, amount: str, *allocations: tuple[str, str, str],
           on: date = date(2025, 3, 4)) -> CustomerRefund:
    return CustomerRefund.model_validate({
        "host_id": host_id, "party_id": party.host_id, "party": party.model_dump(mode="json", exclude_none=True),
        "payment_date": on.isoformat(), "amount": amount, "currency": world.currency,
        "allocations": [{"kind": k, "host_id": h, "amount": a} for k, h, a in allocations]})
