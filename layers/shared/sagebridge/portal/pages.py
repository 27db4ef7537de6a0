"""The portal's pages and the changes their forms make, each for the session's tenant only and each
through the admin service (replay, export, dry run, mappings, settings, connection, deliveries), so
the portal checks and saves exactly as the admin API does."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import date
from typing import Any

from markupsafe import Markup

from sagebridge.admin.fixes import fix_for, plural
from sagebridge.admin.mappings import SageAccountRef
from sagebridge.admin.models import (
    DocumentIn,
    ExportStart,
    ExportStarted,
    MappingsChange,
    Problem,
    ReplayRequest,
    SettingsChange,
    SettingsInvalid,
)
from sagebridge.admin.status import TenantStatus, open_failures
from sagebridge.admin.status_page import chart_svg
from sagebridge.connectors.base import NotConnected, SageError
from sagebridge.domain.errors import ConfigurationError, ConflictError, NotFoundError
from sagebridge.domain.kinds import ALL_RECORD_KINDS, DateBasis
from sagebridge.domain.settings import ExportType, IdentifyCustomerBy, TenantSettings
from sagebridge.portal.web import Portal, Refused, Reply, Request
from sagebridge.security.portal import PortalClaims
from sagebridge.store import Outcome
from sagebridge.sync.scheduling import LeaseHeld

KINDS = sorted(k.value for k in ALL_RECORD_KINDS)
OUTCOMES = [o.value for o in Outcome]
CATALOG = (("items", "Items (products and services)"), ("tax_rates", "Tax rates"), ("customers", "Customers"))
LOG_SHOWN = 50


def _label(kind: str) -> str:
    return kind.replace("_", " ")


# The names the pages show for settings and products (never their keys).
SETTING_LABELS = {"default_sales_ledger_account_id": "Default sales account",
                  "default_purchase_ledger_account_id": "Default purchase account",
                  "receipt_bank_account_id": "Bank account for receipts and refunds"}
PRODUCT_NAMES = {"sage_accounting": "Sage Business Cloud Accounting", "sage_intacct": "Sage Intacct",
                 "sage200": "Sage 200", "sage_regional": "Sage Business Cloud Accounting (regional)"}


def setting_label(setting: str) -> str:
    """A mapping setting as the Mappings page names it: "Tax code S", "Default sales account"."""
    name, _, code = setting.partition(".")
    if code:
        return {"tax_mappings": "Tax code", "ledger_mappings": "Ledger code"}.get(name, _label(name)) + f" {code}"
    return SETTING_LABELS.get(setting, _label(setting))


def problem_text(setting: str, message: str) -> str:
    """A mapping problem in the page's words: the setting's key in the message becomes its label."""
    label = setting_label(setting)
    return message.replace(setting, label) if setting in message else f"{label}: {message}"


class Notice:
    def __init__(self, text: str, good: bool = True) -> None:
        self.text, self.good = text, good


def fix_text(text: str, can_change: bool) -> str:
    """What to do, for the person reading: a viewer has no Replay button, so asks an admin."""
    if can_change:
        return text
    return text.replace("then replay.", "then ask an admin to replay it.").replace(
        ": replay once", ": ask an admin to replay it once")


def _context(p: Portal, s: PortalClaims, page: str, **extra: Any) -> dict[str, Any]:
    return {"session": s, "tenant_id": s.tenant_id, "page": page, "base": p.url(s.tenant_id),
            "csrf": s.csrf_token(), "can_change": s.can_change, "label": _label, "problem_text": problem_text,
            "fix_text": lambda text: fix_text(text, s.can_change),
            "product_name": lambda key: PRODUCT_NAMES.get(key, _label(key)), **extra}


def _actor(method: Callable[..., Any], s: PortalClaims) -> dict[str, str]:
    """Who made a change, for the settings history, where the admin service records one."""
    return {"actor": f"portal:{s.role}"} if "actor" in inspect.signature(method).parameters else {}


def _started(result: ExportStarted, what: str) -> Notice:
    if result.mode == "queued":
        return Notice(f"{what}: started; it runs in the background, and this log shows each document as it goes.")
    if result.run is None:
        return Notice(f"{what}: {result.message}", result.mode != "nothing" or "nothing" in result.message)
    counts = ", ".join(f"{n} {k}" for k, n in result.run.counts.items() if n)
    return Notice(f"{what}: run {result.run.result}" + (f" ({counts})" if counts else ""),
                  result.run.result == "succeeded")


def _guarded(action: Callable[[], Notice]) -> Notice:
    """The admin service's refusals as a notice on the page (not an error page)."""
    try:
        return action()
    except (LeaseHeld, ConflictError) as exc:
        return Notice(f"Not now: {exc}", False)
    except NotConnected:
        return Notice("Sage is not connected: connect it first (Connection).", False)
    except SageError as exc:
        return Notice(f"Sage answered: {exc.message}", False)
    except (ConfigurationError, ValueError) as exc:
        return Notice(str(exc), False)


