"""How a tenant is doing, at a glance: connection health, last successful export and poll, outcome
counts (24 h, 7 days, per day over 30 days), open failures with their reasons, the delivery backlog
to the host, and whether the tenant's mappings still point at live Sage records.

The figures count distinct documents (and payments), each once, by where it stands now: the export
ledger holds one entry per document in its current state (exported, skipped with a reason, failed
with a reason, waiting for a status that exports it), so a document that five runs skipped is one
skipped document, and one skipped then exported is one exported document. The 24 h / 7 day / per day
figures are the documents that reached their current state in that window. A status read therefore
reads the tenant's whole ledger (about 1 MB per 2,000 documents); runs, abandoned runs and
"unchanged" still come from the run history (one item per run, kept 90 days).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from sagebridge.admin.mappings import MappingHealth
from sagebridge.domain.kinds import DocumentKind
from sagebridge.store import (
    ConnectionRecord,
    ConnectionStatus,
    DeliveryState,
    LedgerEntry,
    LedgerState,
    Outcome,
    RunRecord,
    RunStatus,
    Store,
)
from sagebridge.sync.catalog import CUSTOMERS_STREAM, ITEMS_STREAM, TAX_RATES_STREAM
from sagebridge.sync.export import EXPORT_CURSOR
from sagebridge.sync.payments import PAYMENTS_STREAM

EXPIRING_WITHIN = timedelta(days=7)  # the keep-alive refreshes weekly; a grant this close to the end is stuck
KEEP_ALIVE_RECENT = timedelta(days=8)  # a refresh this recent that left the end this close cannot move it
CHART_DAYS = 30
OPEN_FAILURES_SHOWN = 50
BACKLOG_COUNTED = 500
# Cursors the payment poller moves (payments, then the catalog); the newest is "last successful poll".
POLL_STREAMS = (PAYMENTS_STREAM, ITEMS_STREAM, TAX_RATES_STREAM, CUSTOMERS_STREAM)

ConnectionState = Literal["not_connected", "connected", "expiring", "expired", "revoked"]


# ------------------------------------------------------------------------------------- connection


class ConnectionView(BaseModel):
    provider: str
    state: ConnectionState
    summary: str  # one line a support person can read out: "connected; refresh expires in 24 days"
    business_id: str | None = None
    business_name: str | None = None
    expires_in_days: int | None = None  # until the refresh token (the grant) runs out
    refresh_expires_at: datetime | None = None
    last_refreshed_at: datetime | None = None
    # Sage blocks the tenant's requests until then (a product's rate-limit block): runs and polls
    # send nothing before it and resume by themselves after; the summary says why.
    paused_until: datetime | None = None


def connection_view(record: ConnectionRecord | None, provider: str, now: datetime, *,
                    how_to_connect: str = "send the tenant a connect link") -> ConnectionView:
    """`how_to_connect`: what connects the tenant's product (a connect link, or a login sent)."""
    if record is None:
        return ConnectionView(provider=provider, state="not_connected", summary=f"not connected: {how_to_connect}")
    common: dict[str, Any] = {
        "provider": provider, "business_id": record.business_id, "business_name": record.business_name,
        "refresh_expires_at": record.refresh_expires_at, "last_refreshed_at": record.last_refreshed_at,
    }
    if record.status is ConnectionStatus.REVOKED:
        return ConnectionView(state="revoked", summary="revoked in Sage: the tenant must connect again", **common)
    left = record.refresh_expires_at - now if record.refresh_expires_at else None
    if record.status is ConnectionStatus.EXPIRED or (left is not None and left <= timedelta(0)):
        return ConnectionView(state="expired", expires_in_days=0,
                              summary="expired: exports are paused until the tenant connects again", **common)
    days = max(0, left.days) if left is not None else None
    business = record.business_name or record.business_id or "Sage"
    if left is not None and left <= EXPIRING_WITHIN:
        # Refreshed lately and still ending: the product caps the sign-in (Sage 200's fixed grant),
        # so only connecting again helps; otherwise the keep-alive is what has stopped.
        capped = record.last_refreshed_at is not None and now - record.last_refreshed_at <= KEEP_ALIVE_RECENT
        why = ("the sign-in cannot be extended: send the tenant a connect link before it ends" if capped
               else "token keep-alive is not refreshing it")
        return ConnectionView(state="expiring", expires_in_days=days,
                              summary=f"connected to {business}; expiring in {days} days ({why})", **common)
    until = f"; refresh good for {days} more days" if days is not None else ""
    if record.paused_until is not None and now < record.paused_until:
        return ConnectionView(state="connected", expires_in_days=days, paused_until=record.paused_until,
                              summary=f"connected to {business}; {record.paused_reason or 'Sage blocks requests'}",
                              **common)
    return ConnectionView(state="connected", expires_in_days=days, summary=f"connected to {business}{until}",
                          **common)


