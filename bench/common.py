"""What every benchmark shares: DynamoDB Local (one engine per process, fresh tables per world), the
Sage Accounting sandbox in process, a tenant wired like the integration tests, request counters,
and the one-line report format. Nothing here is timed itself."""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

# Production log level (INFO) but no terminal I/O: the cost of formatting stays in, the noise goes.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SageBridge")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-2")

import boto3
import httpx
from botocore.config import Config

from local import dynamodb_local, template
from local.sandboxes.sage_accounting import API_BASE_URL, SageAccountingSandbox, SandboxClock
from sagebridge.connectors.sage_accounting.client import SageAccountingClient, SageAccountingConnector
from sagebridge.connectors.sage_accounting.mapper import contact_body
from sagebridge.domain import (
    MODEL_FOR_KIND,
    Customer,
    DocumentKind,
    TenantSettings,
    canonical_json,
    ledger_of,
    payload_hash,
)
from sagebridge.observability import logger
from sagebridge.store import StagedDocument, Store

TENANT = "acme"
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
REGION = "eu-west-2"

_engine: dynamodb_local.DynamoDBLocal | None = None
_tables = itertools.count()


def quiet_logs() -> None:
    """Powertools Logger at INFO, as deployed, writing to /dev/null."""
    sink = open(os.devnull, "w")  # lives as long as the process
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)


# ------------------------------------------------------------------------------------------- results


@dataclass
class Figure:
    name: str
    value: float
    goal: str  # "<= 1.25", ">= 0.9", "== 4"
    detail: str = ""

    @property
    def ok(self) -> bool:
        op, bound = self.goal.split()
        b = float(bound)
        return {"<=": self.value <= b, ">=": self.value >= b, "==": abs(self.value - b) < 1e-9}[op]

    def line(self) -> str:
        status = "ok" if self.ok else "MISS"
        text = f"{self.name:<40} {self.value:7.2f}  (goal {self.goal})  {status}"
        return text + (f"   [{self.detail}]" if self.detail else "")


# ------------------------------------------------------------------------------------------ DynamoDB


