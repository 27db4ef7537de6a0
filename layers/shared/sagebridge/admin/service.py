"""What operators do to a tenant (the admin API and the `sagebridge` CLI call these): set it up,
connect it, map its codes onto Sage, export now / dry run, read the log, replay what failed.

`Admin` holds the ports (store, Sage wiring, export queue, worker, webhook secrets) and speaks in
API models, so the handler only routes. Every settings error names its field (SettingsInvalid ->
422 with a list); everything else raises the domain's NotFoundError / ConflictError.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from sagebridge.connectors.base import Connector, LinkConnect, Login, LoginConnect, NotConnected
from sagebridge.domain.base import field_reasons
from sagebridge.domain.errors import ConfigurationError, ConflictError, SageBridgeError
from sagebridge.domain.kinds import DateBasis, DocumentKind, record_kind
from sagebridge.domain.settings import ExportType, TenantSettings, parse_tenant_settings
from sagebridge.host.jobs import DocumentRef, ExportJob, ExportTrigger
from sagebridge.observability import logger
from sagebridge.settings import Settings
from sagebridge.store import LedgerState, Outcome, RunRecord, RunStatus, Store, SyncLogEntry, TenantRecord
from sagebridge.store.aws import AwsClients
from sagebridge.store.notifications import Notifier
from sagebridge.store.queues import MessageQueue
from sagebridge.store.webhook_secrets import WebhookSecretStore
from sagebridge.sync.export import ExportResult
from sagebridge.sync.products import SageProducts
from sagebridge.sync.reconcile import ReconciliationReport, reconcile
from sagebridge.sync.scheduling import JobQueue, WorkerDeps, handle_export_job
from sagebridge.sync.status import (
    ConnectionView,
    MappingHealth,
    SageAccountRef,
    TenantStatus,
    check_mappings,
    connection_view,
    sage_refs,
    tenant_status,
)

TENANT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
INLINE_REPLAY_LIMIT = 25  # more than this goes to the export worker (the API answers within 30 s)
PLANNED_SHOWN = 200
REPLAYABLE = (LedgerState.FAILED, LedgerState.SKIPPED)
MAPPING_FIELDS = ("tax_mappings", "ledger_mappings", "default_sales_ledger_account_id",
                  "default_purchase_ledger_account_id", "receipt_bank_account_id")


# ----------------------------------------------------------------------------------------- errors


class Problem(BaseModel):
    field: str  # the setting's path: "export_interval_minutes", "tax_mappings.T9"
    message: str


class SettingsInvalid(SageBridgeError):
    """Settings that cannot be saved; `problems` names every bad field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


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
    entries: list[LogEntryView]
    next_token: str | None = None


class IntacctLogin(BaseModel):
    """The tenant's own Intacct login (the sender is the integration's, from the settings secret)."""

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


# ------------------------------------------------------------------------------------------ service


