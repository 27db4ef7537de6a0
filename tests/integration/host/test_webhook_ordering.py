"""Which change of a record wins, driven through the real webhook handler as the host sends them, and
what then reaches the Sage Accounting sandbox: same-second updates (issue 13, defect 2), an event id
reused with another body (defect 3) and voids without a version (defect 20)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from local.sandboxes.host_app import WebhookSender
from local.sandboxes.host_app.fixtures import example_event
from local.sandboxes.sage_accounting import API_BASE_URL, SageAccountingSandbox
from sagebridge.connectors.sage_accounting.client import SageAccountingClient, SageAccountingConnector
from sagebridge.domain import TenantSettings
from sagebridge.observability import logger
from sagebridge.store import Store
from sagebridge.store.documents import Documents
from sagebridge.store.webhook_events import WebhookEvents
from sagebridge.sync.export import ExportEngine, ExportRequest
from tests.integration.host.conftest import TENANT, Env

logger.setLevel("WARNING")

SAME_SECOND = "2024-05-01T10:15:00Z"
# The example invoice is 65.00 + 2 x 17.50 = 100.00 net; the change makes the valve 22.50.
CHANGED_LINES = [
    {"description": "Call-out fee", "quantity": "1", "unit_price": "65.00", "tax_code": "S20"},
    {"description": "Replacement valve", "quantity": "2", "unit_price": "22.50", "tax_code": "S20"},
]
CHANGED_TOTALS = {"net": "110.00", "tax": "22.00", "total": "132.00"}


@dataclass
class Books:
    """The tenant's Sage business (the sandbox) and an export of chosen documents into it."""

    sandbox: SageAccountingSandbox
    store: Store
    connector: SageAccountingConnector
    settings: TenantSettings

    def export(self, kind: str, host_id: str) -> Any:
        engine = ExportEngine(store=self.store, connector=self.connector, settings=self.settings)
        return engine.run(ExportRequest(tenant_id=TENANT, triggered_by="status_change", export_type="all",
                                        documents=((kind, host_id),)))

    def sales_invoice(self, host_id: str) -> dict[str, Any]:
        sage_id = self.store.ledger.get(TENANT, "sales_invoice", host_id).sage_id
        return self.sandbox.accountant().get("sales_invoices", sage_id)  # type: ignore[no-any-return]


@pytest.fixture
def books(env: Env) -> Any:
    sandbox = SageAccountingSandbox.single_business()
    transport = sandbox.sync_transport()
    with httpx.Client(transport=transport, timeout=10) as http:
        tokens = sandbox.issue_tokens()
        client = SageAccountingClient(
            http, token_provider=lambda *, rejected=None: tokens["access_token"],
            business_id=sandbox.lead_business_id, base_url=API_BASE_URL, sleep=lambda _s: None, jitter=lambda: 0.0,
        )
        ids = sandbox.ids
        settings = TenantSettings(
            provider="sage_accounting", tax_mappings={"S20": "GB_STANDARD"},
            default_sales_ledger_account_id=ids["4000"], default_purchase_ledger_account_id=ids["5000"],
            receipt_bank_account_id=ids["bank"],
        )
        yield Books(sandbox, Store(env.table_name, env.dynamodb), SageAccountingConnector(client), settings)
    transport.close()


def _versionless(event: dict[str, Any]) -> dict[str, Any]:
    event["data"].pop("version", None)
    return event


def _staged(env: Env, kind: str = "sales_invoice", host_id: str = "INV-1001") -> Any:
    return Documents(env.table).get(TENANT, kind, host_id)


# ------------------------------------------------------------------------------------------ defect 2


def test_defect_02_same_second_update_without_version_wins_and_reaches_sage(
    env: Env, sender: WebhookSender, books: Books
) -> None:
    assert sender.send(example_event("customer.upserted")).status == 202
    first = _versionless(example_event("invoice.upserted", event_id="evt-inv-a", occurred_at=SAME_SECOND))
    assert sender.send(first).body["result"] == "stored"
    assert books.export("sales_invoice", "INV-1001").counts["created"] >= 1
    assert books.sales_invoice("INV-1001")["total_amount"] == Decimal("120.00")

    second = _versionless(example_event("invoice.upserted", event_id="evt-inv-b", occurred_at=SAME_SECOND,
                                        lines=CHANGED_LINES, totals=CHANGED_TOTALS))
    reply = sender.send(second)

    assert reply.status == 202 and reply.body["result"] == "stored", reply.body
    assert Decimal(json.loads(_staged(env).canonical_json)["totals"]["total"]) == Decimal("132.00")
    assert WebhookEvents(env.table).find(TENANT, "evt-inv-b").outcome == "stored"
    result = books.export("sales_invoice", "INV-1001")
    assert result.counts["updated"] == 1, result
    assert books.sales_invoice("INV-1001")["total_amount"] == Decimal("132.00")


