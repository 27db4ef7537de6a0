"""Every function of template.yaml publishes its metrics (Powertools `log_metrics`): a metric added
anywhere during an invocation reaches CloudWatch as an EMF line when the invocation ends, even when
it fails. Behavioural: each handler is invoked with its own sample event from events/ (what `sam
local invoke` sends), with its dependencies failing, so no function can be missed or pass by
reading its source."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from local import runtime
from local import template as tpl
from sagebridge.observability import metrics

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(tpl.functions())


def sample_event(logical_id: str) -> dict:
    from tests.unit.test_events import EVENTS, function_of

    path = next(p for p in EVENTS if function_of(p) == logical_id)
    return json.loads(path.read_text())


def emf_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            lines.append(doc)
    return lines


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_function_publishes_its_metrics_even_when_it_fails(logical_id, monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    handler = runtime.load_handler(tpl.functions()[logical_id])
    module = sys.modules[handler.__module__]

    def unavailable():
        raise RuntimeError("dependencies unavailable (test)")

    if hasattr(module, "dependencies"):
        monkeypatch.setattr(module, "dependencies", unavailable)
    metrics.clear_metrics()
    metrics.add_metric(name="FlushProbe", unit="Count", value=1)  # as code deep in the call would
    try:
        handler(sample_event(logical_id), runtime.LambdaContext(logical_id, 512, 30))
    except Exception:  # failing is allowed; losing the metrics is not
        pass
    published = [doc for doc in emf_lines(capsys.readouterr().out) if "FlushProbe" in doc]
    assert published, f"{logical_id} ended without publishing its metrics (no @metrics.log_metrics)"
    assert published[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SageBridge"
    assert not metrics.metric_set  # flushed, not left for the next invocation


def test_the_keep_alive_publishes_expiring_connections_for_the_alarm(monkeypatch, capsys):
    from tests.logs import emf_metrics

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    handler = runtime.load_handler(tpl.functions()["TokenKeepAliveFunction"])
    module = sys.modules[handler.__module__]

    class Products:
        def keep_alive_all(self) -> dict:
            return {"checked": 5, "refreshed": 2, "dead": 1, "failed": 1, "warned": 0, "expiring": 2}

    monkeypatch.setattr(module, "dependencies", lambda: Products())
    handler(sample_event("TokenKeepAliveFunction"), runtime.LambdaContext("TokenKeepAliveFunction", 512, 30))
    published = emf_metrics(capsys.readouterr().out)
    assert {k: published.get(k) for k in ("ConnectionsExpiring", "KeepAliveFailures", "ConnectionsDead")} == {
        "ConnectionsExpiring": 2, "KeepAliveFailures": 1, "ConnectionsDead": 1}
