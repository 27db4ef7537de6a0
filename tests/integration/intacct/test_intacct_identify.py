"""Intacct: identify an existing customer by email or name (settings.identify_customer_by) before
creating one; the CUSTOMER the bookkeeper already has is linked, not duplicated."""

from __future__ import annotations

import pytest

from sagebridge.domain import Customer, DocumentKind

from .conftest import TENANT, document


@pytest.mark.parametrize("how", ["email", "name"])
def test_defect_08_existing_intacct_customer_is_linked_not_duplicated(world, host, how):
    world.add_tenant(identify_customer_by=how)
    books = world.sandbox.accountant()
    books.add_customers(1, prefix="OWN")  # "Own Customer 000001", c1@own.example, CUSTOMERID OWN-000001
    before = books.count("CUSTOMER")
    name = "Own Customer 000001" if how == "name" else "Owner One (spelt the host's way)"
    pat = Customer(host_id="CUST-1", name=name, email="c1@own.example")
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=pat))

    world.export()

    assert books.count("CUSTOMER") == before  # found, not created again
    assert world.store.mappings.get(TENANT, "customer", "CUST-1").sage_id == "OWN-000001"
    [invoice] = books.list("ARINVOICE")
    assert invoice["CUSTOMERID"] == "OWN-000001"
    assert world.store.synclog.newest(TENANT, kind="customer", host_id="CUST-1").items[0].outcome.value == "linked"
