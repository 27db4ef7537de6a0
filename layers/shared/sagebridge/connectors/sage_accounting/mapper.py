"""Canonical records <-> Sage Accounting v3.1 JSON. Pure functions: no I/O, no clock.

Bodies are the resource's attributes without the wrapper key ({"contact_id": ...}, not
{"sales_invoice": {...}}); the client wraps them. Money stays Decimal and is computed the way Sage
computes it (net and tax rounded per line to 2 dp, header = sum of lines), so what we send is what
Sage accepts. docs/mapping.md has the field tables.

Live-API facts the swagger does not say (../shared/specs/README.md), encoded here:
- a line's `tax_amount` is required unless its rate is zero/exempt/no-tax: we always send it;
- document `reference` is limited to 25 and contact `reference` to 10 characters by the swagger
  (the server is laxer); we stay within both so a payload validates everywhere;
- `idempotency_id` (32 hex) sits in the resource body; the client adds it from the ledger's key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sagebridge.connectors.base import RemoteRecord
from sagebridge.connectors.mapping import ALLOCATION_SIGN, MappedDocument, hashed_contact_reference, short_reference
from sagebridge.connectors.mapping import TaxTable as SharedTaxTable

# Sage Accounting's records are the shape every connector reads back in (connectors/readback.py).
from sagebridge.connectors.readback import (
    is_same_document,
    remote_contact_id,
    remote_contact_name,
    remote_date,
    remote_editable,
    remote_outstanding,
    remote_paid,
    remote_status,
    remote_total,
    remote_transaction_type,
)
from sagebridge.domain.documents import AnyDocument, DocumentLine
from sagebridge.domain.kinds import DocumentKind, PartyKind, RecordKind, ledger_of
from sagebridge.domain.money import ZERO, round_money, sum_money, to_decimal
from sagebridge.domain.parties import Party
from sagebridge.domain.payments import Payment
from sagebridge.domain.settings import TenantSettings

DOCUMENT_REFERENCE_MAX = 25
CONTACT_REFERENCE_MAX = 10
VENDOR_REFERENCE_MAX = 31
CONTACT_NAME_MAX = 100
VOID_REASON_MAX = 200

CONTACT_TYPE = {PartyKind.CUSTOMER: "CUSTOMER", PartyKind.VENDOR: "VENDOR"}
LINES_KEY = {
    DocumentKind.SALES_INVOICE: "invoice_lines",
    DocumentKind.SALES_CREDIT_NOTE: "credit_note_lines",
    DocumentKind.PURCHASE_INVOICE: "invoice_lines",
    DocumentKind.PURCHASE_CREDIT_NOTE: "credit_note_lines",
}
PAYMENT_TYPE = {
    DocumentKind.CUSTOMER_PAYMENT: "CUSTOMER_RECEIPT",
    DocumentKind.CUSTOMER_REFUND: "CUSTOMER_REFUND",
}
# Credit notes set against invoices with no money moving: a contact allocation, not a receipt.
OFFSET_TYPE = "CUSTOMER_ALLOCATION"
# The contact allocation's type per credit note kind: the customer's or the vendor's ledger.
ALLOCATION_TYPE = {DocumentKind.SALES_CREDIT_NOTE: OFFSET_TYPE, DocumentKind.PURCHASE_CREDIT_NOTE: "VENDOR_ALLOCATION"}
# The host's words for a payment method -> Sage's payment_method ids.
PAYMENT_METHODS = {
    "cash": "CASH",
    "card": "CREDIT_DEBIT",
    "credit_card": "CREDIT_DEBIT",
    "debit_card": "CREDIT_DEBIT",
    "bank_transfer": "BANK_TRANSFER",
    "transfer": "BANK_TRANSFER",
    "bacs": "BANK_TRANSFER",
    "cheque": "CHECK",
    "check": "CHECK",
}
# Sage computes a document's totals from its lines, and takes every kind the engine exports.
TOTALS_FROM_LINES = True
LOCKED = "is locked in Sage (VAT-reconciled or otherwise not editable), so Sage will not let it be changed"
NOT_EXPORTED: dict[RecordKind, str] = {}
_SALES_SIDE = frozenset({DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE})
_INVOICES = frozenset({DocumentKind.SALES_INVOICE, DocumentKind.PURCHASE_INVOICE})


# ------------------------------------------------------------------------------- keys and references


def document_reference(number: str) -> str:
    """The Sage `reference` of a document or payment: the host's number, within 25 characters. It is
    how we find the document again in Sage (uncertain writes, going live)."""
    return short_reference(number.strip(), DOCUMENT_REFERENCE_MAX)


def contact_reference(kind: PartyKind, host_id: str) -> str:
    """A contact's Sage `reference`: 10 characters, derived from the host id, so a contact whose
    create timed out is found again by reference, and Sage's unique-reference rule refuses a twin."""
    return hashed_contact_reference(kind, host_id, CONTACT_REFERENCE_MAX)


