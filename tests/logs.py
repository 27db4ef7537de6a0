"""What a function tells CloudWatch, captured in a test: its structured log lines (the shared
Powertools logger, at INFO) and its EMF metric lines (printed to stdout when a handler ends)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sagebridge.observability import logger


class Lines(list[dict[str, Any]]):
    """Parsed JSON log lines, with a finder."""

    def named(self, message: str, **fields: Any) -> list[dict[str, Any]]:
        return [line for line in self if line.get("message") == message
                and all(line.get(k) == v for k, v in fields.items())]


@contextmanager
def captured_logs() -> Iterator[Lines]:
    """Every line the shared logger writes meanwhile, as Logs Insights would see it."""
    stream, lines = io.StringIO(), Lines()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger._logger.addHandler(handler)
    logger.setLevel("INFO")  # the quiet local stack turns it down
    try:
        yield lines
    finally:
        logger._logger.removeHandler(handler)
        logger.setLevel(level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines() if line.strip())


def emf_metrics(stdout: str) -> dict[str, float]:
    """Metric name -> summed value over the EMF lines in `stdout`."""
    totals: dict[str, float] = {}
    for line in stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict) or "_aws" not in doc:
            continue
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = doc[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals
