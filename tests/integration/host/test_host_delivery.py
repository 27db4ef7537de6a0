"""Outbound deliveries through the real host_delivery handler: SQS (moto, with its real receive
counts and DLQ redrive) -> signed POST -> the host app sandbox, and the delivery records in
DynamoDB Local."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from local.runtime import LambdaContext
from local.sandboxes.host_app import HostApp, create_app
from sagebridge.domain.errors import NotFoundError
from sagebridge.host.delivery import BASE_DELAY_SECONDS, NotResendable, resend, resend_failed
from sagebridge.host.outbound import (
    OUTBOUND_API_VERSION,
    ConnectionStatusChanged,
    DeliveryOutbox,
    DocumentLink,
    InvoicePartPaid,
    enqueue_delivery,
)
from sagebridge.store.aws import AwsClients
from sagebridge.store.deliveries import Deliveries
from sagebridge.store.notifications import FailureSummary, notify_failure
from sagebridge.store.queues import MessageQueue
from sagebridge.store.records import DeliveryState
from tests.integration.host.conftest import MAX_RECEIVE_COUNT, REGION, SECRET, TENANT, Env, load_handler_module


class FastRetryQueue:
    """The real queue, but every backoff is recorded and then cut to zero so the test need not
    wait; moto still counts receives and redrives to the DLQ exactly as SQS does."""

    def __init__(self, real: MessageQueue) -> None:
        self.real, self.delays = real, []

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        self.delays.append(seconds)
        self.real.change_visibility(receipt_handle, 0)


@pytest.fixture
def delivery(env: Env, host_app: HostApp) -> Any:
    env.create_tenant()
    module = load_handler_module("host_delivery")
    deps = module.dependencies()
    assert deps.max_receive_count == MAX_RECEIVE_COUNT  # read from the queue's redrive policy
    deps.http = TestClient(create_app(host_app))
    deps.queue = FastRetryQueue(deps.queue)
    deps.jitter = lambda: 1.0
    return module


def outbox(env: Env) -> DeliveryOutbox:
    clients = AwsClients(sqs=env.sqs)
    return DeliveryOutbox(MessageQueue(env.delivery_queue_url, clients), Deliveries(env.table))


def part_paid(outstanding: str = "70.00") -> InvoicePartPaid:
    return InvoicePartPaid(
        invoice=DocumentLink(kind="sales_invoice", host_id="INV-1001", sage_id="s-1", number="INV-1001"),
        total_amount=Decimal("120.00"), outstanding_amount=Decimal(outstanding),
    )


def pump(env: Env, module: Any, *, rounds: int = 10) -> list[dict[str, Any]]:
    """Play Lambda's SQS poller: receive, invoke, delete what succeeded; until the queue is empty."""
    replies = []
    attributes = env.sqs.get_queue_attributes(QueueUrl=env.delivery_queue_url, AttributeNames=["QueueArn"])
    arn = attributes["Attributes"]["QueueArn"]
    for _ in range(rounds):
        got = env.sqs.receive_message(QueueUrl=env.delivery_queue_url, MaxNumberOfMessages=5,
                                      AttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
        if not got:
            break
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m["Attributes"], "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": REGION,
        } for m in got]}
        reply = module.lambda_handler(event, LambdaContext("HostDeliveryFunction", 512, 30))
        failed = {f["itemIdentifier"] for f in reply["batchItemFailures"]}
        for m in got:
            if m["MessageId"] not in failed:
                env.sqs.delete_message(QueueUrl=env.delivery_queue_url, ReceiptHandle=m["ReceiptHandle"])
        replies.append(reply)
    return replies


def test_enqueue_is_idempotent_and_records_queued(env: Env) -> None:
    env.create_tenant()
    first = enqueue_delivery(outbox(env), TENANT, part_paid())
    again = enqueue_delivery(outbox(env), TENANT, part_paid())
    other = enqueue_delivery(outbox(env), TENANT, part_paid("10.00"))
    assert first.queued and not again.queued and other.queued
    assert first.event_id == again.event_id != other.event_id
    assert Deliveries(env.table).get(first.event_id).state is DeliveryState.QUEUED
    messages = env.messages(env.delivery_queue_url)
    assert [m["event_id"] for m in messages] == [first.event_id, other.event_id]
    assert messages[0]["event"]["type"] == "invoice.part_paid"
    assert messages[0]["event"]["data"]["outstanding_amount"] == "70.00"