@dataclass
class Admin:
    store: Store
    products: SageProducts  # each tenant's own Sage product (Accounting, Intacct or Sage 200)
    worker: WorkerDeps
    export_queue: JobQueue | None = None
    webhook_secrets: WebhookSecretStore | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # ---- tenants

    def create_tenant(self, body: TenantCreate) -> TenantView:
        validated(body.settings)
        try:
            record = self.store.tenants.create(body.tenant_id, body.settings, enabled=body.enabled)
        except ConflictError:
            raise ConflictError(f"tenant {body.tenant_id} already exists") from None
        secret = self.webhook_secrets.create(body.tenant_id) if self.webhook_secrets else None
        return tenant_view(record, webhook_secret=secret)

    def list_tenants(self, *, limit: int = 100, next_token: str | None = None) -> TenantsPage:
        page = self.store.tenants.list(limit=limit, next_token=next_token)
        return TenantsPage(tenants=[tenant_view(t) for t in page], next_token=page.next_token)

    def tenant(self, tenant_id: str) -> TenantView:
        return tenant_view(self.store.tenants.get(tenant_id))

    def replace_settings(self, tenant_id: str, body: SettingsReplace) -> TenantView:
        validated(body.settings)
        return tenant_view(self.store.tenants.update_settings(tenant_id, body.settings,
                                                              expected_version=body.expected_version))

    def change_settings(self, tenant_id: str, body: SettingsChange) -> TenantView:
        current = self.store.tenants.get(tenant_id)
        merged = {k: v for k, v in {**current.settings, **body.changes}.items() if v is not None}
        validated(merged)
        version = body.expected_version or current.version
        return tenant_view(self.store.tenants.update_settings(tenant_id, merged, expected_version=version))

    def set_enabled(self, tenant_id: str, enabled: bool) -> TenantView:
        return tenant_view(self.store.tenants.set_enabled(tenant_id, enabled))

    def delete_tenant(self, tenant_id: str) -> TenantDeleted:
        """The tenant and everything it owns: the grant at Sage is revoked first, then the data."""
        _, settings = self._settings(tenant_id)
        disconnected = self.products.disconnect(tenant_id, settings.provider)
        deleted = self.store.tenants.delete(tenant_id)
        secret = self.webhook_secrets.delete(tenant_id) if self.webhook_secrets else False
        return TenantDeleted(tenant_id=tenant_id, items_deleted=deleted, disconnected=disconnected,
                             webhook_secret_deleted=secret)

    def rotate_webhook_secret(self, tenant_id: str) -> TenantView:
        if self.webhook_secrets is None:
            raise ConfigurationError("no webhook secret store is configured")
        tenant = self.store.tenants.get(tenant_id)
        return tenant_view(tenant, webhook_secret=self.webhook_secrets.rotate(tenant_id))

    def _settings(self, tenant_id: str) -> tuple[TenantRecord, TenantSettings]:
        tenant = self.store.tenants.get(tenant_id)
        return tenant, parse_tenant_settings(tenant.settings)

    # ---- connection

    def connect_link(self, tenant_id: str, api_base_url: str, *, allow_business_change: bool = False) -> ConnectLink:
        """A single-use, short-lived link; `allow_business_change`: the operator confirms the tenant
        may link a different Sage business than the one connected (logged when it happens)."""
        _, settings = self._settings(tenant_id)
        # One signed link for every OAuth product: the connect function routes it by the tenant's provider.
        connects_by = self.products.product(settings.provider).connects_by
        if not isinstance(connects_by, LinkConnect):
            raise ConfigurationError(connects_by.how_to_connect)
        url = connects_by.connect_link(api_base_url, tenant_id, allow_business_change=allow_business_change)
        if allow_business_change:
            logger.info("connect_link_allows_business_change", extra={"tenant_id": tenant_id})
        expires = int(dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))["expires"])
        return ConnectLink(url=url, expires_at=datetime.fromtimestamp(expires, UTC))

    def connection(self, tenant_id: str) -> ConnectionView:
        _, settings = self._settings(tenant_id)
        record = self.products.find_connection(tenant_id, settings.provider)
        return connection_view(record, settings.provider.value, self.clock())

    def connect_intacct(self, tenant_id: str, body: IntacctLogin) -> ConnectionView:
        """Verify the tenant's Intacct login with Intacct, then keep it encrypted (never logged)."""
        _, settings = self._settings(tenant_id)
        connects_by = self.products.product(settings.provider).connects_by
        if not isinstance(connects_by, LoginConnect):  # an OAuth product: its connect link, not a login
            raise ConfigurationError(f"tenant {tenant_id} uses {settings.provider.value}, not sage_intacct")
        connects_by.connect_login(tenant_id, Login(body.company_id, body.user_id, body.user_password, body.entity_id))
        return self.connection(tenant_id)

    def disconnect(self, tenant_id: str) -> Disconnected:
        _, settings = self._settings(tenant_id)
        return Disconnected(disconnected=self.products.disconnect(tenant_id, settings.provider))

    # ---- Sage reference data and mappings

    def connector(self, tenant_id: str) -> Connector:
        """NotConnected when the tenant has no live connection."""
        _, settings = self._settings(tenant_id)
        return self.products.connector_for(tenant_id, settings)

    def sage_list(self, tenant_id: str, what: Literal["tax_rates", "ledger_accounts", "bank_accounts"]
                  ) -> list[SageAccountRef]:
        self.store.tenants.get(tenant_id)
        connector = self.connector(tenant_id)
        if what == "tax_rates":
            return sage_refs(connector.list_tax_rates(), code_field="percentage")
        if what == "ledger_accounts":
            return sage_refs(connector.list_ledger_accounts(), code_field="nominal_code")
        return sage_refs(connector.list_bank_accounts(), code_field="nominal_code")

    def mappings(self, tenant_id: str) -> MappingsView:
        _, settings = self._settings(tenant_id)
        return MappingsView.model_validate(settings.model_dump(include=set(MAPPING_FIELDS)))

    def mapping_health(self, tenant_id: str) -> MappingHealth:
        _, settings = self._settings(tenant_id)
        connector, why = self._connector_or_reason(tenant_id)
        return check_mappings(settings, connector, why_not=why)

    def _connector_or_reason(self, tenant_id: str) -> tuple[Connector | None, str | None]:
        try:
            return self.connector(tenant_id), None
        except NotConnected as exc:
            return None, exc.message

    def set_mappings(self, tenant_id: str, body: MappingsChange) -> MappingsSaved:
        tenant = self.store.tenants.get(tenant_id)
        new = dict(tenant.settings)
        changed: set[str] = set()
        for name in ("tax_mappings", "ledger_mappings"):
            given: dict[str, str | None] | None = getattr(body, name)
            if given is None:
                continue
            merged = {} if body.replace else dict(new.get(name) or {})
            for code, sage_id in given.items():
                if sage_id is None:
                    merged.pop(code, None)
                else:
                    merged[code] = sage_id
                    changed.add(f"{name}.{code.strip()}")
            new[name] = merged
        for name in MAPPING_FIELDS[2:]:
            if name in body.model_fields_set:
                value = getattr(body, name)
                new[name] = value
                changed.add(name)
        settings = validated({k: v for k, v in new.items() if v is not None})
        health = MappingHealth(checked=False, ok=False, reason="not checked")
        if body.check_in_sage:
            connector, why = self._connector_or_reason(tenant_id)
            health = check_mappings(settings, connector, why_not=why)
            refused = [p for p in health.problems if p.setting in changed]
            if refused:
                raise SettingsInvalid([Problem(field=p.setting, message=p.message) for p in refused])
        saved = self.store.tenants.update_settings(tenant_id, {k: v for k, v in new.items() if v is not None},
                                                   expected_version=tenant.version)
        return MappingsSaved(version=saved.version, health=health,
                             mappings=MappingsView.model_validate(settings.model_dump(include=set(MAPPING_FIELDS))))

    # ---- exports, runs, log, replay

    def _requested_by(self, caller: str) -> str:
        return f"{caller} #{uuid.uuid4().hex[:12]}"

    def _run_or_queue(self, job: ExportJob, *, inline: bool) -> ExportStarted:
        assert job.requested_by is not None
        if not inline:
            if self.export_queue is None:
                raise ConfigurationError("no export queue is configured")
            self.export_queue.send(job.model_dump(mode="json", exclude_none=True))
            return ExportStarted(mode="queued", requested_by=job.requested_by, documents=len(job.documents) or None,
                                 message="queued for the export worker; follow it with GET "
                                         f"runs?requested_by={quote(job.requested_by, safe='')}")
        result = handle_export_job(job, self.worker)  # LeaseHeld (a ConflictError) when one is running
        if result is None:
            return ExportStarted(mode="nothing", requested_by=job.requested_by,
                                 message="nothing to do: the tenant is disabled")
        run = self.store.runs.get(job.tenant_id, result.run_id)
        return ExportStarted(mode="ran", requested_by=job.requested_by, run=run_view(run, result),
                             documents=len(job.documents) or None, message=f"run {run.run_id} {run.status.value}")

    def start_export(self, tenant_id: str, body: ExportStart, *, caller: str) -> ExportStarted:
        self._settings(tenant_id)  # refuse broken settings before anything runs
        job = ExportJob(
            tenant_id=tenant_id, trigger=ExportTrigger.ADMIN, dry_run=body.dry_run, kinds=body.kinds,
            window_from=body.window_from, window_to=body.window_to, date_basis=body.date_basis,
            export_type=body.export_type, requested_by=self._requested_by(caller),
        )
        inline = body.run == "now" or (body.run == "auto" and body.dry_run)
        return self._run_or_queue(job, inline=inline)

    def replay(self, tenant_id: str, body: ReplayRequest, *, caller: str) -> ExportStarted:
        """Send failed or skipped documents again (after the mapping or the document was fixed)."""
        self._settings(tenant_id)
        refs = [DocumentRef(kind=d.kind, host_id=d.host_id) for d in body.documents]
        if not refs:
            for state in REPLAYABLE:
                if state.value not in body.states:
                    continue
                token: str | None = None
                while True:
                    page = self.store.ledger.list_by_state(tenant_id, state, limit=100, next_token=token)
                    refs += [DocumentRef(kind=e.kind, host_id=e.host_id) for e in page]
                    if not (token := page.next_token):
                        break
        requested_by = self._requested_by(caller)
        if not refs:
            return ExportStarted(mode="nothing", requested_by=requested_by, documents=0,
                                 message="nothing to replay: no failed or skipped documents")
        job = ExportJob(tenant_id=tenant_id, trigger=ExportTrigger.REPLAY, documents=refs, requested_by=requested_by)
        inline = body.run == "now" or (body.run == "auto" and len(refs) <= INLINE_REPLAY_LIMIT)
        return self._run_or_queue(job, inline=inline)

    def runs(self, tenant_id: str, *, limit: int = 20, next_token: str | None = None,
             requested_by: str | None = None) -> RunsPage:
        self.store.tenants.get(tenant_id)
        page = self.store.runs.newest(tenant_id, limit=limit, next_token=next_token)
        runs = [r for r in page if requested_by is None or r.details.get("requested_by") == requested_by]
        return RunsPage(runs=[run_view(r) for r in runs], next_token=page.next_token)

    def run(self, tenant_id: str, run_id: str) -> RunView:
        return run_view(self.store.runs.get(tenant_id, run_id))

    def log(
        self, tenant_id: str, *, run: str | None = None, kind: str | None = None, outcome: Outcome | None = None,
        host_id: str | None = None, since: date | None = None, until: date | None = None, limit: int = 50,
        next_token: str | None = None, max_pages: int = 10,
    ) -> LogPage:
        """The sync log, newest first (one run: in the order written), filtered. A page may hold
        fewer than `limit` entries when the filters are narrow; `next_token` goes on."""
        self.store.tenants.get(tenant_id)
        found: list[LogEntryView] = []
        token = next_token
        for _ in range(max_pages):
            if run is not None:
                page = self.store.synclog.for_run(tenant_id, run, limit=limit, next_token=token)
            else:
                page = self.store.synclog.newest(tenant_id, kind=kind, outcome=outcome, host_id=host_id,
                                                 limit=limit, next_token=token)
            token = page.next_token
            for e in page:
                day = e.logged_at.astimezone(UTC).date() if e.logged_at else None
                if run is not None and ((kind and e.kind != kind) or (outcome and e.outcome != outcome)
                                        or (host_id and e.host_id != host_id)):
                    continue
                if day is not None and ((since and day < since) or (until and day > until)):
                    if run is None and since and day < since:
                        token = None  # newest first: everything after this is older still
                    continue
                found.append(log_view(e))
            if len(found) >= limit or token is None:
                break
        return LogPage(entries=found[:limit], next_token=token)

    # ---- status and reconciliation

    def status(self, tenant_id: str) -> TenantStatus:
        tenant, settings = self.store.tenants.get(tenant_id), None
        try:
            settings = parse_tenant_settings(tenant.settings)
        except ConfigurationError as exc:
            health = MappingHealth(checked=False, ok=False, reason=str(exc))
        connector, why = self._connector_or_reason(tenant_id)
        if settings is not None:
            health = check_mappings(settings, connector, why_not=why)
        return tenant_status(self.store, tenant_id, connection=self.connection(tenant_id), mapping_health=health,
                             now=self.clock())

    def reconcile(self, tenant_id: str, *, window_from: date, window_to: date, kinds: list[str] | None = None,
                  date_basis: DateBasis | None = None) -> ReconciliationReport:
        _, settings = self._settings(tenant_id)
        for kind in kinds or []:
            if not isinstance(record_kind(kind), DocumentKind):
                raise SettingsInvalid([Problem(field="kinds", message=f"{kind}: only documents and payments are "
                                                                     "reconciled, not parties")])
        return reconcile(self.store, self.connector(tenant_id), settings, tenant_id, window_from=window_from,
                         window_to=window_to, kinds=kinds, date_basis=date_basis)


