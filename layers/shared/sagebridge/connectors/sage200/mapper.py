"""Canonical records <-> Sage 200 accounts API v1 JSON. Pure functions: no I/O, no clock.

The export engine speaks to every product's mapper through the same names (the Sage Accounting
mapper's): `contact_body`, `document_body`, `payment_body`, `is_same_document`, `remote_*`... This
module gives them Sage 200's meaning. docs/mapping.md ("Sage 200") has the field tables.

What differs from Sage Accounting, and why the code below looks the way it does:
- Invoices and credit notes are posted ledger transactions: a header with totals plus
  `tax_analysis_items` (per tax code) and `nominal_analysis_items` (per nominal code), no item lines.
  Lines are summarised; each summary must add up to the header exactly, so any rounding difference
  between the host's header and the per-line sums goes on the largest item (ties: the first by code).
- The header carries the host's own net and tax (what the customer was billed; validation has already
  held them within a penny of the per-line sums Sage would compute).
- Posted transactions cannot be edited or voided through the API: a changed document is a skip with
  a reason ("post a credit note"), a voided one of any kind is refused without a request, its reason
  saying how the accountant reverses it in Sage 200 (`void_refusal`); never a silent change.
- No idempotency keys: an uncertain write is found again by `reference` (20 characters) in
  `sales_posted_transactions` (purchase invoices: `purchase_posted_transactions`); a customer or
  supplier by its `reference` (8 characters, unique in Sage 200).
- Customers and suppliers are separate resources with one shape: a supplier's body is wrapped as
  `{"supplier": {...}}` so the connector knows which one to post (the body inside is purchases.json's).
- Money on the customer account is signed: invoices and refunds positive, credit notes and receipts
  negative. We compare magnitudes.
- Sage 200 ids are integers; the engine keeps them as strings, bodies send integers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sagebridge.connectors.base import RemoteRecord
from sagebridge.connectors.mapping import (
    ALLOCATION_SIGN,
    MappedDocument,
    day,
    hashed_contact_reference,
    sage_int,
    short_reference,
)
from sagebridge.connectors.mapping import TaxTable as SharedTaxTable
from sagebridge.domain.documents import AnyDocument
from sagebridge.domain.kinds import DocumentKind, PartyKind, RecordKind
from sagebridge.domain.money import ZERO, round_money, sum_money, to_decimal
from sagebridge.domain.parties import Party
from sagebridge.domain.payments import Payment
from sagebridge.domain.settings import TenantSettings

DOCUMENT_REFERENCE_MAX = 20
CONTACT_REFERENCE_MAX = 8
CONTACT_NAME_MAX = 60
ADDRESS_LINE_MAX = 60
POSTCODE_MAX = 10
NOMINAL_CODE_MAX = 8
ANALYSIS_CODE_MAX = 3  # cost centre, department
NARRATIVE_MAX = 6000

CONTACT_TYPE = {PartyKind.CUSTOMER: "CUSTOMER", PartyKind.VENDOR: "VENDOR"}
# sales_posted_transactions.trader_transaction_type of each kind (Sage's own words).
TRANSACTION_TYPE: dict[DocumentKind, str] = {
    DocumentKind.SALES_INVOICE: "TradingAccountEntryTypeInvoice",
    DocumentKind.SALES_CREDIT_NOTE: "TradingAccountEntryTypeCreditNote",
    DocumentKind.CUSTOMER_PAYMENT: "TradingAccountEntryTypePurchasePaymentSalesReceipt",
    DocumentKind.CUSTOMER_REFUND: "TradingAccountEntryTypePurchaseReceiptSalesPayment",
}
# The sales ledger's types (read back by the payment feed); purchase kinds share the words, so they
# are added after this map is made and told apart by the ledger they are posted on.
KIND_OF_TRANSACTION = {value: kind for kind, value in TRANSACTION_TYPE.items()}
TRANSACTION_TYPE[DocumentKind.PURCHASE_INVOICE] = "TradingAccountEntryTypeInvoice"
TRANSACTION_TYPE[DocumentKind.PURCHASE_CREDIT_NOTE] = "TradingAccountEntryTypeCreditNote"
PURCHASE_KINDS = frozenset({DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE})
_PURCHASE_KIND_OF = {DocumentKind.SALES_INVOICE: DocumentKind.PURCHASE_INVOICE,
                     DocumentKind.SALES_CREDIT_NOTE: DocumentKind.PURCHASE_CREDIT_NOTE}
PAYMENT_TYPE = {k: TRANSACTION_TYPE[k] for k in (DocumentKind.CUSTOMER_PAYMENT, DocumentKind.CUSTOMER_REFUND)}
# Where each kind is posted.
POST_RESOURCE: dict[DocumentKind, str] = {
    DocumentKind.SALES_INVOICE: "sales_invoices",
    DocumentKind.SALES_CREDIT_NOTE: "sales_credit_notes",
    DocumentKind.CUSTOMER_PAYMENT: "sales_receipts",
    DocumentKind.CUSTOMER_REFUND: "sales_payments",
    DocumentKind.PURCHASE_INVOICE: "purchase_invoices",
    DocumentKind.PURCHASE_CREDIT_NOTE: "purchase_credit_notes",
}
# The sign a kind's values carry on the customer account.
ACCOUNT_SIGN: dict[DocumentKind, int] = {
    DocumentKind.SALES_INVOICE: 1,
    DocumentKind.SALES_CREDIT_NOTE: -1,
    DocumentKind.CUSTOMER_PAYMENT: -1,
    DocumentKind.CUSTOMER_REFUND: 1,
    DocumentKind.PURCHASE_INVOICE: 1,  # on the supplier account
    DocumentKind.PURCHASE_CREDIT_NOTE: -1,
}
# ALLOCATION_SIGN (what a receipt or refund may be allocated to, as the engine asks) is the same rule
# as Sage Accounting's: connectors.mapping.
SUPPORTED_KINDS = frozenset(POST_RESOURCE)
# Sage 200 posts the host's header totals (a penny of rounding goes on the largest analysis item),
# rather than computing them from the lines: the export engine's totals check allows that penny.
TOTALS_FROM_LINES = False
LOCKED = ("is posted in Sage 200 as a ledger transaction, which cannot be changed; post a credit note (or a new "
          "invoice) in the host app instead")
# What this connector does not post at all, in words for the host and the sync log: the export
# engine skips these (reason code not_supported) instead of sending them.
NOT_EXPORTED: dict[RecordKind, str] = {}  # every kind is exported
NOT_EDITABLE = "Sage 200 posts it as a ledger transaction, which cannot be changed or voided; " \
    "post a credit note (or a new invoice) in the host app instead"
# Sage 200's API allocates on the sales ledger only (sales.json `/sales_allocations`; purchases.json has
# no allocation resource): a vendor credit note is left for the accountant, who is told.
PURCHASE_ALLOCATION_REFUSED = ("Sage 200's API cannot allocate on the purchase ledger (it has sales allocations "
                               "only), so Sage Bridge did not set the vendor credit note against the vendor invoice: "
                               "allocate it in Sage 200's purchase ledger")


# ------------------------------------------------------------------------------- keys and references


def posted_resource(kind: DocumentKind) -> str:
    """Where a posted document of the kind is listed and found again."""
    return "purchase_posted_transactions" if kind in PURCHASE_KINDS else "sales_posted_transactions"


def trader_key(kind: DocumentKind) -> str:
    """The field naming the document's account: a supplier for purchases, else a customer."""
    return "supplier_id" if kind in PURCHASE_KINDS else "customer_id"


