"""From Intacct back to the host: ARPYMT receipts on exported invoices become payment events
(each delivered once, however often the overlapping polls read them), part-paid / paid with the
outstanding amount; a reversed receipt becomes invoice.payment_reversed; ITEM changes become
item.upserted; Intacct customers come back as customer.upserted (two-way)."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.domain import DocumentKind

from .conftest import TENANT, customer, document, line


def _invoice_keys(world) -> dict[str, str]:
    return {r["RECORDID"]: str(r["RECORDNO"]) for r in world.sandbox.accountant().list("ARINVOICE")}


def test_each_payment_is_delivered_once_with_part_paid_and_paid(world, host):
    world.add_tenant()
    for n in (1, 2):
        host.stage(document(DocumentKind.SALES_INVOICE, n, party=customer(n), lines=[line("100.00", tax="S")]))
    world.export()
    keys = _invoice_keys(world)
    acct = world.sandbox.accountant()
    world.poll()  # the first poll: nothing yet

    world.clock.advance(minutes=3)
    acct.record_payment(keys["INV-00001"], "50.00", reference="CHK-1")
    acct.record_payment(keys["INV-00002"])  # all of it
    for _ in range(3):  # overlapping windows read the same receipts again
        report = world.poll(advance_minutes=2)
        assert report.count("failed") == 0, report.summary()
    world.deliver_all()

    received = world.events("invoice.payment_received")
    assert len(received) == 2
    by_invoice = {e["data"]["invoice"]["host_id"]: e["data"] for e in received}
    assert Decimal(str(by_invoice["INV-1"]["allocated_amount"])) == Decimal("50.00")
    assert Decimal(str(by_invoice["INV-1"]["outstanding_amount"])) == Decimal("70.00")
    assert by_invoice["INV-1"]["payment"]["reference"] == "CHK-1"
    [part] = world.events("invoice.part_paid")
    assert part["data"]["invoice"]["host_id"] == "INV-1"
    [paid] = world.events("invoice.paid")
    assert paid["data"]["invoice"]["host_id"] == "INV-2"

    # The rest of invoice 1, then a reversal of it.
    world.clock.advance(minutes=3)
    second = acct.record_payment(keys["INV-00001"], "70.00")
    world.poll(advance_minutes=2)
    world.clock.advance(minutes=3)
    acct.reverse_payment(second["RECORDNO"])
    world.poll(advance_minutes=2)
    world.poll(advance_minutes=2)
    world.deliver_all()
    assert len(world.events("invoice.payment_received")) == 3
    assert [e["data"]["invoice"]["host_id"] for e in world.events("invoice.paid")] == ["INV-2", "INV-1"]
    [reversed_] = world.events("invoice.payment_reversed")
    assert reversed_["data"]["invoice"]["host_id"] == "INV-1"
    assert Decimal(str(reversed_["data"]["outstanding_amount"])) == Decimal("70.00")


def test_items_and_customers_come_back_to_the_host(world, host):
    world.add_tenant(catalog_import={"items": True, "customers": True})
    report = world.poll()
    world.deliver_all()
    items = {e["data"]["code"]: e["data"] for e in world.events("item.upserted")}
    assert set(items) == {"LAB-HOUR", "OIL-5W30", "MOT"}
    assert items["OIL-5W30"]["item_type"] == "product" and items["LAB-HOUR"]["item_type"] == "service"
    assert Decimal(str(items["LAB-HOUR"]["sales_price"])) == Decimal("85.00")
    customers = {e["data"]["sage_id"] for e in world.events("customer.upserted")}
    assert customers == {"ACME", "GLOBEX"}
    assert report.tenants[0].outcome == "polled"

    # An accountant changes a price: one more item.upserted, nothing else is sent again.
    acct = world.sandbox.accountant()
    [lab] = acct.find("ITEM", "ITEMID", "LAB-HOUR")
    world.clock.advance(minutes=10)
    acct.update("ITEM", lab["RECORDNO"], BASEPRICE=Decimal("90.00"))
    world.poll(advance_minutes=1)
    world.deliver_all()
    prices = [Decimal(str(e["data"]["sales_price"])) for e in world.events("item.upserted")
              if e["data"]["code"] == "LAB-HOUR"]
    assert prices == [Decimal("85.00"), Decimal("90.00")]
    assert len(world.events("customer.upserted")) == 2
    assert world.store.mappings.find(TENANT, "customer", "sage:ACME").sage_id == "ACME"