# ------------------------------------------------------------------------------------ overview


def overview(p: Portal, req: Request, s: PortalClaims, notice: Notice | None = None) -> Reply:
    status = p.admin.status(s.tenant_id)
    conn = status.connection
    failures = status.open_failures
    failed = sum(1 for f in failures if f.state == "failed")
    skipped = len(failures) - failed
    more = "+" if status.open_failures_more else ""
    steps: list[tuple[str, str | None]] = []
    disconnected = _disconnected_on(p, s) if conn.state == "not_connected" else None
    if disconnected:
        tone, headline = "warn", f"Disconnected on {disconnected}"
        sentence = "Sage was disconnected, so nothing is sent to it until you connect again."
        steps.append(("Connect again.", "connection"))
    elif conn.state == "not_connected":
        tone, headline = "warn", "Not connected yet"
        sentence = "Sage is not connected yet, so nothing is sent to it."
        steps.append(("Connect your Sage business.", "connection"))
    elif conn.state in ("expired", "revoked"):
        tone, headline = "bad", "Connection lost"
        sentence = (f"The Sage connection has {'expired' if conn.state == 'expired' else 'been revoked in Sage'}: "
                    "nothing is sent until you reconnect.")
        steps.append(("Reconnect to Sage.", "connection"))
    elif status.health == "broken":
        tone, headline = "bad", "Not syncing"
        sentence = (status.problems[0] if status.problems else "Exports are stopped.").capitalize() + "."
    elif failures:
        tone, headline = "warn", "Needs attention"
        verb = "waits" if len(failures) == 1 and not more else "wait"
        sentence = f"{plural(len(failures), 'document')}{more} {verb} for a fix; everything else is in sync."
    elif status.health == "attention":
        tone, headline = "warn", "Needs attention"
        sentence = _attention(status)
    else:
        tone, headline, sentence = "ok", "All good", "Everything is in sync."
    if conn.state == "expiring":
        steps.append((f"Reconnect to Sage within {plural(conn.expires_in_days or 0, 'day')}.", "connection"))
    if failures:
        what = ("that Sage did not take" if not skipped else
                f"that Sage Bridge skipped before sending {'it' if len(failures) == 1 else 'them'} to Sage"
                if not failed else
                "that Sage Bridge skipped or Sage did not take")
        then = "then replay" if s.can_change else \
            f"then ask an admin to replay {'it' if len(failures) == 1 and not more else 'them'}"
        steps.append((f"Fix {plural(len(failures), 'document')}{more} {what} (below), {then}.", None))
    if status.delivery_backlog.failed:
        steps.append((f"{plural(status.delivery_backlog.failed, 'delivery')} to your app failed: "
                      "check your app's address and secret, then resend.", "deliveries"))
    mh = status.mapping_health
    if mh.checked and mh.problems:
        steps.append((f"{plural(len(mh.problems), 'mapping')} need a look.", "mappings"))
    if not status.enabled:
        steps.append(("Exports are switched off for this account: ask your administrator.", None))
    rows = [(f, fix_for(None, f.reason, f.state)) for f in failures]
    return p.render("overview.html", **_context(
        p, s, "overview", status=status, conn=conn, tone=tone, headline=headline, sentence=sentence, steps=steps,
        failed=failed, skipped=skipped, more=more, rows=rows, chart=Markup(chart_svg(status.daily)),  # noqa: S704 - built escaped
        notice=notice, disconnected=disconnected))


def _disconnected_on(p: Portal, s: PortalClaims) -> str | None:
    """The day Sage was disconnected, when it was (a never-connected tenant has none)."""
    at = p.admin.store.tenants.get(s.tenant_id).disconnected_at
    return f"{at:%d %B %Y}".lstrip("0") if at else None


