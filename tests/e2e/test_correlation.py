"""One invoice followed by its correlation id through the captured logs, on the local stack: the
host's webhook (HTTP API -> WebhooksFunction) is staged under the API request id, its export job
carries that id to ExportWorkerFunction, and the Sage call and the document's outcome line are
logged under the same id. What an operator does with Logs Insights (docs/operations.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local import demo as demo_module
from local.sandboxes.host_app import WebhookSender
from local.sandboxes.host_app.fixtures import example_event
from tests.logs import captured_logs

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

TENANT = "traced-garage"
BUSINESS = "Demo Bodyshop Ltd"  # the stack's other business: the demo tenant holds "Demo Garage Ltd"


@pytest.fixture(scope="module")
def tenant(stack: Any) -> Iterator[tuple[Any, str]]:
    sage = stack.sandboxes["sage_accounting"]
    created_before = Counter(sage.created)
    api = httpx.Client(base_url=stack.outputs["api_url"], timeout=60)
    created = api.post("/admin/tenants", json={"tenant_id": TENANT, "settings": {
        "provider": "sage_accounting", "trigger_statuses": ["pending_payment"]}})
    assert created.status_code == 201, created.text
    with pytest.MonkeyPatch.context() as mp:  # the demo's own steps, for this tenant and business
        mp.setattr(demo_module, "TENANT", TENANT)
        mp.setattr(demo_module, "BUSINESS", BUSINESS)
        steps = demo_module.Demo(stack)
        steps.connect()
        steps.map_codes()
    yield stack, created.json()["webhook_secret"]
    # Other e2e tests link the same business and count what the Sage sandbox created across
    # businesses: let the business go, and take our records out of the counts.
    assert api.delete(f"/admin/tenants/{TENANT}").status_code == 200
    sage.created.clear()
    sage.created.update(created_before)


def test_one_invoice_is_followed_from_the_webhook_to_the_sage_call_by_its_correlation_id(tenant):
    stack, secret = tenant
    sender = WebhookSender(TENANT, secret, base_url=stack.outputs["api_url"])
    with captured_logs() as lines:
        assert sender.send(example_event("customer.upserted", event_id="evt_t_c1")).status == 202
        reply = sender.send(example_event("invoice.upserted", event_id="evt_t_i9", host_id="INV-9", number="INV-9",
                                          status="pending_payment"))
        assert reply.status == 202 and reply.body["export_queued"] is True, reply.body
        stack.drain_queues()

    [staged] = lines.named("webhook staged", host_id="INV-9")
    correlation_id = staged["correlation_id"]
    assert correlation_id and staged["tenant_id"] == TENANT and staged["event_id"] == "evt_t_i9"

    followed = [line for line in lines if line.get("correlation_id") == correlation_id]
    posted = [line for line in followed if line["message"] == "sage_request" and line["method"] == "POST"
              and line["path"].endswith("/sales_invoices")]
    assert len(posted) == 1 and posted[0]["status"] == 201, "the Sage call is logged under the webhook's id"
    assert posted[0]["function_name"] != staged["function_name"]  # ... by another function: the export worker
    [outcome] = [line for line in followed if line["message"] == "document_outcome" and line["host_id"] == "INV-9"]
    assert (outcome["tenant_id"], outcome["kind"], outcome["number"], outcome["outcome"]) == (
        TENANT, "sales_invoice", "INV-9", "created")
    run = httpx.get(f"{stack.outputs['api_url']}/admin/tenants/{TENANT}/runs/{outcome['run_id']}")
    assert run.status_code == 200 and run.json()["run_id"] == outcome["run_id"]
    # In the order it happened: staged, then the Sage call, then the outcome line.
    assert followed.index(staged) < followed.index(posted[0]) < followed.index(outcome)
    # docs/operations.md's one Logs Insights query for "why is INV-9 not in Sage" finds both ends.
    doc = (ROOT / "docs" / "operations.md").read_text()
    query = "| filter tenant_id = 'acme' and (host_id = 'INV-9' or number = 'INV-9' or message = 'webhook refused')"
    assert query in doc
    answered = [line["message"] for line in lines if line.get("tenant_id") == TENANT
                and (line.get("host_id") == "INV-9" or line.get("number") == "INV-9"
                     or line.get("message") == "webhook refused")]
    assert answered == ["webhook staged", "document_outcome"]