def idempotency_id(key: str) -> str:
    """Sage's idempotency_id (32 hex) from the ledger's idempotency key."""
    if len(key) >= 32 and all(c in "0123456789abcdef" for c in key[:32]):
        return key[:32]
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# ------------------------------------------------------------------------------------ reference data


class TaxTable(SharedTaxTable):
    """Sage's tax rates, read once per run: id -> percentage, and the rate a tax-free line uses."""

    @classmethod
    def from_records(cls, records: Iterable[RemoteRecord]) -> TaxTable:
        rates: dict[str, Decimal] = {}
        zero: list[tuple[int, str]] = []
        for record in records:
            data = record.data
            if data.get("is_visible") is False or data.get("is_combined_rate"):
                continue
            percentage = to_decimal(data.get("percentage") or 0)
            rates[record.id] = percentage
            if percentage == ZERO:
                # A line with no tax goes to "No Tax" (outside the VAT return) before "Exempt"/"Zero".
                text = f"{record.id} {data.get('name') or ''} {data.get('displayed_as') or ''}".upper()
                rank = 0 if "NO_TAX" in text or "NO TAX" in text else 1 if "EXEMPT" in text else 2
                zero.append((rank, record.id))
        return cls.of(rates, zero)


# ------------------------------------------------------------------------------------------- contacts


def contact_body(party: Party, *, business_currency: str) -> dict[str, Any]:
    """A CUSTOMER or VENDOR contact for `party`."""
    body: dict[str, Any] = {
        "name": party.account_name[:CONTACT_NAME_MAX],
        "contact_type_ids": [CONTACT_TYPE[party.kind]],
        "reference": contact_reference(party.kind, party.host_id),
    }
    if party.tax_number:
        body["tax_number"] = party.tax_number
    if party.currency and party.currency != business_currency:
        body["currency_id"] = party.currency
    if party.address is not None:
        a = party.address
        address: dict[str, Any] = {"address_type_id": "ACCOUNTS", "is_main_address": True}
        if a.lines:
            address["address_line_1"] = a.lines[0]
        if len(a.lines) > 1:
            address["address_line_2"] = ", ".join(a.lines[1:])
        for ours, theirs in (("city", "city"), ("region", "region"), ("postcode", "postal_code"),
                             ("country_code", "country_id")):
            value = getattr(a, ours)
            if value:
                address[theirs] = value
        body["main_address"] = address
    if party.email or party.phone:
        person: dict[str, Any] = {"name": party.name, "is_main_contact": True}
        if party.email:
            person["email"] = party.email
        if party.phone:
            person["telephone"] = party.phone
        body["main_contact_person"] = person
    return body


# Left out of an update: the reference and contact types identify the contact (a contact linked by
# name or email keeps the ones its bookkeeper gave it), and Sage refuses a currency change once the
# contact has transactions.
_NOT_UPDATED = ("reference", "contact_type_ids", "currency_id")


