from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from sagebridge.domain.errors import ConflictError, NotFoundError
from sagebridge.store import ConnectionRecord, ConnectionStatus

pytestmark = pytest.mark.integration


def record(**changes):
    base = ConnectionRecord(
        tenant_id="acme", provider="sage_accounting", ciphertext=b"\x01\x02kms-blob\xff",
        business_id="biz-1", business_name="Acme Ltd",
        access_expires_at=datetime(2024, 1, 1, 12, 5, tzinfo=UTC),
        refresh_expires_at=datetime(2024, 2, 1, tzinfo=UTC),
        last_refreshed_at=datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
    )
    return replace(base, **changes)


def test_first_save_round_trips_ciphertext_as_binary(store, dynamodb_client):
    saved = store.connections.save(record(), expected_version=None)
    assert saved.version == 1
    assert store.connections.get("acme", "sage_accounting") == saved
    raw = dynamodb_client.get_item(TableName=store.table.name,
                                   Key={"pk": {"S": "TENANT#acme"}, "sk": {"S": "CONN#sage_accounting"}})["Item"]
    assert "B" in raw["ciphertext"]
    with pytest.raises(ConflictError):  # None means: must not exist yet
        store.connections.save(record(), expected_version=None)


def test_two_refreshers_with_the_same_version_one_conflicts(store):
    v1 = store.connections.save(record(), expected_version=None)
    winner = store.connections.save(replace(v1, ciphertext=b"new-tokens-A"), expected_version=v1.version)
    with pytest.raises(ConflictError):
        store.connections.save(replace(v1, ciphertext=b"new-tokens-B"), expected_version=v1.version)
    current = store.connections.get("acme", "sage_accounting")
    assert current.version == winner.version == 2 and current.ciphertext == b"new-tokens-A"


def test_status_change_and_disconnect(store):
    v1 = store.connections.save(record(), expected_version=None)
    store.connections.save(replace(v1, status=ConnectionStatus.EXPIRED), expected_version=1)
    assert store.connections.get("acme", "sage_accounting").status == ConnectionStatus.EXPIRED
    store.connections.delete("acme", "sage_accounting")
    assert store.connections.find("acme", "sage_accounting") is None
    with pytest.raises(NotFoundError):
        store.connections.get("acme", "sage_accounting")


def test_plaintext_is_refused(store):
    with pytest.raises(TypeError):
        store.connections.save(record(ciphertext="access-token"), expected_version=None)
