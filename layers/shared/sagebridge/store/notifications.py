"""SNS adapter for failure notifications: operators subscribe their email to the topic and get a
readable summary when a run has failures or a tenant's connection dies."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from botocore.exceptions import ClientError

from sagebridge.domain.errors import ConfigurationError, SageBridgeError
from sagebridge.store.aws import AwsClients

_SUBJECT_LIMIT = 100  # SNS: ASCII, no line breaks, at most 100 characters
_MESSAGE_LIMIT = 200_000  # below SNS's 256 KB with room for the truncation note
_MAX_LISTED = 50


class NotificationError(SageBridgeError):
    """SNS refused to publish."""


@dataclass
class FailureSummary:
    """What went wrong, in words an operator reads in an email."""

    title: str  # "Export run 2024-05-01T10:15 for tenant acme: 3 failed"
    tenant_id: str | None = None
    run_id: str | None = None
    problems: list[str] = field(default_factory=list)  # one line each: "sales_invoice INV-7: tax code T9 not mapped"
    hint: str | None = None  # what to do about it

    def subject(self) -> str:
        text = " ".join(f"Sage Bridge: {self.title}".split())
        text = text.encode("ascii", "replace").decode()
        return text if len(text) <= _SUBJECT_LIMIT else text[: _SUBJECT_LIMIT - 3] + "..."

    def render(self) -> str:
        lines = [self.title, ""]
        if self.tenant_id:
            lines.append(f"Tenant: {self.tenant_id}")
        if self.run_id:
            lines.append(f"Run: {self.run_id}")
        if self.problems:
            lines += ["", f"Problems ({len(self.problems)}):"]
            lines += [f"  - {p}" for p in self.problems[:_MAX_LISTED]]
            if len(self.problems) > _MAX_LISTED:
                lines.append(f"  ... and {len(self.problems) - _MAX_LISTED} more (see the sync log)")
        if self.hint:
            lines += ["", self.hint]
        text = "\n".join(lines)
        return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "\n[truncated]"


class Notifier:
    """Publishes to the notification topic."""

    def __init__(self, topic_arn: str, clients: AwsClients) -> None:
        if not topic_arn:
            raise ConfigurationError("NOTIFICATION_TOPIC_ARN is not set")
        self.topic_arn = topic_arn
        self._clients = clients

    def publish(self, summary: FailureSummary) -> str:
        attributes = {}
        if summary.tenant_id:
            # Lets a subscription filter to one tenant's failures.
            attributes["tenant_id"] = {"DataType": "String", "StringValue": summary.tenant_id}
        try:
            reply = self._clients.sns.publish(
                TopicArn=self.topic_arn,
                Subject=summary.subject(),
                Message=summary.render(),
                MessageAttributes=attributes,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise NotificationError(f"SNS {code} publishing to {self.topic_arn}") from None
        return str(reply["MessageId"])


@lru_cache(maxsize=1)
def _default_clients() -> AwsClients:
    return AwsClients()


def notify_failure(
    summary: FailureSummary | str,
    *,
    topic_arn: str | None = None,
    clients: AwsClients | None = None,
    tenant_id: str | None = None,
) -> str:
    """Email operators (through the SNS topic) a summary of a failed run or a dead connection.

    `summary` is a FailureSummary or plain text (its first line becomes the subject). The topic
    defaults to NOTIFICATION_TOPIC_ARN from the settings. Returns the SNS message id.
    """
    if isinstance(summary, str):
        title, _, rest = summary.strip().partition("\n")
        summary = FailureSummary(
            title=title or "failure", tenant_id=tenant_id, problems=[ln for ln in rest.splitlines() if ln.strip()]
        )
    elif tenant_id and not summary.tenant_id:
        summary.tenant_id = tenant_id
    if topic_arn is None:
        from sagebridge.settings import get_settings

        topic_arn = get_settings().notification_topic_arn
    return Notifier(topic_arn, clients or _default_clients()).publish(summary)
