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
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
import typer.core
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

OK, PARTIAL, FAILED = 0, 1, 2
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}



# typer carries its own click: its usage error is the base of the BadParameter it exports.
UsageError: type[Exception] = typer.BadParameter.__mro__[1]


class JsonErrorsGroup(typer.core.TyperGroup):
    """With --json on the command line, an error the CLI finds itself before any request (a bad choice,
    day or number, a missing argument) is JSON on stdout too, the shape of an API error plus the option
    it is about, with the same exit code (2)."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        _json_mode["asked"] = "--json" in args
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if not _json_mode.get("asked"):
                raise
            param = getattr(exc, "param", None)
            hint = getattr(exc, "param_hint", None) or getattr(exc, "option_name", None)
            field = hint if isinstance(hint, str) else (
                param.opts[0] if param is not None and param.opts else getattr(param, "name", None))
            emit_json({"status": None, "message": exc.format_message(), "field": field})  # type: ignore[attr-defined]
            raise typer.Exit(getattr(exc, "exit_code", FAILED)) from None


app = typer.Typer(help=__doc__.split("\n\n")[0], no_args_is_help=True, add_completion=True, cls=JsonErrorsGroup)
tenants = typer.Typer(help="Create, show and change tenants.", no_args_is_help=True)
app.add_typer(tenants, name="tenants")
out = Console()
err = Console(stderr=True)

_json_mode = {"on": False, "asked": False}  # the running command's --json, for its error output (failures_exit)


def _remember_json(value: bool) -> bool:
    _json_mode["on"] = bool(value)
    return value


JsonOut = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.", callback=_remember_json)]
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
    """API errors -> a readable message on stderr and exit code 2 (with --json: the API's error body
    as JSON on stdout, `status` added, so scripts read failures the way they read answers)."""
    try:
        yield
    except ApiError as exc:
        if json_requested():
            body = exc.body if isinstance(exc.body, dict) else {"message": str(exc)}
            emit_json({"status": exc.status or None, **body})
            raise typer.Exit(FAILED) from None
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


# ------------------------------------------------------------ checked here, before any request

# The API's own choices (tests/unit/cli checks them against the layer's enums).
KINDS = ("sales_invoice", "sales_credit_note", "purchase_invoice", "purchase_credit_note", "customer_payment",
         "customer_refund", "customer", "vendor")
BASES = ("posting", "document")
EXPORT_TYPES = ("new", "all")
REPLAY_STATES = ("failed", "skipped")
OUTCOMES = ("created", "updated", "linked", "skipped", "failed", "unchanged")
DELIVERY_STATES = ("queued", "delivered", "failed")
# The tenant settings' names, for --unset (the API takes null for an unknown name as "nothing to reset").
SETTINGS = ("business_currency", "catalog_import", "customer_date_basis", "default_purchase_ledger_account_id",
            "default_sales_ledger_account_id", "export_interval_minutes", "export_kinds", "export_type",
            "exportable_statuses", "failure_emails", "host_callback_url", "host_signature_scheme",
            "identify_customer_by", "intacct", "ledger_mappings", "notification_email", "provider",
            "receipt_bank_account_id", "receipt_payment_method", "replace_host_tax_types", "retry_limit",
            "tax_mappings", "total_tolerance", "trigger_statuses", "vendor_date_basis")


def one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    """A parser refusing anything but `choices`, naming them."""
    def parse(value: str) -> str:
        if value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of: {', '.join(choices)}")
        return value
    return parse


def day(value: str) -> str:
    """YYYY-MM-DD, a real day ("2026-02-30" is refused here, not by the API)."""
    try:
        parsed: date | None = date.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.isoformat() != value:  # 3.11 also takes 20260331 and 2026-W13
        raise typer.BadParameter(f"{value!r} is not a day: write YYYY-MM-DD, e.g. 2026-03-31")
    return value


def json_requested() -> bool:
    """Whether the running command was given --json."""
    return _json_mode["on"]


def cli_version() -> str:
    try:
        return metadata.version("sagebridge-cli")
    except metadata.PackageNotFoundError:  # run from a checkout without `pip install -e ./cli`
        return "0+checkout"


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"sagebridge {cli_version()}")
        raise typer.Exit(OK)


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
    version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                          help="Print the CLI's version and exit.")] = False,
) -> None:
    _json_mode["on"] = False  # until the command's own --json is parsed
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
    unknown = sorted({key.strip().partition(".")[0] for key in unset or []} - set(SETTINGS))
    if unknown:
        raise typer.BadParameter(f"{', '.join(unknown)}: no such setting; there are: {', '.join(SETTINGS)}",
                                 param_hint="--unset")
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


@app.command("portal-revoke")
def portal_revoke(ctx: typer.Context, tenant_id: TenantArg, as_json: JsonOut = False) -> None:
    """End every portal session and unopened portal link of this tenant (docs/portal.md)."""
    with failures_exit():
        done = api(ctx).call("POST", f"/tenants/{tenant_id}/portal-sessions/revoke")
    emit_json(done) if as_json else typer.echo(done["message"])


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
        if d := s.get("documents"):
            out.print(f"documents now: {d['exported']} exported, {d['skipped']} skipped, {d['failed']} failed, "
                      f"{d['waiting']} waiting", highlight=False)  # for their status or Sage's block (problems)
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
                   as_json: bool, explain: bool = False) -> None:
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
            if note := not_logged_note(run):
                out.print(f"  {note}", highlight=False, markup=False)
            for p in run.get("planned") or []:
                out.print(f"  would {PLANNED.get(p['outcome'], p['outcome']):15} {p['kind']} {p['host_id']}: "
                          f"{p['message']}")
            if explain and run.get("result") != "succeeded":
                explain_not_sent(ctx, tenant_id, run)
    if started["mode"] == "queued" and not wait:
        raise typer.Exit(OK)
    if started["mode"] == "nothing":
        raise typer.Exit(OK)
    raise typer.Exit(RESULT_EXIT[run["result"]] if run else PARTIAL)


@app.command("export")
def export(
    ctx: typer.Context, tenant_id: TenantArg,
    date_from: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).", parser=day)] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD).", parser=day)] = None,
    basis: Annotated[str | None, typer.Option(help="posting | document (default: the tenant's).",
                                              parser=one_of(BASES))] = None,
    export_type: Annotated[str | None, typer.Option("--type", help="new | all (default: the tenant's).",
                                                    parser=one_of(EXPORT_TYPES))] = None,
    kinds: Annotated[list[str] | None, typer.Option(
        "--kind", help="Only this kind (repeatable); without it, every kind the tenant exports, changed "
                       "customers and vendors included.", parser=one_of(KINDS))] = None,
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
    only: Annotated[str | None, typer.Option(help="failed | skipped (default: both).",
                                             parser=one_of(REPLAY_STATES))] = None,
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
            raise typer.BadParameter(f"{doc!r}: write kind:host_id, e.g. sales_invoice:INV-1001",
                                     param_hint="documents")
        one_of(KINDS)(kind)
        refs.append({"kind": kind, "host_id": host_id})
    body: dict[str, Any] = {"documents": refs, "run": "queue" if queue else "auto"}
    if only:
        body["states"] = [only]
    with failures_exit():
        started = api(ctx).call("POST", f"/tenants/{tenant_id}/replay", body=body)
    report_started(ctx, tenant_id, started, wait=wait, timeout=wait_timeout, as_json=as_json, explain=True)


# ---------------------------------------------------------------------------------- log, reconcile


@app.command("log")
def log(
    ctx: typer.Context, tenant_id: TenantArg,
    run: Annotated[str | None, typer.Option(help="Only this run.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.", parser=one_of(KINDS))] = None,
    outcome: Annotated[str | None, typer.Option(help="created | updated | linked | skipped | failed | unchanged",
                                                parser=one_of(OUTCOMES))] = None,
    host_id: Annotated[str | None, typer.Option(help="Only this host document.")] = None,
    since: Annotated[str | None, typer.Option(help="From this day (YYYY-MM-DD, UTC).", parser=day)] = None,
    until: Annotated[str | None, typer.Option(help="To this day (YYYY-MM-DD, UTC).", parser=day)] = None,
    limit: Annotated[int, typer.Option(help="At most this many lines.", min=1)] = 50,
    as_json: JsonOut = False,
) -> None:
    """The sync log, newest first (the whole log is searched until `limit` lines match)."""
    if since and until and since > until:
        raise typer.BadParameter(f"--since {since} is after --until {until}: no day is in that period",
                                 param_hint="--since/--until")
    params = {"run": run, "kind": kind, "outcome": outcome, "host_id": host_id, "since": since, "until": until}
    with failures_exit():
        entries, token = read_log(api(ctx), tenant_id, params, limit)
    if as_json:
        return emit_json({"entries": entries, "next_token": token})
    for e in entries:
        reason = f": {e['reason']}" if e["reason"] else ""
        out.print(f"{e['logged_at']}  {e['outcome']:9} {e['kind']} {e['number'] or e['host_id']}{reason}",
                  highlight=False, markup=False)
    if not entries:
        out.print("no log lines match")


LOG_PAGE = 200  # the API's largest page


def read_log(a: Api, tenant_id: str, params: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` matching lines, following next_token: one answer searches a bounded part of the
    log, so a narrow filter (3 skips in a run of 1,240) may come back empty with a token to go on."""
    entries: list[dict[str, Any]] = []
    token = None
    while True:
        page = a.call("GET", f"/tenants/{tenant_id}/log",
                      params={**params, "limit": min(LOG_PAGE, limit - len(entries)), "next_token": token})
        entries += page["entries"]
        token = page.get("next_token")
        if not token or len(entries) >= limit:
            return entries, token


