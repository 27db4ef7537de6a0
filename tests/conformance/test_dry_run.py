"""A dry run on every product: it says what the real run would do (create, or link to what Sage
holds already) for every document, and writes nothing to Sage, the ledger or the mappings."""

from __future__ import annotations

from typing import Any

from sagebridge.domain import DocumentKind
from sagebridge.domain.kinds import ALL_RECORD_KINDS

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

