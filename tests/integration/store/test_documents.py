from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from sagebridge.domain.errors import ConflictError, NotFoundError
from sagebridge.store import DateBasis, StagedDocument

pytestmark = pytest.mark.integration


def doc(host_id, posted, dated, *, tenant="acme", ledger="sales", kind="invoice", version=1):
    return StagedDocument(
        tenant_id=tenant, kind=kind, host_id=host_id, ledger=ledger,
        canonical_json=f'{{"id":"{host_id}","v":{version}}}', payload_hash=f"hash-{host_id}-{version}",
        version=version, posting_date=date.fromisoformat(posted), document_date=date.fromisoformat(dated),
    )


@pytest.fixture
def staged(store):
    docs = [
        # posting date and document date differ on purpose
        doc("A", "2024-03-01", "2024-02-27"),
        doc("B", "2024-03-15", "2024-03-01"),
        doc("C", "2024-03-31", "2024-03-31"),
        doc("D", "2024-04-01", "2024-03-20"),
        doc("E", "2024-02-29", "2024-04-02"),
        doc("CN1", "2024-03-10", "2024-03-10", kind="credit_note"),
        doc("P1", "2024-03-10", "2024-03-10", ledger="purchase"),  # other ledger
        doc("X", "2024-03-10", "2024-03-10", tenant="globex"),  # other tenant
    ]
    for d in docs:
        store.documents.put(d)
    return docs


def ids(documents):
    return [d.host_id for d in documents]


def test_range_by_posting_date_inclusive_and_scoped(store, staged):
    found = store.documents.between("acme", "sales", DateBasis.POSTING, date(2024, 3, 1), date(2024, 3, 31))
    assert ids(found) == ["A", "CN1", "B", "C"]


def test_range_by_document_date_inclusive_and_scoped(store, staged):
    found = store.documents.between("acme", "sales", "document", date(2024, 3, 1), date(2024, 3, 31))
    assert ids(found) == ["B", "CN1", "D", "C"]


def test_single_day_and_kind_filter(store, staged):
    assert ids(store.documents.between("acme", "sales", "posting", date(2024, 3, 31), date(2024, 3, 31))) == ["C"]
    found = store.documents.between("acme", "sales", "posting", date(2024, 1, 1), date(2024, 12, 31),
                                    kinds=["credit_note"])
    assert ids(found) == ["CN1"]
    assert ids(store.documents.between("acme", "purchase", "posting", date(2024, 1, 1), date(2024, 12, 31))) == ["P1"]


def test_range_pages_through_more_than_one_page(store):
    for n in range(23):
        store.documents.put(doc(f"INV-{n:03d}", f"2024-05-{n % 28 + 1:02d}", "2024-05-01"))
    found = list(store.documents.between("acme", "sales", "posting", date(2024, 5, 1), date(2024, 5, 31),
                                         page_size=5))
    assert len(found) == 23
    assert [d.posting_date for d in found] == sorted(d.posting_date for d in found)


def test_round_trip(store):
    original = doc("A", "2024-03-01", "2024-02-27")
    store.documents.put(original)
    got = store.documents.get("acme", "invoice", "A")
    assert replace(got, staged_at=None) == original
    assert got.staged_at is not None
    with pytest.raises(NotFoundError):
        store.documents.get("acme", "invoice", "nope")


def test_an_older_version_never_overwrites_a_newer_one(store):
    store.documents.put(doc("A", "2024-03-01", "2024-03-01", version=5))
    with pytest.raises(ConflictError):
        store.documents.put(doc("A", "2024-01-01", "2024-01-01", version=4))
    with pytest.raises(ConflictError):  # a duplicate delivery of the same version: nothing to do
        store.documents.put(doc("A", "2024-01-01", "2024-01-01", version=5))
    assert store.documents.get("acme", "invoice", "A").version == 5

    store.documents.put(doc("A", "2024-06-01", "2024-06-01", version=6))
    moved = store.documents.get("acme", "invoice", "A")
    assert moved.version == 6 and moved.posting_date == date(2024, 6, 1)
    # the index moved with it
    assert ids(store.documents.between("acme", "sales", "posting", date(2024, 3, 1), date(2024, 3, 1))) == []
    assert ids(store.documents.between("acme", "sales", "posting", date(2024, 6, 1), date(2024, 6, 1))) == ["A"]


def test_transactional_put_is_all_or_nothing(store):
    store.documents.put(doc("OLD", "2024-03-01", "2024-03-01", version=9))
    with pytest.raises(ConflictError):
        store.transact([
            store.documents.put_op(doc("NEW", "2024-03-01", "2024-03-01")),
            store.mappings.put_op("acme", "customer", "C1", "sage-c1"),
            store.documents.put_op(doc("OLD", "2024-03-01", "2024-03-01", version=3)),  # stale: fails
        ])
    assert store.documents.find("acme", "invoice", "NEW") is None
    assert store.mappings.find("acme", "customer", "C1") is None
    assert store.documents.get("acme", "invoice", "OLD").version == 9

    store.transact([
        store.documents.put_op(doc("NEW", "2024-03-01", "2024-03-01")),
        store.mappings.put_op("acme", "customer", "C1", "sage-c1"),
    ])
    assert store.documents.find("acme", "invoice", "NEW") is not None


def test_mark_voided_and_delete(store):
    store.documents.put(doc("A", "2024-03-01", "2024-03-01", version=1))
    store.documents.mark_voided("acme", "invoice", "A", version=2)
    assert store.documents.get("acme", "invoice", "A").voided
    with pytest.raises(ConflictError):
        store.documents.mark_voided("acme", "invoice", "A", version=2)
    with pytest.raises(NotFoundError):
        store.documents.mark_voided("acme", "invoice", "ghost", version=1)
    store.documents.delete("acme", "invoice", "A")
    assert store.documents.find("acme", "invoice", "A") is None


def test_defect_04_staged_since_finds_what_arrived_or_changed_whatever_its_date(store, clock):
    store.documents.put(doc("OLD", "2024-03-01", "2024-03-01"))
    store.documents.put(doc("VOIDED", "2024-03-02", "2024-03-02"))
    clock.advance(minutes=15)
    since = clock.now
    for staged in (doc("BACKDATED", "2019-01-31", "2019-01-31"),
                   doc("OLD", "2024-03-01", "2024-03-01", version=2),  # changed
                   doc("CN9", "2024-03-05", "2024-03-05", kind="credit_note"),
                   doc("Y", "2024-03-05", "2024-03-05", tenant="globex")):  # other tenant
        store.documents.put(staged)
        clock.advance(seconds=1)
    store.documents.mark_voided("acme", "invoice", "VOIDED", version=2)

    found = list(store.documents.staged_since("acme", since))
    assert [d.host_id for d in found] == ["BACKDATED", "OLD", "CN9", "VOIDED"]  # in the order staged
    assert next(d for d in found if d.host_id == "VOIDED").voided
    assert [d.host_id for d in store.documents.staged_since("acme", since, kinds=["credit_note"])] == ["CN9"]
    assert list(store.documents.staged_since("acme", clock.now + timedelta(seconds=1))) == []
