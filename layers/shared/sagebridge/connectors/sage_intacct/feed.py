"""What the payment poller and the catalog import read from Intacct (`Feed`, connectors/base.py), as the
typed read models of sagebridge.domain.remote, polled by WHENMODIFIED: the poller reads its cursor
minus an overlap, so a record saved during a poll is read again (and deduplicated by the deliveries
store).

- payments: ARPYMT (+ ARPYMTDETAIL: which invoice, how much cash, which credit memo applied), also
  one by id; a reversed receipt is reported as deleted, so the host hears `invoice.payment_reversed`.
  An ARPYMT that moves no money and only applies credit memos is a credit note set against invoices
  (MoneyKind.CREDIT_ALLOCATION): the host hears the invoice part paid or paid, not money received;
- documents: ARINVOICE / ARADJUSTMENT with the receipts applied to them in order (so each receipt's
  outstanding-after is right);
- items: ITEM, inventory items as products then non-inventory ones as services; customers: CUSTOMER;
  tax rates: TAXDETAIL (sales).
- allocations: none of their own (a credit memo's application is an ARPYMT, read with the payments).
- refunds: none. Intacct keeps a customer refund as its REST object accounts-receivable/customer-refund
  (or, processed in AP, as a bill); the XML API documents no object to read one by, and ARPYMT holds
  receipts against invoices and debit memos only (docs/mapping.md).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sagebridge.connectors.base import NotFound
from sagebridge.connectors.sage_intacct import mapper
from sagebridge.connectors.sage_intacct.connector import IntacctConnector
from sagebridge.domain.catalog import ItemType
from sagebridge.domain.kinds import DocumentKind
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

READ_KEYS_AT_ONCE = 100  # keys per `read` (and per IN list): Intacct's documented page size for reads
DEFAULT_CURRENCY = "GBP"  # a receipt without CURRENCY: what the host has always been told


def _stamp(value: Any) -> str | None:
    """WHENMODIFIED / WHENCREATED as an ISO stamp (the version the host's event ids are keyed on)."""
    when = mapper.timestamp_of(value)
    return when.isoformat() if when else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


class IntacctFeed:
    def __init__(self, connector: IntacctConnector) -> None:
        self.connector = connector
        self.client = connector.client

    def _since(self, since: datetime | None) -> str:
        return f"WHENMODIFIED >= {mapper.quoted(mapper.query_timestamp(since))}" if since else ""

    def _payments(self, since: datetime | None) -> list[dict[str, Any]]:
        return list(self.client.read_by_query("ARPYMT", self._since(since)))

    # ---- money

    def payments_changed(self, since: datetime) -> Iterator[RemotePayment]:
        rows = [r for r in self._payments(since) if not mapper.is_voided(r)]
        details = self.connector.payment_details([str(r.get("RECORDNO")) for r in rows])
        return (receipt(r, details.get(str(r.get("RECORDNO")), [])) for r in rows)

    def allocations_changed(self, since: datetime) -> Iterator[RemotePayment]:
        return iter(())

    def payments_deleted(self, since: datetime) -> Iterator[Removed]:
        return (Removed(str(r.get("RECORDNO"))) for r in self._payments(since) if mapper.is_voided(r))

    def allocations_deleted(self, since: datetime) -> Iterator[Removed]:
        return iter(())

    def payment(self, sage_id: str) -> RemotePayment:
        rows = [r for r in self.client.read_by_query("ARPYMT", f"RECORDNO = {mapper.quoted(sage_id)}")
                if not mapper.is_voided(r)]
        if not rows:
            raise NotFound(f"receipt {sage_id} is not in Sage Intacct (or was reversed)", status=404)
        details = self.connector.payment_details([sage_id])
        return receipt(rows[0], details.get(sage_id, []))

    def allocation(self, sage_id: str) -> RemotePayment:
        raise NotFound("credit allocations are not read from Sage Intacct", status=404)

    def document(self, kind: DocumentKind, sage_id: str) -> DocumentBalance:
        if kind not in (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE):
            raise NotFound(f"a {kind.value.replace('_', ' ')} is not read from Sage Intacct", status=404)
        rows = self.client.read(mapper.INVOICE_OBJECTS[kind], [sage_id])
        if not rows:
            raise NotFound(f"{mapper.INVOICE_OBJECTS[kind]} {sage_id} is not in Sage Intacct", status=404)
        applied = self.client.read_by_query("ARPYMTDETAIL", f"RECORDKEY = {mapper.quoted(sage_id)}")
        return document_balance(kind, rows[0], sorted(applied, key=lambda d: int(d.get("RECORDNO") or 0)))

    def documents(self, kind: DocumentKind, sage_ids: Collection[str], since: datetime) -> dict[str, DocumentBalance]:
        """Many documents' balances, 100 at a time: one `read` of their records and one query of the
        payment details applied to them (`RECORDKEY IN`), instead of two requests each."""
        if kind not in (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE):
            return {}
        ids = sorted(sage_ids)
        found: dict[str, DocumentBalance] = {}
        for start in range(0, len(ids), READ_KEYS_AT_ONCE):
            chunk = ids[start:start + READ_KEYS_AT_ONCE]
            rows = {str(r.get("RECORDNO")): r for r in self.client.read(mapper.INVOICE_OBJECTS[kind], chunk)}
            applied: dict[str, list[dict[str, Any]]] = {}
            if rows:
                listed = ", ".join(mapper.quoted(i) for i in sorted(rows))
                for detail in self.client.read_by_query("ARPYMTDETAIL", f"RECORDKEY IN ({listed})"):
                    applied.setdefault(str(detail.get("RECORDKEY")), []).append(detail)
            for sage_id, row in rows.items():
                details = sorted(applied.get(sage_id, []), key=lambda d: int(d.get("RECORDNO") or 0))
                found[sage_id] = document_balance(kind, row, details)
        return found

    # ---- catalog

    def items_changed(self, since: datetime | None) -> Iterator[RemoteItem]:
        for item_type in (ItemType.PRODUCT, ItemType.SERVICE):  # one query each, as ever
            for row in self.client.read_by_query("ITEM", self._since(since)):
                if (item_type is ItemType.SERVICE) == mapper.is_service(row):
                    yield item(row, item_type)

    def tax_rates_changed(self, since: datetime | None) -> Iterator[RemoteTaxRate]:
        query = " AND ".join(q for q in ("TAXTYPE = 'Sale'", self._since(since)) if q)
        return (tax_rate(r) for r in self.client.read_by_query("TAXDETAIL", query))

    def customers_changed(self, since: datetime | None) -> Iterator[RemoteCustomer]:
        return (customer(r) for r in self.client.read_by_query("CUSTOMER", self._since(since)))


# ---------------------------------------------------------------------------- records -> read models


def _applied(detail: Mapping[str, Any]) -> Any:
    """How much of its invoice one ARPYMTDETAIL settles: the cash plus the credit memo applied."""
    return abs(mapper.decimal_of(detail.get("TRX_PAYMENTAMOUNT"))) + abs(
        mapper.decimal_of(detail.get("TRX_ADJUSTMENTAMOUNT")))


def receipt(row: Mapping[str, Any], details: Sequence[Mapping[str, Any]]) -> RemotePayment:
    """ARPYMT and its ARPYMTDETAIL lines (Intacct amounts made positive): a receipt applied to
    invoices, or, when it moved no money and only applies credit memos, a credit note set against
    them. Each invoice once, with all its lines settle of it (cash and credit)."""
    settled: dict[str, Any] = {}
    for d in details:
        if d.get("RECORDKEY"):
            key = str(d["RECORDKEY"])
            settled[key] = settled.get(key, 0) + _applied(d)
    total = abs(mapper.decimal_of(row.get("TOTALENTERED")))
    credit_only = not total and bool(details) and not any(
        mapper.decimal_of(d.get("TRX_PAYMENTAMOUNT")) for d in details)
    return RemotePayment(
        sage_id=str(row.get("RECORDNO") or ""), version=_stamp(row.get("WHENMODIFIED")),
        kind=MoneyKind.CREDIT_ALLOCATION if credit_only else MoneyKind.RECEIPT,
        total=total, currency=row.get("CURRENCY") or DEFAULT_CURRENCY,
        on=mapper.date_of(row.get("RECEIPTDATE")), reference=row.get("DOCNUMBER") or None,
        method=None if credit_only else row.get("PAYMENTMETHOD") or None,
        allocations=tuple(Allocation(DocumentKind.SALES_INVOICE, key, amount) for key, amount in settled.items()),
    )


def document_balance(kind: DocumentKind, row: Mapping[str, Any],
                     applied: Sequence[Mapping[str, Any]]) -> DocumentBalance:
    """ARINVOICE / ARADJUSTMENT (credit memos are negative in Intacct: amounts made positive) and the
    ARPYMTDETAIL lines applied to it, in order."""
    total = abs(mapper.decimal_of(row.get("TOTALENTERED")))
    due = abs(mapper.decimal_of(row.get("TOTALDUE"))) if row.get("TOTALDUE") not in (None, "") \
        else total - abs(mapper.decimal_of(row.get("TOTALPAID")))
    return DocumentBalance(
        kind=kind, sage_id=str(row.get("RECORDNO") or ""), number=row.get("RECORDID") or row.get("DOCNUMBER"),
        total=total, outstanding=due,
        settled_by=tuple(Settlement(str(d.get("PAYMENTKEY")), _applied(d)) for d in applied),
    )


def item(row: Mapping[str, Any], item_type: ItemType) -> RemoteItem:
    item_id = str(row.get("ITEMID") or "")
    return RemoteItem(
        sage_id=item_id, version=_stamp(row.get("WHENMODIFIED")), item_type=item_type, code=item_id or None,
        description=str(row.get("NAME") or row.get("EXTENDED_DESCRIPTION") or ""),
        sales_price=mapper.decimal_of(row["BASEPRICE"]) if row.get("BASEPRICE") not in (None, "") else None,
        purchase_price=mapper.decimal_of(row["STANDARD_COST"]) if row.get("STANDARD_COST") not in (None, "") else None,
        sales_ledger_id=_text(row.get("GLACCOUNT")), active=(row.get("STATUS") or "active") == "active",
    )


def tax_rate(row: Mapping[str, Any]) -> RemoteTaxRate:
    detail = mapper.tax_detail(row)
    return RemoteTaxRate(sage_id=detail.detail_id, version=_stamp(row.get("WHENMODIFIED")), name=detail.name or None,
                         percentage=detail.percentage, active=row.get("STATUS", "active") == "active")


def customer(row: Mapping[str, Any]) -> RemoteCustomer:
    """A CUSTOMER (id = CUSTOMERID, which invoices name)."""
    display = row.get("DISPLAYCONTACT")
    display = display if isinstance(display, Mapping) else {}
    mail = display.get("MAILADDRESS")
    mail = mail if isinstance(mail, Mapping) else {}
    customer_id = str(row.get("CUSTOMERID") or "")
    lines = tuple(line for line in (mail.get("ADDRESS1"), mail.get("ADDRESS2")) if line)
    return RemoteCustomer(
        sage_id=customer_id, version=_stamp(row.get("WHENMODIFIED")), created=_stamp(row.get("WHENCREATED")),
        name=row.get("NAME"), reference=customer_id,
        email=display.get("EMAIL1") or row.get("DISPLAYCONTACT.EMAIL1") or None,
        phone=display.get("PHONE1") or None, tax_number=row.get("TAXID") or None,
        currency=_text(row.get("CURRENCY")),
        address=RemoteAddress(lines, mail.get("CITY") or None, mail.get("STATE") or None, mail.get("ZIP") or None,
                              _text(mail.get("COUNTRYCODE")))
        if lines or mail.get("CITY") or mail.get("ZIP") else None,
    )


__all__ = ["IntacctFeed", "customer", "document_balance", "item", "receipt", "tax_rate"]
