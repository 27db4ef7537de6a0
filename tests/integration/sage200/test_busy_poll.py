"""A busy Sage 200 payment poll reads list pages only: the invoices the new receipts were allocated
to are read from the `sales_posted_transactions` list answers (which carry the outstanding value
and the allocation sessions, as the record by id does), not one GET per invoice, and the host hears
the same receipts, part-paid and paid amounts as before."""

from __future__ import annotations

from sagebridge.domain import DocumentKind

from ..export.conftest import customer, document, line

INVOICES = 12


def _poll_requests(world, **poll) -> list[tuple[str, str]]:
    before = len(world.sandbox.request_log)
    world.poll(**poll)
    return [(method, path) for method, path, *_ in list(world.sandbox.request_log)[before:]]


def test_a_busy_poll_reads_invoice_balances_from_list_pages_and_tells_the_same_news(world, host):
    world.add_tenant()
    for n in range(INVOICES):
        host.stage(document(DocumentKind.SALES_INVOICE, n, party=customer(n % 3), total=("100.00", "20.00"),
                            lines=[line("100.00")]))
    world.export()
    books = world.sandbox.accountant()
    invoices = [books.by_reference("sales_invoice", f"INV-{n:05d}") for n in range(INVOICES)]
    world.poll()  # the cursor
    world.clock.advance(minutes=1)
    books.record_receipt(invoices[0]["id"], "30.00")  # told in an earlier poll: settles INV-0 before today's
    world.poll(advance_minutes=15)
    world.clock.advance(minutes=1)
    for invoice in invoices[:-1]:
        books.record_receipt(invoice["id"], "50.00")
    books.record_receipt(invoices[-1]["id"])  # the last paid in full
    told_before = len(world.queue.messages)

    sent = _poll_requests(world, advance_minutes=15)

    by_id = [path for method, path in sent if method == "GET" and path.rsplit("/", 1)[-1].isdigit()]
    assert by_id == [], "no invoice read one at a time"
    pages = [path for method, path in sent if method == "GET" and path == "sales_posted_transactions"]
    assert len(sent) <= len(pages) + 1, sent
    assert len(sent) < INVOICES / 2, sent  # URN lookups 20 a request, not a request per invoice

    news = [m["event"] for m in world.queue.messages[told_before:]]
    received = sorted((e["data"]["invoice"]["host_id"], e["data"]["allocated_amount"], e["data"]["outstanding_amount"])
                      for e in news if e["type"] == "invoice.payment_received")
    assert received == sorted([("INV-0", "50.00", "40.00")] + [(f"INV-{n}", "50.00", "70.00")
                                                                for n in range(1, INVOICES - 1)]
                              + [(f"INV-{INVOICES - 1}", "120.00", "0.00")])
    part = sorted((e["data"]["invoice"]["host_id"], e["data"]["outstanding_amount"])
                  for e in news if e["type"] == "invoice.part_paid")
    assert part == sorted([("INV-0", "40.00")] + [(f"INV-{n}", "70.00") for n in range(1, INVOICES - 1)])
    assert [e["data"]["invoice"]["host_id"] for e in news if e["type"] == "invoice.paid"] == [f"INV-{INVOICES - 1}"]

    # The overlap of the next poll tells nothing again.
    again = len(world.queue.messages)
    world.poll(advance_minutes=15)
    assert len(world.queue.messages) == again