# ------------------------------------------------------------------------------------------- why

IN_SAGE = ("created", "updated", "linked", "unchanged")
# Skips of a later version of a document already in Sage (Sage keeps the version it has).
EXPORTED_BEFORE = ("changed_after_export", "already_paid_in_sage")


def _voided_in_sage(entry: dict[str, Any]) -> bool:
    """A host void carried out in Sage: logged as an update whose reason says so."""
    return entry["outcome"] == "updated" and str(entry.get("reason") or "").startswith(
        ("voided in Sage", "deleted in Sage"))


WHY_PAGES = 10  # log pages of 200 searched for a document number (the host id is looked up directly)


def find_log_entry(a: Api, tenant_id: str, document: str) -> dict[str, Any] | None:
    """The newest sync log line of a document, by host id, else by number (case-insensitive)."""
    # By host id: each kind's own history (an index read), not a search of the whole log.
    found = [page["entries"][0] for kind in KINDS
             if (page := a.call("GET", f"/tenants/{tenant_id}/log",
                                params={"kind": kind, "host_id": document, "limit": 1}))["entries"]]
    if found:
        return dict(max(found, key=lambda e: (e["run_id"], e["seq"] or "")))
    token = None
    for _ in range(WHY_PAGES):
        page = a.call("GET", f"/tenants/{tenant_id}/log", params={"limit": 200, "next_token": token})
        for entry in page["entries"]:
            if (entry.get("number") or "").casefold() == document.casefold():
                return dict(entry)
        token = page.get("next_token")
        if not token:
            return None
    return None