def document_reference(number: str) -> str:
    """The `reference` of a posted transaction: the host's number within 20 characters. It is how an
    uncertain write is found again, so it must be deterministic."""
    return short_reference(number.strip(), DOCUMENT_REFERENCE_MAX)


def contact_reference(kind: PartyKind, host_id: str) -> str:
    """A customer's account reference (8 characters, unique in Sage 200), derived from the host id so
    a customer whose create timed out is found again, and Sage refuses a twin."""
    return hashed_contact_reference(kind, host_id, CONTACT_REFERENCE_MAX)


def payment_reference(payment: Payment) -> str:
    return document_reference(payment.host_id)


def body_date(value: date) -> str:
    """Dates in bodies: midnight without an offset. The spec says date-time; a `Z` would let a server
    in UK summer time file the document on the day before."""
    return f"{value.isoformat()}T00:00:00"


# ------------------------------------------------------------------------------------ reference data


class TaxTable(SharedTaxTable):
    """Sage 200 tax codes, read once per run: record id -> rate, and the code a tax-free line uses."""

    @classmethod
    def from_records(cls, records: Iterable[RemoteRecord]) -> TaxTable:
        rates: dict[str, Decimal] = {}
        zero: list[tuple[int, int, str]] = []
        for record in records:
            data = record.data
            rate = to_decimal(data.get("tax_rate") or 0)
            rates[record.id] = rate
            if rate == ZERO:
                # A line without tax goes outside the VAT return first ("non-vatable"), then exempt, then zero.
                name = str(data.get("name") or "").upper()
                rank = 0 if ("NON" in name or "OUTSIDE" in name) else 1 if "EXEMPT" in name else 2
                zero.append((rank, int(data.get("code") or 0), record.id))
        return cls.of(rates, zero)


