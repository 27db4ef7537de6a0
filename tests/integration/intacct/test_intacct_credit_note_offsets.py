"""Intacct: Sage Bridge does not apply credit memos to invoices, so a credit note's `invoice_id` and
a payment offsetting a credit note are declared refusals: logged with the reason, the host told,
nothing half-done in Intacct (no receipt, the invoice still owed in full)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sagebridge.domain import CustomerPayment, DocumentKind

from .conftest import TENANT, document, line


def test_defect_06_intacct_refuses_credit_note_allocation_and_offsets_with_the_reason(world, host):
    world.add_tenant()
    host.stage(document(DocumentKind.SALES_INVOICE, 1, lines=[line("100.00")]))  # 120.00
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, lines=[line("25.00")], invoice_id="INV-1"))  # 30.00
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 2, lines=[line("10.00")]))  # 12.00
    host.stage(CustomerPayment(host_id="PAY-1", party_id="CUST-1", payment_date=date(2025, 3, 2),
                               amount=Decimal("108.00"), currency="USD", allocations=[
                                   {"kind": "sales_invoice", "host_id": "INV-1", "amount": "120.00"},
                                   {"kind": "sales_credit_note", "host_id": "CN-2", "amount": "12.00"}]))

    result = world.export(strict=False, engine_options={"outbox": world.outbox})

    books = world.sandbox.accountant()
    assert books.count("ARPYMT") == 0  # no receipt for the offset
    [invoice] = books.list("ARINVOICE")
    assert Decimal(str(invoice["TOTALDUE"])) == Decimal("120.00")
    log = world.store.synclog.for_run(TENANT, result.run_id, limit=100).items
    [refused] = [e for e in log if e.host_id == "CN-1" and e.outcome.value == "skipped"]
    assert refused.reason_code == "not_supported" and "does not apply credit memos" in refused.reason
    [payment] = [e for e in log if e.host_id == "PAY-1"]
    assert payment.outcome.value == "skipped" and "only to sales invoices" in payment.reason
    told = {(m["event"]["type"], m["event"]["data"].get("host_id")) for m in world.queue.messages}
    assert ("export.failed", "CN-1") in told and ("document.skipped", "PAY-1") in told

    again = world.export(strict=False, include_retries=True)  # refused for good: not tried again
    assert again.counts["failed"] == 0
    assert [e for e in world.store.synclog.for_run(TENANT, again.run_id, limit=100).items if e.host_id == "CN-1"] == []