def waiting_for_a_run(tenant_id: str, received: dict[str, Any]) -> str:
    """A document the host sent that no run has looked at yet: what will happen to it."""
    status = f", status {received['status']}" if received["status"] else ""
    what = f"{received['kind']} {received['host_id']}{status}"
    said = (f"Sage Bridge received it ({what}, at {received['received_at']}); no run has looked at it yet "
            "(no sync log line names it). ")
    if received["voided"]:
        return said + "It was voided in the host app before any export: nothing will be sent to Sage."
    if not received["exportable"]:
        return said + (f"Its status {received['status']} is not exportable, so no run will send it as it is: it is "
                       "exported once the host app moves it to an exportable status (sagebridge tenants show "
                       f"{tenant_id}: exportable_statuses).")
    if received["trigger_status"]:
        return said + ("Its status exports it at once: its run is queued on the export worker or about to start; "
                       f"sagebridge runs {tenant_id} shows it.")
    return said + (f"It waits for the next scheduled run (export_interval_minutes), or run one now: "
                   f"sagebridge export {tenant_id}")


def how_to_fix(tenant_id: str, entry: dict[str, Any] | None, document: str = "",
               received: dict[str, Any] | None = None) -> str:
    if entry is None and received is not None:
        return waiting_for_a_run(tenant_id, received)
    if entry is None:
        return (f"Sage Bridge has never received a document with number or host id {document!r} (no sync log "
                "line names it). Check the host app sent it: a refused webhook counts in the WebhooksRefused "
                "metric and logs a 'webhook refused' line (401: the host signs with another secret; 404: unknown "
                "or disabled tenant; 422: a bad body). The Logs Insights query in docs/operations.md ('Why is a "
                "document not in Sage?') shows them, and a 'webhook staged' line if it was received and waits "
                "for the next scheduled run (a status that is not a trigger status).")
    ref = f"{entry['kind']}:{entry['host_id']}"
    if _voided_in_sage(entry):
        return (f"The host app voided it, and Sage Bridge {entry['reason'].split(':')[0]} (id "
                f"{entry.get('sage_id') or 'unknown'}): it is out of the books there. The host app was told "
                "(outcome voided).")
    if entry["outcome"] in IN_SAGE:
        return (f"It is in Sage (id {entry.get('sage_id') or 'unknown'}). If the accountant cannot find it, check "
                f"the business the tenant is connected to: sagebridge status {tenant_id}")
    if entry["outcome"] == "skipped" and entry.get("reason_code") in EXPORTED_BEFORE:
        return ("An earlier version of it is in Sage (the reason says what Sage holds); this version was not "
                "sent. Do what the reason says (in Sage, or in the host app), or export type All sends changes "
                f"to documents already exported: sagebridge tenants set {tenant_id} export_type=all")
    if entry["outcome"] == "skipped":
        return (f"Fix what the reason names (in the host app, or the tenant's mappings or settings), then "
                f"sagebridge replay {tenant_id} {ref}. A new version sent by the host app is exported anyway.")
    return (f"Sage Bridge retries a failure by itself up to the tenant's retry_limit; once it gave up (or Sage refused "
            f"it), fix what the reason names, then sagebridge replay {tenant_id} {ref}.")


@app.command("why")
def why(
    ctx: typer.Context, tenant_id: TenantArg,
    document: Annotated[str, typer.Argument(help="The document's number (INV-9) or its host id.")],
    as_json: JsonOut = False,
) -> None:
    """Why a document is (or is not) in Sage: its state, the reason, the fix, its last run and the
    correlation id of that run's logs (exit 0 in Sage, 1 not in Sage)."""
    with failures_exit():
        a = api(ctx)
        entry = find_log_entry(a, tenant_id, document)
        run_view = a.call("GET", f"/tenants/{tenant_id}/runs/{entry['run_id']}") if entry else None
        # No log line: received and waiting for a run, or never received at all.
        received = None if entry else next(iter(a.call("GET", f"/tenants/{tenant_id}/documents",
                                                       params={"host_id": document})["documents"]), None)
    details = (run_view or {}).get("details") or {}
    answer = {
        "tenant_id": tenant_id, "document": document, "found": entry is not None or received is not None,
        "state": ("voided" if _voided_in_sage(entry) else entry["outcome"]) if entry
        else "received" if received else "not_seen",
        "kind": entry["kind"] if entry else received and received["kind"],
        "host_id": entry["host_id"] if entry else received and received["host_id"],
        "number": entry.get("number") if entry else received and received.get("number"),
        "reason_code": entry and entry.get("reason_code"), "reason": entry and entry.get("reason"),
        "sage_id": entry and entry.get("sage_id"), "logged_at": entry and entry.get("logged_at"),
        "fix": how_to_fix(tenant_id, entry, document, received),
        "run": run_view and {"run_id": run_view["run_id"], "trigger": run_view["trigger"],
                             "result": run_view["result"], "started_at": run_view["started_at"],
                             "requested_by": details.get("requested_by")},
        "correlation_id": details.get("correlation_id"),
    }
    in_sage = entry is not None and entry["outcome"] in IN_SAGE
    if as_json:
        emit_json(answer)
        raise typer.Exit(OK if in_sage else PARTIAL)
    colour = "green" if in_sage else "yellow"
    name = answer["number"] or answer["host_id"]
    out.print(f"[bold]{tenant_id} {name or document}[/bold]: [{colour}]{answer['state']}[/{colour}]"
              + (f" ({answer['kind']} {answer['host_id']})" if answer["kind"] else ""))
    if entry and entry.get("reason"):
        out.print(f"reason: {entry['reason']}" + (f" [{entry['reason_code']}]" if entry.get("reason_code") else ""),
                  highlight=False, markup=False)
    out.print(f"fix: {answer['fix']}", highlight=False, markup=False)
    if run_view:
        out.print(f"last run: {run_view['run_id']} ({run_view['trigger']}, {run_view['result']}, started "
                  f"{run_view['started_at']})", highlight=False, markup=False)
    if run_view:  # a document never seen has no run, so no correlation id to miss
        out.print(f"correlation id: {answer['correlation_id'] or 'not recorded for this run'}", highlight=False,
                  markup=False)
    if answer["correlation_id"]:
        out.print("logs: CloudWatch Logs Insights over the stack's log groups: fields @timestamp, message, "
                  f"host_id, outcome, reason | filter correlation_id = '{answer['correlation_id']}' "
                  "| sort @timestamp asc", highlight=False, markup=False)
    raise typer.Exit(OK if in_sage else PARTIAL)


