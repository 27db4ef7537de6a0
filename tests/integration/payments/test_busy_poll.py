"""A busy payment poll costs what changed, not a request per payment: many exported invoices, many
new receipts, and the poll reads Sage in list pages only, DynamoDB in batches and SQS 10 events a
request, while the host still hears each receipt once with the outstanding amount Sage shows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sagebridge.domain import DocumentKind
from tests.integration.export.conftest import document

from .conftest import TENANT, CapturingQueue
from .test_payment_poller import assert_exactly_once, news, sage_id

INVOICES, RECEIPTS = 30, 12


class BatchingQueue(CapturingQueue):
    """The delivery queue with SendMessageBatch; counts SQS requests."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.requests += 1
        return super().send(body, delay_seconds=delay_seconds)

    def send_batch(self, bodies: list[dict[str, Any]]) -> None:
        for start in range(0, len(bodies), 10):
            self.requests += 1
            self.messages.extend(bodies[start:start + 10])


def _count_dynamodb(world: Any) -> list[str]:
    calls: list[str] = []
    world.store.table.client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    return calls


def test_a_busy_poll_reads_list_pages_batches_its_store_and_queue_and_tells_each_receipt_once(world, host):
    world.add_tenant(TENANT)
    for i in range(INVOICES):
        host.stage(document(DocumentKind.SALES_INVOICE, i))
    world.export()
    world.poll()
    world.queue = queue = BatchingQueue()
    acct = world.sandbox.accountant()
    world.clock.advance(minutes=1)
    for i in range(RECEIPTS):
        acct.record_customer_payment(sage_id(world, "sales_invoice", f"INV-{i}"), "50.00")
    world.clock.advance(minutes=1)

    sage_before = len(world.sandbox.request_log)
    dynamodb = _count_dynamodb(world)
    report = world.poll(advance_minutes=15)
    sage = list(world.sandbox.request_log)[sage_before:]

    list_pages = [path for method, path, *_ in sage if method == "GET" and path.count("/") <= 2]
    assert len(sage) <= len(list_pages) + 1, [p for _m, p, *_ in sage if p not in list_pages]
    assert "/v3.1/sales_invoices" in list_pages, "balances read through the list"
    assert len(dynamodb) <= 1.5 * RECEIPTS, sorted(dynamodb)
    events = len(queue.messages)
    assert events == 2 * RECEIPTS and queue.requests <= 0.15 * events, (events, queue.requests)
    assert report.payments_delivered == RECEIPTS

    world.deliver_all()
    told = news(world)
    assert sorted(t for t in told if t[0] == "invoice.payment_received") == sorted(
        ("invoice.payment_received", f"INV-{i}", Decimal("50.00"), Decimal("70.00")) for i in range(RECEIPTS))
    assert len([t for t in told if t[0] == "invoice.part_paid"]) == RECEIPTS
    assert_exactly_once(world)

    # The next poll over the overlap tells nothing again and reads no document.
    again = len(queue.messages)
    world.poll(advance_minutes=15)
    assert len(queue.messages) == again
