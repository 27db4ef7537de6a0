"""`sagebridge`: the operators' command line over the admin API.

Against the local stack by default (its API URL from .local-stack/outputs.json, written by
`make stack`), or a deployed stack with `--api-url https://<api>.execute-api.<region>.amazonaws.com`:
requests are then signed with SigV4 (service execute-api) using the caller's own AWS credentials.

Every command takes `--json` (the API's answer, as is). Exit codes: 0 success, 1 partial (a run with
failures or skips, a tenant that needs attention, a period that does not reconcile), 2 failure.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

OK, PARTIAL, FAILED = 0, 1, 2
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

app = typer.Typer(help=__doc__.split("\n\n")[0], no_args_is_help=True, add_completion=False)
tenants = typer.Typer(help="Create, show and change tenants.", no_args_is_help=True)
app.add_typer(tenants, name="tenants")
out = Console()
err = Console(stderr=True)

JsonOut = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")]
TenantArg = Annotated[str, typer.Argument(help="The tenant id.")]

# A dry run's outcomes as what the run would do ("would create", never "would created").
PLANNED = {"created": "create", "updated": "update", "linked": "link", "skipped": "skip", "failed": "fail",
           "unchanged": "leave unchanged"}


# ------------------------------------------------------------------------------------ transport


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body
        message = body.get("message") if isinstance(body, dict) else None
        super().__init__(message or f"HTTP {status}")


class SigV4(httpx.Auth):
    """Signs each request with botocore's SigV4 for API Gateway (execute-api)."""

    requires_request_body = True

    def __init__(self, region: str) -> None:
        import botocore.session

        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise typer.BadParameter("no AWS credentials found to sign with (aws configure / AWS_PROFILE)")
        self.credentials, self.region = credentials, region

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "host")}
        aws = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=headers)
        SigV4Auth(self.credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(aws)
        for name, value in aws.headers.items():
            request.headers[name] = value
        yield request


def local_api_url() -> str:
    """The local stack's API URL from its outputs file ($SAGEBRIDGE_LOCAL_STATE or .local-stack/ found
    upwards from here)."""
    candidates = []
    if os.environ.get("SAGEBRIDGE_LOCAL_STATE"):
        candidates.append(Path(os.environ["SAGEBRIDGE_LOCAL_STATE"]) / "outputs.json")
    here = Path.cwd().resolve()
    candidates += [d / ".local-stack" / "outputs.json" for d in (here, *here.parents)]
    for path in candidates:
        if path.exists():
            return str(json.loads(path.read_text())["api_url"])
    raise typer.BadParameter("the local stack is not running (no .local-stack/outputs.json): start it with "
                             "`make stack`, or pass --api-url for a deployed stack", param_hint="--api-url")


def region_of(url: str, given: str | None) -> str:
    if given:
        return given
    parts = (urlsplit(url).hostname or "").split(".")
    if "execute-api" in parts and parts.index("execute-api") + 1 < len(parts):
        return parts[parts.index("execute-api") + 1]
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-2"


@dataclass
class Settings:
    api_url: str | None = None
    region: str | None = None
    sign: bool | None = None
    timeout: float = 60.0


# Tests swap this for a client over an in-process transport.
def make_client(settings: Settings) -> httpx.Client:
    url = settings.api_url or local_api_url()
    sign = settings.sign if settings.sign is not None else (urlsplit(url).hostname or "") not in LOCAL_HOSTS
    return httpx.Client(base_url=url.rstrip("/"), timeout=settings.timeout,
                        auth=SigV4(region_of(url, settings.region)) if sign else None)


client_factory: Callable[[Settings], httpx.Client] = make_client


class Api:
    def __init__(self, settings: Settings) -> None:
        self.http = client_factory(settings)

    def call(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None,
             ok: tuple[int, ...] = (200, 201, 202)) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None and v != []}
        try:
            response = self.http.request(method, "/admin" + path, json=body, params=query)
        except httpx.HTTPError as exc:
            raise ApiError(0, {"message": f"cannot reach the admin API: {exc}"}) from None
        try:
            data = response.json()
        except ValueError:
            data = {"message": response.text[:500]}
        if response.status_code not in ok:
            raise ApiError(response.status_code, data)
        return data


