"""A bulk export on the regional product never trips Sage's hour-long block: N invoices for 20
customers through the export worker against the regional sandbox's own limiter (100 a minute per
company, then an hour's block), on the conformance world's virtual clock. 0 429s, every invoice
exactly once, and the achieved rate printed against the limit (REGIONAL_BULK_INVOICES, default 300;
the issue's 2,000 with REGIONAL_BULK_INVOICES=2000)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from sagebridge.domain import DocumentKind
from sagebridge.domain.settings import Provider
from tests.conformance.conftest import (  # noqa: F401  (the conformance world's fixtures)
    World,
    customer,
    document,
    kms,
    line,
    world,
)

INVOICES = int(os.environ.get("REGIONAL_BULK_INVOICES", "300"))


@pytest.fixture
def provider() -> Provider:
    return Provider.SAGE_REGIONAL


@pytest.mark.slow
def test_a_bulk_export_stays_under_the_limit_and_sends_each_invoice_once(world: World):  # noqa: F811
    world.add_tenant()
    for n in range(1, INVOICES + 1):
        world.stage(document(world, DocumentKind.SALES_INVOICE, n, party=customer(n % 20 + 1),
                             lines=[line(f"{n}.00"), line("9.99", "2", tax="R", ledger_code="PARTS")]))
    box = world.sandbox
    started, sent_before = world.clock.now(), box.request_count()
    for _ in range(20):
        world.export(trigger="admin")
        if len(world.held(DocumentKind.SALES_INVOICE)) == INVOICES:
            break
    minutes = (world.clock.now() - started).total_seconds() / 60
    requests = box.request_count() - sent_before
    print(f"\nsage_regional bulk: {INVOICES} invoices, {requests} requests in {minutes:.1f} virtual minutes = "
          f"{requests / minutes:.1f} a minute (limit 100), 429s: {box.throttled['rate']}")
    assert box.throttled["rate"] == 0
    assert Counter(h.reference for h in world.held(DocumentKind.SALES_INVOICE)).most_common(1)[0][1] == 1
    assert len(world.held(DocumentKind.SALES_INVOICE)) == INVOICES
    assert requests / minutes <= 61
