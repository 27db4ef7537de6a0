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
