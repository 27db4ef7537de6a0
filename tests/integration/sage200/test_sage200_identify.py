"""Sage 200: identify an existing customer by email or name (settings.identify_customer_by) before
creating one; the customer the bookkeeper already has is linked, not duplicated."""

from __future__ import annotations

import pytest

from sagebridge.domain import DocumentKind
from sagebridge.domain.settings import IdentifyCustomerBy

from ..export.conftest import customer, document
from .conftest import TENANT


@pytest.mark.parametrize("how", ["email", "name"])
def test_defect_08_existing_sage_200_customer_is_linked_not_duplicated(world, host, how):
    world.add_tenant(identify_customer_by=IdentifyCustomerBy(how))
    books = world.sandbox.accountant()
    name = "Customer 1 Ltd" if how == "name" else "C1 (bookkeeper's spelling)"
    with world.sandbox.lock:
        existing = books.books.post("customers", {
            "reference": "OWN001", "name": name,
            "contacts": [{"first_name": "Accounts",
                          "emails": [{"email": "ap1@customer.example", "is_default": True}]}]})
    before = len(books.customers())
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=customer(1)))

    world.export()

    assert len(books.customers()) == before  # found, not created again
    assert world.store.mappings.get(TENANT, "customer", "CUST-1").sage_id == str(existing["id"])
    assert books.by_reference("sales_invoice", "INV-00001")["customer_id"] == existing["id"]
    assert world.store.synclog.newest(TENANT, kind="customer", host_id="CUST-1").items[0].outcome.value == "linked"
