"""The one place that builds each function's object graph: which store, queues, AWS clients, HTTP
clients and Sage products a function works with. Handlers (functions/*/app.py) call one builder here
once per container (cold start) and keep what it returns; the local stack and the tests call the
same builders, passing their own pieces where they have them.

Nothing below names a Sage product: products come from the registry (connectors/registry.py)
through `SageProducts`, so adding one changes nothing here. Each handler also finds here the one
function of the layer it calls, so it imports this module and its own request and response types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sagebridge.domain.lazy import imported_on_first_use
from sagebridge.settings import Settings, get_settings
from sagebridge.store import Store
from sagebridge.store.aws import AwsClients
from sagebridge.store.notifications import Notifier
from sagebridge.store.queues import MessageQueue

# Each function imports this module at its cold start, so it imports only what every function uses;
# a builder imports what only its own function needs (the export worker never loads the admin API,
# the portal, the webhooks or Powertools' idempotency), and the names the handlers import from here
# are loaded on first access (`__getattr__` below).
if TYPE_CHECKING:
    from sagebridge.admin.service import Admin
    from sagebridge.connections.connect_flow import CALLBACK_PATH, ConnectFlows, FlowResult
    from sagebridge.domain.settings import TenantSettings
    from sagebridge.host.delivery import DeliveryDeps, deliver, parse_message
    from sagebridge.host.webhooks import WebhookDeps, WebhookReply, receive_webhook
    from sagebridge.portal.web import Portal
    from sagebridge.security.secrets import IntegrationSecrets
    from sagebridge.sync.export.deadline import Deadline
    from sagebridge.sync.payment_polls import PaymentPollJob, schedule_payment_polls, schedule_slot
    from sagebridge.sync.products import SageProducts
    from sagebridge.sync.scheduling import WorkerDeps, handle_export_job, schedule_exports

# The names the handlers import from here, each from the module that defines it, loaded on first use.
_REEXPORTED = {
    "CALLBACK_PATH": "sagebridge.connections.connect_flow", "FlowResult": "sagebridge.connections.connect_flow",
    "Deadline": "sagebridge.sync.export.deadline",
    "DeliveryDeps": "sagebridge.host.delivery", "deliver": "sagebridge.host.delivery",
    "parse_message": "sagebridge.host.delivery",
    "WebhookDeps": "sagebridge.host.webhooks", "WebhookReply": "sagebridge.host.webhooks",
    "receive_webhook": "sagebridge.host.webhooks",
    "PaymentPollJob": "sagebridge.sync.payment_polls", "schedule_payment_polls": "sagebridge.sync.payment_polls",
    "schedule_slot": "sagebridge.sync.payment_polls",
    "SageProducts": "sagebridge.sync.products",  # the products' graph: not for the schedulers
    "WorkerDeps": "sagebridge.sync.scheduling", "handle_export_job": "sagebridge.sync.scheduling",
    "schedule_exports": "sagebridge.sync.scheduling",
}


__getattr__ = imported_on_first_use(__name__, _REEXPORTED)


def _sage_products() -> type[SageProducts]:
    """SageProducts (a test may have put its own in its place), imported by the first builder that needs it."""
    found: type[SageProducts] = globals().get("SageProducts") or __getattr__("SageProducts")
    return found


# What a scheduled fan-out works with: the tenant list and the queue its jobs go to.
ScheduleDeps = tuple[Store, MessageQueue]

DEFAULT_MAX_RECEIVE_COUNT = 5  # the template's MaxReceiveCount default, if the delivery queue cannot say


# ------------------------------------------------------------------------- the Sage products


def sage_products(settings: Settings | None = None, *, clients: AwsClients | None = None) -> SageProducts:
    """Every Sage product of one container, each built on first use through its registry line."""
    return _sage_products()(settings or get_settings(), clients or AwsClients())


def export_worker(settings: Settings | None = None, *, clients: AwsClients | None = None,
                  products: SageProducts | None = None) -> WorkerDeps:
    """The export worker: one tenant's export run per SQS job, through the tenant's own product."""
    from sagebridge.sync.scheduling import WorkerDeps
    from sagebridge.sync.setup_reads import SetupReads

    settings = settings or get_settings()
    clients = clients or (products.clients if products else AwsClients())
    products = products or _sage_products()(settings, clients)
    assert products.store is not None
    return WorkerDeps(
        store=products.store,
        connector_for=products.connector_for,  # the tenant's own product
        business_currency_for=products.business_currency_for,  # read from Sage, cached an hour per tenant
        outbox=products.delivery_outbox(),
        notify=Notifier(settings.notification_topic_arn, clients).publish,
        failure_digest=failure_digest(settings, clients, products.store),
        jobs=MessageQueue(settings.export_queue_url, clients),  # a paused run's continuation
        stop_margin_seconds=settings.export_stop_margin_seconds,
        stop_margin_share=settings.export_stop_margin_share,
        setup_reads=SetupReads(),  # Sage's tax rates and accounts, kept a few minutes per tenant
    )


def failure_digest(settings: Settings, clients: AwsClients, store: Store
                   ) -> Callable[[str, str, TenantSettings], object] | None:
    """The tenants' failure digest after each run, when the deployment has the topic for it."""
    if not settings.failure_digest_topic_arn:
        return None
    from sagebridge.host.failure_digest import send_failure_digest
    from sagebridge.store.failure_emails import FailureEmails

    channel = FailureEmails(settings.failure_digest_topic_arn, clients, store.table)
    return lambda tenant_id, run_id, tenant_settings: send_failure_digest(
        store, tenant_settings, tenant_id, run_id, publish=channel.publish, link_template=settings.failure_digest_link)