def _attention(status: TenantStatus) -> str:
    """Why a tenant with nothing failed needs a look, in one sentence (from the figures, not the
    operators' wording)."""
    conn, mh = status.connection, status.mapping_health
    if conn.state == "expiring":
        return f"The Sage sign-in ends in {plural(conn.expires_in_days or 0, 'day')}: reconnect before then."
    if status.delivery_backlog.failed:
        return f"{plural(status.delivery_backlog.failed, 'delivery', 'deliveries')} to your app failed."
    if mh.checked and mh.problems:
        return f"{plural(len(mh.problems), 'mapping')} need a look before documents use them."
    if not status.enabled:
        return "Exports are switched off for this account."
    if status.last_24h.abandoned:
        return "An export stopped before it finished; the next one took over its documents."
    return "Something needs a look."


# ------------------------------------------------------------------------------------ sync log


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _bad_filters(q: Any) -> list[str]:
    """Each filter of the query the log cannot apply, named with what it allows."""
    bad = []
    if q.get("kind") and q["kind"] not in KINDS:
        bad.append(f"kind “{q['kind']}” is not a kind (one of {', '.join(KINDS)})")
    if q.get("outcome") and q["outcome"] not in OUTCOMES:
        bad.append(f"outcome “{q['outcome']}” is not an outcome (one of {', '.join(OUTCOMES)})")
    for name in ("since", "until"):
        if q.get(name) and _day(q[name]) is None:
            bad.append(f"{name} “{q[name]}” is not a date (YYYY-MM-DD, e.g. 2026-03-31)")
    return bad


def log(p: Portal, req: Request, s: PortalClaims, notice: Notice | None = None, preview: Any = None) -> Reply:
    q = req.query
    number = (q.get("number") or "").strip()
    kind = q.get("kind") if q.get("kind") in KINDS else None
    outcome = Outcome(q["outcome"]) if q.get("outcome") in OUTCOMES else None
    since, until = _day(q.get("since", "")), _day(q.get("until", ""))
    bad = _bad_filters(q)
    if bad:  # say so, and show nothing rather than the whole log under a filter that was not applied
        filters = {name: q.get(name, "") for name in ("number", "kind", "outcome", "since", "until")}
        return p.render("log.html", code=422, **_context(
            p, s, "log", rows=[], filters=filters, kinds=KINDS, outcomes=OUTCOMES, preview=None, open_count=0,
            bad_filter=True, notice=Notice("Nothing is shown: " + "; ".join(bad) + ".", False)))
    # The number is searched with the other filters, over the API's read budget (not the newest 200).
    page = p.admin.log(s.tenant_id, kind=kind, outcome=outcome, since=since, until=until, number=number or None,
                       limit=LOG_SHOWN)
    entries = page.entries
    # Fewer than a page, and the log goes on: say how far back it looked rather than "Nothing found".
    searched = page.lines_read if page.next_token and len(entries) < LOG_SHOWN else None
    still_open = {(f.kind, f.host_id) for f in open_failures(p.admin.store, s.tenant_id, limit=200)[0]}
    rows = [(e, fix_for(e.reason_code, e.reason, e.outcome) if e.outcome in ("skipped", "failed") else None,
             (e.kind, e.host_id) in still_open) for e in entries]
    filters = {"number": number, "kind": kind or "", "outcome": outcome.value if outcome else "",
               "since": since.isoformat() if since else "", "until": until.isoformat() if until else ""}
    return p.render("log.html", **_context(p, s, "log", rows=rows, filters=filters, kinds=KINDS, outcomes=OUTCOMES,
                                           notice=notice, preview=preview, open_count=len(still_open),
                                           searched=searched))


def replay(p: Portal, req: Request, s: PortalClaims) -> Reply:
    kind, host_id = req.one("kind"), req.one("host_id")
    documents = [DocumentIn(kind=kind, host_id=host_id)] if kind and host_id else []
    if documents and (kind not in KINDS or p.admin.store.documents.find(s.tenant_id, kind, host_id) is None):
        raise Refused(404, "Not found", "There is no such document.")  # as resend: nothing is run or logged
    what = f"Replay of {_label(kind)} {host_id}" if documents else "Replay of every open document"
    notice = _guarded(lambda: _started(p.admin.replay(s.tenant_id, ReplayRequest(documents=documents),
                                                      caller=f"portal:{s.role}"), what))
    return (overview if req.one("back") == "overview" else log)(p, req, s, notice)


