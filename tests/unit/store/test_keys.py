from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from sagebridge.store import keys


def test_tenant_items_share_one_partition():
    pk = keys.tenant_pk("acme")
    assert pk == "TENANT#acme"
    assert keys.settings_sk() == "SETTINGS"
    assert keys.connection_sk("sage_accounting") == "CONN#sage_accounting"
    assert keys.document_sk("invoice", "INV-1") == "DOC#invoice#INV-1"
    assert keys.mapping_sk("customer", "C-1") == "MAP#customer#C-1"
    assert keys.ledger_sk("invoice", "INV-1") == "LEDGER#invoice#INV-1"
    assert keys.log_sk("run1", "seq1") == "LOG#run1#seq1"
    assert keys.run_sk("run1") == "RUN#run1"
    assert keys.cursor_sk("payments") == "CURSOR#payments"
    assert keys.lease_sk("export") == "LEASE#export"


def test_index_partitions_are_per_tenant_and_never_collide():
    partitions = {
        keys.documents_by_posting_date_pk("acme", "sales"),
        keys.documents_by_document_date_pk("acme", "sales"),
        keys.documents_by_posting_date_pk("acme", "purchase"),
        keys.mapping_by_sage_id_pk("acme", "invoice", "s1"),
        keys.ledger_by_state_pk("acme", "failed"),
        keys.log_by_document_pk("acme", "invoice", "INV-1"),
        keys.deliveries_by_state_pk("acme", "queued"),
        keys.deliveries_of_tenant_pk("acme"),
        keys.tenants_gsi1pk(),
    }
    assert len(partitions) == 9
    assert keys.documents_by_posting_date_pk("acme", "sales") == "TENANT#acme#DOCS#sales#POSTED"
    assert keys.documents_by_document_date_pk("acme", "sales") == "TENANT#acme#DOCS#sales#DATED"
    assert keys.mapping_by_sage_id_pk("acme", "invoice", "s1") == "TENANT#acme#SAGE#invoice#s1"


def test_date_range_bounds_include_both_ends_and_nothing_outside():
    low, high = keys.date_range_bounds(date(2024, 3, 1), date(2024, 3, 31))
    inside = [keys.document_date_sk(date(2024, 3, d), "invoice", hid)
              for d in (1, 15, 31) for hid in ("0", "~~", "zz#9")]
    outside = [keys.document_date_sk(date(2024, 2, 29), "zz", "~"), keys.document_date_sk(date(2024, 4, 1), "a", "0")]
    assert all(low <= k <= high for k in inside)
    assert not any(low <= k <= high for k in outside)


@pytest.mark.parametrize("bad", ["", "a#b"])
def test_names_with_separators_are_refused(bad):
    with pytest.raises(ValueError):
        keys.tenant_pk(bad)
    with pytest.raises(ValueError):
        keys.document_sk(bad, "1")


def test_external_ids_may_hold_separators_but_not_be_empty():
    assert keys.document_sk("invoice", "A#1") == "DOC#invoice#A#1"
    with pytest.raises(ValueError):
        keys.mapping_sk("invoice", "")


def test_sortable_ids_sort_by_time_and_are_unique():
    t0 = datetime(2024, 1, 1, 23, 59, 59, 999000, tzinfo=UTC)
    ids = [keys.new_sortable_id(t0 + timedelta(milliseconds=n)) for n in range(3)]
    assert ids == sorted(ids)
    assert ids[0].startswith("20240101T235959999Z-")
    assert keys.new_sortable_id(t0) != keys.new_sortable_id(t0)
    assert "#" not in ids[0]
