from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sagebridge.domain.errors import ConflictError, NotFoundError
from sagebridge.store import ConnectionRecord, Outcome, StagedDocument, SyncLogEntry

pytestmark = pytest.mark.integration


def test_create_get_and_no_second_create(store):
    created = store.tenants.create("acme", {"provider": "sage_accounting", "rounding": Decimal("0.01")})
    assert created.version == 1 and created.enabled
    got = store.tenants.get("acme")
    assert got.settings == {"provider": "sage_accounting", "rounding": Decimal("0.01")}
    with pytest.raises(ConflictError):
        store.tenants.create("acme", {})
    with pytest.raises(NotFoundError):
        store.tenants.get("nobody")
    assert store.tenants.find("nobody") is None


def test_settings_update_is_optimistic(store):
    store.tenants.create("acme", {"basis": "posting"})
    updated = store.tenants.update_settings("acme", {"basis": "document"}, expected_version=1)
    assert updated.version == 2 and updated.settings == {"basis": "document"}
    with pytest.raises(ConflictError):  # someone read version 1 before our update
        store.tenants.update_settings("acme", {"basis": "posting"}, expected_version=1)
    with pytest.raises(NotFoundError):
        store.tenants.update_settings("nobody", {}, expected_version=1)
    assert store.tenants.get("acme").settings == {"basis": "document"}


def test_enable_disable_and_list_in_pages(store):
    for n in range(7):
        store.tenants.create(f"t{n}", {})
    store.tenants.set_enabled("t3", False)
    assert not store.tenants.get("t3").enabled
    with pytest.raises(NotFoundError):
        store.tenants.set_enabled("nobody", True)

    first = store.tenants.list(limit=4)
    assert len(first) == 4 and first.next_token
    second = store.tenants.list(limit=4, next_token=first.next_token)
    assert [t.tenant_id for t in [*first, *second]] == [f"t{n}" for n in range(7)]
    assert [t.tenant_id for t in store.tenants.iter_all(enabled_only=True)] == ["t0", "t1", "t2", "t4", "t5", "t6"]


def test_a_next_token_cannot_cross_into_another_listing(store):
    for n in range(3):
        store.mappings.put("acme", "customer", f"C{n}", f"s{n}")
    page = store.mappings.list("acme", limit=1)
    with pytest.raises(ValueError):
        store.mappings.list("globex", next_token=page.next_token)
    with pytest.raises(ValueError):
        store.mappings.list("acme", next_token="not-a-token")


def test_tenant_delete_removes_all_its_data(store, dynamodb_client):
    for tenant in ("acme", "globex"):
        store.tenants.create(tenant, {})
        store.connections.save(ConnectionRecord(tenant, "sage_accounting", b"\x00secret"), expected_version=None)
        for n in range(30):  # more than one batch of 25
            store.documents.put(StagedDocument(tenant, "invoice", f"I{n}", "sales", "{}", "h", 1,
                                               date(2024, 1, 1), date(2024, 1, 1)))
        store.mappings.put(tenant, "invoice", "I1", "s1")
        store.ledger.claim(tenant, "invoice", "I1", idempotency_key="k", payload_hash="h")
        store.synclog.append(SyncLogEntry(tenant, "run-1", "invoice", "I1", Outcome.SKIPPED, "no tax"))
        store.cursors.set(tenant, "payments", "2024-01-01T00:00:00Z")
        store.leases.acquire(tenant, "export", "w", ttl_seconds=60)
        store.deliveries.record_queued(tenant, f"evt-{tenant}", "payment.received")

    deleted = store.tenants.delete("acme")
    assert deleted == 1 + 1 + 30 + 1 + 1 + 1 + 1 + 1 + 1

    assert store.tenants.find("acme") is None
    assert store.deliveries.find("evt-acme") is None
    everything = dynamodb_client.scan(TableName=store.table.name)["Items"]
    assert not [i for i in everything if "acme" in str(i)]
    assert store.tenants.get("globex")
    assert len(list(store.documents.between("globex", "sales", "posting", date(2024, 1, 1), date(2024, 1, 1)))) == 30
    assert store.deliveries.get("evt-globex").tenant_id == "globex"