def test_defect_02_same_version_and_second_the_later_arrival_wins(env: Env, sender: WebhookSender) -> None:
    sender.send(example_event("invoice.upserted", event_id="evt-v2-a", occurred_at=SAME_SECOND, reference="first"))
    reply = sender.send(example_event("invoice.upserted", event_id="evt-v2-b", occurred_at=SAME_SECOND,
                                      reference="second"))
    assert reply.body["result"] == "stored"
    assert json.loads(_staged(env).canonical_json)["reference"] == "second"
    # ...and one later arrival does not let an older change back in.
    older = example_event("invoice.upserted", event_id="evt-v2-old", occurred_at="2024-05-01T10:14:59Z",
                          reference="older")
    stale = sender.send(older)
    assert stale.body["result"] == "stale" and "newer change" in stale.body["reason"]
    assert json.loads(_staged(env).canonical_json)["reference"] == "second"


def test_defect_02_a_duplicate_delivery_of_the_same_event_is_still_a_no_op(env: Env, sender: WebhookSender) -> None:
    first = _versionless(example_event("invoice.upserted", event_id="evt-once", occurred_at=SAME_SECOND))
    newer = _versionless(example_event("invoice.upserted", event_id="evt-newer", occurred_at=SAME_SECOND,
                                       reference="newer"))
    assert sender.send(first).body["result"] == "stored"
    assert sender.send(newer).body["result"] == "stored"
    before = env.scan()
    again = sender.send(first)  # the host retries the first event: it must not win the tie again
    assert again.status == 202 and again.body["duplicate"] is True
    assert env.scan() == before
    assert json.loads(_staged(env).canonical_json)["reference"] == "newer"


def test_defect_02_an_event_seen_before_the_idempotency_window_is_still_a_duplicate(
    env: Env, sender: WebhookSender
) -> None:
    first = _versionless(example_event("invoice.upserted", event_id="evt-long-ago", occurred_at=SAME_SECOND))
    newer = _versionless(example_event("invoice.upserted", event_id="evt-newer", occurred_at=SAME_SECOND,
                                       reference="newer"))
    sender.send(first)
    sender.send(newer)
    # The idempotency records expire after 3 days; the event records (90 days) still know the event.
    for item in env.dynamodb.scan(TableName=env.idempotency_table)["Items"]:
        env.dynamodb.delete_item(TableName=env.idempotency_table, Key={"id": item["id"]})
    again = sender.send(first)
    assert again.status == 202 and again.body["duplicate"] is True and again.body["export_queued"] is False
    assert json.loads(_staged(env).canonical_json)["reference"] == "newer"


