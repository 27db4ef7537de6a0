"""template.yaml gives operators what docs/operations.md promises: an alarm on every function's
errors, the API's 5xx, every dead-letter queue (the schedules' too) and expiring connections, all
mailed to the operators' topic; a dashboard and alarms that name only metrics the code publishes;
and the checkov findings fixed where they were real (encrypted log groups and settings secret,
least-privilege webhooks and token keys, idempotency table only where it is used)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from local import template as tpl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return tpl.resources()


@pytest.fixture(scope="module")
def functions() -> dict[str, tpl.FunctionSpec]:
    return tpl.functions()


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def _alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lid: r["Properties"] for lid, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def _dimension(alarm: dict[str, Any], name: str) -> Any:
    return next((d["Value"] for d in alarm.get("Dimensions") or [] if d["Name"] == name), None)


def _statements(spec: tpl.FunctionSpec) -> list[dict[str, Any]]:
    return [stmt for p in spec.properties.get("Policies") or [] if isinstance(p, dict)
            for stmt in p.get("Statement") or []]


def published_metrics() -> set[str]:
    """Every metric name the code adds (Powertools add_metric), read from the source."""
    names: set[str] = set()
    for path in [*(ROOT / "layers" / "shared" / "sagebridge").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]:
        text = path.read_text()
        names |= set(re.findall(r'add_metric\(name="(\w+)"', text))
        if "add_metric(name=name" in text:  # a loop over ("MetricName", value) pairs
            names |= set(re.findall(r'\("([A-Z]\w+)", ', text))
    return names


def test_every_alarm_mails_the_operators(resources):
    for lid, alarm in _alarms(resources).items():
        assert alarm["AlarmActions"] == [{"Ref": "NotificationTopic"}], lid


def test_every_function_has_an_errors_alarm(resources, functions):
    alarmed = {_ref(_dimension(a, "FunctionName")) for a in _alarms(resources).values()
               if a.get("Namespace") == "AWS/Lambda" and a.get("MetricName") == "Errors"}
    assert set(functions) <= alarmed, f"functions without an errors alarm: {sorted(set(functions) - alarmed)}"


def test_the_api_5xx_and_expiring_connections_are_alarmed(resources):
    alarms = _alarms(resources).values()
    assert any(a.get("Namespace") == "AWS/ApiGateway" and a.get("MetricName") == "5xx"
               and _ref(_dimension(a, "ApiId")) == "HttpApi" for a in alarms)
    [expiring] = [a for a in alarms if a.get("MetricName") == "ConnectionsExpiring"]
    assert expiring["Namespace"] == "SageBridge" and expiring["Period"] == 86400  # the keep-alive runs daily


def test_every_schedule_and_scheduled_function_dead_letters_to_an_alarmed_queue(resources, functions):
    alarmed_queues = {_ref(_dimension(a, "QueueName")) for a in _alarms(resources).values()
                      if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"}
    for lid, spec in functions.items():
        for ev in spec.events.values():
            if ev["Type"] != "ScheduleV2":
                continue
            schedule_dlq = _ref(ev["Properties"]["DeadLetterConfig"]["Arn"])
            function_dlq = _ref(spec.properties["DeadLetterQueue"]["TargetArn"])
            assert {schedule_dlq, function_dlq} <= alarmed_queues, lid


def test_dashboard_and_alarms_name_only_metrics_the_code_publishes(resources):
    published = published_metrics()
    named = {a["MetricName"] for a in _alarms(resources).values() if a.get("Namespace") == "SageBridge"}
    for a in _alarms(resources).values():
        for m in a.get("Metrics") or []:
            if "MetricStat" in m and m["MetricStat"]["Metric"]["Namespace"] == "SageBridge":
                named.add(m["MetricStat"]["Metric"]["MetricName"])
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    named |= set(re.findall(r'\["SageBridge", "(\w+)"', body))
    assert {"DeliveriesSent", "DeliveriesRefusedByHost", "WebhooksRefused", "SageLatency",
            "ConnectionsExpiring", "DocumentsSkipped"} <= named
    assert named <= published, f"never published: {sorted(named - published)}"


def test_log_groups_and_the_settings_secret_use_customer_keys(resources, functions):
    for lid, r in resources.items():
        if r["Type"] == "AWS::Logs::LogGroup":
            assert _ref(r["Properties"]["KmsKeyId"]) == "LogsKey", lid
    assert _ref(resources["SettingsSecret"]["Properties"]["KmsKeyId"]) == "SettingsKey"
    for lid, spec in functions.items():  # reading the secret needs its key too
        policies = spec.properties.get("Policies") or []
        reads = any(isinstance(p, dict) and _ref((p.get("AWSSecretsManagerGetSecretValuePolicy") or {})
                                                  .get("SecretArn")) == "SettingsSecret" for p in policies)
        assert reads == ({"Ref": "SettingsKeyAccessPolicy"} in policies), lid


def test_token_keys_open_only_with_the_encryption_context_the_code_passes(functions):
    for lid, spec in functions.items():
        assert not any(isinstance(p, dict) and "KMSDecryptPolicy" in p for p in spec.properties.get("Policies") or [])
        for stmt in _statements(spec):
            if stmt["Action"] in ("kms:Decrypt", "kms:GenerateDataKey") and _ref(stmt["Resource"]) == "TokenKey":
                assert stmt["Condition"]["Null"] == {"kms:EncryptionContext:tenant_id": "false",
                                                     "kms:EncryptionContext:provider": "false"}, lid
    # ... which is the context sagebridge.security.tokens seals and opens with.
    source = (ROOT / "layers" / "shared" / "sagebridge" / "security" / "tokens.py").read_text()
    assert source.count("EncryptionContext=_context(tenant_id, provider)") == 2


def test_only_the_webhooks_function_touches_the_idempotency_table_and_it_has_no_crud(functions):
    for lid, spec in functions.items():
        policies = spec.properties.get("Policies") or []
        crud = {_ref(p["DynamoDBCrudPolicy"]["TableName"]) for p in policies
                if isinstance(p, dict) and "DynamoDBCrudPolicy" in p}
        on_idempotency = "IdempotencyTable" in crud or any(
            _ref(s["Resource"]) == "IdempotencyTable" for s in _statements(spec))
        assert on_idempotency == (lid == "WebhooksFunction"), lid
    webhooks = functions["WebhooksFunction"]
    assert not [p for p in webhooks.properties["Policies"] if isinstance(p, dict) and "DynamoDBCrudPolicy" in p]
    granted = {(_ref(s["Resource"]), a) for s in _statements(webhooks) for a in s["Action"]}
    assert not {a for _, a in granted if a in ("dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:BatchWriteItem")}


def test_the_public_webhooks_route_is_throttled_and_its_function_capped():
    spec = tpl.functions()["WebhooksFunction"]
    [event] = [e["Properties"] for e in spec.events.values() if e["Type"] == "HttpApi"]
    assert event["RouteSettings"]["ThrottlingRateLimit"] <= 50
    assert "ReservedConcurrentExecutions" in spec.properties
