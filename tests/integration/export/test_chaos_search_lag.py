"""Sage Accounting under the chaos profile's search lag: idempotency_id makes a resend of the same
version safe, but a document that changed while its export was in doubt goes out under a new key,
which Sage cannot tell from a new invoice. While Sage's search may still be hiding the first copy,
the engine does not send it; once the connector's settle time has passed it adopts that copy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from local.sandboxes.chaos import Chaos
from sagebridge.domain import DocumentKind
from sagebridge.store import LedgerState

from .conftest import TENANT, document, line
from .test_exactly_once_faults import KillOnce, WorkerKilled


def _lagging_search(sandbox: Any, clock: Any, seconds: int = 60) -> None:
    sandbox.chaos = sandbox.faults.chaos = Chaos(rate=0, search_lag=timedelta(seconds=seconds), clock=clock)


def test_chaos_a_document_changed_while_in_doubt_is_not_created_again_while_the_search_lags(
        export, host, sandbox, store, clock):
    """Found by the chaos profile: the old code looked Sage up, missed the first copy behind the
    search lag and sent the changed version under its new idempotency key: two invoices."""
    _lagging_search(sandbox, clock)
    fast = {"claim_timeout": timedelta(seconds=20)}  # a dead worker's claim is taken over inside the lag
    host.stage(document(DocumentKind.SALES_INVOICE, 1))
    try:
        export(engine_options={"hooks": KillOnce(), **fast})
        raise AssertionError("the worker should have died")
    except WorkerKilled:
        pass
    clock.advance(seconds=25)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, lines=[line("150.00")], total=("150.00", "30.00")))
    acme = sandbox.accountant()

    export(engine_options=fast)  # the lookup misses (lag): not sent, in doubt
    assert acme.count_by_reference("sales_invoices") == {"INV-00001": 1}
    entry = store.ledger.find(TENANT, "sales_invoice", "INV-1")
    assert entry is not None and entry.state is LedgerState.FAILED and "not sent again" in (entry.reason or "")

    clock.advance(minutes=5)  # past the connector's settle time: found, adopted, brought up to date
    result = export(engine_options=fast)
    assert acme.count_by_reference("sales_invoices") == {"INV-00001": 1}
    [invoice] = acme.list("sales_invoices")
    assert str(invoice["total_amount"]) == "180.00"
    assert sandbox.request_count(sandbox.lead_business_id, "POST", "/sales_invoices") == 1
    assert result.counts["updated"] == 1


def test_chaos_the_same_version_is_resent_under_its_key_at_once_and_replayed(export, host, sandbox, store, clock):
    """Unchanged, the resend carries the same idempotency_id: safe at once, whatever the lag."""
    _lagging_search(sandbox, clock, seconds=3600)
    host.stage(document(DocumentKind.SALES_INVOICE, 1))
    sandbox.faults.error_after_commit(503, method="POST", path="/sales_invoices")
    export()
    assert sandbox.accountant().count_by_reference("sales_invoices") == {"INV-00001": 1}
    entry = store.ledger.find(TENANT, "sales_invoice", "INV-1")
    assert entry is not None and entry.state is LedgerState.EXPORTED
    assert entry.sage_id == sandbox.accountant().list("sales_invoices")[0]["id"]
    assert sandbox.request_count(sandbox.lead_business_id, "POST", "/sales_invoices") == 2  # one replayed
