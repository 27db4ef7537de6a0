"""Intacct: a customer changed in the host app is sent as a generic `update` of its CUSTOMER (name,
tax id, display contact) once per changed version; an unchanged customer sends nothing."""

from __future__ import annotations

from sagebridge.domain import DocumentKind
from sagebridge.store import Outcome

from .conftest import TENANT, customer, document

AUSTIN = {"lines": ["1 Main St"], "city": "Austin", "region": "TX", "postcode": "78701", "country_code": "US"}
DALLAS = {"lines": ["500 Elm St", "Suite 2"], "city": "Dallas", "region": "TX", "postcode": "75202",
          "country_code": "US"}


def test_a_changed_customer_updates_its_intacct_customer_once(world, host):
    world.add_tenant()
    pat = customer(1, address=AUSTIN)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=pat))
    assert world.export().counts["created"] == 2  # the customer and the invoice
    customer_id = world.store.mappings.get(TENANT, "customer", "CUST-1").sage_id

    host.stage(document(DocumentKind.SALES_INVOICE, 2, party=pat))
    world.export()
    assert world.sandbox.request_count("update") == 0  # unchanged: nothing sent

    moved = customer(1, address=DALLAS, phone="+1 214 555 0100", tax_number="75-1234567")
    host.stage(document(DocumentKind.SALES_INVOICE, 3, party=moved))
    host.stage(document(DocumentKind.SALES_INVOICE, 4, party=moved))
    result = world.export()
    assert world.sandbox.request_count("update") == 1 and result.counts["updated"] == 1
    [cust] = world.sandbox.accountant().find("CUSTOMER", "CUSTOMERID", customer_id)
    mail = cust["DISPLAYCONTACT"]["MAILADDRESS"]
    assert mail["CITY"] == "Dallas" and mail["ADDRESS2"] == "Suite 2"
    assert cust["DISPLAYCONTACT"]["PHONE1"] == "+1 214 555 0100" and cust["TAXID"] == "75-1234567"
    [line] = [e for e in world.store.synclog.for_run(TENANT, result.run_id).items if e.kind == "customer"]
    assert line.outcome is Outcome.UPDATED and line.sage_id == customer_id
