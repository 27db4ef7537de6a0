"""Sage Intacct records -> what the engines read, and the shared pieces of the Intacct mapping.

ARINVOICE / ARADJUSTMENT / ARPYMT / CUSTOMER / ITEM / TAXDETAIL records -> the attribute names the
engines read (`reference`, `total_amount`, `outstanding_amount`, `contact.id`...), the controlid of
a business event, what Intacct never takes (NOT_EXPORTED) and where a receipt may be applied. The
canonical records -> Intacct functions side is `export_mapper`. Pure functions: no I/O, no clock.
docs/mapping.md has the tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sagebridge.connectors.base import RecordInvalid, RemoteRecord
from sagebridge.domain.kinds import DocumentKind, RecordKind
from sagebridge.domain.money import ZERO

NO_TAX = "NO_TAX"  # Intacct AR lines carry no tax code: untaxed lines are "no tax" by construction
CONTACT_NAME_MAX = 100  # CONTACTNAME is unique per company and at most 100 characters
INVOICE_OBJECTS = {DocumentKind.SALES_INVOICE: "ARINVOICE", DocumentKind.SALES_CREDIT_NOTE: "ARADJUSTMENT",
                   DocumentKind.CUSTOMER_PAYMENT: "ARPYMT", DocumentKind.PURCHASE_INVOICE: "APBILL",
                   DocumentKind.PURCHASE_CREDIT_NOTE: "APADJUSTMENT"}
# Intacct keeps customer refunds as its own AR refund record, which only its REST API and its screens
# create (docs/mapping.md); the XML gateway (api-v3.0.xsd) Sage Bridge posts through has no function
# or object for one. The one reason the host and the sync log get, whichever check refuses it.
REFUND_NOT_EXPORTED = ("customer refunds are not exported to Sage Intacct: Intacct's XML API, which Sage Bridge "
                       "posts through, has no customer refund; record the refund in Intacct as an AR refund "
                       "(Accounts Receivable > Refunds) against the credit memo it pays out")
# What this connector does not post at all, in words for the host and the sync log: the export
# engine skips these (reason code not_supported) instead of sending them.
NOT_EXPORTED: dict[RecordKind, str] = {
    DocumentKind.CUSTOMER_REFUND: REFUND_NOT_EXPORTED,
}
VOID_STATES = frozenset({"Reversed", "Reversal", "Voided", "V"})
DATE_FORMAT = "%m/%d/%Y"
TIMESTAMP_FORMAT = "%m/%d/%Y %H:%M:%S"


@dataclass(frozen=True)
class TaxDetail:
    detail_id: str
    percentage: Decimal
    gl_account: str | None
    name: str
    tax_type: str = "Sale"  # TAXTYPE: Sale (output tax, AR documents) or Purchase (input tax, AP documents)


def controlid(action: str, idempotency_key: str) -> str:
    """The function controlid of one business event: the same event always gets the same id, so
    with <uniqueid>true</uniqueid> Intacct refuses to post it twice (at most 256 characters)."""
    return f"{action}-{idempotency_key}"[:256]


# ------------------------------------------------------------------------------------------ helpers


def decimal_of(value: Any) -> Decimal:
    if value is None or value == "":
        return ZERO
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value).replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None


def date_of(value: Any) -> date | None:
    """Intacct writes dates mm/dd/yyyy (generic API) and sometimes ISO; both are read."""
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for parse in (lambda t: datetime.strptime(t[:10], DATE_FORMAT).replace(tzinfo=UTC).date(),
                  lambda t: date.fromisoformat(t[:10])):
        try:
            return parse(text)
        except ValueError:
            continue
    return None


def timestamp_of(value: Any) -> datetime | None:
    """WHENMODIFIED / WHENCREATED as an aware UTC datetime (the gateway answers in GMT)."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    for fmt in (TIMESTAMP_FORMAT, DATE_FORMAT):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def query_timestamp(when: datetime) -> str:
    """A datetime as readByQuery compares WHENMODIFIED: mm/dd/yyyy HH:MM:SS in GMT."""
    return when.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def quoted(value: str) -> str:
    """A literal for a readByQuery filter (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _date(value: Any) -> date:
    found = date_of(value)
    if found is None:
        raise RecordInvalid(f"Sage Intacct needs a date, got {value!r}")
    return found


# ----------------------------------------------------------------------------------------- customers


def _mapping(value: Any) -> Mapping[str, Any]:
    """A nested record of a response, or an empty one where Intacct left it out."""
    return value if isinstance(value, Mapping) else {}


def customer_record(data: Mapping[str, Any]) -> RemoteRecord:
    """A CUSTOMER (or VENDOR) as the engines read contacts (id = CUSTOMERID / VENDORID, which
    invoices and bills name)."""
    display = _mapping(data.get("DISPLAYCONTACT"))
    kind = "VENDOR" if data.get("VENDORID") and not data.get("CUSTOMERID") else "CUSTOMER"
    customer_id = str(data.get(f"{kind}ID") or "")
    mail = _mapping(display.get("MAILADDRESS"))
    normalised: dict[str, Any] = {
        "id": customer_id, "reference": customer_id, "name": data.get("NAME"), "displayed_as": data.get("NAME"),
        "record_no": data.get("RECORDNO"), "contact_types": [{"id": kind}],
        "email": display.get("EMAIL1") or data.get("DISPLAYCONTACT.EMAIL1") or None,
        "main_contact_person": {"email": display.get("EMAIL1") or None, "telephone": display.get("PHONE1") or None},
        "tax_number": data.get("TAXID") or None,
        "currency": {"id": data["CURRENCY"]} if data.get("CURRENCY") else None,
        "active": (data.get("STATUS") or "active") == "active",
        "created_at": _iso(data.get("WHENCREATED")), "updated_at": _iso(data.get("WHENMODIFIED")),
    }
    if mail:
        normalised["main_address"] = {
            "address_line_1": mail.get("ADDRESS1") or None, "address_line_2": mail.get("ADDRESS2") or None,
            "city": mail.get("CITY") or None, "region": mail.get("STATE") or None,
            "postal_code": mail.get("ZIP") or None,
            "country": {"id": mail["COUNTRYCODE"]} if mail.get("COUNTRYCODE") else None,
        }
    return RemoteRecord(id=customer_id, reference=customer_id, data=normalised)


def _iso(value: Any) -> str | None:
    when = timestamp_of(value)
    return when.isoformat() if when else None


# ----------------------------------------------------------------------------------------- documents


def created_document(kind: DocumentKind, key: str | None, body: Mapping[str, Any]) -> RemoteRecord:
    """What the engine needs of a document just created: its key and what identifies it."""
    data = {"id": key, "reference": body.get("reference"), "total_amount": decimal_of(body.get("total_amount")),
            "outstanding_amount": decimal_of(body.get("total_amount")), "contact": {"id": body.get("contact_id")},
            "date": str(_date(body.get("date")))}
    return RemoteRecord(id=str(key or ""), reference=body.get("reference"), data=data)


def document_record(kind: DocumentKind, data: Mapping[str, Any]) -> RemoteRecord:
    """ARINVOICE / ARADJUSTMENT / ARPYMT -> the names the engine reads. Credit memos are negative in
    Intacct; the engine compares positive host totals, so amounts are made positive."""
    if kind is DocumentKind.CUSTOMER_PAYMENT:
        return payment_record(data)
    # bills and AP adjustments name their vendor
    party = "VENDOR" if kind in (DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE) else "CUSTOMER"
    total = abs(decimal_of(data.get("TOTALENTERED")))
    paid = abs(decimal_of(data.get("TOTALPAID")))
    due = abs(decimal_of(data.get("TOTALDUE"))) if data.get("TOTALDUE") not in (None, "") else total - paid
    state = str(data.get("STATE") or "")
    reference = data.get("RECORDID") or data.get("DOCNUMBER")
    normalised = {
        "id": str(data.get("RECORDNO") or ""), "reference": reference, "total_amount": total,
        "outstanding_amount": due, "total_paid": paid,
        "contact": {"id": data.get(f"{party}ID")}, "contact_name": data.get(f"{party}NAME"),
        "date": _iso_date(data.get("WHENCREATED")),
        "due_date": _iso_date(data.get("WHENDUE")), "status": {"id": "VOID" if state in VOID_STATES else state},
        "editable": state not in VOID_STATES, "currency": {"id": data.get("CURRENCY") or None},
        "updated_at": _iso(data.get("WHENMODIFIED")), "created_at": _iso(data.get("AUWHENCREATED")),
    }
    if kind in (DocumentKind.SALES_INVOICE, DocumentKind.PURCHASE_INVOICE):
        normalised["invoice_number"] = reference
    else:
        normalised["credit_note_number"] = reference
    return RemoteRecord(id=str(normalised["id"]), reference=reference, data=normalised)


def _iso_date(value: Any) -> str | None:
    found = date_of(value)
    return found.isoformat() if found else None


# ------------------------------------------------------------------------------------------ payments

# A receipt pays invoices (cash, TRX_PAYMENTAMOUNT) and applies credit memos (ARADJUSTMENT) to them
# (ADJUSTMENTKEY + TRX_ADJUSTMENTAMOUNT on a detail naming the invoice): developer.intacct.com/api/
# accounts-receivable/ar-payments/ ("Create AR Payment"). A credit note linked to its invoice is
# applied the same way, by an ARPYMT that moves no money.
ALLOCATION_SIGN: dict[DocumentKind, dict[DocumentKind, int]] = {
    DocumentKind.CUSTOMER_PAYMENT: {DocumentKind.SALES_INVOICE: 1, DocumentKind.SALES_CREDIT_NOTE: -1},
    DocumentKind.CUSTOMER_REFUND: {DocumentKind.SALES_CREDIT_NOTE: 1},
}
# The DOCNUMBER prefix of the ARPYMT that applies a credit note linked to its invoice (no money, not
# a host payment): reads of the host's payments leave those out.
CREDIT_APPLICATION_PREFIX = "CM/"


def is_credit_application(data: Mapping[str, Any]) -> bool:
    """An ARPYMT Sage Bridge posted to apply a credit memo to its invoice (not a host payment)."""
    return (str(data.get("DOCNUMBER") or "").startswith(CREDIT_APPLICATION_PREFIX)
            and not decimal_of(data.get("TOTALENTERED")))
# A vendor credit memo is applied to a bill through an AP payment (APPYMT with an APPYMTDETAIL naming
# the bill and ADJUSTMENTKEY: developer.intacct.com/api/accounts-payable/ap-payments/). Unlike an AR
# payment, an AP payment is a payment request that enters the company's payment approval workflow
# (Submitted until approved, then the payment method's own steps: intacct.com help "Payment request
# workflow"), so the bill's balance need not change when Intacct answers: Sage Bridge could not tell
# the application landed, nor keep it exactly once. It is refused, saying what to do instead.
VENDOR_CREDIT_NOT_APPLIED = ("Sage Intacct: Sage Bridge does not apply vendor credit memos (AP adjustments) to "
                             "bills, because Intacct applies one through an AP payment, which waits in the "
                             "company's payment approvals before the bill's balance changes; apply the vendor "
                             "credit memo to its bill in Intacct's Accounts Payable (Pay bills)")


def payment_record(data: Mapping[str, Any], details: Sequence[Mapping[str, Any]] | None = None) -> RemoteRecord:
    """ARPYMT (+ its ARPYMTDETAIL lines) as the engines read a customer receipt."""
    record_no = str(data.get("RECORDNO") or "")
    normalised: dict[str, Any] = {
        "id": record_no, "reference": data.get("DOCNUMBER") or None,
        "transaction_type": {"id": "CUSTOMER_RECEIPT"},
        "total_amount": abs(decimal_of(data.get("TOTALENTERED"))),
        "contact": {"id": data.get("CUSTOMERID")}, "date": _iso_date(data.get("RECEIPTDATE")),
        "currency": {"id": data.get("CURRENCY") or None},
        "payment_method": {"displayed_as": data.get("PAYMENTMETHOD") or None},
        "state": data.get("STATE"), "updated_at": _iso(data.get("WHENMODIFIED")),
    }
    if is_voided(data):  # a reversed receipt stays listed but is out of the books, as a reversed invoice
        normalised["status"] = {"id": "VOID"}
    if details is not None:
        normalised["allocated_artefacts"] = [
            {"artefact": {"id": str(d.get("RECORDKEY")), "$path": f"/sales_invoices/{d.get('RECORDKEY')}"},
             "amount": abs(decimal_of(d.get("TRX_PAYMENTAMOUNT"))) + abs(decimal_of(d.get("TRX_ADJUSTMENTAMOUNT")))}
            for d in details if d.get("RECORDKEY")
        ]
    return RemoteRecord(id=record_no, reference=normalised["reference"], data=normalised)


def is_voided(data: Mapping[str, Any]) -> bool:
    return str(data.get("STATE") or "") in VOID_STATES


# ----------------------------------------------------------------------------------- reference data


def tax_detail(data: Mapping[str, Any]) -> TaxDetail:
    return TaxDetail(detail_id=str(data.get("DETAILID") or data.get("RECORDNO")),
                     percentage=decimal_of(data.get("VALUE")), gl_account=data.get("GLACCOUNT") or None,
                     name=str(data.get("DESCRIPTION") or data.get("DETAILID") or ""),
                     tax_type=str(data.get("TAXTYPE") or "Sale"))


def tax_record(detail: TaxDetail, data: Mapping[str, Any] | None = None) -> RemoteRecord:
    """A tax detail as the engine's tax table reads rates (id, percentage, name)."""
    return RemoteRecord(id=detail.detail_id, data={
        "id": detail.detail_id, "name": detail.name, "displayed_as": detail.name, "percentage": detail.percentage,
        "is_visible": (data or {}).get("STATUS", "active") == "active",
        "updated_at": _iso((data or {}).get("WHENMODIFIED")),
    })


