"""The tenants' failure emails through SNS: one topic for every tenant's digests, each message
carrying a `tenant_id` attribute, and one email subscription per address whose filter policy names
the tenants that address follows (SNS keeps one subscription per address and topic, so an address
two tenants list is one subscription whose policy names both).

What is kept in the table:
- which failures were mailed (TENANT#t / MAILED#kind#host_id: the reason and what Sage held then),
  so the same failure is never mailed twice; deleted with the tenant;
- the address registry (FAILURE_EMAIL#<address> / SUBSCRIPTION: its subscription ARN and tenants),
  so a settings save touches only the addresses it adds or removes, never a scan of the topic.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sagebridge.domain.errors import ConfigurationError
from sagebridge.store import keys
from sagebridge.store.aws import AwsClients
from sagebridge.store.notifications import NotificationError
from sagebridge.store.table import Table, iso, put

_log = logging.getLogger(__name__)

DIGEST_KIND = "failure_digest"  # the `kind` message attribute: a subscription can filter on it too


def reason_key(reason: str) -> str:
    return hashlib.sha256(reason.strip().encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class MailedFailure:
    kind: str
    host_id: str
    reason_key: str
    exported_hash: str | None  # what Sage held when it was mailed: a change means it exported since


class MailedFailures:
    """Which failures a tenant's digest has told (so a failure is mailed once)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def find_many(self, tenant_id: str, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], MailedFailure]:
        pk = keys.tenant_pk(tenant_id)
        items = self._table.batch_get([(pk, _sk(kind, host_id)) for kind, host_id in refs])
        return {(i["kind"], i["host_id"]): MailedFailure(i["kind"], i["host_id"], i["reason_key"],
                                                         i.get("exported_hash")) for i in items}

    def remember(self, tenant_id: str, mailed: list[MailedFailure], run_id: str) -> None:
        pk, now = keys.tenant_pk(tenant_id), iso(self._table.now())
        self._table.batch_put([put({
            "pk": pk, "sk": _sk(m.kind, m.host_id), "tenant_id": tenant_id, "kind": m.kind, "host_id": m.host_id,
            "reason_key": m.reason_key, "exported_hash": m.exported_hash, "run_id": run_id, "mailed_at": now,
        }) for m in mailed])


def _sk(kind: str, host_id: str) -> str:
    return f"MAILED#{keys.name(kind, 'kind')}#{keys.external_id(host_id, 'host id')}"


class FailureEmails:
    """Publishes digests to the tenants' failure topic and keeps its subscriptions in step with the
    tenants' `failure_emails` (the settings service calls `follow` on every save that changes them)."""

    def __init__(self, topic_arn: str, clients: AwsClients, table: Table) -> None:
        if not topic_arn:
            raise ConfigurationError("FAILURE_DIGEST_TOPIC_ARN is not set")
        self.topic_arn = topic_arn
        self._clients = clients
        self._table = table

    # ---- publishing

    def publish(self, tenant_id: str, subject: str, message: str) -> str:
        try:
            reply = self._clients.sns.publish(
                TopicArn=self.topic_arn, Subject=subject, Message=message,
                MessageAttributes={
                    "tenant_id": {"DataType": "String", "StringValue": tenant_id},  # the subscriptions filter on it
                    "kind": {"DataType": "String", "StringValue": DIGEST_KIND},
                },
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise NotificationError(f"SNS {code} publishing to {self.topic_arn}") from None
        return str(reply["MessageId"])

    # ---- subscriptions

    def follow(self, tenant_id: str, before: Iterable[str], after: Iterable[str]) -> None:
        """Subscribe the addresses added (each confirms by the link SNS mails it) and drop the
        tenant from the addresses removed. Best effort per address: one SNS refusal is logged and
        does not stop the others (the next save tries again)."""
        old, new = {a.strip().lower() for a in before}, {a.strip().lower() for a in after}
        for address in sorted(new - old):
            self._change(address, tenant_id, add=True)
        for address in sorted(old - new):
            self._change(address, tenant_id, add=False)

    def _change(self, address: str, tenant_id: str, *, add: bool) -> None:
        key = (f"FAILURE_EMAIL#{address}", "SUBSCRIPTION")
        item = self._table.get(*key) or {}
        tenants = set(item.get("tenants") or [])
        tenants = tenants | {tenant_id} if add else tenants - {tenant_id}
        arn: str | None = item.get("subscription_arn")
        sns = self._clients.sns
        try:
            if not tenants:
                if arn:
                    sns.unsubscribe(SubscriptionArn=arn)
                self._table.batch_delete([key])
                return
            policy = json.dumps({"tenant_id": sorted(tenants)})
            if arn:
                try:
                    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy",
                                                    AttributeValue=policy)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "NotFound":
                        raise
                    arn = None  # the address unsubscribed itself: subscribe it again
            if not arn:
                arn = str(sns.subscribe(TopicArn=self.topic_arn, Protocol="email", Endpoint=address,
                                        Attributes={"FilterPolicy": policy}, ReturnSubscriptionArn=True
                                        )["SubscriptionArn"])
            self._table.write(put({"pk": key[0], "sk": key[1], "address": address, "subscription_arn": arn,
                                   "tenants": sorted(tenants), "updated_at": iso(self._table.now())}))
        except ClientError as exc:
            _log.warning("failure_email_subscription_not_changed", extra={
                "tenant_id": tenant_id, "add": add, "error": exc.response.get("Error", {}).get("Code", "error")})


def subscriptions_of(clients: AwsClients, topic_arn: str) -> list[dict[str, Any]]:
    """Every subscription of the topic with its filter policy (tests, and operators' checks)."""
    out: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = clients.sns.list_subscriptions_by_topic(TopicArn=topic_arn, **({"NextToken": token} if token else {}))
        for sub in page.get("Subscriptions", []):
            attrs = {}
            if sub["SubscriptionArn"].startswith("arn:"):
                attrs = clients.sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
            out.append({**sub, "FilterPolicy": json.loads(attrs["FilterPolicy"]) if "FilterPolicy" in attrs else None})
        if not (token := page.get("NextToken")):
            return out


__all__ = ["DIGEST_KIND", "FailureEmails", "MailedFailure", "MailedFailures", "reason_key", "subscriptions_of"]
