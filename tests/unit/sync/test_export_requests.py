"""Pure parts of the engine: deterministic keys, and how a job becomes an export run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from sagebridge.domain import DateBasis, DocumentKind, PartyKind, RunTrigger, TenantSettings
from sagebridge.domain.settings import ExportType
from sagebridge.host.jobs import ExportJob
from sagebridge.sync.export import ExportRequest, idempotency_key, void_hash
from sagebridge.sync.scheduling import request_for_job

SETTINGS = TenantSettings(provider="sage_accounting")


@dataclass
class Cursor:
    position: str
    updated_at: datetime


def store_with_cursor(position: str | None):
    cursor = Cursor(position, datetime.now(UTC)) if position else None
    return SimpleNamespace(cursors=SimpleNamespace(get=lambda tenant, stream: cursor))


def test_idempotency_key_is_deterministic_per_version():
    a = idempotency_key("acme", "sales_invoice", "INV-1", "h1")
    assert a == idempotency_key("acme", "sales_invoice", "INV-1", "h1") and len(a) == 64
    assert a != idempotency_key("acme", "sales_invoice", "INV-1", "h2")
    assert a != idempotency_key("globex", "sales_invoice", "INV-1", "h1")
    assert void_hash("h1") != "h1" and void_hash("h1") == void_hash("h1")


def test_request_normalises_words():
    request = ExportRequest(tenant_id="acme", kinds=frozenset({"sales_invoice", "customer"}), export_type="all",
                            date_basis="document", triggered_by="operator")
    assert request.kinds == {DocumentKind.SALES_INVOICE, PartyKind.CUSTOMER}
    assert request.export_type is ExportType.ALL and request.date_basis is DateBasis.DOCUMENT
    assert request.triggered_by is RunTrigger.OPERATOR


def test_a_document_job_exports_just_those_documents():
    job = ExportJob(tenant_id="acme", trigger="webhook", documents=[{"kind": "sales_invoice", "host_id": "I1"}])
    request = request_for_job(job, SETTINGS, store_with_cursor(None))
    assert request is not None and request.documents == (("sales_invoice", "I1"),)
    assert request.triggered_by is RunTrigger.STATUS_CHANGE and not request.include_retries


def test_first_scheduled_job_exports_everything_then_what_was_staged_since_the_last_run():
    job = ExportJob(tenant_id="acme", trigger="schedule", scheduled_for="2025-03-03T09:15:00+00:00")
    first = request_for_job(job, SETTINGS, store_with_cursor(None))
    assert first is not None and first.window_from is None and first.staged_since is None
    assert first.include_retries
    later = request_for_job(job, SETTINGS, store_with_cursor("2025-03-01T09:00:00+00:00"),
                            overlap=timedelta(minutes=5))
    assert later is not None and later.window_from is None and later.window_to is None
    assert later.staged_since == datetime(2025, 3, 1, 8, 55, tzinfo=UTC) and later.include_retries


def test_a_scheduled_job_older_than_the_last_run_is_dropped():
    job = ExportJob(tenant_id="acme", trigger="schedule", scheduled_for="2025-03-03T09:15:00+00:00")
    assert request_for_job(job, SETTINGS, store_with_cursor("2025-03-03T09:16:00+00:00")) is None


def test_an_operator_dry_run_with_a_range():
    job = ExportJob(tenant_id="acme", trigger="admin", dry_run=True, kinds=["purchase_invoice"],
                    window_from=date(2025, 1, 1), window_to=date(2025, 1, 31), export_type="all",
                    requested_by="ops@vendor.example")
    request = request_for_job(job, SETTINGS, store_with_cursor(None))
    assert request is not None and request.dry_run and request.kinds == {DocumentKind.PURCHASE_INVOICE}
    assert (request.window_from, request.window_to) == (date(2025, 1, 1), date(2025, 1, 31))
    assert request.requested_by == "ops@vendor.example" and request.export_type is ExportType.ALL
