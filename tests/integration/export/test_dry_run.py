"""A dry run computes every payload and outcome and writes nothing: no Sage write, no ledger entry,
no mapping. It leaves a run record and log lines marked as a dry run."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sagebridge.domain import CustomerPayment, DocumentKind

from .conftest import TENANT, document, line

SI = DocumentKind.SALES_INVOICE


def test_dry_run_plans_everything_and_writes_nothing(export, host, sandbox, store):
    host.stage(document(SI, 1))
    host.stage(document(SI, 2, lines=[line(tax="X9")]))
    host.stage(CustomerPayment(host_id="PAY-1", party_id="CUST-1", payment_date=date(2025, 3, 2),
                               amount=Decimal("120.00"), currency="GBP",
                               allocations=[{"kind": "sales_invoice", "host_id": "INV-1", "amount": "120.00"}]))

    result = export(dry_run=True)

    assert sum(sandbox.request_count(method=m) for m in ("POST", "PUT", "DELETE")) == 0
    assert store.ledger.find(TENANT, "sales_invoice", "INV-1") is None
    assert len(store.mappings.list(TENANT)) == 0
    assert store.cursors.get(TENANT, "export") is None
    planned = {(p.kind, p.host_id): p for p in result.planned}
    assert planned[("sales_invoice", "INV-1")].outcome.value == "created"
    body = planned[("sales_invoice", "INV-1")].payload
    assert body["total_amount"] == Decimal("120.00") and body["invoice_lines"][0]["tax_amount"] == Decimal("20.00")
    assert planned[("customer", "CUST-1")].outcome.value == "created"
    assert planned[("sales_invoice", "INV-2")].outcome.value == "skipped"
    assert planned[("customer_payment", "PAY-1")].outcome.value == "created"  # its invoice would exist by then
    run = store.runs.get(TENANT, result.run_id)
    assert run.dry_run and run.counts["created"] == 3 and run.counts["skipped"] == 1
    assert all(e.reason.startswith("dry run") for e in store.synclog.for_run(TENANT, result.run_id).items)

    real = export()
    assert real.counts["created"] == 3 and sandbox.created_count() == 3


class _Surprising:
    """The product's mapper, failing on one document as a bug would."""

    def __init__(self, mapper: Any, host_id: str) -> None:
        self._mapper, self._host_id = mapper, host_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mapper, name)

    def document_body(self, doc: Any, **fields: Any) -> Any:
        if doc.host_id == self._host_id:
            raise KeyError("no such line kind")
        return self._mapper.document_body(doc, **fields)


def test_an_unexpected_error_in_a_dry_run_is_in_the_plan_with_its_reason(export, host, sandbox, store, connector):
    host.stage(document(SI, 1))
    host.stage(document(SI, 2))
    connector.mapper = _Surprising(connector.mapper, "INV-2")

    result = export(dry_run=True)

    planned = {(p.kind, p.host_id): p for p in result.planned}
    failed = planned[("sales_invoice", "INV-2")]
    assert failed.outcome.value == "failed"
    assert "unexpected error" in failed.message and "KeyError" in failed.message, failed.message
    assert planned[("sales_invoice", "INV-1")].outcome.value == "created"
    assert result.counts["failed"] == 1 and result.counts["created"] == 2  # INV-1 and its customer
    [line_] = [e for e in store.synclog.for_run(TENANT, result.run_id).items if e.host_id == "INV-2"]
    assert line_.outcome.value == "failed" and line_.reason.startswith("dry run: would fail:")
    assert sum(sandbox.request_count(method=m) for m in ("POST", "PUT", "DELETE")) == 0
    assert store.ledger.find(TENANT, "sales_invoice", "INV-2") is None


class _KillAfterSage:
    """The worker dies once, after Sage created the document and before the ledger commit."""

    def __init__(self) -> None:
        self.killed = False

    def after_sage_call(self, kind: str, host_id: str, remote: Any) -> None:
        if not self.killed:
            self.killed = True
            raise RuntimeError("worker killed")


def _cut_off(export: Any, host: Any, clock: Any) -> None:
    """INV-1 reaches Sage, the worker dies before the commit; its claim then goes stale."""
    host.stage(document(SI, 1))
    try:
        export(engine_options={"hooks": _KillAfterSage()})
    except RuntimeError:
        pass
    clock.advance(minutes=16)


def test_a_dry_run_after_a_cut_off_send_plans_the_link_the_real_run_makes(export, host, sandbox, store, clock):
    _cut_off(export, host, clock)
    [in_sage] = sandbox.accountant().list("sales_invoices")
    writes = sum(sandbox.request_count(method=m) for m in ("POST", "PUT", "DELETE"))

    dry = export(dry_run=True)

    [planned] = [p for p in dry.planned if p.host_id == "INV-1"]
    assert planned.outcome.value == "linked" and in_sage["id"] in planned.message, planned
    assert sum(sandbox.request_count(method=m) for m in ("POST", "PUT", "DELETE")) == writes
    assert store.ledger.get(TENANT, "sales_invoice", "INV-1").sage_id is None

    real = export()
    assert real.counts["linked"] == 1 and sandbox.accountant().count_by_reference("sales_invoices") == {
        "INV-00001": 1}
    assert store.ledger.get(TENANT, "sales_invoice", "INV-1").sage_id == in_sage["id"]


def test_a_dry_run_after_a_cut_off_send_of_a_changed_document_plans_link_and_update(export, host, sandbox, store,
                                                                                    clock):
    _cut_off(export, host, clock)
    host.stage(document(SI, 1, lines=[line("150.00")], total=("150.00", "30.00")))
    [in_sage] = sandbox.accountant().list("sales_invoices")

    dry = export(dry_run=True)

    [planned] = [p for p in dry.planned if p.host_id == "INV-1"]
    assert planned.outcome.value == "linked" and in_sage["id"] in planned.message, planned
    assert "update" in planned.message and planned.payload["total_amount"] == Decimal("180.00")
    assert sandbox.accountant().count_by_reference("sales_invoices") == {"INV-00001": 1}
