"""Issue 19's CLI contract: --version, completion, choices and dates refused before any request,
JSON errors with --json, replay saying why a document was not sent again, runs / mappings /
disconnect; and `settings-secret` / `doctor` against moto's Secrets Manager and CloudFormation.

The admin API is the real handler behind the CLI's httpx client (the `world` fixture of
test_sagebridge_cli)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import httpx
import pytest

from cli import sagebridge_cli as cli
from sagebridge.connectors.registry import providers, secret_keys
from sagebridge.domain.kinds import ALL_RECORD_KINDS, DateBasis
from sagebridge.domain.runs import ExportOutcome
from sagebridge.domain.settings import ExportType
from sagebridge.store.records import DeliveryState
from tests.integration.admin.world import TENANT, invoice
from tests.unit.cli.test_sagebridge_cli import connected, runner, sb
from tests.unit.cli.test_sagebridge_cli import world as world  # the fixture

REGION = "eu-west-2"


# ---------------------------------------------------------------------------- the contract


def test_version_and_shell_completion_are_offered():
    version = runner.invoke(cli.app, ["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("sagebridge ")
    assert "--install-completion" in runner.invoke(cli.app, ["--help"]).stdout


def test_the_cli_offers_exactly_the_choices_the_api_takes():
    assert set(cli.KINDS) == {k.value for k in ALL_RECORD_KINDS}
    assert set(cli.BASES) == {b.value for b in DateBasis}
    assert set(cli.EXPORT_TYPES) == {t.value for t in ExportType}
    assert set(cli.OUTCOMES) == {o.value for o in ExportOutcome}
    assert set(cli.DELIVERY_STATES) == {s.value for s in DeliveryState}
    assert {p.value: secret_keys(p).required for p in providers()} == cli.PRODUCT_KEYS


@pytest.mark.parametrize("args, named", [
    (["export", TENANT, "--basis", "invoice"], "posting, document"),
    (["export", TENANT, "--kind", "sales_invoices"], "sales_invoice"),
    (["export", TENANT, "--from", "2026-02-30"], "YYYY-MM-DD"),
    (["export", TENANT, "--to", "31/03/2026"], "YYYY-MM-DD"),
    (["log", TENANT, "--outcome", "exported"], "created, updated"),
    (["log", TENANT, "--since", "20260301"], "YYYY-MM-DD"),
    (["reconcile", TENANT, "--from", "2026-03-01", "--to", "2026-13-01"], "YYYY-MM-DD"),
    (["replay", TENANT, "invoice:INV-1"], "sales_invoice"),
    (["replay", TENANT, "--only", "errors"], "failed, skipped"),
    (["deliveries", TENANT, "--state", "sent"], "queued, delivered, failed"),
])
def test_bad_choices_and_dates_are_refused_before_any_request(monkeypatch, args, named):
    seen: list[httpx.Request] = []
    monkeypatch.setattr(cli, "client_factory", lambda settings: httpx.Client(
        base_url="http://admin.test", transport=httpx.MockTransport(
            lambda request: seen.append(request) or httpx.Response(500, json={"message": "asked"}))))
    result = sb(*args)
    assert result.exit_code == 2 and named in result.output, result.output
    assert seen == []


def test_with_json_an_api_error_is_json_on_stdout(world):
    result = sb("tenants", "show", "ghost", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["status"] == 404 and "ghost" in error["message"]
    invalid = sb("tenants", "create", "bad", "--set", "retry_limit=99", "--json")
    assert invalid.exit_code == 2
    assert {p["field"] for p in json.loads(invalid.stdout)["problems"]} >= {"retry_limit"}


def test_replay_says_why_a_document_was_skipped_again(world):
    connected(world)
    world.stage(invoice(2, tax="T9"))
    sb("export", TENANT, "--now")
    replayed = sb("replay", TENANT, "sales_invoice:INV-2")  # the T9 mapping was never fixed
    assert replayed.exit_code == 1, replayed.output
    assert "skipped again: sales_invoice INV-00002" in replayed.stdout and "T9" in replayed.stdout


def test_runs_lists_the_history_and_shows_one_run(world):
    connected(world)
    world.stage(invoice(1))
    sb("export", TENANT, "--now")
    listed = sb("runs", TENANT)
    assert listed.exit_code == 0 and "succeeded" in listed.stdout and "created" in listed.stdout
    run_id = json.loads(sb("runs", TENANT, "--json").stdout)["runs"][0]["run_id"]
    one = sb("runs", TENANT, run_id, "--json")
    assert one.exit_code == 0 and json.loads(one.stdout)["run_id"] == run_id


def test_mappings_show_set_unset_and_health(world):
    connected(world)
    sage_standard = json.loads(sb("mappings", "show", TENANT, "--json").stdout)["tax_mappings"]["S"]
    added = sb("mappings", "set", TENANT, f"tax_mappings.X={sage_standard}", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["mappings"]["tax_mappings"]["X"] == sage_standard
    removed = sb("mappings", "set", TENANT, "--unset", "tax_mappings.X", "--json")
    assert removed.exit_code == 0 and "X" not in json.loads(removed.stdout)["mappings"]["tax_mappings"]
    refused = sb("mappings", "set", TENANT, "tax_mappings.X=NOT_IN_SAGE")
    assert refused.exit_code == 2 and "NOT_IN_SAGE" in refused.stderr  # checked against Sage first
    assert sb("mappings", "set", TENANT, "colour=blue").exit_code == 2
    health = sb("mappings", "health", TENANT)
    assert health.exit_code == 0 and "point at live Sage records" in health.stdout


def test_disconnect_needs_yes_and_then_disconnects(world):
    connected(world)
    assert sb("disconnect", TENANT).exit_code == 2
    assert world.store.connections.find(TENANT, "sage_accounting") is not None
    done = sb("disconnect", TENANT, "--yes")
    assert done.exit_code == 0 and "disconnected" in done.stdout
    assert sb("status", TENANT, "--json").exit_code == 2  # not connected: broken


def test_dry_run_says_would_create(world):
    connected(world)
    world.stage(invoice(1))
    dry = sb("export", TENANT, "--dry-run")
    assert "would create" in dry.stdout and "would created" not in dry.stdout


# --------------------------------------------------------------- settings secret and doctor


TEMPLATE_SECRET = {k: "REPLACE_ME" for keys in cli.PRODUCT_KEYS.values() for k in keys} | {
    "state_signing_key": "g" * 64}
STACK_TEMPLATE = {
    "Parameters": {"PublicApiUrl": {"Type": "String", "Default": ""},
                   "NotificationEmail": {"Type": "String", "Default": ""}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {"SettingsSecretName": {"Value": "sb-prod/settings"},
                "ApiUrl": {"Value": "https://abc123.execute-api.eu-west-2.amazonaws.com"}},
}


def deployed(parameters: dict[str, str] | None = None, secret: dict[str, Any] | None = None) -> Any:
    """A stack and its settings secret in moto (inside the world's mock_aws)."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name="sb-prod/settings", SecretString=json.dumps(secret or TEMPLATE_SECRET))
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="sb-prod", TemplateBody=json.dumps(STACK_TEMPLATE),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()])
    return secrets