def test_delivered_signed_with_idempotency_key(env: Env, delivery: Any, host_app: HostApp) -> None:
    queued = enqueue_delivery(outbox(env), TENANT, part_paid())
    [reply] = pump(env, delivery)
    assert reply == {"batchItemFailures": []}
    [got] = host_app.received
    assert got.verified and got.idempotency_key == queued.event_id and got.event_type == "invoice.part_paid"
    assert got.event["tenant_id"] == TENANT and got.event["data"]["invoice"]["sage_id"] == "s-1"
    record = Deliveries(env.table).get(queued.event_id)
    assert record.state is DeliveryState.DELIVERED and record.attempts == 1


def test_host_recovers_after_failures_delivered_exactly_once(env: Env, delivery: Any, host_app: HostApp) -> None:
    host_app.fail_next(2, 503)
    queued = enqueue_delivery(outbox(env), TENANT, part_paid())
    replies = pump(env, delivery)
    assert [len(r["batchItemFailures"]) for r in replies] == [1, 1, 0]
    assert host_app.delivered_ids() == [queued.event_id]
    assert [r.status for r in host_app.received] == [503, 503, 200]
    record = Deliveries(env.table).get(queued.event_id)
    assert record.state is DeliveryState.DELIVERED and record.attempts == 3
    # exponential backoff between the attempts
    assert delivery.dependencies().queue.delays == [BASE_DELAY_SECONDS, 2 * BASE_DELAY_SECONDS]
    assert env.messages(env.delivery_dlq_url) == []


def test_a_duplicate_message_is_not_delivered_twice(env: Env, delivery: Any, host_app: HostApp) -> None:
    queued = enqueue_delivery(outbox(env), TENANT, part_paid())
    pump(env, delivery)
    # The same message again (e.g. SQS at-least-once, or an operator's redrive).
    [message] = [json.dumps(m) for m in [_message_for(env, queued.event_id)]]
    env.sqs.send_message(QueueUrl=env.delivery_queue_url, MessageBody=message)
    assert pump(env, delivery) == [{"batchItemFailures": []}]
    assert host_app.delivered_ids() == [queued.event_id]


def _message_for(env: Env, event_id: str) -> dict[str, Any]:
    from sagebridge.host.outbound import build_event, delivery_message

    event = build_event(TENANT, part_paid())
    assert event.id == event_id
    return delivery_message(event)


def test_retries_end_in_the_dlq_after_the_limit(env: Env, delivery: Any, host_app: HostApp) -> None:
    host_app.fail_next(100, 500)
    queued = enqueue_delivery(outbox(env), TENANT, part_paid())
    replies = pump(env, delivery)
    assert len(replies) == MAX_RECEIVE_COUNT and all(len(r["batchItemFailures"]) == 1 for r in replies)
    assert len(host_app.received) == MAX_RECEIVE_COUNT
    [dead] = env.messages(env.delivery_dlq_url)
    assert dead["event_id"] == queued.event_id
    record = Deliveries(env.table).get(queued.event_id)
    assert record.state is DeliveryState.FAILED and record.attempts == MAX_RECEIVE_COUNT
    assert "dead-letter" in (record.last_error or "")
    assert record.dead_lettered and record.last_status == 500 and "sandbox failure mode" in (record.last_response or "")
    [note] = env.notifications()
    assert queued.event_id in note and "host_callback_url" in note and SECRET not in note
    assert "redrive the HostDeliveryDLQ" in note  # it is in the DLQ: the redrive applies


def test_a_4xx_is_not_retried(env: Env, delivery: Any, host_app: HostApp) -> None:
    host_app.fail_next(1, 400)
    queued = enqueue_delivery(outbox(env), TENANT, part_paid())
    assert pump(env, delivery) == [{"batchItemFailures": []}]
    assert len(host_app.received) == 1
    record = Deliveries(env.table).get(queued.event_id)
    assert record.state is DeliveryState.FAILED and "400" in (record.last_error or "")
    assert env.messages(env.delivery_dlq_url) == [] and env.messages(env.delivery_queue_url) == []
    # Nothing went to the DLQ, so operators are not told to redrive it: they are told to resend.
    [note] = env.notifications()
    assert "DLQ" not in note and f"sagebridge deliveries {TENANT} --resend {queued.event_id}" in note


