from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from sagebridge.domain import (
    DocumentKind,
    ExportOutcome,
    ExportRun,
    LedgerState,
    RunTrigger,
    SkipCode,
    SkipReason,
    SyncLogEntry,
    can_move,
)

AT = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def test_a_skip_entry_keeps_every_reason_message():
    entry = SyncLogEntry.skipped(
        tenant_id="t1", run_id="r1", kind=DocumentKind.SALES_INVOICE, host_id="inv-1", number="INV-1",
        reasons=[
            SkipReason(code=SkipCode.HEADER_TAX_MODE, message="Invoice INV-1 has its tax on the header"),
            SkipReason(code=SkipCode.ADJUSTMENT_AMOUNT, message="Invoice INV-1 has an adjustment"),
        ],
        at=AT,
    )
    assert entry.outcome is ExportOutcome.SKIPPED
    assert entry.reason_code == "header_tax_mode"
    assert entry.message == "Invoice INV-1 has its tax on the header; Invoice INV-1 has an adjustment"


def test_a_created_entry_must_say_what_sage_calls_it():
    with pytest.raises(ValidationError, match="needs the sage_id"):
        SyncLogEntry(tenant_id="t1", run_id="r1", kind="sales_invoice", host_id="inv-1",
                     outcome="created", at=AT)


def test_a_failed_entry_must_say_why():
    with pytest.raises(ValidationError, match="needs a reason_code and a message"):
        SyncLogEntry(tenant_id="t1", run_id="r1", kind="customer", host_id="c1", outcome="failed", at=AT)


def test_log_times_are_utc():
    entry = SyncLogEntry(tenant_id="t1", run_id="r1", kind="customer", host_id="c1", outcome="unchanged",
                         at="2025-03-10T10:00:00+01:00")
    assert entry.at == AT and entry.at.tzinfo is UTC


def test_a_run_counts_every_outcome_from_zero():
    run = ExportRun(run_id="r1", tenant_id="t1", kinds={"sales_invoice", "customer_payment"},
                    window_from=date(2025, 3, 1), window_to=date(2025, 3, 31),
                    triggered_by=RunTrigger.OPERATOR, requested_by="alice", dry_run=True, started_at=AT)
    run.tally(ExportOutcome.CREATED)
    run.tally(ExportOutcome.CREATED)
    run.tally(ExportOutcome.SKIPPED)
    assert run.counts[ExportOutcome.CREATED] == 2 and run.counts[ExportOutcome.FAILED] == 0
    assert run.total == 3
    assert ExportRun.model_validate_json(run.model_dump_json()) == run


def test_a_run_window_must_be_in_order():
    with pytest.raises(ValidationError, match="window_from 2025-04-01 is after window_to 2025-03-01"):
        ExportRun(run_id="r1", tenant_id="t1", kinds={"sales_invoice"}, window_from=date(2025, 4, 1),
                  window_to=date(2025, 3, 1), triggered_by="schedule", started_at=AT)


def test_the_ledger_never_skips_the_claim():
    assert can_move(LedgerState.PENDING, LedgerState.IN_FLIGHT)
    assert not can_move(LedgerState.PENDING, LedgerState.EXPORTED)  # no export without a claim
    assert can_move(LedgerState.IN_FLIGHT, LedgerState.IN_FLIGHT)  # taking over a dead worker's claim
    assert can_move(LedgerState.FAILED, LedgerState.IN_FLIGHT)  # retry
    assert can_move(LedgerState.EXPORTED, LedgerState.PENDING)  # the document changed
    assert not can_move(LedgerState.EXPORTED, LedgerState.FAILED)
