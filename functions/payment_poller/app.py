"""EventBridge Scheduler (every 15 minutes by default) -> poll every connected tenant's Sage for
payments, refunds, reversals and the catalog it asked for, and queue the news for the host app.
Thin: the logic is sagebridge.sync.payments.poll_all_tenants."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge.observability import logger, metrics, tracer
from sagebridge.settings import get_settings
from sagebridge.sync.products import SageProducts


@lru_cache(maxsize=1)
def dependencies() -> SageProducts:
    """Built on first use, once per container; tests call `dependencies.cache_clear()`."""
    return SageProducts(get_settings())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    products = dependencies()
    report = products.poll_all_tenants(products.delivery_outbox())
    metrics.add_metric(name="PaymentsDelivered", unit="Count", value=report.payments_delivered)
    summary = report.summary()
    logger.info("payment_poll_done", extra=summary)
    return summary
