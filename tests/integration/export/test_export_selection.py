"""What a run exports and how runs end: only exportable statuses reach Sage, scheduled runs take
everything staged since the last run (back-dated documents and changed customers included), history
that is already in Sage is linked in any run, and a killed run is closed as abandoned."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from local.sandboxes.host_app.outbox import InMemoryOutbox
from sagebridge.admin.mappings import MappingHealth
from sagebridge.admin.status import ConnectionView, open_failures, tenant_status
from sagebridge.admin.status_page import render_status_page
from sagebridge.domain import Customer, DocumentKind, RunTrigger, TenantSettings
from sagebridge.host.jobs import ExportJob
from sagebridge.store import ConnectionRecord, Store
from sagebridge.sync.export import ExportEngine, ExportRequest
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

from .conftest import TENANT, customer, document, line

SI = DocumentKind.SALES_INVOICE


def add_tenant(store: Store, settings: TenantSettings) -> None:
    store.tenants.create(TENANT, settings.model_dump(mode="json"), enabled=True)
    store.connections.save(ConnectionRecord(TENANT, "sage_accounting", b"sealed", business_id="biz"),
                           expected_version=None)


@pytest.fixture
def deps(store: Store, connector: Any) -> WorkerDeps:
    return WorkerDeps(store=store, connector_for=lambda _tenant, _settings: connector)


@pytest.fixture
def scheduled(store, settings, deps, clock):
    """scheduled(settings_=None) -> the result of one scheduled run, 15 minutes after the previous
    one. The first call creates the connected tenant (with `settings_` if given)."""
    made: list[bool] = []

    def run(settings_: TenantSettings | None = None) -> Any:
        if not made:
            add_tenant(store, settings_ or settings)
            made.append(True)
        clock.advance(minutes=15)
        return handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps)

    return run


def log_of(store: Store, host_id: str, kind: str = "sales_invoice") -> list[Any]:
    return store.synclog.newest(TENANT, kind=kind, host_id=host_id).items


def in_sage(sandbox: Any) -> dict[str, dict[str, Any]]:
    return {i["reference"]: i for i in sandbox.accountant().list("sales_invoices")}


def test_defect_01_drafts_quotes_and_cancelled_documents_never_reach_sage(scheduled, export, host, sandbox, store):
    host.stage(document(SI, 1, status="Draft"))
    host.stage(document(SI, 2, status="quote"))
    host.stage(document(SI, 3, status="Cancelled"))
    host.stage(document(SI, 4))  # pending_payment

    scheduled()
    export(triggered_by="operator")  # export now
    export(triggered_by="replay", documents=(("sales_invoice", "INV-1"),))
    scheduled()

    assert set(in_sage(sandbox)) == {"INV-00004"}
    # Each says why, once per version (an operator's export does not say it again, a replay naming
    # it does), as a skip that waits for a status, not as a failure to fix: the status page does not list it.
    draft = [e for e in log_of(store, "INV-1") if e.outcome.value == "skipped"]
    assert draft and draft[0].reason_code == "status_not_exportable"
    assert "status draft is not exportable" in draft[0].reason and "pending_payment" in draft[0].reason
    assert len(draft) == 2  # first scheduled run, replay; not export now nor the second scheduled run
    assert log_of(store, "INV-3")[0].reason_code == "status_not_exportable"
    assert open_failures(store, TENANT)[0] == []

    # The draft is approved: the next scheduled run exports it.
    host.stage(document(SI, 1, status="pending_payment"))
    # The exported invoice is cancelled in the host: voided in Sage, as a host void would be.
    host.stage(document(SI, 4, status="cancelled"))
    result = scheduled()

    books = in_sage(sandbox)
    assert set(books) == {"INV-00001", "INV-00004"}
    assert books["INV-00001"]["status"]["id"] != "VOID"
    assert books["INV-00004"]["status"]["id"] == "VOID"
    assert result.counts["created"] == 1 and result.counts["updated"] == 1
    assert "cancelled" in log_of(store, "INV-4")[0].reason


def test_defect_04_back_dated_document_staged_after_a_run_is_exported_by_the_schedule(
        scheduled, export, host, sandbox, clock):
    scheduled()  # the tenant's first run: nothing yet
    back_dated = clock.now.date() - timedelta(days=60)
    host.stage(document(SI, 1, on=back_dated))
    host.stage(document(SI, 2, on=clock.now.date()))

    result = scheduled()

    assert set(in_sage(sandbox)) == {"INV-00001", "INV-00002"}
    assert result.counts["created"] == 3  # two invoices and their customer
    # Nothing changed since: the next scheduled run sends nothing.
    calls = len(sandbox.request_log)
    assert scheduled().counts["created"] == 0 and len(sandbox.request_log) == calls
    # An explicit date range still means dates.
    host.stage(document(SI, 3, on=back_dated))
    ranged = export(triggered_by="operator", window_from=clock.now.date() - timedelta(days=7),
                    window_to=clock.now.date())
    assert ranged.counts["created"] == 0 and "INV-00003" not in in_sage(sandbox)


def test_defect_18_a_changed_customer_alone_reaches_sage_on_the_schedule(scheduled, host, sandbox, store):
    host.stage(document(SI, 1))
    scheduled()
    acme = sandbox.accountant()
    contact_id = store.mappings.get(TENANT, "customer", "CUST-1").sage_id

    host.stage(Customer(host_id="CUST-1", name="Customer 1 Renamed Ltd", email="ap1@customer.example"))
    host.stage(customer(2))  # a new customer with no documents yet
    result = scheduled()

    assert acme.get("contacts", contact_id)["name"] == "Customer 1 Renamed Ltd"
    names = {c["name"] for c in acme.list("contacts")}
    assert "Customer 2 Ltd" in names
    assert result.counts["updated"] == 1 and result.counts["created"] == 1
    assert log_of(store, "CUST-2", "customer")[0].outcome.value == "created"


def test_defect_05_history_arriving_after_the_first_run_is_linked_not_created_again(
        scheduled, host, sandbox, store, settings):
    acme = sandbox.accountant()
    existing_contact = acme.create("contacts", {"name": "Customer 1 Ltd", "contact_type_ids": ["CUSTOMER"]})
    acme.create("sales_invoices", {
        "contact_id": existing_contact["id"], "date": "2025-03-01", "reference": "INV-00001",
        "invoice_lines": [{"description": "Labour", "ledger_account_id": sandbox.ids["4000"], "quantity": 1,
                           "unit_price": "100.00", "tax_rate_id": "GB_STANDARD", "tax_amount": "20.00"}]})
    by_name = TenantSettings.model_validate({**settings.model_dump(), "identify_customer_by": "name"})
    # Connect, the first scheduled run (the host sends today's invoice), then the history arrives.
    host.stage(document(SI, 2))
    scheduled(by_name)
    host.stage(document(SI, 1))
    result = scheduled()

    assert acme.count_by_reference("sales_invoices")["INV-00001"] == 1  # not created a second time
    assert sandbox.created_count("sales_invoices") == 1  # only INV-2, in the first run
    assert result.counts["linked"] == 1 and result.counts["created"] == 0
    entry = log_of(store, "INV-1")[0]
    assert entry.outcome.value == "linked" and "found already in Sage" in entry.reason
    assert store.ledger.get(TENANT, "sales_invoice", "INV-1").sage_id == in_sage(sandbox)["INV-00001"]["id"]


@pytest.mark.parametrize("customer_event", [True, False], ids=["customer-sent-alone", "customer-in-the-invoice"])
def test_review_a_twin_in_sage_on_a_contact_we_did_not_map_is_skipped_not_duplicated(
        store, settings, connector, host, sandbox, clock, customer_event):
    outbox = InMemoryOutbox()
    deps = WorkerDeps(store=store, connector_for=lambda _t, _s: connector, outbox=outbox)
    add_tenant(store, settings)  # identify_customer_by: none (the default)

    def scheduled() -> Any:
        clock.advance(minutes=15)
        return handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), deps)

    host.stage(document(SI, 1))
    scheduled()  # the first scheduled run
    # The accountant enters a customer and its invoice directly in Sage...
    acme = sandbox.accountant()
    cafe = acme.create("contacts", {"name": "Harbour Lights Cafe", "reference": "HARB01",
                                    "contact_type_ids": ["CUSTOMER"]})
    acme.create("sales_invoices", {
        "contact_id": cafe["id"], "date": "2025-03-01", "reference": "R-GL1",
        "invoice_lines": [{"description": "Labour", "ledger_account_id": sandbox.ids["4000"], "quantity": 1,
                           "unit_price": "50.00", "tax_rate_id": "GB_STANDARD", "tax_amount": "10.00"}]})
    contacts_before = acme.count("contacts")
    # ... then the host sends the same customer and invoice.
    harbour = Customer(host_id="RC-3", name="Harbour Lights Cafe")
    if customer_event:
        host.stage(harbour)
    host.stage(document(SI, 9, party=harbour, embed_party=not customer_event, number="R-GL1",
                        lines=[line("50.00")], total=("50.00", "10.00")))
    calls = len(sandbox.request_log)
    result = scheduled()

    assert acme.count_by_reference("sales_invoices")["R-GL1"] == 1, "the invoice was created a second time"
    assert result.counts["skipped"] == 1
    entry = log_of(store, "INV-9")[0]
    assert entry.outcome.value == "skipped" and entry.reason_code == "already_in_sage_on_another_contact"
    assert "R-GL1" in entry.reason and "contact 'Harbour Lights Cafe" in entry.reason and "replay" in entry.reason
    told = [b["event"]["data"] for b in outbox.sent if b["event_type"] == "document.skipped"]
    assert [t["host_id"] for t in told] == ["INV-9"] and "Harbour Lights Cafe" in told[0]["reasons"][0]["message"]
    if customer_event:
        return  # a customer sent on its own is exported on its own (identify_customer_by decides how)

    # The customer came only with the invoice: no contact was created for a document that was not sent,
    # and the going-live lookup stayed one listing of the day's invoices.
    assert acme.count("contacts") == contacts_before, "a second Harbour Lights Cafe was created"
    asked = [(m, p) for m, p, _b, _s in list(sandbox.request_log)[calls:] if "tax_rates" not in p
             and "ledger_accounts" not in p]  # the run's mapping health check, once a run
    assert result.counts["created"] == 0 and asked == [("GET", "/v3.1/sales_invoices")], asked
    assert "identify_customer_by" in entry.reason

    # The tenant identifies customers by name and replays the invoice: linked, nothing created.
    by_name = TenantSettings.model_validate({**settings.model_dump(), "identify_customer_by": "name"})
    clock.advance(minutes=1)
    replay = ExportEngine(store=store, connector=connector, settings=by_name).run(ExportRequest(
        tenant_id=TENANT, triggered_by=RunTrigger.REPLAY, documents=(("sales_invoice", "INV-9"),)))
    assert replay.counts["linked"] == 2 and replay.counts["created"] == 0  # the customer and the invoice
    assert acme.count_by_reference("sales_invoices")["R-GL1"] == 1 and acme.count("contacts") == contacts_before
    assert store.mappings.get(TENANT, "customer", "RC-3").sage_id == cafe["id"]


class Frozen:
    """A worker that hangs after Sage answered (until the Lambda timeout kills it): it never
    finishes its run. Released at the end of the test, it dies without touching the store."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def after_sage_call(self, kind: str, host_id: str, remote: Any) -> None:
        self.reached.set()
        self.release.wait(30)
        raise SystemExit("killed")


