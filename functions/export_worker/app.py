"""SQS export jobs -> one tenant's export run each (sagebridge.sync.scheduling.handle_export_job).
Partial batch failures: a job whose tenant lease is held, or that failed, goes back to the queue
alone (ReportBatchItemFailures); the others in the batch are done."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge.connectors.base import Connector
from sagebridge.domain.settings import TenantSettings
from sagebridge.host.jobs import ExportJob
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.observability import logger, metrics, tracer
from sagebridge.settings import get_settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.notifications import Notifier
from sagebridge.store.queues import MessageQueue
from sagebridge.sync.sage_accounting_wiring import build_sage_accounting
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

processor = BatchProcessor(event_type=EventType.SQS)


@lru_cache(maxsize=1)
def dependencies() -> WorkerDeps:
    """Built on first use, once per container; tests call `dependencies.cache_clear()`."""
    settings = get_settings()
    clients = AwsClients()
    sage = build_sage_accounting(settings, clients=clients)

    def connector_for(tenant_id: str, _settings: TenantSettings) -> Connector:
        return sage.connector_for(tenant_id)

    return WorkerDeps(
        store=sage.store,
        connector_for=connector_for,
        outbox=DeliveryOutbox(MessageQueue(settings.delivery_queue_url, clients), sage.store.deliveries),
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
