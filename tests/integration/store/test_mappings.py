from __future__ import annotations

from decimal import Decimal

import pytest

from sagebridge.domain.errors import NotFoundError

pytestmark = pytest.mark.integration


def test_mapping_and_reverse_lookup(store):
    store.mappings.put("acme", "invoice", "INV-1", "sage-9", {"ref": "SI-1", "total": Decimal("10.50")})
    store.mappings.put("acme", "customer", "C-1", "sage-9")  # same Sage id, other kind
    store.mappings.put("globex", "invoice", "INV-7", "sage-9")  # same Sage id, other tenant

    mapping = store.mappings.get("acme", "invoice", "INV-1")
    assert mapping.sage_id == "sage-9" and mapping.extra == {"ref": "SI-1", "total": Decimal("10.50")}

    found = store.mappings.find_by_sage_id("acme", "invoice", "sage-9")
    assert (found.tenant_id, found.kind, found.host_id) == ("acme", "invoice", "INV-1")
    assert store.mappings.find_by_sage_id("acme", "customer", "sage-9").host_id == "C-1"
    assert store.mappings.find_by_sage_id("globex", "invoice", "sage-9").host_id == "INV-7"
    assert store.mappings.find_by_sage_id("acme", "invoice", "sage-unknown") is None


def test_relinking_moves_the_reverse_lookup(store):
    store.mappings.put("acme", "invoice", "INV-1", "sage-1")
    store.mappings.put("acme", "invoice", "INV-1", "sage-2")
    assert store.mappings.find_by_sage_id("acme", "invoice", "sage-1") is None
    assert store.mappings.find_by_sage_id("acme", "invoice", "sage-2").host_id == "INV-1"


def test_list_and_delete(store):
    for n in range(3):
        store.mappings.put("acme", "tax_rate", f"T{n}", f"GB_{n}")
    store.mappings.put("acme", "customer", "C-1", "sage-c")
    assert [m.host_id for m in store.mappings.list("acme", "tax_rate")] == ["T0", "T1", "T2"]
    assert len(store.mappings.list("acme")) == 4
    store.mappings.delete("acme", "tax_rate", "T1")
    with pytest.raises(NotFoundError):
        store.mappings.get("acme", "tax_rate", "T1")
    assert store.mappings.find_by_sage_id("acme", "tax_rate", "GB_1") is None
