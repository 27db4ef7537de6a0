"""The reconciliation report: for a period, what the host app sent us (its staged documents) against
what Sage holds for them, per kind: counts and totals on both sides and every difference listed.

Differences, in the words a bookkeeper uses:
- not_exported: the host has it, Sage does not (the ledger says why: skipped, failed, pending);
- missing_in_sage: we exported it, but Sage no longer has it (deleted or voided there);
- total_differs: both have it, with different totals;
- voided_in_host: the host voided it, Sage still has it live;
- only_in_sage: Sage has a document of that kind dated in the period that did not come from the host.

Sage's figures are read with the connector's own mapper (`Connector.mapper`: each product stores a
document's total under its own name).

Sage is read with one listing per kind (its own date range, widened to the host window) plus one
lookup per mapped document the listing did not show, so the cost follows the period's size.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from sagebridge.connectors.base import Connector, NotFound
from sagebridge.domain.documents import Document
from sagebridge.domain.kinds import DateBasis, DocumentKind, ledger_of
from sagebridge.domain.money import ZERO, minor_units, within_tolerance
from sagebridge.domain.payments import Payment
from sagebridge.domain.records import parse_host_record
from sagebridge.domain.settings import TenantSettings
from sagebridge.store import LedgerState, StagedDocument, Store

RECONCILED_KINDS = tuple(DocumentKind)

Problem = Literal["not_exported", "missing_in_sage", "total_differs", "voided_in_host", "only_in_sage"]


class KindTotals(BaseModel):
    kind: str
    host_count: int = 0
    host_total: Decimal = ZERO
    sage_count: int = 0  # of the host's documents, how many Sage holds (live)
    sage_total: Decimal = ZERO
    only_in_sage_count: int = 0
    voided_in_host: int = 0

    @property
    def balanced(self) -> bool:
        return self.host_count == self.sage_count and self.host_total == self.sage_total


class Difference(BaseModel):
    kind: str
    problem: Problem
    message: str
    host_id: str | None = None
    number: str | None = None
    sage_id: str | None = None
    host_total: Decimal | None = None
    sage_total: Decimal | None = None


class ReconciliationReport(BaseModel):
    tenant_id: str
    window_from: date
    window_to: date
    date_basis: str  # "posting", "document" or "per_ledger" (each ledger's basis from the settings)
    generated_at: datetime
    balanced: bool
    kinds: list[KindTotals]
    differences: list[Difference] = Field(default_factory=list)


def _host_total(record: Document[Any] | Payment) -> Decimal:
    return record.amount if isinstance(record, Payment) else record.totals.total


def _number(record: Document[Any] | Payment | None, staged: StagedDocument) -> str:
    return (getattr(record, "number", None) or getattr(record, "reference", None) or staged.host_id) if record \
        else staged.host_id


def reconcile(
    store: Store,
    connector: Connector,
    settings: TenantSettings,
    tenant_id: str,
    *,
    window_from: date,
    window_to: date,
    kinds: Iterable[str] | None = None,
    date_basis: DateBasis | str | None = None,
) -> ReconciliationReport:
    if window_from > window_to:
        raise ValueError(f"from {window_from} is after to {window_to}")
    wanted = [DocumentKind(k) for k in kinds] if kinds else list(RECONCILED_KINDS)
    basis = DateBasis(date_basis) if date_basis else None
    totals: list[KindTotals] = []
    differences: list[Difference] = []
    for kind in wanted:
        t, diffs = _reconcile_kind(store, connector, settings, tenant_id, kind, window_from, window_to, basis)
        totals.append(t)
        differences += diffs
    return ReconciliationReport(
        tenant_id=tenant_id, window_from=window_from, window_to=window_to,
        date_basis=basis.value if basis else "per_ledger", generated_at=store.table.now(),
        balanced=not any(d.problem != "only_in_sage" for d in differences) and all(t.balanced for t in totals),
        kinds=totals, differences=differences,
    )


def _reconcile_kind(
    store: Store, connector: Connector, settings: TenantSettings, tenant_id: str, kind: DocumentKind,
    window_from: date, window_to: date, basis: DateBasis | None,
) -> tuple[KindTotals, list[Difference]]:
    t = KindTotals(kind=kind.value)
    diffs: list[Difference] = []
    remote_total = connector.mapper.remote_total
    use_basis = basis or settings.date_basis_for(kind)
    staged = list(store.documents.between(tenant_id, ledger_of(kind).value, use_basis, window_from, window_to,
                                          kinds=[kind.value]))
    refs = [(s.kind, s.host_id) for s in staged]
    mappings = store.mappings.find_many(tenant_id, refs) if refs else {}
    ledger = store.ledger.find_many(tenant_id, refs) if refs else {}
    listed = {r.id: r for r in connector.list_documents(kind, from_date=window_from, to_date=window_to)}
    ours: set[str] = set()
    for s in staged:
        try:
            record = parse_host_record(kind, s.canonical_json)
        except ValidationError:
            record = None
        assert record is None or isinstance(record, Document | Payment)
        number = _number(record, s)
        host_total = _host_total(record) if record is not None else None
        mapping = mappings.get((s.kind, s.host_id))
        remote = None
        if mapping is not None:
            ours.add(mapping.sage_id)
            remote = listed.get(mapping.sage_id)
            if remote is None:
                try:
                    remote = connector.get_document(kind, mapping.sage_id)
                except NotFound:
                    remote = None
        live = remote is not None and remote.live
        # A draft, quote or cancelled document is not in the books: Sage should not have it live.
        outside = (isinstance(record, Document) and not settings.is_exportable_status(record.status))
        if s.voided or outside:
            t.voided_in_host += 1
            if live:
                assert remote is not None and record is not None
                what = "voided" if s.voided else f"moved to status {record.status}"  # type: ignore[union-attr]
                diffs.append(Difference(kind=kind.value, problem="voided_in_host", host_id=s.host_id, number=number,
                                        sage_id=remote.id, sage_total=remote_total(remote),
                                        message=f"{number} was {what} in the host app but is live in Sage "
                                                f"(holding {_money(remote_total(remote), record)})"))
            continue
        t.host_count += 1
        t.host_total += host_total or ZERO
        if mapping is None:
            entry = ledger.get((s.kind, s.host_id))
            why = f"{entry.state.value}: {entry.reason}" if entry and entry.reason else (
                entry.state.value if entry else "not exported yet")
            if entry is not None and entry.state is LedgerState.EXPORTED:
                why = "exported, but its Sage id was not recorded"
            diffs.append(Difference(kind=kind.value, problem="not_exported", host_id=s.host_id, number=number,
                                    host_total=host_total, message=f"{number} is not in Sage ({why})"))
            continue
        if not live:
            # Voided by Sage Bridge itself (the host voided or cancelled it, then changed it back):
            # say so, so the accountant does not look for someone who deleted it by hand.
            how = ("voided there by Sage Bridge when the host app voided or cancelled it" if mapping.extra.get("voided")
                   else "deleted or voided in Sage")
            diffs.append(Difference(kind=kind.value, problem="missing_in_sage", host_id=s.host_id, number=number,
                                    sage_id=mapping.sage_id, host_total=host_total,
                                    message=f"{number} was exported as {mapping.sage_id}, which Sage no longer has "
                                            f"({how})"))
            continue
        assert remote is not None
        sage_total = remote_total(remote)
        t.sage_count += 1
        t.sage_total += sage_total
        if host_total is not None and not within_tolerance(host_total, sage_total):
            diffs.append(Difference(kind=kind.value, problem="total_differs", host_id=s.host_id, number=number,
                                    sage_id=remote.id, host_total=host_total, sage_total=sage_total,
                                    message=f"{number}: the host says {_money(host_total, record)}, Sage holds "
                                            f"{_money(sage_total, record)}"))
    for sage_id, remote in listed.items():
        if sage_id in ours or not remote.live:
            continue
        # Another route into Sage (typed in by hand, another app), or a host document outside the window.
        if store.mappings.find_by_sage_id(tenant_id, kind.value, sage_id) is not None:
            continue
        t.only_in_sage_count += 1
        diffs.append(Difference(kind=kind.value, problem="only_in_sage", sage_id=sage_id,
                                number=remote.reference, sage_total=remote_total(remote),
                                message=f"Sage has {kind.value.replace('_', ' ')} {remote.reference or sage_id} "
                                        "dated in the period that did not come from the host app"))
    return t, diffs


__all__ = ["Difference", "KindTotals", "ReconciliationReport", "reconcile"]


def _money(amount: Decimal, record: Document[Any] | Payment | None) -> str:
    """An amount as the accountant reads it: with its pence (18.00, not 18)."""
    places = minor_units(record.currency) if record is not None else 2
    return f"{amount:.{places}f}"
