"""EventBridge Scheduler (every 15 minutes by default) -> one SQS payment poll job per enabled,
connected tenant (any Sage product) on PAYMENT_POLL_QUEUE_URL; the payment poll worker polls each
tenant on its own. Thin: the rules live in sagebridge.sync.payment_polls."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge.observability import logger, metrics, tracer
from sagebridge.settings import get_settings
from sagebridge.store import Store
from sagebridge.store.aws import AwsClients
from sagebridge.store.queues import MessageQueue
from sagebridge.sync.payment_polls import schedule_payment_polls, schedule_slot


@lru_cache(maxsize=1)
def dependencies() -> tuple[Store, MessageQueue]:
    """Built on first use, once per container; tests call `dependencies.cache_clear()`."""
    settings = get_settings()
    clients = AwsClients()
    return Store(settings.table_name, clients.dynamodb), MessageQueue(settings.payment_poll_queue_url, clients)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store, queue = dependencies()
    report = schedule_payment_polls(store, queue, slot=schedule_slot(event, datetime.now(UTC)))
    metrics.add_metric(name="PaymentPollJobsQueued", unit="Count", value=len(report.queued))
    return {"slot": report.slot, "checked": report.checked, "queued": report.queued, "not_ready": report.not_ready}