@dataclass(frozen=True)
class NominalAccount:
    """A nominal account as a mapping names it: "4000", "4000/CC1" or "4000/CC1/DP1"
    (code / cost centre / department)."""

    code: str
    cost_centre: str = ""
    department: str = ""

    @classmethod
    def parse(cls, text: str) -> NominalAccount:
        parts = [p.strip() for p in text.split("/")]
        if len(parts) > 3 or not parts[0]:
            raise ValueError(f"{text!r} is not a nominal account (code[/cost centre[/department]])")
        code, cost_centre, department = [*parts, "", ""][:3]
        if len(code) > NOMINAL_CODE_MAX or len(cost_centre) > ANALYSIS_CODE_MAX or len(department) > ANALYSIS_CODE_MAX:
            raise ValueError(f"{text!r}: a nominal code has at most 8 characters, cost centre and department 3")
        return cls(code, cost_centre, department)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code}
        if self.cost_centre:
            out["cost_centre"] = self.cost_centre
        if self.department:
            out["department"] = self.department
        return out


def nominal_key(record: Mapping[str, Any]) -> str:
    """How a mapping names a nominal account read from Sage 200: "4000", "4000/CC1", "4000/CC1/DP1"."""
    parts = [str(record.get(k) or "").strip() for k in ("reference", "cost_centre_code", "department_code")]
    while parts and not parts[-1]:
        parts.pop()
    return "/".join(parts)


# ------------------------------------------------------------------------------------------- contacts


def contact_body(party: Party, *, business_currency: str) -> dict[str, Any]:
    """A Sage 200 customer for `party`, or for a vendor `{"supplier": {...}}` (purchases.json's
    supplier has the same fields Sage Bridge fills: reference, name, VAT number, address, contacts)."""
    body: dict[str, Any] = {
        "reference": contact_reference(party.kind, party.host_id),
        "name": party.account_name[:CONTACT_NAME_MAX],
    }
    if party.tax_number:
        body["vat_number"] = party.tax_number[:30]
    if party.address is not None:
        a = party.address
        address: dict[str, Any] = {}
        for n, text in enumerate(a.lines[:4], start=1):
            address[f"address_{n}"] = text[:ADDRESS_LINE_MAX]
        if a.city:
            address["city"] = a.city[:ADDRESS_LINE_MAX]
        if a.region:
            address["county"] = a.region[:ADDRESS_LINE_MAX]
        if a.postcode:
            address["postcode"] = a.postcode[:POSTCODE_MAX]
        if address:
            body["main_address"] = address
    if party.email or party.phone:
        person: dict[str, Any] = {"first_name": party.name[:60]}
        if party.email:
            person["emails"] = [{"email": party.email, "is_default": True}]
        if party.phone:
            person["telephones"] = [{"subscriber_number": party.phone[:200], "is_default": True}]
        body["contacts"] = [person]
    # Currency: Sage 200 wants its currency record id, which the host does not know; a foreign
    # currency customer is refused by validation before it gets here (currency mismatch).
    return {"supplier": body} if party.kind is PartyKind.VENDOR else body


def contact_update_body(party: Party, *, business_currency: str) -> dict[str, Any]:
    """The fields of `PUT customers/{id}` a host change carries: name, VAT number, main address.
    The reference stays Sage's (the connector reads it: the schema requires it). Email and phone
    live on the customer's contact records (customer_contacts / customer_emails), which this
    connector creates with the customer but does not update."""
    body = dict(contact_body(party, business_currency=business_currency))
    if party.kind is PartyKind.VENDOR:
        supplier = body["supplier"]
        return {"supplier": {k: v for k, v in supplier.items() if k in ("name", "vat_number", "main_address")}}
    return {k: v for k, v in body.items() if k in ("name", "vat_number", "main_address")}


def contact_matches(record: RemoteRecord, party: Party) -> bool:
    """Customers and suppliers are separate lists in Sage 200 and the connector searches the one the
    party belongs to, so whatever it found is of the party's kind."""
    return True


