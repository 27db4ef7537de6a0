"""The deployed admin service's object graph, built in one function (`build_admin`) so the
composition root can take it over whole; tests build `Admin` with their own ports instead."""

from __future__ import annotations

from sagebridge.admin.service import Admin
from sagebridge.settings import Settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.notifications import Notifier
from sagebridge.store.queues import MessageQueue
from sagebridge.store.webhook_secrets import WebhookSecretStore
from sagebridge.sync.products import SageProducts
from sagebridge.sync.scheduling import WorkerDeps


def build_admin(settings: Settings, *, clients: AwsClients | None = None) -> Admin:
    """The deployed wiring (one per container): DynamoDB, KMS, SQS, SNS and Secrets Manager."""
    clients = clients or AwsClients()
    products = SageProducts(settings, clients)
    assert products.store is not None
    worker = WorkerDeps(store=products.store, connector_for=products.connector_for,
                        business_currency_for=products.business_currency_for,
                        outbox=products.delivery_outbox(),
                        notify=Notifier(settings.notification_topic_arn, clients).publish)
    return Admin(store=products.store, products=products, worker=worker,
                 export_queue=MessageQueue(settings.export_queue_url, clients),
                 webhook_secrets=WebhookSecretStore(settings.settings_secret_name, clients))



__all__ = ["build_admin"]