def test_defect_12_a_killed_run_is_closed_as_abandoned_and_counted(store, settings, connector, host, sandbox,
                                                                    clock):
    add_tenant(store, settings)
    host.stage(document(SI, 1))
    frozen = Frozen()
    dead_deps = WorkerDeps(store=store, connector_for=lambda _t, _s: connector, hooks=frozen, owner="dead")

    def dying_worker() -> None:
        try:
            handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"), dead_deps)
        except SystemExit:
            pass

    worker = threading.Thread(target=dying_worker, daemon=True)
    worker.start()
    try:
        assert frozen.reached.wait(30)
        dead = store.runs.newest(TENANT).items[0]
        assert dead.status.value == "running"

        clock.advance(minutes=16)  # past the dead run's heartbeat, its lease and its claim
        live = handle_export_job(ExportJob(tenant_id=TENANT, trigger="schedule"),
                                 WorkerDeps(store=store, connector_for=lambda _t, _s: connector))

        assert live is not None and live.status.value == "succeeded"
        closed = store.runs.get(TENANT, dead.run_id)
        assert closed.status.value == "abandoned" and closed.finished_at is not None
        assert "heartbeat" in closed.details.get("abandoned", "")
        # The invoice the dead worker sent is adopted, not sent twice.
        assert sandbox.accountant().count_by_reference("sales_invoices")["INV-00001"] == 1
        status = tenant_status(store, TENANT, mapping_health=MappingHealth(checked=False, ok=True),
                               connection=ConnectionView(provider="sage_accounting", state="connected",
                                                         summary="connected"))
        assert status.last_24h.abandoned == 1 and status.last_24h.runs == 2
        assert any("abandoned" in p for p in status.problems)
        assert "Abandoned" in render_status_page(status)
    finally:
        frozen.release.set()
        worker.join(30)
    # The dead worker, woken, cannot reopen or overwrite the closed run.
    assert store.runs.get(TENANT, dead.run_id).status.value == "abandoned"