def contact_update_body(party: Party, *, business_currency: str) -> dict[str, Any]:
    """The `putContacts` attributes for a changed `party`: name, tax number, main address and main
    contact person (email, telephone) as the host has them now. A field the host no longer sends
    is left as it is in Sage, not cleared."""
    body = contact_body(party, business_currency=business_currency)
    return {k: v for k, v in body.items() if k not in _NOT_UPDATED}


def contact_matches(record: RemoteRecord, party: Party) -> bool:
    """Is this Sage contact one of the party's kind (a customer for a customer)?"""
    types = {t.get("id") for t in record.data.get("contact_types") or [] if isinstance(t, Mapping)}
    return not types or CONTACT_TYPE[party.kind] in types


# ------------------------------------------------------------------------------------------ documents


def _line_body(
    line: DocumentLine, *, kind: DocumentKind, settings: TenantSettings, taxes: SharedTaxTable
) -> tuple[dict[str, Any], Decimal, Decimal]:
    mapped = taxes.line(line, kind, settings)
    net, rate_id, tax = mapped.net, mapped.rate_id, mapped.tax
    body: dict[str, Any] = {
        "description": line.description,
        "ledger_account_id": mapped.account,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
    }
    if line.discount != ZERO:
        if kind in _SALES_SIDE:
            body["discount_amount"] = line.discount
        else:
            # Purchase lines have no discount in v3.1: post the discounted net as one unit.
            body["quantity"], body["unit_price"] = Decimal(1), net
    body.update({"tax_rate_id": rate_id, "net_amount": net, "tax_amount": tax, "total_amount": net + tax})
    return body, net, tax


def document_body(
    doc: AnyDocument,
    *,
    contact_id: str,
    settings: TenantSettings,
    taxes: SharedTaxTable,
    business_currency: str,
) -> MappedDocument:
    """The v3.1 body of an invoice or credit note (sales or purchase). Call after validation:
    unmapped tax codes or ledger accounts raise ValueError here."""
    kind = doc.kind
    lines, nets, tax_amounts = [], [], []
    for line in doc.lines:
        body, net, tax = _line_body(line, kind=kind, settings=settings, taxes=taxes)
        lines.append(body)
        nets.append(net)
        tax_amounts.append(tax)
    net, tax = sum_money(nets), sum_money(tax_amounts)
    reference = document_reference(doc.number)
    header: dict[str, Any] = {
        "contact_id": contact_id,
        "date": doc.document_date,
        "reference": reference,
    }
    if kind in _INVOICES:  # credit notes have no due date in v3.1
        if doc.due_date is not None:
            header["due_date"] = doc.due_date
        elif kind is DocumentKind.PURCHASE_INVOICE:
            header["due_date"] = doc.document_date  # required for purchase invoices: due on receipt
    if ledger_of(kind) is PartyKind.VENDOR:
        header["vendor_reference"] = (doc.reference or doc.number)[:VENDOR_REFERENCE_MAX]
    elif doc.reference:
        header["notes"] = f"Customer reference: {doc.reference}"
    if doc.currency != business_currency:
        header["currency_id"] = doc.currency
        if doc.exchange_rate is not None:
            header["exchange_rate"] = doc.exchange_rate
    header.update({"net_amount": net, "tax_amount": tax, "total_amount": net + tax, LINES_KEY[kind]: lines})
    return MappedDocument(body=header, net=net, tax=tax, total=net + tax, reference=reference)


def void_reason(doc: AnyDocument | None, host_id: str) -> str:
    what = f"{doc.number}" if doc is not None else host_id
    return f"Voided in the host app ({what})"[:VOID_REASON_MAX]


# ------------------------------------------------------------------------------------------- payments


def payment_reference(payment: Payment) -> str:
    """Payments have no number; the host id identifies one (its own reference may repeat)."""
    return document_reference(payment.host_id)


