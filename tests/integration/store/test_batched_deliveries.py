"""Events queued many at once (`enqueue_deliveries`): each once, the delivered never recorded back
to queued, the known found with one batch read, the new sent 10 per SendMessageBatch (SQS from moto)
and recorded with conditional writes 100 per transaction (DynamoDB Local)."""

from __future__ import annotations

import json
from typing import Any

import boto3
from moto import mock_aws

from sagebridge.host.outbound import DeliveryOutbox, ExportRunFailed, Outgoing, enqueue_deliveries
from sagebridge.store import Store
from sagebridge.store.aws import AwsClients
from sagebridge.store.queues import MessageQueue
from sagebridge.store.records import DeliveryState


def _events(n: int) -> list[Outgoing]:
    return [Outgoing(ExportRunFailed(run_id=f"run-{i}", reason="a reason"), dedupe_key=f"k{i}") for i in range(n)]


def test_many_events_are_queued_once_each_in_batches(store: Store, dynamodb_client: Any) -> None:
    calls: list[str] = []
    store.table.client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    with mock_aws(config={"core": {"passthrough": {"services": ["dynamodb"]}}}):
        sqs = boto3.client("sqs", region_name="eu-west-2")
        url = sqs.create_queue(QueueName="host-delivery")["QueueUrl"]
        sends: list[str] = []
        sqs.meta.events.register("before-call.sqs", lambda model, **_: sends.append(model.name))
        outbox = DeliveryOutbox(MessageQueue(url, AwsClients(sqs=sqs)), store.deliveries)

        first = enqueue_deliveries(outbox, "acme", _events(3))
        # One of them delivered meanwhile: a later batch must not record it back to queued.
        store.deliveries.record(first[0].event_id, "acme", DeliveryState.DELIVERED, attempts=1)
        sends.clear()
        calls.clear()
        answers = enqueue_deliveries(outbox, "acme", _events(25) + _events(2))

        assert [a.queued for a in answers] == [False] * 3 + [True] * 22 + [False] * 2
        assert sends == ["SendMessageBatch"] * 3, sends  # 22 new events, 10 a request
        assert calls == ["BatchGetItem", "TransactWriteItems"], calls
        bodies = []
        while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            bodies += [json.loads(m["Body"]) for m in got]
            sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                            for i, m in enumerate(got)])
        assert len(bodies) == 25 and len({b["event_id"] for b in bodies}) == 25
    assert store.deliveries.get(first[0].event_id).state is DeliveryState.DELIVERED
    assert store.deliveries.get(answers[10].event_id).state is DeliveryState.QUEUED


def test_conditional_writes_many_at_once_skip_those_whose_condition_fails(store: Store) -> None:
    store.deliveries.record("evt_delivered", "acme", DeliveryState.DELIVERED, attempts=1)
    writes = [store.deliveries.record_op(e, "acme", DeliveryState.QUEUED)
              for e in ("evt_a", "evt_delivered", "evt_b")]
    assert store.table.transact_each(writes) == [True, False, True]
    assert store.deliveries.get("evt_delivered").state is DeliveryState.DELIVERED
    assert store.deliveries.known(["evt_a", "evt_b", "evt_never"]) == {"evt_a", "evt_b"}