def export(p: Portal, req: Request, s: PortalClaims) -> Reply:
    dry = req.one("dry_run") == "1"
    preview: list[Any] | None = None

    def go() -> Notice:
        nonlocal preview
        result = p.admin.start_export(s.tenant_id, ExportStart(dry_run=dry), caller=f"portal:{s.role}")
        if dry and result.run is not None:
            preview = result.run.planned or []
            sent = sum(1 for item in preview if item.outcome in ("created", "updated", "linked"))
            held = sum(1 for item in preview if item.outcome in ("skipped", "failed"))
            return Notice(f"Dry run: {plural(sent, 'record')} would be sent"
                          + (f" and {held} would not (reasons below)" if held else "") + "; nothing was sent.")
        return _started(result, "Export")

    notice = _guarded(go)
    return log(p, req, s, notice, preview)


# ------------------------------------------------------------------------------------ mappings


def _choices(p: Portal, tenant_id: str) -> tuple[dict[str, list[SageAccountRef]] | None, str | None]:
    try:
        return {what: p.admin.sage_list(tenant_id, what)  # type: ignore[arg-type]
                for what in ("tax_rates", "ledger_accounts", "bank_accounts")}, None
    except NotConnected:
        return None, "Sage is not connected: connect it to choose from its tax rates and accounts."
    except SageError as exc:
        return None, f"Sage could not be asked for its tax rates and accounts: {exc.message}"


def mappings(p: Portal, req: Request, s: PortalClaims, *, problems: list[Problem] | None = None,
             notice: Notice | None = None, submitted: dict[str, Any] | None = None) -> Reply:
    current = p.admin.mappings(s.tenant_id)
    choices, why = _choices(p, s.tenant_id)
    shown = submitted or current.model_dump()
    errors: dict[str, str] = {}
    for problem in problems or []:
        errors.setdefault(problem.field, problem.message)
    health = p.admin.mapping_health(s.tenant_id) if choices is not None and not problems else None
    new_tax = (req.query.get("tax_code") or "").strip()
    new_ledger = (req.query.get("ledger_code") or "").strip()
    return p.render("mappings.html", code=422 if problems else 200, **_context(
        p, s, "mappings", m=shown, choices=choices, why=why, errors=errors, health=health, notice=notice,
        new_tax=new_tax if new_tax not in shown["tax_mappings"] else "",
        new_ledger=new_ledger if new_ledger not in shown["ledger_mappings"] else ""))


def _pairs(req: Request, name: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for code, sage_id in zip(req.many(f"{name}_code"), req.many(f"{name}_sage"), strict=False):
        if code:
            out[code] = sage_id or None
    return out


def save_mappings(p: Portal, req: Request, s: PortalClaims) -> Reply:
    tax, ledger = _pairs(req, "tax"), _pairs(req, "ledger")
    defaults = {name: req.one(name) or None for name in ("default_sales_ledger_account_id",
                                                         "default_purchase_ledger_account_id",
                                                         "receipt_bank_account_id")}
    body = MappingsChange(tax_mappings={k: v for k, v in tax.items() if v},
                          ledger_mappings={k: v for k, v in ledger.items() if v}, replace=True, **defaults)
    submitted = {"tax_mappings": {k: v or "" for k, v in tax.items()},
                 "ledger_mappings": {k: v or "" for k, v in ledger.items()}, **defaults}
    try:
        saved = p.admin.set_mappings(s.tenant_id, body, **_actor(p.admin.set_mappings, s))
    except SettingsInvalid as exc:
        return mappings(p, req, s, problems=exc.problems, submitted=submitted,
                        notice=Notice("Nothing was saved: " + plural(len(exc.problems), "problem") + " below.", False))
    except (NotConnected, SageError, ConflictError) as exc:
        return mappings(p, req, s, notice=Notice(f"Nothing was saved: {exc}", False), submitted=submitted)
    return mappings(p, req, s, notice=Notice(f"Mappings saved (version {saved.version})."))


# ------------------------------------------------------------------------------------ settings

SETTINGS_FIELDS = ("customer_date_basis", "vendor_date_basis", "export_type", "exportable_statuses",
                   "trigger_statuses", "identify_customer_by", "export_kinds", "catalog_import", "failure_emails")


# Who hears of failures, where the tenant's settings have the list (the failure digest's).
FAILURE_EMAILS = "failure_emails" in TenantSettings.model_fields


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.replace("\n", ",").split(",") if w.strip()]


