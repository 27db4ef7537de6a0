"""The payment poll fanned out: the scheduled poller queues one job per enabled, connected tenant,
and the worker polls one tenant per job; a tenant whose poll fails goes back to the queue alone,
and a dead grant expires the connection without a retry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local.runtime import LambdaContext
from sagebridge.domain.settings import Provider
from sagebridge.store.records import ConnectionStatus
from sagebridge.sync.payment_polls import PaymentPollJob, schedule_payment_polls, schedule_slot
from sagebridge.sync.products import SageProducts
from tests.integration.export.conftest import document
from tests.integration.host.conftest import load_handler_module

from .conftest import TENANT, CapturingQueue
from .test_payment_poller import SI, sage_id

ROOT = Path(__file__).resolve().parents[3]
SLOT = "2025-03-03T09:15:00+00:00"


def _tenants(world) -> str:
    """acme and bolt connected (each its own Sage business), dune never connected, eden disabled."""
    other_business = list(world.sandbox.businesses)[1]
    world.add_tenant(TENANT)
    world.add_tenant("bolt", business_id=other_business)
    world.store.tenants.create("dune", {"provider": "sage_accounting"})
    world.add_tenant("eden")
    world.store.tenants.set_enabled("eden", False)
    return other_business


def _products(world) -> SageProducts:
    return SageProducts(world.sage.settings, store=world.store, outbox=world.outbox,
                        built={Provider.SAGE_ACCOUNTING: world.sage})


def _sqs_event(*tenants: str) -> dict[str, Any]:
    template = json.loads((ROOT / "events" / "payment_poll_worker.json").read_text())["Records"][0]
    return {"Records": [template | {"messageId": f"m-{t}", "receiptHandle": f"r-{t}",
                                    "body": json.dumps({"tenant_id": t, "scheduled_for": SLOT})} for t in tenants]}


def _invoke(module: Any, event: dict[str, Any]) -> Any:
    return module.lambda_handler(event, LambdaContext("payment-poll-worker", 512, 300))


def test_fan_out_queues_one_job_per_connected_tenant_and_the_same_jobs_on_a_duplicate_fire(world):
    _tenants(world)
    queue = CapturingQueue()
    report = schedule_payment_polls(world.store, queue, slot=SLOT)
    assert sorted(report.queued) == [TENANT, "bolt"]
    assert sorted(report.not_ready) == ["dune: not connected", "eden: disabled"]
    assert sorted(m["tenant_id"] for m in queue.messages) == [TENANT, "bolt"]
    assert all(PaymentPollJob.model_validate(m).scheduled_for == SLOT for m in queue.messages)

    again = CapturingQueue()
    schedule_payment_polls(world.store, again, slot=SLOT)  # the schedule fired twice for one slot
    assert again.messages == queue.messages


def test_the_slot_is_the_schedulers_time_so_a_retried_fire_sends_the_same_jobs():
    from datetime import UTC, datetime

    now = datetime(2025, 3, 3, 9, 16, 3, tzinfo=UTC)
    assert schedule_slot({"scheduled_time": "2025-03-03T09:15:00Z"}, now) == SLOT
    assert schedule_slot({"scheduled_time": "<aws.scheduler.scheduled-time>"}, now) == "2025-03-03T09:16:03+00:00"
    assert schedule_slot({}, now) == "2025-03-03T09:16:03+00:00"


def test_the_poller_handler_fans_out_on_the_schedule_event(world, monkeypatch):
    _tenants(world)
    queue = CapturingQueue()
    module = load_handler_module("payment_poller")
    monkeypatch.setattr(module, "dependencies", lambda: (world.store, queue))
    event = json.loads((ROOT / "events" / "payment_poller.json").read_text())
    result = module.lambda_handler(event, LambdaContext("payment_poller", 512, 30))
    assert result["slot"] == SLOT and sorted(result["queued"]) == [TENANT, "bolt"]
    assert sorted(json.dumps(m, sort_keys=True) for m in queue.messages) == sorted(
        json.dumps({"tenant_id": t, "scheduled_for": SLOT}, sort_keys=True) for t in (TENANT, "bolt"))


def test_the_worker_polls_one_tenant_and_only_that_one(world, host):
    _tenants(world)
    host.stage(document(SI, 1))
    world.export()
    world.clock.advance(minutes=5)
    world.sandbox.accountant().record_customer_payment(sage_id(world, "sales_invoice", "INV-1"))
    world.clock.advance(minutes=5)
    products = _products(world)

    polled = products.poll_tenant(TENANT)
    assert polled.outcome == "polled" and polled.payments is not None and polled.payments.payments_delivered == 1
    assert world.store.cursors.get("bolt", "sage_payments") is None  # nobody else was polled
    assert products.poll_tenant("dune").outcome == "not_connected"
    assert products.poll_tenant("eden").outcome == "skipped"
    world.deliver_all()
    assert [e["type"] for e in world.events()] == ["invoice.payment_received", "invoice.paid"]

    again = products.poll_tenant(TENANT)  # a duplicate job: the same window, nothing queued twice
    assert again.outcome == "polled" and again.payments is not None and again.payments.events_queued == 0


def test_a_failing_tenant_goes_back_to_the_queue_alone(world, host, monkeypatch):
    other_business = _tenants(world)
    world.sandbox.faults.error(503, times=None, business_id=other_business, path="/contact_payments")
    module = load_handler_module("payment_poll_worker")
    monkeypatch.setattr(module, "dependencies", lambda: _products(world))

    answer = _invoke(module, _sqs_event(TENANT, "bolt"))

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-bolt"}]}
    assert world.store.cursors.get(TENANT, "sage_payments") is not None
    assert world.store.cursors.get("bolt", "sage_payments") is None  # the next receive reads the window again

    world.sandbox.faults.clear()
    assert _invoke(module, _sqs_event("bolt")) == {"batchItemFailures": []}
    assert world.store.cursors.get("bolt", "sage_payments") is not None


def test_a_dead_grant_expires_the_connection_and_is_not_retried(world, monkeypatch):
    other_business = _tenants(world)
    grant = next(g for g in world.sandbox.oauth.grants.values() if g.business_ids == (other_business,))
    with world.sandbox.lock:
        world.sandbox.oauth.revoke(world.sandbox.oauth.clients[world.sandbox.client_id], grant.refresh_token)
    world.clock.advance(hours=2)  # the access token is stale: the poll must refresh, and the grant is gone
    module = load_handler_module("payment_poll_worker")
    monkeypatch.setattr(module, "dependencies", lambda: _products(world))

    assert _invoke(module, _sqs_event(TENANT, "bolt")) == {"batchItemFailures": []}
    assert world.sage.service.find("bolt").status == ConnectionStatus.EXPIRED
    assert world.sage.service.find(TENANT).status == ConnectionStatus.CONNECTED

    queue = CapturingQueue()
    assert "bolt" not in schedule_payment_polls(world.store, queue, slot=SLOT).queued  # until it reconnects
