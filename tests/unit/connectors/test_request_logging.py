"""What one Sage request leaves in the logs and metrics (connectors/http.py, observability.py): at
INFO, a request Sage answered well and in time writes no line (it was one line per exported document);
an error answer still writes one at info, a slow answer at warning, and DEBUG shows every request.
SageRequests is one summed value per flush (one EMF line per invocation), not a value per request."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.sandboxes import sage_accounting as sacc
from sagebridge.connectors import http as transport
from sagebridge.connectors.base import SageError
from sagebridge.connectors.sage_accounting.client import SageAccountingClient
from sagebridge.observability import logger, metrics


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def of(self, event: str) -> list[tuple[int, Any]]:
        return [(r.levelno, getattr(r, "status", None)) for r in self.records if r.getMessage() == event]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler, level = Lines(), logger.log_level
    logger.addHandler(handler)
    logger.setLevel("INFO")  # as deployed (PowertoolsLogLevel's default)
    try:
        yield handler
    finally:
        logger.setLevel(level)
        logger._logger.removeHandler(handler)


@pytest.fixture
def client() -> SageAccountingClient:
    sandbox = sacc.SageAccountingSandbox.single_business(clock=sacc.SandboxClock.frozen_at())
    token = sandbox.issue_tokens()["access_token"]
    return SageAccountingClient(httpx.Client(transport=sandbox.sync_transport()), business_id=sandbox.lead_business_id,
                                base_url=sacc.API_BASE_URL, token_provider=lambda **_: token,
                                sleep=lambda _s: None, jitter=lambda: 0.0)


def test_a_request_answered_well_writes_no_line_at_info_and_one_at_debug(client, lines):
    client.list("tax_rates")
    assert lines.of("sage_request") == []
    logger.setLevel("DEBUG")
    client.list("tax_rates")
    assert lines.of("sage_request") == [(logging.DEBUG, 200)]


def test_an_error_answer_is_still_logged_at_info(client, lines):
    with pytest.raises(SageError):
        client.get("contacts", "no-such-contact")
    assert lines.of("sage_request") == [(logging.INFO, 404)]


def test_a_slow_answer_is_logged_at_warning(client, lines, monkeypatch):
    monkeypatch.setattr(transport, "SLOW_REQUEST_MS", 0.0)  # every answer is "slow"
    client.list("tax_rates")
    assert lines.of("sage_request") == [(logging.WARNING, 200)]


def test_sage_requests_are_one_summed_value_per_flush(client, capsys):
    metrics.clear_metrics()
    for _ in range(150):  # past Powertools' 100 values, where it printed a line of its own
        client.list("tax_rates")
    metrics.add_metric(name="ExportRunSeconds", unit="Seconds", value=2.5)  # other units: as before
    assert capsys.readouterr().out == ""
    metrics.flush_metrics()
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # The count is one summed value; the latency percentiles need every value (EMF: 100 a line).
    assert [e["SageRequests"] for e in emitted if "SageRequests" in e] == [[150.0]]
    assert sum(len(e.get("SageLatency", [])) for e in emitted) == 150
    assert len(emitted) == 2
    assert [e["ExportRunSeconds"] for e in emitted if "ExportRunSeconds" in e] == [[2.5]]
    units = {m["Name"]: m["Unit"] for e in emitted for m in e["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units == {"SageRequests": "Count", "SageLatency": "Milliseconds", "ExportRunSeconds": "Seconds"}
    assert not metrics.metric_set and not metrics.provider.counts and not metrics.provider.timings
