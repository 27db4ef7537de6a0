"""Back to the host, and the business's currency, on every product.

Polling back: a receipt the accountant records in Sage against an exported invoice reaches the host
as invoice.payment_received, then invoice.paid or invoice.part_paid with what is still owed, once,
however often the overlapping polls read it. Currency: the business's base currency is Sage's own;
a document in another currency than the contact trades in is skipped with the reason, the others go."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.domain import DocumentKind

from .conftest import TENANT, World, customer, document, line

SI = DocumentKind.SALES_INVOICE
D = Decimal


def test_a_receipt_recorded_in_sage_reaches_the_host_as_payment_received_then_paid_once(world: World):
    world.add_tenant()
    for n in (1, 2):
        world.stage(document(world, SI, n, party=customer(n), lines=[line("100.00")]))  # 120.00 each
    world.export()
    assert world.products.business_currency_for(TENANT, world.connector()) == world.currency  # Sage's own
    world.poll()  # the first poll: nothing moved yet
    assert world.events("invoice.payment_received") == []

    world.clock.advance(minutes=1)
    world.row.record_receipt(world.sandbox, "INV-00001", D("120.00"))  # paid in full
    world.row.record_receipt(world.sandbox, "INV-00002", D("50.00"))  # part paid
    for _ in range(3):  # overlapping windows read the same receipts again
        assert world.poll(advance_minutes=5).outcome == "polled"

    received = {e["data"]["invoice"]["host_id"]: e["data"] for e in world.events("invoice.payment_received")}
    assert {k: D(str(v["allocated_amount"])) for k, v in received.items()} == {"INV-1": D("120.00"),
                                                                                 "INV-2": D("50.00")}
    assert len(world.events("invoice.payment_received")) == 2
    assert [e["data"]["invoice"]["host_id"] for e in world.events("invoice.paid")] == ["INV-1"]
    [part] = world.events("invoice.part_paid")
    assert part["data"]["invoice"]["host_id"] == "INV-2" and D(str(part["data"]["outstanding_amount"])) == D("70.00")
    assert received["INV-1"]["invoice"]["sage_id"] == world.store.mappings.get(TENANT, "sales_invoice", "INV-1").sage_id


def test_a_document_in_another_currency_than_the_business_is_skipped_with_the_reason(world: World):
    world.row.set_base_currency(world.sandbox, "EUR")
    world.add_tenant()
    world.stage(document(world, SI, 1, party=customer(1), currency=world.currency))
    world.stage(document(world, SI, 2, party=customer(2), currency="EUR"))

    world.export()

    [skipped] = world.history("sales_invoice", "INV-1")
    assert (skipped.outcome.value, skipped.reason_code) == ("skipped", "currency_mismatch")
    assert "EUR" in skipped.reason and world.currency in skipped.reason
    assert world.store.ledger.get(TENANT, "sales_invoice", "INV-2").state.value == "exported"
    assert world.copies(SI) == {"INV-00002": 1}
    [told] = world.events("document.skipped")
    assert told["data"]["host_id"] == "INV-1"


def test_many_documents_balances_read_at_once_are_those_read_one_by_one(world: World):
    """What a busy payment poll reads instead of a GET per document (Feed.documents, where the
    product's API can read many at once: every product now)."""
    import pytest

    world.add_tenant()
    for n in (1, 2, 3):
        world.stage(document(world, SI, n, party=customer(n), lines=[line("100.00")]))
    world.export()
    world.clock.advance(minutes=1)
    since = world.clock.now()
    world.clock.advance(minutes=1)
    world.row.record_receipt(world.sandbox, "INV-00001", D("120.00"))
    world.row.record_receipt(world.sandbox, "INV-00002", D("50.00"))
    feed = world.products.product(world.provider).feed_for(TENANT, world.settings_of())
    read_many = getattr(feed, "documents", None)
    if read_many is None:
        pytest.skip(f"{world.provider.value} reads a document's balance one at a time")
    ids = [world.store.mappings.get(TENANT, "sales_invoice", f"INV-{n}").sage_id for n in (1, 2, 3)]
    assert read_many(SI, ids, since) == {i: feed.document(SI, i) for i in ids}


def test_a_busy_poll_costs_a_few_list_pages_not_a_request_per_invoice_and_tells_the_same_news(world: World):
    """Many receipts at once (issue 20): the touched invoices' balances come from list pages
    (Feed.documents), so the poll's Sage requests do not grow with the receipts, and the host hears
    each receipt with the outstanding amount Sage shows, as when balances were read one by one."""
    receipts = 20
    world.add_tenant()
    for n in range(receipts):
        world.stage(document(world, SI, n, party=customer(n % 3), lines=[line("100.00")]))  # 120.00 each
    world.export()
    world.poll()
    world.clock.advance(minutes=1)
    for n in range(receipts - 1):
        world.row.record_receipt(world.sandbox, f"INV-{n:05d}", D("50.00"))
    world.row.record_receipt(world.sandbox, f"INV-{receipts - 1:05d}", D("120.00"))  # paid in full
    assert world.tap is not None
    sent: list[str] = []
    world.tap.after.append(lambda request, _response: sent.append(f"{request.method} {request.url.path}"))

    assert world.poll(advance_minutes=5).outcome == "polled"

    assert len(sent) <= 8, sent  # each stream's page, the balances' pages, a token or session: not 2 per receipt
    received = sorted((e["data"]["invoice"]["host_id"], D(str(e["data"]["allocated_amount"])),
                       D(str(e["data"]["outstanding_amount"]))) for e in world.events("invoice.payment_received"))
    assert received == sorted([(f"INV-{n}", D("50.00"), D("70.00")) for n in range(receipts - 1)]
                              + [(f"INV-{receipts - 1}", D("120.00"), D("0.00"))])
    part = sorted((e["data"]["invoice"]["host_id"], D(str(e["data"]["outstanding_amount"])))
                  for e in world.events("invoice.part_paid"))
    assert part == sorted((f"INV-{n}", D("70.00")) for n in range(receipts - 1))
    assert [e["data"]["invoice"]["host_id"] for e in world.events("invoice.paid")] == [f"INV-{receipts - 1}"]
