"""Every product's mapper is a `connectors.base.Mapper`: the seam the export engine and the
reconciliation read through `Connector.mapper`, typed without `Any`.

The assignments below are what mypy checks (a mapper module missing a member, or with a member of
another type, is refused); `test_mypy_*` runs mypy over them and over mappers that do not conform, so
the check is proven to bite. The runtime tests hold what the engines read against the protocol."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from sagebridge.connectors import base
from sagebridge.connectors.base import Mapper, RemoteRecord
from sagebridge.connectors.sage200 import mapper as sage200_mapper
from sagebridge.connectors.sage200.client import Sage200Connector
from sagebridge.connectors.sage_accounting import mapper as sage_accounting_mapper
from sagebridge.connectors.sage_accounting.client import SageAccountingConnector
from sagebridge.connectors.sage_intacct import export_mapper as intacct_mapper
from sagebridge.connectors.sage_intacct.connector import IntacctConnector
from sagebridge.domain import SalesInvoice, TenantSettings
from sagebridge.sync.export import ExportEngine

# What mypy checks: each product's mapper module conforms to the protocol.
_sage_accounting: Mapper = sage_accounting_mapper
_sage200: Mapper = sage200_mapper
_intacct: Mapper = intacct_mapper

ROOT = Path(__file__).resolve().parents[3]
LAYER = ROOT / "layers" / "shared"
CONNECTORS = {"sage_accounting": SageAccountingConnector, "sage200": Sage200Connector,
              "sage_intacct": IntacctConnector}
MEMBERS = sorted(n for n in vars(Mapper) if not n.startswith("_"))
CONSTANTS = sorted(n for n in MEMBERS if isinstance(vars(Mapper)[n], property))


def test_the_protocol_lists_exactly_what_the_engine_and_the_reconciliation_read():
    sync = LAYER / "sagebridge" / "sync"
    read = set()
    for source in (*sorted((sync / "export").glob("*.py")), sync / "reconcile.py"):
        read |= set(re.findall(r"\bmapper\.([A-Za-z_]+)", source.read_text()))
    # Each connector declares `not_exported` from its mapper's NOT_EXPORTED (the engine and the status check read it).
    for connector in (LAYER / "sagebridge/connectors").glob("*/c*.py"):
        read |= set(re.findall(r"not_exported: .*= \w*mapper\.([A-Za-z_]+)", connector.read_text()))
    assert read == set(MEMBERS)
    assert len(MEMBERS) == 26 and CONSTANTS == ["ALLOCATION_SIGN", "CONTACT_TYPE", "LOCKED", "NOT_EXPORTED",
                                                "PAYMENT_TYPE", "TOTALS_FROM_LINES", "TaxTable"]


def test_sync_names_no_product_mapper():
    for source in (*sorted((LAYER / "sagebridge/sync/export").glob("*.py")), LAYER / "sagebridge/sync/reconcile.py"):
        text = source.read_text()
        assert not re.search(r"connectors\.(sage_accounting|sage200|sage_intacct)", text), source.name
        assert "getattr(self.mapper" not in text and 'getattr(connector, "mapper"' not in text


@pytest.mark.parametrize("provider", sorted(CONNECTORS))
def test_each_products_connector_brings_a_mapper_with_every_member(provider):
    connector = CONNECTORS[provider]
    assert connector.provider == provider
    mapper = connector.mapper
    # What it declares of itself, typed (the export engine reads these, no defaults behind them).
    assert connector.not_exported is mapper.NOT_EXPORTED
    assert isinstance(connector.creates_idempotent, bool) and isinstance(connector.search_settle, timedelta)
    assert isinstance(connector.voids_documents, bool)
    missing = [n for n in MEMBERS if not hasattr(mapper, n)]
    assert missing == []
    assert isinstance(mapper, Mapper)
    for name in MEMBERS:
        value = getattr(mapper, name)
        if name == "TOTALS_FROM_LINES":
            assert isinstance(value, bool)
        elif name == "LOCKED":
            assert isinstance(value, str) and value.startswith("is ")
        elif name == "TaxTable":
            table = value.from_records([RemoteRecord("ZERO", data={"percentage": "0", "tax_rate": "0",
                                                                   "name": "No tax", "code": "0"})])
            assert isinstance(table, base.TaxTable) and table.zero_rate_id == "ZERO"
        elif name in CONSTANTS:
            assert isinstance(value, Mapping), name
        else:
            assert callable(value), name


def test_the_engine_reads_the_connector_own_mapper_and_has_no_fallback():
    class WithMapper:
        provider = "sage200"
        mapper = sage200_mapper

    class Without:
        provider = "sage_accounting"

    settings = TenantSettings(provider="sage200")
    engine = ExportEngine(store=None, connector=WithMapper(), settings=settings)  # type: ignore[arg-type]
    assert engine.mapper is sage200_mapper
    with pytest.raises(AttributeError, match="mapper"):
        ExportEngine(store=None, connector=Without(), settings=settings)  # type: ignore[arg-type]


def test_an_intacct_document_refuses_another_products_tax_table():
    taxes = sage_accounting_mapper.TaxTable.from_records([RemoteRecord("NO_TAX", data={"percentage": "0"})])
    invoice = SalesInvoice.model_validate({
        "host_id": "D1", "number": "INV-1", "party_id": "C1", "document_date": "2025-03-01", "currency": "USD",
        "status": "pending_payment", "totals": {"net": "5", "tax": "0", "total": "5"},
        "lines": [{"description": "Call-out", "unit_price": "5", "tax_code": None}]})
    settings = TenantSettings(provider="sage_intacct", default_sales_ledger_account_id="4000")
    with pytest.raises(TypeError, match="Sage Intacct's tax table"):
        intacct_mapper.document_body(invoice, contact_id="C1", settings=settings, taxes=taxes,
                                     business_currency="USD")


# ------------------------------------------------------------------------------ mypy holds the seam


def _mypy(tmp_path: Path, modules: dict[str, str]) -> tuple[int, str]:
    api = pytest.importorskip("mypy.api")
    for name, text in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    out, err, status = api.run([
        "--python-version", "3.11", "--ignore-missing-imports", "--no-error-summary", "--follow-imports=silent",
        "--cache-dir", str(ROOT / ".mypy_cache" / "mapper-protocol"), "--config-file", str(tmp_path / "mypy.ini"),
        *(str(tmp_path / f"{n}.py") for n in modules),
    ])
    return status, out + err


def _all_but(member: str) -> str:
    """Sage Accounting's mapper, imported member by member, but for `member`."""
    kept = ", ".join(n for n in MEMBERS if n != member)
    return f"from sagebridge.connectors.sage_accounting.mapper import {kept}"


