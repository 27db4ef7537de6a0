"""Daily: refresh every OAuth connection not refreshed for 7 days, so an idle tenant's Sage Accounting
refresh token (31 days) never runs out, and warn Sage 200 tenants 14 and 3 days before their 90-day
sign-in ends. Thin: the logic is SageProducts.keep_alive_all."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge import composition
from sagebridge.composition import SageProducts
from sagebridge.observability import logger, metrics, tracer


@lru_cache(maxsize=1)
def dependencies() -> SageProducts:
    return composition.token_keepalive()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = dependencies().keep_alive_all()
    logger.info("token_keepalive_done", extra=report)
    # Always sent, zeros too, so the dashboard shows every run (and the alarm an all-clear).
    for name, key in (("ConnectionsExpiring", "expiring"), ("KeepAliveFailures", "failed"),
                      ("ConnectionsDead", "dead"), ("ConnectionsRefreshed", "refreshed")):
        metrics.add_metric(name=name, unit="Count", value=report.get(key, 0))
    return report
