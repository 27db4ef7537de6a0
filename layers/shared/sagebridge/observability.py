"""One Logger, Metrics and Tracer for every function. Service name and namespace come from the
Powertools environment variables set in template.yaml Globals.

Correlation: an HTTP function takes API Gateway's request id as its correlation id; an export job
carries the id of whoever queued it (`current_correlation_id`), and the worker logs under it
(`correlated`), so one id follows a webhook to the Sage calls it caused."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths

logger = Logger(service="sagebridge")
metrics = Metrics(namespace="SageBridge", service="sagebridge")
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
