"""EventBridge Scheduler (every 15 minutes by default) -> one SQS payment poll job per enabled,
connected tenant (any Sage product) on PAYMENT_POLL_QUEUE_URL; the payment poll worker polls each
tenant on its own. Thin: the rules live in sagebridge.sync.payment_polls."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge import composition
from sagebridge.composition import ScheduleDeps, schedule_payment_polls, schedule_slot
from sagebridge.observability import logger, metrics, tracer


@lru_cache(maxsize=1)
def dependencies() -> ScheduleDeps:
    """Built on first use, once per container; tests call `dependencies.cache_clear()`."""
    return composition.payment_poller()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store, queue = dependencies()
    report = schedule_payment_polls(store, queue, slot=schedule_slot(event, datetime.now(UTC)))
    metrics.add_metric(name="PaymentPollJobsQueued", unit="Count", value=len(report.queued))
    return {"slot": report.slot, "checked": report.checked, "queued": report.queued, "not_ready": report.not_ready}
