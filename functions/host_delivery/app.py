"""HostDeliveryQueue -> the host app: one signed POST per queued event. Thin: wiring and the SQS batch
shape; the contract lives in sagebridge.host.delivery."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import httpx
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagebridge.host.delivery import REQUEST_TIMEOUT_SECONDS, DeliveryDeps, deliver, parse_message
from sagebridge.host.secrets import WebhookSecrets
from sagebridge.observability import logger, tracer
from sagebridge.settings import get_settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.deliveries import Deliveries
from sagebridge.store.notifications import Notifier
from sagebridge.store.queues import MessageQueue
from sagebridge.store.table import Table
from sagebridge.store.tenants import Tenants

DEFAULT_MAX_RECEIVE_COUNT = 5  # the template's MaxReceiveCount default, if the queue cannot say

# Report every failure per message, even when all fail: each carries its own backoff already.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@lru_cache(maxsize=1)
def dependencies() -> DeliveryDeps:
    """Built on first use, once per container; tests call `dependencies.cache_clear()`."""
    settings = get_settings()
    clients = AwsClients()
    table = Table(settings.table_name, clients.dynamodb)
    queue = MessageQueue(settings.delivery_queue_url, clients)
    return DeliveryDeps(
        tenants=Tenants(table),
        deliveries=Deliveries(table),
        secrets=WebhookSecrets(SecretsProvider(boto3_client=clients.secretsmanager), settings.settings_secret_name),
        http=httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS, follow_redirects=False),
        queue=queue,
        max_receive_count=queue.max_receive_count() or DEFAULT_MAX_RECEIVE_COUNT,
        notify=Notifier(settings.notification_topic_arn, clients).publish,
    )


def record_handler(record: SQSRecord) -> str:
    message = parse_message(record.body)
    logger.append_keys(tenant_id=message.tenant_id, event_id=message.event_id)
    receive_count = int(record.attributes.approximate_receive_count or 1)
    return deliver(message, receive_count=receive_count, receipt_handle=record.receipt_handle,
                   deps=dependencies()).value


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