# -------------------------------------------------------------------------------------- the status


class OutcomeCounts(BaseModel):
    runs: int = 0
    abandoned: int = 0  # runs whose worker died before they finished (closed by the next run)
    # Distinct documents that reached this state in the window and are still in it.
    exported: int = 0  # created, updated or linked
    skipped: int = 0  # skipped for a reason to fix (not those waiting for their status)
    failed: int = 0
    unchanged: int = 0  # looks by runs that found nothing to send (a run tally, not documents)


class DocumentCounts(BaseModel):
    """Distinct documents (and payments) by where each stands now; each is counted once."""

    exported: int = 0  # in Sage (created, updated, linked or voided there)
    skipped: int = 0  # not sent, for a reason someone has to fix (each listed with it in open_failures)
    failed: int = 0  # Sage refused it or every retry failed (each listed with its reason)
    # not sent, nothing to fix: waits for the host to move it to a status that exports, or for Sage's
    # block of the connection to end (the problems name that time)
    waiting: int = 0
    in_progress: int = 0  # claimed by a run right now (or by a run that died: the next one takes it over)

    @property
    def need_attention(self) -> int:
        return self.skipped + self.failed


class DayCounts(BaseModel):
    day: date
    exported: int = 0
    skipped: int = 0
    failed: int = 0


class OpenFailure(BaseModel):
    kind: str
    host_id: str
    state: Literal["failed", "skipped"]
    reason: str
    attempts: int = 0
    since: datetime | None = None


class DeliveryBacklog(BaseModel):
    queued: int = 0
    failed: int = 0
    oldest_queued_at: datetime | None = None
    more: bool = False  # counted up to BACKLOG_COUNTED each


class TenantStatus(BaseModel):
    tenant_id: str
    enabled: bool
    generated_at: datetime
    health: Literal["ok", "attention", "broken"]
    problems: list[str] = Field(default_factory=list)  # why health is not ok, in words
    connection: ConnectionView
    last_successful_export: datetime | None = None
    last_successful_poll: datetime | None = None
    documents: DocumentCounts = Field(default_factory=DocumentCounts)  # now, whatever the window
    last_24h: OutcomeCounts
    last_7d: OutcomeCounts
    daily: list[DayCounts]  # CHART_DAYS days, oldest first, today last
    open_failures: list[OpenFailure]
    open_failures_more: bool = False
    delivery_backlog: DeliveryBacklog
    mapping_health: MappingHealth


def recent_runs(store: Store, tenant_id: str, since: datetime) -> Iterator[RunRecord]:
    """Runs started since `since`, newest first (the run history is newest first)."""
    token: str | None = None
    while True:
        page = store.runs.newest(tenant_id, limit=100, next_token=token)
        for run in page:
            if run.started_at is not None and run.started_at < since:
                return
            yield run
        if not (token := page.next_token):
            return


def _tally(counts: OutcomeCounts, run: RunRecord) -> None:
    """What only runs know: how many ran, were abandoned, and looked at documents with nothing to send."""
    counts.unchanged += run.counts.get(Outcome.UNCHANGED.value, 0)
    counts.runs += 1
    counts.abandoned += run.status is RunStatus.ABANDONED


DOCUMENTS = frozenset(k.value for k in DocumentKind)  # the ledger also holds parties and allocations


def document_figures(store: Store, tenant_id: str) -> Iterator[tuple[str, LedgerEntry]]:
    """(state, entry) of each of the tenant's documents: exported, skipped, failed, waiting or in_progress."""
    for entry in store.ledger.document_states(tenant_id):
        if entry.kind not in DOCUMENTS:
            continue
        if entry.state is LedgerState.SKIPPED and entry.waiting:
            yield "waiting", entry
        elif entry.state in (LedgerState.IN_FLIGHT, LedgerState.PENDING):
            yield "in_progress", entry
        else:
            yield entry.state.value, entry


def _count(counts: OutcomeCounts | DayCounts, state: str) -> None:
    if state in ("exported", "skipped", "failed"):
        setattr(counts, state, getattr(counts, state) + 1)


