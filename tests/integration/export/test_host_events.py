"""The host hears that a document reached Sage: `document.exported`, delivered signed to the host app
sandbox through the real delivery function, once per version exported, with Sage's id and how it got
there (created, updated, linked to Sage's own copy, voided)."""

from __future__ import annotations

from typing import Any

import pytest

from local.sandboxes.host_app import HostApp
from sagebridge.domain import DocumentKind, TenantSettings
from tests.integration.host.relay import CALLBACK_URL, SECRET, Relay, received

from .conftest import TENANT, document, line

SI = DocumentKind.SALES_INVOICE


@pytest.fixture
def host_app(store: Any) -> HostApp:
    store.tenants.create(TENANT, {"provider": "sage_accounting", "host_callback_url": CALLBACK_URL})
    return HostApp(secrets=[SECRET])


@pytest.fixture
def relay(store: Any, host_app: HostApp) -> Relay:
    return Relay(store, host_app)


def test_document_exported_reaches_the_host_once_per_version_with_the_sage_id(
        export, host, store, host_app, relay):
    host.stage(document(SI, 1))
    first = export(engine_options={"outbox": relay.outbox})
    [told] = received(host_app, "document.exported")
    sage_id = store.ledger.get(TENANT, "sales_invoice", "INV-1").sage_id
    assert told["api_version"] == "1.1" and told["tenant_id"] == TENANT
    assert told["data"] == {"kind": "sales_invoice", "host_id": "INV-1", "number": "INV-00001", "sage_id": sage_id,
                            "run_id": first.run_id, "outcome": "created"}

    # Nothing new: no second event, however many runs.
    export(engine_options={"outbox": relay.outbox})
    export(engine_options={"outbox": relay.outbox}, export_type="all")
    assert len(received(host_app, "document.exported")) == 1

    # A new version, updated in Sage (export type All): told once more, as updated, with the same Sage id.
    host.stage(document(SI, 1, lines=[line("150.00")], total=("150.00", "30.00")))
    second = export(engine_options={"outbox": relay.outbox}, export_type="all")
    assert second.counts["updated"] == 1
    export(engine_options={"outbox": relay.outbox}, export_type="all")
    updated = received(host_app, "document.exported")[1:]
    assert [(e["data"]["outcome"], e["data"]["sage_id"], e["data"]["run_id"]) for e in updated] == [
        ("updated", sage_id, second.run_id)]

    # Voided in the host: voided in Sage, and the host told so.
    host.void("sales_invoice", "INV-1")
    export(engine_options={"outbox": relay.outbox})
    assert [e["data"]["outcome"] for e in received(host_app, "document.exported")] == ["created", "updated", "voided"]
    assert all(r.verified for r in host_app.received)


def test_a_document_found_already_in_sage_is_told_as_linked(export, host, sandbox, store, settings, host_app, relay):
    acme = sandbox.accountant()
    contact = acme.create("contacts", {"name": "Customer 1 Ltd", "contact_type_ids": ["CUSTOMER"]})
    in_sage = acme.create("sales_invoices", {
        "contact_id": contact["id"], "date": "2025-03-01", "reference": "INV-00001",
        "invoice_lines": [{"description": "Labour", "ledger_account_id": sandbox.ids["4000"], "quantity": 1,
                           "unit_price": "100.00", "tax_rate_id": "GB_STANDARD", "tax_amount": "20.00"}]})
    by_name = TenantSettings.model_validate({**settings.model_dump(), "identify_customer_by": "name"})
    host.stage(document(SI, 1))
    result = export(engine_options={"outbox": relay.outbox}, settings_=by_name)
    assert result.counts["linked"] == 2  # the customer and the invoice; only the invoice is a document
    [told] = received(host_app, "document.exported")
    assert told["data"]["outcome"] == "linked" and told["data"]["sage_id"] == in_sage["id"]


def test_a_dry_run_tells_the_host_nothing(export, host, host_app, relay):
    host.stage(document(SI, 1))
    export(engine_options={"outbox": relay.outbox}, dry_run=True)
    assert received(host_app, "document.exported") == []
