from __future__ import annotations

import pytest

from sagebridge.domain.errors import ConflictError

pytestmark = pytest.mark.integration


def test_a_lease_cannot_be_held_twice(store):
    lease = store.leases.acquire("acme", "export", "worker-1", ttl_seconds=60)
    assert lease.owner == "worker-1"
    with pytest.raises(ConflictError):
        store.leases.acquire("acme", "export", "worker-2", ttl_seconds=60)
    with pytest.raises(ConflictError):  # not even by the same owner: each acquire is a new holder
        store.leases.acquire("acme", "export", "worker-1", ttl_seconds=60)


def test_leases_are_per_tenant_and_per_job(store):
    store.leases.acquire("acme", "export", "w1", ttl_seconds=60)
    store.leases.acquire("acme", "poll", "w2", ttl_seconds=60)
    store.leases.acquire("globex", "export", "w3", ttl_seconds=60)


def test_an_expired_lease_can_be_taken(store, clock):
    store.leases.acquire("acme", "export", "crashed", ttl_seconds=30)
    clock.advance(seconds=29)
    with pytest.raises(ConflictError):
        store.leases.acquire("acme", "export", "w2", ttl_seconds=30)
    clock.advance(seconds=2)
    assert store.leases.acquire("acme", "export", "w2", ttl_seconds=30).owner == "w2"


def test_only_the_owner_releases_and_renews(store, clock):
    store.leases.acquire("acme", "export", "w1", ttl_seconds=30)
    with pytest.raises(ConflictError):
        store.leases.release("acme", "export", "w2")
    with pytest.raises(ConflictError):
        store.leases.renew("acme", "export", "w2", ttl_seconds=30)

    clock.advance(seconds=20)
    renewed = store.leases.renew("acme", "export", "w1", ttl_seconds=30)
    assert renewed.expires_at > clock.now
    clock.advance(seconds=20)  # past the first expiry, within the renewed one
    with pytest.raises(ConflictError):
        store.leases.acquire("acme", "export", "w2", ttl_seconds=30)

    store.leases.release("acme", "export", "w1")
    store.leases.acquire("acme", "export", "w2", ttl_seconds=30)


def test_a_lease_expires_through_ttl_too(store, dynamodb_client, clock):
    lease = store.leases.acquire("acme", "export", "w1", ttl_seconds=45)
    item = dynamodb_client.get_item(
        TableName=store.table.name, Key={"pk": {"S": "TENANT#acme"}, "sk": {"S": "LEASE#export"}}
    )["Item"]
    assert int(item["expires_at"]["N"]) == int(lease.expires_at.timestamp())
    assert 45 <= lease.expires_at.timestamp() - clock.now.timestamp() <= 46
