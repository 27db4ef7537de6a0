"""What a run is asked (ExportRequest), what it answers (ExportResult), and the engine's constants."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from sagebridge.connectors.base import Payload, RemoteRecord
from sagebridge.domain.kinds import DateBasis, DocumentKind, PartyKind, RecordKind, record_kind
from sagebridge.domain.runs import RunTrigger
from sagebridge.domain.settings import ExportType
from sagebridge.store import Outcome, RunStatus
from sagebridge.sync.export.deadline import Resume

EXPORT_CURSOR = "export"  # position: the ISO start time of the last successful full run
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)
# On a party's mapping (`extra`): the payload hash of the party version Sage's contact was last made
# from (created, linked, updated, or refused for good), and Sage's updated_at after our update (the
# catalog import does not echo our own change back to the host as a Sage change).
CONTACT_HASH = "contact_hash"
SAGE_UPDATED_AT = "sage_updated_at"

DOCUMENT_KINDS = (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE,
                  DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE)
PAYMENT_KINDS = (DocumentKind.CUSTOMER_PAYMENT, DocumentKind.CUSTOMER_REFUND)
PARTY_KINDS = (PartyKind.CUSTOMER, PartyKind.VENDOR)
# The ledger entry of a credit note's allocation against the invoice it credits (`invoice_id`): its
# own entry, so the allocation is sent once even if the run dies after Sage answered.
CREDIT_NOTE_ALLOCATION = "credit_note_allocation"
# The same for a purchase (vendor) credit note against the purchase invoice it credits.
PURCHASE_CREDIT_NOTE_ALLOCATION = "purchase_credit_note_allocation"
ALLOCATION_KINDS = frozenset({CREDIT_NOTE_ALLOCATION, PURCHASE_CREDIT_NOTE_ALLOCATION})
# Mapping kind: a sales document linked to one already in Sage (going live, an uncertain write
# adopted) whose money in Sage the payment poller has not looked at yet (host_id = Sage id).
LINKED_UNPOLLED_KIND = "sage_linked_unpolled"



@dataclass(frozen=True)
class ExportRequest:
    """What to export. None means "as the tenant's settings say"."""

    tenant_id: str
    triggered_by: RunTrigger = RunTrigger.SCHEDULE
    kinds: frozenset[RecordKind] | None = None  # None: settings.export_kinds (parties included)
    window_from: date | None = None
    window_to: date | None = None
    date_basis: DateBasis | None = None  # None: each ledger's basis from the settings
    export_type: ExportType | None = None
    dry_run: bool = False
    documents: tuple[tuple[str, str], ...] = ()  # (kind, host id): just these (trigger status, replay)
    include_retries: bool = False  # also failed / stuck entries outside the window (scheduled runs)
    # Scheduled runs: every record staged (received, changed, voided) at or after this, whatever its
    # date, instead of a date window; customers and vendors included.
    staged_since: datetime | None = None
    requested_by: str | None = None
    # Documents never exported are always looked for in Sage first (going live); True: with one
    # listing per kind from the start (a big first export). None: on the tenant's first run.
    adopt_existing: bool | None = None
    # A continuation of a run that paused before its invocation's deadline: the same run, from there.
    resume: Resume | None = None

    def __post_init__(self) -> None:
        # Accept the words as written in jobs and tests ("sales_invoice", "all"), keep enums inside.
        if self.kinds is not None:
            object.__setattr__(self, "kinds", frozenset(record_kind(str(k)) for k in self.kinds))
        if self.export_type is not None:
            object.__setattr__(self, "export_type", ExportType(self.export_type))
        if self.date_basis is not None:
            object.__setattr__(self, "date_basis", DateBasis(self.date_basis))
        object.__setattr__(self, "triggered_by", RunTrigger(self.triggered_by))


@dataclass
class PlannedOutcome:
    """One line of a dry run's answer: what would happen and why (the payload for creates/updates)."""

    kind: str
    host_id: str
    outcome: Outcome
    message: str = ""
    payload: Payload | None = None


@dataclass
class ExportResult:
    run_id: str
    tenant_id: str
    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    # Of `counts`, those with no sync log line this run (the same outcome for the same reason as
    # before, or unchanged under export type New): a run's log lines are its counts less these.
    not_logged: Counter[str] = field(default_factory=Counter)
    waiting_for_sage: int = 0  # documents not sent because Sage blocks the connection (ExportRun.blocked_until)
    failures: list[str] = field(default_factory=list)  # the first journal.MAX_REPORTED, for notifications
    planned: list[PlannedOutcome] = field(default_factory=list)  # dry run only
    status: RunStatus = RunStatus.RUNNING
    window: tuple[date, date] | None = None
    # Paused before the deadline: where a continuation job goes on, and how long it should wait.
    continuation: Resume | None = None
    continue_after: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class ExportHooks(Protocol):
    """Test seam: called right after Sage answered a write and before the ledger commit (raising
    here is a worker killed at the worst moment)."""

    def after_sage_call(self, kind: str, host_id: str, remote: RemoteRecord) -> None: ...


class RunAborted(Exception):
    """The run cannot go on (grant revoked, Sage rate limit beyond patience); the job is retried."""


def idempotency_key(tenant_id: str, kind: str, host_id: str, payload_hash: str) -> str:
    """Deterministic: the same version of the same record always gets the same key (and so the
    same Sage idempotency_id), so a resend after a crash is replayed by Sage, not duplicated."""
    return hashlib.sha256(f"{tenant_id}\n{kind}\n{host_id}\n{payload_hash}".encode()).hexdigest()


def void_hash(payload_hash: str) -> str:
    """The ledger hash of "voided": differs from the live version's, so a void is one more change."""
    return hashlib.sha256(f"void\n{payload_hash}".encode()).hexdigest()