def test_defect_01_an_invoice_back_in_an_exportable_status_after_its_void_says_why_it_is_not_sent(
        scheduled, host, sandbox, store):
    host.stage(document(SI, 1))
    scheduled()
    host.stage(document(SI, 1, status="draft"))  # reopened for editing in the host app
    scheduled()
    assert in_sage(sandbox)["INV-00001"]["status"]["id"] == "VOID"

    host.stage(document(SI, 1, total=("90.00", "18.00"), lines=[{"description": "Labour", "quantity": "1",
                                                                   "unit_price": "90.00", "tax_code": "S"}]))
    result = scheduled()

    assert result.counts["skipped"] == 1 and sandbox.accountant().count("sales_invoices") == 1
    line = log_of(store, "INV-1")[0]
    assert line.outcome.value == "skipped" and line.reason_code == "locked_in_sage"
    assert "voided in Sage" in line.reason


def test_a_skipped_invoice_is_looked_at_again_by_the_schedule_when_what_it_waited_for_arrives(scheduled, host, sandbox,
                                                                                         store, clock):
    """Out of order: the invoice comes before its customer and is skipped; the customer arrives in a
    later run. The invoice itself did not change, yet the schedule must not leave it behind."""
    scheduled()  # the tenant's first run
    host.stage(document(SI, 1, party=customer(8), embed_party=False))
    first = scheduled()
    assert first.counts["skipped"] == 1 and log_of(store, "INV-1")[0].reason_code == "party_missing"
    quiet = scheduled()  # nothing new: skipped as before, logged once
    assert len(log_of(store, "INV-1")) == 1 and quiet.counts["created"] == 0

    host.stage(customer(8))
    result = scheduled()

    assert "INV-00001" in in_sage(sandbox)
    assert result.counts["created"] == 2  # the customer, then the invoice
    assert log_of(store, "INV-1")[0].outcome.value == "created"
