"""Sage 200 has no idempotency key. Under the chaos profile a write can be committed and answered
503, and Sage's search can lag the write: a lookup that misses proves nothing yet, so the engine
does not send the document again until the connector's settle time has passed. The host is told the
document is in doubt, with when it is looked for again; the next run after that links Sage's copy."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from local.sandboxes.chaos import Chaos
from sagebridge.domain import CustomerPayment, DocumentKind
from sagebridge.store import LedgerState

from ..export.conftest import customer, document
from .conftest import TENANT


def _lagging_search(world, seconds: int = 60) -> None:
    """The chaos profile without its random faults: only the search lag."""
    world.sandbox.chaos = world.sandbox.faults.chaos = Chaos(rate=0, search_lag=timedelta(seconds=seconds))


def _failed_news(world) -> list[tuple[str, str, bool]]:
    return [(e["data"]["host_id"], e["data"]["reason_code"], e["data"]["will_retry"])
            for e in world.events("export.failed")]


def test_chaos_an_invoice_committed_then_answered_503_is_not_sent_again_while_the_search_lags(world, host):
    world.add_tenant()
    _lagging_search(world, seconds=400)  # longer than the connector's 5-minute settle time
    acme = customer(1)
    host.stage(acme)
    world.export(kinds=["customer"])
    world.clock.advance(seconds=500)  # the customer is searchable
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=acme))
    world.sandbox.faults.error_after_commit(503, method="POST", path="/sales_invoices")

    first = world.export(strict=False, engine_options={"outbox": world.outbox})
    books = world.sandbox.accountant()
    assert books.count_by_reference("sales_invoice") == {"INV-00001": 1}
    assert first.counts["failed"] == 1
    entry = world.store.ledger.find(TENANT, "sales_invoice", "INV-1")
    assert entry is not None and entry.state is LedgerState.FAILED and not entry.gave_up
    assert "not sent again" in (entry.reason or "") and "looks for it again" in (entry.reason or "")

    world.clock.advance(minutes=2)  # a scheduled run before the settle time: looks, does not send
    world.export(strict=False, engine_options={"outbox": world.outbox})
    assert books.count_by_reference("sales_invoice") == {"INV-00001": 1}
    assert world.sandbox.request_count("POST", "sales_invoices") == 1

    world.clock.advance(minutes=5)  # settled, and the search shows it: linked, not sent
    world.export(engine_options={"outbox": world.outbox})
    assert books.count_by_reference("sales_invoice") == {"INV-00001": 1}
    assert world.sandbox.request_count("POST", "sales_invoices") == 1
    done = world.store.ledger.find(TENANT, "sales_invoice", "INV-1")
    assert done is not None and done.state is LedgerState.EXPORTED
    assert _failed_news(world) == [("INV-1", "sage_in_doubt", True)]  # told once, never given up


def test_chaos_an_invoice_whose_send_never_landed_is_sent_once_the_search_has_settled(world, host):
    """The 503 came before anything was committed after all: the settled look finds nothing, and
    only then is the invoice sent again, once."""
    world.add_tenant()
    _lagging_search(world, seconds=60)
    acme = customer(1)
    host.stage(acme)
    world.export(kinds=["customer"])
    world.clock.advance(seconds=120)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=acme))
    world.sandbox.faults.error(503, method="POST", path="/sales_invoices")  # refused, nothing written
    world.export(strict=False)
    world.clock.advance(minutes=2)
    world.export(strict=False)  # not settled yet: looks, sends nothing
    books = world.sandbox.accountant()
    assert books.count_by_reference("sales_invoice") == {}
    assert world.sandbox.request_count("POST", "sales_invoices") == 0  # (the refused one is not counted)
    world.clock.advance(minutes=4)
    world.export(strict=False)  # settled, not found: sent (and, the search lagging, parked again)
    assert books.count_by_reference("sales_invoice") == {"INV-00001": 1}
    world.clock.advance(minutes=6)
    world.export()
    assert books.count_by_reference("sales_invoice") == {"INV-00001": 1}
    assert world.sandbox.request_count("POST", "sales_invoices") == 1
    done = world.store.ledger.find(TENANT, "sales_invoice", "INV-1")
    assert done is not None and done.state is LedgerState.EXPORTED


def test_chaos_an_invoice_posted_but_not_yet_listed_is_not_posted_again(world, host):
    """Sage 200 answers a post with a URN and the engine reads the posted transaction by it; while
    the search lags that read finds nothing. The invoice is in Sage: a later run must link it, not
    post it again (found by chaos: the old code failed it as unavailable and the next run, its
    lookup still lagging, posted a second copy)."""
    world.add_tenant()
    _lagging_search(world, seconds=400)
    acme = customer(1)
    host.stage(acme)
    world.export(kinds=["customer"])
    world.clock.advance(seconds=500)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=acme))
    world.export(strict=False)
    world.clock.advance(minutes=2)
    world.export(strict=False)
    books = world.sandbox.accountant()
    assert books.count_by_reference("sales_invoice") == {"INV-00001": 1}
    world.clock.advance(minutes=6)
    world.export()
    assert books.count_by_reference("sales_invoice") == {"INV-00001": 1}
    done = world.store.ledger.find(TENANT, "sales_invoice", "INV-1")
    assert done is not None and done.state is LedgerState.EXPORTED


def test_chaos_a_receipt_committed_then_answered_500_is_not_posted_twice_while_the_search_lags(world, host):
    world.add_tenant()
    _lagging_search(world, seconds=400)
    acme = customer(1)
    host.stage(acme)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=acme, total=("100.00", "20.00")))
    world.export(strict=False)  # posted; its posted transaction is not listed yet: in doubt
    world.clock.advance(seconds=500)
    world.export()  # listed now: linked
    host.stage(CustomerPayment(host_id="R-1", party_id=acme.host_id, party=acme, payment_date=date(2025, 3, 2),
                               amount=Decimal("120.00"), currency="GBP",
                               allocations=[{"kind": "sales_invoice", "host_id": "INV-1", "amount": "120.00"}]))
    world.sandbox.faults.error_after_commit(500, method="POST", path="/sales_receipts")
    world.export(strict=False)
    world.clock.advance(minutes=2)
    world.export(strict=False)
    books = world.sandbox.accountant()
    assert books.count_by_reference("receipt") == {"R-1": 1}
    world.clock.advance(minutes=6)
    world.export()
    assert books.count_by_reference("receipt") == {"R-1": 1}
    entry = world.store.ledger.find(TENANT, "customer_payment", "R-1")
    assert entry is not None and entry.state is LedgerState.EXPORTED
