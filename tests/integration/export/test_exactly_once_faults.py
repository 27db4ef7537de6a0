"""Sage Accounting: a document changed while its export was in doubt, when Sage's copy has since been
paid, or Sage holds two copies of it. (Exactly once under faults and kills, and a change while in
doubt, run on every product in tests/conformance/test_exactly_once.py.)"""

from __future__ import annotations

from typing import Any

from sagebridge.domain import DocumentKind

from .conftest import TENANT, document, line


class WorkerKilled(Exception):
    """The Lambda died after Sage committed and before our ledger commit."""


class KillOnce:
    """The worker dies once, after Sage created the document and before the ledger commit."""

    def __init__(self) -> None:
        self.killed: list[str] = []

    def after_sage_call(self, kind: str, host_id: str, remote: Any) -> None:
        if not self.killed:
            self.killed.append(host_id)
            raise WorkerKilled(host_id)


def _in_doubt_then_changed(export: Any, host: Any, clock: Any) -> None:
    """INV-1 120.00 reaches Sage, the worker dies before the commit; the host then makes it 180.00."""
    host.stage(document(DocumentKind.SALES_INVOICE, 1))
    try:
        export(engine_options={"hooks": KillOnce()})
        raise AssertionError("the worker should have died")
    except WorkerKilled:
        pass
    clock.advance(minutes=16)  # the dead worker's claim goes stale
    host.stage(document(DocumentKind.SALES_INVOICE, 1, lines=[line("150.00")], total=("150.00", "30.00")))


def test_a_document_changed_while_in_doubt_and_paid_in_sage_is_linked_and_skipped_with_the_reason(
        export, host, sandbox, store, clock):
    _in_doubt_then_changed(export, host, clock)
    acme = sandbox.accountant()
    [first] = acme.list("sales_invoices")
    acme.record_customer_payment(first["id"])

    export()
    export()

    assert acme.count_by_reference("sales_invoices")["INV-00001"] == 1
    assert str(acme.list("sales_invoices")[0]["total_amount"]) == "120.00"
    history = store.synclog.newest(TENANT, kind="sales_invoice", host_id="INV-1").items
    skipped = next(h for h in history if h.outcome.value == "skipped")
    assert "already has 120.00 paid or allocated against it in Sage" in skipped.reason
    assert store.ledger.get(TENANT, "sales_invoice", "INV-1").sage_id == first["id"]


def test_a_document_changed_while_in_doubt_with_two_copies_in_sage_is_not_sent_and_names_them(
        export, host, sandbox, store, clock):
    _in_doubt_then_changed(export, host, clock)
    acme = sandbox.accountant()
    [first] = acme.list("sales_invoices")
    copy = acme.create("sales_invoices", {
        "contact_id": first["contact"]["id"], "date": first["date"], "reference": "INV-00001",
        "invoice_lines": [{k: v for k, v in line.items() if k != "id"} | {
            "ledger_account_id": line["ledger_account"]["id"], "tax_rate_id": line["tax_rate"]["id"],
            "unit_price": "50.00", "net_amount": "50.00", "tax_amount": "10.00", "total_amount": "60.00"}
            for line in first["invoice_lines"]]})

    export()
    export()

    assert acme.count_by_reference("sales_invoices")["INV-00001"] == 2
    [skipped] = [h for h in store.synclog.newest(TENANT, kind="sales_invoice", host_id="INV-1").items
                 if h.outcome.value == "skipped"][:1]
    assert skipped.reason_code == "several_in_sage"
    assert first["id"] in skipped.reason and copy["id"] in skipped.reason
