"""Figure 12 on every product that polls payments: a busy payment poll costs what changed.

Each product is built through its registry line and connected as the conformance suite does (its
product table, tests/conformance/products.py; the same `Tenant` as figure 9, bench/kinds.py). A
tenant exports `invoices` sales invoices (120.00 each), is polled once (not counted), then the
accountant records `receipts` receipts of 50.00 in the product's sandbox, one per invoice, and the
next poll is counted:

- Sage requests against (list pages + 1): every HTTP request the product sends in the poll (token,
  login and session requests included), and of them the ones that read a page of a list (Sage
  Accounting and Sage 200: a GET of a collection; the regional API: a `Get` without an id; Intacct:
  `readByQuery`, `readMore`, or a `read` of many keys). The + 1 is a sign-in or token refresh;
- DynamoDB requests per payment delivered (botocore's before-call hook on the store's client);
- SQS requests per event, the delivery queue counting one request per SendMessage and one per
  SendMessageBatch of up to 10.

The poll must still tell the host what it told before: one `invoice.payment_received` and one
`invoice.part_paid` per receipt (asserted here). Sage's own latency is not modelled (figure 12 on
Sage Accounting at production latency is bench/production.py's); only counts are reported.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from bench.common import DynamoCounter, Figure, quiet_logs
from bench.kinds import PRODUCT_NAMES, SI, TENANT, Tenant, document
from sagebridge.domain.settings import Provider
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.sync.payments import poll_payments

PRODUCTS = ("sage_accounting", "sage_regional", "sage_intacct", "sage200")
NAMES = {**PRODUCT_NAMES, Provider.SAGE_REGIONAL: "Regional"}
RECEIPT = Decimal("50.00")


class CountingQueue:
    """The delivery queue: one request per send, one per SendMessageBatch of up to 10."""

    def __init__(self) -> None:
        self.requests = 0
        self.events: list[dict[str, Any]] = []

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        self.requests += 1
        self.events.append(body)
        return str(len(self.events))

    def send_batch(self, bodies: list[dict[str, Any]]) -> None:
        self.requests += -(-len(bodies) // 10)
        self.events.extend(bodies)


def is_list_page(provider: Provider, request: httpx.Request) -> bool:
    """Does the request read a page of a list (many records), rather than one record by id or a sign-in?"""
    path = request.url.path.rstrip("/")
    last = path.rsplit("/", 1)[-1]
    if provider is Provider.SAGE_INTACCT:
        body = request.content.decode("utf-8", "replace")
        if "<readByQuery>" in body or "<readMore>" in body:
            return True
        return "<read>" in body and "," in body.split("<keys>", 1)[-1].split("</keys>", 1)[0]
    if request.method != "GET":
        return False
    if provider is Provider.SAGE_REGIONAL:
        return last == "Get"
    if provider is Provider.SAGE_200:
        return not last.isdigit() and last != "sites"
    return not last.isdigit() and len(last) != 36 and "/v3.1/" in path  # Sage Accounting: ids are 32-hex


class PollTenant(Tenant):
    """A bench tenant that keeps the requests it sent."""

    def __init__(self, provider: Provider, kms: Any) -> None:
        self.sent: list[httpx.Request] = []
        super().__init__(provider, kms)

    def _count(self, request: httpx.Request) -> None:
        super()._count(request)
        self.sent.append(request)


def busy_poll(provider: Provider, invoices: int, receipts: int, customers: int, kms: Any) -> dict[str, Any]:
    tenant = PollTenant(provider, kms)
    try:
        row, box, clock = tenant.row, tenant.sandbox, tenant.sandbox.clock
        tenant.stage([document(row, SI, i, i % customers) for i in range(invoices)])
        _requests, counts = tenant.export()
        assert counts.get("created", 0) >= invoices, counts  # the customers are created too
        product = tenant.products.product(provider)
        settings = tenant.products.settings_of(TENANT)
        queue = CountingQueue()
        outbox = DeliveryOutbox(queue, tenant.store.deliveries)  # type: ignore[arg-type]

        def poll() -> Any:
            feed = product.feed_for(TENANT, settings)  # a feed per poll, as the poller builds it
            return poll_payments(TENANT, feed=feed, store=tenant.store, outbox=outbox, clock=clock.now)

        poll()  # the quiet poll before
        clock.advance(minutes=5)
        for i in range(receipts):
            row.record_receipt(box, f"INV-{i:05d}", RECEIPT)
        clock.advance(minutes=10)
        counter = DynamoCounter(tenant.store.table.client)
        before, queue.requests, queue.events = len(tenant.sent), 0, []
        report = poll()
        requests = tenant.sent[before:]
        pages = [r for r in requests if is_list_page(provider, r)]
        told = sorted(str(e["event"]["type"]) for e in queue.events)
        assert told.count("invoice.payment_received") == receipts and told.count("invoice.part_paid") == receipts, \
            (provider, told)
        others = [f"{r.method} {r.url.path}" for r in requests if r not in pages]
        return {"sage": len(requests), "list_pages": len(pages), "others": others,
                "dynamodb": counter.total, "dynamodb_calls": dict(counter.calls), "sqs": queue.requests,
                "events": len(queue.events), "payments": report.payments_delivered,
                "documents_read": report.documents_read}
    finally:
        tenant.close()


def run(invoices: int = 1000, receipts: int = 300, customers: int = 20,
        products: tuple[str, ...] = PRODUCTS) -> list[Figure]:
    import boto3
    from moto import mock_aws

    quiet_logs()
    figures: list[Figure] = []
    with mock_aws():  # KMS seals the product's connection; DynamoDB is DynamoDB Local
        kms = boto3.client("kms", region_name="eu-west-2")
        for provider in (Provider(p) for p in products):
            poll = busy_poll(provider, invoices, receipts, customers, kms)
            name = NAMES[provider]
            others = poll["others"]
            others = (f"; not list pages ({len(others)}): {others[:3]}" + (" ..." if len(others) > 3 else "")
                      if others else "")
            figures += [
                Figure(f"12 {name} busy poll ({invoices}/{receipts}): Sage / (pages+1)",
                       poll["sage"] / (poll["list_pages"] + 1), "<= 1",
                       f"{poll['sage']} requests, {poll['list_pages']} list pages{others}"),
                Figure(f"12   {name} DynamoDB requests per payment", poll["dynamodb"] / max(1, poll["payments"]),
                       "<= 1.5", f"{poll['dynamodb']} for {poll['payments']} payments: {poll['dynamodb_calls']}"),
                Figure(f"12   {name} SQS requests per event", poll["sqs"] / max(1, poll["events"]), "<= 0.15",
                       f"{poll['sqs']} for {poll['events']} events"),
            ]
    return figures


__all__ = ["run"]