def open_failures(store: Store, tenant_id: str, limit: int = OPEN_FAILURES_SHOWN) -> tuple[list[OpenFailure], bool]:
    """Failed and skipped documents still waiting for a fix, newest first; True if there are more."""
    found: list[OpenFailure] = []
    more = False
    for state in (LedgerState.FAILED, LedgerState.SKIPPED):
        page = store.ledger.list_by_state(tenant_id, state, limit=limit)
        more = more or page.next_token is not None
        found += [OpenFailure(kind=e.kind, host_id=e.host_id, state=state.value, reason=e.reason or "",
                              attempts=e.attempts, since=e.updated_at) for e in page]
    found.sort(key=lambda f: f.since or datetime.min.replace(tzinfo=UTC), reverse=True)
    return found[:limit], more or len(found) > limit


def delivery_backlog(store: Store, tenant_id: str) -> DeliveryBacklog:
    backlog = DeliveryBacklog()
    for state in (DeliveryState.QUEUED, DeliveryState.FAILED):
        page = store.deliveries.backlog(tenant_id, state, limit=BACKLOG_COUNTED)
        setattr(backlog, state.value, len(page))
        backlog.more = backlog.more or page.next_token is not None
        if state is DeliveryState.QUEUED and page.items:
            backlog.oldest_queued_at = min((d.created_at for d in page if d.created_at), default=None)
    return backlog


def last_success_before(store: Store, tenant_id: str, before: datetime, *, pages: int = 5) -> datetime | None:
    """When the newest successful export run older than `before` ended (the run history, newest first,
    read at most `pages` pages of 100): for a tenant idle longer than the chart shows."""
    token: str | None = None
    for _ in range(pages):
        page = store.runs.newest(tenant_id, limit=100, next_token=token)
        for run in page:
            if (run.started_at is not None and run.started_at < before and not run.dry_run
                    and run.status.value == "succeeded"):
                return run.finished_at or run.started_at
        if not (token := page.next_token):
            return None
    return None


def last_successful_poll(store: Store, tenant_id: str) -> datetime | None:
    times = [c.updated_at for s in POLL_STREAMS if (c := store.cursors.get(tenant_id, s)) is not None]
    return max(times, default=None)


def tenant_status(
    store: Store,
    tenant_id: str,
    *,
    connection: ConnectionView,
    mapping_health: MappingHealth,
    now: datetime | None = None,
    today: Callable[[datetime], date] = lambda t: t.astimezone(UTC).date(),
) -> TenantStatus:
    """NotFoundError if there is no such tenant."""
    tenant = store.tenants.get(tenant_id)
    now = now or store.table.now()
    first_day = today(now) - timedelta(days=CHART_DAYS - 1)
    days = {first_day + timedelta(days=i): DayCounts(day=first_day + timedelta(days=i)) for i in range(CHART_DAYS)}
    last_24h, last_7d = OutcomeCounts(), OutcomeCounts()
    last_export = None
    latest: RunRecord | None = None
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    for run in recent_runs(store, tenant_id, since):
        if run.dry_run or run.started_at is None:
            continue
        latest = latest or run
        if run.status.value == "succeeded" and last_export is None:
            last_export = run.finished_at or run.started_at
        age = now - run.started_at
        if age <= timedelta(days=7):
            _tally(last_7d, run)
        if age <= timedelta(hours=24):
            _tally(last_24h, run)
    documents = DocumentCounts()
    for_sage = 0  # of the waiting, those waiting for Sage's block to end
    for state, entry in document_figures(store, tenant_id):
        setattr(documents, state, getattr(documents, state) + 1)
        for_sage += state == "waiting" and entry.waits_for == "sage"
        if entry.updated_at is None:
            continue
        age = now - entry.updated_at
        if age <= timedelta(days=7):
            _count(last_7d, state)
        if age <= timedelta(hours=24):
            _count(last_24h, state)
        day = days.get(today(entry.updated_at))
        if day is not None:
            _count(day, state)
    if last_export is None:
        last_export = last_success_before(store, tenant_id, since)  # an idle month is not "never"
    cursor = store.cursors.get(tenant_id, EXPORT_CURSOR)
    if cursor is not None and (last_export is None or cursor.updated_at > last_export):
        last_export = cursor.updated_at
    failures, more = open_failures(store, tenant_id)
    backlog = delivery_backlog(store, tenant_id)
    health, problems = _judge(tenant.enabled, connection, failures, more, backlog, mapping_health,
                              abandoned=last_24h.abandoned, documents=documents)
    if latest is not None and latest.status is RunStatus.FAILED and latest.details.get("error"):
        # The tenant's setup stops every run (export worker: setup_failed): nothing is exported.
        problems.insert(0, f"the last export run failed: {latest.details['error']}")
        health = "broken"
    if for_sage:
        problems.append(_waiting_for_sage(for_sage, connection, now))
        health = "attention" if health == "ok" else health
    return TenantStatus(
        tenant_id=tenant_id, enabled=tenant.enabled, generated_at=now, health=health, problems=problems,
        connection=connection, last_successful_export=last_export, documents=documents,
        last_successful_poll=last_successful_poll(store, tenant_id), last_24h=last_24h, last_7d=last_7d,
        daily=list(days.values()), open_failures=failures, open_failures_more=more, delivery_backlog=backlog,
        mapping_health=mapping_health,
    )