def payment_body(
    payment: Payment,
    *,
    contact_id: str,
    allocations: Iterable[tuple[DocumentKind, str, Decimal]],
    bank_account_id: str,
    settings: TenantSettings,
    business_currency: str,
) -> dict[str, Any]:
    """A CUSTOMER_RECEIPT or CUSTOMER_REFUND. `allocations`: (kind, Sage id, host amount) of the
    documents it settles; what is not allocated stays on the customer's account. Credit notes used
    up by a receipt go in negative, so `total_amount` is the money that moved; a receipt that moved
    no money (a pure offset) is a CUSTOMER_ALLOCATION instead (Sage refuses a receipt of 0)."""
    signs = ALLOCATION_SIGN[payment.kind]
    allocated = []
    settled = ZERO
    for kind, sage_id, amount in allocations:
        if kind not in signs:
            raise ValueError(f"a {payment.kind.value} cannot be allocated to a {kind.value}")
        signed = round_money(amount) * signs[kind]
        allocated.append({"artefact_id": sage_id, "amount": signed})
        settled += signed
    total = round_money(payment.amount)
    if total == ZERO and payment.kind is DocumentKind.CUSTOMER_PAYMENT:
        return {"transaction_type_id": OFFSET_TYPE, "contact_id": contact_id, "date": payment.payment_date,
                "allocated_artefacts": allocated}
    reference = payment_reference(payment)
    body: dict[str, Any] = {
        "transaction_type_id": PAYMENT_TYPE[payment.kind],
        "contact_id": contact_id,
        "bank_account_id": bank_account_id,
        "date": payment.payment_date,
        "total_amount": total,
        "reference": reference,
    }
    method = PAYMENT_METHODS.get((payment.method or "").strip().lower().replace(" ", "_"))
    if method or settings.receipt_payment_method:
        body["payment_method_id"] = method or settings.receipt_payment_method
    if payment.currency != business_currency:
        body["currency_id"] = payment.currency
        if payment.exchange_rate is not None:
            body["exchange_rate"] = payment.exchange_rate
    if allocated:
        body["allocated_artefacts"] = allocated
    on_account = total - settled
    if on_account > ZERO:
        # An over-payment (or an unallocated one) stays on the customer's account.
        body["payment_on_account"] = {
            "contact_id": contact_id, "date": payment.payment_date, "reference": reference,
            "total_amount": on_account,
        }
    return body


def credit_note_allocation_body(*, contact_id: str, invoice_id: str, credit_note_id: str, amount: Decimal,
                                on: date, kind: DocumentKind = DocumentKind.SALES_CREDIT_NOTE) -> dict[str, Any]:
    """A credit note used up against the invoice it credits: `POST /contact_allocations`, the invoice
    +amount and the credit note -amount (they add up to zero: no money moves). A customer allocation
    for a sales credit note, a vendor allocation for a purchase one."""
    if kind not in ALLOCATION_TYPE:
        raise ValueError(f"{kind.value} is not a credit note: only credit notes are allocated against invoices")
    value = round_money(amount)
    return {"transaction_type_id": ALLOCATION_TYPE[kind], "contact_id": contact_id, "date": on,
            "allocated_artefacts": [{"artefact_id": invoice_id, "amount": value},
                                    {"artefact_id": credit_note_id, "amount": -value}]}


__all__ = [
    "ALLOCATION_SIGN",
    "ALLOCATION_TYPE",
    "CONTACT_TYPE",
    "LINES_KEY",
    "LOCKED",
    "NOT_EXPORTED",
    "OFFSET_TYPE",
    "PAYMENT_TYPE",
    "TOTALS_FROM_LINES",
    "MappedDocument",
    "TaxTable",
    "contact_body",
    "contact_matches",
    "contact_reference",
    "contact_update_body",
    "credit_note_allocation_body",
    "document_body",
    "document_reference",
    "idempotency_id",
    "is_same_document",
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
    "void_reason",
]
