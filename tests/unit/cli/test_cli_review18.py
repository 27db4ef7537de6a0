"""Review of the operators' CLI (round 18): local refusals as JSON with --json, a log period that
ends before it starts, an unknown setting to unset, a dry run's exit code, `why` for a document
Sage Bridge never received."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from cli import sagebridge_cli as cli
from sagebridge.domain.settings import TenantSettings
from tests.integration.admin.world import TENANT, invoice
from tests.unit.cli.test_sagebridge_cli import connected, sb
from tests.unit.cli.test_sagebridge_cli import world as world  # the fixture


def words(text: str) -> str:
    """Rich's error box unwrapped: its borders out, its lines joined."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize(("args", "field", "said"), [
    (["log", TENANT, "--outcome", "bogus"], "--outcome", "'bogus' is not one of: created"),
    (["log", TENANT, "--limit", "many"], "--limit", "valid integer"),
    (["export", TENANT, "--from", "2026-02-30"], "--from", "'2026-02-30' is not a day"),
    (["doctor", "--product", "sage_nope"], "--product", "'sage_nope' is not one of: sage_accounting"),
    (["replay", TENANT, "INV-1"], "documents", "write kind:host_id"),
    (["why", TENANT], "document", "Missing argument"),
])
def test_a_refusal_before_any_request_is_json_with_json(args, field, said):
    refused = sb(*args, "--json")
    assert refused.exit_code == 2, refused.output  # the exit code of any failure, as without --json
    answer = json.loads(refused.stdout)  # the shape of an API error, plus the option it is about
    assert answer["status"] is None and said in answer["message"] and answer["field"] == field
    plain = sb(*args)
    assert plain.exit_code == 2 and said.split(":")[0] in plain.output
    with pytest.raises(ValueError):
        json.loads(plain.stdout or plain.output)  # without --json: text, as before


def test_a_log_period_ending_before_it_starts_is_refused_naming_both_options():
    refused = sb("log", TENANT, "--since", "2026-12-08", "--until", "2026-12-01")
    assert refused.exit_code == 2
    assert "--since 2026-12-08 is after --until 2026-12-01" in words(refused.output)
    as_json = json.loads(sb("log", TENANT, "--since", "2026-12-08", "--until", "2026-12-01", "--json").stdout)
    assert as_json["field"] == "--since/--until" and "is after --until 2026-12-01" in as_json["message"]


def test_the_cli_knows_exactly_the_tenant_settings():
    assert set(cli.SETTINGS) == set(TenantSettings.model_fields)


def test_unsetting_an_unknown_setting_is_refused_with_the_known_ones(world):
    world.create_tenant()
    version = world.store.tenants.get(TENANT).version
    refused = sb("tenants", "set", TENANT, "--unset", "nosuch", "--unset", "retry_limit")
    assert refused.exit_code == 2
    said = words(refused.output)
    assert "nosuch: no such setting" in said and "retry_limit" in said and "tax_mappings" in said
    assert world.store.tenants.get(TENANT).version == version  # nothing changed
    assert sb("tenants", "set", TENANT, "--unset", "retry_limit").exit_code == 0


def test_a_dry_run_that_would_skip_exits_1_like_a_real_run(world):
    connected(world)
    world.stage(invoice(1))
    world.stage(invoice(2, tax="T9"))
    planned = sb("export", TENANT, "--dry-run", "--from", "2025-03-01", "--to", "2025-03-31")
    assert planned.exit_code == 1, planned.output  # a script can gate a real run on its dry run
    assert "partial" in planned.stdout and "would skip" in planned.stdout
    as_json = sb("export", TENANT, "--dry-run", "--from", "2025-03-01", "--to", "2025-03-31", "--json")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["run"]["result"] == "partial"
    world.stage(invoice(2), version=2)  # fixed in the host app
    assert sb("export", TENANT, "--dry-run", "--from", "2025-03-01", "--to", "2025-03-31").exit_code == 0


