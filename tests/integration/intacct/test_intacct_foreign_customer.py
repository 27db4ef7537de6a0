"""A customer the host sends in GBP to a USD Sage Intacct company (review finding): the customer is
created in GBP and logged; its GBP invoice is skipped with the true reason (the books are in USD,
the invoice has no rate) and what the host can send, not "the customer trades in USD"."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.domain import DocumentKind
from sagebridge.domain.kinds import ALL_RECORD_KINDS

from .conftest import TENANT, customer, document, line

SI = DocumentKind.SALES_INVOICE


def _log(world, run_id):
    return {(e.kind, e.host_id): e for e in world.store.synclog.for_run(TENANT, run_id)}


def test_a_gbp_customer_of_a_usd_company_is_created_and_its_invoice_says_what_to_send(world, host):
    world.add_tenant(export_kinds=sorted(k.value for k in ALL_RECORD_KINDS))
    host.stage(customer(1, currency="GBP"))  # customer.upserted, in GBP
    host.stage(document(SI, 1, party=customer(1), currency="GBP", lines=[line("100.00", tax="S")]))

    result = world.export(strict=False)

    log = _log(world, result.run_id)
    assert log[("customer", "CUST-1")].outcome.value == "created"
    [made] = world.sandbox.accountant().find("CUSTOMER", "NAME", "Owner 1 Plumbing LLC")
    assert made["CURRENCY"] == "GBP"
    skipped = log[("sales_invoice", "INV-1")]
    assert skipped.outcome.value == "skipped" and skipped.reason_code == "currency_mismatch"
    assert "trades in USD" not in skipped.reason, skipped.reason
    assert "keeps its books in USD" in skipped.reason and "send its exchange_rate (GBP to USD)" in skipped.reason
    assert "or send it in USD" in skipped.reason

    # The host sends the rate: the invoice goes, in GBP, to the GBP customer.
    host.stage(document(SI, 1, party=customer(1), currency="GBP", exchange_rate="1.25",
                        lines=[line("100.00", tax="S")]))
    world.export()
    [invoice] = world.sandbox.accountant().find("ARINVOICE", "RECORDID", "INV-00001")
    assert invoice["CUSTOMERID"] == made["CUSTOMERID"] and invoice["TOTALENTERED"] == Decimal("120.00")


def test_a_usd_invoice_for_a_customer_sent_in_gbp_says_whose_currency_differs(world, host):
    world.add_tenant(export_kinds=sorted(k.value for k in ALL_RECORD_KINDS))
    host.stage(customer(2, currency="GBP"))
    host.stage(document(SI, 2, party=customer(2), currency="EUR", exchange_rate="1.10",
                        lines=[line("100.00", tax="S")]))
    result = world.export(strict=False)
    reason = _log(world, result.run_id)[("sales_invoice", "INV-2")].reason
    assert reason.startswith("Invoice INV-00002 is in EUR but customer 'CUST-2' trades in GBP: send the invoice in "
                             "GBP, or send customer 'CUST-2' with currency EUR"), reason
