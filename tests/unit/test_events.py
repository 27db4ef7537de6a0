"""events/ stays ready for `sam local invoke` and `python -m local.invoke`: every function has a
sample event, and every sample is the shape its trigger in template.yaml delivers (an HTTP API
request matches one of the function's own routes, an SQS batch or a schedule's input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local import template as tpl
from local.stack import http_routes

ROOT = Path(__file__).resolve().parents[2]
EVENTS = sorted(p for p in (ROOT / "events").glob("*.json") if p.name != "env.json")  # env.json: --env-vars
PREFIX_TO_FUNCTION = {
    "admin_": "AdminApiFunction", "connect_": "ConnectFunction", "webhook_": "WebhooksFunction",
    "export_scheduler": "ExportSchedulerFunction", "export_worker": "ExportWorkerFunction",
    "payment_poller": "PaymentPollerFunction", "payment_poll_worker": "PaymentPollWorkerFunction",
    "host_delivery": "HostDeliveryFunction",
    "token_keepalive": "TokenKeepAliveFunction",
    "portal_": "PortalFunction",
}


def function_of(path: Path) -> str:
    return next(fn for prefix, fn in PREFIX_TO_FUNCTION.items() if path.stem.startswith(prefix))


def test_every_function_has_a_sample_event():
    assert set(tpl.functions()) == {function_of(p) for p in EVENTS}


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.name)
def test_each_event_has_the_shape_of_its_trigger(path: Path):
    event = json.loads(path.read_text())
    function = function_of(path)
    triggers = {e["Type"] for e in tpl.functions()[function].events.values()}
    if "HttpApi" in triggers:
        assert event["version"] == "2.0"
        method, raw_path = event["requestContext"]["http"]["method"], event["rawPath"]
        routes = [r for r in http_routes() if r.function == function]
        assert any(r.pattern.match(raw_path) and r.method in ("ANY", method) for r in routes), (method, raw_path)
    elif "SQS" in triggers:
        assert event["Records"] and all(r["eventSource"] == "aws:sqs" and json.loads(r["body"])
                                        for r in event["Records"])
    else:
        assert "ScheduleV2" in triggers and isinstance(event, dict)
