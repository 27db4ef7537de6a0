"""Daily: refresh every Sage connection not refreshed for 7 days, so an idle tenant's 31-day refresh
token never runs out. Thin: the logic is ConnectionService.keep_alive_all."""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge.observability import logger, metrics, tracer
from sagebridge.settings import get_settings
from sagebridge.sync.sage_accounting_wiring import SageAccounting, build_sage_accounting


@lru_cache(maxsize=1)
def dependencies() -> SageAccounting:
    return build_sage_accounting(get_settings())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = dependencies()
    tenants = (t.tenant_id for t in deps.store.tenants.iter_all())
    report = deps.service.keep_alive_all(tenants)
    logger.info("token_keepalive_done", extra=asdict(report))
    return asdict(report)
