"""SQS adapter: send JSON messages and stretch a message's visibility for the next retry.

The thin boto3 edge of the export and delivery queues; callers pass plain dicts and never see boto3.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from sagebridge.domain.errors import ConfigurationError, NotFoundError, SageBridgeError, ThrottledError
from sagebridge.store.aws import AwsClients

# SQS allows at most 12 hours of invisibility and 15 minutes of delay.
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
MAX_DELAY_SECONDS = 15 * 60
MAX_BATCH_MESSAGES = 10  # SendMessageBatch: at most 10 entries and 256 KiB in all
MAX_BATCH_BYTES = 256 * 1024


class QueueError(SageBridgeError):
    """SQS refused a request for a reason other than throttling or a missing queue."""


def _translate(exc: ClientError, queue_url: str) -> SageBridgeError:
    code = exc.response.get("Error", {}).get("Code", "")
    if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
        return ConfigurationError(f"queue {queue_url} does not exist")
    if code in ("ReceiptHandleIsInvalid", "MessageNotInflight"):
        return NotFoundError(f"message is no longer in flight on {queue_url}")
    if code in ("ThrottlingException", "RequestThrottled", "KmsThrottled"):
        return ThrottledError(f"SQS throttled a request to {queue_url}")
    return QueueError(f"SQS {code or 'error'} on {queue_url}")


class MessageQueue:
    """One SQS queue."""

    def __init__(self, queue_url: str, clients: AwsClients) -> None:
        if not queue_url:
            raise ConfigurationError("a queue URL is required")
        self.queue_url = queue_url
        self._clients = clients

    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        """Send `body` as JSON; returns the SQS message id."""
        try:
            reply = self._clients.sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=json.dumps(body, separators=(",", ":"), default=str),
                DelaySeconds=max(0, min(int(delay_seconds), MAX_DELAY_SECONDS)),
            )
        except ClientError as exc:
            raise _translate(exc, self.queue_url) from None
        return str(reply["MessageId"])

    def send_batch(self, bodies: list[dict[str, Any]]) -> None:
        """Send many JSON bodies, 10 per SendMessageBatch (and within its 256 KiB); an entry SQS
        refuses is sent again on its own (raising if that fails too)."""
        encoded = [json.dumps(b, separators=(",", ":"), default=str) for b in bodies]
        batch: list[str] = []
        size = 0
        for text in encoded:
            if batch and (len(batch) == MAX_BATCH_MESSAGES or size + len(text.encode()) > MAX_BATCH_BYTES):
                self._send_batch(batch)
                batch, size = [], 0
            batch.append(text)
            size += len(text.encode())
        if batch:
            self._send_batch(batch)

    def _send_batch(self, texts: list[str]) -> None:
        try:
            reply = self._clients.sqs.send_message_batch(
                QueueUrl=self.queue_url, Entries=[{"Id": str(i), "MessageBody": t} for i, t in enumerate(texts)])
        except ClientError as exc:
            raise _translate(exc, self.queue_url) from None
        for failed in reply.get("Failed") or []:
            self.send(json.loads(texts[int(failed["Id"])]))

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Hide a received message for `seconds` more: how a failed attempt schedules the next."""
        try:
            self._clients.sqs.change_message_visibility(
                QueueUrl=self.queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=max(0, min(int(seconds), MAX_VISIBILITY_SECONDS)),
            )
        except ClientError as exc:
            raise _translate(exc, self.queue_url) from None

    def max_receive_count(self) -> int | None:
        """The queue's redrive maxReceiveCount (receives before the DLQ); None if it has no DLQ.
        Read from the queue itself so the retry logic can never disagree with the template."""
        try:
            reply = self._clients.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"])
        except ClientError as exc:
            raise _translate(exc, self.queue_url) from None
        policy = reply.get("Attributes", {}).get("RedrivePolicy")
        if not policy:
            return None
        return int(json.loads(policy)["maxReceiveCount"])
