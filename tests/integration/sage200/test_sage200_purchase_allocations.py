"""Sage 200 cannot set a vendor credit note against its vendor invoice through its API (purchases.json
has no allocation resource; only sales.json has `/sales_allocations`). A purchase credit note the
host linked to its invoice is exported, its allocation is skipped with the reason the accountant can
act on, the host is told once, and nothing is posted to the sales ledger's allocations."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.connectors.sage200 import mapper
from sagebridge.domain import DocumentKind
from sagebridge.store import LedgerState
from sagebridge.sync.export import PURCHASE_CREDIT_NOTE_ALLOCATION

from ..export.conftest import document, line, vendor
from .conftest import TENANT

D = Decimal
PI, PCN = DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE
KINDS = ["vendor", "purchase_invoice", "purchase_credit_note"]


def test_a_vendor_credit_note_allocation_is_refused_with_the_reason_and_nothing_reaches_sales_allocations(
        world, host):
    world.add_tenant(default_purchase_ledger_account_id="5000")
    acme = vendor(1)
    host.stage(acme)
    host.stage(document(PI, 1, party=acme, lines=[line("100.00")], total=("100.00", "20.00")))
    host.stage(document(PCN, 1, party=acme, lines=[line("25.00")], total=("25.00", "5.00"), invoice_id="PI-1"))

    told_to = {"outbox": world.outbox}  # the host is told through the delivery outbox
    first = world.export(strict=False, kinds=KINDS, engine_options=told_to)
    again = world.export(strict=False, kinds=KINDS, include_retries=True, engine_options=told_to)

    assert world.sandbox.request_count("POST", "sales_allocations") == 0
    books = world.sandbox.accountant()
    [bill] = books.purchase_posted("purchase_invoice")
    assert abs(D(str(bill["document_outstanding_value"]))) == D("120.00")  # left for the accountant
    entry = world.store.ledger.get(TENANT, PURCHASE_CREDIT_NOTE_ALLOCATION, "PCN-1")
    assert entry.state is LedgerState.SKIPPED and "allocate it in Sage 200's purchase ledger" in entry.reason
    assert first.counts["skipped"] == 1 and first.counts["failed"] == 0
    assert again.counts["skipped"] == 0  # said once
    [told] = [e for e in world.events("export.failed") if e["data"]["host_id"] == "PCN-1"]
    assert told["data"]["reason_code"] == "not_supported" and told["data"]["will_retry"] is False
    assert mapper.PURCHASE_ALLOCATION_REFUSED in told["data"]["reason"]