@pytest.mark.parametrize("status", [408, 429])
def test_408_and_429_are_retried_honouring_retry_after(env: Env, delivery: Any, host_app: HostApp, status: int) -> None:
    host_app.fail_next(1, status, retry_after=900)
    queued = enqueue_delivery(outbox(env), TENANT, part_paid())
    pump(env, delivery)
    assert delivery.dependencies().queue.delays == [900]
    assert host_app.delivered_ids() == [queued.event_id]


def test_a_host_with_a_wrong_secret_sees_a_bad_signature(env: Env, delivery: Any, host_app: HostApp) -> None:
    host_app.secrets = ["something-else"]
    revoked = ConnectionStatusChanged(provider="sage_accounting", status="revoked")
    queued = enqueue_delivery(outbox(env), TENANT, revoked)
    pump(env, delivery)
    assert not host_app.received[0].verified
    assert Deliveries(env.table).get(queued.event_id).state is DeliveryState.FAILED  # 401: not retried
    # Kept and listed, but no second mail: operators are told of connection changes directly.
    assert env.notifications() == []


def test_no_callback_url_is_a_recorded_failure(env: Env, host_app: HostApp) -> None:
    env.create_tenant("quiet", host_callback_url=None)
    module = load_handler_module("host_delivery")
    module.dependencies().http = TestClient(create_app(host_app))
    queued = enqueue_delivery(outbox(env), "quiet", part_paid())
    assert pump(env, module) == [{"batchItemFailures": []}]
    assert host_app.received == []
    assert "host_callback_url" in (Deliveries(env.table).get(queued.event_id).last_error or "")


def test_notify_failure_publishes_a_readable_summary(env: Env) -> None:
    clients = AwsClients(sns=env.sns)
    problems = ["sales_invoice INV-1: tax code T9 not mapped", "sales_invoice INV-2: Sage 500"]
    notify_failure(FailureSummary(title="export run for tenant acme: 2 failed", tenant_id="acme", run_id="r1",
                                  problems=problems), clients=clients)
    notify_failure("connection to Sage died for tenant acme\nthe refresh token was revoked", clients=clients)
    first, second = env.notifications()
    assert "Problems (2):" in first and "INV-1: tax code T9 not mapped" in first and "Run: r1" in first
    assert second.startswith("connection to Sage died") and "refresh token was revoked" in second


def test_a_delivery_refused_for_a_wrong_secret_is_kept_listed_resent_and_then_received_once(
        env: Env, delivery: Any, host_app: HostApp) -> None:
    """Issue 18: a 4xx used to be recorded failed and dropped, so payment news was lost."""
    host_app.secrets = ["the-host-still-has-the-old-secret"]
    queued = enqueue_delivery(outbox(env), TENANT, part_paid())
    pump(env, delivery)
    assert host_app.delivered_ids() == [] and host_app.received[0].status == 401

    # Kept, with the host's answer, and listed for the tenant (newest first).
    deliveries = Deliveries(env.table)
    [listed] = deliveries.of_tenant(TENANT, state=DeliveryState.FAILED).items
    assert listed.event_id == queued.event_id and listed.last_status == 401 and not listed.dead_lettered
    assert "invalid_signature" in (listed.last_response or "") and listed.last_attempt_at is not None
    assert listed.event is not None and listed.event["data"]["outstanding_amount"] == "70.00"
    assert [d.event_id for d in deliveries.of_tenant(TENANT).items] == [queued.event_id]

    # The host fixes its secret; the operator sends it again: received once, signed, same event id.
    host_app.secrets = [SECRET]
    again = resend(MessageQueue(env.delivery_queue_url, AwsClients(sqs=env.sqs)), deliveries, TENANT,
                   queued.event_id)
    assert again.state is DeliveryState.QUEUED
    pump(env, delivery)
    [got] = host_app.delivered()
    assert got.verified and got.idempotency_key == queued.event_id and got.event is not None
    assert got.event["data"]["outstanding_amount"] == "70.00" and got.event["api_version"] == OUTBOUND_API_VERSION
    record = deliveries.get(queued.event_id)
    assert record.state is DeliveryState.DELIVERED and record.attempts == 2 and record.last_status == 200

    # Delivered: not sent a second time, by a resend or a stray copy.
    with pytest.raises(NotResendable, match="delivered already"):
        resend(MessageQueue(env.delivery_queue_url, AwsClients(sqs=env.sqs)), deliveries, TENANT, queued.event_id)
    with pytest.raises(NotFoundError):
        resend(MessageQueue(env.delivery_queue_url, AwsClients(sqs=env.sqs)), deliveries, "globex", queued.event_id)
    assert host_app.delivered_ids() == [queued.event_id]


