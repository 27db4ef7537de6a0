"""Items, tax rates and customers come from Sage on the poller's schedule; a customer made in Sage
is never exported back as a new contact; an unchanged tenant costs one Sage request per stream."""

from __future__ import annotations

import json
from pathlib import Path

from local.runtime import LambdaContext
from sagebridge.domain import Customer, DocumentKind
from sagebridge.domain.settings import CatalogImport, Provider
from sagebridge.sync.products import SageProducts
from tests.integration.export.conftest import customer, document
from tests.integration.host.conftest import load_handler_module

from .conftest import TENANT, CapturingQueue

ROOT = Path(__file__).resolve().parents[3]
EVERYTHING = CatalogImport(items=True, tax_rates=True, customers=True)
# One request per stream: payments and allocations changed and deleted, products, services,
# tax rates and customers.
STREAMS = ("/contact_payments", "/contact_allocations", "/products", "/services", "/tax_rates", "/contacts")


def test_items_tax_rates_and_customers_arrive_once_per_version(world):
    world.add_tenant(TENANT, catalog_import=EVERYTHING, replace_host_tax_types=True)
    acct = world.sandbox.accountant()
    oil = acct.create("products", {"item_code": "OIL-5W30", "description": "Engine oil 5W-30 (5 l)",
                                   "cost_price": "18.40", "sales_tax_rate_id": "GB_STANDARD"})
    acct.create("services", {"item_code": "LAB-STD", "description": "Labour, standard rate"})
    newco = acct.create("contacts", {"name": "Newco Motors", "contact_type_ids": ["CUSTOMER"], "reference": "NEWCO",
                                     "main_contact_person": {"name": "Ann", "email": "ann@newco.example"}})
    acct.create("contacts", {"name": "A Supplier", "contact_type_ids": ["VENDOR"], "reference": "SUPP"})

    world.poll()
    world.poll(advance_minutes=2)
    world.deliver_all()

    items = {e["data"]["code"]: e["data"] for e in world.events("item.upserted")}
    assert set(items) == {"OIL-5W30", "LAB-STD"}
    assert items["OIL-5W30"]["item_type"] == "product" and items["OIL-5W30"]["purchase_price"] == "18.40"
    assert items["OIL-5W30"]["tax_code"] == "GB_STANDARD" and items["LAB-STD"]["item_type"] == "service"
    rates = {e["data"]["code"]: e["data"] for e in world.events("tax_rate.upserted")}
    assert set(rates) == {"GB_STANDARD", "GB_LOWER", "GB_ZERO", "GB_EXEMPT", "GB_NO_TAX"}
    assert rates["GB_STANDARD"]["percentage"] == "20.00"
    assert all(r["replace_host_tax_types"] for r in rates.values())
    customers = {e["data"]["name"]: e["data"] for e in world.events("customer.upserted")}
    assert set(customers) == {"Acme Garages Ltd", "Brightwell Plumbing", "Cobalt Facilities plc", "Newco Motors"}
    assert customers["Newco Motors"] | {"updated_at": None} == customers["Newco Motors"] | {
        "host_id": f"sage:{newco['id']}", "sage_id": newco["id"], "origin": "sage", "email": "ann@newco.example",
        "updated_at": None}
    mapping = world.store.mappings.get(TENANT, "customer", f"sage:{newco['id']}")
    assert mapping.sage_id == newco["id"] and mapping.extra["origin"] == "sage"

    # A product changed in Sage is sent again (its new version), nothing else is.
    before = len(world.events())
    world.clock.advance(minutes=10)
    acct.update("products", oil["id"], {"description": "Engine oil 5W-30 (4 l)"})
    world.poll(advance_minutes=1)
    world.poll(advance_minutes=1)
    world.deliver_all()
    assert [(e["type"], e["data"]["description"]) for e in world.events()[before:]] == [
        ("item.upserted", "Engine oil 5W-30 (4 l)")]
    assert len(set(world.host_app.delivered_ids())) == len(world.host_app.delivered_ids())


