"""What the payment poller and the catalog import read from Sage 200 (`Feed`, connectors/base.py), as
the typed read models of sagebridge.domain.remote."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sagebridge.connectors.mapping import day
from sagebridge.connectors.sage200 import mapper
from sagebridge.connectors.sage200.client import Sage200Client, odata_datetime, odata_string
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

_URN_BATCH = 20  # urns looked up per request ("urn eq 1 or urn eq 2 ...")


def _abs(value: Any) -> Decimal:
    return abs(to_decimal(value)) if value is not None else Decimal("0")


def _stamp(value: Any) -> str | None:
    return None if value is None else str(value)


_DOCUMENT_KINDS = frozenset({DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE})
# What a posted transaction in another's allocation session is to a document it settled: a receipt
# or refund (a payment), or a credit note set against it (an allocation).
_SETTLED_BY_ALLOCATION = {DocumentKind.CUSTOMER_PAYMENT: False, DocumentKind.CUSTOMER_REFUND: False,
                          DocumentKind.SALES_CREDIT_NOTE: True}
_MONEY_KIND = {DocumentKind.CUSTOMER_PAYMENT: MoneyKind.RECEIPT, DocumentKind.CUSTOMER_REFUND: MoneyKind.REFUND,
               DocumentKind.SALES_CREDIT_NOTE: MoneyKind.CREDIT_ALLOCATION}


class Sage200Feed:
    """The payment poller's `Feed` over Sage 200. Sage 200 has no payment or allocation records
    of its own: money moves between posted transactions, each listing the others of its allocation
    sessions by URN. Read here (changed since: `date_time_updated gt <UTC Z>`, `$orderby` + `$top` +
    `$skip` pages) as:

    - payments: receipts (and refunds), allocated to the invoices (credit notes) of their sessions;
    - allocations: credit notes set against invoices;
    - a document: total, outstanding and what settled it; one payment or allocation by id;
    - many documents (`documents`): the list answers carry what a balance needs (sales.json: the
      list and the record by id both answer `sales_posted_transaction`, with
      `document_outstanding_value` and `allocation_session_items`), so the invoices (credit notes)
      the money of this poll names, already listed by URN to learn their ids, are read from those
      answers; the rest 20 a request (`id eq .. or ..`), never one GET each;
    - catalog: `products` (-> items), `tax_codes` (tax rates), `customers`; no services.

    Reversals: the API cannot delete, cancel or unallocate anything, and the desktop's ways
    (Amend Allocation; Correct Transactions > Reverse, which needs the allocation removed first and
    then posts the opposite transaction against it) leave the receipt, refund or credit note in
    place, changed, no longer listing the document in its allocation sessions. It is read again
    as changed, and the poller tells the host the money it reported no longer pays (reason
    "changed") with the outstanding amount now. Nothing is reported as deleted: the desktop's
    Delete Transactions (a last resort for test data) leaves no trace the API can list."""

    def __init__(self, client: Sage200Client) -> None:
        self.client = client
        self._ids: dict[int, str] = {}  # urn -> posted transaction id, once per poll
        # posted transactions as this poll's lists answered them, by id: what `documents` reads
        self._listed: dict[str, dict[str, Any]] = {}

    # ---- Feed: money

    def payments_changed(self, since: datetime) -> Iterator[RemotePayment]:
        self._listed.clear()  # a poll's first read: no balance is taken from an earlier poll's lists
        return self._changed_money((DocumentKind.CUSTOMER_PAYMENT, DocumentKind.CUSTOMER_REFUND), since)

    def allocations_changed(self, since: datetime) -> Iterator[RemotePayment]:
        return self._changed_money((DocumentKind.SALES_CREDIT_NOTE,), since)

    def payments_deleted(self, since: datetime) -> Iterator[Removed]:
        return iter(())

    def allocations_deleted(self, since: datetime) -> Iterator[Removed]:
        return iter(())

    def payment(self, sage_id: str) -> RemotePayment:  # one receipt (or refund) as money
        row = self.client.get("sales_posted_transactions", sage_id)
        self._ids_for(int(item["urn"]) for item in row.get("allocation_session_items") or [])
        return self._money(row)

    allocation = payment  # a credit note set against invoices is a posted transaction too

    def document(self, kind: DocumentKind, sage_id: str) -> DocumentBalance:
        return self._balance(kind, self.client.get("sales_posted_transactions", sage_id))

    def documents(self, kind: DocumentKind, sage_ids: Collection[str], since: datetime) -> dict[str, DocumentBalance]:
        """Many documents' balances from list answers: those this poll already listed (by URN, with
        the money that names them), the others 20 a request by id; each settling transaction's id
        from its URN, 20 a request, where the poll has not listed it. Not found: left out."""
        if kind not in _DOCUMENT_KINDS:
            return {}
        wanted = sorted({str(i) for i in sage_ids}, key=lambda i: (len(i), i))
        missing = [i for i in wanted if i not in self._listed]
        for start in range(0, len(missing), _URN_BATCH):
            ids = " or ".join(f"id eq {int(i)}" for i in missing[start:start + _URN_BATCH])
            self._keep(self.client.posted_transactions(ids))
        records = [self._listed[i] for i in wanted if i in self._listed]
        self._ids_for(int(item["urn"]) for r in records for item in r.get("allocation_session_items") or [])
        return {str(r["id"]): self._balance(kind, r) for r in records}

    def _balance(self, kind: DocumentKind, record: Mapping[str, Any]) -> DocumentBalance:
        sessions = record.get("allocation_session_items") or []
        ids = self._ids_for(int(item["urn"]) for item in sessions)
        settled = []
        for item in sessions:
            other = mapper.KIND_OF_TRANSACTION.get(str(item.get("trader_transaction_type")))
            by_allocation = _SETTLED_BY_ALLOCATION.get(other) if other is not None else None
            if by_allocation is not None and int(item["urn"]) in ids:
                settled.append(Settlement(ids[int(item["urn"])], _abs(item.get("allocation_value")), by_allocation))
        return DocumentBalance(kind=kind, sage_id=str(record["id"]), number=record.get("reference"),
                               total=_abs(record.get("document_gross_value")),
                               outstanding=_abs(record.get("document_outstanding_value")), settled_by=tuple(settled))

    # ---- Feed: catalog

    def items_changed(self, since: datetime | None) -> Iterator[RemoteItem]:
        return self._products(since)

    def tax_rates_changed(self, since: datetime | None) -> Iterator[RemoteTaxRate]:
        return (self._tax_code(r) for r in self._updated("tax_codes", since))

    def customers_changed(self, since: datetime | None) -> Iterator[RemoteCustomer]:
        return (self._customer(r) for r in self._updated("customers", since))

    # ---- reading

    def _updated(self, resource: str, since: datetime | None, extra: str | None = None) -> Iterator[dict[str, Any]]:
        parts = [p for p in (extra, f"date_time_updated gt {odata_datetime(since)}" if since else None) if p]
        return self.client.iterate(resource, filter=" and ".join(parts) or None, orderby="date_time_updated,id")

    def _products(self, since: datetime | None) -> Iterator[RemoteItem]:
        """Products changed since, with their price: stock.json's `product` has none, its
        `product_view` has `selling_price`, read for a batch of products at a time."""
        batch: list[dict[str, Any]] = []
        for row in self._updated("products", since):
            batch.append(row)
            if len(batch) == _URN_BATCH:
                yield from self._priced(batch)
                batch = []
        if batch:
            yield from self._priced(batch)

    def _priced(self, rows: list[dict[str, Any]]) -> Iterator[RemoteItem]:
        ids = " or ".join(f"id eq {int(r['id'])}" for r in rows)
        prices = {str(v["id"]): v.get("selling_price")
                  for v in self.client.list("product_views", filter=ids, select="id,selling_price")}
        for row in rows:
            yield self._product(row, prices.get(str(row["id"])))

    def _changed_money(self, kinds: Iterable[DocumentKind], since: datetime | None) -> Iterator[RemotePayment]:
        types = " or ".join(f"trader_transaction_type eq {odata_string(mapper.TRANSACTION_TYPE[k])}" for k in kinds)
        rows = list(self._updated("sales_posted_transactions", since, f"({types})"))
        self._keep(rows)
        self._ids_for(int(i["urn"]) for r in rows for i in r.get("allocation_session_items") or [])
        for row in rows:
            yield self._money(row)

    def _ids_for(self, urns: Iterable[int]) -> dict[int, str]:
        wanted = sorted({u for u in urns if u not in self._ids})
        for start in range(0, len(wanted), _URN_BATCH):
            batch = wanted[start:start + _URN_BATCH]
            self._keep(self.client.posted_transactions(" or ".join(f"urn eq {u}" for u in batch)))
        return self._ids

    def _keep(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self._ids[int(row["urn"])] = str(row["id"])
            self._listed[str(row["id"])] = row

    def _money(self, row: Mapping[str, Any]) -> RemotePayment:
        kind = mapper.KIND_OF_TRANSACTION.get(str(row.get("trader_transaction_type")))
        amounts: dict[str, tuple[DocumentKind, Decimal]] = {}
        for item in row.get("allocation_session_items") or []:
            other = mapper.KIND_OF_TRANSACTION.get(str(item.get("trader_transaction_type")))
            if other not in _DOCUMENT_KINDS or other == kind or int(item["urn"]) not in self._ids:
                continue
            document_id = self._ids[int(item["urn"])]
            before = amounts.get(document_id, (other, Decimal("0")))[1]
            amounts[document_id] = (other, before + _abs(item.get("allocation_value")))  # type: ignore[assignment]
        return RemotePayment(
            sage_id=str(row["id"]), version=_stamp(row.get("date_time_updated")),
            kind=_MONEY_KIND[kind],  # type: ignore[index]  # only these kinds are listed or linked
            total=_abs(row.get("document_gross_value")), currency="GBP", on=day(row.get("transaction_date")),
            reference=row.get("reference"),
            allocations=tuple(Allocation(doc_kind, doc_id, amount) for doc_id, (doc_kind, amount) in amounts.items()),
        )

    @staticmethod
    def _product(row: Mapping[str, Any], price: Any = None) -> RemoteItem:
        tax = row.get("tax_code_id")
        return RemoteItem(
            sage_id=str(row["id"]), version=_stamp(row.get("date_time_updated")), item_type=ItemType.PRODUCT,
            code=row.get("code"), description=str(row.get("name") or row.get("description") or ""),
            sales_price=to_decimal(price) if price is not None else None,
            tax_rate_id=str(tax) if tax is not None else None,
            # stock.json: product_status_type is 'Active' or 'Inactive' (`status` is a read-only object)
            active=str(row.get("product_status_type") or "Active") == "Active",
        )

    @staticmethod
    def _tax_code(row: Mapping[str, Any]) -> RemoteTaxRate:
        return RemoteTaxRate(sage_id=str(row["id"]), version=_stamp(row.get("date_time_updated")),
                             name=row.get("name"), percentage=to_decimal(row.get("tax_rate") or 0))

    @staticmethod
    def _customer(row: Mapping[str, Any]) -> RemoteCustomer:
        address = row.get("main_address") or {}
        lines = tuple(line for line in (address.get("address_1"), address.get("address_2")) if line)
        return RemoteCustomer(
            sage_id=str(row["id"]), version=_stamp(row.get("date_time_updated")),
            created=_stamp(row.get("date_time_created")), name=row.get("name"), reference=row.get("reference"),
            tax_number=row.get("vat_number") or None,
            address=RemoteAddress(lines, address.get("city"), address.get("county"), address.get("postcode"))
            if lines or address.get("city") or address.get("postcode") else None,
        )


__all__ = ["Sage200Feed"]