@pytest.mark.slow
def test_mypy_accepts_the_three_mappers(tmp_path, monkeypatch):
    monkeypatch.setenv("MYPYPATH", str(LAYER))
    status, said = _mypy(tmp_path, {"conform": """
        from sagebridge.connectors.base import Mapper
        from sagebridge.connectors.sage200 import mapper as sage200_mapper
        from sagebridge.connectors.sage_accounting import mapper as sage_accounting_mapper
        from sagebridge.connectors.sage_intacct import export_mapper as intacct_mapper

        a: Mapper = sage_accounting_mapper
        b: Mapper = sage200_mapper
        c: Mapper = intacct_mapper
        """})
    assert status == 0, said


@pytest.mark.slow
def test_mypy_refuses_a_mapper_that_misses_a_member_or_returns_another_type(tmp_path, monkeypatch):
    monkeypatch.setenv("MYPYPATH", str(LAYER))
    status, said = _mypy(tmp_path, {
        # Sage Accounting's mapper, but remote_total reads a float.
        "loose_mapper": f"""
            from sagebridge.connectors.base import RemoteRecord
            {_all_but("remote_total")}

            def remote_total(record: RemoteRecord) -> float:
                return 0.0
            """,
        # Sage Accounting's mapper without void_reason.
        "half_mapper": f"""
            {_all_but("void_reason")}
            """,
        "check": """
            import half_mapper
            import loose_mapper
            from sagebridge.connectors.base import Mapper

            loose: Mapper = loose_mapper
            half: Mapper = half_mapper
            """})
    assert status == 1
    errors = [line for line in said.splitlines() if "check.py" in line and "error:" in line]
    assert len(errors) == 2 and all('variable has type "Mapper"' in e for e in errors), said
    assert "remote_total" in said and "float" in said  # the member of another type is named
    assert re.search(r"missing following .*protocol member:\n.*void_reason", said), said  # the missing one is named