def stored(secrets: Any) -> dict[str, Any]:
    return json.loads(secrets.get_secret_value(SecretId="sb-prod/settings")["SecretString"])


@pytest.fixture
def callback_answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The doctor's probe of the OAuth callback: answered 400 (the connect function's bad-state page)."""
    probed: list[str] = []

    def get(url: str, **kwargs: Any) -> httpx.Response:
        probed.append(url)
        return httpx.Response(400, text="<h1>This sign-in link is not valid</h1>")

    monkeypatch.setattr(cli.httpx, "get", get)
    return probed


def test_settings_secret_set_merges_keeps_the_signing_key_and_prints_no_value(world):
    secrets = deployed()
    result = sb("--region", REGION, "settings-secret", "set", "--stack", "sb-prod",
                "sage_accounting_client_id=client-abc", "sage_accounting_client_secret=top-s3cret")
    assert result.exit_code == 0, result.output
    after = stored(secrets)
    assert after["sage_accounting_client_id"] == "client-abc" and after["sage_accounting_client_secret"] == "top-s3cret"
    assert after["state_signing_key"] == "g" * 64 and after["sage200_client_id"] == "REPLACE_ME"
    assert "top-s3cret" not in result.output and "client-abc" not in result.output and "g" * 64 not in result.output
    assert "state_signing_key kept" in result.stdout and "still REPLACE_ME" in result.stdout


def test_settings_secret_set_asks_for_a_value_not_given_and_refuses_unknown_keys(world):
    secrets = deployed()
    asked = runner.invoke(cli.app, ["--region", REGION, "settings-secret", "set", "--secret-name", "sb-prod/settings",
                                    "intacct_sender_password"], input="pw-typed\n")
    assert asked.exit_code == 0, asked.output
    assert stored(secrets)["intacct_sender_password"] == "pw-typed" and "pw-typed" not in asked.stdout
    typo = sb("--region", REGION, "settings-secret", "set", "--secret-name", "sb-prod/settings", "sage_client_id=x")
    assert typo.exit_code == 2 and "sage_accounting_client_id" in typo.output
    generated = sb("--region", REGION, "settings-secret", "set", "--secret-name", "sb-prod/settings",
                   "state_signing_key=mine")
    assert generated.exit_code == 2 and "--new-state-signing-key" in generated.output
    assert stored(secrets)["state_signing_key"] == "g" * 64
    renewed = sb("--region", REGION, "settings-secret", "set", "--secret-name", "sb-prod/settings",
                 "--new-state-signing-key", "--json")
    assert renewed.exit_code == 0 and json.loads(renewed.stdout)["state_signing_key"] == "new"
    assert len(stored(secrets)["state_signing_key"]) >= 32 and stored(secrets)["state_signing_key"] != "g" * 64


def test_settings_secret_show_names_states_not_values(world):
    deployed(secret={**TEMPLATE_SECRET, "sage200_client_id": "s200-id"})
    shown = sb("--region", REGION, "settings-secret", "show", "--secret-name", "sb-prod/settings", "--json")
    keys = json.loads(shown.stdout)["keys"]
    assert keys["sage200_client_id"] == "set" and keys["sage200_client_secret"] == "REPLACE_ME"
    assert keys["state_signing_key"] == "set" and "s200-id" not in shown.stdout


def test_doctor_finds_placeholders_for_products_tenants_use_and_says_how_to_fix_each(world, callback_answers):
    deployed(parameters={"NotificationEmail": "REPLACE_ME"},
             secret={**TEMPLATE_SECRET, "sage_accounting_client_id": "sa-id", "sage_accounting_client_secret": "x"})
    world.create_tenant("motors", provider="sage200")
    world.create_tenant("garage", provider="sage_accounting")
    result = sb("--region", REGION, "doctor", "--stack", "sb-prod")
    assert result.exit_code == 2, result.output
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 2, result.stdout
    assert any("NotificationEmail is still REPLACE_ME" in p and "sam deploy --parameter-overrides" in p
               for p in problems)
    [sage200] = [p for p in problems if "Sage 200" in p]
    assert "1 tenant(s) use Sage 200 (motors)" in sage200 and "sage200_subscription_key is REPLACE_ME" in sage200
    assert "fix: sagebridge settings-secret set sage200_client_id sage200_client_secret sage200_subscription_key" \
        in sage200
    # Products no tenant uses keep their placeholders without a problem.
    assert "note: Sage Intacct: no tenant uses it" in result.stdout
    assert "https://abc123.execute-api.eu-west-2.amazonaws.com/oauth/callback" in result.stdout
    assert callback_answers == ["https://abc123.execute-api.eu-west-2.amazonaws.com/oauth/callback"]
    assert "sa-id" not in result.stdout


def test_doctor_passes_a_filled_in_deployment(world, callback_answers):
    deployed(secret={**TEMPLATE_SECRET, "sage_accounting_client_id": "sa", "sage_accounting_client_secret": "x"})
    world.create_tenant("garage")
    result = sb("--region", REGION, "doctor", "--stack", "sb-prod", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["problems"] == [] and report["tenants_by_product"] == {"sage_accounting": 1}


def test_doctor_without_tenants_checks_the_default_product_and_the_ones_named(world, callback_answers):
    deployed()
    result = sb("--region", REGION, "doctor", "--stack", "sb-prod", "--product", "sage_intacct", "--json")
    assert result.exit_code == 2
    checked = {p["message"].split(" is ")[0] for p in json.loads(result.stdout)["problems"]}
    assert checked == {"Sage Business Cloud Accounting", "Sage Intacct"}


def test_doctor_finds_a_missing_signing_key_and_a_bad_callback_url(world, monkeypatch):
    secret = {k: v for k, v in TEMPLATE_SECRET.items() if k != "state_signing_key"}
    deployed(parameters={"PublicApiUrl": "http://connect.example.com/oauth/callback"}, secret=secret)

    def unreachable(url: str, **kwargs: Any) -> httpx.Response:
        raise httpx.ConnectError("name not known")

    monkeypatch.setattr(cli.httpx, "get", unreachable)
    result = sb("--region", REGION, "doctor", "--stack", "sb-prod", "--json")
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    fixes = {p["check"]: [] for p in problems}
    for p in problems:
        fixes[p["check"]].append(p)
    assert any("state_signing_key is missing" in p["message"] and "--new-state-signing-key" in p["fix"]
               for p in problems)
    messages = " | ".join(p["message"] for p in fixes["callback"])
    assert "not a base URL" in messages and "not HTTPS" in messages and "does not answer" in messages


def test_doctor_says_a_public_api_url_with_a_path_is_not_a_base_url(world, callback_answers):
    deployed(parameters={"PublicApiUrl": "https://sagebridge.example.com/v1/"})
    result = sb("--region", REGION, "doctor", "--stack", "sb-prod", "--json")
    assert result.exit_code == 2
    callback = [p for p in json.loads(result.stdout)["problems"] if p["check"] == "callback"]
    assert any("is not a base URL" in p["message"] and "no path" in p["fix"] for p in callback), callback


def test_doctor_names_an_unreadable_secret(world, callback_answers):
    result = sb("--region", REGION, "--api-url", "https://abc123.execute-api.eu-west-2.amazonaws.com", "doctor",
                "--secret-name", "nope/settings")
    assert result.exit_code == 2
    assert "cannot read the settings secret 'nope/settings'" in result.stdout and "GetSecretValue" in result.stdout
