"""One unsupported document does not stop a Sage Intacct run: it is skipped with the connector's
declared reason, the host is told, and the documents staged beside it are exported."""

from __future__ import annotations

from sagebridge.domain import CustomerPayment, CustomerRefund, DocumentKind
from sagebridge.domain.kinds import ALL_RECORD_KINDS

from .conftest import TENANT, customer, document, line


def test_defect_19_a_staged_customer_refund_is_skipped_and_the_run_goes_on(world, host):
    world.add_tenant(export_kinds=sorted(k.value for k in ALL_RECORD_KINDS))
    pat = customer(1)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=pat, lines=[line("100.00", tax="S")]))
    host.stage(CustomerRefund.model_validate({
        "host_id": "REF-1", "party_id": pat.host_id, "payment_date": "2025-03-04", "amount": "10.00",
        "currency": "USD"}))
    host.stage(CustomerPayment.model_validate({
        "host_id": "PAY-1", "party_id": pat.host_id, "payment_date": "2025-03-05", "amount": "120.00",
        "currency": "USD", "allocations": [{"kind": "sales_invoice", "host_id": "INV-1", "amount": "120.00"}]}))

    result = world.export(strict=False, engine_options={"outbox": world.outbox}, include_retries=True)

    assert result.status.value == "succeeded"
    assert (result.counts["created"], result.counts["skipped"], result.counts["failed"]) == (3, 1, 0)
    acct = world.sandbox.accountant()
    assert len(acct.list("ARINVOICE")) == 1 and len(acct.list("ARPYMT")) == 1
    [entry] = world.store.synclog.newest(TENANT, kind="customer_refund", host_id="REF-1").items
    assert (entry.outcome.value, entry.reason_code) == ("skipped", "not_supported")
    assert "refunds are not exported to Sage Intacct" in entry.reason
    [told] = [m["event"]["data"] for m in world.queue.messages if m["event_type"] == "document.skipped"]
    assert told["host_id"] == "REF-1" and told["reasons"][0]["code"] == "not_supported"
