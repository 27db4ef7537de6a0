"""The host contract's fixtures: the real handlers (webhooks, host_delivery) wired by their own code to
DynamoDB Local (the store's fixture) and moto for Secrets Manager, SQS and SNS."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.runtime import LambdaContext
from local.sandboxes.host_app import HostApp, WebhookSender
from sagebridge.host.secrets import webhook_secret_value
from sagebridge.settings import get_settings
from sagebridge.store.table import Table
from sagebridge.store.tenants import Tenants

ROOT = Path(__file__).resolve().parents[3]
REGION = "eu-west-2"
TENANT = "acme"
SECRET = "whsec_test_current_secret_value_0001"
OLD_SECRET = "whsec_test_previous_secret_value_02"
CALLBACK_URL = "http://host.test/callback"
MAX_RECEIVE_COUNT = 3
SETTINGS_SECRET = "sage-bridge-test/settings"


def load_handler_module(function: str) -> ModuleType:
    """functions/<function>/app.py under a name of its own (every handler module is called app)."""
    name = f"_test_{function}_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / function / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Env:
    table: Table
    table_name: str
    idempotency_table: str
    dynamodb: Any
    sqs: Any
    sns: Any
    secretsmanager: Any
    export_queue_url: str
    delivery_queue_url: str
    delivery_dlq_url: str
    notifications_queue_url: str  # subscribed to the topic, to read what operators would get

    @property
    def tenants(self) -> Tenants:
        return Tenants(self.table)

    def create_tenant(self, tenant_id: str = TENANT, *, enabled: bool = True, secret: str | None = SECRET,
                      previous: str | None = None, **settings: Any) -> None:
        self.tenants.create(tenant_id, {
            "provider": "sage_accounting", "trigger_statuses": ["pending_payment"],
            "host_callback_url": CALLBACK_URL, **settings,
        }, enabled=enabled)
        if secret:
            self.secretsmanager.create_secret(
                Name=f"sage-bridge-test/tenants/{tenant_id}/webhook",
                SecretString=webhook_secret_value(secret, previous),
            )

    def scan(self) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=self.table_name, ConsistentRead=True)["Items"]
        return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))

    def messages(self, queue_url: str, *, delete: bool = True) -> list[Any]:
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                           AttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return out
            for m in got:
                out.append(m["Body"] if queue_url == self.notifications_queue_url else json.loads(m["Body"]))
                if delete:
                    self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    def notifications(self) -> list[str]:
        """The text of every failure notification published (raw SNS -> SQS delivery)."""
        return self.messages(self.notifications_queue_url)


@pytest.fixture
def env(app_table: str, dynamodb_client: Any, dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    idempotency_table = app_table.replace("app-", "idempotency-")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    # DynamoDB goes to DynamoDB Local (the real engine); the rest is moto.
    with mock_aws(config={"core": {"passthrough": {"services": ["dynamodb"]}}}):
        # DynamoDB Local keeps one namespace per access key: use the store fixture's, not moto's.
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        sqs = boto3.client("sqs", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        secretsmanager = boto3.client("secretsmanager", region_name=REGION)
        export_url = sqs.create_queue(QueueName="export-jobs")["QueueUrl"]
        dlq_url = sqs.create_queue(QueueName="host-delivery-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        delivery_url = sqs.create_queue(QueueName="host-delivery", Attributes={
            "VisibilityTimeout": "180",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
        })["QueueUrl"]
        topic_arn = sns.create_topic(Name="notifications")["TopicArn"]
        notes_url = sqs.create_queue(QueueName="notifications-inbox")["QueueUrl"]
        notes_arn = sqs.get_queue_attributes(QueueUrl=notes_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=notes_arn, Attributes={"RawMessageDelivery": "true"})
        secretsmanager.create_secret(Name=SETTINGS_SECRET, SecretString=json.dumps({"state_signing_key": "x" * 40}))

        for name, value in {
            "TABLE_NAME": app_table, "IDEMPOTENCY_TABLE_NAME": idempotency_table, "TOKEN_KEY_ID": "alias/test",
            "EXPORT_QUEUE_URL": export_url, "DELIVERY_QUEUE_URL": delivery_url, "PAYMENT_POLL_QUEUE_URL": "q",
            "NOTIFICATION_TOPIC_ARN": topic_arn, "SETTINGS_SECRET_NAME": SETTINGS_SECRET, "STAGE": "dev",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        webhooks, delivery = load_handler_module("webhooks"), load_handler_module("host_delivery")
        webhooks.dependencies.cache_clear()
        delivery.dependencies.cache_clear()
        yield Env(
            table=Table(app_table, dynamodb_client), table_name=app_table, idempotency_table=idempotency_table,
            dynamodb=dynamodb_client, sqs=sqs, sns=sns, secretsmanager=secretsmanager,
            export_queue_url=export_url, delivery_queue_url=delivery_url, delivery_dlq_url=dlq_url,
            notifications_queue_url=notes_url,
        )
        webhooks.dependencies.cache_clear()
        delivery.dependencies.cache_clear()
        get_settings.cache_clear()


@pytest.fixture
def webhooks_handler(env: Env) -> Any:
    return load_handler_module("webhooks").lambda_handler


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext("WebhooksFunction", 512, 30)


@pytest.fixture
def sender(env: Env, webhooks_handler: Any, lambda_context: LambdaContext) -> WebhookSender:
    env.create_tenant()
    return WebhookSender(TENANT, SECRET, handler=webhooks_handler, context=lambda_context)


@pytest.fixture
def host_app() -> HostApp:
    return HostApp(secrets=[SECRET])
