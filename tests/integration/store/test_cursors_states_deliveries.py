from __future__ import annotations

from datetime import timedelta

import pytest

from sagebridge.domain.errors import ConflictError, NotFoundError
from sagebridge.store import DeliveryState

pytestmark = pytest.mark.integration


def test_cursor_only_moves_forward(store, clock):
    assert store.cursors.get("acme", "payments") is None
    store.cursors.set("acme", "payments", "2024-01-01T10:00:00Z")
    clock.advance(minutes=15)
    store.cursors.set("acme", "payments", "2024-01-01T10:00:00Z")  # nothing new: records the poll
    assert store.cursors.get("acme", "payments").updated_at == clock.now.replace(
        microsecond=clock.now.microsecond // 1000 * 1000)
    with pytest.raises(ConflictError):
        store.cursors.set("acme", "payments", "2023-12-31T00:00:00Z")
    store.cursors.set("acme", "payments", "2024-01-02T00:00:00Z")
    assert store.cursors.get("acme", "payments").position == "2024-01-02T00:00:00Z"


def test_oauth_state_is_single_use_with_a_10_minute_ttl(store, clock, dynamodb_client):
    expires = store.oauth_states.put("nonce-1", {"tenant_id": "acme", "verifier": "v"})
    assert expires == int((clock.now + timedelta(minutes=10)).timestamp())
    raw = dynamodb_client.scan(TableName=store.table.name)["Items"][0]
    assert raw["expires_at"] == {"N": str(expires)}

    assert store.oauth_states.consume("nonce-1") == {"tenant_id": "acme", "verifier": "v"}
    with pytest.raises(NotFoundError):
        store.oauth_states.consume("nonce-1")
    with pytest.raises(NotFoundError):
        store.oauth_states.consume("never-issued")


def test_an_expired_oauth_state_is_refused(store, clock):
    store.oauth_states.put("nonce-2", {"tenant_id": "acme"})
    with pytest.raises(ConflictError):
        store.oauth_states.put("nonce-2", {"tenant_id": "evil"})
    clock.advance(minutes=10, seconds=1)
    with pytest.raises(NotFoundError):
        store.oauth_states.consume("nonce-2")


def test_delivery_states_per_event_and_backlog(store, clock):
    assert store.deliveries.record_queued("acme", "evt-1", "payment.received")
    assert not store.deliveries.record_queued("acme", "evt-1", "payment.received")
    clock.advance(seconds=1)
    store.deliveries.record_queued("acme", "evt-2", "payment.received")
    store.deliveries.record_queued("globex", "evt-3", "payment.received")

    assert [d.event_id for d in store.deliveries.backlog("acme")] == ["evt-1", "evt-2"]

    failed = store.deliveries.record("evt-1", "acme", DeliveryState.FAILED, attempts=1, last_error="HTTP 503")
    assert failed.state == DeliveryState.FAILED and failed.event_type == "payment.received"
    assert [d.event_id for d in store.deliveries.backlog("acme")] == ["evt-2"]
    assert [d.last_error for d in store.deliveries.backlog("acme", DeliveryState.FAILED)] == ["HTTP 503"]

    delivered = store.deliveries.record("evt-1", "acme", DeliveryState.DELIVERED, attempts=2)
    assert delivered.last_error is None and delivered.created_at == failed.created_at
    assert store.deliveries.backlog("acme", DeliveryState.FAILED).items == []
    with pytest.raises(ConflictError):  # delivered is final
        store.deliveries.record("evt-1", "acme", DeliveryState.FAILED, attempts=3)
    store.deliveries.record("evt-2", "acme", DeliveryState.FAILED, attempts=2)
    with pytest.raises(ConflictError):  # a late writer cannot wind attempts back
        store.deliveries.record("evt-2", "acme", DeliveryState.QUEUED, attempts=1)
    with pytest.raises(ConflictError):  # an event id belongs to one tenant
        store.deliveries.record("evt-2", "globex", DeliveryState.FAILED, attempts=3)
    assert store.deliveries.get("evt-1").state == DeliveryState.DELIVERED
    with pytest.raises(NotFoundError):
        store.deliveries.get("evt-unknown")
