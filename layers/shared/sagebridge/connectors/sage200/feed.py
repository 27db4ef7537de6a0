"""What the payment poller and the catalog import read from Sage 200 (`Feed`, connectors/base.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sagebridge.connectors.sage200 import mapper
from sagebridge.connectors.sage200.client import Sage200Client, odata_datetime, odata_string
from sagebridge.domain.kinds import DocumentKind
from sagebridge.domain.money import to_decimal

_URN_BATCH = 20  # urns looked up per request ("urn eq 1 or urn eq 2 ...")


def _abs(value: Any) -> Decimal:
    return abs(to_decimal(value)) if value is not None else Decimal("0")


_RESOURCE_OF_KIND = {DocumentKind.SALES_INVOICE: "sales_invoices", DocumentKind.SALES_CREDIT_NOTE: "sales_credit_notes"}
_SOURCE_LINK = {DocumentKind.CUSTOMER_PAYMENT: "contact_payment", DocumentKind.CUSTOMER_REFUND: "contact_payment",
                DocumentKind.SALES_CREDIT_NOTE: "contact_allocation"}


class Sage200Feed:
    """The payment poller's `SageFeed` over Sage 200. Sage 200 has no payment or allocation records
    of its own: money moves between posted transactions, each listing the others of its allocation
    sessions by URN. Read here (changed since: `date_time_updated gt <UTC Z>`, `$orderby` + `$top` +
    `$skip` pages) and presented as the poller reads Sage Accounting:

    - `contact_payments`: receipts (and refunds), allocated to the invoices (credit notes) of their
      sessions;
    - `contact_allocations`: credit notes set against invoices;
    - `get("sales_invoices" | "sales_credit_notes", id)`: total, outstanding and what settled it;
      `get("contact_payments" | "contact_allocations", id)`: one of those, as `changed` lists it;
    - catalog: `products` (-> items), `tax_rates` (tax codes), `contacts` (customers); no services.
    Posted transactions are never deleted in Sage 200, so nothing is ever "deleted"."""

    def __init__(self, client: Sage200Client) -> None:
        self.client = client
        self._ids: dict[int, str] = {}  # urn -> posted transaction id, once per poll

    # ---- SageFeed

    def changed(self, resource: str, since: datetime | None, **filters: Any) -> Iterator[Mapping[str, Any]]:
        if resource == "contact_payments":
            return self._changed_money((DocumentKind.CUSTOMER_PAYMENT, DocumentKind.CUSTOMER_REFUND), since)
        if resource == "contact_allocations":
            return self._changed_money((DocumentKind.SALES_CREDIT_NOTE,), since)
        if resource == "products":
            return self._products(since)
        if resource == "tax_rates":
            return (self._tax_code(r) for r in self._updated("tax_codes", since))
        if resource == "contacts":
            return (self._customer(r) for r in self._updated("customers", since))
        return iter(())  # services and anything else Sage 200 does not have

    def deleted(self, resource: str, since: datetime) -> Iterator[Mapping[str, Any]]:
        return iter(())

    def get(self, resource: str, sage_id: str) -> Mapping[str, Any]:
        if resource in ("contact_payments", "contact_allocations"):  # one receipt (or credit note) as money
            row = self.client.get("sales_posted_transactions", sage_id)
            self._ids_for(int(item["urn"]) for item in row.get("allocation_session_items") or [])
            return self._money(row)
        record = self.client.get("sales_posted_transactions", sage_id)
        sessions = record.get("allocation_session_items") or []
        ids = self._ids_for(int(item["urn"]) for item in sessions)
        settled = []
        for item in sessions:
            kind = mapper.KIND_OF_TRANSACTION.get(str(item.get("trader_transaction_type")))
            link = _SOURCE_LINK.get(kind) if kind is not None else None
            if link is not None and int(item["urn"]) in ids:
                settled.append({"amount": _abs(item.get("allocation_value")), link: {"id": ids[int(item["urn"])]}})
        return {"id": str(record["id"]), "reference": record.get("reference"),
                "total_amount": _abs(record.get("document_gross_value")),
                "outstanding_amount": _abs(record.get("document_outstanding_value")),
                "payments_allocations": settled}

    # ---- reading

    def _updated(self, resource: str, since: datetime | None, extra: str | None = None) -> Iterator[dict[str, Any]]:
        parts = [p for p in (extra, f"date_time_updated gt {odata_datetime(since)}" if since else None) if p]
        return self.client.iterate(resource, filter=" and ".join(parts) or None, orderby="date_time_updated,id")

    def _products(self, since: datetime | None) -> Iterator[Mapping[str, Any]]:
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

    def _priced(self, rows: list[dict[str, Any]]) -> Iterator[Mapping[str, Any]]:
        ids = " or ".join(f"id eq {int(r['id'])}" for r in rows)
        prices = {str(v["id"]): v.get("selling_price")
                  for v in self.client.list("product_views", filter=ids, select="id,selling_price")}
        for row in rows:
            yield self._product(row, prices.get(str(row["id"])))

    def _changed_money(self, kinds: Iterable[DocumentKind], since: datetime | None) -> Iterator[Mapping[str, Any]]:
        types = " or ".join(f"trader_transaction_type eq {odata_string(mapper.TRANSACTION_TYPE[k])}" for k in kinds)
        rows = list(self._updated("sales_posted_transactions", since, f"({types})"))
        self._ids_for(int(i["urn"]) for r in rows for i in r.get("allocation_session_items") or [])
        for row in rows:
            yield self._money(row)

    def _ids_for(self, urns: Iterable[int]) -> dict[int, str]:
        wanted = sorted({u for u in urns if u not in self._ids})
        for start in range(0, len(wanted), _URN_BATCH):
            batch = wanted[start:start + _URN_BATCH]
            for row in self.client.posted_transactions(" or ".join(f"urn eq {u}" for u in batch)):
                self._ids[int(row["urn"])] = str(row["id"])
        return self._ids

    def _money(self, row: Mapping[str, Any]) -> dict[str, Any]:
        kind = mapper.KIND_OF_TRANSACTION.get(str(row.get("trader_transaction_type")))
        type_id = {DocumentKind.CUSTOMER_PAYMENT: "CUSTOMER_RECEIPT", DocumentKind.CUSTOMER_REFUND: "CUSTOMER_REFUND",
                   DocumentKind.SALES_CREDIT_NOTE: "CUSTOMER_ALLOCATION"}[kind]  # type: ignore[index]
        amounts: dict[str, tuple[DocumentKind, Decimal]] = {}
        for item in row.get("allocation_session_items") or []:
            other = mapper.KIND_OF_TRANSACTION.get(str(item.get("trader_transaction_type")))
            if other not in _RESOURCE_OF_KIND or other == kind or int(item["urn"]) not in self._ids:
                continue
            document_id = self._ids[int(item["urn"])]
            before = amounts.get(document_id, (other, Decimal("0")))[1]
            amounts[document_id] = (other, before + _abs(item.get("allocation_value")))  # type: ignore[assignment]
        return {
            "id": str(row["id"]), "transaction_type": {"id": type_id}, "updated_at": row.get("date_time_updated"),
            "date": str(row.get("transaction_date") or "")[:10], "reference": row.get("reference"),
            "total_amount": _abs(row.get("document_gross_value")), "currency": {"id": "GBP"},
            "allocated_artefacts": [
                {"artefact": {"id": doc_id, "$path": f"/{_RESOURCE_OF_KIND[doc_kind]}/{doc_id}"}, "amount": amount}
                for doc_id, (doc_kind, amount) in amounts.items()],
        }

    @staticmethod
    def _product(row: Mapping[str, Any], price: Any = None) -> dict[str, Any]:
        tax = row.get("tax_code_id")
        return {"id": str(row["id"]), "item_code": row.get("code"),
                "description": row.get("name") or row.get("description") or "",
                "sales_prices": [{"price": price}] if price is not None else [],
                "sales_tax_rate": {"id": str(tax)} if tax is not None else None,
                # stock.json: product_status_type is 'Active' or 'Inactive' (`status` is a read-only object)
                "active": str(row.get("product_status_type") or "Active") == "Active",
                "updated_at": row.get("date_time_updated")}

    @staticmethod
    def _tax_code(row: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": str(row["id"]), "name": row.get("name"), "percentage": row.get("tax_rate"),
                "is_visible": True, "updated_at": row.get("date_time_updated")}

    @staticmethod
    def _customer(row: Mapping[str, Any]) -> dict[str, Any]:
        address = row.get("main_address") or {}
        return {"id": str(row["id"]), "name": row.get("name"), "reference": row.get("reference"),
                "tax_number": row.get("vat_number"), "created_at": row.get("date_time_created"),
                "updated_at": row.get("date_time_updated"),
                "main_address": {"address_line_1": address.get("address_1"), "address_line_2": address.get("address_2"),
                                 "city": address.get("city"), "region": address.get("county"),
                                 "postal_code": address.get("postcode")}}


__all__ = ["Sage200Feed"]
