"""The `sagebridge` CLI against the real admin handler: typer's CliRunner, the CLI's httpx client over
an in-process transport that turns each request into an HTTP API v2 event for the handler, the store
on moto's DynamoDB and the Sage sandbox in process. No sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from cli import sagebridge_cli as cli
from local import template
from sagebridge.domain.settings import parse_tenant_settings
from tests.integration.admin.world import TENANT, AdminWorld, http_event, invoice

runner = CliRunner()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[AdminWorld]:
    # The handler runs inside the CLI's process here: its EMF lines would land in the CLI's output.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-2")
        template.create_tables(dynamodb, {"AppTable": "app", "IdempotencyTable": "idempotency"})
        w = AdminWorld(dynamodb, "app")
        w.queue.worker = w.worker  # a queued job runs at once, as if the export worker were instant

        def handle(request: httpx.Request) -> httpx.Response:
            query: dict[str, Any] = {}
            for k, v in request.url.params.multi_items():
                query.setdefault(k, []).append(v)
            event = http_event(request.method, request.url.path, query=query,
                               raw_body=request.content.decode() if request.content else None)
            answer = w.invoke(event)
            return httpx.Response(answer.status, headers=answer.headers, text=answer.text)

        monkeypatch.setattr(cli, "client_factory", lambda settings: httpx.Client(
            base_url="http://admin.test", transport=httpx.MockTransport(handle)))
        monkeypatch.setattr(cli, "poll_seconds", 0.0)
        yield w


def sb(*args: str) -> Any:
    return runner.invoke(cli.app, list(args))


def connected(world: AdminWorld) -> AdminWorld:
    world.create_tenant()
    world.connect()
    return world


def test_tenants_create_show_and_set(world):
    created = sb("tenants", "create", "northwind", "--set", "export_interval_minutes=30",
                 "--set", "tax_mappings.S=GB_STANDARD")
    assert created.exit_code == 0, created.output
    assert "whsec_" in created.stdout and "northwind" in created.stdout
    shown = sb("tenants", "show", "northwind", "--json")
    assert shown.exit_code == 0
    t = json.loads(shown.stdout)
    assert t["settings"]["export_interval_minutes"] == 30 and t["settings"]["tax_mappings"] == {"S": "GB_STANDARD"}
    changed = sb("tenants", "set", "northwind", "tax_mappings.R=GB_LOWER", "customer_date_basis=document",
                 "--unset", "export_interval_minutes", "--json")
    assert changed.exit_code == 0, changed.output
    settings = json.loads(changed.stdout)["settings"]
    assert settings["tax_mappings"] == {"S": "GB_STANDARD", "R": "GB_LOWER"}
    assert settings["customer_date_basis"] == "document" and "export_interval_minutes" not in settings
    listed = json.loads(sb("tenants", "list", "--json").stdout)
    assert [x["tenant_id"] for x in listed["tenants"]] == ["northwind"]
    assert sb("tenants", "disable", "northwind").exit_code == 0
    assert world.store.tenants.get("northwind").enabled is False


def test_review_tenants_set_with_only_unset_puts_settings_back_to_their_defaults(world):
    assert sb("tenants", "create", "northwind", "--set", "export_interval_minutes=30", "--set", "retry_limit=2",
              "--set", "tax_mappings.S=GB_STANDARD").exit_code == 0
    changed = sb("tenants", "set", "northwind", "--unset", "export_interval_minutes", "--unset", "retry_limit",
                 "--json")
    assert changed.exit_code == 0, changed.output
    settings = json.loads(changed.stdout)["settings"]
    assert "export_interval_minutes" not in settings and "retry_limit" not in settings
    assert settings["tax_mappings"] == {"S": "GB_STANDARD"}  # what was not named stays
    # One code out of a mapping.
    assert sb("tenants", "set", "northwind", "tax_mappings.R=GB_LOWER").exit_code == 0
    one_out = sb("tenants", "set", "northwind", "--unset", "tax_mappings.S", "--json")
    assert json.loads(one_out.stdout)["settings"]["tax_mappings"] == {"R": "GB_LOWER"}, one_out.output
    # Nothing to change at all is refused before the API is asked.
    nothing = sb("tenants", "set", "northwind")
    assert nothing.exit_code == 2 and "setting=value" in nothing.output and "--unset" in nothing.output


def test_bad_settings_fail_with_every_field_named(world):
    result = sb("tenants", "create", "bad", "--set", "retry_limit=99", "--set", "colour=blue")
    assert result.exit_code == 2
    assert "retry_limit" in result.stderr and "colour: is not a known setting" in result.stderr
    assert sb("tenants", "set", "ghost", "retry_limit=2").exit_code == 2


def test_unknown_tenant_is_a_failure(world):
    result = sb("tenants", "show", "ghost")
    assert result.exit_code == 2 and "404" in result.stderr and "ghost" in result.stderr


def test_delete_needs_yes(world):
    world.create_tenant()
    assert sb("tenants", "delete", TENANT).exit_code == 2
    assert world.store.tenants.find(TENANT) is not None
    deleted = sb("tenants", "delete", TENANT, "--yes", "--json")
    assert deleted.exit_code == 0 and json.loads(deleted.stdout)["tenant_id"] == TENANT


def test_connect_url(world):
    world.create_tenant()
    result = sb("connect-url", TENANT)
    assert result.exit_code == 0 and result.stdout.strip().startswith("https://admin.sagebridge.example/connect/acme?")
    assert json.loads(sb("connect-url", TENANT, "--json").stdout)["expires_at"]


def test_portal_url_prints_a_signed_link_for_the_role_asked(world):
    """Issue 18: `sagebridge portal-url` hands the host app a link to the tenant portal."""
    from sagebridge.admin.portal_links import PortalLinks
    from sagebridge.security.portal import PortalSigner

    world.admin.portal_links = PortalLinks(key=lambda: "r" * 40, return_urls=("https://host.example/app",))
    world.create_tenant()
    result = sb("portal-url", TENANT, "--role", "admin", "--minutes", "30")
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith("https://admin.sagebridge.example/portal/open?token=")
    claims = PortalSigner("r" * 40).verify(url.split("token=")[1], purpose="link", now=world.clock.now())
    assert (claims.tenant_id, claims.role) == (TENANT, "admin")
    assert json.loads(sb("portal-url", TENANT, "--json").stdout)["role"] == "viewer"
    refused = sb("portal-url", TENANT, "--return-url", "https://evil.example/")
    assert refused.exit_code == 2 and "return_url" in refused.output
    assert sb("portal-url", TENANT, "--role", "owner").exit_code == 2


def test_portal_revoke_ends_the_tenants_portal_sessions(world):
    """Issue 18 review: `sagebridge portal-revoke` renews the tenant's portal epoch (every session ends)."""
    world.create_tenant()
    before = world.store.tenants.get(TENANT).portal_epoch
    result = sb("portal-revoke", TENANT)
    assert result.exit_code == 0 and "ended" in result.stdout, result.output
    assert world.store.tenants.get(TENANT).portal_epoch != before
    assert sb("portal-revoke", "nobody").exit_code != 0