# ------------------------------------------------------------------------------------------ documents


def spread_difference(items: list[dict[str, Any]], key: str, target: Decimal, *, order_key: str) -> None:
    """Make `items[*][key]` add up to `target` exactly by putting the difference on the largest item
    (by magnitude; ties go to the first by `order_key`). Deterministic: the same lines always give
    the same summary."""
    if not items:
        return
    difference = round_money(target - sum_money(i[key] for i in items))
    if difference == ZERO:
        return
    largest = min(items, key=lambda i: (-abs(i[key]), str(i[order_key])))
    largest[key] = largest[key] + difference


def document_body(
    doc: AnyDocument,
    *,
    contact_id: str,
    settings: TenantSettings,
    taxes: SharedTaxTable,
    business_currency: str,
) -> MappedDocument:
    """A `sales_invoices` / `sales_credit_notes` / `purchase_invoices` / `purchase_credit_notes` body:
    header totals, one tax analysis item per tax code and one nominal analysis item per nominal
    account, each summary adding up to the header. Call after validation: unmapped tax codes or
    accounts raise ValueError here."""
    kind = doc.kind
    if kind not in (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, *PURCHASE_KINDS):
        raise ValueError(f"the Sage 200 connector does not export {kind.value.replace('_', ' ')}s")
    by_tax: dict[str, dict[str, Any]] = {}
    by_nominal: dict[NominalAccount, dict[str, Any]] = {}
    for line in doc.lines:
        mapped = taxes.line(line, kind, settings)
        net, rate_id, account, tax = mapped.net, mapped.rate_id, mapped.account, mapped.tax
        t = by_tax.setdefault(rate_id, {"id": sage_int(rate_id), "goods_amount": ZERO, "tax_amount": ZERO})
        t["goods_amount"] += net
        t["tax_amount"] += tax
        nominal = NominalAccount.parse(account)
        n = by_nominal.setdefault(nominal, {**nominal.body(), "value": ZERO, "_lines": []})
        n["value"] += net
        n["_lines"].append(line.description)
    # The header is the host's (validated within a penny of the per-line sums above).
    net, tax = round_money(doc.totals.net), round_money(doc.totals.tax)
    tax_items = [by_tax[k] for k in sorted(by_tax, key=lambda k: sage_int(k))]
    spread_difference(tax_items, "goods_amount", net, order_key="id")
    spread_difference(tax_items, "tax_amount", tax, order_key="id")
    nominal_items = [by_nominal[k] for k in sorted(by_nominal, key=lambda a: (a.code, a.cost_centre, a.department))]
    spread_difference(nominal_items, "value", net, order_key="code")
    for item in nominal_items:
        item["narrative"] = "; ".join(dict.fromkeys(item.pop("_lines")))[:NARRATIVE_MAX]
    reference = document_reference(doc.number)
    body: dict[str, Any] = {
        trader_key(kind): sage_int(contact_id),
        "transaction_date": body_date(doc.document_date),
        "reference": reference,
    }
    if doc.reference:
        body["second_reference"] = doc.reference[:DOCUMENT_REFERENCE_MAX]
    if kind in (DocumentKind.SALES_INVOICE, DocumentKind.PURCHASE_INVOICE) and doc.due_date is not None:
        body["due_date"] = body_date(doc.due_date)
    if doc.currency != business_currency and doc.exchange_rate is not None:
        body["exchange_rate"] = doc.exchange_rate
    body.update({
        "document_goods_value": net,
        "document_tax_value": tax,
        "tax_analysis_items": tax_items,
        "nominal_analysis_items": nominal_items,
    })
    return MappedDocument(body=body, net=net, tax=tax, total=net + tax, reference=reference)


# What reverses a posted transaction of each kind in Sage 200 (the desktop's Correct Transactions >
# Reverse posts the opposite transaction and allocates the two to each other; the API has no such
# operation, nor a cancel or delete, in sales.json or purchases.json).
_WHAT_AND_OPPOSITE: dict[DocumentKind, tuple[str, str]] = {
    DocumentKind.SALES_INVOICE: ("sales invoice", "a credit note"),
    DocumentKind.SALES_CREDIT_NOTE: ("sales credit note", "an invoice"),
    DocumentKind.PURCHASE_INVOICE: ("purchase invoice", "a purchase credit note"),
    DocumentKind.PURCHASE_CREDIT_NOTE: ("purchase credit note", "a purchase invoice"),
    DocumentKind.CUSTOMER_PAYMENT: ("receipt", "a refund (sales payment)"),
    DocumentKind.CUSTOMER_REFUND: ("refund (sales payment)", "a receipt"),
}


