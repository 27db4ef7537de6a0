"""The reconciliation report: for a period, what the host app sent us (its staged documents) against
what Sage holds for them, per kind: counts and totals on both sides and every difference listed.

Differences, in the words a bookkeeper uses:
- not_exported: the host has it, Sage does not (the ledger says why: skipped, failed, pending);
- missing_in_sage: we exported it, but Sage no longer has it (deleted or voided there);
- total_differs: both have it, with different totals;
- voided_in_host: the host voided or cancelled it, Sage still has it live;
- not_exportable_in_host: the host moved it to a status that is not in the books (a draft, a quote),
  Sage still has it live (both counted on Sage's side of the totals only: Sage holds them);
- only_in_sage: Sage has a document of that kind dated in the period that did not come from the host.

Sage's figures are read with the connector's own mapper (`Connector.mapper`: each product stores a
document's total under its own name).

Kinds the product never takes (`not_exported(connector)`: Intacct takes no purchase documents) are
in the report marked with the product's reason: their host documents are counted, Sage is not read
for them, and they do not unbalance the period (nothing of them is meant to be in Sage).

Money is compared like with like: totals are kept per currency (a EUR invoice is never added to GBP
ones), each shown with its currency's decimal places; a payment of 0 that only sets credit notes
against invoices (an offset) moved no money, so its Sage side is the money that moved, whatever
record the product keeps for the allocation (Sage 200 keeps no receipt: the export's record of it is
the credit note it used up).

Sage is read with one listing per kind (its own date range, widened to the host window) plus one
lookup per mapped document the listing did not show, so the cost follows the period's size.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from sagebridge.connectors.base import Connector, NotFound, not_exported
from sagebridge.domain.documents import Document
from sagebridge.domain.fields import host_status_key
from sagebridge.domain.kinds import DateBasis, DocumentKind, ledger_of
from sagebridge.domain.money import ZERO, minor_units, within_tolerance
from sagebridge.domain.payments import Payment
from sagebridge.domain.records import parse_host_record
from sagebridge.domain.settings import TenantSettings
from sagebridge.store import LedgerState, StagedDocument, Store

RECONCILED_KINDS = tuple(DocumentKind)

Problem = Literal["not_exported", "missing_in_sage", "total_differs", "voided_in_host", "not_exportable_in_host",
                  "only_in_sage"]
# Statuses by which the host undid a document (voided); any other status outside the exportable ones
# (draft, quote, estimate) is a document not yet, or never, in the books.
VOIDED_STATUSES = frozenset({"cancelled", "canceled", "void", "voided"})


class CurrencyTotals(BaseModel):
    """One currency's documents of a kind: amounts in that currency, with its decimal places."""

    currency: str | None  # None: a host document that could not be read
    host_count: int = 0
    host_total: Decimal = ZERO
    sage_count: int = 0
    sage_total: Decimal = ZERO


class KindTotals(BaseModel):
    kind: str
    # Set when the product never takes this kind (the product's reason): Sage is not read for it,
    # the host's documents are counted (to be entered in Sage by hand) and the period is not
    # unbalanced by them.
    not_exported: str | None = None
    host_count: int = 0
    # The kind's totals when all its documents share one currency; None when they do not (amounts
    # in different currencies are never added up): see `by_currency`.
    host_total: Decimal | None = Decimal("0.00")
    sage_count: int = 0  # of the host's documents, how many Sage holds live (voided in the host or not)
    sage_total: Decimal | None = Decimal("0.00")
    currency: str | None = None  # the one currency of host_total/sage_total (None: no documents, or several)
    by_currency: list[CurrencyTotals] = Field(default_factory=list)
    only_in_sage_count: int = 0
    voided_in_host: int = 0
    not_exportable_in_host: int = 0  # drafts, quotes: not in the books, so not counted on either side

    @property
    def balanced(self) -> bool:
        if self.not_exported is not None:
            return True
        return self.host_count == self.sage_count and all(
            c.host_count == c.sage_count and c.host_total == c.sage_total for c in self.by_currency)


