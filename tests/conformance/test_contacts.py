"""Customers on every product: one changed in the host app is updated in Sage once per changed
version (an unchanged one costs no request), and one the bookkeeper already has in Sage is found by
email or name (settings.identify_customer_by) and linked, not created twice."""

from __future__ import annotations

import pytest

from sagebridge.domain import Customer, DocumentKind, PartyKind
from sagebridge.store import Outcome

from .conftest import TENANT, World, customer, document

SI = DocumentKind.SALES_INVOICE
FIRST = {"lines": ["1 Mill Lane"], "city": "Leeds", "postcode": "LS1 4AB"}
MOVED = {"lines": ["9 Stonegate", "Floor 2"], "city": "York", "postcode": "YO1 8AS"}


def test_a_changed_customer_is_updated_in_sage_once_and_an_unchanged_one_costs_nothing(world: World):
    world.add_tenant()
    world.stage(document(world, SI, 1, party=customer(1, address=FIRST)))
    world.export()
    sage_id = world.store.mappings.get(TENANT, "customer", "CUST-1").sage_id
    assert world.row.contact(world.sandbox, sage_id)["city"] == "Leeds"

    world.stage(document(world, SI, 2, party=customer(1, address=FIRST)))
    world.export()
    assert world.row.contact_updates(world.sandbox) == 0  # unchanged: nothing sent

    moved = customer(1, address=MOVED)
    world.stage(document(world, SI, 3, party=moved))
    world.stage(document(world, SI, 4, party=moved))
    result = world.export()

    assert world.row.contact_updates(world.sandbox) == 1 and result.counts["updated"] == 1
    assert world.row.contact(world.sandbox, sage_id)["city"] == "York"
    assert world.store.mappings.get(TENANT, "customer", "CUST-1").sage_id == sage_id  # the same customer
    [logged] = [e for e in world.store.synclog.for_run(TENANT, result.run_id).items if e.kind == "customer"]
    assert logged.outcome is Outcome.UPDATED
    assert world.copies(SI) == {f"INV-{n:05d}": 1 for n in (1, 2, 3, 4)}


@pytest.mark.parametrize("how", ["email", "name"])
def test_a_customer_the_bookkeeper_already_has_in_sage_is_linked_not_duplicated(world: World, how: str):
    world.add_tenant(identify_customer_by=how)
    sage_id, name, email = world.row.add_customer(world.sandbox)
    before = len(world.held(PartyKind.CUSTOMER))
    # Matched by email, the host may spell the name its own way.
    party = Customer(host_id="CUST-1", name=name if how == "name" else "Own (the host's spelling)", email=email)
    world.stage(document(world, SI, 1, party=party))

    world.export()

    assert len(world.held(PartyKind.CUSTOMER)) == before  # found, not created again
    assert world.store.mappings.get(TENANT, "customer", "CUST-1").sage_id == sage_id
    assert world.copies(SI) == {"INV-00001": 1}
    assert world.history("customer", "CUST-1")[0].outcome.value == "linked"
