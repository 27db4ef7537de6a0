"""HostDeliveryQueue -> the host app: one signed POST per queued event. Thin: wiring and the SQS batch
shape; the contract lives in sagebridge.host.delivery."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge import composition
from sagebridge.composition import DeliveryDeps, deliver, parse_message
from sagebridge.observability import logger, metrics, tracer

# Report every failure per message, even when all fail: each carries its own backoff already.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@lru_cache(maxsize=1)
def dependencies() -> DeliveryDeps:
    """Built on first use, once per container; tests call `dependencies.cache_clear()`."""
    return composition.host_delivery()


def record_handler(record: SQSRecord) -> str:
    message = parse_message(record.body)
    logger.append_keys(tenant_id=message.tenant_id, event_id=message.event_id)
    receive_count = int(record.attributes.approximate_receive_count or 1)
    return deliver(message, receive_count=receive_count, receipt_handle=record.receipt_handle,
                   deps=dependencies()).value


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