def api(ctx: typer.Context) -> Api:
    return Api(ctx.obj if isinstance(ctx.obj, Settings) else Settings())


@contextmanager
def failures_exit() -> Iterator[None]:
    """API errors -> a readable message on stderr and exit code 2."""
    try:
        yield
    except ApiError as exc:
        err.print(f"[red]error[/red] ({exc.status or 'no answer'}): {exc}")
        body = exc.body if isinstance(exc.body, dict) else {}
        for problem in body.get("problems") or []:
            err.print(f"  - {problem.get('field')}: {problem.get('message')}")
        if body.get("hint"):
            err.print(f"  hint: {body['hint']}")
        raise typer.Exit(FAILED) from None


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """key=value -> {key: value}; the value is JSON when it parses as JSON (numbers, lists, objects)."""
    changes: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"{pair!r}: write setting=value")
        key, raw = pair.split("=", 1)
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        target = changes
        *parents, leaf = key.strip().split(".")  # tax_mappings.S=GB_STANDARD
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return changes


# ------------------------------------------------------------------------------------- options


@app.callback()
def main(
    ctx: typer.Context,
    api_url: Annotated[str | None, typer.Option(envvar="SAGEBRIDGE_API_URL",
                                                help="The HTTP API's URL (default: the local stack's).")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region for SigV4 (default: from the URL).")] = None,
    sign: Annotated[bool | None, typer.Option("--sign/--no-sign",
                                              help="SigV4-sign requests (default: unless the API is local).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one API answer.")] = 60.0,
) -> None:
    ctx.obj = Settings(api_url=api_url, region=region, sign=sign, timeout=timeout)


# ------------------------------------------------------------------------------------- tenants


def show_tenant(t: dict[str, Any]) -> None:
    out.print(f"[bold]{t['tenant_id']}[/bold]  {'enabled' if t['enabled'] else '[yellow]disabled[/yellow]'}  "
              f"version {t['version']}")
    out.print_json(json.dumps(t["settings"]))
    if t.get("webhook_secret"):
        out.print(f"webhook secret (shown once, give it to the host app): [bold]{t['webhook_secret']}[/bold]")


@tenants.command("create")
def tenants_create(
    ctx: typer.Context, tenant_id: TenantArg,
    settings_file: Annotated[Path | None, typer.Option("--settings", help="A JSON file of settings.")] = None,
    assignments: Annotated[list[str] | None, typer.Option("--set", help="setting=value (repeatable).")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
    as_json: JsonOut = False,
) -> None:
    """Create a tenant (prints its webhook secret once)."""
    settings: dict[str, Any] = {"provider": "sage_accounting"}
    if settings_file:
        settings = json.loads(settings_file.read_text())
    settings.update(parse_assignments(assignments or []))
    with failures_exit():
        t = api(ctx).call("POST", "/tenants", body={"tenant_id": tenant_id, "settings": settings,
                                                    "enabled": not disabled})
    emit_json(t) if as_json else show_tenant(t)


@tenants.command("show")
def tenants_show(ctx: typer.Context, tenant_id: TenantArg, as_json: JsonOut = False) -> None:
    """Show a tenant and its settings."""
    with failures_exit():
        t = api(ctx).call("GET", f"/tenants/{tenant_id}")
    emit_json(t) if as_json else show_tenant(t)


@tenants.command("set")
def tenants_set(
    ctx: typer.Context, tenant_id: TenantArg,
    assignments: Annotated[list[str] | None, typer.Argument(
        help="setting=value ... (tax_mappings.S=GB_STANDARD); none when only --unset")] = None,
    unset: Annotated[list[str] | None, typer.Option(
        help="Put a setting back to its default (repeatable); tax_mappings.S removes one code.")] = None,
    as_json: JsonOut = False,
) -> None:
    """Change some settings (each value is JSON when it parses as JSON)."""
    if not assignments and not unset:
        raise typer.BadParameter("name at least one setting=value or --unset setting", param_hint="assignments")
    changes = parse_assignments(assignments or [])
    with failures_exit():
        a = api(ctx)
        current = a.call("GET", f"/tenants/{tenant_id}")
        for key, value in list(changes.items()):  # nested mappings merge into what is there
            if isinstance(value, dict) and isinstance(current["settings"].get(key), dict):
                changes[key] = {**current["settings"][key], **value}
        for key in unset or []:
            setting, _, code = key.strip().partition(".")
            if not code:
                changes[setting] = None  # null: back to the default
            elif isinstance(mapping := changes.get(setting, current["settings"].get(setting)), dict):
                changes[setting] = {k: v for k, v in mapping.items() if k != code}  # one code out of a mapping
        t = a.call("PATCH", f"/tenants/{tenant_id}/settings",
                   body={"changes": changes, "expected_version": current["version"]})
    emit_json(t) if as_json else show_tenant(t)


@tenants.command("list")
def tenants_list(ctx: typer.Context, as_json: JsonOut = False) -> None:
    """List tenants."""
    with failures_exit():
        page = api(ctx).call("GET", "/tenants")
    if as_json:
        return emit_json(page)
    for t in page["tenants"]:
        out.print(f"{t['tenant_id']}\t{'enabled' if t['enabled'] else 'disabled'}\tv{t['version']}")


@tenants.command("enable")
def tenants_enable(ctx: typer.Context, tenant_id: TenantArg, as_json: JsonOut = False) -> None:
    """Enable exports."""
    with failures_exit():
        t = api(ctx).call("POST", f"/tenants/{tenant_id}/enable")
    emit_json(t) if as_json else out.print(f"{tenant_id} enabled")


@tenants.command("disable")
def tenants_disable(ctx: typer.Context, tenant_id: TenantArg, as_json: JsonOut = False) -> None:
    """Disable exports (the scheduler skips the tenant)."""
    with failures_exit():
        t = api(ctx).call("POST", f"/tenants/{tenant_id}/disable")
    emit_json(t) if as_json else out.print(f"{tenant_id} disabled")


@tenants.command("delete")
def tenants_delete(
    ctx: typer.Context, tenant_id: TenantArg,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete the tenant and all its data.")] = False,
    as_json: JsonOut = False,
) -> None:
    """Delete a tenant with all its data (revokes its Sage grant)."""
    if not yes:
        err.print("refusing without --yes: this deletes the tenant, its log and mappings, and disconnects Sage")
        raise typer.Exit(FAILED)
    with failures_exit():
        d = api(ctx).call("DELETE", f"/tenants/{tenant_id}")
    emit_json(d) if as_json else out.print(f"{tenant_id} deleted ({d['items_deleted']} items)")


# ------------------------------------------------------------------------------ connect, status


@app.command("connect-url")
def connect_url(
    ctx: typer.Context, tenant_id: TenantArg, as_json: JsonOut = False,
    allow_business_change: Annotated[bool, typer.Option(
        "--allow-business-change", help="let this link move the tenant to a different Sage business")] = False,
) -> None:
    """A signed link to send the tenant's admin, to connect their Sage business (single use, valid
    15 minutes by default)."""
    params = {"allow_business_change": "true"} if allow_business_change else None
    with failures_exit():
        link = api(ctx).call("GET", f"/tenants/{tenant_id}/connect-url", params=params)
    emit_json(link) if as_json else typer.echo(link["url"])


@app.command("portal-url")
def portal_url(
    ctx: typer.Context, tenant_id: TenantArg, as_json: JsonOut = False,
    role: Annotated[str, typer.Option("--role", help="viewer (reads) or admin (also changes)")] = "viewer",
    minutes: Annotated[int | None, typer.Option("--minutes", min=1, max=1440,
                                                help="how long the link can wait to be opened")] = None,
    return_url: Annotated[str | None, typer.Option("--return-url", help="the host app page to go back to "
                                                   "(must be on the deployment's PORTAL_RETURN_URLS)")] = None,
) -> None:
    """A signed link that opens the tenant portal for this tenant only (docs/portal.md)."""
    if role not in ("viewer", "admin"):
        raise typer.BadParameter("viewer or admin", param_hint="--role")
    body = {"role": role, **({"minutes": minutes} if minutes else {}), **({"return_url": return_url} if return_url
                                                                           else {})}
    with failures_exit():
        link = api(ctx).call("POST", f"/tenants/{tenant_id}/portal-links", body=body)
    emit_json(link) if as_json else typer.echo(link["url"])


HEALTH_EXIT = {"ok": OK, "attention": PARTIAL, "broken": FAILED}


@app.command("status")
def status(ctx: typer.Context, tenant_id: TenantArg, as_json: JsonOut = False) -> None:
    """How the tenant is doing (exit 0 ok, 1 needs attention, 2 broken)."""
    with failures_exit():
        s = api(ctx).call("GET", f"/tenants/{tenant_id}/status")
    if as_json:
        emit_json(s)
    else:
        colour = {"ok": "green", "attention": "yellow", "broken": "red"}[s["health"]]
        out.print(f"[bold]{tenant_id}[/bold]: [{colour}]{s['health']}[/{colour}]")
        for problem in s["problems"]:
            out.print(f"  - {problem}")
        out.print(f"connection: {s['connection']['summary']}")
        out.print(f"last successful export: {s['last_successful_export'] or 'never'}")
        out.print(f"last successful poll: {s['last_successful_poll'] or 'never'}")
        table = Table("", "runs", "exported", "skipped", "failed")
        for label, key in (("24 hours", "last_24h"), ("7 days", "last_7d")):
            c = s[key]
            table.add_row(label, str(c["runs"]), str(c["exported"]), str(c["skipped"]), str(c["failed"]))
        out.print(table)
        for f in s["open_failures"][:20]:
            out.print(f"  {f['state']:8} {f['kind']} {f['host_id']}: {f['reason']}")
        b = s["delivery_backlog"]
        out.print(f"deliveries to the host: {b['queued']} waiting, {b['failed']} failed")
    raise typer.Exit(HEALTH_EXIT[s["health"]])


# -------------------------------------------------------------------------------- export, replay


RESULT_EXIT = {"succeeded": OK, "partial": PARTIAL, "failed": FAILED, "running": PARTIAL}


def wait_for_run(a: Api, tenant_id: str, requested_by: str, *, timeout: float, quiet: bool) -> dict[str, Any] | None:
    """Follow a queued job until its run finishes, with a progress line on stderr."""
    deadline = time.monotonic() + timeout
    run: dict[str, Any] | None = None
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True, disable=quiet) as progress:
        task = progress.add_task("queued: waiting for the export worker", total=None)
        while time.monotonic() < deadline:
            runs = a.call("GET", f"/tenants/{tenant_id}/runs", params={"requested_by": requested_by})["runs"]
            run = runs[0] if runs else None
            if run is not None:
                done = sum(run["counts"].values())
                progress.update(task, description=f"run {run['run_id']}: {run['status']}, {done} documents")
                if run["status"] != "running":
                    return run
            time.sleep(poll_seconds)
    return run


poll_seconds = 2.0


def report_started(ctx: typer.Context, tenant_id: str, started: dict[str, Any], *, wait: bool, timeout: float,
                   as_json: bool) -> None:
    run = started.get("run")
    if started["mode"] == "queued" and wait:
        with failures_exit():
            run = wait_for_run(api(ctx), tenant_id, started["requested_by"], timeout=timeout, quiet=as_json)
        started = {**started, "run": run}
    if as_json:
        emit_json(started)
    else:
        out.print(started["message"] if not run else f"run {run['run_id']}: {run['result']}")
        if run:
            out.print("  " + ", ".join(f"{n} {k}" for k, n in sorted(run["counts"].items()) if n) or "  nothing to do")
            for p in run.get("planned") or []:
                out.print(f"  would {PLANNED.get(p['outcome'], p['outcome']):15} {p['kind']} {p['host_id']}: "
                          f"{p['message']}")
    if started["mode"] == "queued" and not wait:
        raise typer.Exit(OK)
    if started["mode"] == "nothing":
        raise typer.Exit(OK)
    raise typer.Exit(RESULT_EXIT[run["result"]] if run else PARTIAL)


@app.command("export")
def export(
    ctx: typer.Context, tenant_id: TenantArg,
    date_from: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD).")] = None,
    basis: Annotated[str | None, typer.Option(help="posting | document (default: the tenant's).")] = None,
    export_type: Annotated[str | None, typer.Option("--type", help="new | all (default: the tenant's).")] = None,
    kinds: Annotated[list[str] | None, typer.Option(
        "--kind", help="Only this kind (repeatable); without it, every kind the tenant exports, changed "
                       "customers and vendors included.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would happen; send nothing.")] = False,
    now: Annotated[bool, typer.Option("--now", help="Run inside the API call (small runs) instead of queueing.")]
    = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow a queued run until it ends.")] = True,
    wait_timeout: Annotated[float, typer.Option(help="Seconds to follow a queued run.")] = 900,
    as_json: JsonOut = False,
) -> None:
    """Export now (queued on the export worker) or dry run (answered at once)."""
    body = {"from": date_from, "to": date_to, "basis": basis, "type": export_type, "kinds": kinds or None,
            "dry_run": dry_run, "run": "now" if now else "auto"}
    with failures_exit():
        started = api(ctx).call("POST", f"/tenants/{tenant_id}/exports",
                                body={k: v for k, v in body.items() if v is not None})
    report_started(ctx, tenant_id, started, wait=wait, timeout=wait_timeout, as_json=as_json)