def test_why_a_document_never_received_says_so_and_how_to_check_the_host_sent_it(world):
    connected(world)
    never = sb("why", TENANT, "INV-404")
    assert never.exit_code == 1
    said = " ".join(never.stdout.split())
    assert "never received a document with number or host id 'INV-404'" in said
    assert "webhook refused" in said and "WebhooksRefused" in said
    assert "correlation id" not in said  # there is no run to have one
    answer = json.loads(sb("why", TENANT, "INV-404", "--json").stdout)
    assert answer["state"] == "not_seen" and answer["run"] is None and "never received" in answer["fix"]


@pytest.mark.parametrize(("result", "code"), [("succeeded", 0), ("partial", 1), ("running", 1), ("failed", 2)])
def test_runs_exits_as_the_operations_guide_says(monkeypatch, result, code):
    run = {"run_id": "r1", "result": result, "status": "running" if result == "running" else "finished",
           "trigger": "manual", "started_at": "2026-12-07T09:00:00Z", "counts": {}}
    monkeypatch.setattr(cli, "client_factory", lambda settings: httpx.Client(
        base_url="http://admin.test", transport=httpx.MockTransport(lambda r: httpx.Response(200, json={
            "runs": [run]}))))
    assert sb("runs", TENANT, "--json").exit_code == code


def test_why_a_document_received_but_not_yet_run_says_it_was_received_and_what_happens_next(world):
    """Review: `why` for a draft the host sent (202, no run yet) opened with "Sage Bridge has never
    received a document...". It says it was received, and why it will not be exported as it is, or
    which run will export it."""
    from tests.integration.admin.world import invoice

    connected(world)
    draft = invoice(11)
    world.stage(draft.model_copy(update={"status": "draft"}))
    world.stage(invoice(12).model_copy(update={"status": "approved"}))

    said = " ".join(sb("why", TENANT, "INV-11").stdout.split())
    assert "never received" not in said and "received it (sales_invoice INV-11, status draft" in said
    assert "status draft is not exportable" in said
    answer = json.loads(sb("why", TENANT, "INV-11", "--json").stdout)
    assert answer["state"] == "received" and answer["found"] is True and answer["kind"] == "sales_invoice"
    approved = sb("why", TENANT, "INV-12")
    assert approved.exit_code == 1 and "next scheduled run" in " ".join(approved.stdout.split())


def _export_now(world) -> None:
    answer = world.call("POST", f"/admin/tenants/{TENANT}/exports", {"run": "now"})
    assert answer.status == 200, answer.text


def test_why_a_document_the_host_voided_says_it_is_void_in_sage(world):
    """Second review of issue 20: after a run voided a host-voided invoice in Sage, `why` said
    "updated ... It is in Sage ... If the accountant cannot find it, check the business"."""
    connected(world)
    world.stage(invoice(21))
    _export_now(world)
    world.advance(minutes=5)
    world.store.documents.mark_voided(TENANT, "sales_invoice", "INV-21", version=2)
    _export_now(world)
    answer = sb("why", TENANT, "INV-21")
    said = " ".join(answer.stdout.split())
    assert answer.exit_code == 0 and ": voided (sales_invoice INV-21)" in said
    assert "The host app voided it, and Sage Bridge voided in Sage" in said and "cannot find it" not in said
    assert json.loads(sb("why", TENANT, "INV-21", "--json").stdout)["state"] == "voided"


def test_why_a_later_version_skipped_says_an_earlier_version_is_in_sage(world):
    """Second review of issue 20: a version changed after export (export type New) read as a plain
    skip, as if the document were not in Sage."""
    connected(world)
    world.stage(invoice(22))
    _export_now(world)
    world.advance(minutes=5)
    world.stage(invoice(22, price="150.00"), version=2)
    _export_now(world)
    answer = sb("why", TENANT, "INV-22")
    said = " ".join(answer.stdout.split())
    assert answer.exit_code == 1 and "changed_after_export" in said
    assert "An earlier version of it is in Sage" in said and "export_type=all" in said
