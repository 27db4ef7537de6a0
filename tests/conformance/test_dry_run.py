"""A dry run on every product: it says what the real run would do (create, or link to what Sage
holds already) for every document, and writes nothing to Sage, the ledger or the mappings."""

from __future__ import annotations

from typing import Any

import pytest

from sagebridge.domain import DocumentKind
from sagebridge.domain.kinds import ALL_RECORD_KINDS
from sagebridge.store import LedgerState

from .conftest import TENANT, World, customer, document, line, payment

SI, SCN, PAY = DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.CUSTOMER_PAYMENT


def _writes(world: World) -> int:
    """Every create and contact update Sage was sent so far."""
    return sum(world.row.creates(world.sandbox, kind) for kind in ALL_RECORD_KINDS) + \
        world.row.contact_updates(world.sandbox)


def _plan(result: Any) -> dict[tuple[str, str], Any]:
    return {(p.kind, p.host_id): p for p in result.planned}


def test_a_dry_run_plans_every_document_of_a_new_customer_as_would_create(world: World):
    world.add_tenant()
    pat = customer(7)
    world.stage(document(world, SI, 1, party=pat, lines=[line("100.00")]))  # 120.00
    world.stage(document(world, SCN, 1, party=pat, lines=[line("10.00")]))  # 12.00
    world.stage(payment(world, "PAY-1", pat, "60.00", ("sales_invoice", "INV-1", "60.00")))
    before = _writes(world)

    dry = world.export(dry_run=True)

    plan = _plan(dry)
    assert {key: p.outcome.value for key, p in plan.items()} == {
        ("customer", "CUST-7"): "created", ("sales_invoice", "INV-1"): "created",
        ("sales_credit_note", "CN-1"): "created", ("customer_payment", "PAY-1"): "created"}, plan
    assert dry.counts["failed"] == 0 and dry.counts["created"] == 4, dry.counts
    assert "would create" in plan[("sales_invoice", "INV-1")].message
    assert plan[("sales_invoice", "INV-1")].payload  # the body Sage would get
    assert _writes(world) == before
    assert world.store.ledger.find(TENANT, "sales_invoice", "INV-1") is None
    assert world.store.mappings.list(TENANT).items == []

    real = world.export()
    assert real.counts["created"] == 4 and real.counts["failed"] == 0, real.counts
    assert world.copies(SI) == {"INV-00001": 1}


@pytest.mark.parametrize("going_live", [True, False], ids=["first_run", "later_run"])
def test_a_dry_run_plans_a_link_where_the_real_run_links_and_neither_duplicates(world: World, going_live: bool):
    # Another tenant on the same Sage business exported the invoice and its customer.
    world.add_tenant("before")
    pat = customer(1)
    invoice = document(world, SI, 1, party=pat, lines=[line("100.00")])
    paid = payment(world, "PAY-1", pat, "120.00", ("sales_invoice", "INV-1", "120.00"))
    for record in (invoice, paid):
        world.stage(record, tenant_id="before")
    world.export("before")
    in_sage = world.one(SI, "INV-00001")

    # Going live on the same business (the earlier installation disconnected: one business, one
    # tenant): the same customer (found by email) and the same invoice.
    world.disconnect("before")
    world.add_tenant(identify_customer_by="email")
    if not going_live:  # a run before: the documents are looked up by day, not listed for the window
        world.export()
        assert world.store.cursors.get(TENANT, "export") is not None
    for record in (invoice, paid):
        world.stage(record)
    before = _writes(world)

    dry = world.export(dry_run=True)

    plan = _plan(dry)
    assert plan[("customer", "CUST-1")].outcome.value == "linked", plan
    planned = plan[("sales_invoice", "INV-1")]
    assert planned.outcome.value == "linked", planned
    assert "would link" in planned.message and in_sage.sage_id in planned.message, planned.message
    assert plan[("customer_payment", "PAY-1")].outcome.value == "linked", plan  # on the invoice it would link
    assert dry.counts["created"] == 0 and dry.counts["failed"] == 0, dry.counts
    assert _writes(world) == before
    assert world.store.ledger.find(TENANT, "sales_invoice", "INV-1") is None
    assert world.store.mappings.list(TENANT).items == []

    real = world.export()
    assert real.counts["linked"] == 3 and real.counts["created"] == 0, real.counts
    assert world.copies(SI) == {"INV-00001": 1} and list(world.copies(PAY).values()) == [1]
    entry = world.store.ledger.get(TENANT, "sales_invoice", "INV-1")
    assert entry.state is LedgerState.EXPORTED and entry.sage_id == in_sage.sage_id
    assert world.history("sales_invoice", "INV-1")[0].outcome.value == "linked"
    assert _writes(world) == before