def test_status_exit_codes_follow_health(world):
    world.create_tenant()
    broken = sb("status", TENANT)
    assert broken.exit_code == 2 and "broken" in broken.stdout
    world.connect()
    ok = sb("status", TENANT, "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["health"] == "ok"
    world.stage(invoice(2, tax="T9"))
    assert sb("export", TENANT, "--now").exit_code == 1
    attention = sb("status", TENANT)
    assert attention.exit_code == 1 and "INV-2" in attention.stdout
    assert "documents now: 0 exported, 1 skipped, 0 failed, 0 waiting\n" in attention.stdout


def test_dry_run_export_is_answered_at_once(world):
    connected(world)
    world.stage(invoice(1))
    result = sb("export", TENANT, "--dry-run", "--from", "2025-03-01", "--to", "2025-03-31", "--basis", "document",
                "--type", "all", "--kind", "sales_invoice", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["mode"] == "ran" and body["run"]["dry_run"] is True
    assert [p["host_id"] for p in body["run"]["planned"]] == ["CUST-1", "INV-1"]  # its customer goes first
    assert world.sandbox.created_count("sales_invoices") == 0
    told = sb("export", TENANT, "--dry-run", "--from", "2025-03-01", "--to", "2025-03-31", "--basis", "document",
              "--type", "all", "--kind", "sales_invoice")
    assert "would create" in told.stdout and "would created" not in told.stdout  # said as a plan


def test_queued_export_is_followed_to_its_end(world):
    connected(world)
    world.stage(invoice(1))
    world.stage(invoice(2, tax="T9"))
    result = sb("export", TENANT)
    assert result.exit_code == 1, result.output  # partial: INV-2 skipped
    assert "partial" in result.stdout and "1 skipped" in result.stdout
    assert world.queue.sent and world.sandbox.created_count("sales_invoices") == 1
    no_wait = sb("export", TENANT, "--no-wait", "--json")
    assert no_wait.exit_code == 0 and json.loads(no_wait.stdout)["mode"] == "queued"


def test_export_options_are_validated_by_the_api(world):
    connected(world)
    result = sb("export", TENANT, "--from", "2025-03-31", "--to", "2025-03-01")
    assert result.exit_code == 2 and "after" in result.stderr
    assert sb("export", TENANT, "--basis", "someday").exit_code == 2


def test_log_replay_and_reconcile(world):
    connected(world)
    world.stage(invoice(1))
    world.stage(invoice(2, tax="T9"))
    sb("export", TENANT, "--now")
    log = sb("log", TENANT, "--outcome", "skipped", "--json")
    assert log.exit_code == 0
    [entry] = json.loads(log.stdout)["entries"]
    assert entry["host_id"] == "INV-2" and "T9" in entry["reason"]
    assert "INV-00002" in sb("log", TENANT, "--kind", "sales_invoice").stdout
    assert "no log lines match" in sb("log", TENANT, "--since", "2030-01-01").stdout
    unbalanced = sb("reconcile", TENANT, "--from", "2025-03-01", "--to", "2025-03-31")
    assert unbalanced.exit_code == 1 and "not_exported" in unbalanced.stdout
    # Totals per currency, shown as money (a kind mixing currencies used to print "None").
    assert "currency" in unbalanced.stdout and "GBP" in unbalanced.stdout and "None" not in unbalanced.stdout
    world.store.tenants.update_settings(TENANT, {**world.tenant_settings(), "tax_mappings": {
        "S": "GB_STANDARD", "T9": "GB_ZERO"}}, expected_version=1)
    replayed = sb("replay", TENANT, "sales_invoice:INV-2")
    assert replayed.exit_code == 0, replayed.output
    assert "succeeded" in replayed.stdout
    balanced = sb("reconcile", TENANT, "--from", "2025-03-01", "--to", "2025-03-31", "--json")
    assert balanced.exit_code == 0 and json.loads(balanced.stdout)["balanced"] is True
    assert sb("replay", TENANT, "--json").exit_code == 0  # nothing left to replay
    assert sb("replay", TENANT, "INV-2").exit_code == 2  # kind:host_id


def test_log_keeps_paging_until_it_finds_the_few_matching_lines(world, monkeypatch):
    """Review: after a run of 1,240 documents `log --outcome skipped` and `log --host-id INV-13`
    printed "no log lines match": the API's first answer had no match but a next_token, and the
    CLI stopped there. It follows the token (the API reads a bounded part of the log per answer,
    made small here) until it has its lines or the log ends; `--limit` is no longer capped at 200."""
    from sagebridge.admin import service
    from tests.integration.admin.test_exports import a_big_run_with_three_skips

    connected(world)
    a_big_run_with_three_skips(world)
    monkeypatch.setattr(service, "LOG_READ_BUDGET", 400)

    skipped = sb("log", TENANT, "--outcome", "skipped")
    assert skipped.exit_code == 0, skipped.output
    assert "no log lines match" not in skipped.stdout
    assert skipped.stdout.count("skipped   sales_invoice") == 3
    assert all(f"INV-0001{n}: tax code T9" in skipped.stdout for n in (1, 2, 3))
    one = json.loads(sb("log", TENANT, "--host-id", "INV-13", "--json").stdout)
    assert [(e["host_id"], e["outcome"]) for e in one["entries"]] == [("INV-13", "skipped")]
    many = sb("log", TENANT, "--limit", "1000", "--json")
    assert many.exit_code == 0 and len(json.loads(many.stdout)["entries"]) == 1000


def test_without_a_local_stack_or_url_it_says_how_to_start_one(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SAGEBRIDGE_API_URL", raising=False)
    monkeypatch.setenv("SAGEBRIDGE_LOCAL_STATE", str(tmp_path / "nothing"))
    result = sb("status", TENANT)
    assert result.exit_code == 2 and "make stack" in result.output


def test_the_local_stack_url_comes_from_its_outputs(monkeypatch, tmp_path):
    (tmp_path / "outputs.json").write_text(json.dumps({"api_url": "http://127.0.0.1:3999"}))
    monkeypatch.setenv("SAGEBRIDGE_LOCAL_STATE", str(tmp_path))
    client = cli.make_client(cli.Settings())
    assert str(client.base_url) == "http://127.0.0.1:3999" and client.auth is None


def test_a_deployed_api_gets_sigv4_signed_requests(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    seen: list[httpx.Request] = []
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com"
    client = cli.make_client(cli.Settings(api_url=url))
    assert isinstance(client.auth, cli.SigV4) and client.auth.region == "eu-west-1"
    signed = httpx.Client(base_url=url, auth=client.auth,
                          transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200, json={})))
    signed.post("/admin/tenants", json={"tenant_id": "x"})
    auth = seen[0].headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in auth and "x-amz-date" in seen[0].headers
    assert seen[0].headers["x-amz-security-token"] == "testing"  # the session token rides along


def test_assignments_parse_json_values():
    assert cli.parse_assignments(["a=1", "b=true", "c=text", "d.e=[1]"]) == {
        "a": 1, "b": True, "c": "text", "d": {"e": [1]}}


def test_defect_14_connect_url_can_allow_a_business_change(world):
    world.create_tenant()
    plain = sb("connect-url", TENANT).stdout.strip()
    change = sb("connect-url", TENANT, "--allow-business-change").stdout.strip()
    assert "change=1" in change and "change=" not in plain
    assert plain != sb("connect-url", TENANT).stdout.strip()  # single-use: a new link each time


def test_a_numeric_sage_id_set_from_the_cli_is_kept_as_the_id(world):
    """Sage 200's ids are numbers: `tax_mappings.S20=2` used to be refused ("Input should be a valid
    string") unless quoted twice (found by a front-door review)."""
    assert sb("tenants", "create", "motors", "--set", "provider=sage200").exit_code == 0
    changed = sb("tenants", "set", "motors", "tax_mappings.S20=2", "default_sales_ledger_account_id=4000", "--json")
    assert changed.exit_code == 0, changed.output
    settings = parse_tenant_settings(world.store.tenants.get("motors").settings)
    assert settings.tax_mappings == {"S20": "2"} and settings.default_sales_ledger_account_id == "4000"


def test_deliveries_lists_a_refused_one_and_resends_it(world):
    """Issue 18: a delivery the host refused is shown with the host's answer and sent again."""
    from decimal import Decimal

    from local.sandboxes.host_app import HostApp
    from sagebridge.host.outbound import DocumentLink, InvoicePaid, enqueue_delivery
    from tests.integration.host.relay import CALLBACK_URL, SECRET, Relay

    world.create_tenant(host_callback_url=CALLBACK_URL)
    host_app = HostApp(secrets=["wrong"])
    world.products.outbox = Relay(world.store, host_app).outbox
    paid = InvoicePaid(invoice=DocumentLink(kind="sales_invoice", host_id="INV-9", sage_id="s-9", number="INV-9"),
                       total_amount=Decimal("10.00"))
    queued = enqueue_delivery(world.products.delivery_outbox(), TENANT, paid)

    listed = sb("deliveries", TENANT)
    assert listed.exit_code == cli.PARTIAL, listed.output
    assert queued.event_id in listed.output and "host answered 401" in listed.output
    assert "invoice.paid sales_invoice INV-9" in listed.output and "--resend-failed" in listed.output

    host_app.secrets = [SECRET]
    resent = sb("deliveries", TENANT, "--resend-failed")
    assert resent.exit_code == cli.OK, resent.output
    assert "1 failed delivery queued to be sent again" in resent.output
    assert host_app.delivered_ids() == [queued.event_id]
    assert sb("deliveries", TENANT, "--state", "delivered").exit_code == cli.OK


def test_settings_history_says_who_changed_what(world):
    assert sb("tenants", "create", "northwind", "--set", "retry_limit=2").exit_code == 0
    assert sb("tenants", "set", "northwind", "retry_limit=4", "failure_emails=[\"books@northwind.example\"]"
              ).exit_code == 0
    shown = sb("settings-history", "northwind")
    assert shown.exit_code == 0, shown.output
    assert "northwind: settings at version 2" in shown.stdout
    assert "v2" in shown.stdout and "by admin-api:arn:aws:iam::123456789012:user/support-sam" in shown.stdout
    assert "retry_limit: 2 -> 4" in shown.stdout
    assert 'failure_emails: null -> ["books@northwind.example"]' in shown.stdout
    assert "v1" in shown.stdout and "(tenant created)" in shown.stdout
    as_json = json.loads(sb("settings-history", "northwind", "--json").stdout)
    assert [v["version"] for v in as_json["versions"]] == [2, 1]
    assert sb("settings-history", "ghost").exit_code == 2


def test_why_answers_for_a_document_number_with_state_reason_fix_run_and_correlation_id(world):
    connected(world)
    world.stage(invoice(1))
    world.stage(invoice(2, tax="T9"))
    sb("export", TENANT, "--now")

    skipped = sb("why", TENANT, "INV-00002")  # the number the accountant knows, not the host id
    assert skipped.exit_code == 1, skipped.output
    assert "skipped" in skipped.stdout and "T9" in skipped.stdout
    assert f"sagebridge replay {TENANT} sales_invoice:INV-2" in skipped.stdout
    answer = json.loads(sb("why", TENANT, "INV-00002", "--json").stdout)
    assert answer["state"] == "skipped" and answer["host_id"] == "INV-2" and answer["run"]["run_id"]
    assert answer["correlation_id"] == "req-1"  # the admin request that ran the export
    assert f"filter correlation_id = '{answer['correlation_id']}'" in skipped.stdout

    exported = sb("why", TENANT, "INV-1", "--json")  # by host id too
    assert exported.exit_code == 0 and json.loads(exported.stdout)["state"] == "created"

    never = sb("why", TENANT, "INV-404")
    assert never.exit_code == 1 and "never received" in never.stdout and "Logs Insights" in never.stdout


def test_review_settings_secret_finds_the_local_stack_named_by_its_api_url(monkeypatch, tmp_path):
    """Second review of issue 20: `--api-url <the local stack's URL> settings-secret show` said the local
    stack "is not running" while it ran."""
    outputs = {"api_url": "http://127.0.0.1:3395", "moto_endpoint": "http://127.0.0.1:3396",
               "resources": {"SettingsSecret": "local/settings"}}
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    monkeypatch.setenv("SAGEBRIDGE_LOCAL_STATE", str(tmp_path))
    ctx = SimpleNamespace(obj=cli.Settings(api_url="http://127.0.0.1:3395/"))
    found = cli.find_deployment(ctx, None, None)  # type: ignore[arg-type]
    assert (found.secret_name, found.endpoint_url) == ("local/settings", "http://127.0.0.1:3396")
    elsewhere = sb("--api-url", "https://abc.execute-api.eu-west-2.amazonaws.com", "settings-secret", "show")
    said = " ".join(elsewhere.output.replace("│", " ").split())
    assert elsewhere.exit_code == 2 and "not running" not in said
    assert "the local stack running here is not at" in said
