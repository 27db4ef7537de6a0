"""The export job message on EXPORT_QUEUE_URL: what the webhook (and the scheduler) ask the export
worker to do. The worker parses it with `ExportJob.model_validate_json(record.body)`.

    {"tenant_id": "acme", "trigger": "webhook",
     "documents": [{"kind": "sales_invoice", "host_id": "INV-1001"}]}

`documents` empty means "everything due for this tenant" (the scheduled run); non-empty means
"export just these now" (a document reached one of the tenant's trigger statuses).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from sagebridge.domain.fields import HostId
from sagebridge.domain.kinds import DateBasis
from sagebridge.domain.runs import RunTrigger
from sagebridge.domain.settings import ExportType
from sagebridge.observability import current_correlation_id


class ExportTrigger(StrEnum):
    """Who asked. The domain's RunTrigger words are accepted too, so any sender may use either."""

    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    ADMIN = "admin"
    REPLAY = "replay"
    STATUS_CHANGE = "status_change"  # = webhook
    OPERATOR = "operator"  # = admin

    def run_trigger(self) -> RunTrigger:
        """The sync log's word for this trigger."""
        return _RUN_TRIGGER[self]


_RUN_TRIGGER = {
    ExportTrigger.SCHEDULE: RunTrigger.SCHEDULE,
    ExportTrigger.WEBHOOK: RunTrigger.STATUS_CHANGE,
    ExportTrigger.STATUS_CHANGE: RunTrigger.STATUS_CHANGE,
    ExportTrigger.ADMIN: RunTrigger.OPERATOR,
    ExportTrigger.OPERATOR: RunTrigger.OPERATOR,
    ExportTrigger.REPLAY: RunTrigger.REPLAY,
}


class DocumentRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str  # a DocumentKind or PartyKind value: "sales_invoice", "customer_payment", "customer"...
    host_id: HostId


class RunContinuation(BaseModel):
    """Where a paused export run goes on (sagebridge.sync.export.deadline.Resume, as JSON)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str = Field(min_length=1)
    started_at: datetime
    phase: int = Field(default=0, ge=0)
    seen: int = Field(default=0, ge=0)
    part: int = Field(default=2, ge=1)
    staged_since: datetime | None = None
    include_retries: bool = False


class ExportJob(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")  # ignore: newer senders may add fields

    tenant_id: str = Field(min_length=1)
    trigger: ExportTrigger
    documents: list[DocumentRef] = Field(default_factory=list)
    dry_run: bool = False
    event_id: str | None = None  # the webhook event that asked for it, for the sync log
    # An operator's "export now" / dry run (admin API) may narrow the run; None: the tenant's settings
    # (kinds, export type, per-ledger date basis) and, for a scheduled run, the window since the last
    # successful one. Added for the export engine (sync/export.py).
    kinds: list[str] | None = None  # DocumentKind / PartyKind values; "customer"/"vendor" = catalog export
    window_from: date | None = None
    window_to: date | None = None
    date_basis: DateBasis | None = None
    export_type: ExportType | None = None
    requested_by: str | None = None  # the operator, for the run history
    scheduled_for: str | None = None  # the scheduler's slot (ISO time): a job older than the last run is dropped
    # A run that paused before its invocation's deadline goes on here: the same run id, from where
    # it stopped, reading what the first part read (staged_since) whatever the cursor says now.
    continues: RunContinuation | None = None
    # The id its sender logged under (the webhook's or admin call's API request id): the worker logs
    # the run under it too, so one id finds the request and the Sage calls it caused.
    correlation_id: str | None = Field(default_factory=current_correlation_id)
    # A trigger job that also exports every trigger still waiting for the tenant, until none is
    # left (sagebridge.host.triggers): the triggers of a burst share one run.
    coalesced: bool = False


def webhook_export_job(tenant_id: str, kind: str, host_id: str, event_id: str | None = None, *,
                       coalesced: bool = False) -> ExportJob:
    return ExportJob(
        tenant_id=tenant_id,
        trigger=ExportTrigger.WEBHOOK,
        documents=[DocumentRef(kind=kind, host_id=host_id)],
        event_id=event_id,
        coalesced=coalesced,
    )