def test_a_customer_from_sage_is_never_exported_back(world, host):
    world.add_tenant(TENANT, catalog_import=CatalogImport(customers=True))
    acct = world.sandbox.accountant()
    newco = acct.create("contacts", {"name": "Newco Motors", "contact_type_ids": ["CUSTOMER"], "reference": "NEWCO"})
    world.poll()
    world.deliver_all()
    event = next(e for e in world.events("customer.upserted") if e["data"]["sage_id"] == newco["id"])

    # The host files the customer under the id it was given and sends it back with an invoice for it,
    # as two-way sync does; and a customer of its own with another invoice.
    returned = Customer(host_id=event["data"]["host_id"], name="Newco Motors")
    host.stage(returned)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=returned))
    host.stage(document(DocumentKind.SALES_INVOICE, 2, party=customer(7)))
    contacts_before = acct.count("contacts")
    world.export(kinds=frozenset({"customer", "sales_invoice"}))

    assert acct.count("contacts") == contacts_before + 1  # CUST-7 only: Newco is linked, not created
    invoice = next(i for i in acct.list("sales_invoices") if i["reference"] == "INV-00001")
    assert invoice["contact"]["id"] == newco["id"]

    # Nor does the contact we just created for CUST-7 come back to the host as news from Sage.
    seen = len(world.events("customer.upserted"))
    world.poll(advance_minutes=15)
    world.deliver_all()
    assert len(world.events("customer.upserted")) == seen


def test_an_unchanged_tenant_costs_one_request_per_stream(world, host):
    world.add_tenant(TENANT, catalog_import=EVERYTHING)
    host.stage(document(DocumentKind.SALES_INVOICE, 1))
    world.export()
    world.poll()  # the first catalog import reads everything
    business = world.sandbox.lead_business_id

    for _ in range(3):
        counts = {path: world.sandbox.request_count(business, "GET", path) for path in STREAMS}
        total = world.sandbox.request_count(business)
        world.poll(advance_minutes=15)
        spent = {path: world.sandbox.request_count(business, "GET", path) - counts[path] for path in STREAMS}
        assert spent == {"/contact_payments": 2, "/contact_allocations": 2, "/products": 1, "/services": 1,
                         "/tax_rates": 1, "/contacts": 1}  # payments and allocations: changed + deleted
        assert world.sandbox.request_count(business) - total == 8

    # A payment costs one more request: the invoice it touched, read once.
    world.sandbox.accountant().record_customer_payment(world.store.mappings.get(TENANT, "sales_invoice",
                                                                                "INV-1").sage_id, "10.00")
    total = world.sandbox.request_count(business)
    world.poll(advance_minutes=15)
    assert world.sandbox.request_count(business) - total == 9
    assert world.sandbox.request_count(business, "GET", "/sales_invoices") >= 1


def test_the_handlers_poll_on_the_schedule_event(world, monkeypatch):
    """The schedule fans out one job per tenant; the worker polls it (payments, then the catalog)."""
    world.add_tenant(TENANT)
    jobs = CapturingQueue()
    poller = load_handler_module("payment_poller")
    monkeypatch.setattr(poller, "dependencies", lambda: (world.store, jobs))
    event = json.loads((ROOT / "events" / "payment_poller.json").read_text())
    result = poller.lambda_handler(event, LambdaContext("payment_poller", 512, 30))
    assert result["queued"] == [TENANT] and len(jobs.messages) == 1

    worker = load_handler_module("payment_poll_worker")
    products = SageProducts(world.sage.settings, store=world.store, outbox=world.outbox,
                            built={Provider.SAGE_ACCOUNTING: world.sage})
    monkeypatch.setattr(worker, "dependencies", lambda: products)
    record = json.loads((ROOT / "events" / "payment_poll_worker.json").read_text())["Records"][0]
    batch = {"Records": [record | {"body": json.dumps(jobs.messages[0])}]}
    assert worker.lambda_handler(batch, LambdaContext("payment_poll_worker", 512, 300)) == {"batchItemFailures": []}
    assert world.store.cursors.get(TENANT, "sage_payments") is not None
