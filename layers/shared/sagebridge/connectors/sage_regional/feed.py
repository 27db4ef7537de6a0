"""What the payment poller and the catalog import read from the regional API (`Feed`,
connectors/base.py), as the typed read models of sagebridge.domain.remote.

The regional API has no webhooks and no documented "changed since": this feed filters on `Created` /
`Modified` (date fields, which Sage's OData subset can filter; README §9 marks the filter
unconfirmed) and the poller keeps the cursor. What it reads:
- payments: customer receipts created or changed since the cursor, each with the tax invoices it is
  allocated to (Allocation rows, looked up 20 receipts a request by SourceDocumentId). An allocation
  made later changes the receipt's `Modified`, so it is read again;
- a document: a tax invoice's total, `AmountDue` and the allocations that settled it; many at once
  20 a request (`documents`);
- catalog: tax types, items, customers.
Not read (declared): credit allocations (a return set against an invoice shows on the invoice's
AmountDue only), and deletions (Sage lists none).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sagebridge.connectors.base import NotFound
from sagebridge.connectors.mapping import day
from sagebridge.connectors.sage_regional.client import odata_datetime
from sagebridge.connectors.sage_regional.connector import REGION_CURRENCY, RegionalConnector
from sagebridge.domain.catalog import ItemType
from sagebridge.domain.kinds import DocumentKind
from sagebridge.domain.money import to_decimal
from sagebridge.domain.remote import (
    Allocation,
    DocumentBalance,
    MoneyKind,
    RemoteAddress,
    RemoteCustomer,
    RemoteItem,
    RemotePayment,
    RemoteTaxRate,
    Removed,
    Settlement,
)

_BATCH = 20  # receipts whose allocations are read in one request


def _abs(value: Any) -> Decimal:
    return abs(to_decimal(value)) if value is not None else Decimal("0")


def _stamp(row: Mapping[str, Any]) -> str | None:
    """Sage's change stamp, as UTC: the regional API writes it without an offset (assumed UTC)."""
    value = row.get("Modified") or row.get("Created")
    if value is None:
        return None
    text = str(value)
    return text if text.endswith("Z") or "+" in text[10:] else f"{text}+00:00"


def _any(field: str, ids: Iterable[int]) -> str:
    return " or ".join(f"{field} eq {int(i)}" for i in ids)


def _changed(since: datetime | None) -> str | None:
    if since is None:
        return None
    stamp = odata_datetime(since)
    return f"Created ge {stamp} or Modified ge {stamp}"


