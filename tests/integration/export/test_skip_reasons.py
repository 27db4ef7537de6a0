"""Every skip reason, each produced by a realistic document, logged with its code and a sentence a
bookkeeper understands, announced to the host once, and nothing sent to Sage for it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from local.sandboxes.host_app.outbox import InMemoryOutbox
from sagebridge.domain import CustomerPayment, DocumentKind, TenantSettings

from .conftest import TENANT, document, line

SI = DocumentKind.SALES_INVOICE


def reason_of(store, kind: str, host_id: str):
    return store.synclog.newest(TENANT, kind=kind, host_id=host_id).items[0]


def test_every_reason_is_logged_with_a_code_and_a_readable_message(export, host, sandbox, store, settings):
    cases = {
        "INV-1": ("currency_mismatch", document(SI, 1, currency="EUR")),
        "INV-2": ("multiple_taxes_on_line", document(SI, 2, lines=[line(extra_taxes=[{"tax_code": "R"}])])),
        "INV-3": ("tax_code_not_mapped", document(SI, 3, lines=[line(tax="X9")])),
        "INV-4": ("tax_rate_missing_in_sage", document(SI, 4, lines=[line(tax="OLD")])),
        "INV-5": ("adjustment_amount", document(SI, 5, adjustment_amount="5.00",
                                                 totals={"net": "100.00", "tax": "20.00", "total": "125.00"})),
        "INV-6": ("header_tax_mode", document(SI, 6, tax_mode="group")),
        "INV-7": ("totals_mismatch", document(SI, 7, lines=[line("33.33", "3")], total=("99.99", "19.98"))),
        "INV-8": ("party_missing", document(SI, 8, embed_party=False,
                                            party=document(SI, 1).party.model_copy(update={"host_id": "GHOST"}))),
    }
    for _code, record in cases.values():
        host.stage(record)
    host.stage(CustomerPayment(host_id="PAY-1", party_id="CUST-1", payment_date=date(2025, 3, 2),
                               amount=Decimal("50.00"), currency="GBP",
                               allocations=[{"kind": "sales_invoice", "host_id": "INV-404", "amount": "50.00"}]))
    outbox = InMemoryOutbox()

    result = export(engine_options={"outbox": outbox})

    logged = {e.host_id: e.reason_code for e in store.synclog.for_run(TENANT, result.run_id, limit=100).items}
    assert result.counts["skipped"] == 9, " ".join(f"{k}={v}" for k, v in sorted(logged.items()))
    assert sandbox.created_count("sales_invoices") == 0 and sandbox.created_count("contact_payments") == 0
    for host_id, (code, record) in cases.items():
        entry = reason_of(store, "sales_invoice", host_id)
        assert (entry.outcome.value, entry.reason_code) == ("skipped", code), (host_id, entry.reason)
        assert record.number in entry.reason or "Line" in entry.reason or "GHOST" in entry.reason
    payment = reason_of(store, "customer_payment", "PAY-1")
    assert payment.reason_code == "allocation_not_exported" and "INV-404" in payment.reason
    assert "19.98 in the host app differs from 20.00" in reason_of(store, "sales_invoice", "INV-7").reason
    assert outbox.types().count("document.skipped") == 9

    # Skipped again for the same reasons: no new log lines, no new events (New runs stay quiet).
    quiet = export(engine_options={"outbox": outbox})
    assert quiet.counts["skipped"] == 9 and outbox.types().count("document.skipped") == 9
    assert len(store.synclog.for_run(TENANT, quiet.run_id).items) == 0

    # The tenant fixes the mapping: INV-3 (and its customer, new to Sage) go through on the next run.
    fixed = TenantSettings.model_validate({**settings.model_dump(), "tax_mappings": {**settings.tax_mappings,
                                                                                     "X9": "GB_STANDARD"}})
    after = export(settings_=fixed)
    assert after.counts["created"] == 2 and reason_of(store, "sales_invoice", "INV-3").outcome.value == "created"


def test_a_payment_without_a_bank_account_is_skipped(export, host, sandbox, store, settings):
    host.stage(document(SI, 1))
    host.stage(CustomerPayment(host_id="PAY-1", party_id="CUST-1", payment_date=date(2025, 3, 2),
                               amount=Decimal("120.00"), currency="GBP",
                               allocations=[{"kind": "sales_invoice", "host_id": "INV-1", "amount": "120.00"}]))
    no_bank = TenantSettings.model_validate({**settings.model_dump(), "receipt_bank_account_id": None})
    result = export(settings_=no_bank)
    assert result.counts["created"] == 2 and result.counts["skipped"] == 1
    assert reason_of(store, "customer_payment", "PAY-1").reason_code == "bank_account_not_set"


def test_defect_09_a_document_on_an_inactive_ledger_account_is_skipped_with_the_health_reason(
        export, host, sandbox, store, settings):
    from local.sandboxes.host_app.outbox import InMemoryOutbox

    books = sandbox.accountant()
    books.update("ledger_accounts", sandbox.ids["5000"], {"included_in_chart": False})
    books._record("tax_rates", "GB_LOWER").data["is_visible"] = False  # the accountant hides the rate
    host.stage(document(SI, 1, lines=[line("100.00", ledger_code="PARTS")]))
    host.stage(document(SI, 2, lines=[line("100.00", tax="R", ledger_code="SALES")], total=("100.00", "5.00")))
    host.stage(document(SI, 3, lines=[line("100.00", ledger_code="SALES")]))
    outbox, mails = InMemoryOutbox(), []

    result = export(engine_options={"outbox": outbox, "notify": mails.append})

    assert (result.counts["created"], result.counts["skipped"], result.counts["failed"]) == (2, 2, 0)
    assert [i["reference"] for i in books.list("sales_invoices")] == ["INV-00003"]
    parts = reason_of(store, "sales_invoice", "INV-1")
    assert parts.reason_code == "mapping_not_usable"
    assert "ledger_mappings.PARTS" in parts.reason and "inactive in Sage" in parts.reason
    lower = reason_of(store, "sales_invoice", "INV-2")
    assert lower.reason_code == "mapping_not_usable" and "tax_mappings.R" in lower.reason
    assert outbox.types().count("document.skipped") == 2 and "export.failed" not in outbox.types()
    assert mails == []


def test_defect_09_health_flags_missing_default_ledger_and_bank_accounts(connector, settings):
    from sagebridge.admin.mappings import check_mappings

    bare = TenantSettings.model_validate({**settings.model_dump(), "default_sales_ledger_account_id": None,
                                          "receipt_bank_account_id": None})
    health = check_mappings(bare, connector)
    assert not health.ok
    assert {(p.setting, p.problem) for p in health.problems if p.problem == "not_set"} == {
        ("default_sales_ledger_account_id", "not_set"), ("receipt_bank_account_id", "not_set")}


def test_defect_10_a_penny_of_rounding_drift_is_skipped_with_both_figures_unless_tolerated(
        export, host, sandbox, store, settings):
    # 10.14 at 20%: Sage rounds the line's tax to 2.03 (total 12.17); the host says 2.02 (12.16).
    host.stage(document(SI, 1, lines=[line("10.14")], total=("10.14", "2.02")))

    result = export()

    assert result.counts["skipped"] == 1 and sandbox.created_count("sales_invoices") == 0
    entry = reason_of(store, "sales_invoice", "INV-1")
    assert entry.reason_code == "totals_mismatch"
    assert "Total 12.16 in the host app differs from 12.17 that Sage will compute" in entry.reason

    tolerant = TenantSettings.model_validate({**settings.model_dump(), "total_tolerance": "0.01"})
    export(settings_=tolerant)
    [made] = sandbox.accountant().list("sales_invoices")
    assert Decimal(str(made["total_amount"])) == Decimal("12.17")


def test_a_totals_reason_keeps_the_hosts_pence(export, host, store):
    """The host sent tax "2.00" through the webhook path: the reason reads 2.00, as the host wrote it
    (found by a reviewer: it used to say "Tax total 2")."""
    host.stage(document(DocumentKind.SALES_INVOICE, 9, lines=[line("10.04", "1")], total=("10.04", "2.00")))
    export()
    reason = reason_of(store, "sales_invoice", "INV-9").reason
    assert "Tax total 2.00 in the host app differs from 2.01 that Sage will compute" in reason


def test_a_payment_to_a_skipped_invoice_says_the_invoice_was_skipped_and_why(export, host, store):
    """Review: the payment said only "has not been exported to Sage"; the host needs to know to fix
    the invoice (its totals), not the payment."""
    host.stage(document(SI, 7, lines=[line("33.33", "3")], total=("99.99", "19.98")))  # totals_mismatch
    host.stage(CustomerPayment(host_id="PAY-7", party_id="CUST-1", payment_date=date(2025, 3, 2),
                               amount=Decimal("50.00"), currency="GBP",
                               allocations=[{"kind": "sales_invoice", "host_id": "INV-7", "amount": "50.00"}]))
    outbox = InMemoryOutbox()
    export(engine_options={"outbox": outbox})
    payment = reason_of(store, "customer_payment", "PAY-7")
    assert payment.reason_code == "allocation_not_exported"
    assert "invoice 'INV-7', which is not in Sage because it was skipped (" in payment.reason, payment.reason
    assert "19.98 in the host app differs from 20.00" in payment.reason, payment.reason
    [told] = [m["event"]["data"] for m in outbox.sent
              if m["event_type"] == "document.skipped" and m["event"]["data"]["host_id"] == "PAY-7"]
    assert "because it was skipped" in told["reasons"][0]["message"]
