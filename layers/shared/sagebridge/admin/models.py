"""The admin API's request and response models (what the OpenAPI document describes), the views
that turn stored records into them, and settings validation that names every bad field
(SettingsInvalid -> 422 with a list)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from sagebridge.admin.mappings import MappingHealth
from sagebridge.domain.base import field_reasons
from sagebridge.domain.errors import SageBridgeError
from sagebridge.domain.kinds import DateBasis, record_kind
from sagebridge.domain.settings import ExportType, TenantSettings
from sagebridge.store import Outcome, RunRecord, RunStatus, SyncLogEntry, TenantRecord
from sagebridge.sync.export import ExportResult

TENANT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
PLANNED_SHOWN = 200
MAPPING_FIELDS = ("tax_mappings", "ledger_mappings", "default_sales_ledger_account_id",
                  "default_purchase_ledger_account_id", "receipt_bank_account_id")


# ----------------------------------------------------------------------------------------- errors


class Problem(BaseModel):
    field: str  # the setting's path: "export_interval_minutes", "tax_mappings.T9"
    message: str


class SettingsInvalid(SageBridgeError):
    """Settings that cannot be saved; `problems` names every bad field."""

    def __init__(self, problems: list[Problem], title: str = "the settings are not valid") -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems, self.title = problems, title  # title: the 422's headline (a request that is not settings)


def settings_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Every problem of a settings document, each naming its field; empty when valid."""
    try:
        TenantSettings.model_validate(dict(data))
    except ValidationError as exc:
        return [Problem(field=where, message=reason)
                for where, reason in field_reasons(exc, whole="(settings)", unknown="is not a known setting")]
    return []


def validated(data: Mapping[str, Any]) -> TenantSettings:
    problems = settings_problems(data)
    if problems:
        raise SettingsInvalid(problems)
    return TenantSettings.model_validate(dict(data))


# --------------------------------------------------------------------------------------- API models


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TenantCreate(_In):
    tenant_id: str = Field(pattern=TENANT_ID_PATTERN, description="the host app's id of the tenant")
    settings: dict[str, Any] = Field(default_factory=lambda: {"provider": "sage_accounting"})
    enabled: bool = True


class SettingsReplace(_In):
    settings: dict[str, Any]
    expected_version: int = Field(ge=1, description="the version you read; 409 if it changed since")


class SettingsChange(_In):
    changes: dict[str, Any] = Field(description="settings to set; null puts a setting back to its default")
    expected_version: int | None = Field(default=None, ge=1)


class TenantView(BaseModel):
    tenant_id: str
    enabled: bool
    version: int
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    webhook_secret: str | None = Field(default=None, description="shown once, when the tenant is created")


class TenantDeleted(BaseModel):
    tenant_id: str
    items_deleted: int
    disconnected: bool
    webhook_secret_deleted: bool


class ConnectLink(BaseModel):
    url: str
    expires_at: datetime


class Disconnected(BaseModel):
    disconnected: bool


class MappingsView(BaseModel):
    tax_mappings: dict[str, str] = Field(default_factory=dict)
    ledger_mappings: dict[str, str] = Field(default_factory=dict)
    default_sales_ledger_account_id: str | None = None
    default_purchase_ledger_account_id: str | None = None
    receipt_bank_account_id: str | None = None


class MappingsChange(_In):
    """Host code -> Sage id. Merged into what is there (a null removes a code) unless `replace`."""

    tax_mappings: dict[str, str | None] | None = None
    ledger_mappings: dict[str, str | None] | None = None
    default_sales_ledger_account_id: str | None = None
    default_purchase_ledger_account_id: str | None = None
    receipt_bank_account_id: str | None = None
    replace: bool = False
    check_in_sage: bool = Field(default=True, description="refuse ids that are not live in the Sage business")


class MappingsSaved(BaseModel):
    version: int
    mappings: MappingsView
    health: MappingHealth


Run = Literal["auto", "now", "queue"]


class ExportStart(_In):
    kinds: list[str] | None = Field(default=None, description="sales_invoice, ..., customer/vendor (catalog)")
    window_from: date | None = Field(default=None, alias="from")
    window_to: date | None = Field(default=None, alias="to")
    date_basis: DateBasis | None = Field(default=None, alias="basis")
    export_type: ExportType | None = Field(default=None, alias="type")
    dry_run: bool = False
    run: Run = Field(default="auto", description="auto: dry runs now, real runs on the export worker")

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str] | None) -> list[str] | None:
        for kind in kinds or []:
            record_kind(kind)  # ValueError names it
        return kinds

    @model_validator(mode="after")
    def _window_in_order(self) -> ExportStart:
        if self.window_from and self.window_to and self.window_from > self.window_to:
            raise ValueError(f"from {self.window_from} is after to {self.window_to}")
        return self


class DocumentIn(_In):
    kind: str
    host_id: str = Field(min_length=1, max_length=255)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        return record_kind(kind).value


ReplayState = Literal["failed", "skipped"]
REPLAY_STATES: tuple[ReplayState, ...] = ("failed", "skipped")


class ReplayRequest(_In):
    documents: list[DocumentIn] = Field(default_factory=list, description="empty: every open failure")
    states: list[ReplayState] = Field(default_factory=lambda: list(REPLAY_STATES))
    run: Run = "auto"


