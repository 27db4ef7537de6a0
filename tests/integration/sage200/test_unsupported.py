"""One unsupported document does not stop a Sage 200 run: a vendor or purchase document is skipped
with the connector's declared reason, the host is told, and the customer payment beside it posts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sagebridge.domain import CustomerPayment, DocumentKind
from sagebridge.domain.kinds import ALL_RECORD_KINDS

from ..export.conftest import customer, document, vendor
from .conftest import TENANT


def test_defect_19_a_staged_vendor_and_purchase_invoice_are_skipped_and_the_payment_posts(world, host):
    world.add_tenant(export_kinds=ALL_RECORD_KINDS, default_purchase_ledger_account_id="5000")
    party = customer(1)
    host.stage(vendor(1))
    host.stage(document(DocumentKind.PURCHASE_INVOICE, 1, party=vendor(1), total=("100.00", "20.00")))
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=party, total=("100.00", "20.00")))
    host.stage(CustomerPayment(host_id="PAY-1", party_id=party.host_id, payment_date=date(2025, 3, 2),
                               amount=Decimal("120.00"), currency="GBP", allocations=[
                                   {"kind": "sales_invoice", "host_id": "INV-1", "amount": "120.00"}]))

    result = world.export(strict=False, engine_options={"outbox": world.outbox}, include_retries=True)

    assert result.status.value == "succeeded"
    assert result.counts["failed"] == 0 and result.counts["skipped"] == 1, result.failures
    books = world.sandbox.accountant()
    assert books.by_reference("receipt", "PAY-1") is not None
    assert len(books.posted("sales_invoice")) == 1
    [entry] = world.store.synclog.newest(TENANT, kind="purchase_invoice", host_id="PI-1").items
    assert (entry.outcome.value, entry.reason_code) == ("skipped", "not_supported")
    assert "Sage 200" in entry.reason and "purchase invoice" in entry.reason
    told = [m["event"]["data"] for m in world.queue.messages if m["event_type"] == "document.skipped"]
    assert [t["host_id"] for t in told] == ["PI-1"]

    # The next scheduled run goes on too (no crash on the vendor, nothing new to tell).
    again = world.export(strict=False, engine_options={"outbox": world.outbox}, include_retries=True)
    assert again.status.value == "succeeded" and again.counts["failed"] == 0
    assert [m["event"]["data"]["host_id"] for m in world.queue.messages
            if m["event_type"] == "document.skipped"] == ["PI-1"]