def _same(value: Any) -> Any:
    """A setting as the form compares it: lists in any order, no list as an empty one."""
    if value is None or isinstance(value, list):
        return sorted(str(v) for v in value or [])
    return value


def _naming(value: Any, index: str, message: str) -> str:
    """A problem's message with the value it is about, when the field names one item of a list."""
    if index.isdigit() and isinstance(value, list) and int(index) < len(value):
        return f"“{value[int(index)]}” {message}" if message.startswith("is ") else f"“{value[int(index)]}”: {message}"
    return message


def settings(p: Portal, req: Request, s: PortalClaims, *, problems: list[Problem] | None = None,
             notice: Notice | None = None, submitted: dict[str, Any] | None = None) -> Reply:
    tenant = p.admin.tenant(s.tenant_id)
    values = submitted or TenantSettings.model_validate(tenant.settings).model_dump(mode="json")
    errors: dict[str, list[str]] = {}
    for problem in problems or []:  # one line each, naming the value (failure_emails.1 is the second address)
        name, _, index = problem.field.partition(".")
        errors.setdefault(name, []).append(_naming(values.get(name), index, problem.message))
    return p.render("settings.html", code=422 if problems else 200, **_context(
        p, s, "settings", v=values, version=tenant.version, errors=errors, notice=notice, kinds=KINDS,
        catalog=CATALOG, bases=[b.value for b in DateBasis], export_types=[t.value for t in ExportType],
        identify=[i.value for i in IdentifyCustomerBy], failure_emails=FAILURE_EMAILS))


def save_settings(p: Portal, req: Request, s: PortalClaims) -> Reply:
    changes: dict[str, Any] = {
        "customer_date_basis": req.one("customer_date_basis"), "vendor_date_basis": req.one("vendor_date_basis"),
        "export_type": req.one("export_type"), "identify_customer_by": req.one("identify_customer_by"),
        "exportable_statuses": _words(req.one("exportable_statuses")) or None,
        "trigger_statuses": _words(req.one("trigger_statuses")),
        "export_kinds": req.many("export_kinds"),
        "catalog_import": {name: name in req.many("catalog_import") for name, _ in CATALOG},
    }
    if FAILURE_EMAILS:
        changes["failure_emails"] = _words(req.one("failure_emails"))
    version = int(req.one("version") or 0) or None
    submitted = {**changes, "exportable_statuses": changes["exportable_statuses"] or []}
    # Only what the person changed: a default left alone stays a default (a kind added later still exports).
    now = TenantSettings.model_validate(p.admin.tenant(s.tenant_id).settings).model_dump(mode="json")
    changes = {k: v for k, v in changes.items() if _same(v) != _same(now.get(k))}
    if not changes:
        return settings(p, req, s, notice=Notice("Nothing to save: no setting was changed."))
    try:
        p.admin.change_settings(s.tenant_id, SettingsChange(changes=changes, expected_version=version),
                                **_actor(p.admin.change_settings, s))
    except SettingsInvalid as exc:
        return settings(p, req, s, problems=exc.problems, submitted=submitted,
                        notice=Notice("Nothing was saved: " + plural(len(exc.problems), "problem") + " below.", False))
    except ConflictError as exc:
        return settings(p, req, s, notice=Notice(f"Nothing was saved: {exc}. Reload and try again.", False),
                        submitted=submitted)
    return settings(p, req, s, notice=Notice("Settings saved."))


# ---------------------------------------------------------------------------------- connection


def connection(p: Portal, req: Request, s: PortalClaims, notice: Notice | None = None) -> Reply:
    conn = p.admin.connection(s.tenant_id)
    disconnected = _disconnected_on(p, s) if conn.state == "not_connected" else None
    return p.render("connection.html", **_context(p, s, "connection", conn=conn, notice=notice,
                                                  disconnected=disconnected))


def _admin_only(s: PortalClaims) -> None:
    if not s.can_change:
        raise Refused(403, "You can look but not change",
                      "Your link lets you see this account, not change it. Ask your administrator.")


