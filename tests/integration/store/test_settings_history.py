"""The settings history on DynamoDB Local: a version and its audit entry are written together or not
at all; the loser of two saves from the same version is refused and leaves no entry."""

from __future__ import annotations

import pytest

from sagebridge.domain.errors import ConflictError, NotFoundError
from sagebridge.store.settings_history import FieldChange

pytestmark = pytest.mark.integration


def test_two_saves_from_one_version_one_wins_and_only_its_entry_is_kept(store):
    tenant = store.tenants.create("acme", {"retry_limit": 3})
    store.settings_history.save(tenant, {"retry_limit": 4}, expected_version=1, actor="portal:admin",
                                changes=[FieldChange("retry_limit", 3, 4)])
    with pytest.raises(ConflictError) as lost:
        store.settings_history.save(tenant, {"retry_limit": 9}, expected_version=1, actor="admin-api:sam",
                                    changes=[FieldChange("retry_limit", 3, 9)])
    assert "they are at version 2 now" in str(lost.value)
    assert store.tenants.get("acme").settings == {"retry_limit": 4}
    [entry] = store.settings_history.list("acme")
    assert (entry.version, entry.actor, entry.changes) == (2, "portal:admin", [FieldChange("retry_limit", 3, 4)])


def test_a_save_for_a_deleted_tenant_is_not_found_and_the_history_goes_with_the_tenant(store):
    tenant = store.tenants.create("acme", {})
    store.settings_history.save(tenant, {"retry_limit": 1}, expected_version=1, actor="a",
                                changes=[FieldChange("retry_limit", None, 1)])
    store.tenants.delete("acme")
    assert list(store.settings_history.list("acme")) == []
    with pytest.raises(NotFoundError):
        store.settings_history.save(tenant, {}, expected_version=2, actor="a", changes=[])
