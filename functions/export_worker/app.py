"""SQS export jobs -> one tenant's export run each (sagebridge.sync.scheduling.handle_export_job).
Partial batch failures: a job whose tenant lease is held, or that failed, goes back to the queue
alone (ReportBatchItemFailures); the others in the batch are done."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge.host.jobs import ExportJob
from sagebridge.observability import logger, metrics, tracer
from sagebridge.settings import get_settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.notifications import Notifier
from sagebridge.sync.products import SageProducts
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

processor = BatchProcessor(event_type=EventType.SQS)


@lru_cache(maxsize=1)
def dependencies() -> WorkerDeps:
    """Built on first use, once per container; tests call `dependencies.cache_clear()`."""
    settings = get_settings()
    clients = AwsClients()
    products = SageProducts(settings, clients)
    assert products.store is not None
    return WorkerDeps(
        store=products.store,
        connector_for=products.connector_for,  # the tenant's own product: Accounting, Intacct or Sage 200
        business_currency_for=products.business_currency_for,  # read from Sage, cached an hour per tenant
        outbox=products.delivery_outbox(),
        notify=Notifier(settings.notification_topic_arn, clients).publish,
    )


def record_handler(record: SQSRecord) -> None:
    job = ExportJob.model_validate_json(record.body)
    logger.append_keys(tenant_id=job.tenant_id)
    handle_export_job(job, dependencies())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
