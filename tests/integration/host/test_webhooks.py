"""POST /webhooks/{tenant_id} through the real handler, with HTTP API v2 events: every reply of the
contract, staging, trigger exports, replays and stale versions."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from local.sandboxes.host_app import DEMO_SECRET, WebhookSender, example_events, http_api_event, resign
from local.sandboxes.host_app.fixtures import example_event
from sagebridge.host.inbound import MAX_BODY_BYTES
from sagebridge.host.jobs import ExportJob
from sagebridge.host.triggers import PendingTriggers, document_of
from sagebridge.security.signing import SIGNATURE_HEADER, sign
from sagebridge.store.documents import Documents
from sagebridge.store.webhook_events import WebhookEvents
from tests.integration.host.conftest import OLD_SECRET, SECRET, TENANT, Env

ROOT = Path(__file__).resolve().parents[3]

KIND_OF = {
    "customer.upserted": ("customer", "CUST-1001"), "vendor.upserted": ("vendor", "VEND-2001"),
    "invoice.upserted": ("sales_invoice", "INV-1001"),
    "credit_note.upserted": ("sales_credit_note", "CN-301"), "purchase_invoice.upserted": ("purchase_invoice", "PI-88"),
    "purchase_credit_note.upserted": ("purchase_credit_note", "PCN-9"),
    "payment.recorded": ("customer_payment", "PAY-501"), "refund.recorded": ("customer_refund", "REF-12"),
}


@pytest.mark.parametrize("event_type", sorted(KIND_OF))
def test_each_upsert_is_stored_and_recorded(env: Env, sender: WebhookSender, event_type: str) -> None:
    reply = sender.send(example_events()[event_type])
    assert reply.status == 202, reply.body
    kind, host_id = KIND_OF[event_type]
    assert reply.body["result"] == "stored" and reply.body["kind"] == kind and reply.body["host_id"] == host_id
    staged = Documents(env.table).get(TENANT, kind, host_id)
    assert json.loads(staged.canonical_json)["host_id"] == host_id
    assert WebhookEvents(env.table).find(TENANT, f"evt_{event_type.replace('.', '_')}_0001").outcome == "stored"


def test_trigger_status_queues_an_export_job(env: Env, sender: WebhookSender) -> None:
    reply = sender.send(example_event("invoice.upserted", status="Pending Payment"))
    assert reply.status == 202 and reply.body["export_queued"] is True
    [job] = env.messages(env.export_queue_url)
    assert job.pop("correlation_id")  # the webhook request's id, for the worker's log lines
    assert job == {"tenant_id": TENANT, "trigger": "webhook", "dry_run": False, "event_id": "evt_invoice_upserted_0001",
                   "documents": [{"kind": "sales_invoice", "host_id": "INV-1001"}],
                   "coalesced": True}  # its run also sends the tenant's other waiting triggers
    assert ExportJob.model_validate(job).trigger.run_trigger().value == "status_change"


def test_a_burst_of_triggers_queues_one_export_job_until_its_run_has_looked(env: Env, sender: WebhookSender) -> None:
    replies = [sender.send(example_event("invoice.upserted", event_id=f"evt_burst_{n}", status="Pending Payment",
                                         host_id=f"INV-{n}", number=f"INV-{n:05d}")) for n in range(1, 4)]

    assert [(r.status, r.body["export_queued"]) for r in replies] == [(202, True)] * 3
    [job] = env.messages(env.export_queue_url)  # the second and third joined the queued job
    assert job["coalesced"] is True and job["documents"] == [{"kind": "sales_invoice", "host_id": "INV-1"}]
    waiting = PendingTriggers(env.table).waiting(TENANT)
    assert sorted(document_of(e).host_id for e in waiting) == ["INV-1", "INV-2", "INV-3"]


def test_other_statuses_wait_for_the_schedule(env: Env, sender: WebhookSender) -> None:
    reply = sender.send(example_event("invoice.upserted", status="draft"))
    assert reply.status == 202 and reply.body["export_queued"] is False
    assert env.messages(env.export_queue_url) == []


def test_duplicate_delivery_is_accepted_and_processed_once(env: Env, sender: WebhookSender) -> None:
    event = example_event("invoice.upserted")
    first = sender.send(event)
    before = env.scan()
    second = sender.send(event)
    third = sender.send(event)  # also a replay with a newer timestamp: same event id
    assert first.status == second.status == third.status == 202
    assert first.body["duplicate"] is False and second.body["duplicate"] is True and third.body["duplicate"] is True
    # The duplicates queued nothing and say so; the rest of the reply is the first one's.
    assert first.body["export_queued"] is True
    assert second.body["export_queued"] is False and third.body["export_queued"] is False
    assert {k: v for k, v in second.body.items() if k not in ("duplicate", "export_queued")} == {
        k: v for k, v in first.body.items() if k not in ("duplicate", "export_queued")}
    assert env.scan() == before
    assert len(env.messages(env.export_queue_url)) == 1


def test_older_version_never_overwrites_a_newer_one(env: Env, sender: WebhookSender) -> None:
    newer = example_event("invoice.upserted", event_id="evt-new", version=5, reference="newer")
    older = example_event("invoice.upserted", event_id="evt-old", version=4, reference="older",
                          occurred_at="2024-05-02T00:00:00Z")
    assert sender.send(newer).body["result"] == "stored"
    reply = sender.send(older)
    assert reply.status == 202 and reply.body["result"] == "stale" and reply.body["export_queued"] is False
    staged = Documents(env.table).get(TENANT, "sales_invoice", "INV-1001")
    assert json.loads(staged.canonical_json)["reference"] == "newer"
    assert WebhookEvents(env.table).find(TENANT, "evt-old").outcome == "stale"


def test_without_versions_occurred_at_orders_changes(env: Env, sender: WebhookSender) -> None:
    later = example_event("customer.upserted", event_id="e2", occurred_at="2024-05-01T10:00:01Z", name="Later")
    earlier = example_event("customer.upserted", event_id="e1", occurred_at="2024-05-01T10:00:00Z", name="Earlier")
    later["data"].pop("version")
    earlier["data"].pop("version")
    assert sender.send(later).body["result"] == "stored"
    assert sender.send(earlier).body["result"] == "stale"
    assert json.loads(Documents(env.table).get(TENANT, "customer", "CUST-1001").canonical_json)["name"] == "Later"


def test_void_marks_the_staged_document(env: Env, sender: WebhookSender) -> None:
    assert sender.send(example_event("document.voided")).body["result"] == "unknown_document"
    sender.send(example_event("invoice.upserted"))
    reply = sender.send(example_event("document.voided", event_id="evt-void-2"))
    assert reply.status == 202 and reply.body["result"] == "stored"
    assert Documents(env.table).get(TENANT, "sales_invoice", "INV-1001").voided is True
    stale = sender.send(example_event("document.voided", event_id="evt-void-old", version=1))
    assert stale.body["result"] == "stale"


# ------------------------------------------------------------------------------------------- 401


def _raw(sender: WebhookSender, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return sender.handler(http_api_event(TENANT, body, headers), sender.context)  # type: ignore[misc]


def test_missing_signature_is_401(env: Env, sender: WebhookSender) -> None:
    reply = sender.send(example_event("invoice.upserted"), signed=False)
    assert reply.status == 401 and "missing" in reply.body["reason"]


def test_wrong_secret_is_401(env: Env, sender: WebhookSender, webhooks_handler: Any, lambda_context: Any) -> None:
    wrong = WebhookSender(TENANT, "not-the-secret", handler=webhooks_handler, context=lambda_context)
    reply = wrong.send(example_event("invoice.upserted"))
    assert reply.status == 401 and reply.body == {"error": "invalid_signature", "reason": "signature does not match"}
    assert SECRET not in json.dumps(reply.body)


def test_body_changed_after_signing_is_401(env: Env, sender: WebhookSender) -> None:
    body = json.dumps(example_event("invoice.upserted")).encode()
    header = sign(body, SECRET)
    reply = _raw(sender, body.replace(b"120.00", b"1.00"), {SIGNATURE_HEADER: header})
    assert reply["statusCode"] == 401


def test_stale_timestamp_is_401(env: Env, sender: WebhookSender) -> None:
    reply = sender.send(example_event("invoice.upserted"), timestamp=int(time.time()) - 301)
    assert reply.status == 401 and "tolerance" in reply.body["reason"]
    assert sender.send(example_event("invoice.upserted"), timestamp=int(time.time()) - 290).status == 202


def test_malformed_signature_header_is_401(env: Env, sender: WebhookSender) -> None:
    body = json.dumps(example_event("invoice.upserted")).encode()
    for header in ["", "v1=abc", "t=notanumber,v1=00", "t=1,v1=" + "é" * 64, "garbage"]:
        assert _raw(sender, body, {SIGNATURE_HEADER: header})["statusCode"] == 401


def test_both_secrets_verify_during_a_rotation(env: Env, webhooks_handler: Any, lambda_context: Any) -> None:
    env.create_tenant("rotating", secret=SECRET, previous=OLD_SECRET)
    for secret, event_id in [(SECRET, "e-new"), (OLD_SECRET, "e-old")]:
        reply = WebhookSender("rotating", secret, handler=webhooks_handler, context=lambda_context).send(
            example_event("customer.upserted", event_id=event_id))
        assert reply.status == 202, reply.body


def test_signature_is_checked_before_the_body_is_parsed(env: Env, sender: WebhookSender) -> None:
    reply = _raw(sender, b"{not json", {SIGNATURE_HEADER: sign(b"{not json", "wrong")})
    assert reply["statusCode"] == 401


def test_events_files_are_refused_as_stale_until_resigned(
    env: Env, webhooks_handler: Any, lambda_context: Any
) -> None:
    env.create_tenant("demo", secret=DEMO_SECRET)
    stored = json.loads((ROOT / "events" / "webhook_invoice_upserted.json").read_text())
    assert webhooks_handler(stored, lambda_context)["statusCode"] == 401
    reply = webhooks_handler(resign(stored, DEMO_SECRET), lambda_context)
    assert reply["statusCode"] == 202, reply["body"]


# --------------------------------------------------------------------------------------- 404/413


def test_unknown_tenant_is_404(env: Env, sender: WebhookSender, webhooks_handler: Any, lambda_context: Any) -> None:
    other = WebhookSender("nobody", SECRET, handler=webhooks_handler, context=lambda_context)
    reply = other.send(example_event("invoice.upserted"))
    assert reply.status == 404 and reply.body["error"] == "unknown_tenant"
    # A name no tenant can have (it would reach into another tenant's keys) is simply unknown.
    odd = WebhookSender("acme#DOC", SECRET, handler=webhooks_handler, context=lambda_context)
    assert odd.send(example_event("invoice.upserted")).status == 404


def test_disabled_tenant_is_404(env: Env, webhooks_handler: Any, lambda_context: Any) -> None:
    env.create_tenant("sleeping", enabled=False)
    reply = WebhookSender("sleeping", SECRET, handler=webhooks_handler, context=lambda_context).send(
        example_event("invoice.upserted"))
    assert reply.status == 404


def test_over_256_kb_is_413(env: Env, sender: WebhookSender) -> None:
    event = example_event("invoice.upserted", reference="x" * 100)
    event["padding"] = "x" * MAX_BODY_BYTES
    assert sender.send(event).status == 413
    exactly = json.dumps(example_event("invoice.upserted")).encode()
    exactly += b" " * (MAX_BODY_BYTES - len(exactly))  # JSON allows trailing whitespace
    assert sender.send(exactly).status == 202


# --------------------------------------------------------------------------------------- 400/422


def test_unparseable_json_is_400(env: Env, sender: WebhookSender) -> None:
    for body in [b"{", b"", b"\xff\xfe", b"NaN", b"[" * 5000]:
        reply = sender.send(body)
        assert reply.status == 400, (body[:10], reply.body)
        assert reply.body["error"] == "invalid_json" and reply.body["problems"][0]["field"] == "(body)"


def test_schema_errors_are_422_naming_every_field(env: Env, sender: WebhookSender) -> None:
    event = example_event("invoice.upserted")
    event["data"]["lines"][1]["unit_price"] = "abc"
    event["data"]["currency"] = "pounds"
    event["data"]["surprise"] = 1
    del event["data"]["number"]
    before = env.scan()
    reply = sender.send(event)
    assert reply.status == 422 and reply.body["error"] == "invalid_event"
    problems = {p["field"]: p["reason"] for p in reply.body["problems"]}
    assert problems["data.lines.1.unit_price"] == "'abc' is not a number"
    assert problems["data.number"] == "is required"
    assert problems["data.surprise"] == "is not a known field"
    assert "data.currency" in problems
    assert env.scan() == before


def test_unknown_event_type_is_422(env: Env, sender: WebhookSender) -> None:
    reply = sender.send({"id": "e1", "type": "invoice.deleted", "occurred_at": "2024-05-01T00:00:00Z", "data": {}})
    assert reply.status == 422 and [p["field"] for p in reply.body["problems"]] == ["type"]


def test_not_an_object_is_422(env: Env, sender: WebhookSender) -> None:
    assert sender.send(b"[1, 2]").status == 422


# ---------------------------------------------------------------------------------- all or nothing


def test_a_failed_export_queue_stores_nothing_half_and_the_retry_completes(env: Env, sender: WebhookSender) -> None:
    event = example_event("invoice.upserted")
    env.sqs.delete_queue(QueueUrl=env.export_queue_url)
    reply = sender.send(event)
    assert reply.status == 503 and reply.body["error"] == "try_again"
    env.sqs.create_queue(QueueName="export-jobs")
    retry = sender.send(event)
    assert retry.status == 202 and retry.body["result"] == "stored" and retry.body["duplicate"] is False
    assert retry.body["export_queued"] is True
    assert len(env.messages(env.export_queue_url)) == 1
