"""Figure 9: Sage requests per document for every kind on every product, against the floor of one
request per document (plus one for its party the first time the party is seen).

Each product is built through its registry line and connected the way it says (a login, or Sage's
own sign-in against its sandbox), as the conformance suite does (its product table,
tests/conformance/products.py, says how each sandbox is seeded and which settings point at it).
Every HTTP request the product sends is counted by an httpx hook on its client (token and login
requests included). Each measured run is `handle_export_job`, as the export worker runs it, on a
tenant already live (export cursor set: no going-live listing).

A run also reads what it needs once (tax rates, ledger and bank accounts for the mapping health
check, a listing per kind and day): a fixed cost per run, not per document. A warm-up run first
pays what a tenant pays once (a login kept for later runs, the business currency); then a run of
one document and a run of `n` in the same state give per document = (R(n) - R(1)) / (n - 1), and
the fixed cost R(1) less that. The figure's detail gives both, so nothing is hidden.

A kind the product declares it never takes (`not_exported`) is skipped before any request: its
figure is that, 0 requests per document.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import SecretStr

from bench.common import Figure, dynamodb_client, new_table, quiet_logs
from local.sandboxes.sage_accounting import SandboxClock
from sagebridge.connectors.base import LinkConnect, LoginConnect, not_exported
from sagebridge.connectors.registry import product_builder
from sagebridge.domain import DocumentKind, PartyKind, canonical_json, ledger_of, payload_hash
from sagebridge.domain.kinds import RecordKind
from sagebridge.domain.records import parse_host_record
from sagebridge.domain.settings import Provider, TenantSettings
from sagebridge.host.jobs import ExportJob
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.settings import load_settings
from sagebridge.store import StagedDocument, Store
from sagebridge.store.aws import AwsClients
from sagebridge.sync.export import EXPORT_CURSOR
from sagebridge.sync.products import SageProducts
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job
from tests.conformance.products import ENVIRONMENT, PRODUCTS, SECRETS, ProductRow

TENANT = "acme"
START = "2025-03-03T09:00:00+00:00"
PUBLIC_API_URL = "https://bridge.example"
CALLBACK_URL = f"{PUBLIC_API_URL}/oauth/callback"
SI, SCN, PI, PCN = (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
                    DocumentKind.PURCHASE_CREDIT_NOTE)
PAYMENT, REFUND = DocumentKind.CUSTOMER_PAYMENT, DocumentKind.CUSTOMER_REFUND
VENDOR = PartyKind.VENDOR
# The kinds issue 16 added (figure 2 measures sales invoices on Sage Accounting), and the products.
KINDS: tuple[RecordKind, ...] = (VENDOR, PI, PCN, REFUND)
KIND_NAMES = tuple(k.value for k in KINDS)
PRODUCT_NAMES = {Provider.SAGE_ACCOUNTING: "Sage Accounting", Provider.SAGE_200: "Sage 200",
                 Provider.SAGE_INTACCT: "Intacct"}
PREFIX = {SI: "INV", SCN: "CN", PI: "PI", PCN: "PCN", PAYMENT: "PAY", REFUND: "REF"}


class _Queue:
    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        return "m"


class Tenant:
    """One tenant of one product, connected to a fresh sandbox, on a fresh table; every HTTP request
    the product sends is counted."""

    def __init__(self, provider: Provider, kms: Any) -> None:
        self.provider, self.row = provider, PRODUCTS[provider]
        self.sandbox = self.row.sandbox(SandboxClock.frozen_at(START))
        self.requests = 0
        self.http = httpx.Client(transport=self.sandbox.sync_transport(), timeout=30,
                                 event_hooks={"request": [self._count]})
        ddb = dynamodb_client()
        self.store = Store(new_table(ddb), ddb, clock=self.sandbox.clock.now)
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        settings = load_settings({
            "TABLE_NAME": self.store.table.name, "IDEMPOTENCY_TABLE_NAME": "idem", "TOKEN_KEY_ID": key,
            "EXPORT_QUEUE_URL": "q", "DELIVERY_QUEUE_URL": "q", "PAYMENT_POLL_QUEUE_URL": "q",
            "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-2:1:t", "SETTINGS_SECRET_NAME": "sagebridge/settings",
            "PUBLIC_API_URL": PUBLIC_API_URL, **ENVIRONMENT})
        secrets = IntegrationSecrets(state_signing_key=SecretStr("k" * 64), **SECRETS)  # type: ignore[arg-type]
        clients = AwsClients(dynamodb=ddb, kms=kms)
        product = product_builder(provider)(settings, store=self.store, clients=clients, http=self.http,
                                            secrets=secrets, clock=self.sandbox.clock.now,
                                            sleep=lambda s: self.sandbox.clock.advance(seconds=s))
        self.products = SageProducts(settings, clients=clients, store=self.store, secrets=secrets,
                                     built={provider: product})  # type: ignore[dict-item]
        self.products.outbox = None
        tenant = TenantSettings.model_validate({"provider": provider.value, **self.row.settings(self.sandbox)})
        self.store.tenants.create(TENANT, tenant.model_dump(mode="json"))
        self._connect()
        self.store.cursors.set(TENANT, EXPORT_CURSOR, "2025-03-01T00:00:00+00:00")  # already live
        self.versions: dict[tuple[str, str], int] = {}

    def _count(self, _request: httpx.Request) -> None:
        self.requests += 1

    def _connect(self) -> None:
        how = self.products.product(self.provider).connects_by
        if isinstance(how, LoginConnect):
            assert self.row.login is not None
            how.connect_login(TENANT, self.row.login)
            return
        assert isinstance(how, LinkConnect)
        self.sandbox.auto_approve = True
        link = how.connect_link(PUBLIC_API_URL, TENANT)
        started = how.start(TENANT, _query(link), redirect_uri=CALLBACK_URL)  # type: ignore[attr-defined]
        consent = self.http.get(started.location)
        cookie = started.browser_nonce  # the browser's connect cookie, sent back to the callback
        done = how.callback(_query(consent.headers["location"]), callback_url=CALLBACK_URL,  # type: ignore[attr-defined]
                            browser=cookie)
        if done.kind == "choose_business":
            done = how.callback(_query(done.choices[0][1]), callback_url=CALLBACK_URL,  # type: ignore[attr-defined]
                                browser=cookie)
        assert done.kind == "success", done.message

    def not_exported(self) -> frozenset[RecordKind]:
        settings = self.products.settings_of(TENANT)
        return frozenset(not_exported(self.products.connector_for(TENANT, settings)))

    def stage(self, records: list[Any]) -> None:
        for record in records:
            kind = record.kind.value
            version = self.versions[(kind, record.host_id)] = self.versions.get((kind, record.host_id), 0) + 1
            on = getattr(record, "document_date", None) or getattr(record, "payment_date", None) or date(2025, 3, 1)
            self.store.documents.put(StagedDocument(
                tenant_id=TENANT, kind=kind, host_id=record.host_id, ledger=ledger_of(record.kind).value,
                canonical_json=canonical_json(record, ignore=()), payload_hash=payload_hash(record), version=version,
                posting_date=on, document_date=on))

    def export(self, **job: Any) -> tuple[int, dict[str, int]]:
        """(Sage requests, counts) of one export job as the export worker runs it."""
        self.sandbox.clock.advance(seconds=1)
        deps = WorkerDeps(store=self.store, connector_for=self.products.connector_for,
                          outbox=DeliveryOutbox(_Queue(), self.store.deliveries),  # type: ignore[arg-type]
                          business_currency_for=self.products.business_currency_for)
        before = self.requests
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # the run's metrics (EMF)
            result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin", requested_by="bench", **job),
                                       deps)
        assert result is not None
        return self.requests - before, dict(result.counts)

    def close(self) -> None:
        self.http.close()


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


# ------------------------------------------------------------------------------------ host records


def _party(kind: PartyKind, n: int) -> dict[str, Any]:
    if kind is PartyKind.CUSTOMER:
        return {"host_id": f"CUST-{n}", "name": f"Customer {n} Ltd", "email": f"ap{n}@customer.example"}
    return {"host_id": f"VEND-{n}", "name": f"Vendor {n} Supplies"}


def party_record(kind: PartyKind, n: int) -> Any:
    return parse_host_record(kind, _party(kind, n))


def document(row: ProductRow, kind: DocumentKind, n: int, party: int) -> Any:
    """One line of 100.00 at the standard rate (20%): net 100.00, tax 20.00, total 120.00."""
    data = {"host_id": f"{PREFIX[kind]}-{n}", "number": f"{PREFIX[kind]}-{n:05d}",
            "party_id": _party(ledger_of(kind), party)["host_id"], "party": _party(ledger_of(kind), party),
            "document_date": "2025-03-01", "currency": row.currency, "status": "pending_payment",
            "lines": [{"description": "Labour", "quantity": "1", "unit_price": "100.00", "tax_code": "S"}],
            "totals": {"net": "100.00", "tax": "20.00", "total": "120.00"}}
    if kind is SI:
        data["due_date"] = "2025-03-31"
    return parse_host_record(kind, data)


def refund(row: ProductRow, n: int, party: int, credit_note: int) -> Any:
    """A refund of a whole credit note (120.00) to its customer."""
    return parse_host_record(REFUND, {
        "host_id": f"REF-{n}", "party_id": f"CUST-{party}", "party": _party(PartyKind.CUSTOMER, party),
        "payment_date": "2025-03-04", "amount": "120.00", "currency": row.currency,
        "allocations": [{"kind": SCN.value, "host_id": f"CN-{credit_note}", "amount": "120.00"}]})


# ---------------------------------------------------------------------------------------- measuring


def _per_document(tenant: Tenant, kind: RecordKind, make: Callable[[int], list[Any]], first: int, n: int,
                  floor: int, **job: Any) -> tuple[float, float, int]:
    """(requests per document, the run's fixed cost, requests of the n-run): a run of one document
    `first`, then a run of `n` more in the same state. Per document is the difference over the
    difference, (R(n) - R(1)) / (n - 1), so the fixed cost (R(1) less that) is whatever a run pays
    once; with n = 1 (--small) the fixed cost is taken as R(1) less the `floor`."""
    tenant.stage(make(first))
    one, counts = tenant.export(**job)
    assert counts.get("created", 0) >= 1, (kind, counts)
    tenant.stage([r for i in range(first + 1, first + 1 + n) for r in make(i)])
    many, counts = tenant.export(**job)
    assert counts.get("created", 0) >= n, (kind, counts)
    per = (many - one) / (n - 1) if n > 1 else float(many - (one - floor))
    return per, one - per, many


def measure(provider: Provider, kind: RecordKind, n: int, kms: Any) -> list[Figure]:
    """Figures of one kind on one product: the first time (a new party with each document) and
    steady (the party already in Sage), or the declared refusal."""
    tenant = Tenant(provider, kms)
    name = f"{PRODUCT_NAMES[provider]} {kind.value.replace('_', ' ')}"
    try:
        # Warm-up: what a tenant's first run does once (a login kept for later runs, the business
        # currency) is not a cost per run.
        tenant.stage([document(tenant.row, SI, 0, 0)])
        tenant.export()
        if kind in tenant.not_exported():
            refused = refund(tenant.row, 1, 1, 1) if kind is REFUND else (
                document(tenant.row, kind, 1, 1) if isinstance(kind, DocumentKind) else party_record(kind, 1))
            tenant.stage([refused])
            sent, counts = tenant.export()
            return [Figure(f"{name}: declared refusal, requests", sent, "== 0",
                           f"skipped {counts.get('skipped', 0)} before any request, as the product declares")]
        if kind is VENDOR:  # a catalog export of vendors: one create each
            per, fixed, many = _per_document(tenant, kind, lambda i: [party_record(VENDOR, i)], 1, n, 1,
                                             kinds=[VENDOR.value])
            return [Figure(f"{name}s, requests / vendor", per, "<= 1.02",
                           f"{many} requests for {n} vendors, {fixed:.0f} of them the run's own reads")]
        if kind is REFUND:  # each refunds a whole credit note, exported (with its customer) beforehand
            tenant.stage([document(tenant.row, SCN, i, i) for i in range(1, n + 2)])
            tenant.export()
            per, fixed, many = _per_document(tenant, kind, lambda i: [refund(tenant.row, i, i, i)], 1, n, 1)
            return [Figure(f"{name}s, requests / refund", per, "<= 1.02",
                           f"{many} requests for {n} refunds of exported credit notes, customers in Sage; "
                           f"{fixed:.0f} of them the run's own reads")]
        assert isinstance(kind, DocumentKind)
        # First: each document's vendor is new (its create + the document's); then steady: the same vendors.
        first, fixed1, many1 = _per_document(tenant, kind, lambda i: [document(tenant.row, kind, i, i)], 1, n, 2)
        steady, fixed2, many2 = _per_document(
            tenant, kind, lambda i: [document(tenant.row, kind, i, i - n - 1)], n + 2, n, 1)
        return [Figure(f"{name}s, requests / doc, first", first, "<= 2.02",
                       f"{many1} requests for {n}, each with a new vendor; {fixed1:.0f} the run's own reads"),
                Figure(f"{name}s, requests / doc, steady", steady, "<= 1.02",
                       f"{many2} requests for {n}, vendors in Sage; {fixed2:.0f} the run's own reads")]
    finally:
        tenant.close()


def run(n: int = 50, products: tuple[str, ...] = ("sage_accounting", "sage200", "sage_intacct"),
        kinds: tuple[str, ...] = KIND_NAMES) -> list[Figure]:
    import boto3
    from moto import mock_aws

    quiet_logs()
    wanted = [kind for kind in KINDS if kind.value in kinds]
    figures: list[Figure] = []
    with mock_aws():  # KMS seals the product's connection; DynamoDB is DynamoDB Local
        kms = boto3.client("kms", region_name="eu-west-2")
        for provider in (Provider(p) for p in products):
            for kind in wanted:
                figures += measure(provider, kind, n, kms)
    return figures


__all__ = ["run"]
