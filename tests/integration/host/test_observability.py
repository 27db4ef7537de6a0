"""What operators see of the host doors: refused webhooks and deliveries are counted, and a staged
webhook's log line names the record and the request id its export job carries on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from local.runtime import LambdaContext
from local.sandboxes.host_app import HostApp, create_app, http_api_event
from local.sandboxes.host_app.fixtures import example_event
from sagebridge.host.outbound import enqueue_delivery
from sagebridge.security.signing import SIGNATURE_HEADER, sign
from tests.integration.host.conftest import SECRET, TENANT, Env, load_handler_module
from tests.integration.host.test_host_delivery import FastRetryQueue, outbox, part_paid, pump
from tests.logs import captured_logs, emf_metrics


@pytest.fixture
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    # Earlier tests in this process may have counted outside a handler (nothing flushed them, as a
    # Lambda invocation would): start from none, so the figures are this test's own.
    from sagebridge.observability import metrics
    metrics.clear_metrics()


def test_a_refused_webhook_is_counted_and_logged_with_why(env: Env, metrics_on, capsys) -> None:
    env.create_tenant()
    handler = load_handler_module("webhooks").lambda_handler
    body = json.dumps(example_event("invoice.upserted")).encode()
    with captured_logs() as lines:
        bad = handler(http_api_event(TENANT, body, {SIGNATURE_HEADER: sign(body, "not-the-secret"),
                                                    "content-type": "application/json"}),
                      LambdaContext("WebhooksFunction", 512, 30))
        unknown = handler(http_api_event("nobody", body, {SIGNATURE_HEADER: sign(body, SECRET),
                                                          "content-type": "application/json"}),
                          LambdaContext("WebhooksFunction", 512, 30))
    assert (bad["statusCode"], unknown["statusCode"]) == (401, 404)
    assert emf_metrics(capsys.readouterr().out).get("WebhooksRefused") == 2
    refused = lines.named("webhook refused")
    assert [(r["tenant_id"], r["status"], r["error"]) for r in refused] == [
        (TENANT, 401, "invalid_signature"), ("nobody", 404, "unknown_tenant")]
    assert all(r.get("correlation_id") for r in refused)  # the API request id


def test_a_staged_webhook_names_the_record_and_its_job_carries_the_request_id(env: Env, metrics_on) -> None:
    env.create_tenant()
    handler = load_handler_module("webhooks").lambda_handler
    body = json.dumps(example_event("invoice.upserted", status="Pending Payment")).encode()
    event = http_api_event(TENANT, body, {SIGNATURE_HEADER: sign(body, SECRET), "content-type": "application/json"})
    with captured_logs() as lines:
        reply = handler(event, LambdaContext("WebhooksFunction", 512, 30))
    assert reply["statusCode"] == 202
    [staged] = lines.named("webhook staged")
    request_id = event["requestContext"]["requestId"]
    assert (staged["host_id"], staged["kind"], staged["event_id"], staged["correlation_id"]) == (
        "INV-1001", "sales_invoice", "evt_invoice_upserted_0001", request_id)
    [job] = env.messages(env.export_queue_url)
    assert job["correlation_id"] == request_id and job["event_id"] == "evt_invoice_upserted_0001"


def test_deliveries_sent_and_refused_by_the_host_are_counted(env: Env, host_app: HostApp, metrics_on,
                                                              capsys) -> None:
    env.create_tenant()
    module = load_handler_module("host_delivery")
    deps: Any = module.dependencies()
    deps.http, deps.queue, deps.jitter = TestClient(create_app(host_app)), FastRetryQueue(deps.queue), lambda: 1.0
    enqueue_delivery(outbox(env), TENANT, part_paid())
    pump(env, module)
    host_app.fail_next(1, 400)
    enqueue_delivery(outbox(env), TENANT, part_paid("10.00"))
    pump(env, module)
    counted = emf_metrics(capsys.readouterr().out)
    assert (counted.get("DeliveriesSent"), counted.get("DeliveriesRefusedByHost")) == (1, 1)



def _granted(logical_id: str) -> set[tuple[str, str]]:
    """(table logical id, dynamodb action) pairs the function's policy statements grant."""
    from local import template as tpl

    out = set()
    for p in tpl.functions()[logical_id].properties.get("Policies") or []:
        for stmt in (p.get("Statement") or []) if isinstance(p, dict) else []:
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            out |= {(stmt["Resource"]["Fn::GetAtt"][0], a) for a in actions if a.startswith("dynamodb:")}
    return out


def test_the_webhooks_function_calls_dynamodb_only_as_its_narrowed_policy_allows(env: Env, monkeypatch) -> None:
    """The policy lists actions, not CRUD: every call the function makes through the webhook
    contract (store, trigger export, duplicate, stale change, void, unknown void, conflict) must be one."""
    import botocore.client

    calls: list[tuple[str, str]] = []
    real = botocore.client.BaseClient._make_api_call

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            if operation == "TransactWriteItems":  # IAM checks each item's own action
                for item in params["TransactItems"]:
                    (kind, body), = item.items()
                    calls.append((body["TableName"], {"ConditionCheck": "ConditionCheckItem"}.get(kind, kind + "Item")))
            else:
                calls.append((params.get("TableName", ""), operation))
        return real(client, operation, params)

    env.create_tenant()
    handler = load_handler_module("webhooks").lambda_handler
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)

    def send(event: dict[str, Any]) -> int:
        body = json.dumps(event).encode()
        return handler(http_api_event(TENANT, body, {SIGNATURE_HEADER: sign(body, SECRET),
                                                     "content-type": "application/json"}),
                       LambdaContext("WebhooksFunction", 512, 30))["statusCode"]

    newer = example_event("invoice.upserted", event_id="evt_2", status="Pending Payment",
                          occurred_at="2026-01-02T10:00:00Z")
    assert send(newer) == 202
    assert send(newer) == 202  # duplicate
    assert send(example_event("invoice.upserted", event_id="evt_1", occurred_at="2026-01-01T10:00:00Z")) == 202  # stale
    assert send(example_event("document.voided", event_id="evt_3", occurred_at="2026-01-03T10:00:00Z")) == 202
    assert send(example_event("document.voided", event_id="evt_4", kind="sales_invoice", host_id="NOPE")) == 202
    assert send({**newer, "data": {**newer["data"], "reference": "changed"}}) == 409  # same id, other body
    granted = _granted("WebhooksFunction")
    used = {("IdempotencyTable" if name == env.idempotency_table else "AppTable", f"dynamodb:{op}")
            for name, op in calls}
    assert used and used <= granted, f"not granted: {sorted(used - granted)}"