def test_defect_02_a_newer_change_landing_between_read_and_write_is_not_overwritten(
    env: Env, sender: WebhookSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sender.send(example_event("invoice.upserted", event_id="evt-new", version=5, reference="new")).status == 202
    # The older event's handler read the record before the newer one was written (a concurrent
    # delivery): only the conditional write stands between it and the newer change.
    real_find, reads = Documents.find, []

    def find_before_the_newer_write(self: Documents, tenant_id: str, kind: str, host_id: str) -> Any:
        reads.append(kind)
        return None if len(reads) == 1 else real_find(self, tenant_id, kind, host_id)

    monkeypatch.setattr(Documents, "find", find_before_the_newer_write)
    reply = sender.send(example_event("invoice.upserted", event_id="evt-old", version=4, reference="old"))
    assert reply.status == 202 and reply.body["result"] == "stale", reply.body
    assert len(reads) >= 2  # it read again after its write lost
    assert json.loads(_staged(env).canonical_json)["reference"] == "new"


# ------------------------------------------------------------------------------------------ defect 3


def test_defect_03_an_event_id_reused_with_another_body_is_409_and_stores_nothing(
    env: Env, sender: WebhookSender
) -> None:
    assert sender.send(example_event("invoice.upserted", event_id="evt-reused")).status == 202
    before = env.scan()
    env.messages(env.export_queue_url)

    changed = example_event("invoice.upserted", event_id="evt-reused", lines=CHANGED_LINES, totals=CHANGED_TOTALS)
    reply = sender.send(changed)

    assert reply.status == 409, reply.body
    assert reply.body["error"] == "event_id_conflict" and reply.body["event_id"] == "evt-reused"
    assert "differs from the one first received" in reply.body["reason"] and "evt-reused" in reply.body["reason"]
    assert env.scan() == before
    assert env.messages(env.export_queue_url) == []
    assert Decimal(json.loads(_staged(env).canonical_json)["totals"]["total"]) == Decimal("120.00")
    # The same body again is still the harmless duplicate it always was.
    same = sender.send(example_event("invoice.upserted", event_id="evt-reused"))
    assert same.status == 202 and same.body["duplicate"] is True


def test_defect_03_a_reused_event_id_is_refused_after_the_idempotency_window_too(
    env: Env, sender: WebhookSender
) -> None:
    sender.send(example_event("customer.upserted", event_id="evt-old-id"))
    for item in env.dynamodb.scan(TableName=env.idempotency_table)["Items"]:
        env.dynamodb.delete_item(TableName=env.idempotency_table, Key={"id": item["id"]})
    before = env.scan()
    reply = sender.send(example_event("customer.upserted", event_id="evt-old-id", name="Someone Else"))
    assert reply.status == 409 and reply.body["error"] == "event_id_conflict"
    assert env.scan() == before
    assert json.loads(_staged(env, "customer", "CUST-1001").canonical_json)["name"] == "Ada Lovelace"


def test_defect_03_the_same_event_reformatted_is_not_a_conflict(env: Env, sender: WebhookSender) -> None:
    event = example_event("invoice.upserted", event_id="evt-pretty")
    assert sender.send(event).status == 202
    pretty = json.dumps(dict(reversed(list(event.items()))), indent=2).encode()  # other key order, whitespace
    reply = sender.send(pretty)
    assert reply.status == 202 and reply.body["duplicate"] is True


# ----------------------------------------------------------------------------------------- defect 20


def test_defect_20_a_void_without_version_after_a_versioned_upsert_voids_in_sage(
    env: Env, sender: WebhookSender, books: Books
) -> None:
    sender.send(example_event("customer.upserted"))
    assert sender.send(example_event("invoice.upserted", version=7)).body["result"] == "stored"
    books.export("sales_invoice", "INV-1001")
    assert books.sales_invoice("INV-1001")["status"]["id"] != "VOID"

    void = _versionless(example_event("document.voided", event_id="evt-void", occurred_at="2024-05-01T10:16:00Z"))
    reply = sender.send(void)

    assert reply.status == 202 and reply.body["result"] == "stored", reply.body
    assert _staged(env).voided is True
    result = books.export("sales_invoice", "INV-1001")
    assert result.counts["updated"] == 1, result
    assert books.sales_invoice("INV-1001")["status"]["id"] == "VOID"
    [entry] = list(books.store.synclog.for_run(TENANT, result.run_id))
    assert entry.reason == "voided in Sage: voided in the host app"


def test_defect_20_a_void_in_the_same_second_as_the_upsert_voids(env: Env, sender: WebhookSender) -> None:
    sender.send(example_event("invoice.upserted", version=4, occurred_at=SAME_SECOND))
    reply = sender.send(_versionless(example_event("document.voided", event_id="evt-void", occurred_at=SAME_SECOND)))
    assert reply.body["result"] == "stored" and _staged(env).voided is True


def test_defect_20_versionless_changes_order_by_time_against_the_staged_version(
    env: Env, sender: WebhookSender
) -> None:
    assert sender.send(example_event("invoice.upserted", event_id="v7", version=7, reference="v7",
                                     occurred_at="2024-05-01T10:00:00Z")).body["result"] == "stored"
    # No version: it is taken to be of the staged version (7), so occurred_at decides.
    earlier = _versionless(example_event("invoice.upserted", event_id="nv-early", reference="early",
                                         occurred_at="2024-05-01T09:59:59Z"))
    later = _versionless(example_event("invoice.upserted", event_id="nv-late", reference="late",
                                       occurred_at="2024-05-01T10:00:01Z"))
    assert sender.send(earlier).body["result"] == "stale"
    assert sender.send(later).body["result"] == "stored"
    # A lower explicit version stays older whatever its time; a higher one wins.
    assert sender.send(example_event("invoice.upserted", event_id="v6", version=6, reference="v6",
                                     occurred_at="2024-05-02T00:00:00Z")).body["result"] == "stale"
    assert sender.send(example_event("invoice.upserted", event_id="v8", version=8, reference="v8",
                                     occurred_at="2024-04-01T00:00:00Z")).body["result"] == "stored"
    assert json.loads(_staged(env).canonical_json)["reference"] == "v8"


def test_defect_20_an_older_void_is_answered_stale_with_the_reason(env: Env, sender: WebhookSender) -> None:
    sender.send(example_event("invoice.upserted", version=5, occurred_at="2024-05-01T10:00:00Z"))
    reply = sender.send(example_event("document.voided", event_id="evt-old-void", version=4))
    assert reply.body["result"] == "stale" and "version 5" in reply.body["reason"]
    assert _staged(env).voided is False