@app.command("reconcile")
def reconcile(
    ctx: typer.Context, tenant_id: TenantArg,
    date_from: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).", parser=day)],
    date_to: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD).", parser=day)],
    kinds: Annotated[list[str] | None, typer.Option("--kind", help="Only this kind (repeatable).",
                                                    parser=one_of(KINDS))] = None,
    basis: Annotated[str | None, typer.Option(help="posting | document (default: the tenant's).",
                                              parser=one_of(BASES))] = None,
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
    state: Annotated[str | None, typer.Option(help="queued | delivered | failed (default: all).",
                                              parser=one_of(DELIVERY_STATES))] = None,
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


@app.command("settings-history")
def settings_history(
    ctx: typer.Context, tenant_id: TenantArg,
    limit: Annotated[int, typer.Option(help="At most this many versions.")] = 20,
    as_json: JsonOut = False,
) -> None:
    """Who changed which setting, from what to what, and when (newest first)."""
    with failures_exit():
        page = api(ctx).call("GET", f"/tenants/{tenant_id}/settings/history", params={"limit": limit})
    if as_json:
        return emit_json(page)
    out.print(f"{tenant_id}: settings at version {page['current_version']}", highlight=False, markup=False)
    for v in page["versions"]:
        note = f" ({v['note']})" if v.get("note") else ""
        out.print(f"v{v['version']}  {v['changed_at']}  by {v['actor']}{note}", highlight=False, markup=False,
                  soft_wrap=True)
        for c in v["changes"]:
            out.print(f"    {c['field']}: {json.dumps(c['old'])} -> {json.dumps(c['new'])}", highlight=False,
                      markup=False, soft_wrap=True)
    if not page["versions"]:
        out.print("no saved changes yet")


# ------------------------------------------------------------------ runs, mappings, disconnect


def explain_not_sent(ctx: typer.Context, tenant_id: str, run: dict[str, Any]) -> None:
    """After a replay: each document skipped or failed again, with the reason its log line gives."""
    with failures_exit():
        page = api(ctx).call("GET", f"/tenants/{tenant_id}/log", params={"run": run["run_id"], "limit": 200})
    for e in page["entries"]:
        if e["outcome"] in ("skipped", "failed"):
            again = "skipped again" if e["outcome"] == "skipped" else "failed again"
            out.print(f"  {again}: {e['kind']} {e['number'] or e['host_id']}: {e['reason'] or 'no reason logged'}",
                      highlight=False, markup=False)


def show_run(r: dict[str, Any]) -> None:
    counts = ", ".join(f"{n} {k}" for k, n in sorted(r["counts"].items()) if n) or "nothing done"
    dry = " (dry run)" if r.get("dry_run") else ""
    note = not_logged_note(r)
    out.print(f"{r['run_id']}  {r['started_at'] or '':32} {r['trigger']:10} {r['result']:9}{dry}  {counts}"
              + (f" ({note})" if note else ""), highlight=False, markup=False)


def not_logged_note(run: dict[str, Any]) -> str:
    """Why `log --run` shows fewer lines than the run counts: what it did not log again."""
    quiet = (run.get("details") or {}).get("not_logged") or {}
    if not quiet:
        return ""
    what = ", ".join(f"{n} {k}" for k, n in sorted(quiet.items()) if n)
    return (f"of these, {what} have no log line in this run: nothing new since a run logged them "
            "(skipped again for the same reason, or unchanged under export type New)")


