"""Back to the host from Sage 200: receipts and credit-note allocations read from
`sales_posted_transactions` (changed since the cursor, `$orderby` + `$top` + `$skip` pages) become
invoice.payment_received / invoice.paid / invoice.part_paid once each; products and tax codes become
item.upserted and tax_rate.upserted through the same poller."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sagebridge.domain import CustomerPayment, DocumentKind
from sagebridge.domain.settings import CatalogImport

from ..export.conftest import customer, document, line


def _exported(world, host, n: int, total: tuple[str, str] = ("100.00", "20.00")) -> dict:
    host.stage(document(DocumentKind.SALES_INVOICE, n, party=customer(1), total=total, lines=[line(total[0])]))
    world.export()
    return world.sandbox.accountant().by_reference("sales_invoice", f"INV-{n:05d}")


def test_receipts_and_allocations_are_polled_back_once_each(world, host):
    world.add_tenant()
    world.sage.client_options["page_size"] = 2  # several pages of changes: $orderby + $top + $skip
    invoices = [_exported(world, host, n) for n in (1, 2, 3)]
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, party=customer(1), total=("10.00", "2.00"),
                        lines=[line("10.00")]))
    world.export()
    note = world.sandbox.accountant().by_reference("sales_credit_note", "CN-00001")
    assert world.poll().count("polled") == 1  # the first poll sets the cursor: nothing moved yet
    assert world.events() == []

    books = world.sandbox.accountant()
    world.clock.advance(minutes=1)
    books.record_receipt(invoices[0]["id"])                      # INV-1 paid in full
    books.record_receipt(invoices[1]["id"], "50.00")             # INV-2 part paid
    books.allocate_credit_note(note["id"], invoices[2]["id"])    # INV-3 part paid by the credit note
    report = world.poll(advance_minutes=15)
    assert report.count("polled") == 1, report.summary()
    received = world.events("invoice.payment_received")
    assert sorted((e["data"]["invoice"]["host_id"], e["data"]["allocated_amount"]) for e in received) == [
        ("INV-1", "120.00"), ("INV-2", "50.00")]
    assert [e["data"]["invoice"]["host_id"] for e in world.events("invoice.paid")] == ["INV-1"]
    part = {e["data"]["invoice"]["host_id"]: e["data"]["outstanding_amount"] for e in world.events("invoice.part_paid")}
    assert part == {"INV-2": "70.00", "INV-3": "108.00"}

    # Polling again (the window overlaps) queues nothing new.
    before = len(world.queue.messages)
    world.poll(advance_minutes=15)
    world.poll(advance_minutes=15)
    assert len(world.queue.messages) == before
    assert world.sandbox.request_count("GET", "sales_posted_transactions") > 0


def test_a_receipt_exported_from_the_host_comes_back_with_its_host_id(world, host):
    world.add_tenant()
    invoice = _exported(world, host, 5)
    world.poll()
    host.stage(CustomerPayment(host_id="PAY-5", party_id="CUST-1", payment_date=date(2025, 3, 3),
                               amount=Decimal("120.00"), currency="GBP",
                               allocations=[{"kind": "sales_invoice", "host_id": "INV-5", "amount": "120.00"}]))
    world.clock.advance(minutes=1)
    world.export()
    world.poll(advance_minutes=15)
    [event] = world.events("invoice.payment_received")
    assert event["data"]["payment"]["host_id"] == "PAY-5"
    assert event["data"]["invoice"]["sage_id"] == str(invoice["id"])
    assert len(world.events("invoice.paid")) == 1
    world.poll(advance_minutes=15)
    assert len(world.events("invoice.payment_received")) == 1


def test_products_and_tax_codes_become_items_and_tax_rates(world):
    world.add_tenant(catalog_import=CatalogImport(items=True, tax_rates=True))
    world.poll()
    items = {e["data"]["code"]: e["data"] for e in world.events("item.upserted")}
    assert set(items) == {"LAB-HOUR", "OIL-5W30", "MOT-TEST"}
    assert items["OIL-5W30"]["sales_price"] == "9.99"
    rates = {e["data"]["name"]: e["data"]["percentage"] for e in world.events("tax_rate.upserted")}
    assert rates["Standard rated"] == "20.00" and rates["Reduced rate"] == "5.00" and len(rates) == 5

    world.poll(advance_minutes=15)
    assert len(world.events("item.upserted")) == 3  # nothing changed: nothing sent

    books = world.sandbox.accountant()
    world.clock.advance(minutes=1)
    books.change("products", books.ids["OIL-5W30"], sales_price=Decimal("10.49"))
    world.poll(advance_minutes=15)
    changed = [e["data"] for e in world.events("item.upserted")][3:]
    assert [(d["code"], d["sales_price"]) for d in changed] == [("OIL-5W30", "10.49")]