def test_resend_all_failed_sends_every_refused_delivery_once(env: Env, delivery: Any, host_app: HostApp) -> None:
    host_app.fail_next(2, 410)
    first = enqueue_delivery(outbox(env), TENANT, part_paid("70.00"))
    second = enqueue_delivery(outbox(env), TENANT, part_paid("20.00"))
    pump(env, delivery)
    deliveries = Deliveries(env.table)
    assert {d.event_id for d in deliveries.of_tenant(TENANT, state=DeliveryState.FAILED)} == {
        first.event_id, second.event_id}
    sent = resend_failed(MessageQueue(env.delivery_queue_url, AwsClients(sqs=env.sqs)), deliveries, TENANT)
    assert {r.event_id for r in sent} == {first.event_id, second.event_id}
    pump(env, delivery)
    assert sorted(host_app.delivered_ids()) == sorted([first.event_id, second.event_id])
    assert deliveries.of_tenant(TENANT, state=DeliveryState.FAILED).items == []


def test_every_envelope_carries_the_api_version(env: Env, delivery: Any, host_app: HostApp) -> None:
    enqueue_delivery(outbox(env), TENANT, part_paid())
    pump(env, delivery)
    [got] = host_app.delivered()
    assert got.event is not None and got.event["api_version"] == OUTBOUND_API_VERSION == "1.1"


def test_the_last_event_of_a_deleted_tenant_is_dropped_without_a_record_or_a_mail(env: Env, delivery: Any,
                                                                                 host_app: HostApp) -> None:
    """Deleting a tenant disconnects it first, which queues connection.status_changed: by the time it
    is delivered the tenant is gone; operators are not mailed about it and no record outlives it."""
    env.create_tenant("gone")
    queued = enqueue_delivery(outbox(env), "gone", ConnectionStatusChanged(provider="sage_accounting",
                                                                          status="disconnected"))
    env.tenants.delete("gone")
    assert pump(env, delivery) == [{"batchItemFailures": []}]
    assert host_app.received == [] and env.notifications() == []
    assert Deliveries(env.table).find(queued.event_id) is None


def test_a_tenant_without_a_callback_url_mails_operators_once_not_per_event(env: Env, host_app: HostApp) -> None:
    """Every export now sends news (document.exported): a tenant whose host_callback_url is not set
    mailed operators once per exported document. The first is mailed; the rest are kept, listed and
    resent together once the URL is set."""
    env.create_tenant("quiet", host_callback_url=None)
    module = load_handler_module("host_delivery")
    module.dependencies().http = TestClient(create_app(host_app))
    for outstanding in ("70.00", "50.00", "0.00"):
        enqueue_delivery(outbox(env), "quiet", part_paid(outstanding))
    pump(env, module)

    mails = env.notifications()
    assert len(mails) == 1 and "host_callback_url" in mails[0] and "--resend-failed" in mails[0]
    assert len(Deliveries(env.table).of_tenant("quiet", state=DeliveryState.FAILED)) == 3


def test_a_host_refusing_every_event_mails_operators_once_not_per_event(env: Env, delivery: Any,
                                                                       host_app: HostApp) -> None:
    """A wrong secret refuses every event with the same 401: one mail, every refused event kept."""
    for outstanding in ("70.00", "50.00", "0.00"):
        host_app.fail_next(1, 401)
        enqueue_delivery(outbox(env), TENANT, part_paid(outstanding))
        pump(env, delivery)
    assert len(env.notifications()) == 1
    assert len(Deliveries(env.table).of_tenant(TENANT, state=DeliveryState.FAILED)) == 3
