"""What the engines read of a Sage record, whatever the product: the typed accessors of
RemoteRecord, and a check that no engine reaches into a record's product JSON (`data`) instead."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sagebridge
from sagebridge.connectors.base import RemoteRecord

LAYER = Path(sagebridge.__file__).parent


def test_a_record_says_its_name_version_and_whether_it_is_active_or_live():
    record = RemoteRecord.from_sage({"id": "7", "reference": "INV-1", "displayed_as": "Acme Ltd (ACME001)",
                                     "name": "Acme Ltd", "updated_at": "2026-12-01T10:00:00Z",
                                     "percentage": 20, "status": {"id": "UNPAID"}})
    assert (record.display_name, record.version, record.active, record.live) == \
        ("Acme Ltd (ACME001)", "2026-12-01T10:00:00Z", True, True)
    assert record.text("percentage") == "20" and record.text("nominal_code") is None


def test_a_record_without_a_displayed_name_is_named_by_its_name_and_one_without_either_has_none():
    assert RemoteRecord.from_sage({"id": "1", "name": "Standard 20%"}).display_name == "Standard 20%"
    assert RemoteRecord.from_sage({"id": "1"}).display_name is None
    assert RemoteRecord.from_sage({"id": "1"}).version is None


@pytest.mark.parametrize("flag", ["is_visible", "included_in_chart", "is_active", "active"])
def test_a_record_switched_off_in_sage_is_not_active(flag):
    assert RemoteRecord.from_sage({"id": "1", flag: False}).active is False
    assert RemoteRecord.from_sage({"id": "1", flag: True}).active is True


@pytest.mark.parametrize("data", [
    {"status": {"id": "VOID"}}, {"status": "voided"}, {"status": "DELETED"},
    {"void_reason": "entered twice"}, {"deleted_at": "2026-12-01T10:00:00Z"},
])
def test_a_voided_or_deleted_record_is_not_live(data):
    assert RemoteRecord.from_sage({"id": "1", **data}).live is False


def _reads_of_data(path: Path) -> list[int]:
    """Lines where a module reads `<something>.data` (a record's product JSON)."""
    tree = ast.parse(path.read_text(), str(path))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "data"]


def test_no_engine_or_operator_code_reads_a_records_product_json():
    """The export engine, the pollers, reconciliation and the admin code read records through the
    accessors above or the product's mapper: a `.data` read would name one product's fields."""
    offenders = {str(p.relative_to(LAYER)): lines
                 for package in ("sync", "admin") for p in sorted((LAYER / package).rglob("*.py"))
                 if (lines := _reads_of_data(p))}
    assert offenders == {}
