"""What operators do to a tenant (the admin API and the `sagebridge` CLI call these): set it up,
connect it, map its codes onto Sage, export now / dry run, read the log, replay what failed.

`Admin` holds the ports (store, Sage wiring, export queue, worker, webhook secrets) and speaks in
API models (admin.models), so the handler only routes. Every settings error names its field
(SettingsInvalid -> 422 with a list); everything else raises the domain's NotFoundError / ConflictError.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from sagebridge.admin import portal_links as portal
from sagebridge.admin.deliveries import DeliveriesPage, DeliveriesResent, list_deliveries, resend_all_failed, resend_one
from sagebridge.admin.mappings import MappingHealth, SageAccountRef, check_mappings, sage_refs
from sagebridge.admin.models import (
    MAPPING_FIELDS,
    ConnectLink,
    Disconnected,
    ExportStart,
    ExportStarted,
    LogEntryView,
    LogPage,
    MappingsChange,
    MappingsSaved,
    MappingsView,
    Problem,
    ReceivedDocument,
    ReceivedDocuments,
    ReplayRequest,
    RunsPage,
    RunView,
    SageLogin,
    SettingsChange,
    SettingsInvalid,
    SettingsReplace,
    TenantCreate,
    TenantDeleted,
    TenantsPage,
    TenantView,
    log_view,
    mappings_view,
    run_view,
    tenant_view,
    validated,
)
from sagebridge.admin.settings_changes import (
    SettingsHistoryPage,
    field_changes,
    move_legacy_email,
    version_view,
)
from sagebridge.admin.status import ConnectionView, TenantStatus, connection_view, tenant_status
from sagebridge.admin.status_page import render_status_page
from sagebridge.connectors.base import Connector, LinkConnect, Login, LoginConnect, NotConnected
from sagebridge.domain.errors import ConfigurationError, ConflictError, NotFoundError
from sagebridge.domain.kinds import ALL_RECORD_KINDS, DateBasis, DocumentKind, record_kind
from sagebridge.domain.settings import TenantSettings, parse_tenant_settings
from sagebridge.host.jobs import DocumentRef, ExportJob, ExportTrigger
from sagebridge.observability import logger
from sagebridge.security.portal import tenant_binding
from sagebridge.store import LedgerState, Outcome, Store, TenantRecord
from sagebridge.store.failure_emails import FailureEmails
from sagebridge.store.records import DeliveryState
from sagebridge.store.webhook_secrets import WebhookSecretStore
from sagebridge.sync.products import SageProducts
from sagebridge.sync.reconcile import ReconciliationReport, reconcile
from sagebridge.sync.scheduling import JobQueue, WorkerDeps, handle_export_job

INLINE_REPLAY_LIMIT = 25  # more than this goes to the export worker (the API answers within 30 s)
REPLAYABLE = (LedgerState.FAILED, LedgerState.SKIPPED)
# One sync log answer reads up to this many lines (pages of LOG_READ_PAGE) to find its matches: a
# narrow filter finds a few skips among thousands of lines, and the API still answers in a second or two.
LOG_READ_PAGE = 200
LOG_READ_BUDGET = 2000


@dataclass
class Admin:
    store: Store
    products: SageProducts  # each tenant's own Sage product (Accounting, Intacct or Sage 200)
    worker: WorkerDeps
    export_queue: JobQueue | None = None
    webhook_secrets: WebhookSecretStore | None = None
    portal_links: portal.PortalLinks | None = None  # signs tenant portal links (None: the deployment's)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    failure_emails: FailureEmails | None = None  # the failure digest's subscriptions (None: no channel)

    # ---- tenants

    def create_tenant(self, body: TenantCreate, *, actor: str = "admin-api:unknown") -> TenantView:
        validated(body.settings)
        try:
            record = self.store.tenants.create(body.tenant_id, body.settings, enabled=body.enabled)
        except ConflictError:
            raise ConflictError(f"tenant {body.tenant_id} already exists") from None
        self.store.settings_history.record_created(record, actor=actor,
                                                   changes=field_changes({}, record.settings))
        self._follow_failures(body.tenant_id, {}, record.settings)
        secret = self.webhook_secrets.create(body.tenant_id) if self.webhook_secrets else None
        return tenant_view(record, webhook_secret=secret)

    def list_tenants(self, *, limit: int = 100, next_token: str | None = None) -> TenantsPage:
        page = self.store.tenants.list(limit=limit, next_token=next_token)
        return TenantsPage(tenants=[tenant_view(t) for t in page], next_token=page.next_token)

    def tenant(self, tenant_id: str) -> TenantView:
        return tenant_view(self.store.tenants.get(tenant_id))

    def replace_settings(self, tenant_id: str, body: SettingsReplace, *, actor: str = "admin-api:unknown"
                         ) -> TenantView:
        current = self.store.tenants.get(tenant_id)
        return tenant_view(self._save_settings(current, dict(body.settings), actor=actor,
                                               expected_version=body.expected_version))

    def change_settings(self, tenant_id: str, body: SettingsChange, *, actor: str = "admin-api:unknown"
                        ) -> TenantView:
        return self.update_settings(tenant_id, body.changes, actor=actor, expected_version=body.expected_version)

    def update_settings(self, tenant_id: str, changes: Mapping[str, Any], *, actor: str,
                        expected_version: int | None = None) -> TenantView:
        """THE way a tenant's settings change (the admin API's PATCH, the portal's settings form).
        `changes` sets settings (None puts one back to its default); every bad one is named
        (SettingsInvalid -> 422 with a problem per field). Saved as a new version with an audit
        entry: `actor` (who: "admin-api:<principal>", "portal:<role>"), when, and each changed
        field's old and new value (never a secret). `expected_version`: the version the editor
        read; ConflictError (409) when somebody saved since, so two editors never overwrite each other."""
        current = self.store.tenants.get(tenant_id)
        # Resetting a name that is not a setting would otherwise vanish in the merge: a typo reported
        # as success. Named like every other bad field.
        unknown = sorted(k for k, v in changes.items() if v is None and k not in TenantSettings.model_fields)
        if unknown:
            raise SettingsInvalid([Problem(field=k, message="is not a known setting") for k in unknown])
        merged = {k: v for k, v in {**current.settings, **changes}.items() if v is not None}
        return tenant_view(self._save_settings(current, merged, actor=actor, expected_version=expected_version))

    def settings_history(self, tenant_id: str, *, limit: int = 50, next_token: str | None = None
                         ) -> SettingsHistoryPage:
        """Saved settings versions, newest first, each with who changed what."""
        current = self.store.tenants.get(tenant_id)
        page = self.store.settings_history.list(tenant_id, limit=limit, next_token=next_token)
        return SettingsHistoryPage(tenant_id=tenant_id, current_version=current.version,
                                   versions=[version_view(v) for v in page], next_token=page.next_token)

    def _save_settings(self, current: TenantRecord, new: dict[str, Any], *, actor: str,
                       expected_version: int | None) -> TenantRecord:
        tenant_id = current.tenant_id
        if expected_version is not None and expected_version != current.version:
            raise ConflictError(f"tenant {tenant_id}: the settings changed since version {expected_version} was "
                                f"read (they are at version {current.version} now); read them again and send the "
                                f"change with expected_version {current.version}")
        validated(new)  # problems named as the caller wrote them, before the migration below
        note = move_legacy_email(new)
        self._keep_connected_product(tenant_id, validated(new))
        changes = field_changes(current.settings, new)
        if not changes:
            return current  # nothing changed: no new version
        saved = self.store.settings_history.save(current, new, expected_version=current.version, actor=actor,
                                                 changes=changes, note=note)
        logger.info("settings_saved", extra={"tenant_id": tenant_id, "version": saved.version, "actor": actor,
                                             "fields": [c.field for c in changes]})
        self._follow_failures(tenant_id, current.settings, new)
        return replace(current, settings=new, version=saved.version, updated_at=saved.changed_at)

    def _follow_failures(self, tenant_id: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        """Subscribe the failure addresses a save added, drop those it removed (a notification_email
        not moved yet was never subscribed: the save that moves it subscribes it)."""
        if self.failure_emails is not None and before.get("failure_emails") != after.get("failure_emails"):
            self.failure_emails.follow(tenant_id, before.get("failure_emails") or [], after.get("failure_emails") or [])

    def _keep_connected_product(self, tenant_id: str, new: TenantSettings) -> None:
        """A tenant connected to one product cannot be moved to another: its exports would stop with
        its mappings pointing at the old product's records and its connection left behind."""
        try:
            _, settings = self._settings(tenant_id)
        except ConfigurationError:
            return  # settings that no longer parse: replacing them is how they get fixed
        if new.provider is not settings.provider and self.products.find_connection(tenant_id, settings.provider):
            raise ConflictError(f"tenant {tenant_id} is connected to {settings.provider.value}: disconnect it first "
                                f"(DELETE .../connection), then change the provider and its mappings")

    def set_enabled(self, tenant_id: str, enabled: bool) -> TenantView:
        return tenant_view(self.store.tenants.set_enabled(tenant_id, enabled))

    def delete_tenant(self, tenant_id: str) -> TenantDeleted:
        """The tenant and everything it owns: the grant at Sage is revoked first, then the data."""
        tenant, settings = self._settings(tenant_id)
        disconnected = self.products.disconnect(tenant_id, settings.provider)
        deleted = self.store.tenants.delete(tenant_id)
        self._follow_failures(tenant_id, tenant.settings, {})  # its addresses stop getting its digests
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

    def connect_link(self, tenant_id: str, api_base_url: str, *, allow_business_change: bool = False,
                     return_to: str | None = None, portal_url: str | None = None) -> ConnectLink:
        """A single-use, short-lived link; `allow_business_change`: the operator confirms the tenant
        may link a different Sage business than the one connected (logged when it happens)."""
        _, settings = self._settings(tenant_id)
        # One signed link for every OAuth product: the connect function routes it by the tenant's provider.
        connects_by = self.products.product(settings.provider).connects_by
        if not isinstance(connects_by, LinkConnect):
            raise ConfigurationError(connects_by.how_to_connect)
        back: dict[str, str] = {"return_to": return_to} if return_to else {}  # the portal's way back to the host app
        if portal_url:
            back["portal_url"] = portal_url  # and to the portal itself
        url = connects_by.connect_link(api_base_url, tenant_id, allow_business_change=allow_business_change, **back)
        if allow_business_change:
            logger.info("connect_link_allows_business_change", extra={"tenant_id": tenant_id})
        expires = int(dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))["expires"])
        return ConnectLink(url=url, expires_at=datetime.fromtimestamp(expires, UTC))

    def connection(self, tenant_id: str) -> ConnectionView:
        _, settings = self._settings(tenant_id)
        record = self.products.find_connection(tenant_id, settings.provider)
        return connection_view(record, settings.provider.value, self.clock(),
                               how_to_connect=self._how_to_connect(settings) if record is None else "")

    def _how_to_connect(self, settings: TenantSettings) -> str:
        try:
            login = isinstance(self.products.product(settings.provider).connects_by, LoginConnect)
        except ConfigurationError:  # the product cannot be built here (its credentials missing): say the usual
            login = False
        return "send the tenant's login (POST .../login-connection)" if login else "send the tenant a connect link"

    def connect_login(self, tenant_id: str, body: SageLogin) -> ConnectionView:
        """Verify the tenant's login with its Sage product, then keep it encrypted (never logged)."""
        _, settings = self._settings(tenant_id)
        connects_by = self.products.product(settings.provider).connects_by
        if not isinstance(connects_by, LoginConnect):  # an OAuth product: its connect link, not a login
            raise ConfigurationError(f"tenant {tenant_id} uses {settings.provider.value}, which connects through "
                                     "Sage's own sign-in, not a login: send the tenant a connect link instead")
        connects_by.connect_login(tenant_id, Login(body.company_id, body.user_id, body.user_password, body.entity_id))
        return self.connection(tenant_id)

    def disconnect(self, tenant_id: str) -> Disconnected:
        _, settings = self._settings(tenant_id)
        done = self.products.disconnect(tenant_id, settings.provider)
        if done:
            self.store.tenants.mark_disconnected(tenant_id)  # the portal says "Disconnected on <date>"
        return Disconnected(disconnected=done)

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
        return mappings_view(settings)

    def mapping_health(self, tenant_id: str) -> MappingHealth:
        _, settings = self._settings(tenant_id)
        return self._check_mappings(tenant_id, settings)

    def _check_mappings(self, tenant_id: str, settings: TenantSettings) -> MappingHealth:
        """`settings`' mappings against the tenant's connected Sage business (not checked when not connected)."""
        try:
            connector: Connector | None = self.connector(tenant_id)
            why = None
        except NotConnected as exc:
            connector, why = None, exc.message
        return check_mappings(settings, connector, why_not=why)

    def set_mappings(self, tenant_id: str, body: MappingsChange, *, actor: str = "admin-api:unknown"
                     ) -> MappingsSaved:
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
            health = self._check_mappings(tenant_id, settings)
            refused = [p for p in health.problems if p.setting in changed]
            if refused:
                raise SettingsInvalid([Problem(field=p.setting, message=p.message) for p in refused])
        saved = self._save_settings(tenant, {k: v for k, v in new.items() if v is not None}, actor=actor,
                                    expected_version=tenant.version)
        return MappingsSaved(version=saved.version, health=health,
                             mappings=mappings_view(settings))

    # ---- exports, runs, log, replay

    def _requested_by(self, caller: str) -> str:
        return f"{caller} #{uuid.uuid4().hex[:12]}"

    def _run_or_queue(self, job: ExportJob, *, inline: bool) -> ExportStarted:
        assert job.requested_by is not None
        if not inline:
            if self.export_queue is None:
                raise ConfigurationError("no export queue is configured")
            # A queued job for a tenant with no connection would end without a run to follow.
            _, settings = self._settings(job.tenant_id)
            if not self.products.is_connected(job.tenant_id, settings):
                raise NotConnected(f"tenant {job.tenant_id} has no live {settings.provider.value} connection: "
                                   "connect it first, then export")
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
        next_token: str | None = None, number: str | None = None, read_budget: int | None = None,
    ) -> LogPage:
        """The sync log, newest first (one run: in the order written), filtered. Reads up to
        `read_budget` lines, whatever `limit` is, to fill the page with matches (a few skips among
        thousands of lines); next_token goes on just after the last line returned, so no match is
        lost when the page fills in the middle of a read. `number`: the document number or host id
        contains it (case-insensitive; the portal's search)."""
        self.store.tenants.get(tenant_id)
        found: list[LogEntryView] = []
        token, read, budget = next_token, 0, read_budget or LOG_READ_BUDGET
        by_document = run is None and kind is not None and host_id is not None
        filtered = run is None and (outcome is not None or (not by_document and (kind or host_id) is not None))
        term = (number or "").casefold()
        while read < budget:
            size = min(LOG_READ_PAGE, budget - read)
            if run is not None:
                page = self.store.synclog.for_run(tenant_id, run, limit=size, next_token=token)
            else:
                page = self.store.synclog.newest(tenant_id, kind=kind, outcome=outcome, host_id=host_id,
                                                 limit=size, next_token=token)
            # a filtered query looks at `size` lines to answer with the matches among them
            read += size if page.next_token or filtered else len(page)
            token = page.next_token
            entries = list(page)
            for i, e in enumerate(entries):
                day = e.logged_at.astimezone(UTC).date() if e.logged_at else None
                if run is not None and ((kind and e.kind != kind) or (outcome and e.outcome != outcome)
                                        or (host_id and e.host_id != host_id)):
                    continue
                if term and term not in (e.number or "").casefold() and term not in e.host_id.casefold():
                    continue
                if day is not None and ((since and day < since) or (until and day > until)):
                    if run is None and since and day < since:
                        token = None  # newest first: everything after this is older still
                        break
                    continue
                found.append(log_view(e))
                if len(found) == limit:
                    if i < len(entries) - 1:  # more of this read after it: go on from this line
                        token = self.store.synclog.token_after(e, by_document=by_document)
                    break
            if len(found) >= limit or token is None:
                break
        return LogPage(entries=found, next_token=token, lines_read=read)

    def received(self, tenant_id: str, host_id: str) -> ReceivedDocuments:
        """The records the host app sent with this host id (any kind), as received: `why` for a
        document no run has logged yet tells "received, waiting" from "never received"."""
        _, settings = self._settings(tenant_id)
        found = self.store.documents.find_many(tenant_id, [(k.value, host_id) for k in sorted(ALL_RECORD_KINDS)])
        documents = []
        for staged in sorted(found.values(), key=lambda d: d.kind):
            body = json.loads(staged.canonical_json)
            status = body.get("status") if isinstance(record_kind(staged.kind), DocumentKind) else None
            documents.append(ReceivedDocument(
                kind=staged.kind, host_id=staged.host_id, number=body.get("number") or body.get("name"),
                status=status, voided=staged.voided, received_at=staged.staged_at,
                exportable=status is None or settings.is_exportable_status(status),
                trigger_status=status is not None and settings.is_trigger_status(status)))
        return ReceivedDocuments(documents=documents)

    # ---- deliveries to the host app

    def deliveries(self, tenant_id: str, *, state: DeliveryState | None = None, limit: int = 50,
                   next_token: str | None = None) -> DeliveriesPage:
        self.store.tenants.get(tenant_id)
        return list_deliveries(self.store.deliveries, tenant_id, state=state, limit=limit, next_token=next_token)

    def resend_delivery(self, tenant_id: str, event_id: str) -> DeliveriesResent:
        self.store.tenants.get(tenant_id)
        return resend_one(self.products.delivery_outbox().queue, self.store.deliveries, tenant_id, event_id)

    def resend_failed_deliveries(self, tenant_id: str) -> DeliveriesResent:
        self.store.tenants.get(tenant_id)
        return resend_all_failed(self.products.delivery_outbox().queue, self.store.deliveries, tenant_id)

    # ---- the tenant portal

    def portal_link(self, tenant_id: str, body: portal.PortalLinkRequest, base_url: str) -> portal.PortalLink:
        """A signed, expiring link that opens the tenant portal for this tenant only, as `body.role`."""
        tenant = self.store.tenants.get(tenant_id)
        if self.portal_links is None:  # the deployment's: its settings and the settings secret's portal key
            self.portal_links = portal.PortalLinks.of(self.products)
        link = self.portal_links.issue(tenant_id, body, base_url=base_url, now=self.clock(),
                                       binding=tenant_binding(tenant.created_at, tenant.portal_epoch))
        logger.info("portal_link_issued", extra={"tenant_id": tenant_id, "role": body.role,
                                                 "expires_at": link.expires_at.isoformat()})
        return link

    def revoke_portal_sessions(self, tenant_id: str) -> portal.PortalSessionsRevoked:
        """End every portal session and unopened link of this tenant (a new portal epoch)."""
        tenant = self.store.tenants.renew_portal_epoch(tenant_id)
        logger.info("portal_sessions_revoked", extra={"tenant_id": tenant_id})
        return portal.PortalSessionsRevoked(
            tenant_id=tenant_id, revoked_at=tenant.updated_at,
            message="every portal session and unopened portal link of this tenant has ended; new links work")

    # ---- status and reconciliation

    def status(self, tenant_id: str) -> TenantStatus:
        """ConfigurationError when the tenant's settings are broken (as every other route)."""
        _, settings = self._settings(tenant_id)
        health = self._check_mappings(tenant_id, settings)  # first: building the connector may refresh the tokens
        return tenant_status(self.store, tenant_id, connection=self.connection(tenant_id), mapping_health=health,
                             now=self.clock())

    def status_page(self, tenant_id: str, api_base_url: str) -> str:
        """The status page's HTML, with a one-click reconnect when the tenant connects by a link."""
        try:
            link = urlsplit(self.connect_link(tenant_id, api_base_url).url)
            reconnect: str | None = f"{link.path}?{link.query}"  # on this same API: no absolute URL in the page
        except (ConfigurationError, NotFoundError):
            reconnect = None  # Intacct tenants connect with credentials, not a link
        return render_status_page(self.status(tenant_id), reconnect_path=reconnect)

    def reconcile(self, tenant_id: str, *, window_from: date, window_to: date, kinds: list[str] | None = None,
                  date_basis: DateBasis | None = None) -> ReconciliationReport:
        _, settings = self._settings(tenant_id)
        for kind in kinds or []:
            if not isinstance(record_kind(kind), DocumentKind):
                raise SettingsInvalid([Problem(field="kinds", message=f"{kind}: only documents and payments are "
                                                                     "reconciled, not parties")])
        return reconcile(self.store, self.connector(tenant_id), settings, tenant_id, window_from=window_from,
                         window_to=window_to, kinds=kinds, date_basis=date_basis)


__all__ = ["Admin"]