def _waiting_for_sage(n: int, connection: ConnectionView, now: datetime) -> str:
    """The documents a run could not send because Sage blocks the connection, and their trigger."""
    docs = _plural(n, "document")
    until = connection.paused_until
    if until is not None and now < until:
        return (f"{docs} {'waits' if n == 1 else 'wait'} for Sage's block to end at "
                f"{until.astimezone(UTC):%H:%M} UTC (the first export run after that sends them)")
    return f"{docs} waited for Sage's block, which has ended: the next export run sends them"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _judge(enabled: bool, connection: ConnectionView, failures: list[OpenFailure], more: bool,
           backlog: DeliveryBacklog, mappings: MappingHealth, *,
           abandoned: int = 0, documents: DocumentCounts | None = None,
           ) -> tuple[Literal["ok", "attention", "broken"], list[str]]:
    broken, attention = [], []
    if not enabled:
        attention.append("the tenant is disabled: nothing is exported")
    if connection.state in ("not_connected", "expired", "revoked"):
        broken.append(f"Sage connection {connection.state.replace('_', ' ')}")
    elif connection.state == "expiring" or connection.paused_until is not None:
        attention.append(connection.summary)
    # Documents, as the figures count them (each once); the list's other entries (a credit note's
    # allocation, a customer) are named apart, so the sentence and the figures agree.
    n_docs = documents.need_attention if documents is not None else sum(f.kind in DOCUMENTS for f in failures)
    if n_docs:
        plus = more and documents is None  # the list alone: there may be more than it holds
        one = n_docs == 1 and not plus
        attention.append(f"{n_docs}{'+' if plus else ''} {'document' if one else 'documents'} failed or skipped and "
                         f"{'waits' if one else 'wait'} for a fix and a replay")
    others = [f for f in failures if f.kind not in DOCUMENTS]
    if others:
        kinds = ", ".join(sorted({f.kind.replace("_", " ") for f in others}))
        attention.append(f"{len(others)}{'+' if more else ''} other "
                         f"{'entry' if len(others) == 1 and not more else 'entries'} ({kinds}) failed or "
                         f"skipped (listed with the documents)")
    if backlog.failed:
        attention.append(f"{_plural(backlog.failed, 'delivery', 'deliveries')} to the host app failed")
    if abandoned:
        attention.append(f"{_plural(abandoned, 'export run')} in the last 24 hours "
                         f"{'was' if abandoned == 1 else 'were'} abandoned (the worker stopped "
                         "before finishing; the next run took over its documents)")
    if mappings.checked and mappings.problems:
        unset = sum(1 for p in mappings.problems if p.problem == "not_set")
        if unset:
            attention.append(f"{_plural(unset, 'setting')} that documents need {'is' if unset == 1 else 'are'} "
                             "not set (see the mapping health)")
        if len(mappings.problems) > unset:
            gone = len(mappings.problems) - unset
            attention.append(f"{_plural(gone, 'mapping')} {'points' if gone == 1 else 'point'} at Sage records "
                             "that are gone, "
                             "inactive or not usable for their documents")
    if broken:
        return "broken", broken + attention
    return ("attention" if attention else "ok"), attention


__all__ = [
    "ConnectionView",
    "DayCounts",
    "DeliveryBacklog",
    "DocumentCounts",
    "OpenFailure",
    "OutcomeCounts",
    "TenantStatus",
    "connection_view",
    "document_figures",
    "open_failures",
    "tenant_status",
]
