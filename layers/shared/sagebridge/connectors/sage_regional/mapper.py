"""Canonical records <-> Sage Business Cloud Accounting regional API v2.0.0 JSON (PascalCase, integer
IDs). Pure functions: no I/O, no clock. docs/mapping.md ("Sage Business Cloud Accounting, regional")
has the field tables; the bodies follow specs/sage-accounting-regional/entities.schema.json.

What differs from the other products, and why the code looks the way it does:
- Sales invoices are `TaxInvoice`, credit notes `CustomerReturn`, receipts `CustomerReceipt`; every
  document line is an account line (LineType 1, SelectionId = the mapped ledger Account ID) with the
  mapped `TaxTypeId`. Sage computes the totals from the lines (per line, rounded), so the host's totals
  are checked against the same per-line arithmetic (TOTALS_FROM_LINES).
- No idempotency key and no text filters: a document carries our reference in `ExternalReference`
  (a receipt, which has none, in `Reference`), and an uncertain write is found again by the numeric
  and date fields Sage can filter (CustomerId, Date) and then this reference compared here.
- A customer (supplier) has no account reference field: ours goes in `TextField1` (a user-defined
  field), the one place a contact whose create timed out can be recognised.
- Vendors are `Supplier`, purchase invoices `SupplierInvoice`, purchase credit notes `SupplierReturn`
  (their customer mirrors with `SupplierId`; the reference's schema file has no supplier bodies, the
  sandbox derives them as entities.md describes). A contact body names its service in `_service`,
  which the connector reads and does not send.
- Customer refunds are not exported: NOT_EXPORTED says so, in words the host sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sagebridge.connectors.base import CheckedMapping, RemoteRecord
from sagebridge.connectors.mapping import MappedDocument, day, hashed_contact_reference, sage_int, short_reference
from sagebridge.connectors.mapping import TaxTable as SharedTaxTable
from sagebridge.domain.documents import AnyDocument
from sagebridge.domain.kinds import DocumentKind, PartyKind, RecordKind
from sagebridge.domain.money import ZERO, round_money, sum_money, to_decimal
from sagebridge.domain.parties import Party
from sagebridge.domain.payments import Payment
from sagebridge.domain.settings import TenantSettings

REFERENCE_MAX = 50  # ExternalReference / Reference: no documented limit; assumed, kept short
CONTACT_REFERENCE_MAX = 16
NAME_MAX = 100
ADDRESS_LINE_MAX = 100
DESCRIPTION_MAX = 100
ACCOUNT_LINE = 1  # LineType 1: SelectionId is an Account ID (0 would be an Item)

CONTACT_TYPE = {PartyKind.CUSTOMER: "CUSTOMER", PartyKind.VENDOR: "VENDOR"}
PAYMENT_TYPE = {DocumentKind.CUSTOMER_PAYMENT: "CUSTOMER_RECEIPT"}
# The service of each kind exported.
SERVICE: dict[DocumentKind, str] = {
    DocumentKind.SALES_INVOICE: "TaxInvoice",
    DocumentKind.SALES_CREDIT_NOTE: "CustomerReturn",
    DocumentKind.CUSTOMER_PAYMENT: "CustomerReceipt",
    DocumentKind.PURCHASE_INVOICE: "SupplierInvoice",
    DocumentKind.PURCHASE_CREDIT_NOTE: "SupplierReturn",
}
PURCHASE_KINDS = frozenset({DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE})
PARTY_SERVICE = {PartyKind.CUSTOMER: "Customer", PartyKind.VENDOR: "Supplier"}
# A receipt pays tax invoices; allocating it to a return, or refunding, is not done (yet).
ALLOCATION_SIGN: dict[DocumentKind, dict[DocumentKind, int]] = {
    DocumentKind.CUSTOMER_PAYMENT: {DocumentKind.SALES_INVOICE: 1},
}
TOTALS_FROM_LINES = True
LOCKED = ("has allocations in Sage (a receipt or return is set against it), so Sage no longer lets it be edited; "
          "change it in Sage or credit it from the host app")
NOT_EXPORTED: dict[RecordKind, str] = {
    DocumentKind.CUSTOMER_REFUND: ("the regional API has no documented way to pay a customer back (no customer "
                                   "refund service); record the refund in Sage"),
}
_NOT_VOIDED = ("voided in the host app, but the regional API has no way to void or delete {what}, so nothing was "
               "changed in Sage; {how}")
# What the accountant does in Sage instead, per kind (a receipt is deleted through the API: not here).
_UNDO_IN_SAGE: dict[DocumentKind, tuple[str, str]] = {
    DocumentKind.SALES_INVOICE: ("a tax invoice", "credit it in full in Sage (a customer return for its whole total, "
                                 "allocated against it); once Sage shows nothing owing on it, Sage Bridge counts it "
                                 "voided and tells the host"),
    DocumentKind.SALES_CREDIT_NOTE: ("a customer return", "reverse it in Sage by hand (a tax invoice for the same "
                                     "amount, allocated against it)"),
    DocumentKind.PURCHASE_INVOICE: ("a supplier invoice", "reverse it in Sage by hand (a supplier return for its "
                                    "whole total)"),
    DocumentKind.PURCHASE_CREDIT_NOTE: ("a supplier return", "reverse it in Sage by hand (a supplier invoice for "
                                        "the same amount)"),
}


def not_voided(kind: DocumentKind) -> str:
    """Why a host void of `kind` changed nothing in Sage, and what the accountant does there instead."""
    what, how = _UNDO_IN_SAGE.get(kind, (f"a {kind.value.replace('_', ' ')}", "reverse it in Sage by hand"))
    return _NOT_VOIDED.format(what=what, how=how)


# ------------------------------------------------------------------------------- keys and references


def document_reference(number: str) -> str:
    """Our `ExternalReference` (a receipt's `Reference`): the host's number, deterministic, so an
    uncertain write is recognised."""
    return short_reference(number.strip(), REFERENCE_MAX)


def contact_reference(kind: PartyKind, host_id: str) -> str:
    return hashed_contact_reference(kind, host_id, CONTACT_REFERENCE_MAX)


def payment_reference(payment: Payment) -> str:
    return document_reference(payment.host_id)


def body_date(value: date) -> str:
    """Dates as the regional API writes them: midnight, no offset."""
    return f"{value.isoformat()}T00:00:00"


# ------------------------------------------------------------------------------------ reference data


class TaxTable(SharedTaxTable):
    """The company's tax types: ID -> Percentage (a percent, 10 for 10%, as the engines keep rates),
    and the one untaxed lines use."""

    @classmethod
    def from_records(cls, records: Iterable[RemoteRecord]) -> TaxTable:
        rates: dict[str, Decimal] = {}
        zero: list[tuple[int, str]] = []
        for record in records:
            rate = to_decimal(record.data.get("percentage") or 0)
            rates[record.id] = rate
            if rate == ZERO:
                name = str(record.data.get("name") or "").upper()
                # a line without tax: "Exempt", then "GST Free", then "Zero Rated", then the rest
                rank = next((n for n, word in enumerate(("EXEMPT", "FREE", "ZERO")) if word in name), 3)
                zero.append((rank, record.id))
        return cls.of(rates, zero)


# The mapping health's product-specific check (the shared maps' gone and inactive ids are checked for
# every product): an account line posts to an ordinary or sales/purchases account, not to the account
# behind a bank account or a system account (Account.AccountType 1-4, a third-party source: entities.md
# Account, T5); an account that says no type passes.
_ACCOUNT_LINES = frozenset({DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
                            DocumentKind.PURCHASE_CREDIT_NOTE})
CHECKED_MAPPINGS = (
    CheckedMapping("ledger_mappings", "ledger_account", used_by=_ACCOUNT_LINES, type_field="AccountType",
                   types=frozenset({"1", "3"}),
                   wrong_type="a bank or system account, which an invoice's account line cannot post to"),
)


def tax_type_record(row: Mapping[str, Any]) -> RemoteRecord:
    """A TaxType in the shape the engines read (`name`, `percentage`, `is_visible`)."""
    return RemoteRecord(id=str(row["ID"]), data={
        "id": str(row["ID"]), "name": row.get("Name"), "displayed_as": row.get("Name"),
        "percentage": row.get("Percentage"), "is_visible": row.get("Active", True) is not False,
        "updated_at": row.get("Modified") or row.get("Created"), **row})


def account_record(row: Mapping[str, Any]) -> RemoteRecord:
    return RemoteRecord(id=str(row["ID"]), data={
        "id": str(row["ID"]), "name": row.get("Name"), "displayed_as": row.get("Name"),
        "is_active": row.get("Active", True) is not False, **row})


# ------------------------------------------------------------------------------------------- contacts


def _address(party: Party) -> dict[str, str]:
    """PostalAddress01-03 the street lines (a fourth joined to the third), 04 the city, 05 the
    region and postcode: fixed places, so a changed city replaces the old one."""
    if party.address is None:
        return {}
    a = party.address
    lines = [*a.lines[:2], ", ".join(a.lines[2:])] if len(a.lines) > 2 else list(a.lines)
    places = [*lines, *[""] * (3 - len(lines)), a.city or "", " ".join(t for t in (a.region, a.postcode) if t)]
    return {f"PostalAddress0{n}": text[:ADDRESS_LINE_MAX] for n, text in enumerate(places, start=1)}


def contact_body(party: Party, *, business_currency: str) -> dict[str, Any]:
    """`Customer/Save` (CustomerSave), a vendor's `Supplier/Save` (its mirror)."""
    body: dict[str, Any] = {"_service": PARTY_SERVICE[party.kind], "Name": party.account_name[:NAME_MAX],
                            "Active": True, "TextField1": contact_reference(party.kind, party.host_id)}
    body.update(_details(party))
    return body


def _details(party: Party) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if party.company and party.name != party.account_name:
        out["ContactName"] = party.name[:NAME_MAX]
    if party.email:
        out["Email"] = party.email
    if party.phone:
        out["Telephone"] = party.phone[:30]
    if party.tax_number:
        out["TaxReference"] = party.tax_number[:30]
    out.update(_address(party))
    return out


def contact_update_body(party: Party, *, business_currency: str) -> dict[str, Any]:
    """What a host change sets (Save replaces the entity, so the connector merges it over Sage's copy)."""
    body: dict[str, Any] = {"_service": PARTY_SERVICE[party.kind], "Name": party.account_name[:NAME_MAX]}
    body.update(_details(party))
    return body


def customer_record(row: Mapping[str, Any], service: str = "Customer") -> RemoteRecord:
    """A Customer (Supplier) in the shape the engines read (`name`, `reference`, `email`)."""
    reference = row.get("TextField1") or None
    return RemoteRecord(id=str(row["ID"]), reference=reference, data={
        "id": str(row["ID"]), "name": row.get("Name"), "displayed_as": row.get("Name"), "reference": reference,
        "email": row.get("Email"), "contact_types": [{"id": "VENDOR" if service == "Supplier" else "CUSTOMER"}],
        "is_active": row.get("Active", True) is not False, "updated_at": row.get("Modified") or row.get("Created"),
        **row})


def contact_matches(record: RemoteRecord, party: Party) -> bool:
    """Customers and suppliers are separate lists, searched by the party's kind."""
    types = {t.get("id") for t in record.data.get("contact_types") or ()}
    return CONTACT_TYPE[party.kind] in types


# ------------------------------------------------------------------------------------------ documents


def _line(line: Any, mapped: Any) -> dict[str, Any]:
    """An account line. Quantity and price as the host wrote them when Sage's arithmetic (quantity x
    price, rounded) gives the host's net; otherwise one of the net amount (a discount, a fraction of
    a cent), so Sage's totals are the host's."""
    out: dict[str, Any] = {"LineType": ACCOUNT_LINE, "SelectionId": sage_int(mapped.account),
                           "TaxTypeId": sage_int(mapped.rate_id), "Description": line.description[:DESCRIPTION_MAX]}
    quantity, price = to_decimal(line.quantity), to_decimal(line.unit_price)
    if quantity >= 0 and round_money(quantity * price) == mapped.net:
        out.update(Quantity=quantity, UnitPriceExclusive=price)
    else:
        out.update(Quantity=Decimal(1), UnitPriceExclusive=mapped.net)
    return out


def document_body(doc: AnyDocument, *, contact_id: str, settings: TenantSettings, taxes: SharedTaxTable,
                  business_currency: str) -> MappedDocument:
    """`TaxInvoice/Save`, `CustomerReturn/Save`, `SupplierInvoice/Save` or `SupplierReturn/Save`: account
    lines with TaxTypeId, our reference in ExternalReference, the host's number as DocumentNumber."""
    kind = doc.kind
    if kind not in SERVICE or kind is DocumentKind.CUSTOMER_PAYMENT:
        raise ValueError(f"a {kind.value.replace('_', ' ')} is not exported to the regional API")
    lines, nets, taxes_ = [], [], []
    for line in doc.lines:
        mapped = taxes.line(line, kind, settings)
        lines.append(_line(line, mapped))
        nets.append(mapped.net)
        taxes_.append(mapped.tax)
    net, tax = sum_money(nets), sum_money(taxes_)
    reference = document_reference(doc.number)
    body: dict[str, Any] = {
        ("SupplierId" if kind in PURCHASE_KINDS else "CustomerId"): sage_int(contact_id),
        "Date": body_date(doc.document_date),
        "DocumentNumber": doc.number[:REFERENCE_MAX],
        "Reference": (doc.reference or doc.number)[:REFERENCE_MAX],
        "ExternalReference": reference,
        "Inclusive": False,
        "Lines": lines,
    }
    if kind in (DocumentKind.SALES_INVOICE, DocumentKind.PURCHASE_INVOICE):
        body["DueDate"] = body_date(getattr(doc, "due_date", None) or doc.document_date)
    return MappedDocument(body=body, net=net, tax=tax, total=net + tax, reference=reference)


def void_reason(doc: AnyDocument | None, host_id: str) -> str:
    return f"Voided in the host app ({doc.number if doc is not None else host_id})"


# ------------------------------------------------------------------------------------------- payments


def payment_body(payment: Payment, *, contact_id: str, allocations: Iterable[tuple[DocumentKind, str, Decimal]],
                 bank_account_id: str, settings: TenantSettings, business_currency: str) -> dict[str, Any]:
    """`CustomerReceipt/Save` (our reference in `Reference`: receipts have no ExternalReference) and,
    under `_allocations`, the `Allocation/Save` bodies the connector sends once Sage gives the receipt
    its ID."""
    if payment.kind is not DocumentKind.CUSTOMER_PAYMENT:
        raise ValueError(f"a {payment.kind.value.replace('_', ' ')} is not exported to the regional API")
    wanted = []
    for kind, sage_id, amount in allocations:
        if kind not in ALLOCATION_SIGN[payment.kind]:
            raise ValueError(f"a receipt cannot be allocated to a {kind.value.replace('_', ' ')} here")
        wanted.append({"AllocatedToDocumentId": sage_int(sage_id), "Total": round_money(amount)})
    receipt: dict[str, Any] = {
        "CustomerId": sage_int(contact_id), "Date": body_date(payment.payment_date),
        "Total": round_money(payment.amount), "BankAccountId": sage_int(bank_account_id),
        "Reference": payment_reference(payment),
        "Description": (f"Payment {payment.reference}" if payment.reference else f"Payment {payment.host_id}")[
            :DESCRIPTION_MAX],
    }
    return {"receipt": receipt, "_allocations": wanted}


# The reference documents Allocation/Save for customer documents only: a supplier return is not set
# against its invoice by Sage Bridge (stricter than an unconfirmed guess that it would work).
PURCHASE_ALLOCATION_REFUSED = ("the regional API documents allocations of customer documents only, so Sage Bridge "
                               "does not set a supplier return against its supplier invoice; allocate it in Sage "
                               "Business Cloud Accounting itself")


def credit_note_allocation_body(*, contact_id: str, invoice_id: str, credit_note_id: str, amount: Decimal,
                                on: date, kind: DocumentKind = DocumentKind.SALES_CREDIT_NOTE) -> dict[str, Any]:
    """`Allocation/Save`: a customer return set against the invoice it credits (a supplier return:
    refused, the connector raises NotSupported with the reason)."""
    if kind is DocumentKind.PURCHASE_CREDIT_NOTE:
        return {"refused": PURCHASE_ALLOCATION_REFUSED}
    if kind is not DocumentKind.SALES_CREDIT_NOTE:
        raise ValueError(f"{kind.value} is not a credit note: only credit notes are allocated against invoices")
    return {"SourceDocumentId": sage_int(credit_note_id), "AllocatedToDocumentId": sage_int(invoice_id),
            "Total": round_money(amount)}


# ----------------------------------------------------------------------------------- reading Sage back


def document_record(service: str, row: Mapping[str, Any]) -> RemoteRecord:
    """A TaxInvoice, CustomerReturn or CustomerReceipt as the engines read it."""
    reference = row.get("Reference") if service == "CustomerReceipt" else row.get("ExternalReference")
    status = "VOID" if row.get("StatusId") == 4 else row.get("Status")
    data = {"id": str(row["ID"]), "reference": reference, "status": status, **row,
            "updated_at": row.get("Modified") or row.get("Created"), "_service": service}
    return RemoteRecord(id=str(row["ID"]), reference=reference or None, data=data)


def _amount(data: Mapping[str, Any], key: str) -> Decimal:
    value = data.get(key)
    return abs(to_decimal(value)) if value is not None else ZERO


def remote_total(record: RemoteRecord) -> Decimal:
    return _amount(record.data, "Total")


def remote_outstanding(record: RemoteRecord) -> Decimal:
    key = "TotalUnallocated" if record.data.get("_service") == "CustomerReceipt" else "AmountDue"
    return _amount(record.data, key)


def remote_paid(record: RemoteRecord) -> Decimal:
    return remote_total(record) - remote_outstanding(record)


def remote_contact_id(record: RemoteRecord) -> str | None:
    value = record.data.get("CustomerId", record.data.get("SupplierId"))
    return str(value) if value is not None else None


def remote_contact_name(record: RemoteRecord) -> str | None:
    name = record.data.get("CustomerName") or record.data.get("SupplierName")
    return str(name) if name else None


def remote_date(record: RemoteRecord) -> date | None:
    return day(record.data.get("Date"))


def remote_status(record: RemoteRecord) -> str | None:
    return "VOID" if record.data.get("StatusId") == 4 else None


def remote_editable(record: RemoteRecord) -> bool:
    return record.data.get("Editable") is not False and record.data.get("Locked") is not True


def remote_transaction_type(record: RemoteRecord) -> str | None:
    return "CUSTOMER_RECEIPT" if record.data.get("_service") == "CustomerReceipt" else None


def is_same_document(record: RemoteRecord, *, reference: str, contact_id: str | None, total: Decimal,
                     on: date | None = None) -> bool:
    """Our reference, customer, amount (and date): the copy we would create. A receipt counts only
    once its allocations are all there (until then the connector's create_payment completes it)."""
    if (record.reference or "") != reference:
        return False
    if contact_id is not None and remote_contact_id(record) not in (None, str(contact_id)):
        return False
    if record.data.get("Total") is not None and remote_total(record) != round_money(abs(to_decimal(total))):
        return False
    if record.data.get("_service") == "CustomerReceipt":
        # Unknown allocations (another run sent it): complete only once nothing is left unallocated.
        complete = record.data.get("_complete")
        if not (complete if complete is not None else remote_outstanding(record) == ZERO):
            return False
    remote_on = remote_date(record)
    return on is None or remote_on is None or remote_on == on


__all__ = [
    "ALLOCATION_SIGN",
    "CHECKED_MAPPINGS",
    "CONTACT_TYPE",
    "LOCKED",
    "NOT_EXPORTED",
    "PARTY_SERVICE",
    "PAYMENT_TYPE",
    "PURCHASE_KINDS",
    "SERVICE",
    "TOTALS_FROM_LINES",
    "TaxTable",
    "account_record",
    "body_date",
    "contact_body",
    "contact_matches",
    "contact_reference",
    "contact_update_body",
    "credit_note_allocation_body",
    "customer_record",
    "document_body",
    "document_record",
    "document_reference",
    "is_same_document",
    "not_voided",
    "payment_body",
    "payment_reference",
    "remote_contact_id",
    "remote_contact_name",
    "remote_date",
    "remote_editable",
    "remote_outstanding",
    "remote_paid",
    "remote_status",
    "remote_total",
    "remote_transaction_type",
    "sage_int",
    "tax_type_record",
    "void_reason",
]