class RegionalFeed:
    """The payment poller's `Feed` over one tenant's regional company."""

    def __init__(self, connector: RegionalConnector) -> None:
        self.connector = connector
        self.client = connector.client
        self.currency = REGION_CURRENCY.get(connector.region, "")
        self._receipts: set[int] = set()  # receipts this poll listed: known to be receipts without asking

    # ---- money

    def payments_changed(self, since: datetime) -> Iterator[RemotePayment]:
        rows = list(self.client.iterate("CustomerReceipt", filter=_changed(since)))
        self._receipts = {int(r["ID"]) for r in rows}
        allocations = self._allocations([int(r["ID"]) for r in rows])
        for row in rows:
            yield self._receipt(row, allocations.get(int(row["ID"]), []))

    def allocations_changed(self, since: datetime) -> Iterator[RemotePayment]:
        return iter(())  # declared: returns set against invoices are not reported as money

    def payments_deleted(self, since: datetime) -> Iterator[Removed]:
        return iter(())  # Sage lists no deletions

    def allocations_deleted(self, since: datetime) -> Iterator[Removed]:
        return iter(())

    def payment(self, sage_id: str) -> RemotePayment:
        row = self.client.get("CustomerReceipt", sage_id)
        return self._receipt(row, self._allocations([int(row["ID"])]).get(int(row["ID"]), []))

    def allocation(self, sage_id: str) -> RemotePayment:
        raise NotFound(f"credit allocations are not read from the regional API (allocation {sage_id})", status=404)

    def document(self, kind: DocumentKind, sage_id: str) -> DocumentBalance:
        service = "TaxInvoice" if kind is DocumentKind.SALES_INVOICE else "CustomerReturn"
        row = self.client.get(service, sage_id)
        settled = []
        for allocation in self.client.iterate("Allocation", filter=f"AllocatedToDocumentId eq {int(sage_id)}"):
            source = str(allocation["SourceDocumentId"])
            by_allocation = not self._is_receipt(source)  # else a customer return set against it
            settled.append(Settlement(source, _abs(allocation.get("Total")), by_allocation=by_allocation))
        return DocumentBalance(kind=kind, sage_id=str(row["ID"]), number=row.get("DocumentNumber"),
                               total=_abs(row.get("Total")), outstanding=_abs(row.get("AmountDue")),
                               settled_by=tuple(settled))

    def documents(self, kind: DocumentKind, sage_ids: Collection[str], since: datetime) -> dict[str, DocumentBalance]:
        """Many documents' balances, 20 a request per list: the documents (`ID eq .. or ..`), the
        allocations that settled them, and which of those came from receipts (asked only of the
        sources this poll did not list as receipts), instead of a GET of each document and of each
        settling receipt. Documents not found are left out."""
        service = "TaxInvoice" if kind is DocumentKind.SALES_INVOICE else "CustomerReturn"
        ids = sorted({int(i) for i in sage_ids})
        rows: dict[int, dict[str, Any]] = {}
        settling: dict[int, list[dict[str, Any]]] = {}
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start:start + _BATCH]
            rows.update((int(r["ID"]), r) for r in self.client.iterate(service, filter=_any("ID", chunk)))
            for allocation in self.client.iterate("Allocation", filter=_any("AllocatedToDocumentId", chunk)):
                settling.setdefault(int(allocation["AllocatedToDocumentId"]), []).append(allocation)
        receipts = {int(a["SourceDocumentId"]) for found in settling.values() for a in found} & self._receipts
        sources = sorted({int(a["SourceDocumentId"]) for found in settling.values() for a in found} - receipts)
        for start in range(0, len(sources), _BATCH):
            receipts.update(int(r["ID"]) for r in self.client.iterate(
                "CustomerReceipt", filter=_any("ID", sources[start:start + _BATCH])))
        out: dict[str, DocumentBalance] = {}
        for document_id, row in rows.items():
            settled = tuple(Settlement(str(a["SourceDocumentId"]), _abs(a.get("Total")),
                                       by_allocation=int(a["SourceDocumentId"]) not in receipts)
                            for a in sorted(settling.get(document_id, []), key=lambda a: int(a.get("ID") or 0)))
            out[str(document_id)] = DocumentBalance(
                kind=kind, sage_id=str(row["ID"]), number=row.get("DocumentNumber"), total=_abs(row.get("Total")),
                outstanding=_abs(row.get("AmountDue")), settled_by=settled)
        return out

    def _is_receipt(self, sage_id: str) -> bool:
        try:
            self.client.get("CustomerReceipt", sage_id)
        except NotFound:
            return False
        return True

    def _allocations(self, receipt_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        ids = sorted(set(receipt_ids))
        for start in range(0, len(ids), _BATCH):
            where = " or ".join(f"SourceDocumentId eq {i}" for i in ids[start:start + _BATCH])
            for row in self.client.iterate("Allocation", filter=where):
                out.setdefault(int(row["SourceDocumentId"]), []).append(row)
        return out

    def _receipt(self, row: Mapping[str, Any], allocations: list[dict[str, Any]]) -> RemotePayment:
        amounts: dict[str, Decimal] = {}
        for allocation in allocations:
            target = str(allocation["AllocatedToDocumentId"])
            amounts[target] = amounts.get(target, Decimal("0")) + _abs(allocation.get("Total"))
        return RemotePayment(
            sage_id=str(row["ID"]), version=_stamp(row), kind=MoneyKind.RECEIPT, total=_abs(row.get("Total")),
            currency=self.currency, on=day(row.get("Date")), reference=row.get("Reference"),
            allocations=tuple(Allocation(DocumentKind.SALES_INVOICE, doc, amount) for doc, amount in amounts.items()))

    # ---- catalog

    def items_changed(self, since: datetime | None) -> Iterator[RemoteItem]:
        for row in self.client.iterate("Item", filter=_changed(since)):
            tax = row.get("TaxTypeIdSales")
            yield RemoteItem(
                sage_id=str(row["ID"]), version=_stamp(row),
                item_type=ItemType.PRODUCT if row.get("Physical") else ItemType.SERVICE,
                code=row.get("Code"), description=str(row.get("Description") or ""),
                sales_price=to_decimal(row["PriceExclusive"]) if row.get("PriceExclusive") is not None else None,
                purchase_price=to_decimal(row["LastCost"]) if row.get("LastCost") is not None else None,
                tax_rate_id=str(tax) if tax is not None else None, active=row.get("Active", True) is not False)

    def tax_rates_changed(self, since: datetime | None) -> Iterator[RemoteTaxRate]:
        for row in self.client.iterate("TaxType", filter=_changed(since)):
            yield RemoteTaxRate(sage_id=str(row["ID"]), version=_stamp(row), name=row.get("Name"),
                                percentage=to_decimal(row.get("Percentage") or 0),
                                active=row.get("Active", True) is not False)

    def customers_changed(self, since: datetime | None) -> Iterator[RemoteCustomer]:
        for row in self.client.iterate("Customer", filter=_changed(since)):
            lines = tuple(str(row[f"PostalAddress0{n}"]) for n in range(1, 4) if row.get(f"PostalAddress0{n}"))
            city = row.get("PostalAddress04") or None
            yield RemoteCustomer(
                sage_id=str(row["ID"]), version=_stamp(row), created=_stamp({"Created": row.get("Created")}),
                name=row.get("Name"), reference=row.get("TextField1") or None, email=row.get("Email") or None,
                phone=row.get("Telephone") or None, tax_number=row.get("TaxReference") or None,
                currency=self.currency or None,
                address=RemoteAddress(lines, city) if lines or city else None)


__all__ = ["RegionalFeed"]