def void_refusal(kind: DocumentKind) -> str:
    """Why a host void of `kind` is not carried out in Sage 200, and what the accountant does there."""
    what, opposite = _WHAT_AND_OPPOSITE.get(kind, (kind.value.replace("_", " "), "the opposite transaction"))
    first = " first remove its allocations there (Amend Allocation), then" if kind in PAYMENT_TYPE else ""
    return (f"voided in the host app, but a posted {what} cannot be voided or cancelled through the Sage 200 API, "
            f"so nothing was changed in Sage 200; to cancel it,{first} reverse it in Sage 200 (Correct "
            f"Transactions > Reverse), which posts {opposite} against it")


def void_reason(doc: AnyDocument | None, host_id: str) -> str:
    what = f"{doc.number}" if doc is not None else host_id
    return f"Voided in the host app ({what})"


# ------------------------------------------------------------------------------------------- payments


def payment_body(
    payment: Payment,
    *,
    contact_id: str,
    allocations: Iterable[tuple[DocumentKind, str, Decimal]],
    bank_account_id: str,
    settings: TenantSettings,
    business_currency: str,
) -> dict[str, Any]:
    """A receipt (`sales_receipts`) or refund (`sales_payments`) and the allocation lines that set it
    against the documents it settles. Two requests in Sage 200; the connector posts them in order and
    adds the payment's own allocation line (the balancing one) once Sage has given it an id."""
    signs = ALLOCATION_SIGN[payment.kind]
    lines = []
    for kind, sage_id, amount in allocations:
        if kind not in signs:
            raise ValueError(f"a {payment.kind.value} cannot be allocated to a {kind.value}")
        # value_to_allocate carries the document's own sign on the account (credit notes negative).
        value = round_money(amount) * ACCOUNT_SIGN[kind]
        lines.append({"posted_tran_id": sage_int(sage_id), "value_to_allocate": value})
    reference = payment_reference(payment)
    record: dict[str, Any] = {
        "customer_id": sage_int(contact_id),
        "bank_id": sage_int(bank_account_id),
        "cheque_value": round_money(payment.amount),
        "transaction_date": body_date(payment.payment_date),
        "reference": reference,
    }
    if payment.reference:
        record["second_reference"] = payment.reference[:DOCUMENT_REFERENCE_MAX]
    if payment.currency != business_currency and payment.exchange_rate is not None:
        record["exchange_rate"] = payment.exchange_rate
    return {"kind": payment.kind.value, "resource": POST_RESOURCE[payment.kind], "record": record,
            "allocation_lines": lines}


def credit_note_allocation_body(*, contact_id: str, invoice_id: str, credit_note_id: str, amount: Decimal,
                                on: date, kind: DocumentKind = DocumentKind.SALES_CREDIT_NOTE) -> dict[str, Any]:
    """`sales_allocations`: a credit note used up against the invoice it credits (each line carries
    its document's account sign; the two add up to zero, no money moves). A purchase credit note is
    refused (the connector raises NotSupported): purchases.json has no allocation resource."""
    if kind is DocumentKind.PURCHASE_CREDIT_NOTE:
        return {"refused": PURCHASE_ALLOCATION_REFUSED, "supplier_id": sage_int(contact_id),
                "allocation_date": body_date(on), "value": round_money(amount)}
    if kind is not DocumentKind.SALES_CREDIT_NOTE:
        raise ValueError(f"{kind.value} is not a credit note: only credit notes are allocated against invoices")
    value = round_money(amount)
    return {"customer_id": sage_int(contact_id), "allocation_date": body_date(on), "allocation_lines": [
        {"posted_tran_id": sage_int(invoice_id), "value_to_allocate": value * ACCOUNT_SIGN[DocumentKind.SALES_INVOICE]},
        {"posted_tran_id": sage_int(credit_note_id),
         "value_to_allocate": value * ACCOUNT_SIGN[DocumentKind.SALES_CREDIT_NOTE]}]}


