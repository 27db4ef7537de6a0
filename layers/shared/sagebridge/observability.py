"""One Logger, Metrics and Tracer for every function. Service name and namespace come from the
Powertools environment variables set in template.yaml Globals.

Correlation: an HTTP function takes API Gateway's request id as its correlation id; an export job
carries the id of whoever queued it (`current_correlation_id`), and the worker logs under it
(`correlated`), so one id follows a webhook to the Sage calls it caused."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider


class CountsPerFlush(AmazonCloudWatchEMFProvider):
    """Count metrics are summed in memory and written as one value each when the metrics are flushed
    (once per invocation, by `@metrics.log_metrics`), not appended value by value: one per Sage request
    was a validated `add_metric` each and an EMF line per 100 requests. Every alarm and dashboard
    reads these counts as Sum, which one summed value per invocation keeps exact. Timings (the
    dashboard's Sage latency percentiles need every value) are kept as plain floats and written at the
    same moment, 100 values a line as EMF allows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counts: dict[str, float] = {}
        self.timings: dict[str, list[float]] = {}

    def add_metric(self, name: str, unit: Any, value: float, resolution: Any = 60) -> None:
        if resolution == 60 and type(value) in (int, float):
            if unit == "Count":
                self.counts[name] = self.counts.get(name, 0) + value
                return
            if unit == "Milliseconds":
                self.timings.setdefault(name, []).append(value)
                return
        super().add_metric(name=name, unit=unit, value=value, resolution=resolution)

    def _publish_counts(self) -> None:
        # Swapped out first: publishing a 100th value makes Powertools serialise (and come back here).
        counts, self.counts = self.counts, {}
        timings, self.timings = self.timings, {}
        for name, total in counts.items():
            super().add_metric(name=name, unit="Count", value=total)
        for name, values in timings.items():
            for value in values:
                super().add_metric(name=name, unit="Milliseconds", value=value)

    def serialize_metric_set(self, metrics: dict | None = None, dimensions: dict | None = None,
                             metadata: dict | None = None) -> Any:
        if metrics is None:
            self._publish_counts()
        return super().serialize_metric_set(metrics=metrics, dimensions=dimensions, metadata=metadata)

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        self._publish_counts()
        super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)

    def clear_metrics(self) -> None:
        self.counts.clear()
        self.timings.clear()
        super().clear_metrics()


logger = Logger(service="sagebridge")
metrics = Metrics(namespace="SageBridge", service="sagebridge")
# The same metric, dimension and metadata sets the Metrics front holds (Powertools shares them).
metrics.provider = CountsPerFlush(namespace="SageBridge", service="sagebridge", metric_set=metrics.metric_set,
                                  dimension_set=metrics.dimension_set, metadata_set=metrics.metadata_set,
                                  default_dimensions=metrics.default_dimensions)
tracer = Tracer(service="sagebridge")

# Every handler flushes its metrics, and many invocations (an admin read) add none: not news.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# Where an HTTP API (payload 2.0) event keeps its request id.
HTTP_REQUEST_ID = correlation_paths.API_GATEWAY_HTTP


def current_correlation_id() -> str | None:
    """The correlation id this invocation logs under (None outside one)."""
    value = logger.get_correlation_id()
    return str(value) if value else None


@contextmanager
def correlated(correlation_id: str | None, **keys: str | None) -> Iterator[None]:
    """Log under `correlation_id` (and `keys`) for one record of a batch, then restore the
    invocation's own: the next record of the batch is another job."""
    before = current_correlation_id()
    present = {k: v for k, v in keys.items() if v is not None}
    logger.set_correlation_id(correlation_id)
    logger.append_keys(**present)
    try:
        yield
    finally:
        logger.remove_keys(list(present))
        logger.set_correlation_id(before)


__all__ = ["HTTP_REQUEST_ID", "correlated", "current_correlation_id", "logger", "metrics", "tracer"]
