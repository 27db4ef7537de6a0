"""Sage 200: a customer changed in the host app is sent as `PUT customers/{id}` (validated against
sales.json by the sandbox) once per changed version, keeping Sage's reference; unchanged, nothing."""

from __future__ import annotations

from sagebridge.domain import DocumentKind
from sagebridge.store import Outcome

from ..export.conftest import customer, document
from .conftest import TENANT

LEEDS = {"lines": ["1 Mill Lane"], "city": "Leeds", "postcode": "LS1 4AB"}
YORK = {"lines": ["9 Stonegate", "Floor 2"], "city": "York", "region": "North Yorkshire", "postcode": "YO1 8AS"}


def test_a_changed_customer_is_put_to_sage_200_once(world, host):
    world.add_tenant()
    host.stage(customer(1, address=LEEDS))
    host.stage(document(DocumentKind.SALES_INVOICE, 1, embed_party=False))
    assert world.export().counts["created"] == 2
    sage_id = world.store.mappings.get(TENANT, "customer", "CUST-1").sage_id
    reference = world.sandbox.accountant().get("customers", sage_id)["reference"]

    host.stage(document(DocumentKind.SALES_INVOICE, 2, embed_party=False))
    world.export()
    assert world.sandbox.request_count("PUT") == 0

    host.stage(customer(1, address=YORK, tax_number="GB123456789").model_copy(update={"name": "Customer 1 Group"}))
    host.stage(document(DocumentKind.SALES_INVOICE, 3, embed_party=False))
    host.stage(document(DocumentKind.SALES_INVOICE, 4, embed_party=False))
    result = world.export()
    assert world.sandbox.request_count("PUT", "customers") == 1 and result.counts["updated"] == 1
    made = world.sandbox.accountant().get("customers", sage_id)
    assert made["name"] == "Customer 1 Group" and made["vat_number"] == "GB123456789"
    assert made["main_address"]["city"] == "York" and made["main_address"]["address_2"] == "Floor 2"
    assert made["reference"] == reference
    [line] = [e for e in world.store.synclog.for_run(TENANT, result.run_id).items if e.kind == "customer"]
    assert line.outcome is Outcome.UPDATED
