"""The export worker's log lines: a job for a tenant that does not exist is dropped with an error
line and a metric (no retry can help, so it never drifts into the DLQ), and every document outcome
is one line naming the tenant, kind, host id, number and run, under the job's correlation id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sagebridge.domain import DocumentKind
from sagebridge.store import Store
from sagebridge.sync.scheduling import WorkerDeps
from tests.logs import captured_logs, emf_metrics

from .conftest import TENANT, document
from .test_scheduling import ROOT, _load_handler, add_tenant


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "export-worker", 512, "req-1"
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:export-worker"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def one_job(body: dict[str, Any]) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "export_worker.json").read_text())
    event["Records"] = event["Records"][:1]
    event["Records"][0]["body"] = json.dumps(body)
    return event


@pytest.fixture
def deps(store: Store, connector: Any) -> WorkerDeps:
    return WorkerDeps(store=store, connector_for=lambda _tenant, _settings: connector)


@pytest.fixture
def worker(deps, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    app = _load_handler("export_worker")
    monkeypatch.setattr(app, "dependencies", lambda: deps)
    return app


def test_a_job_for_an_unknown_tenant_is_dropped_with_an_error_line_and_a_metric(worker, capsys):
    with captured_logs() as lines:
        answer = worker.lambda_handler(one_job({"tenant_id": "ghost", "trigger": "webhook", "event_id": "evt-9"}),
                                       Context())
    assert answer == {"batchItemFailures": []}, "retrying cannot create the tenant: not sent round to the DLQ"
    [dropped] = lines.named("export_job_dropped", tenant_id="ghost")
    assert dropped["level"] == "ERROR" and dropped["why"] == "unknown tenant" and dropped["event_id"] == "evt-9"
    assert emf_metrics(capsys.readouterr().out).get("ExportJobsUnknownTenant") == 1


def test_each_document_outcome_is_one_line_under_the_jobs_correlation_id(store, settings, host, worker, capsys):
    add_tenant(store, TENANT, settings)
    host.stage(document(DocumentKind.SALES_INVOICE, 1))
    job = {"tenant_id": TENANT, "trigger": "webhook", "event_id": "evt-1", "correlation_id": "req-webhook-1",
           "documents": [{"kind": "sales_invoice", "host_id": "INV-1"}]}
    with captured_logs() as lines:
        assert worker.lambda_handler(one_job(job), Context()) == {"batchItemFailures": []}
    [outcome] = lines.named("document_outcome", host_id="INV-1")
    [run] = store.runs.newest(TENANT)
    assert {k: outcome.get(k) for k in ("tenant_id", "kind", "number", "outcome", "run_id", "correlation_id",
                                        "event_id")} == {
        "tenant_id": TENANT, "kind": "sales_invoice", "number": "INV-00001", "outcome": "created",
        "run_id": run.run_id, "correlation_id": "req-webhook-1", "event_id": "evt-1"}
    posted = lines.named("sage_request", method="POST", path="/v3.1/sales_invoices")
    assert [p["correlation_id"] for p in posted] == ["req-webhook-1"]  # the Sage call, under the same id
    published = emf_metrics(capsys.readouterr().out)
    assert published["SageLatency"] > 0 and published["DocumentsExported"] == 2  # the dashboard's Sage latency
    # The next job of the batch (or invocation) is not logged under this one's id.
    assert not [line for line in lines if line.get("message") == "document_outcome"
                and line.get("correlation_id") != "req-webhook-1"]
