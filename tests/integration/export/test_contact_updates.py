"""A customer or vendor changed in the host app follows to its Sage contact: `PUT /contacts/{id}` once
per changed version, logged Updated; an unchanged party costs no request at all; a dry run says
"would update" and writes nothing; a contact linked from Sage is updated only when the host changes it."""

from __future__ import annotations

from sagebridge.domain import Customer, DocumentKind
from sagebridge.store import Outcome
from sagebridge.sync.export import CONTACT_HASH

from .conftest import TENANT, customer, document, vendor

SI, PI = DocumentKind.SALES_INVOICE, DocumentKind.PURCHASE_INVOICE
LEEDS = {"lines": ["1 Mill Lane"], "city": "Leeds", "postcode": "LS1 4AB", "country_code": "GB"}
YORK = {"lines": ["9 Stonegate", "Floor 2"], "city": "York", "postcode": "YO1 8AS", "country_code": "GB"}


def _contact(sandbox, store, kind: str, host_id: str) -> dict:
    mapping = store.mappings.get(TENANT, kind, host_id)
    return sandbox.business().collections["contacts"].records[mapping.sage_id].data


def _log(store, run_id: str, kind: str, host_id: str):
    return [e for e in store.synclog.for_run(TENANT, run_id).items if (e.kind, e.host_id) == (kind, host_id)]


def _writes(sandbox) -> int:
    return sum(sandbox.request_count(method=m) for m in ("POST", "PUT", "DELETE"))


def test_a_changed_address_is_sent_to_sage_once_and_logged_updated(export, host, sandbox, store):
    host.stage(customer(1, address=LEEDS, phone="0113 496 0000"))
    host.stage(document(SI, 1, embed_party=False))
    assert export().counts["created"] == 2
    contact_id = store.mappings.get(TENANT, "customer", "CUST-1").sage_id
    assert _contact(sandbox, store, "customer", "CUST-1")["main_address"]["city"] == "Leeds"

    moved = customer(1, address=YORK, phone="01904 555 0101").model_copy(
        update={"email": "accounts@customer1.example"})
    host.stage(moved)
    host.stage(document(SI, 2, embed_party=False))
    host.stage(document(SI, 3, embed_party=False))  # two documents, one update
    puts = sandbox.request_count(method="PUT", path="/contacts")
    result = export()

    assert sandbox.request_count(method="PUT", path=f"/contacts/{contact_id}") - puts == 1
    assert result.counts["updated"] == 1 and result.counts["created"] == 2
    data = _contact(sandbox, store, "customer", "CUST-1")
    assert data["main_address"]["city"] == "York" and data["main_address"]["address_line_2"] == "Floor 2"
    assert data["main_contact_person"]["email"] == "accounts@customer1.example"
    assert data["main_contact_person"]["telephone"] == "01904 555 0101"
    assert data["reference"] and data["contact_types"][0]["id"] == "CUSTOMER"  # identity kept
    [line] = _log(store, result.run_id, "customer", "CUST-1")
    assert line.outcome is Outcome.UPDATED and line.sage_id == contact_id and "changed in the host app" in line.reason
    invoices = sandbox.business().collections["sales_invoices"].records.values()
    assert {i.data["contact"]["id"] for i in invoices} == {contact_id}  # still the same contact


def test_an_unchanged_party_costs_no_request_on_the_next_run(export, host, sandbox, store):
    host.stage(customer(1, address=LEEDS))
    host.stage(vendor(1))
    host.stage(document(SI, 1, embed_party=False))
    host.stage(document(PI, 1, embed_party=True))
    export()
    assert store.mappings.get(TENANT, "customer", "CUST-1").extra[CONTACT_HASH]

    # Same parties, a new invoice each (one embeds its vendor again): one POST per document, nothing else
    # but the run's reference-data reads (tax rates, ledger accounts for the mapping health check) and, per
    # kind and document date, one listing of what Sage already has (going live: a document never
    # exported is looked for before it is created).
    host.stage(document(SI, 2, embed_party=False))
    host.stage(document(PI, 2, embed_party=True))
    before = sandbox.request_count()
    reads = sandbox.request_count(path="/tax_rates") + sandbox.request_count(path="/ledger_accounts")
    result = export()
    assert result.counts["created"] == 2 and result.counts["updated"] == 0
    reads = sandbox.request_count(path="/tax_rates") + sandbox.request_count(path="/ledger_accounts") - reads
    listings = 2  # sales and purchase invoices, all dated 2025-03-01
    assert sandbox.request_count() - before == 2 + listings + reads
    assert sandbox.request_count(method="PUT") == 0 and sandbox.request_count(path="/contacts") == 2

    # A catalog export of unchanged parties asks Sage nothing at all.
    host.stage(customer(1, address=LEEDS))  # a new version with the same content (same hash)
    before = sandbox.request_count()
    result = export(kinds=["customer", "vendor"], export_type="all")
    assert sandbox.request_count() == before
    assert result.counts["unchanged"] == 2 and result.counts["updated"] == 0