class Difference(BaseModel):
    kind: str
    problem: Problem
    message: str
    host_id: str | None = None
    number: str | None = None
    sage_id: str | None = None
    currency: str | None = None  # of host_total and sage_total (None: not known, e.g. only in Sage)
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


def _is_offset(record: Document[Any] | Payment | None) -> bool:
    """A payment of 0 that only sets credit notes against invoices: no money moved."""
    return isinstance(record, Payment) and record.amount == ZERO and bool(record.allocations)


def _number(record: Document[Any] | Payment | None, staged: StagedDocument) -> str:
    return (getattr(record, "number", None) or getattr(record, "reference", None) or staged.host_id) if record \
        else staged.host_id


def _in(amount: Decimal | None, currency: str | None) -> Decimal | None:
    """An amount with its currency's decimal places (54 -> 54.00), as the accountant reads money."""
    if amount is None:
        return None
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency or "")))


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
    never = not_exported(connector)
    totals: list[KindTotals] = []
    differences: list[Difference] = []
    for kind in wanted:
        t, diffs = _reconcile_kind(store, connector, settings, tenant_id, kind, window_from, window_to, basis,
                                   never.get(kind))
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
    window_from: date, window_to: date, basis: DateBasis | None, never: str | None,
) -> tuple[KindTotals, list[Difference]]:
    t = KindTotals(kind=kind.value, not_exported=never)
    by_currency: dict[str | None, CurrencyTotals] = {}
    diffs: list[Difference] = []
    remote_total = connector.mapper.remote_total
    use_basis = basis or settings.date_basis_for(kind)
    staged = list(store.documents.between(tenant_id, ledger_of(kind).value, use_basis, window_from, window_to,
                                          kinds=[kind.value]))
    if never is not None:
        # The product never takes this kind: no Sage read (the product refuses it), only the host's
        # side, so the accountant sees what to enter in Sage by hand.
        for s in staged:
            record = _parsed(kind, s)
            if s.voided or _status_problem(record, settings) is not None:
                continue
            currency = record.currency if record is not None else None
            c = by_currency.setdefault(currency, CurrencyTotals(currency=currency))
            c.host_count += 1
            c.host_total += _host_total(record) if record is not None else ZERO
            t.host_count += 1
        return _totalled(t, by_currency), diffs
    refs = [(s.kind, s.host_id) for s in staged]
    mappings = store.mappings.find_many(tenant_id, refs) if refs else {}
    ledger = store.ledger.find_many(tenant_id, refs) if refs else {}
    listed = {r.id: r for r in connector.list_documents(kind, from_date=window_from, to_date=window_to)}
    ours: set[str] = set()
    for s in staged:
        record = _parsed(kind, s)
        number = _number(record, s)
        currency = record.currency if record is not None else None
        host_total = _in(_host_total(record), currency) if record is not None else None
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
        status = "voided" if s.voided else _status_problem(record, settings)
        if status is not None:
            voided = status == "voided" or host_status_key(status) in VOIDED_STATUSES
            if voided:
                t.voided_in_host += 1
            else:
                t.not_exportable_in_host += 1
            if live:
                assert remote is not None
                what = "voided" if s.voided else f"moved to status {status}"
                if not voided:
                    what += " (not exportable)"
                held = _in(remote_total(remote), currency)
                # Sage's side is what Sage holds: its totals carry this document, the host's do not,
                # so the period's totals differ by the amount the difference names.
                c = by_currency.setdefault(currency, CurrencyTotals(currency=currency))
                t.sage_count += 1
                c.sage_count += 1
                c.sage_total += held or ZERO
                problem: Problem = "voided_in_host" if voided else "not_exportable_in_host"
                diffs.append(Difference(kind=kind.value, problem=problem, host_id=s.host_id, number=number,
                                        sage_id=remote.id, currency=currency,
                                        sage_total=held,
                                        message=f"{number} was {what} in the host app but is live in Sage "
                                                f"(holding {held})"))
            continue
        c = by_currency.setdefault(currency, CurrencyTotals(currency=currency))
        t.host_count += 1
        c.host_count += 1
        c.host_total += host_total or ZERO
        if mapping is None:
            entry = ledger.get((s.kind, s.host_id))
            why = f"{entry.state.value}: {entry.reason}" if entry and entry.reason else (
                entry.state.value if entry else "not exported yet")
            if entry is not None and entry.state is LedgerState.EXPORTED:
                why = "exported, but its Sage id was not recorded"
            diffs.append(Difference(kind=kind.value, problem="not_exported", host_id=s.host_id, number=number,
                                    currency=currency, host_total=host_total,
                                    message=f"{number} is not in Sage ({why})"))
            continue
        if not live:
            # Voided by Sage Bridge itself (the host voided or cancelled it, then changed it back):
            # say so, so the accountant does not look for someone who deleted it by hand.
            how = ("voided there by Sage Bridge when the host app voided or cancelled it" if mapping.extra.get("voided")
                   else "deleted or voided in Sage")
            diffs.append(Difference(kind=kind.value, problem="missing_in_sage", host_id=s.host_id, number=number,
                                    sage_id=mapping.sage_id, currency=currency, host_total=host_total,
                                    message=f"{number} was exported as {mapping.sage_id}, which Sage no longer has "
                                            f"({how})"))
            continue
        assert remote is not None
        # An offset moved no money: its Sage side is the money that moved, whatever record the
        # product keeps for the allocation (Sage Accounting an allocation of 0, Sage 200 the credit
        # note it used up, whose own total is not a payment).
        sage_total = _in(ZERO if _is_offset(record) else remote_total(remote), currency)
        assert sage_total is not None
        t.sage_count += 1
        c.sage_count += 1
        c.sage_total += sage_total
        if host_total is not None and not within_tolerance(host_total, sage_total):
            diffs.append(Difference(kind=kind.value, problem="total_differs", host_id=s.host_id, number=number,
                                    sage_id=remote.id, currency=currency, host_total=host_total,
                                    sage_total=sage_total,
                                    message=f"{number}: the host says {host_total}, Sage holds {sage_total}"))
    for sage_id, remote in listed.items():
        if sage_id in ours or not remote.live:
            continue
        # Another route into Sage (typed in by hand, another app), or a host document outside the window.
        if store.mappings.find_by_sage_id(tenant_id, kind.value, sage_id) is not None:
            continue
        t.only_in_sage_count += 1
        diffs.append(Difference(kind=kind.value, problem="only_in_sage", sage_id=sage_id,
                                number=remote.reference, sage_total=_in(remote_total(remote), None),
                                message=f"Sage has {kind.value.replace('_', ' ')} {remote.reference or sage_id} "
                                        "dated in the period that did not come from the host app"))
    return _totalled(t, by_currency), diffs