@app.command("replay")
def replay(
    ctx: typer.Context, tenant_id: TenantArg,
    documents: Annotated[list[str] | None, typer.Argument(help="kind:host_id ... (default: every open failure)")]
    = None,
    only: Annotated[str | None, typer.Option(help="failed | skipped (default: both).")] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Hand it to the export worker.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow a queued run until it ends.")] = True,
    wait_timeout: Annotated[float, typer.Option(help="Seconds to follow a queued run.")] = 900,
    as_json: JsonOut = False,
) -> None:
    """Send failed or skipped documents again (after fixing a mapping or the document)."""
    refs = []
    for doc in documents or []:
        kind, sep, host_id = doc.partition(":")
        if not sep:
            raise typer.BadParameter(f"{doc!r}: write kind:host_id, e.g. sales_invoice:INV-1001")
        refs.append({"kind": kind, "host_id": host_id})
    body: dict[str, Any] = {"documents": refs, "run": "queue" if queue else "auto"}
    if only:
        body["states"] = [only]
    with failures_exit():
        started = api(ctx).call("POST", f"/tenants/{tenant_id}/replay", body=body)
    report_started(ctx, tenant_id, started, wait=wait, timeout=wait_timeout, as_json=as_json)


# ---------------------------------------------------------------------------------- log, reconcile