@app.command("runs")
def runs(
    ctx: typer.Context, tenant_id: TenantArg,
    run_id: Annotated[str | None, typer.Argument(help="One run (default: the newest runs).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1, max=100)] = 20,
    as_json: JsonOut = False,
) -> None:
    """Run history, newest first, or one run (exit 1 when the run shown, or the newest, is partial or
    still running, 2 when it failed)."""
    with failures_exit():
        if run_id:
            page = {"runs": [api(ctx).call("GET", f"/tenants/{tenant_id}/runs/{run_id}")]}
        else:
            page = api(ctx).call("GET", f"/tenants/{tenant_id}/runs", params={"limit": limit})
    if as_json:
        emit_json(page["runs"][0] if run_id else page)
    else:
        for r in page["runs"]:
            show_run(r)
        if not page["runs"]:
            out.print("no runs yet")
        if run_id and page["runs"][0].get("details"):
            out.print_json(json.dumps(page["runs"][0]["details"], default=str))
    newest = page["runs"][0] if page["runs"] else None
    raise typer.Exit(OK if newest is None else RESULT_EXIT.get(newest["result"], PARTIAL))


mappings = typer.Typer(help="Host code -> Sage id mappings (tax codes, ledger accounts, bank account).",
                       no_args_is_help=True)
app.add_typer(mappings, name="mappings")

MAPPING_FIELDS = ("tax_mappings", "ledger_mappings", "default_sales_ledger_account_id",
                  "default_purchase_ledger_account_id", "receipt_bank_account_id")


def show_health(h: dict[str, Any]) -> None:
    if not h["checked"]:
        out.print(f"not checked against Sage: {h.get('reason') or 'unknown reason'}", highlight=False, markup=False)
    elif h["ok"]:
        out.print(f"all {h['mappings_checked']} mapping(s) point at live Sage records")
    for p in h.get("problems") or []:
        out.print("  - " + ", ".join(f"{k}: {v}" for k, v in p.items() if v not in (None, "")),
                  highlight=False, markup=False)


@mappings.command("show")
def mappings_show(ctx: typer.Context, tenant_id: TenantArg, as_json: JsonOut = False) -> None:
    """The tenant's mappings."""
    with failures_exit():
        m = api(ctx).call("GET", f"/tenants/{tenant_id}/mappings")
    emit_json(m) if as_json else out.print_json(json.dumps(m))


@mappings.command("set")
def mappings_set(
    ctx: typer.Context, tenant_id: TenantArg,
    assignments: Annotated[list[str] | None, typer.Argument(
        help="mapping=value ... (tax_mappings.S=<Sage id>, receipt_bank_account_id=<Sage id>)")] = None,
    unset: Annotated[list[str] | None, typer.Option(
        help="Remove a mapping (repeatable): tax_mappings.S, or receipt_bank_account_id.")] = None,
    no_check: Annotated[bool, typer.Option("--no-check", help="Keep ids Sage cannot confirm now.")] = False,
    as_json: JsonOut = False,
) -> None:
    """Set or remove mappings; each id is checked against the tenant's Sage business first
    (exit 1 when some mapping then points at a gone or inactive Sage record)."""
    if not assignments and not unset:
        raise typer.BadParameter("name at least one mapping=value or --unset mapping", param_hint="assignments")
    changes: dict[str, Any] = parse_assignments(assignments or [])
    for key in unset or []:
        field, _, code = key.strip().partition(".")
        if code:
            changes.setdefault(field, {})[code] = None  # a null removes one code
        else:
            changes[field] = None
    unknown = sorted(set(changes) - set(MAPPING_FIELDS))
    if unknown:
        raise typer.BadParameter(f"{', '.join(unknown)}: not a mapping; there are: {', '.join(MAPPING_FIELDS)}")
    for field, value in changes.items():
        if value is not None and field.endswith("_mappings") != isinstance(value, dict):
            raise typer.BadParameter(f"{field}: write {field}.CODE=<Sage id>" if field.endswith("_mappings")
                                     else f"{field}: write {field}=<Sage id>")
        if isinstance(value, dict):
            changes[field] = {code: None if v is None else str(v) for code, v in value.items()}
        elif value is not None:
            changes[field] = str(value)  # Sage ids stay strings, even all digits
    body = {**changes, "check_in_sage": not no_check}
    with failures_exit():
        saved = api(ctx).call("PUT", f"/tenants/{tenant_id}/mappings", body=body)
    if as_json:
        emit_json(saved)
    else:
        out.print(f"mappings saved (version {saved['version']})")
        out.print_json(json.dumps(saved["mappings"]))
        show_health(saved["health"])
    raise typer.Exit(OK if saved["health"]["ok"] or not saved["health"]["checked"] else PARTIAL)


@mappings.command("health")
def mappings_health(ctx: typer.Context, tenant_id: TenantArg, as_json: JsonOut = False) -> None:
    """Mappings pointing at gone or inactive Sage records (exit 1 when there are some, 2 when Sage
    could not be asked)."""
    with failures_exit():
        h = api(ctx).call("GET", f"/tenants/{tenant_id}/mappings/health")
    emit_json(h) if as_json else show_health(h)
    raise typer.Exit(FAILED if not h["checked"] else OK if h["ok"] else PARTIAL)


@app.command("disconnect")
def disconnect(
    ctx: typer.Context, tenant_id: TenantArg,
    yes: Annotated[bool, typer.Option("--yes", help="Really disconnect (exports stop until reconnected).")] = False,
    as_json: JsonOut = False,
) -> None:
    """Disconnect the tenant's Sage business (revokes the grant; the tenant, its log and mappings stay)."""
    if not yes:
        err.print("refusing without --yes: exports and polling stop until the tenant connects again")
        raise typer.Exit(FAILED)
    with failures_exit():
        d = api(ctx).call("DELETE", f"/tenants/{tenant_id}/connection")
    if as_json:
        return emit_json(d)
    out.print(f"{tenant_id} disconnected" if d["disconnected"] else f"{tenant_id} was not connected")


# ------------------------------------------------------- deployment: settings secret, doctor

settings_secret = typer.Typer(help="The deployment's settings secret (Sage app credentials); values are never "
                                   "printed.", no_args_is_help=True)
app.add_typer(settings_secret, name="settings-secret")

PLACEHOLDER = "REPLACE_ME"  # what the template puts in every product key
SIGNING_KEY, MIN_SIGNING_KEY = "state_signing_key", 32
DEFAULT_PROVIDER = "sage_accounting"  # a tenant whose settings name no product; its connect flow always runs
# Each product's keys in the settings secret (tests/unit/cli checks them against the products' own).
PRODUCT_KEYS: dict[str, tuple[str, ...]] = {
    "sage_accounting": ("sage_accounting_client_id", "sage_accounting_client_secret"),
    "sage_intacct": ("intacct_sender_id", "intacct_sender_password"),
    "sage200": ("sage200_client_id", "sage200_client_secret", "sage200_subscription_key"),
    "sage_regional": ("sage_regional_api_key",),
}
PRODUCT_NAMES = {"sage_accounting": "Sage Business Cloud Accounting", "sage_intacct": "Sage Intacct",
                 "sage200": "Sage 200", "sage_regional": "Sage Accounting (regional API)"}
StackOpt = Annotated[str | None, typer.Option("--stack", envvar="SAGEBRIDGE_STACK",
                                              help="The deployed stack's name (its outputs name the secret and API).")]
SecretOpt = Annotated[str | None, typer.Option("--secret-name", help="The settings secret's name (default: the "
                                               "stack's SettingsSecretName output, or the local stack's).")]


@dataclass
class Deployment:
    """Where a deployment's settings secret, admin API and callback are."""

    secret_name: str
    region: str
    stack: str | None = None
    endpoint_url: str | None = None  # the local stack's moto
    api_url: str | None = None
    public_api_url: str = ""
    parameters: dict[str, str] | None = None


def aws_client(service: str, d: Deployment) -> Any:
    import botocore.session

    local = {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if d.endpoint_url else {}
    return botocore.session.get_session().create_client(service, region_name=d.region, endpoint_url=d.endpoint_url,
                                                        **local)


def local_outputs() -> dict[str, Any] | None:
    candidates = [Path(os.environ["SAGEBRIDGE_LOCAL_STATE"]) / "outputs.json"] \
        if os.environ.get("SAGEBRIDGE_LOCAL_STATE") else []
    here = Path.cwd().resolve()
    candidates += [d / ".local-stack" / "outputs.json" for d in (here, *here.parents)]
    found = next((p for p in candidates if p.exists()), None)
    return json.loads(found.read_text()) if found else None


def find_deployment(ctx: typer.Context, stack: str | None, secret_name: str | None) -> Deployment:
    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    region = region_of(settings.api_url or "", settings.region)
    if stack:
        d = Deployment(secret_name="", region=region, stack=stack, api_url=settings.api_url)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            found = aws_client("cloudformation", d).describe_stacks(StackName=stack)["Stacks"][0]
        except (ClientError, BotoCoreError) as exc:
            err.print(f"cannot read stack {stack!r} in {region}: {exc}", highlight=False, markup=False)
            raise typer.Exit(FAILED) from None
        outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs") or []}
        d.parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters") or []}
        d.secret_name = secret_name or outputs.get("SettingsSecretName") or f"{stack}/settings"
        d.api_url = d.api_url or outputs.get("ApiUrl")
        d.public_api_url = d.parameters.get("PublicApiUrl", "")
        return d
    if secret_name:
        return Deployment(secret_name=secret_name, region=region, api_url=settings.api_url)
    local = local_outputs()
    if local is not None and settings.api_url and local["api_url"].rstrip("/") != settings.api_url.rstrip("/"):
        local = None  # --api-url names another deployment than the local stack running here
    if local is None:
        why = (f"the local stack running here is not at {settings.api_url}" if settings.api_url and local_outputs()
               else "without them the local stack is used, and it is not running")
        raise typer.BadParameter(f"name the deployed stack (--stack or SAGEBRIDGE_STACK) or its --secret-name; {why}",
                                 param_hint="--stack")
    return Deployment(secret_name=local["resources"]["SettingsSecret"], region=region,
                      endpoint_url=local["moto_endpoint"], api_url=local["api_url"],
                      public_api_url=(local.get("environment") or {}).get("PUBLIC_API_URL", ""))


class SecretUnreadable(Exception):
    pass


def read_secret(d: Deployment) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        raw = aws_client("secretsmanager", d).get_secret_value(SecretId=d.secret_name)["SecretString"]
    except (ClientError, BotoCoreError) as exc:  # their messages name the secret, never its value
        raise SecretUnreadable(f"cannot read the settings secret {d.secret_name!r}: {exc}") from None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise SecretUnreadable(f"the settings secret {d.secret_name!r} is not a JSON object")
    return value


def filled(value: Any) -> bool:
    return bool(str(value or "").strip()) and str(value).strip() != PLACEHOLDER


@settings_secret.command("set")
def settings_secret_set(
    ctx: typer.Context,
    assignments: Annotated[list[str] | None, typer.Argument(
        help="KEY=VALUE ..., or KEY alone to be asked for its value (not echoed, not in your shell history)")]
    = None,
    new_signing_key: Annotated[bool, typer.Option(
        "--new-state-signing-key", help="Generate a new state_signing_key (voids connect links and sign-ins "
                                        "in progress); without it the one there is kept.")] = False,
    stack: StackOpt = None, secret_name: SecretOpt = None, as_json: JsonOut = False,
) -> None:
    """Fill in keys of the settings secret: reads it, merges the keys named, writes it back, keeping
    every other key (the generated state_signing_key among them). Prints key names, never values."""
    if not assignments and not new_signing_key:
        raise typer.BadParameter("name at least one KEY=VALUE (or KEY) or --new-state-signing-key",
                                 param_hint="assignments")
    known = [k for keys in PRODUCT_KEYS.values() for k in keys]
    changes: dict[str, str] = {}
    for item in assignments or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if key == SIGNING_KEY:
            raise typer.BadParameter(f"{SIGNING_KEY} is generated: use --new-state-signing-key to replace it")
        if key not in known:
            raise typer.BadParameter(f"{key!r} is not a key of the settings secret; there are: {', '.join(known)}")
        if not sep:
            value = typer.prompt(key, hide_input=True, err=True)
        if not value.strip():
            raise typer.BadParameter(f"{key}: the value is empty")
        changes[key] = value.strip()
    d = find_deployment(ctx, stack, secret_name)
    try:
        current = read_secret(d)
    except SecretUnreadable as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(FAILED) from None
    merged = {**current, **changes}
    if new_signing_key:
        import secrets as random_source

        merged[SIGNING_KEY] = random_source.token_urlsafe(48)  # 64 characters
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        aws_client("secretsmanager", d).put_secret_value(SecretId=d.secret_name, SecretString=json.dumps(merged))
    except (ClientError, BotoCoreError) as exc:
        err.print(f"cannot write the settings secret {d.secret_name!r}: {exc}", highlight=False, markup=False)
        raise typer.Exit(FAILED) from None
    left = sorted(k for k in known if k in merged and not filled(merged[k]))
    signing = "new" if new_signing_key else "kept" if filled(merged.get(SIGNING_KEY)) else "missing"
    if as_json:
        return emit_json({"secret": d.secret_name, "updated": sorted(changes), SIGNING_KEY: signing,
                          "still_replace_me": left})
    out.print(f"{d.secret_name}: set {', '.join(sorted(changes)) or 'nothing else'} (values not shown); "
              f"{SIGNING_KEY} {signing}", highlight=False, markup=False)
    if left:
        out.print(f"still {PLACEHOLDER}: {', '.join(left)} (fine for products no tenant uses)",
                  highlight=False, markup=False)
    out.print("functions read the secret again within 5 minutes; run `sagebridge doctor` to check everything",
              highlight=False, markup=False)


@settings_secret.command("show")
def settings_secret_show(ctx: typer.Context, stack: StackOpt = None, secret_name: SecretOpt = None,
                         as_json: JsonOut = False) -> None:
    """Which keys are filled in, still REPLACE_ME or missing (never a value)."""
    d = find_deployment(ctx, stack, secret_name)
    try:
        current = read_secret(d)
    except SecretUnreadable as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(FAILED) from None
    rows = [(p, k, "set" if filled(current.get(k)) else PLACEHOLDER if k in current else "missing")
            for p, keys in PRODUCT_KEYS.items() for k in keys]
    rows.append(("all", SIGNING_KEY, "set" if len(str(current.get(SIGNING_KEY) or "")) >= MIN_SIGNING_KEY
                 else "missing" if SIGNING_KEY not in current else "too short"))
    if as_json:
        return emit_json({"secret": d.secret_name, "keys": {k: state for _, k, state in rows}})
    table = Table("product", "key", "state", title=d.secret_name)
    for product, key, state in rows:
        table.add_row(PRODUCT_NAMES.get(product, product), key, state)
    out.print(table)


@dataclass
class Problem:
    check: str
    message: str
    fix: str


def tenants_by_product(ctx: typer.Context, d: Deployment) -> dict[str, list[str]]:
    """provider -> its tenants, read through the admin API (every page)."""
    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    a = Api(Settings(api_url=d.api_url, region=settings.region, sign=settings.sign, timeout=settings.timeout))
    found: dict[str, list[str]] = {}
    token: str | None = None
    while True:
        page = a.call("GET", "/tenants", params={"next_token": token})
        for t in page["tenants"]:
            found.setdefault(str((t.get("settings") or {}).get("provider") or DEFAULT_PROVIDER), []).append(
                t["tenant_id"])
        if not (token := page.get("next_token")):
            return found


def check_callback(d: Deployment) -> tuple[list[Problem], str | None]:
    """The OAuth redirect URI Sage will send tenants back to: HTTPS, the API's base URL, answering."""
    base = (d.public_api_url or d.api_url or "").strip()
    if not base:
        return [], None
    problems = []
    parts = urlsplit(base)
    if d.public_api_url and (parts.path.strip("/") or parts.query):
        problems.append(Problem("callback", f"PublicApiUrl {base!r} is not a base URL (no path: the connect "
                                            "function adds /oauth/callback itself, and the API answers at the "
                                            "domain's root)",
                                "sam deploy --parameter-overrides PublicApiUrl=https://<your domain> (no path)"))
    if parts.scheme != "https" and (parts.hostname or "") not in LOCAL_HOSTS:
        problems.append(Problem("callback", f"the callback URL {base}/oauth/callback is not HTTPS: Sage refuses "
                                            "http redirect URIs",
                                "set PublicApiUrl to your https:// custom domain, or leave it empty to use the "
                                "API's own https URL"))
    callback = base.rstrip("/") + "/oauth/callback"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(Problem("callback", f"the callback URL {callback!r} is not a URL",
                                "set PublicApiUrl to https://<your domain>, or leave it empty"))
        return problems, callback
    try:
        answer = httpx.get(callback, timeout=10, follow_redirects=False)
    except httpx.HTTPError as exc:
        problems.append(Problem("callback", f"the callback URL {callback} does not answer ({type(exc).__name__}): "
                                            "tenants would return from Sage to an error",
                                "point the custom domain's DNS and API mapping at the HTTP API, or clear "
                                "PublicApiUrl"))
        return problems, callback
    if answer.status_code == 404:
        problems.append(Problem("callback", f"{callback} answers 404: the domain does not route to the connect "
                                            "function", "map the custom domain to the HTTP API's $default stage "
                                                        "with no base path"))
    elif answer.status_code >= 500 and answer.status_code != 503:  # 503: our own not-configured page
        problems.append(Problem("callback", f"{callback} answers {answer.status_code}: the connect function "
                                            "fails at start-up", "read its log: sam logs -n ConnectFunction "
                                                                 "--stack-name <stack>"))
    return problems, callback


def check_product(provider: str, secret: dict[str, Any], tenants: list[str], wanted: bool,
                  problems: list[Problem], notes: list[str]) -> None:
    """One product's keys: filled in when tenants use it (or it is offered), present for the default."""
    keys = PRODUCT_KEYS[provider]
    name = PRODUCT_NAMES[provider]
    placeholders = [k for k in keys if k in secret and not filled(secret[k])]
    missing = [k for k in keys if k not in secret]
    if wanted and (placeholders or missing):
        if tenants:
            who = f"{len(tenants)} tenant(s) use {name} ({', '.join(tenants[:3])}{', ...' if len(tenants) > 3 else ''})"
        else:
            who = f"{name} is {'the default product' if provider == DEFAULT_PROVIDER else 'offered'}"
        bad = [f"{k} is {'missing' if k in missing else PLACEHOLDER}" for k in keys if k in placeholders + missing]
        problems.append(Problem("credentials", f"{who} and the settings secret's {'; '.join(bad)}",
                                f"sagebridge settings-secret set {' '.join(placeholders + missing)} "
                                "(each asks for its value)"))
    elif provider == DEFAULT_PROVIDER and missing:
        restore = " ".join(f"{k}={PLACEHOLDER}" for k in missing)
        problems.append(Problem("credentials", f"the settings secret has no {' / '.join(missing)}: the connect "
                                               "function cannot start without the default product's keys",
                                f"put the placeholders back: sagebridge settings-secret set {restore}"))
    elif placeholders:
        notes.append(f"{name}: no tenant uses it; its {PLACEHOLDER} values are fine until one does")


@app.command("doctor")
def doctor(
    ctx: typer.Context, stack: StackOpt = None, secret_name: SecretOpt = None,
    products: Annotated[list[str] | None, typer.Option(
        "--product", help="A product you will offer though no tenant uses it yet (repeatable).",
        parser=one_of(tuple(PRODUCT_KEYS)))] = None,
    as_json: JsonOut = False,
) -> None:
    """Check a deployment before a tenant meets it: REPLACE_ME values, the credentials of every
    product tenants use, the state_signing_key, the OAuth callback URL. One line per problem with
    its fix; exit 0 when there is none, 2 otherwise."""
    d = find_deployment(ctx, stack, secret_name)
    problems: list[Problem] = []
    notes: list[str] = []
    for name, value in sorted((d.parameters or {}).items()):
        if PLACEHOLDER in str(value):
            problems.append(Problem("parameters", f"stack parameter {name} is still {PLACEHOLDER}",
                                    f"sam deploy --parameter-overrides {name}=<value>"))
    try:
        used = tenants_by_product(ctx, d) if d.api_url else {}
    except ApiError as exc:
        used = {}
        problems.append(Problem("tenants", f"cannot list tenants through the admin API ({exc.status or 'no answer'}: "
                                           f"{exc}), so their products were not checked",
                                "use credentials allowed execute-api:Invoke on the admin routes, or --api-url"))
    if not d.api_url:
        notes.append("tenants not read (no admin API URL): checked the default product and --product ones")
    wanted = set(used) | set(products or []) | ({DEFAULT_PROVIDER} if not used else set())
    try:
        secret: dict[str, Any] | None = read_secret(d)
    except SecretUnreadable as exc:
        secret = None
        problems.append(Problem("secret", str(exc), "check the name (the stack's SettingsSecretName output), the "
                                                    "region and your secretsmanager:GetSecretValue permission"))
    if secret is not None:
        key = str(secret.get(SIGNING_KEY) or "")
        if len(key) < MIN_SIGNING_KEY:
            problems.append(Problem("secret", f"the settings secret's {SIGNING_KEY} is "
                                              f"{'missing' if not key else 'too short'}: connect links and Sage "
                                              "sign-ins cannot be signed", "sagebridge settings-secret set "
                                                                           "--new-state-signing-key"))
        for provider in PRODUCT_KEYS:
            check_product(provider, secret, used.get(provider, []), provider in wanted, problems, notes)
    callback_problems, callback = check_callback(d)
    problems += callback_problems
    if callback:
        notes.append(f"the redirect URI to register with your Sage apps: {callback}")
    if as_json:
        emit_json({"secret": d.secret_name, "stack": d.stack, "redirect_uri": callback,
                   "tenants_by_product": {p: len(t) for p, t in used.items()},
                   "problems": [vars(p) for p in problems], "notes": notes})
    else:
        for p in problems:
            out.print(f"problem: {p.message} -> fix: {p.fix}", highlight=False, markup=False, soft_wrap=True)
        for note in notes:
            out.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
        out.print(f"{len(problems)} problem(s)" if problems else "no problems found", highlight=False, markup=False)
    raise typer.Exit(FAILED if problems else OK)


def run() -> None:  # the console script
    app()


if __name__ == "__main__":
    sys.exit(app())
