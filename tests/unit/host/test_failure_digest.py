"""The tenant's failure emails (issue 18, item 4): one digest per export run with new failures to act
on, never repeated for the same failure, published to the deployment's SNS topic with a `tenant_id`
attribute that each address's subscription filters on. Moto for SNS, SQS and DynamoDB; the real admin
handler and export worker against the Sage sandbox in process.

A queue subscribed to the topic stands in for a mailbox: it receives exactly what SNS would mail
(subject, body, attributes), and moto applies its filter policy as SNS does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import template
from sagebridge.composition import failure_digest
from sagebridge.store.aws import AwsClients
from sagebridge.store.failure_emails import FailureEmails, subscriptions_of
from tests.integration.admin.world import TENANT, AdminWorld, invoice

REGION = "eu-west-2"
LINK = "https://host.example/sage/sync-log?tenant={tenant_id}&run={run_id}"


class Mailbox:
    """An SQS queue subscribed to the digest topic, optionally with a filter policy."""

    def __init__(self, sns: Any, sqs: Any, topic: str, name: str, policy: dict[str, Any] | None = None) -> None:
        self.sqs = sqs
        self.url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"FilterPolicy": json.dumps(policy)} if policy else {}
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)

    def mails(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
        for m in got:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in got]


@pytest.fixture
def world() -> Iterator[tuple[AdminWorld, Mailbox, FailureEmails]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        template.create_tables(dynamodb, {"AppTable": "app", "IdempotencyTable": "idempotency"})
        w = AdminWorld(dynamodb, "app")
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="failure-digests")["TopicArn"]
        clients = AwsClients(sns=sns, dynamodb=dynamodb)
        settings = w.settings.model_copy(update={"failure_digest_topic_arn": topic, "failure_digest_link": LINK})
        w.worker.failure_digest = failure_digest(settings, clients, w.store)
        channel = FailureEmails(topic, clients, w.store.table)
        w.admin.failure_emails = channel
        w.create_tenant()
        w.connect()
        yield w, Mailbox(sns, sqs, topic, "acme-inbox", {"tenant_id": [TENANT]}), channel


def export(w: AdminWorld, **body: Any) -> dict[str, Any]:
    answer = w.call("POST", f"/admin/tenants/{TENANT}/exports", {"run": "now", **body})
    assert answer.status == 200, answer.text
    return answer.json["run"]


def set_failure_emails(w: AdminWorld, *addresses: str, tenant: str = TENANT) -> None:
    answer = w.call("PATCH", f"/admin/tenants/{tenant}/settings", {"changes": {"failure_emails": list(addresses)}})
    assert answer.status == 200, answer.text


def test_one_digest_per_run_with_each_document_its_reason_and_fix(world):
    w, inbox, _ = world
    set_failure_emails(w, "books@acme.example")
    w.stage(invoice(1, tax="T9"))
    w.stage(invoice(2, tax="T8"))
    w.stage(invoice(3))  # exported: not in the digest
    run = export(w)
    [mail] = inbox.mails()
    assert mail["MessageAttributes"]["tenant_id"] == {"Type": "String", "Value": TENANT}
    assert mail["MessageAttributes"]["kind"]["Value"] == "failure_digest"
    assert mail["Subject"] == f"Sage sync for {TENANT}: 2 documents need action (2 skipped)"
    body = mail["Message"]
    assert f"The export run {run['run_id']} left 2 documents that need your action: 0 failed, 2 skipped." in body
    assert "1. sales invoice INV-00001 (skipped)" in body and "2. sales invoice INV-00002 (skipped)" in body
    assert "T9" in body and "T8" in body and "INV-00003" not in body
    assert body.count("Fix: map the tax code to a Sage tax rate (Mappings), then replay it") == 2
    assert f"Sync log: https://host.example/sage/sync-log?tenant={TENANT}&run={run['run_id']}" in body


def test_the_same_failure_is_mailed_once_a_new_reason_or_a_new_document_again(world):
    w, inbox, _ = world
    set_failure_emails(w, "books@acme.example")
    w.stage(invoice(1, tax="T9"))
    export(w)
    assert len(inbox.mails()) == 1
    # Every later run that meets it again (an explicit replay logs it again) mails nothing.
    for _ in range(3):
        replayed = w.call("POST", f"/admin/tenants/{TENANT}/replay", {"run": "now"})
        assert replayed.status == 200 and replayed.json["run"]["counts"]["skipped"] == 1, replayed.text
        export(w, export_type="all")
    assert inbox.mails() == []
    # A newly failing document is news; the one already mailed is not listed with it.
    w.stage(invoice(4, tax="T9"))
    export(w)
    [mail] = inbox.mails()
    assert "INV-00004" in mail["Message"] and "INV-00001" not in mail["Message"]
    assert mail["Subject"] == f"Sage sync for {TENANT}: 1 document needs action (1 skipped)"
    # The same document failing for a new reason is news too.
    w.stage(invoice(1, tax="T7"), version=2)
    export(w)
    [mail] = inbox.mails()
    assert "INV-00001" in mail["Message"] and "T7" in mail["Message"] and "INV-00004" not in mail["Message"]


def test_no_mail_without_addresses_for_a_dry_run_or_for_a_draft(world):
    w, inbox, _ = world
    w.stage(invoice(1, tax="T9"))
    export(w)
    assert inbox.mails() == []  # no failure_emails set
    set_failure_emails(w, "books@acme.example")
    w.call("POST", f"/admin/tenants/{TENANT}/exports", {"dry_run": True})
    assert inbox.mails() == []
    w.stage(invoice(5).model_copy(update={"status": "draft"}))  # waits for its status: nothing to fix
    export(w, export_type="all")
    assert all("INV-00005" not in m["Message"] for m in inbox.mails())


def test_notification_email_set_before_now_gets_the_digest(world):
    """It was accepted and never used; it is read as a failure address until a save moves it."""
    w, inbox, _ = world
    w.store.tenants.update_settings(TENANT, {**w.tenant_settings(), "notification_email": "old@acme.example"},
                                    expected_version=w.store.tenants.get(TENANT).version)
    w.stage(invoice(1, tax="T9"))
    export(w)
    assert len(inbox.mails()) == 1
    # Any save, even of no change, moves it into failure_emails and subscribes it.
    _, _, channel = world
    moved = w.call("PATCH", f"/admin/tenants/{TENANT}/settings", {"changes": {}})
    assert moved.status == 200 and moved.json["settings"]["failure_emails"] == ["old@acme.example"], moved.text
    assert [s["Endpoint"] for s in subscriptions_of(channel._clients, channel.topic_arn)
            if s["Protocol"] == "email"] == ["old@acme.example"]


def test_each_address_is_one_subscription_filtered_to_the_tenants_that_list_it(world):
    w, _, channel = world
    set_failure_emails(w, "books@acme.example", "Owner@Acme.example")
    w.create_tenant("northwind")
    set_failure_emails(w, "books@acme.example", tenant="northwind")
    policies = {s["Endpoint"]: s["FilterPolicy"] for s in subscriptions_of(channel._clients, channel.topic_arn)
                if s["Protocol"] == "email"}
    assert policies == {"books@acme.example": {"tenant_id": [TENANT, "northwind"]},
                        "owner@acme.example": {"tenant_id": [TENANT]}}
    set_failure_emails(w, "books@acme.example")  # acme drops its owner
    assert w.call("DELETE", "/admin/tenants/northwind").status == 200
    policies = {s["Endpoint"]: s["FilterPolicy"] for s in subscriptions_of(channel._clients, channel.topic_arn)
                if s["Protocol"] == "email"}
    assert policies == {"books@acme.example": {"tenant_id": [TENANT]}}


def test_a_tenants_digest_reaches_only_the_addresses_that_follow_it(world):
    _, inbox, channel = world
    sns, sqs = channel._clients.sns, boto3.client("sqs", region_name=REGION)
    other = Mailbox(sns, sqs, channel.topic_arn, "northwind-inbox", {"tenant_id": ["northwind"]})
    channel.publish(TENANT, "a subject", "for acme")
    channel.publish("northwind", "a subject", "for northwind")
    assert [m["Message"] for m in inbox.mails()] == ["for acme"]
    assert [m["Message"] for m in other.mails()] == ["for northwind"]


def test_a_document_sage_refuses_is_mailed_as_failed_once_it_is_given_up(world):
    w, inbox, _ = world
    set_failure_emails(w, "books@acme.example")
    w.sandbox.faults.error(422, times=None, method="POST", path="/sales_invoices")
    w.stage(invoice(1))
    run = export(w)
    assert run["counts"]["failed"] == 1, run
    [mail] = inbox.mails()
    assert mail["Subject"] == f"Sage sync for {TENANT}: 1 document needs action (1 failed)"
    assert "1. sales invoice INV-00001 (failed)" in mail["Message"]
    assert "Fix: check the reason above" in mail["Message"]


def test_a_digest_that_cannot_be_sent_never_fails_the_run(world):
    w, inbox, _ = world
    set_failure_emails(w, "books@acme.example")

    def broken(*_args: Any) -> None:
        raise RuntimeError("SNS is down")

    w.worker.failure_digest = broken
    w.stage(invoice(1, tax="T9"))
    run = export(w)
    assert run["status"] == "succeeded" and run["counts"]["skipped"] == 1 and inbox.mails() == []