@app.command("log")
def log(
    ctx: typer.Context, tenant_id: TenantArg,
    run: Annotated[str | None, typer.Option(help="Only this run.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    outcome: Annotated[str | None, typer.Option(help="created | updated | linked | skipped | failed | unchanged")]
    = None,
    host_id: Annotated[str | None, typer.Option(help="Only this host document.")] = None,
    since: Annotated[str | None, typer.Option(help="From this day (YYYY-MM-DD, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="To this day (YYYY-MM-DD, UTC).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many lines.")] = 50,
    as_json: JsonOut = False,
) -> None:
    """The sync log, newest first."""
    with failures_exit():
        page = api(ctx).call("GET", f"/tenants/{tenant_id}/log", params={
            "run": run, "kind": kind, "outcome": outcome, "host_id": host_id, "since": since, "until": until,
            "limit": limit})
    if as_json:
        return emit_json(page)
    for e in page["entries"]:
        reason = f": {e['reason']}" if e["reason"] else ""
        out.print(f"{e['logged_at']}  {e['outcome']:9} {e['kind']} {e['number'] or e['host_id']}{reason}",
                  highlight=False, markup=False)
    if not page["entries"]:
        out.print("no log lines match")


@app.command("reconcile")
def reconcile(
    ctx: typer.Context, tenant_id: TenantArg,
    date_from: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    date_to: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD).")],
    kinds: Annotated[list[str] | None, typer.Option("--kind", help="Only this kind (repeatable).")] = None,
    basis: Annotated[str | None, typer.Option(help="posting | document (default: the tenant's).")] = None,
    as_json: JsonOut = False,
) -> None:
    """Host documents against Sage for a period (exit 0 balanced, 1 differences)."""
    with failures_exit():
        report = api(ctx).call("GET", f"/tenants/{tenant_id}/reconciliation", params={
            "from": date_from, "to": date_to, "kind": kinds or None, "basis": basis})
    if as_json:
        emit_json(report)
    else:
        table = Table("kind", "currency", "host", "host total", "in Sage", "Sage total", "only in Sage")
        for k in report["kinds"]:
            if k.get("not_exported"):  # the product never takes this kind: nothing in Sage to compare
                table.add_row(k["kind"], "", str(k["host_count"]), "", "", "", f"not exported: {k['not_exported']}")
                continue
            # One line per currency: totals in different currencies are never added together.
            for c in k.get("by_currency") or [{**k, "currency": k.get("currency") or ""}]:
                table.add_row(k["kind"], c.get("currency") or "", str(c["host_count"]), str(c["host_total"]),
                              str(c["sage_count"]), str(c["sage_total"]), str(k["only_in_sage_count"]))
        out.print(table)
        for d in report["differences"]:
            out.print(f"  {d['problem']:16} {d['message']}", highlight=False, markup=False)
        out.print("balanced" if report["balanced"] else f"{len(report['differences'])} difference(s)")
    raise typer.Exit(OK if report["balanced"] else PARTIAL)


# ---------------------------------------------------------------------------------- deliveries


def show_delivery(d: dict[str, Any]) -> None:
    answer = "no answer yet" if d["last_status"] is None and not d["last_attempt_at"] else \
        f"host answered {d['last_status'] or 'nothing'}" + (f": {d['last_response']}" if d["last_response"] else "")
    doc = d.get("document") or {}
    about = f" {doc.get('kind', '')} {doc.get('number') or doc.get('host_id', '')}".rstrip() if doc else ""
    out.print(f"{d['created_at'] or '':32} {d['state']:9} {d['event_type'] or '?'}{about}  {d['event_id']}",
              highlight=False, markup=False)
    if d["state"] != "delivered":
        extra = " (in the dead-letter queue)" if d["dead_lettered"] else ""
        out.print(f"    {d['attempts']} attempt(s), {answer}{extra}", highlight=False, markup=False)


@app.command("deliveries")
def deliveries(
    ctx: typer.Context, tenant_id: TenantArg,
    state: Annotated[str | None, typer.Option(help="queued | delivered | failed (default: all).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    resend: Annotated[list[str] | None, typer.Option("--resend", help="Send this failed delivery (event id) "
                                                     "again (repeatable).")] = None,
    resend_failed: Annotated[bool, typer.Option("--resend-failed", help="Send every failed delivery again.")] = False,
    as_json: JsonOut = False,
) -> None:
    """What was sent to the tenant's host app, with the host's last answer; resend refused ones
    (exit 1 when some are failed and not being sent again)."""
    with failures_exit():
        a = api(ctx)
        if resend or resend_failed:
            results = [a.call("POST", f"/tenants/{tenant_id}/deliveries/{event_id}/resend")
                       for event_id in resend or []]
            if resend_failed:
                results.append(a.call("POST", f"/tenants/{tenant_id}/deliveries/resend"))
            if as_json:
                return emit_json(results[0] if len(results) == 1 else results)
            for r in results:
                out.print(r["message"], highlight=False, markup=False)
            raise typer.Exit(OK)
        page = a.call("GET", f"/tenants/{tenant_id}/deliveries", params={"state": state, "limit": limit})
    if as_json:
        return emit_json(page)
    for d in page["deliveries"]:
        show_delivery(d)
    if not page["deliveries"]:
        out.print("no deliveries")
    failed = [d for d in page["deliveries"] if d["state"] == "failed"]
    if failed:
        out.print(f"{len(failed)} failed: fix the host's URL or secret, then `sagebridge deliveries {tenant_id} "
                  "--resend-failed`", highlight=False, markup=False)
        raise typer.Exit(PARTIAL)


def run() -> None:  # the console script
    app()


if __name__ == "__main__":
    sys.exit(app())
