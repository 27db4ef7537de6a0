"""EventBridge Scheduler -> one SQS export job per tenant whose export interval has elapsed. Thin:
the rules live in sagebridge.sync.scheduling."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge import composition
from sagebridge.composition import ScheduleDeps, schedule_exports
from sagebridge.observability import logger, metrics, tracer


@lru_cache(maxsize=1)
def dependencies() -> ScheduleDeps:
    """Built on first use, once per container; tests call `dependencies.cache_clear()`."""
    return composition.export_scheduler()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store, queue = dependencies()
    report = schedule_exports(store, queue)
    metrics.add_metric(name="ExportJobsQueued", unit="Count", value=len(report.queued))
    return {"checked": report.checked, "queued": report.queued, "not_due": report.not_due,
            "not_ready": report.not_ready}
