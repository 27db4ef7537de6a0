"""Export engine fixtures: the Sage Accounting sandbox in process (httpx over ASGI), DynamoDB Local
through the store, a tenant's settings pointing at the sandbox's seeded accounts, and helpers that
stage host records the way the webhooks function does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from local.sandboxes.sage_accounting import API_BASE_URL, SageAccountingSandbox, SandboxClock, VirtualSeconds
from sagebridge.connectors.sage_accounting.client import RequestPacer, SageAccountingClient, SageAccountingConnector
from sagebridge.domain import (
    Customer,
    DocumentKind,
    TenantSettings,
    Vendor,
    canonical_json,
    ledger_of,
    payload_hash,
)
from sagebridge.domain.records import HostRecord
from sagebridge.observability import logger
from sagebridge.store import StagedDocument, Store
from sagebridge.sync.export import ExportEngine, ExportRequest, ExportResult

logger.setLevel("WARNING")  # one INFO line per Sage request drowns the test output

TENANT = "acme"
SAGE_REQUESTS_PER_MINUTE = 200  # the production default (SageAccountingSettings.requests_per_minute)
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def elapsed() -> VirtualSeconds:
    """The time Sage's per-minute limit counts, shared by the sandbox and the client's pacer: a run
    of more than a minute's requests is paced as in production without waiting in real time."""
    return VirtualSeconds()


@pytest.fixture
def sandbox(clock: Any, elapsed: VirtualSeconds) -> Iterator[SageAccountingSandbox]:
    box = SageAccountingSandbox.single_business(clock=SandboxClock.frozen_at(START), rate_limit_seconds=elapsed)
    if box.chaos is not None:
        box.chaos.clock = clock  # the search lag runs on the time these tests move (the sandbox's stands still)
    yield box


@pytest.fixture
def http(sandbox: SageAccountingSandbox) -> Iterator[httpx.Client]:
    transport = sandbox.sync_transport()
    with httpx.Client(transport=transport, timeout=10) as client:
        yield client
    transport.close()


@pytest.fixture
def connector(sandbox: SageAccountingSandbox, http: httpx.Client, elapsed: VirtualSeconds) -> SageAccountingConnector:
    tokens = sandbox.issue_tokens()
    client = SageAccountingClient(
        http, token_provider=lambda *, rejected=None: tokens["access_token"], business_id=sandbox.lead_business_id,
        base_url=API_BASE_URL, sleep=lambda _seconds: None, jitter=lambda: 0.0,
        pacer=RequestPacer(SAGE_REQUESTS_PER_MINUTE, clock=elapsed, sleep=elapsed.sleep),  # as in production
    )
    return SageAccountingConnector(client)


@pytest.fixture
def store(app_table: str, dynamodb_client: Any, clock: Any) -> Store:
    clock.now = START
    return Store(app_table, dynamodb_client, clock=clock)


@pytest.fixture
def settings(sandbox: SageAccountingSandbox) -> TenantSettings:
    ids = sandbox.ids
    return TenantSettings(
        provider="sage_accounting",
        tax_mappings={"S": "GB_STANDARD", "R": "GB_LOWER", "Z": "GB_ZERO", "OLD": "GB_RETIRED"},
        ledger_mappings={"SALES": ids["4000"], "PARTS": ids["5000"], "FUEL": ids["7200"]},
        default_sales_ledger_account_id=ids["4000"],
        default_purchase_ledger_account_id=ids["5000"],
        receipt_bank_account_id=ids["bank"],
        retry_limit=3,
    )


@dataclass
class Host:
    """Stages host records as the webhooks function would (canonical JSON + hash, versioned)."""

    store: Store
    tenant: str = TENANT
    versions: dict[tuple[str, str], int] = field(default_factory=dict)

    def stage(self, record: HostRecord, *, voided: bool = False) -> StagedDocument:
        kind = record.kind.value
        version = self.versions.get((kind, record.host_id), 0) + 1
        self.versions[(kind, record.host_id)] = version
        document_date = getattr(record, "document_date", None) or getattr(record, "payment_date", None) \
            or date(2025, 3, 1)
        posting_date = getattr(record, "posting_date", None) or document_date
        staged = StagedDocument(
            tenant_id=self.tenant, kind=kind, host_id=record.host_id, ledger=ledger_of(record.kind).value,
            canonical_json=canonical_json(record, ignore=()), payload_hash=payload_hash(record),
            version=version, posting_date=posting_date, document_date=document_date, voided=voided,
        )
        self.store.documents.put(staged)
        return staged

    def void(self, kind: str, host_id: str) -> None:
        version = self.versions[(kind, host_id)] + 1
        self.versions[(kind, host_id)] = version
        self.store.documents.mark_voided(self.tenant, kind, host_id, version=version)


@pytest.fixture
def host(store: Store) -> Host:
    return Host(store)


@pytest.fixture
def export(store: Store, connector: SageAccountingConnector, settings: TenantSettings, clock: Any):
    """export(**request fields, engine options...) -> ExportResult. Each run starts a second after
    the last, so runs and log lines sort in the order they happened."""

    def run(*, engine_options: dict[str, Any] | None = None, settings_: TenantSettings | None = None,
            **request: Any) -> ExportResult:
        clock.advance(seconds=1)
        engine = ExportEngine(store=store, connector=connector, settings=settings_ or settings,
                              **(engine_options or {}))
        return engine.run(ExportRequest(tenant_id=TENANT, **request))

    return run


# --------------------------------------------------------------------------------------- host records

def customer(n: int = 1, **fields: Any) -> Customer:
    return Customer(host_id=f"CUST-{n}", name=f"Customer {n} Ltd", email=f"ap{n}@customer.example", **fields)


def vendor(n: int = 1, **fields: Any) -> Vendor:
    return Vendor(host_id=f"VEND-{n}", name=f"Vendor {n} Supplies", **fields)


def line(price: str = "100.00", qty: str = "1", tax: str | None = "S", **fields: Any) -> dict[str, Any]:
    return {"description": fields.pop("description", "Labour"), "quantity": qty, "unit_price": price,
            "tax_code": tax, **fields}


def totals(net: str, tax: str) -> dict[str, str]:
    return {"net": net, "tax": tax, "total": str(Decimal(net) + Decimal(tax))}


def document(kind: DocumentKind, n: int, *, party: Any = None, lines: list[dict[str, Any]] | None = None,
             total: tuple[str, str] = ("100.00", "20.00"), on: date = date(2025, 3, 1), embed_party: bool = True,
             **fields: Any) -> Any:
    from sagebridge.domain import MODEL_FOR_KIND

    prefix = {DocumentKind.SALES_INVOICE: "INV", DocumentKind.SALES_CREDIT_NOTE: "CN",
              DocumentKind.PURCHASE_INVOICE: "PI", DocumentKind.PURCHASE_CREDIT_NOTE: "PCN"}[kind]
    party = party if party is not None else (customer() if kind.value.startswith("sales") else vendor())
    data = {
        "host_id": f"{prefix}-{n}", "number": f"{prefix}-{n:05d}", "party_id": party.host_id,
        "party": party.model_dump(mode="json", exclude_none=True) if embed_party else None,
        "document_date": on.isoformat(),
        "currency": "GBP", "status": "pending_payment", "lines": lines or [line()],
        "totals": totals(*total), **fields,
    }
    return MODEL_FOR_KIND[kind].model_validate(data)


