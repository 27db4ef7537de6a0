"""Types of the sync log, the run history and the export ledger, shared by every layer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from sagebridge.domain.fields import HostId, SageId, UtcDatetime
from sagebridge.domain.kinds import DateBasis, RecordKind
from sagebridge.domain.settings import ExportType
from sagebridge.domain.skips import SkipReason

ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]


class ExportOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    LINKED = "linked"  # found already in Sage (identified or adopted after a timeout) and mapped
    SKIPPED = "skipped"
    FAILED = "failed"
    UNCHANGED = "unchanged"  # same payload hash as what Sage already has


class LedgerState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    EXPORTED = "exported"
    SKIPPED = "skipped"
    FAILED = "failed"


# in_flight -> in_flight is taking over a claim whose worker died (look Sage up before resending);
# a changed document goes back to pending from any settled state.
LEDGER_MOVES: dict[LedgerState, frozenset[LedgerState]] = {
    LedgerState.PENDING: frozenset({LedgerState.IN_FLIGHT}),
    LedgerState.IN_FLIGHT: frozenset(
        {LedgerState.IN_FLIGHT, LedgerState.EXPORTED, LedgerState.SKIPPED, LedgerState.FAILED}
    ),
    LedgerState.EXPORTED: frozenset({LedgerState.PENDING}),
    LedgerState.SKIPPED: frozenset({LedgerState.PENDING}),
    LedgerState.FAILED: frozenset({LedgerState.PENDING, LedgerState.IN_FLIGHT}),  # retry / replay
}


def can_move(current: LedgerState, to: LedgerState) -> bool:
    return to in LEDGER_MOVES[current]


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    STATUS_CHANGE = "status_change"  # the host said a document reached a trigger status
    OPERATOR = "operator"  # export now / dry run from the admin API
    REPLAY = "replay"  # failed items sent again


_NEEDS_SAGE_ID = frozenset({ExportOutcome.CREATED, ExportOutcome.UPDATED, ExportOutcome.LINKED})
_NEEDS_REASON = frozenset({ExportOutcome.SKIPPED, ExportOutcome.FAILED})


class SyncLogEntry(BaseModel):
    """One line of the sync log: what happened to one record in one run, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use (cold start)

    tenant_id: HostId
    run_id: str = Field(min_length=1)
    kind: RecordKind
    host_id: HostId
    number: str | None = None  # the document number a bookkeeper searches for
    outcome: ExportOutcome
    sage_id: SageId | None = None
    reason_code: ReasonCode | None = None  # a SkipCode, or a failure code such as sage_rejected
    message: str = ""
    at: UtcDatetime

    @model_validator(mode="after")
    def _says_enough(self) -> SyncLogEntry:
        if self.outcome in _NEEDS_SAGE_ID and self.sage_id is None:
            raise ValueError(f"a {self.outcome.value} entry needs the sage_id")
        if self.outcome in _NEEDS_REASON and (self.reason_code is None or not self.message):
            raise ValueError(f"a {self.outcome.value} entry needs a reason_code and a message")
        return self

    @classmethod
    def skipped(
        cls, *, tenant_id: str, run_id: str, kind: RecordKind, host_id: str, number: str | None,
        reasons: Sequence[SkipReason], at: UtcDatetime,
    ) -> SyncLogEntry:
        """A skip with every reason: the first one's code, all messages in order."""
        if not reasons:
            raise ValueError("a skip needs at least one reason")
        return cls(
            tenant_id=tenant_id, run_id=run_id, kind=kind, host_id=host_id, number=number,
            outcome=ExportOutcome.SKIPPED, reason_code=reasons[0].code.value,
            message="; ".join(reason.message for reason in reasons), at=at,
        )


def _zero_counts() -> dict[ExportOutcome, int]:
    return dict.fromkeys(ExportOutcome, 0)


class ExportRun(BaseModel):
    """One export run: what was asked for, by whom, and how it went."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    run_id: str = Field(min_length=1)
    tenant_id: HostId
    kinds: frozenset[RecordKind]
    window_from: date | None = None
    window_to: date | None = None
    date_basis: DateBasis | None = None  # None: each ledger's basis from the tenant settings
    export_type: ExportType = ExportType.NEW
    dry_run: bool = False
    triggered_by: RunTrigger
    requested_by: str | None = None  # the operator or host event behind it, when there is one
    started_at: UtcDatetime
    finished_at: UtcDatetime | None = None
    counts: dict[ExportOutcome, int] = Field(default_factory=_zero_counts)

    @model_validator(mode="after")
    def _window_in_order(self) -> ExportRun:
        if self.window_from and self.window_to and self.window_from > self.window_to:
            raise ValueError(f"window_from {self.window_from} is after window_to {self.window_to}")
        self.counts = {**_zero_counts(), **self.counts}
        return self

    def tally(self, outcome: ExportOutcome) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())
