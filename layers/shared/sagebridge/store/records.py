"""What the repositories hand out and take in: small frozen dataclasses, in the users' words.
Timestamps are aware UTC datetimes; dates are `date`; bodies and settings are JSON-able dicts or
strings (the domain models are serialised by their callers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sagebridge.domain as _domain


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    EXPIRED = "expired"
    REVOKED = "revoked"


# The ledger states, date bases and outcomes are the domain's own words; the store stores them.
LedgerState = _domain.LedgerState
DateBasis = _domain.DateBasis
Outcome = _domain.ExportOutcome


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"  # its worker died mid-run (no heartbeat); closed by the tenant's next run


class DeliveryState(StrEnum):
    QUEUED = "queued"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TenantRecord:
    tenant_id: str
    settings: dict[str, Any]
    enabled: bool
    version: int
    created_at: datetime
    updated_at: datetime
    portal_epoch: str = ""  # renewed to end every portal link and session of this tenant (docs/portal.md)
    disconnected_at: datetime | None = None  # when Sage was last disconnected (the portal says so)


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """A tenant's connection to one Sage product. Tokens/credentials only ever as ciphertext."""

    tenant_id: str
    provider: str
    ciphertext: bytes
    status: ConnectionStatus = ConnectionStatus.CONNECTED
    business_id: str | None = None
    business_name: str | None = None
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    last_refreshed_at: datetime | None = None
    version: int = 0  # set by the store: 1 on first save, +1 on every save
    # Sage stopped taking this connection's requests until then (a product's rate-limit block, e.g.
    # the regional API's hour): every run and poll, in any container, sends nothing before it.
    # `paused_reason` is the product's sentence for the tenant's status.
    paused_until: datetime | None = None
    paused_reason: str | None = None


@dataclass(frozen=True, slots=True)
class StagedDocument:
    """A host record as received, canonical JSON plus its hash, waiting to be exported.
    `version` orders the host's changes (the host's version number, or occurred_at in epoch
    milliseconds): an older version never overwrites a newer one."""

    tenant_id: str
    kind: str
    host_id: str
    ledger: str
    canonical_json: str
    payload_hash: str
    version: int
    posting_date: date
    document_date: date
    voided: bool = False
    staged_at: datetime | None = None  # set by the store


@dataclass(frozen=True, slots=True)
class IdMapping:
    tenant_id: str
    kind: str
    host_id: str
    sage_id: str
    extra: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    tenant_id: str
    kind: str
    host_id: str
    state: LedgerState
    idempotency_key: str | None = None
    payload_hash: str | None = None  # of the latest claim
    exported_hash: str | None = None  # of what Sage holds
    sage_id: str | None = None
    attempts: int = 0  # claims since the last successful export
    reason: str | None = None
    claim_id: str | None = None
    claimed_at: datetime | None = None
    updated_at: datetime | None = None
    gave_up: bool = False  # failed for good: no run retries this version until a replay or a change
    # Failed in doubt: sent at this time, the answer lost, and a lookup did not find it (yet); a
    # product without idempotent creates sends it again only once its search has settled.
    in_doubt_since: datetime | None = None
    # Skipped with nothing to fix: the host has yet to move the document to a status that exports it.
    waiting: bool = False
    # What a waiting skip waits for, when not its status: "sage" (Sage's block of the connection).
    waits_for: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A won ledger claim: the fencing token (`claim_id`) that mark_exported/skipped/failed need.
    `previous` is the entry as it was before; previous.state == in_flight means an earlier attempt
    died mid-send (an uncertain write): look the document up in Sage before sending again."""

    entry: LedgerEntry
    previous: LedgerEntry | None

    @property
    def uncertain(self) -> bool:
        return self.previous is not None and self.previous.state == LedgerState.IN_FLIGHT


@dataclass(frozen=True, slots=True)
class SyncLogEntry:
    tenant_id: str
    run_id: str
    kind: str
    host_id: str
    outcome: Outcome
    reason: str = ""
    sage_id: str | None = None
    seq: str | None = None  # set by the store (time-sortable) unless given, e.g. for retries
    logged_at: datetime | None = None
    expires_at: int | None = None  # epoch seconds, set by the store
    reason_code: str | None = None  # a SkipCode value or a failure code (export engine)
    number: str | None = None  # the document number a bookkeeper searches for


@dataclass(frozen=True, slots=True)
class RunRecord:
    tenant_id: str
    run_id: str
    trigger: str  # schedule | webhook | admin | replay
    status: RunStatus = RunStatus.RUNNING
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # window, basis, who triggered
    started_at: datetime | None = None
    finished_at: datetime | None = None
    alive_until: datetime | None = None  # a running run's heartbeat: past it, its worker is dead


@dataclass(frozen=True, slots=True)
class Cursor:
    tenant_id: str
    stream: str
    position: str  # must sort as it moves forward, e.g. an ISO-8601 UTC timestamp
    updated_at: datetime  # "last successful poll"


@dataclass(frozen=True, slots=True)
class Lease:
    tenant_id: str
    job: str
    owner: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """The outbound delivery of one event to the host app."""

    event_id: str
    tenant_id: str
    state: DeliveryState
    attempts: int = 0
    last_error: str | None = None
    event_type: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # The host's last answer: its HTTP status (None: no answer, e.g. a timeout), the start of its
    # body, when it came; and whether the message went on to the dead-letter queue.
    last_status: int | None = None
    last_response: str | None = None
    last_attempt_at: datetime | None = None
    dead_lettered: bool = False
    event: dict[str, Any] | None = None  # the envelope as sent, so it can be sent again