def consent(p: Portal, req: Request, s: PortalClaims, *, confirmed: bool = False) -> Reply:
    """Before leaving for Sage: what happens there, and the signed connect link (a different
    business only once the person confirmed it)."""
    _admin_only(s)
    change = req.query.get("change") == "1" or confirmed
    conn = p.admin.connection(s.tenant_id)
    link, why = None, None
    if not change or confirmed:
        try:
            link = p.admin.connect_link(s.tenant_id, req.base_url, allow_business_change=confirmed,
                                        return_to=s.return_url,
                                        portal_url=req.base_url.rstrip("/") + p.url(s.tenant_id, "connection")).url
        except ConfigurationError as exc:
            why = str(exc)
    return p.render("consent.html", **_context(p, s, "connection", conn=conn, link=link, why=why, change=change,
                                               confirmed=confirmed))


def connect_elsewhere(p: Portal, req: Request, s: PortalClaims) -> Reply:
    if req.one("confirm") != "yes":
        req.query = {"change": "1"}
        reply = consent(p, req, s)
        reply.status = 422
        return reply
    return consent(p, req, s, confirmed=True)


def disconnect(p: Portal, req: Request, s: PortalClaims) -> Reply:
    if req.one("confirm") != "yes":
        return connection(p, req, s, Notice("Tick the box to confirm you want to disconnect.", False))
    done = p.admin.disconnect(s.tenant_id).disconnected
    return connection(p, req, s, Notice("Disconnected from Sage: nothing is sent until you connect again."
                                        if done else "There was no connection to disconnect."))


# ---------------------------------------------------------------------------------- deliveries


def deliveries(p: Portal, req: Request, s: PortalClaims, notice: Notice | None = None) -> Reply:
    state = req.query.get("state") if req.query.get("state") in ("queued", "delivered", "failed") else None
    page = p.admin.deliveries(s.tenant_id, state=state, limit=50)  # type: ignore[arg-type]
    return p.render("deliveries.html", **_context(p, s, "deliveries", deliveries=page.deliveries, state=state or "",
                                                  notice=notice))


def resend(p: Portal, req: Request, s: PortalClaims) -> Reply:
    event_id = req.one("event_id")

    def go() -> Notice:
        if event_id:
            p.admin.resend_delivery(s.tenant_id, event_id)
            return Notice("Queued to be sent to your app again.")
        return Notice(p.admin.resend_failed_deliveries(s.tenant_id).message.capitalize() + ".")

    try:
        notice = _guarded(go)
    except NotFoundError:
        raise Refused(404, "Not found", "There is no such delivery.") from None
    return deliveries(p, req, s, notice)


# -------------------------------------------------------------------------------------- routing

Page = Callable[..., Reply]
GET: dict[str, Page] = {"": overview, "overview": overview, "log": log, "mappings": mappings, "settings": settings,
                        "connection": connection, "consent": consent, "deliveries": deliveries}
POST: dict[str, Page] = {"replay": replay, "export": export, "mappings": save_mappings, "settings": save_settings,
                         "connect-elsewhere": connect_elsewhere, "disconnect": disconnect, "resend": resend}


def handle(p: Portal, req: Request, tenant_id: str, name: str) -> Reply:
    """One page (GET) or change (POST) of `tenant_id` for the request's session."""
    session = None
    try:
        table = POST if req.method == "POST" else GET
        session = p.session(req, tenant_id, change=req.method == "POST")
        page = table.get(name)
        if page is None:
            raise Refused(404, "Not found", "There is no such page.")
        return p.finish(page(p, req, session))
    except Refused as exc:
        return p.finish(p.refused(exc, session))
    except NotFoundError:
        return p.finish(p.refused(Refused(404, "Not found", "There is no such account or record."), session))
    except ConfigurationError as exc:
        return p.finish(p.refused(Refused(409, "This account's setup needs a fix", str(exc)), session))


def open_link(p: Portal, req: Request) -> Reply:
    return p.finish(p.open(req))


def not_found(p: Portal) -> Reply:
    return p.finish(p.refused(Refused(404, "Not found", "There is no such page.")))


def failed(p: Portal) -> Reply:
    """Something unexpected: a page that says so (the details are in the function's log)."""
    return p.finish(p.refused(Refused(500, "Something went wrong",
                                      "Nothing more was changed. Try again in a minute, or ask your administrator.")))


__all__ = ["GET", "POST", "failed", "handle", "not_found", "open_link"]
