"""SQS payment poll jobs -> one tenant's poll each: payments, refunds and reversals, then the
catalog it asked for, through its own Sage product (sagebridge.sync.products.SageProducts.poll_tenant).
Partial batch failures: a tenant whose poll failed goes back to the queue alone
(ReportBatchItemFailures); the others in the batch are done. A dead grant marks the connection
expired and is done."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge import composition
from sagebridge.composition import PaymentPollJob, SageProducts
from sagebridge.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


@lru_cache(maxsize=1)
def dependencies() -> SageProducts:
    """Built on first use, once per container; tests call `dependencies.cache_clear()`."""
    return composition.payment_poll_worker()


def record_handler(record: SQSRecord) -> dict[str, Any]:
    job = PaymentPollJob.model_validate_json(record.body)
    logger.append_keys(tenant_id=job.tenant_id)
    try:
        result = dependencies().poll_tenant(job.tenant_id)
    except Exception:
        logger.exception("payment_poll_failed", extra={"scheduled_for": job.scheduled_for})
        raise
    finally:
        logger.remove_keys(["tenant_id"])
    delivered = result.payments.payments_delivered if result.payments else 0
    metrics.add_metric(name="PaymentsDelivered", unit="Count", value=delivered)
    logger.info("payment_poll_done", extra={"tenant_id": job.tenant_id, "outcome": result.outcome,
                                            "payments_delivered": delivered, "error": result.error})
    return {"tenant_id": job.tenant_id, "outcome": result.outcome}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