def payment_poll_worker(settings: Settings | None = None) -> SageProducts:
    """The payment poll worker: one tenant's payments and catalog per SQS job (`poll_tenant`)."""
    return sage_products(settings)


def token_keepalive(settings: Settings | None = None) -> SageProducts:
    """The daily keep-alive of every product the enabled tenants use (`keep_alive_all`)."""
    return sage_products(settings)


# ---------------------------------------------------------------------------------- connect


@dataclass
class ConnectDependencies:
    """What the connect function needs: the settings and one flow per product that connects by link."""

    settings: Settings
    flow: ConnectFlows


def connect(settings: Settings | None = None, *, products: SageProducts | None = None,
            clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ConnectDependencies:
    """One connect flow per registered product that connects through Sage's own sign-in and whose
    connect credentials are in the settings secret; the default product's always (the registry's
    DEFAULT_PROVIDER: a tenant whose settings name no product connects to it)."""
    from sagebridge.connections.connect_flow import ConnectFlow, ConnectFlows
    from sagebridge.connectors.base import LinkConnect
    from sagebridge.connectors.registry import DEFAULT_PROVIDER, providers, secret_keys
    from sagebridge.domain.errors import ConfigurationError
    from sagebridge.observability import logger
    from sagebridge.security.oauth_state import StateSigner

    settings = settings or get_settings()
    products = products or _sage_products()(settings, AwsClients())
    secrets = products.integration_secrets()
    flows: dict[str, ConnectFlow] = {}
    unconfigured: dict[str, list[str]] = {}
    for provider in providers():
        if provider is not DEFAULT_PROVIDER and not _offers_connect(secrets, secret_keys(provider).connect):
            continue
        how = products.product(provider).connects_by
        if not isinstance(how, LinkConnect):
            continue  # connects with a login typed in (the admin API), not here
        if not isinstance(how, ConnectFlow):
            raise ConfigurationError(f"{provider.value} connects by link but brings no ConnectFlow")
        flows[provider.value] = how
        if placeholders := secrets.placeholders(secret_keys(provider).connect):
            unconfigured[provider.value] = placeholders
            # The startup check: one clear line per cold start (key names only, never a value).
            logger.error("settings_secret_not_filled_in", extra={
                "provider": provider.value, "placeholder_keys": placeholders,
                "fix": "sagebridge settings-secret set KEY=VALUE ..., then sagebridge doctor (docs/deploy.md)"})
    assert products.store is not None
    signer = StateSigner(secrets.state_signing_key.get_secret_value())
    return ConnectDependencies(settings, ConnectFlows(flows, tenants=products.store.tenants, signer=signer,
                                                      default=DEFAULT_PROVIDER.value, clock=clock,
                                                      unconfigured=unconfigured))


def _offers_connect(secrets: IntegrationSecrets, keys: tuple[str, ...]) -> bool:
    """A product declaring connect keys has its flow when they are all set; none: it has no flow."""
    return bool(keys) and secrets.has(keys)


# ------------------------------------------------------------------------- host and schedules


def webhooks(settings: Settings | None = None, *, clients: AwsClients | None = None) -> WebhookDeps:
    """The host's signed webhooks: staged in the table, real-time export jobs queued."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from sagebridge.host.secrets import WebhookSecrets
    from sagebridge.host.webhooks import WebhookDeps
    from sagebridge.store.table import Table

    settings = settings or get_settings()
    clients = clients or AwsClients()
    return WebhookDeps(
        table=Table(settings.table_name, clients.dynamodb),
        export_queue=MessageQueue(settings.export_queue_url, clients),
        secrets=WebhookSecrets(SecretsProvider(boto3_client=clients.secretsmanager), settings.settings_secret_name),
        idempotency_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table_name,
                                                   boto3_client=clients.dynamodb),
    )


def host_delivery(settings: Settings | None = None, *, clients: AwsClients | None = None) -> DeliveryDeps:
    """The host delivery worker: one signed POST to the host app per queued event."""
    import httpx
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from sagebridge.host.delivery import REQUEST_TIMEOUT_SECONDS, DeliveryDeps
    from sagebridge.host.secrets import WebhookSecrets
    from sagebridge.store.deliveries import Deliveries
    from sagebridge.store.table import Table
    from sagebridge.store.tenants import Tenants

    settings = settings or get_settings()
    clients = clients or AwsClients()
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


def export_scheduler(settings: Settings | None = None) -> ScheduleDeps:
    """The export scheduler: the tenant list and the export job queue."""
    settings = settings or get_settings()
    clients = AwsClients()
    return Store(settings.table_name, clients.dynamodb), MessageQueue(settings.export_queue_url, clients)


def payment_poller(settings: Settings | None = None) -> ScheduleDeps:
    """The payment poller's fan-out: the tenant list and the payment poll job queue."""
    settings = settings or get_settings()
    clients = AwsClients()
    return Store(settings.table_name, clients.dynamodb), MessageQueue(settings.payment_poll_queue_url, clients)


# ------------------------------------------------------------------------------------ portal


def portal(settings: Settings | None = None, *, clients: AwsClients | None = None) -> Portal:
    """The tenant portal (one per container): the admin service behind pages for one tenant at a time."""
    from sagebridge.portal.web import Portal  # here: only the portal function pays for Jinja2's import

    settings = settings or get_settings()
    service = admin(settings, clients=clients)
    return Portal(admin=service, key=lambda: service.products.integration_secrets().portal_key(),
                  frame_ancestors=settings.portal_frame_ancestors or "'none'",
                  https=not (settings.public_api_url or "").startswith("http://"),
                  session_ttl=timedelta(minutes=settings.portal_session_minutes))


# ------------------------------------------------------------------------------------- admin


def admin(settings: Settings | None = None, *, clients: AwsClients | None = None) -> Admin:
    """The operators' API (one per container): DynamoDB, KMS, SQS, SNS and Secrets Manager."""
    from sagebridge.admin.service import Admin
    from sagebridge.store.failure_emails import FailureEmails
    from sagebridge.store.webhook_secrets import WebhookSecretStore

    settings = settings or get_settings()
    clients = clients or AwsClients()
    products = _sage_products()(settings, clients)
    assert products.store is not None
    return Admin(store=products.store, products=products,
                 worker=export_worker(settings, clients=clients, products=products),
                 export_queue=MessageQueue(settings.export_queue_url, clients),
                 webhook_secrets=WebhookSecretStore(settings.settings_secret_name, clients),
                 failure_emails=FailureEmails(settings.failure_digest_topic_arn, clients, products.store.table)
                 if settings.failure_digest_topic_arn else None)


__all__ = [
    "CALLBACK_PATH",
    "ConnectDependencies",
    "Deadline",
    "DeliveryDeps",
    "FlowResult",
    "PaymentPollJob",
    "SageProducts",
    "ScheduleDeps",
    "WebhookDeps",
    "WebhookReply",
    "WorkerDeps",
    "admin",
    "connect",
    "deliver",
    "export_scheduler",
    "export_worker",
    "handle_export_job",
    "host_delivery",
    "parse_message",
    "payment_poll_worker",
    "payment_poller",
    "portal",
    "receive_webhook",
    "sage_products",
    "schedule_exports",
    "schedule_payment_polls",
    "schedule_slot",
    "token_keepalive",
    "webhooks",
]
