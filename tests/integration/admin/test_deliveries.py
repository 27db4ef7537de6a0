"""Operators see what was sent to a tenant's host app and send refused deliveries again, through
the admin API: a delivery the host refused (wrong secret) is listed with the host's answer, resent
once the host is fixed, and then received once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from local.sandboxes.host_app import HostApp
from sagebridge.host.outbound import DocumentLink, InvoicePartPaid, enqueue_delivery
from tests.integration.host.relay import CALLBACK_URL, SECRET, Relay

from .world import TENANT, AdminWorld


@pytest.fixture
def host_app(world: AdminWorld) -> HostApp:
    world.create_tenant(host_callback_url=CALLBACK_URL)
    host_app = HostApp(secrets=["a-secret-the-host-mistyped"])
    world.products.outbox = Relay(world.store, host_app).outbox
    return host_app


def part_paid() -> InvoicePartPaid:
    return InvoicePartPaid(invoice=DocumentLink(kind="sales_invoice", host_id="INV-1", sage_id="s-1", number="INV-1"),
                           total_amount=Decimal("120.00"), outstanding_amount=Decimal("70.00"))


def test_a_refused_delivery_is_listed_with_the_host_s_answer_resent_and_received_once(world, host_app):
    queued = enqueue_delivery(world.products.delivery_outbox(), TENANT, part_paid())
    assert host_app.delivered_ids() == []

    page = world.call("GET", f"/admin/tenants/{TENANT}/deliveries", query={"state": "failed"}).json
    [failed] = page["deliveries"]
    assert failed["event_id"] == queued.event_id and failed["event_type"] == "invoice.part_paid"
    assert failed["state"] == "failed" and failed["last_status"] == 401 and failed["resendable"] is True
    assert "invalid_signature" in failed["last_response"] and failed["dead_lettered"] is False
    assert failed["document"] == {"kind": "sales_invoice", "host_id": "INV-1", "number": "INV-1"}

    host_app.secrets = [SECRET]  # the host fixes its secret
    answer = world.call("POST", f"/admin/tenants/{TENANT}/deliveries/{queued.event_id}/resend")
    assert answer.status == 202, answer.text
    assert host_app.delivered_ids() == [queued.event_id]

    [now] = world.call("GET", f"/admin/tenants/{TENANT}/deliveries").json["deliveries"]
    assert now["state"] == "delivered" and now["attempts"] == 2 and now["last_status"] == 200
    again = world.call("POST", f"/admin/tenants/{TENANT}/deliveries/{queued.event_id}/resend")
    assert again.status == 409 and "delivered already" in again.json["message"]
    assert host_app.delivered_ids() == [queued.event_id]  # never twice


def test_resend_all_and_another_tenant_s_event(world, host_app):
    world.create_tenant("globex", host_callback_url=CALLBACK_URL)
    queued = enqueue_delivery(world.products.delivery_outbox(), TENANT, part_paid())
    other = world.call("POST", f"/admin/tenants/globex/deliveries/{queued.event_id}/resend")
    assert other.status == 404
    assert world.call("GET", "/admin/tenants/globex/deliveries").json["deliveries"] == []

    host_app.secrets = [SECRET]
    answer = world.call("POST", f"/admin/tenants/{TENANT}/deliveries/resend")
    assert answer.status == 202 and [d["event_id"] for d in answer.json["resent"]] == [queued.event_id]
    assert host_app.delivered_ids() == [queued.event_id]
    nothing = world.call("POST", f"/admin/tenants/{TENANT}/deliveries/resend").json
    assert nothing["resent"] == [] and nothing["message"].startswith("nothing to send again")
