"""The export engine with provider = sage200 on the purchase ledger: vendors become Sage 200
suppliers (created, identified by name, updated), vendor invoices and credit notes purchase invoices
and purchase credit notes whose tax and nominal analysis add up to the header, exactly once: a post
whose answer was lost is found again in `purchase_posted_transactions` by its reference, never
posted twice."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.connectors.sage200 import mapper
from sagebridge.domain import DocumentKind, PartyKind, Vendor
from sagebridge.domain.settings import IdentifyCustomerBy

from ..export.conftest import document, line, vendor
from .conftest import TENANT

PI = DocumentKind.PURCHASE_INVOICE
KINDS = ["vendor", "purchase_invoice"]


def _bill(party, n: int = 1):
    return document(PI, n, party=party, total=("143.33", "26.67"), lines=[
        line("100.00", "1", "S", ledger_code="PARTS", description="Brake discs"),
        line("33.33", "1", "S", description="Pads"),
        line("10.00", "1", "Z", description="Carriage"),
    ])


def test_a_vendor_and_its_invoice_land_as_a_supplier_and_a_purchase_posted_transaction_that_adds_up(world, host):
    world.add_tenant(default_purchase_ledger_account_id="5000")
    acme = vendor(1, address={"lines": ["2 Dock Road"], "city": "Hull", "postcode": "HU1 2AB"})
    host.stage(acme)
    host.stage(_bill(acme))
    assert world.export(kinds=KINDS).counts["created"] == 2

    books = world.sandbox.accountant()
    [made] = [s for s in books.suppliers() if s["name"] == "Vendor 1 Supplies"]
    assert made["reference"] == mapper.contact_reference(PartyKind.VENDOR, "VEND-1")
    assert made["main_address"]["city"] == "Hull"
    assert [c["name"] for c in books.customers() if c["name"] == "Vendor 1 Supplies"] == []
    [bill] = books.purchase_posted("purchase_invoice")
    assert (bill["supplier_id"], bill["reference"]) == (made["id"], "PI-00001")
    assert (Decimal(str(bill["document_goods_value"])), Decimal(str(bill["document_tax_value"]))) == (
        Decimal("143.33"), Decimal("26.67"))
    nominal = {i["code"]: Decimal(str(i["value"])) for i in bill["nominal_analysis_items"]}
    assert nominal == {"4010": Decimal("100.00"), "5000": Decimal("43.33")}
    taxes = {i["code"]: (Decimal(str(i["goods_amount"])), Decimal(str(i["tax_amount"])))
             for i in bill["tax_analysis_items"]}
    assert taxes == {1: (Decimal("133.33"), Decimal("26.67")), 0: (Decimal("10.00"), Decimal("0.00"))}
    assert books.posted() == []  # nothing on the sales ledger
    assert world.store.ledger.get(TENANT, "purchase_invoice", "PI-1").sage_id == str(bill["id"])

    assert world.export(kinds=KINDS).counts["created"] == 0
    assert len(books.purchase_posted()) == 1 and len(books.suppliers()) == 2  # the seeded one and ours


def test_a_purchase_invoice_whose_answer_was_lost_is_found_by_reference_not_posted_twice(world, host):
    world.add_tenant(default_purchase_ledger_account_id="5000")
    acme = vendor(1)
    host.stage(acme)
    host.stage(_bill(acme))
    world.sandbox.faults.drop_after_commit(times=1, method="POST", path="/purchase_invoices")
    world.export(kinds=KINDS, strict=False)
    world.clock.advance(minutes=16)  # past the search settle time and any stale claim
    world.export(kinds=KINDS, strict=False)
    world.export(kinds=KINDS, strict=False)

    books = world.sandbox.accountant()
    [bill] = books.purchase_posted("purchase_invoice")
    assert world.sandbox.request_count("POST", "purchase_invoices") == 1
    entry = world.store.ledger.get(TENANT, "purchase_invoice", "PI-1")
    assert (entry.state.value, entry.sage_id) == ("exported", str(bill["id"]))
    assert world.sandbox.request_count("GET", "purchase_posted_transactions") >= 1


def test_a_vendor_is_identified_by_name_then_updated_in_place(world, host):
    world.add_tenant(identify_customer_by=IdentifyCustomerBy.NAME)
    seeded = world.sandbox.ids["PARTCO01"]
    parts = Vendor(host_id="VEND-7", name="Parts Co Wholesale Ltd", tax_number="GB123456789")
    host.stage(parts)
    result = world.export(kinds=["vendor"])
    assert result.counts["created"] == 0
    assert world.store.mappings.get(TENANT, "vendor", "VEND-7").sage_id == seeded
    assert world.sandbox.request_count("POST", "suppliers") == 0

    host.stage(parts.model_copy(update={"tax_number": "GB987654321"}))
    world.export(kinds=["vendor"])
    supplier = world.sandbox.accountant().get("suppliers", seeded)
    assert (supplier["reference"], supplier["vat_number"]) == ("PARTCO01", "GB987654321")
    assert world.sandbox.request_count("PUT", "suppliers") == 1 and world.sandbox.request_count("PUT", "customers") == 0


def test_a_vendor_credit_note_is_a_purchase_credit_note_negative_on_the_supplier_account(world, host):
    world.add_tenant(default_purchase_ledger_account_id="5000")
    acme = vendor(1)
    host.stage(acme)
    host.stage(document(DocumentKind.PURCHASE_CREDIT_NOTE, 1, party=acme, total=("10.00", "2.00"),
                        lines=[line("10.00", "1", "S", description="Returned discs")]))
    kinds = ["vendor", "purchase_credit_note"]
    assert world.export(kinds=kinds).counts["created"] == 2
    books = world.sandbox.accountant()
    [note] = books.purchase_posted("purchase_credit_note")
    assert note["reference"] == "PCN-00001" and Decimal(str(note["document_gross_value"])) == Decimal("-12.00")
    assert [i["code"] for i in note["nominal_analysis_items"]] == ["5000"]
    assert world.store.ledger.get(TENANT, "purchase_credit_note", "PCN-1").sage_id == str(note["id"])
    assert world.export(kinds=kinds).counts["created"] == 0 and len(books.purchase_posted()) == 1
