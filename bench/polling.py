"""Figure 7: the payment poller on a tenant where nothing changed costs one Sage request per stream.

A live tenant (invoices exported, a payment received and told to the host, the catalog imported
once) is polled twice; the second poll, with nothing new in Sage, is counted. Streams: payments and
allocations changed since, payments and allocations deleted since, and each catalog list the tenant
imports (products, services, tax rates, customers)."""

from __future__ import annotations

from typing import Any

from bench.common import TENANT, Figure, World, customer, invoice, make_world, quiet_logs, stage
from bench.pipeline import run_worker
from local.sandboxes.host_app.outbox import InMemoryOutbox
from local.sandboxes.sage_accounting import SandboxClock
from sagebridge.connectors.sage_accounting.feed import SageAccountingFeed
from sagebridge.domain.settings import CatalogImport
from sagebridge.sync.tenant_polls import poll_tenant

PAYMENT_STREAMS = 4  # contact_payments / contact_allocations, changed and deleted


def live_tenant(invoices: int) -> World:
    clock = SandboxClock.frozen_at()
    world = make_world(clock=clock)
    world.settings = world.settings.model_copy(
        update={"catalog_import": CatalogImport(items=True, tax_rates=True, customers=True)})
    stage(world, (invoice(i, customer(i % 5), embed_party=True) for i in range(invoices)))
    run_worker(world)
    # The accountant records a receipt against the first invoice in Sage.
    first = world.store.ledger.get(TENANT, "sales_invoice", "INV-0")
    assert first.sage_id is not None
    world.sandbox.accountant().record_customer_payment(first.sage_id)
    world.extra["clock"] = clock
    return world


def run(invoices: int = 20) -> list[Figure]:
    quiet_logs()
    world = live_tenant(invoices)
    clock: SandboxClock = world.extra["clock"]
    feed = SageAccountingFeed(world.connector.client)
    outbox = InMemoryOutbox()

    def now() -> Any:
        return clock.now()

    poll_tenant(TENANT, world.settings, feed=feed, store=world.store, outbox=outbox, clock=now)
    clock.advance(minutes=15)
    # The connection service refreshes a token before it expires; here the grant is renewed by hand
    # so a 401 round trip (the bench's shortcut, not the poller's cost) is not counted.
    world.connector.client._token(rejected="expired")
    before = world.sage_requests
    report = poll_tenant(TENANT, world.settings, feed=feed, store=world.store, outbox=outbox, clock=now)
    used = world.sage_requests - before
    paths = [f"{m} {p}" for m, p, *_ in list(world.sandbox.request_log)[before:]]
    wanted = world.settings.catalog_import
    streams = PAYMENT_STREAMS + 2 * wanted.items + wanted.tax_rates + wanted.customers
    world.close()
    assert report.payments is not None
    return [Figure("Sage requests / streams, unchanged poll", used / streams, "== 1",
                   f"{used} requests for {streams} streams; first poll queued {len(outbox.sent)} events"
                   + ("" if used == streams else f"; {paths}"))]
