"""SQS export jobs -> one tenant's export run each (sagebridge.sync.scheduling.handle_export_job).
Partial batch failures: a job whose tenant lease is held, or that failed, goes back to the queue
alone (ReportBatchItemFailures); the others in the batch are done. A run watches the invocation's
time left and continues in a new job before the timeout (EXPORT_STOP_MARGIN_SECONDS/_SHARE)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge import composition
from sagebridge.composition import Deadline, WorkerDeps, handle_export_job
from sagebridge.host.jobs import ExportJob
from sagebridge.observability import correlated, logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


@lru_cache(maxsize=1)
def dependencies() -> WorkerDeps:
    """Built on first use, once per container; tests call `dependencies.cache_clear()`."""
    return composition.export_worker()


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    job = ExportJob.model_validate_json(record.body)
    deps = dependencies()
    deadline = None
    if lambda_context is not None:
        deadline = Deadline.of_invocation(lambda_context.get_remaining_time_in_millis,
                                          margin_seconds=deps.stop_margin_seconds, margin_share=deps.stop_margin_share)
    # A job without a sender's id (the schedule's) is followed by its message id.
    with correlated(job.correlation_id or record.message_id, tenant_id=job.tenant_id, event_id=job.event_id):
        handle_export_job(job, deps, deadline=deadline)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