def test_catalog_export_updates_changed_customers_and_vendors(export, host, sandbox, store):
    host.stage(customer(1))
    host.stage(vendor(1))
    export(kinds=["customer", "vendor"])
    host.stage(vendor(1, tax_number="GB123456789", address=YORK))
    result = export(kinds=["customer", "vendor"], export_type="all")
    assert result.counts["updated"] == 1 and result.counts["unchanged"] == 1
    assert sandbox.request_count(method="PUT", path="/contacts") == 1
    data = _contact(sandbox, store, "vendor", "VEND-1")
    assert data["tax_number"] == "GB123456789" and data["main_address"]["city"] == "York"
    [line] = _log(store, result.run_id, "vendor", "VEND-1")
    assert line.outcome is Outcome.UPDATED
    again = export(kinds=["customer", "vendor"])
    assert again.counts["updated"] == 0 and sandbox.request_count(method="PUT") == 1


def test_dry_run_would_update_and_writes_nothing(export, host, sandbox, store):
    host.stage(customer(1, address=LEEDS))
    host.stage(document(SI, 1, embed_party=False))
    export()
    mapping = store.mappings.get(TENANT, "customer", "CUST-1")
    host.stage(customer(1, address=YORK))
    host.stage(document(SI, 2, embed_party=False))
    writes = _writes(sandbox)

    plan = export(dry_run=True)

    assert _writes(sandbox) == writes
    assert store.mappings.get(TENANT, "customer", "CUST-1").extra == mapping.extra
    assert _contact(sandbox, store, "customer", "CUST-1")["main_address"]["city"] == "Leeds"
    planned = {(p.kind, p.host_id): p for p in plan.planned}
    would = planned[("customer", "CUST-1")]
    assert would.outcome is Outcome.UPDATED and "would update" in would.message
    assert would.payload is not None and would.payload["main_address"]["city"] == "York"
    assert "reference" not in would.payload
    assert all(e.reason.startswith("dry run") for e in _log(store, plan.run_id, "customer", "CUST-1"))

    real = export()
    assert real.counts["updated"] == 1
    assert _contact(sandbox, store, "customer", "CUST-1")["main_address"]["city"] == "York"


def test_a_contact_linked_from_sage_is_updated_only_when_the_host_changes_it(export, host, sandbox, store):
    # The catalog import filed a Sage customer under host id sage:<id> (origin sage).
    sage_id = sandbox.accountant().create("contacts", {"name": "Sage Side Garage", "contact_type_ids": ["CUSTOMER"],
                                                       "reference": "SSG1"})["id"]
    host_id = f"sage:{sage_id}"
    store.mappings.put(TENANT, "customer", host_id, sage_id, {"origin": "sage", "reference": "SSG1"})

    # The host sends it back as it got it: linked, nothing sent to Sage.
    echoed = Customer(host_id=host_id, name="Sage Side Garage")
    host.stage(echoed)
    host.stage(document(SI, 1, party=echoed, embed_party=False))
    export()
    assert sandbox.request_count(method="PUT") == 0
    extra = store.mappings.get(TENANT, "customer", host_id).extra
    assert extra["origin"] == "sage" and extra[CONTACT_HASH]

    # Now the host changes it: the Sage contact follows, the mapping stays a Sage-origin one.
    host.stage(Customer(host_id=host_id, name="Sage Side Garage", email="hello@ssg.example", address=YORK))
    result = export(kinds=["customer"], export_type="all")
    assert result.counts["updated"] == 1 and sandbox.request_count(method="PUT") == 1
    data = sandbox.business().collections["contacts"].records[sage_id].data
    assert data["main_contact_person"]["email"] == "hello@ssg.example" and data["reference"] == "SSG1"
    assert store.mappings.get(TENANT, "customer", host_id).extra["origin"] == "sage"


def test_silence_a_contact_update_sage_refuses_or_cannot_take_is_told_to_the_host_once(export, host, sandbox, store):
    from local.sandboxes.host_app.outbox import InMemoryOutbox

    host.stage(customer(1, address=LEEDS))
    host.stage(document(SI, 1, embed_party=False))
    export()
    outbox = InMemoryOutbox()

    def told() -> list[tuple[str, bool]]:
        return [(b["event"]["data"]["host_id"], b["event"]["data"]["will_retry"]) for b in outbox.sent
                if b["event_type"] == "export.failed"]

    host.stage(customer(1, address=YORK))
    sandbox.faults.error(503, times=None, method="PUT", path="/contacts")
    for _ in range(2):
        export(engine_options={"outbox": outbox}, kinds=frozenset({"customer"}))
    assert told() == [("CUST-1", True)]

    sandbox.faults.clear()
    sandbox.faults.error(422, times=None, method="PUT", path="/contacts")
    for _ in range(2):
        export(engine_options={"outbox": outbox}, kinds=frozenset({"customer"}))
    assert told() == [("CUST-1", True), ("CUST-1", False)]
