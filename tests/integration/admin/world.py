"""One tenant's world for the admin API's tests (integration, the browser test and the CLI tests):
the Sage Accounting sandbox in process, the store on whatever DynamoDB the caller passes (DynamoDB
Local, or moto in unit tests), KMS / Secrets Manager from moto (the caller holds `mock_aws`), the
real admin handler invoked with API Gateway HTTP API v2 events."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import boto3
import httpx
from pydantic import SecretStr

from local.runtime import LambdaContext
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
from sagebridge.admin.service import Admin
from sagebridge.connectors.sage_accounting.product import build_sage_accounting
from sagebridge.domain import MODEL_FOR_KIND, Customer, DocumentKind, canonical_json, ledger_of, payload_hash
from sagebridge.domain.settings import Provider
from sagebridge.host.jobs import ExportJob
from sagebridge.observability import logger
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.security.tokens import TokenSet
from sagebridge.settings import load_settings
from sagebridge.store import StagedDocument, Store
from sagebridge.store.aws import AwsClients
from sagebridge.store.webhook_secrets import WebhookSecretStore
from sagebridge.sync.products import SageProducts
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

logger.setLevel("WARNING")

ROOT = Path(__file__).resolve().parents[3]
TENANT = "acme"
START = "2025-03-03T09:00:00+00:00"
PUBLIC_API_URL = "https://admin.sagebridge.example"
SETTINGS_SECRET = "sage-bridge-test/settings"
IAM = {"accessKey": "AKIATEST", "accountId": "123456789012", "callerId": "AIDATEST",
       "userArn": "arn:aws:iam::123456789012:user/support-sam"}

_module: ModuleType | None = None


def admin_module() -> ModuleType:
    """functions/admin_api/app.py, imported once under a name of its own (every handler is `app`)."""
    global _module
    if _module is None:
        path = ROOT / "functions" / "admin_api" / "app.py"
        spec = importlib.util.spec_from_file_location("admin_api_app_under_test", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _module = module
    return _module


def http_event(method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None,
               iam: dict[str, Any] | None = IAM, headers: dict[str, str] | None = None,
               raw_body: str | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event as the `ANY /admin/{proxy+}` route sends it."""
    pairs = [(k, str(x)) for k, v in (query or {}).items() if v is not None
             for x in (v if isinstance(v, list) else [v])]
    params: dict[str, str] = {}
    for k, v in pairs:
        params[k] = f"{params[k]},{v}" if k in params else v
    context: dict[str, Any] = {
        "accountId": "123456789012", "apiId": "adm1n", "domainName": "adm1n.execute-api.eu-west-2.amazonaws.com",
        "domainPrefix": "adm1n", "requestId": "req-1", "routeKey": "ANY /admin/{proxy+}", "stage": "$default",
        "time": "03/Mar/2025:09:00:00 +0000", "timeEpoch": 1741000000000,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                 "userAgent": "pytest"},
    }
    if iam is not None:
        context["authorizer"] = {"iam": iam}
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "ANY /admin/{proxy+}", "rawPath": path, "rawQueryString": urlencode(pairs),
        "headers": {"host": context["domainName"], "content-type": "application/json", **(headers or {})},
        "requestContext": context, "isBase64Encoded": False,
        "pathParameters": {"proxy": path.removeprefix("/admin/")},
    }
    if params:
        event["queryStringParameters"] = params
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body, default=str)
    return event


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class FakeQueue:
    """The export queue. `worker` set: each job runs at once (a worker that is never late)."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    worker: WorkerDeps | None = None

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.sent.append(body)
        if self.worker is not None:
            handle_export_job(ExportJob.model_validate(body), self.worker)
        return f"m{len(self.sent)}"


class AdminWorld:
    def __init__(self, dynamodb_client: Any, table_name: str, *, sandbox: SageAccountingSandbox | None = None) -> None:
        self.clock = SandboxClock.frozen_at(START)
        self.sandbox = sandbox or SageAccountingSandbox.single_business(clock=self.clock)
        self.http = httpx.Client(transport=self.sandbox.sync_transport(), timeout=10)
        self.kms = boto3.client("kms", region_name="eu-west-2")
        self.secretsmanager = boto3.client("secretsmanager", region_name="eu-west-2")
        self.settings = load_settings({
            "TABLE_NAME": table_name, "IDEMPOTENCY_TABLE_NAME": "idem",
            "TOKEN_KEY_ID": self.kms.create_key()["KeyMetadata"]["KeyId"],
            "EXPORT_QUEUE_URL": "q", "DELIVERY_QUEUE_URL": "q", "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-2:1:t",
            "PAYMENT_POLL_QUEUE_URL": "q",
            "SETTINGS_SECRET_NAME": SETTINGS_SECRET, "PUBLIC_API_URL": PUBLIC_API_URL,
            "SAGE_ACCOUNTING_API_URL": API_BASE_URL, "SAGE_ACCOUNTING_AUTH_URL": AUTHORIZE_URL,
            "SAGE_ACCOUNTING_TOKEN_URL": TOKEN_URL, "SAGE_ACCOUNTING_REVOKE_URL": REVOKE_URL,
        })
        clients = AwsClients(dynamodb=dynamodb_client, kms=self.kms, secretsmanager=self.secretsmanager)
        self.store = Store(table_name, dynamodb_client, clock=self.clock.now)
        self.notifications: list[Any] = []
        self.sa = build_sage_accounting(
            self.settings, store=self.store, clients=clients, http=self.http, clock=self.clock.now,
            sleep=lambda _s: None, notify=self.notifications.append,
            secrets=IntegrationSecrets(sage_accounting_client_id=DEFAULT_CLIENT_ID,
                                       sage_accounting_client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
                                       state_signing_key=SecretStr("k" * 64)),
        )
        self.worker = WorkerDeps(store=self.store, connector_for=lambda tenant_id, _s: self.sa.connector_for(tenant_id),
                                 notify=self.notifications.append)
        self.queue = FakeQueue()
        self.products = SageProducts(self.settings, clients, store=self.store,
                                     built={Provider.SAGE_ACCOUNTING: self.sa})
        self.admin = Admin(store=self.store, products=self.products, worker=self.worker, export_queue=self.queue,
                           webhook_secrets=WebhookSecretStore(SETTINGS_SECRET, clients), clock=self.clock.now)

    # ---- the handler

    def invoke(self, event: dict[str, Any]) -> Answer:
        module = admin_module()
        module.dependencies = lambda: self.admin  # type: ignore[attr-defined]
        result = module.lambda_handler(event, LambdaContext("AdminApiFunction", 256, 30))
        body = result.get("body") or ""
        if result.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        return Answer(result["statusCode"], {k.lower(): v for k, v in (result.get("headers") or {}).items()}, body)

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.invoke(http_event(method, path, body=body, **kwargs))

    # ---- state

    @property
    def ids(self) -> dict[str, str]:
        return self.sandbox.ids

    def tenant_settings(self, **overrides: Any) -> dict[str, Any]:
        ids = self.ids
        return {
            "provider": "sage_accounting",
            "tax_mappings": {"S": "GB_STANDARD", "R": "GB_LOWER", "Z": "GB_ZERO"},
            "ledger_mappings": {"SALES": ids["4000"], "PARTS": ids["5000"]},
            "default_sales_ledger_account_id": ids["4000"], "default_purchase_ledger_account_id": ids["5000"],
            "receipt_bank_account_id": ids["bank"], **overrides,
        }

    def create_tenant(self, tenant_id: str = TENANT, **overrides: Any) -> None:
        self.store.tenants.create(tenant_id, self.tenant_settings(**overrides))

    def connect(self, tenant_id: str = TENANT) -> None:
        now = self.clock.now()
        t = self.sandbox.issue_tokens()
        tokens = TokenSet(access_token=SecretStr(t["access_token"]), refresh_token=SecretStr(t["refresh_token"]),
                          expires_at=now + timedelta(seconds=t["expires_in"]),
                          refresh_expires_at=now + timedelta(seconds=t["refresh_token_expires_in"]))
        self.sa.service.store_new_connection(tenant_id, tokens, business_id=self.sandbox.lead_business_id,
                                             business_name=self.sandbox.business().name)

    def stage(self, record: Any, *, tenant_id: str = TENANT, version: int = 1) -> StagedDocument:
        day = getattr(record, "document_date", None) or getattr(record, "payment_date", None)
        staged = StagedDocument(
            tenant_id=tenant_id, kind=record.kind.value, host_id=record.host_id, ledger=ledger_of(record.kind).value,
            canonical_json=canonical_json(record, ignore=()), payload_hash=payload_hash(record), version=version,
            posting_date=getattr(record, "posting_date", None) or day, document_date=day,
        )
        self.store.documents.put(staged)
        return staged

    def set_tax_rate_visible(self, rate_id: str, visible: bool) -> None:
        record = self.sandbox.business().collections["tax_rates"].get(rate_id)
        assert record is not None
        record.data["is_visible"] = visible

    def advance(self, **delta: float) -> None:
        self.clock.advance(**delta)


def customer(n: int = 1) -> Customer:
    return Customer(host_id=f"CUST-{n}", name=f"Customer {n} Ltd", email=f"ap{n}@customer.example")


def invoice(n: int, *, tax: str = "S", price: str = "100.00", on: date = date(2025, 3, 1),
            total: tuple[str, str] | None = None) -> Any:
    net = Decimal(price)
    rate = {"S": Decimal("0.20"), "R": Decimal("0.05")}.get(tax, Decimal(0))
    vat = (net * rate).quantize(Decimal("0.01"))
    net_s, tax_s = total or (str(net), str(vat))
    party = customer()
    return MODEL_FOR_KIND[DocumentKind.SALES_INVOICE].model_validate({
        "host_id": f"INV-{n}", "number": f"INV-{n:05d}", "party_id": party.host_id,
        "party": party.model_dump(mode="json", exclude_none=True), "document_date": on.isoformat(),
        "currency": "GBP", "status": "pending_payment",
        "lines": [{"description": "Labour", "quantity": "1", "unit_price": price, "tax_code": tax}],
        "totals": {"net": net_s, "tax": tax_s, "total": str(Decimal(net_s) + Decimal(tax_s))},
    })


def now_utc() -> datetime:
    return datetime.now(UTC)