class PlannedView(BaseModel):
    kind: str
    host_id: str
    outcome: str
    message: str = ""


class RunView(BaseModel):
    run_id: str
    trigger: str
    status: str  # running | succeeded | failed | abandoned (its worker died; closed by the next run)
    result: Literal["running", "succeeded", "partial", "failed"]  # partial: some failed or were skipped
    dry_run: bool
    counts: dict[str, int]
    details: dict[str, Any]
    started_at: datetime | None = None
    finished_at: datetime | None = None
    planned: list[PlannedView] | None = None  # a dry run's answer (first PLANNED_SHOWN)


class RunsPage(BaseModel):
    runs: list[RunView]
    next_token: str | None = None


class ExportStarted(BaseModel):
    mode: Literal["ran", "queued", "nothing"]
    message: str
    requested_by: str  # find the run it becomes: GET runs?requested_by=...
    documents: int | None = None
    run: RunView | None = None


class LogEntryView(BaseModel):
    run_id: str
    seq: str | None
    kind: str
    host_id: str
    number: str | None = None
    outcome: str
    reason_code: str | None = None
    reason: str = ""
    sage_id: str | None = None
    logged_at: datetime | None = None


class LogPage(BaseModel):
    """Up to `limit` matching lines. A narrow filter can match few of many lines: one answer reads
    at most LOG_READ_BUDGET lines, so fewer entries than asked with a next_token means "not all
    searched yet", never "no more": follow next_token."""

    entries: list[LogEntryView]
    next_token: str | None = None
    lines_read: int = Field(0, description="sync log lines read to answer this page, at most "
                            "(a filtered last read counts as a full page of 200)")


class ReceivedDocument(BaseModel):
    """A record the host app sent, as it waits for (or was looked at by) a run."""

    kind: str
    host_id: str
    number: str | None = Field(None, description="the document's number, or a customer's or vendor's name")
    status: str | None = Field(None, description="the host app's status of a document")
    voided: bool = False
    received_at: datetime | None = None
    exportable: bool = Field(description="false: its status is not exportable, so no run sends it as it is")
    trigger_status: bool = Field(False, description="its status exports it at once (its own run), not with "
                                                    "the next scheduled run")


class ReceivedDocuments(BaseModel):
    documents: list[ReceivedDocument]


class SageLogin(BaseModel):
    """The tenant's own Sage login, for a product that connects with one instead of Sage's sign-in
    (Sage Intacct: its company id, Web Services user and password, and for a multi-entity company
    the entity; the sender is the integration's, from the settings secret)."""

    model_config = ConfigDict(extra="forbid")

    company_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    user_password: SecretStr = Field(min_length=1)
    entity_id: str | None = None  # a location id, for multi-entity companies


class TenantsPage(BaseModel):
    tenants: list[TenantView]
    next_token: str | None = None


def tenant_view(t: TenantRecord, *, webhook_secret: str | None = None) -> TenantView:
    return TenantView(tenant_id=t.tenant_id, enabled=t.enabled, version=t.version, settings=t.settings,
                      created_at=t.created_at, updated_at=t.updated_at, webhook_secret=webhook_secret)


def run_view(run: RunRecord, result: ExportResult | None = None) -> RunView:
    failed = run.counts.get(Outcome.FAILED.value, 0) + run.counts.get(Outcome.SKIPPED.value, 0)
    if run.status is RunStatus.RUNNING:
        verdict: Literal["running", "succeeded", "partial", "failed"] = "running"
    elif run.status in (RunStatus.FAILED, RunStatus.ABANDONED):
        verdict = "failed"
    else:
        verdict = "partial" if failed else "succeeded"
    planned = None
    if result is not None and result.dry_run:
        planned = [PlannedView(kind=p.kind, host_id=p.host_id, outcome=Outcome(p.outcome).value, message=p.message)
                   for p in result.planned[:PLANNED_SHOWN]]
    return RunView(run_id=run.run_id, trigger=run.trigger, status=run.status.value, result=verdict,
                   dry_run=run.dry_run, counts=run.counts, details=run.details, started_at=run.started_at,
                   finished_at=run.finished_at, planned=planned)


def log_view(e: SyncLogEntry) -> LogEntryView:
    return LogEntryView(run_id=e.run_id, seq=e.seq, kind=e.kind, host_id=e.host_id, number=e.number,
                        outcome=Outcome(e.outcome).value, reason_code=e.reason_code, reason=e.reason,
                        sage_id=e.sage_id, logged_at=e.logged_at)



def mappings_view(settings: TenantSettings) -> MappingsView:
    return MappingsView.model_validate(settings.model_dump(include=set(MAPPING_FIELDS)))


__all__ = [
    "ConnectLink",
    "Disconnected",
    "DocumentIn",
    "ExportStart",
    "ExportStarted",
    "LogEntryView",
    "LogPage",
    "MappingsChange",
    "MappingsSaved",
    "MappingsView",
    "PlannedView",
    "Problem",
    "ReplayRequest",
    "RunView",
    "RunsPage",
    "SageLogin",
    "SettingsChange",
    "SettingsInvalid",
    "SettingsReplace",
    "TenantCreate",
    "TenantDeleted",
    "TenantView",
    "TenantsPage",
    "log_view",
    "mappings_view",
    "run_view",
    "settings_problems",
    "tenant_view",
    "validated",
]
