"""Exports through the admin API: dry run, export now, queued runs, runs, the sync log and replay."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qsl

import pytest

from sagebridge.host.jobs import ExportJob
from sagebridge.sync.scheduling import EXPORT_LEASE, handle_export_job
from tests.integration.admin.world import IAM, TENANT, invoice


@pytest.fixture
def staged(tenant):
    tenant.stage(invoice(1))
    tenant.stage(invoice(2, tax="T9"))  # a tax code the tenant never mapped: skipped
    return tenant


def exports(world, body):
    return world.call("POST", f"/admin/tenants/{TENANT}/exports", body)


def test_dry_run_says_what_would_happen_and_sends_nothing(staged):
    answer = exports(staged, {"dry_run": True, "from": "2025-03-01", "to": "2025-03-31"})
    assert answer.status == 200, answer.text
    body = answer.json
    assert body["mode"] == "ran" and body["run"]["dry_run"] is True
    planned = {p["host_id"]: p for p in body["run"]["planned"]}
    assert planned["INV-1"]["outcome"] == "created"
    assert planned["INV-2"]["outcome"] == "skipped" and "T9" in planned["INV-2"]["message"]
    assert body["run"]["details"]["window_from"] == "2025-03-01"
    assert IAM["userArn"] in body["requested_by"]
    assert staged.sandbox.created_count("sales_invoices") == 0


def test_a_real_run_goes_to_the_export_worker(staged):
    answer = exports(staged, {"kinds": ["sales_invoice"], "type": "all", "basis": "document"})
    assert answer.status == 202, answer.text
    body = answer.json
    assert body["mode"] == "queued" and body["run"] is None
    job = ExportJob.model_validate(staged.queue.sent[-1])
    assert job.trigger.value == "admin" and job.kinds == ["sales_invoice"] and job.export_type.value == "all"
    assert job.date_basis.value == "document" and job.requested_by == body["requested_by"]
    handle_export_job(job, staged.worker)  # the worker picks it up
    # The answer's own hint is a request an operator can send as it is.
    hint = body["message"].split("follow it with GET ", 1)[1]
    path, _, query = hint.partition("?")
    assert dict(parse_qsl(query)) == {"requested_by": body["requested_by"]}
    runs = staged.call("GET", f"/admin/tenants/{TENANT}/{path}", query=dict(parse_qsl(query)))
    assert runs.status == 200
    [run] = runs.json["runs"]
    # The invoice and its customer are created; the other invoice is skipped.
    assert run["result"] == "partial" and run["counts"]["created"] == 2 and run["counts"]["skipped"] == 1


def test_a_queued_export_or_replay_for_a_disconnected_tenant_is_refused_not_lost(staged):
    """Front-door review: it was accepted (202 queued) and then no run ever appeared to follow."""
    assert staged.call("DELETE", f"/admin/tenants/{TENANT}/connection").status == 200
    sent = len(staged.queue.sent)
    answer = exports(staged, {"kinds": ["sales_invoice"]})
    assert answer.status == 409 and "no live sage_accounting connection" in answer.json["message"]
    assert "connect it first" in answer.json["message"]
    assert "connect-url" in answer.json["hint"] and "login-connection" in answer.json["hint"]  # either product kind
    replay = staged.call("POST", f"/admin/tenants/{TENANT}/replay", {"states": ["skipped"], "run": "queue"})
    assert replay.status in (200, 409), replay.text  # nothing to replay, or refused: never queued
    assert len(staged.queue.sent) == sent  # nothing queued for a worker that could not send it


def test_export_now_runs_in_the_request_and_reports_partial(staged):
    answer = exports(staged, {"run": "now"})
    assert answer.status == 200, answer.text
    run = answer.json["run"]
    assert run["result"] == "partial" and run["status"] == "succeeded"
    assert run["counts"]["created"] == 2 and run["counts"]["skipped"] == 1 and run["planned"] is None
    assert staged.sandbox.created_count("sales_invoices") == 1
    one = staged.call("GET", f"/admin/tenants/{TENANT}/runs/{run['run_id']}")
    assert one.status == 200 and one.json["run_id"] == run["run_id"]
    assert staged.call("GET", f"/admin/tenants/{TENANT}/runs/nope").status == 404


def test_export_now_while_another_export_runs_is_a_conflict(staged):
    staged.store.leases.acquire(TENANT, EXPORT_LEASE, "someone-else", 300)
    answer = exports(staged, {"run": "now"})
    assert answer.status == 409 and "already running" in answer.json["message"]


@pytest.mark.parametrize("body, field", [
    ({"from": "2025-03-31", "to": "2025-03-01"}, "body"),
    ({"kinds": ["sales_invoice", "bananas"]}, "kinds"),
    ({"basis": "someday"}, "basis"),
    ({"type": "some"}, "type"),
    ({"dry_run": "perhaps"}, "dry_run"),
    ({"from": "yesterday"}, "from"),
])
def test_export_requests_are_validated(staged, body, field):
    answer = exports(staged, body)
    assert answer.status == 422, answer.text
    assert any(p["field"] == field for p in answer.json["problems"]), answer.json


def test_exports_refuse_tenants_with_broken_settings(staged):
    staged.store.tenants.update_settings(TENANT, {"provider": "sage_accounting", "retry_limit": 99},
                                         expected_version=1)
    answer = exports(staged, {"dry_run": True})
    assert answer.status == 422 and "retry_limit" in answer.json["message"]


def test_runs_are_listed_newest_first(staged):
    exports(staged, {"dry_run": True})
    staged.advance(seconds=5)
    exports(staged, {"run": "now"})
    body = staged.call("GET", f"/admin/tenants/{TENANT}/runs").json
    assert [r["dry_run"] for r in body["runs"]] == [False, True]
    assert staged.call("GET", f"/admin/tenants/{TENANT}/runs", query={"limit": 500}).status == 422


def test_the_sync_log_with_filters(staged):
    run_id = exports(staged, {"run": "now"}).json["run"]["run_id"]
    path = f"/admin/tenants/{TENANT}/log"
    everything = staged.call("GET", path).json["entries"]
    assert {(e["host_id"], e["outcome"]) for e in everything} >= {("INV-1", "created"), ("INV-2", "skipped")}
    skipped = staged.call("GET", path, query={"outcome": "skipped"}).json["entries"]
    assert [e["host_id"] for e in skipped] == ["INV-2"]
    assert skipped[0]["reason_code"] and "T9" in skipped[0]["reason"] and skipped[0]["number"] == "INV-00002"
    one = staged.call("GET", path, query={"kind": "sales_invoice", "host_id": "INV-1"}).json["entries"]
    assert [e["outcome"] for e in one] == ["created"] and one[0]["sage_id"]
    in_run = staged.call("GET", path, query={"run": run_id, "outcome": "created"}).json["entries"]
    assert {e["host_id"] for e in in_run} == {"INV-1", "CUST-1"} and all(e["run_id"] == run_id for e in in_run)
    invoices = staged.call("GET", path, query={"run": run_id, "kind": "sales_invoice"}).json["entries"]
    assert {e["host_id"] for e in invoices} == {"INV-1", "INV-2"}
    assert staged.call("GET", path, query={"since": "2025-03-03", "until": "2025-03-03"}).json["entries"]
    nothing = staged.call("GET", path, query={"since": "2025-03-04"}).json
    assert nothing["entries"] == [] and nothing["next_token"] is None
    assert staged.call("GET", path, query={"until": "2025-03-02"}).json["entries"] == []
    assert staged.call("GET", path, query={"outcome": "exploded"}).status == 422
    assert staged.call("GET", path, query={"since": "not-a-date"}).status == 422


def test_the_sync_log_pages(staged):
    exports(staged, {"run": "now"})
    path = f"/admin/tenants/{TENANT}/log"
    first = staged.call("GET", path, query={"limit": 1}).json
    assert len(first["entries"]) == 1 and first["next_token"]
    second = staged.call("GET", path, query={"limit": 1, "next_token": first["next_token"]}).json
    assert second["entries"][0]["seq"] != first["entries"][0]["seq"]


def a_big_run_with_three_skips(world) -> None:
    """3 skipped lines, then a later run of 1,240 created lines: the skips are the oldest lines."""
    from sagebridge.store import Outcome, SyncLogEntry, keys

    def lines(run_id: str, outcome: Outcome, hosts: range) -> None:
        world.store.table.batch_put([world.store.synclog.append_op(SyncLogEntry(
            TENANT, run_id, "sales_invoice", f"INV-{i}", outcome, number=f"INV-{i:05d}",
            reason="tax code T9 is not mapped" if outcome is Outcome.SKIPPED else "")) for i in hosts])

    lines(keys.new_sortable_id(world.clock.now()), Outcome.SKIPPED, range(11, 14))
    world.advance(seconds=5)
    lines(keys.new_sortable_id(world.clock.now()), Outcome.CREATED, range(100, 1340))


def test_a_narrow_log_filter_finds_the_few_matches_among_many_lines_on_the_first_page(tenant):
    """Review: `log --outcome skipped` after a run of 1,240 documents answered {"entries": []} with a
    next_token; the 3 skips were on page 3. One answer now reads up to 2,000 lines to fill its page,
    and a page that fills in the middle of a read goes on from its last line: nothing is lost."""
    a_big_run_with_three_skips(tenant)
    path = f"/admin/tenants/{TENANT}/log"

    skipped = tenant.call("GET", path, query={"outcome": "skipped"}).json
    assert sorted(e["host_id"] for e in skipped["entries"]) == ["INV-11", "INV-12", "INV-13"]
    assert skipped["lines_read"] >= 1243
    one = tenant.call("GET", path, query={"host_id": "INV-13"}).json["entries"]
    assert [(e["host_id"], e["outcome"]) for e in one] == [("INV-13", "skipped")]
    first = tenant.call("GET", path, query={"outcome": "skipped", "limit": 2}).json
    rest = tenant.call("GET", path, query={"outcome": "skipped", "limit": 2, "next_token": first["next_token"]}).json
    assert sorted(e["host_id"] for e in first["entries"] + rest["entries"]) == ["INV-11", "INV-12", "INV-13"]
    assert rest["next_token"] is None


def test_replay_skipped_documents_after_fixing_the_mapping(staged):
    exports(staged, {"run": "now"})
    fixed = staged.call("PUT", f"/admin/tenants/{TENANT}/mappings", {"tax_mappings": {"T9": "GB_ZERO"}})
    assert fixed.status == 200, fixed.text
    answer = staged.call("POST", f"/admin/tenants/{TENANT}/replay", {})
    assert answer.status == 200, answer.text
    run = answer.json["run"]
    assert answer.json["documents"] == 1 and run["trigger"] == "replay"
    assert run["result"] == "succeeded" and run["counts"]["created"] == 1
    assert staged.store.ledger.get(TENANT, "sales_invoice", "INV-2").state.value == "exported"
    nothing = staged.call("POST", f"/admin/tenants/{TENANT}/replay", {}).json
    assert nothing["mode"] == "nothing"


def test_replay_named_documents_or_queue_them(staged):
    exports(staged, {"run": "now"})
    named = staged.call("POST", f"/admin/tenants/{TENANT}/replay",
                        {"documents": [{"kind": "sales_invoice", "host_id": "INV-2"}], "run": "queue"})
    assert named.status == 202 and named.json["mode"] == "queued"
    job = ExportJob.model_validate(staged.queue.sent[-1])
    assert job.trigger.value == "replay"
    assert [(d.kind, d.host_id) for d in job.documents] == [("sales_invoice", "INV-2")]
    bad = staged.call("POST", f"/admin/tenants/{TENANT}/replay", {"documents": [{"kind": "pizza", "host_id": "1"}]})
    assert bad.status == 422 and bad.json["problems"][0]["field"] == "documents.0.kind"
    only_failed = staged.call("POST", f"/admin/tenants/{TENANT}/replay", {"states": ["failed"]}).json
    assert only_failed["mode"] == "nothing"


def test_dates_are_reported_in_iso(staged):
    body = exports(staged, {"dry_run": True, "from": date(2025, 3, 1).isoformat()}).json
    assert body["run"]["started_at"].startswith("2025-03-03T09:00")



def test_export_now_without_kinds_sends_a_renamed_customer(tenant):
    """Review: `customer.upserted` with a new name, then export now (three times): the contact kept
    its old name, nothing was logged, and the run's kinds left parties out. docs/operations.md says
    an export without dates looks at a changed customer, as a scheduled run does."""
    from dataclasses import replace

    from sagebridge.domain import canonical_json, payload_hash
    from tests.integration.admin.world import customer

    def stage_customer(name: str, version: int) -> None:
        staged = tenant.stage(invoice(1), version=version)  # the change comes with the invoice's dates
        record = customer(1).model_copy(update={"name": name})
        tenant.store.documents.put(replace(
            staged, kind="customer", host_id="CUST-1", ledger="customer", version=version,
            canonical_json=canonical_json(record, ignore=()), payload_hash=payload_hash(record)))

    def name_in_sage() -> str:
        sage_id = tenant.store.mappings.find(TENANT, "customer", "CUST-1").sage_id
        return tenant.sandbox.business().collections["contacts"].get(sage_id).data["name"]

    stage_customer("Customer 1 Ltd", 1)
    first = exports(tenant, {"run": "now"}).json["run"]
    assert {"customer", "vendor"} <= set(first["details"]["kinds"]), first["details"]
    assert name_in_sage() == "Customer 1 Ltd"
    stage_customer("Customer One Renamed Ltd", 2)
    for _ in range(3):
        tenant.advance(seconds=5)
        exports(tenant, {"run": "now"})
    assert name_in_sage() == "Customer One Renamed Ltd"
    log = tenant.call("GET", f"/admin/tenants/{TENANT}/log", query={"kind": "customer", "host_id": "CUST-1"}).json
    assert "updated" in [e["outcome"] for e in log["entries"]], log