NO_TAX_RECORD = RemoteRecord(id=NO_TAX, data={"id": NO_TAX, "name": "No tax", "displayed_as": "No tax",
                                              "percentage": ZERO, "is_visible": True})


def item_record(data: Mapping[str, Any]) -> RemoteRecord:
    """ITEM -> the names the catalog import reads (products and services)."""
    item_id = str(data.get("ITEMID") or "")
    normalised = {
        "id": item_id, "item_code": item_id, "description": data.get("NAME") or data.get("EXTENDED_DESCRIPTION"),
        "item_type": data.get("ITEMTYPE"),
        "sales_prices": [{"price": decimal_of(data["BASEPRICE"])}] if data.get("BASEPRICE") not in (None, "") else [],
        "cost_price": decimal_of(data["STANDARD_COST"]) if data.get("STANDARD_COST") not in (None, "") else None,
        "sales_ledger_account": {"id": data["GLACCOUNT"]} if data.get("GLACCOUNT") else None,
        "active": (data.get("STATUS") or "active") == "active", "updated_at": _iso(data.get("WHENMODIFIED")),
    }
    return RemoteRecord(id=item_id, reference=item_id, data=normalised)


def is_service(data: Mapping[str, Any]) -> bool:
    """Intacct has no product/service split: non-inventory items are what a service desk sells."""
    return str(data.get("ITEMTYPE") or "").startswith("Non-Inventory")


__all__ = [
    "ALLOCATION_SIGN",
    "CREDIT_APPLICATION_PREFIX",
    "INVOICE_OBJECTS",
    "NOT_EXPORTED",
    "NO_TAX",
    "NO_TAX_RECORD",
    "REFUND_NOT_EXPORTED",
    "VENDOR_CREDIT_NOT_APPLIED",
    "TaxDetail",
    "controlid",
    "created_document",
    "customer_record",
    "date_of",
    "decimal_of",
    "document_record",
    "is_credit_application",
    "is_service",
    "is_voided",
    "item_record",
    "payment_record",
    "query_timestamp",
    "quoted",
    "tax_detail",
    "tax_record",
    "timestamp_of",
]