def allocation_body(customer_id: int, payment_id: int, payment_kind: DocumentKind,
                    lines: list[dict[str, Any]], on: str | None) -> dict[str, Any]:
    """`sales_allocations`: the documents' lines plus the payment's, which balances them to zero."""
    settled = sum_money(line["value_to_allocate"] for line in lines)
    payment_line = {"posted_tran_id": payment_id, "value_to_allocate": -settled}
    assert (settled > ZERO) == (ACCOUNT_SIGN[payment_kind] < 0) or settled == ZERO
    body: dict[str, Any] = {"customer_id": customer_id, "allocation_lines": [*lines, payment_line]}
    if on:
        body["allocation_date"] = on
    return body


# ----------------------------------------------------------------------------------- reading Sage back


def _amount(data: Mapping[str, Any], key: str) -> Decimal:
    value = data.get(key)
    return abs(to_decimal(value)) if value is not None else ZERO


def remote_total(record: RemoteRecord) -> Decimal:
    return _amount(record.data, "document_gross_value")


def remote_outstanding(record: RemoteRecord) -> Decimal:
    return _amount(record.data, "document_outstanding_value")


def remote_paid(record: RemoteRecord) -> Decimal:
    """What has been allocated against the transaction in Sage."""
    return _amount(record.data, "document_allocated_value")


def remote_contact_id(record: RemoteRecord) -> str | None:
    value = record.data.get("customer_id", record.data.get("supplier_id"))
    return str(value) if value is not None else None


def remote_contact_name(record: RemoteRecord) -> str | None:
    """Posted transactions carry the customer's id only: a skip reason names the customer by it."""
    return None


def remote_date(record: RemoteRecord) -> date | None:
    return day(record.data.get("transaction_date"))


def remote_status(record: RemoteRecord) -> str | None:
    """Posted transactions have no status; nothing is ever VOID through the API."""
    return None


def remote_editable(record: RemoteRecord) -> bool:
    """Never: posted transactions are final (the engine skips a changed document with a reason)."""
    return False


def remote_transaction_type(record: RemoteRecord) -> str | None:
    value = record.data.get("trader_transaction_type")
    return str(value) if value is not None else None


def remote_kind(record: RemoteRecord) -> DocumentKind | None:
    kind = KIND_OF_TRANSACTION.get(remote_transaction_type(record) or "")
    if "supplier_id" in record.data:  # a purchase posted transaction
        return _PURCHASE_KIND_OF.get(kind) if kind is not None else None
    return kind


def is_same_document(
    record: RemoteRecord, *, reference: str, contact_id: str | None, total: Decimal, on: date | None = None
) -> bool:
    """Is this posted transaction the one we would post: same reference, customer, amount (and date)?
    How an uncertain write is reconciled. A receipt or refund counts as the same only once it is
    wholly allocated: until then the connector's create_payment finishes it (it finds the payment by
    reference, never posts it twice, and allocates what is missing)."""
    if (record.reference or record.data.get("reference") or "") != reference:
        return False
    if contact_id is not None and remote_contact_id(record) not in (None, str(contact_id)):
        return False
    if record.data.get("document_gross_value") is not None and remote_total(record) != round_money(abs(total)):
        return False
    if remote_kind(record) in PAYMENT_TYPE and remote_outstanding(record) != ZERO:
        return False
    remote_on = remote_date(record)
    return on is None or remote_on is None or remote_on == on


__all__ = [
    "ACCOUNT_SIGN",
    "ALLOCATION_SIGN",
    "CONTACT_TYPE",
    "KIND_OF_TRANSACTION",
    "LOCKED",
    "NOT_EDITABLE",
    "NOT_EXPORTED",
    "PAYMENT_TYPE",
    "POST_RESOURCE",
    "PURCHASE_ALLOCATION_REFUSED",
    "PURCHASE_KINDS",
    "TOTALS_FROM_LINES",
    "TRANSACTION_TYPE",
    "MappedDocument",
    "NominalAccount",
    "TaxTable",
    "allocation_body",
    "body_date",
    "contact_body",
    "contact_matches",
    "contact_reference",
    "contact_update_body",
    "credit_note_allocation_body",
    "document_body",
    "document_reference",
    "is_same_document",
    "payment_body",
    "payment_reference",
    "posted_resource",
    "remote_contact_id",
    "remote_contact_name",
    "remote_date",
    "remote_editable",
    "remote_kind",
    "remote_outstanding",
    "remote_paid",
    "remote_status",
    "remote_total",
    "remote_transaction_type",
    "sage_int",
    "spread_difference",
    "trader_key",
    "void_reason",
    "void_refusal",
]
