"""Input VAT on Intacct bills: the export engine posts a bill's tax line on the Purchase tax
detail's GL account (intacct.purchase_tax_mappings), never on the sales tax account, and skips a
bill whose tax code has no purchase mapping with a reason naming the setting."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sagebridge.domain import DocumentKind, Vendor
from sagebridge.domain.records import parse_host_record

from .conftest import TENANT, line, tenant_settings

PURCHASES = frozenset({DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE})


def _tenant(world: Any, **purchase_tax: str) -> None:
    intacct = {**tenant_settings().model_dump(mode="json")["intacct"], "purchase_tax_mappings": purchase_tax}
    world.add_tenant(export_kinds=sorted(PURCHASES), default_purchase_ledger_account_id="5000", intacct=intacct)


def _bill(n: int, price: str) -> Any:
    supplier = Vendor(host_id="VEND-1", name="Parts Direct Ltd")
    net = Decimal(price)
    tax = (net * Decimal("0.20")).quantize(Decimal("0.01"))
    return parse_host_record(DocumentKind.PURCHASE_INVOICE, {
        "host_id": f"PI-{n}", "number": f"PI-{n:05d}", "party_id": supplier.host_id,
        "party": supplier.model_dump(mode="json", exclude_none=True), "document_date": "2025-03-01",
        "currency": "USD", "status": "pending_payment", "lines": [line(price, tax="S", description="Brake pads")],
        "totals": {"net": str(net), "tax": str(tax), "total": str(net + tax)}})


def test_a_bill_posts_its_vat_on_the_purchase_tax_detail_account(world, host):
    _tenant(world, S="Purchase Tax Standard")
    host.stage(_bill(1, "100.00"))
    world.export()
    acct = world.sandbox.accountant()
    [detail] = acct.find("TAXDETAIL", "DETAILID", "Purchase Tax Standard")
    [bill] = acct.find("APBILL", "RECORDID", "PI-00001")
    lines = [(x["ACCOUNTNO"], x["AMOUNT"]) for x in bill["APBILLITEMS"]["APBILLITEM"]]
    # the expense on the purchase account, the 20% input VAT on the purchase detail's account
    assert lines == [("5000", Decimal("100.00")), (detail["GLACCOUNT"], Decimal("20.00"))]
    assert detail["TAXTYPE"] == "Purchase" and detail["GLACCOUNT"] != "2200"
    assert bill["TOTALENTERED"] == Decimal("120.00")


def test_a_bill_whose_tax_code_has_no_purchase_mapping_is_skipped_with_the_setting_to_set(world, host):
    _tenant(world)
    host.stage(_bill(2, "50.00"))
    result = world.export(strict=False)
    [entry] = [e for e in world.store.synclog.for_run(TENANT, result.run_id) if e.kind == "purchase_invoice"]
    assert "'S'" in entry.reason and "intacct.purchase_tax_mappings.S" in entry.reason, entry.reason
    assert entry.outcome.value == "skipped" and result.counts["skipped"] == 1, (entry.outcome, result.counts)
    assert world.sandbox.accountant().find("APBILL", "RECORDID", "PI-00002") == []