class DynamoCounter:
    """Counts DynamoDB API calls through botocore's event hook (one per logical call; botocore's own
    retries are not recounted)."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()


def dynamodb_endpoint() -> str:
    """DynamoDB Local: the one named by BENCH_DYNAMODB_ENDPOINT (the smoke test's, a parent's), or
    one started for this process."""
    global _engine
    if os.environ.get("BENCH_DYNAMODB_ENDPOINT"):
        return os.environ["BENCH_DYNAMODB_ENDPOINT"]
    if _engine is None:
        _engine = dynamodb_local.start()
        atexit.register(_engine.stop)
    return _engine.endpoint_url


def dynamodb_client() -> Any:
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=dynamodb_endpoint(), region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32),
    )


def new_table(client: Any) -> str:
    n = next(_tables)
    names = {"AppTable": f"bench-app-{os.getpid()}-{n}", "IdempotencyTable": f"bench-idem-{os.getpid()}-{n}"}
    template.create_tables(client, names)
    return names["AppTable"]


def batch_put(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    """Setup only: write items 25 at a time (not through the store, so setup stays fast)."""
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


# ------------------------------------------------------------------------------------------ the world


@dataclass
class World:
    """One tenant on a fresh table, connected to a fresh sandbox business."""

    sandbox: SageAccountingSandbox
    http: httpx.Client
    connector: SageAccountingConnector
    client: Any  # DynamoDB
    counter: DynamoCounter
    store: Store
    settings: TenantSettings
    token: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sage_requests(self) -> int:
        return len(self.sandbox.request_log)

    def close(self) -> None:
        self.http.close()


def make_world(*, rate_limit_per_minute: int | None = None, clock: SandboxClock | None = None,
               sleep: Callable[[float], None] | None = None, **client_options: Any) -> World:
    sandbox = SageAccountingSandbox.single_business(clock=clock or SandboxClock.frozen_at(START),
                                                    rate_limit_per_minute=rate_limit_per_minute)
    http = httpx.Client(transport=sandbox.sync_transport(), timeout=30)
    tokens = sandbox.issue_tokens()

    def token(*, rejected: str | None = None) -> str:
        if rejected is not None:  # expired on the (virtual) clock: a new grant, as a refresh would give
            tokens.update(sandbox.issue_tokens())
        return str(tokens["access_token"])

    client = SageAccountingClient(
        http, token_provider=token, business_id=sandbox.lead_business_id,
        base_url=API_BASE_URL, sleep=sleep or (lambda _s: None), jitter=lambda: 0.0, **client_options,
    )
    ddb = dynamodb_client()
    table = new_table(ddb)
    store = Store(table, ddb)
    ids = sandbox.ids
    settings = TenantSettings(
        provider="sage_accounting",
        tax_mappings={"S": "GB_STANDARD", "R": "GB_LOWER", "Z": "GB_ZERO"},
        ledger_mappings={"SALES": ids["4000"]},
        default_sales_ledger_account_id=ids["4000"], default_purchase_ledger_account_id=ids["5000"],
        receipt_bank_account_id=ids["bank"],
    )
    store.tenants.create(TENANT, settings.model_dump(mode="json"))
    return World(sandbox, http, SageAccountingConnector(client), ddb, DynamoCounter(ddb), store, settings,
                 tokens["access_token"])


def customer(n: int) -> Customer:
    return Customer(host_id=f"CUST-{n}", name=f"Customer {n} Ltd", email=f"ap{n}@customer.example")


def invoice(n: int, party: Customer, *, embed_party: bool) -> Any:
    return MODEL_FOR_KIND[DocumentKind.SALES_INVOICE].model_validate({
        "host_id": f"INV-{n}", "number": f"INV-{n:06d}", "party_id": party.host_id,
        "party": party.model_dump(mode="json", exclude_none=True) if embed_party else None,
        "document_date": date(2025, 3, 1).isoformat(), "currency": "GBP", "status": "pending_payment",
        "lines": [{"description": "Labour", "quantity": "2", "unit_price": "50.00", "tax_code": "S"},
                  {"description": "Parts", "quantity": "1", "unit_price": "25.00", "tax_code": "R"}],
        "totals": {"net": "125.00", "tax": "21.25", "total": str(Decimal("146.25"))},
    })


def stage(world: World, records: Iterable[Any]) -> None:
    """Stage host records as the webhooks function would (same item shape as Documents.put),
    streamed 25 at a time so setup never holds a big run in memory."""
    chunk: list[dict[str, Any]] = []
    for record in records:
        d = getattr(record, "document_date", None) or date(2025, 3, 1)
        staged = StagedDocument(
            tenant_id=TENANT, kind=record.kind.value, host_id=record.host_id, ledger=ledger_of(record.kind).value,
            canonical_json=canonical_json(record, ignore=()), payload_hash=payload_hash(record), version=1,
            posting_date=d, document_date=d,
        )
        chunk.append(world.store.documents.put_op(staged).params["Item"])
        if len(chunk) == 25:
            batch_put(world.client, world.store.table.name, chunk)
            chunk = []
    batch_put(world.client, world.store.table.name, chunk)


def map_customers(world: World, customers: list[Customer]) -> None:
    """Contacts already in Sage and mapped (steady state): created through the API, mapped in bulk."""
    items = []
    for party in customers:
        body = contact_body(party, business_currency="GBP")
        made = world.connector.client.create_contact(body)
        op = world.store.mappings.put_op(TENANT, "customer", party.host_id, str(made["id"]), {})
        items.append(op.params["Item"])
    batch_put(world.client, world.store.table.name, items)


def best_of(n: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(n))


def timer() -> Callable[[], float]:
    started = time.perf_counter()
    return lambda: time.perf_counter() - started