def build_admin(settings: Settings, *, clients: AwsClients | None = None) -> Admin:
    """The deployed wiring (one per container): DynamoDB, KMS, SQS, SNS and Secrets Manager."""
    clients = clients or AwsClients()
    products = SageProducts(settings, clients)
    assert products.store is not None
    worker = WorkerDeps(store=products.store, connector_for=products.connector_for,
                        business_currency_for=products.business_currency_for,
                        outbox=products.delivery_outbox(),
                        notify=Notifier(settings.notification_topic_arn, clients).publish)
    return Admin(store=products.store, products=products, worker=worker,
                 export_queue=MessageQueue(settings.export_queue_url, clients),
                 webhook_secrets=WebhookSecretStore(settings.settings_secret_name, clients))


__all__ = [
    "Admin",
    "ConnectLink",
    "DocumentIn",
    "ExportStart",
    "ExportStarted",
    "IntacctLogin",
    "LogPage",
    "MappingsChange",
    "MappingsSaved",
    "MappingsView",
    "Problem",
    "ReplayRequest",
    "RunView",
    "RunsPage",
    "SettingsChange",
    "SettingsInvalid",
    "SettingsReplace",
    "TenantCreate",
    "TenantDeleted",
    "TenantView",
    "TenantsPage",
    "build_admin",
    "settings_problems",
]
