"""The export engine on Intacct for what the XML gateway cannot take and for dimensions: a customer
refund is skipped with the one reason that says why and what to do, and the host is told once;
every line of invoices, AR adjustments, bills and AP adjustments carries the tenant's location,
department and class, the bill its own host-location custom field; a class Intacct does not hold
fails the document with Intacct's reason."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sagebridge.connectors.sage_intacct.mapper import REFUND_NOT_EXPORTED
from sagebridge.domain import CustomerRefund, DocumentKind, Vendor
from sagebridge.domain.records import parse_host_record
from sagebridge.store import LedgerState

from .conftest import LOCATION_FIELD, TENANT, customer, document, line, tenant_settings

KINDS = (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
         DocumentKind.PURCHASE_CREDIT_NOTE)


def test_a_refund_is_skipped_with_the_reason_that_says_why_and_what_to_do_and_the_host_is_told(world, host):
    world.add_tenant(export_kinds=[DocumentKind.SALES_CREDIT_NOTE.value, DocumentKind.CUSTOMER_REFUND.value])
    pat = customer(1)
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, party=pat, lines=[line("25.00")]))  # 30.00
    host.stage(CustomerRefund.model_validate({
        "host_id": "REF-1", "party_id": pat.host_id, "payment_date": "2025-03-05", "amount": "30.00",
        "currency": "USD", "allocations": [{"kind": "sales_credit_note", "host_id": "CN-1", "amount": "30.00"}]}))

    told_through = {"outbox": world.outbox}  # the export worker's outbox: what the host is sent
    result = world.export(strict=False, engine_options=told_through)
    world.export(strict=False, engine_options=told_through, include_retries=True)  # a second run changes nothing
    world.deliver_all()

    assert result.counts["skipped"] == 1 and result.counts["failed"] == 0
    entry = world.store.ledger.find(TENANT, "customer_refund", "REF-1")
    assert entry is not None and entry.state is LedgerState.SKIPPED
    [logged] = [e for e in world.store.synclog.for_run(TENANT, result.run_id) if e.kind == "customer_refund"]
    assert (logged.outcome.value, logged.reason_code) == ("skipped", "not_supported")
    assert REFUND_NOT_EXPORTED in logged.reason
    [told] = [e for e in world.events("document.skipped") if e["data"].get("host_id") == "REF-1"]
    [reason] = told["data"]["reasons"]
    assert reason["code"] == "not_supported" and REFUND_NOT_EXPORTED in reason["message"]
    assert "AR refund" in reason["message"] and "XML API" in reason["message"]
    assert world.sandbox.accountant().list("ARPYMT") == []  # nothing reached Intacct


def _vendor_document(kind: DocumentKind, number: str, price: str) -> Any:
    supplier = Vendor(host_id="VEND-1", name="Parts Direct Ltd")
    net = Decimal(price)
    tax = (net * Decimal("0.20")).quantize(Decimal("0.01"))
    return parse_host_record(kind, {
        "host_id": number, "number": number, "party_id": supplier.host_id,
        "party": supplier.model_dump(mode="json", exclude_none=True), "document_date": "2025-03-01",
        "currency": "USD", "status": "pending_payment", "lines": [line(price, tax="S", description="Brake pads")],
        "totals": {"net": str(net), "tax": str(tax), "total": str(net + tax)}})


def _dimensions(world: Any, **changes: Any) -> None:
    intacct = {**tenant_settings().model_dump(mode="json")["intacct"], "class_id": "FIELD",
               "bill_location_custom_field": LOCATION_FIELD,
               "purchase_tax_mappings": {"S": "Purchase Tax Standard"}, **changes}
    world.add_tenant(export_kinds=sorted(k.value for k in KINDS), default_purchase_ledger_account_id="5000",
                     intacct=intacct)


def test_every_line_of_every_kind_carries_location_department_and_class_and_bills_the_host_location(world, host):
    _dimensions(world)
    pat = customer(1)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=pat, lines=[line("100.00")]))
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, party=pat, lines=[line("10.00")]))
    host.stage(_vendor_document(DocumentKind.PURCHASE_INVOICE, "PI-1", "40.00"))
    host.stage(_vendor_document(DocumentKind.PURCHASE_CREDIT_NOTE, "PCN-1", "10.00"))
    world.export()

    acct = world.sandbox.accountant()
    held = {obj: acct.find(obj, "RECORDID", number)[0] for obj, number in (
        ("ARINVOICE", "INV-00001"), ("ARADJUSTMENT", "CN-00001"), ("APBILL", "PI-1"), ("APADJUSTMENT", "PCN-1"))}
    for obj, record in held.items():
        lines = record[f"{obj}ITEMS"][f"{obj}ITEM"]
        assert len(lines) == 2  # the host line and its tax line
        assert {(x["LOCATIONID"], x["DEPARTMENTID"], x["CLASSID"]) for x in lines} == {("100", "SVC", "FIELD")}, obj
    assert held["ARINVOICE"][LOCATION_FIELD] == held["APBILL"][LOCATION_FIELD] == "Leeds depot"


def test_a_class_intacct_does_not_hold_fails_the_document_with_intacct_s_reason(world, host):
    _dimensions(world, class_id="NOPE")
    host.stage(_vendor_document(DocumentKind.PURCHASE_INVOICE, "PI-1", "40.00"))
    result = world.export(strict=False)
    assert result.counts["failed"] == 1
    [entry] = [e for e in world.store.synclog.for_run(TENANT, result.run_id) if e.kind == "purchase_invoice"]
    assert "Sage refused" in entry.reason and "classid 'NOPE' is not valid" in entry.reason, entry.reason
    assert world.sandbox.accountant().list("APBILL") == []