def _parsed(kind: DocumentKind, staged: StagedDocument) -> Document[Any] | Payment | None:
    try:
        record = parse_host_record(kind, staged.canonical_json)
    except ValidationError:
        return None
    assert isinstance(record, Document | Payment)
    return record


def _status_problem(record: Document[Any] | Payment | None, settings: TenantSettings) -> str | None:
    """The document's status when it is one the books do not take (draft, quote, cancelled)."""
    if isinstance(record, Document) and not settings.is_exportable_status(record.status):
        return str(record.status)
    return None


def _totalled(t: KindTotals, by_currency: dict[str | None, CurrencyTotals]) -> KindTotals:
    """Each currency's totals with its own decimal places; the kind's totals only when one currency."""
    t.by_currency = [c.model_copy(update={"host_total": _in(c.host_total, c.currency),
                                          "sage_total": _in(c.sage_total, c.currency)})
                     for c in sorted(by_currency.values(), key=lambda c: c.currency or "")]
    if len(t.by_currency) == 1:
        [only] = t.by_currency
        t.currency, t.host_total, t.sage_total = only.currency, only.host_total, only.sage_total
    elif len(t.by_currency) > 1:
        t.host_total = t.sage_total = None  # never a sum of different currencies: see by_currency
    return t


__all__ = ["CurrencyTotals", "Difference", "KindTotals", "ReconciliationReport", "reconcile"]

