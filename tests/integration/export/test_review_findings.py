"""Findings of the outside review (front-door use): each test drives the real export engine
against the Sage Accounting sandbox and DynamoDB Local."""

from __future__ import annotations

from typing import Any

from local.sandboxes.host_app.outbox import InMemoryOutbox
from sagebridge.domain import DocumentKind, TenantSettings
from sagebridge.host.jobs import ExportJob
from sagebridge.store import ConnectionRecord, LedgerState
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

from .conftest import TENANT, document, line

SI = DocumentKind.SALES_INVOICE


def _skipped_events(outbox: InMemoryOutbox) -> list[dict[str, Any]]:
    return [b["event"]["data"] for b in outbox.sent if b["event_type"] == "document.skipped"]


def _webhook_void(store: Any, host: Any, kind: str, host_id: str) -> None:
    """A `document.voided` as the webhooks function stages it."""
    version = host.versions[(kind, host_id)] + 1
    host.versions[(kind, host_id)] = version
    store.table.transact([store.documents.void_op(TENANT, kind, host_id, version=version)])


def test_review_a_host_void_of_an_invoice_paid_in_sage_is_logged_told_and_listed_once(
        host, sandbox, store, settings, connector, clock):
    outbox = InMemoryOutbox()
    store.tenants.create(TENANT, settings.model_dump(mode="json"), enabled=True)
    store.connections.save(ConnectionRecord(TENANT, "sage_accounting", b"sealed", business_id="biz"),
                           expected_version=None)
    deps = WorkerDeps(store=store, connector_for=lambda _tenant, _settings: connector, outbox=outbox)

    def export() -> Any:  # a scheduled run, an hour after the last
        clock.advance(hours=1)
        return handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps)

    host.stage(document(SI, 6, lines=[line("70.00")], total=("70.00", "14.00")))
    host.stage(document(SI, 7, lines=[line("70.00")], total=("70.00", "14.00")))
    export()
    paid = store.ledger.get(TENANT, "sales_invoice", "INV-6").sage_id
    part = store.ledger.get(TENANT, "sales_invoice", "INV-7").sage_id
    sandbox.accountant().record_customer_payment(paid, "84.00")  # paid in full
    sandbox.accountant().record_customer_payment(part, "20.00")
    clock.advance(hours=1)
    _webhook_void(store, host, "sales_invoice", "INV-6")
    _webhook_void(store, host, "sales_invoice", "INV-7")

    result = export()

    assert result.counts["skipped"] == 2
    for host_id, amount in (("INV-6", "84.00"), ("INV-7", "20.00")):
        entry = store.synclog.newest(TENANT, kind="sales_invoice", host_id=host_id).items[0]
        assert entry.reason_code == "already_paid_in_sage" and amount in entry.reason, (host_id, entry)
        assert any(host_id in f for f in result.failures), result.failures
    assert sorted(e["host_id"] for e in _skipped_events(outbox)) == ["INV-6", "INV-7"]
    open_skips = {e.host_id for e in store.ledger.list_by_state(TENANT, LedgerState.SKIPPED)}
    assert {"INV-6", "INV-7"} <= open_skips  # what the status page lists
    assert sandbox.accountant().get("sales_invoices", paid)["status"]["id"] != "VOID"

    # A later run neither repeats the delivery nor lists it as new again.
    later = export()
    assert len(_skipped_events(outbox)) == 2
    assert not any("INV-6" in f for f in later.failures)


def test_review_a_status_not_exportable_never_says_it_waits_for_a_status_that_is_not_exportable(
        export, host, store, settings):
    # Settings saved before the check refused them: the trigger status is not exportable.
    odd = TenantSettings.model_construct(**{**dict(settings), "exportable_statuses": frozenset({"approved"})})
    host.stage(document(SI, 1, status="pending_payment"))

    result = export(settings_=odd)

    assert result.counts["skipped"] == 1
    entry = store.synclog.newest(TENANT, kind="sales_invoice", host_id="INV-1").items[0]
    assert entry.reason_code == "status_not_exportable"
    waits_for = entry.reason.split("will be exported when its status becomes", 1)[1]
    assert "approved" in waits_for and "pending_payment" not in waits_for, entry.reason


def test_review_a_ledger_account_not_usable_for_the_documents_side_is_a_health_problem_and_a_skip(
        export, host, sandbox, store, settings, connector):
    from sagebridge.admin.mappings import check_mappings

    books = sandbox.accountant()
    books.update("ledger_accounts", sandbox.ids["4000"], {"visible_in_sales": False})  # sales account hidden

    health = check_mappings(settings, connector)

    assert not health.ok
    flagged = {p.setting: p for p in health.problems}
    assert "default_sales_ledger_account_id" in flagged and "ledger_mappings.SALES" in flagged, health.problems
    assert all("visible_in_sales" in flagged[s].message for s in ("default_sales_ledger_account_id",
                                                                  "ledger_mappings.SALES"))
    # A sales-only account used on a purchase invoice: visible_in_expenses is false (Sage's purchases flag).
    host.stage(document(SI, 1, lines=[line("100.00", ledger_code="SALES")]))
    host.stage(document(DocumentKind.PURCHASE_INVOICE, 1, lines=[line("100.00", ledger_code="FUEL")]))
    host.stage(document(DocumentKind.PURCHASE_INVOICE, 2, lines=[line("100.00", ledger_code="SALES")]))
    books.update("ledger_accounts", sandbox.ids["4000"], {"visible_in_sales": True, "visible_in_expenses": False})
    books.update("ledger_accounts", sandbox.ids["7200"], {"visible_in_expenses": False})
    posts = sandbox.request_count(method="POST")

    result = export()

    assert result.counts["failed"] == 0, result.failures
    assert [i["reference"] for i in books.list("sales_invoices")] == ["INV-00001"]
    assert books.count("purchase_invoices") == 0
    for host_id in ("PI-1", "PI-2"):
        entry = store.synclog.newest(TENANT, kind="purchase_invoice", host_id=host_id).items[0]
        assert entry.reason_code == "mapping_not_usable" and "visible_in_expenses" in entry.reason, entry
    assert sandbox.request_count(method="POST") - posts == 2  # the customer and its invoice: no vendor either
