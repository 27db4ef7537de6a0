"""Canonical records -> Sage Intacct function payloads, and what the export engine reads back.

The Intacct connector brings this module as its `mapper`: the engine builds contact, document and
payment bodies here straight from the domain, and reads Intacct's records with the `remote_*`
readers (`connectors/readback.py`: the shape the connector normalises Intacct records to). Pure
functions: no I/O, no clock. docs/mapping.md ("Sage Intacct") has the tables.

A `Body` is Intacct functions not yet numbered: the connector gives each the controlid of its
`action` and the ledger's idempotency key, and sends them. `refused` says what only Intacct refuses
(a tax detail without a GL account, a receipt not applied in full): the connector raises it as
RecordInvalid and sends nothing, as Intacct would have answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Required, TypedDict

from sagebridge.connectors.base import CheckedMapping, RemoteRecord
from sagebridge.connectors.mapping import MappedDocument, MappedLine, hashed_contact_reference, short_reference
from sagebridge.connectors.mapping import TaxTable as SharedTaxTable
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
from sagebridge.connectors.sage_intacct.mapper import (
    ALLOCATION_SIGN,
    CONTACT_NAME_MAX,
    CREDIT_APPLICATION_PREFIX,
    NOT_EXPORTED,
    REFUND_NOT_EXPORTED,
    VENDOR_CREDIT_NOT_APPLIED,
    TaxDetail,
    controlid,
    tax_record,
)
from sagebridge.connectors.sage_intacct.xml import Function as XmlFunction
from sagebridge.connectors.sage_intacct.xml import object_element
from sagebridge.domain.documents import AnyDocument, DocumentLine
from sagebridge.domain.kinds import DocumentKind, PartyKind
from sagebridge.domain.money import ZERO, line_tax, round_money, sum_money, to_decimal
from sagebridge.domain.parties import Party
from sagebridge.domain.payments import Payment
from sagebridge.domain.settings import TenantSettings

DOCUMENT_REFERENCE_MAX = 25  # invoiceno / adjustmentno / DOCNUMBER as Sage Bridge writes them
CONTACT_REFERENCE_MAX = 10  # CUSTOMERID: derived from the host id, so a lost create is found again
VOID_REASON_MAX = 200
TEXT_MAX = 1000  # description and memo
CONTACT_TYPE = {PartyKind.CUSTOMER: "CUSTOMER", PartyKind.VENDOR: "VENDOR"}
PAYMENT_TYPE = {DocumentKind.CUSTOMER_PAYMENT: "CUSTOMER_RECEIPT", DocumentKind.CUSTOMER_REFUND: "CUSTOMER_REFUND"}
_DOCUMENTS = frozenset({DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
                        DocumentKind.PURCHASE_CREDIT_NOTE})
# What the mapping health check holds against the company's TAXDETAILs (Connector.checked_mappings):
# tax_mappings name Sale details (every document's validation rates them), and a bill's or vendor
# credit memo's input tax posts on the Purchase detail of intacct.purchase_tax_mappings, which each
# taxed code needs (TaxTable.purchase_line skips a document without it).
CHECKED_MAPPINGS = (
    CheckedMapping("tax_mappings", "tax_rate", used_by=_DOCUMENTS, type_field="tax_type", types=frozenset({"Sale"}),
                   wrong_type="a purchase tax detail (TAXTYPE Purchase), which Sage Intacct posts only on bills "
                   "and vendor credit memos"),
    CheckedMapping("intacct.purchase_tax_mappings", "tax_rate",
                   used_by=frozenset({DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE}),
                   type_field="tax_type", types=frozenset({"Purchase"}),
                   wrong_type="a sales tax detail (TAXTYPE Sale), not a purchase tax detail (TAXTYPE Purchase)",
                   codes_of="tax_mappings"),
)
# The host's words for a payment method -> Intacct PAYMENTMETHOD; anything else is an EFT.
PAYMENT_METHODS = {
    "cash": "Cash", "card": "Credit Card", "credit_card": "Credit Card", "debit_card": "Credit Card",
    "bank_transfer": "EFT", "transfer": "EFT", "bacs": "EFT", "cheque": "Printed Check", "check": "Printed Check",
}
# The tenant's `receipt_payment_method` setting (written in Sage's payment method ids) -> PAYMENTMETHOD.
SETTING_METHODS = {"CASH": "Cash", "CREDIT_DEBIT": "Credit Card", "BANK_TRANSFER": "EFT", "CHECK": "Printed Check"}
DEFAULT_METHOD = "EFT"
# Intacct totals a document from its line items (the tax lines included), as the engine checks.
TOTALS_FROM_LINES = True
LOCKED = "is locked in Sage Intacct (not editable there), so Intacct will not let it be changed"
DAILY_RATE = "Intacct Daily Rate"  # the exchange rate type when the host gives no rate
REFUND_REFUSED = REFUND_NOT_EXPORTED  # one reason, whether the engine or the body refuses a refund
NO_MONEY_MOVED = ("Sage Intacct: a payment of 0 that applies no credit note moved nothing, so there is "
                  "nothing to post")
NOT_APPLIED_IN_FULL = ("Sage Intacct: a receipt must be applied in full to exported invoices "
                       "(an over- or unallocated payment is not exported)")
CREDIT_LEFT_OVER = ("Sage Intacct: the credit notes a payment offsets are more than the invoices it settles; "
                    "Intacct applies a credit memo to an invoice, so the rest has nowhere to go")



class Function(TypedDict):
    """One function of a body: its controlid's prefix, its element, and that element's children."""

    action: str
    tag: str
    fields: dict[str, Any]  # the element's children in schema order: mappings nest, lists repeat, None is left out


class Body(TypedDict, total=False):
    functions: Required[list[Function]]
    reference: str  # CUSTOMERID, invoiceno / adjustmentno, DOCNUMBER
    name: str
    contact_id: str
    date: date
    total_amount: Decimal
    refused: str  # what Intacct would refuse (the connector sends nothing)
    unmapped: str  # a tenant setting to fill in first (a purchase tax mapping): a skip, nothing sent


def document_reference(number: str) -> str:
    """invoiceno / adjustmentno / DOCNUMBER: the host's number within 25 characters; how a document
    is found again in Intacct (a lost answer, going live)."""
    return short_reference(number.strip(), DOCUMENT_REFERENCE_MAX)


def contact_reference(kind: PartyKind, host_id: str) -> str:
    """A customer's CUSTOMERID: 10 characters derived from the host id, so a customer whose create
    was lost is found again, and Intacct's unique id refuses a twin."""
    return hashed_contact_reference(kind, host_id, CONTACT_REFERENCE_MAX)


def payment_reference(payment: Payment) -> str:
    """Payments have no number: the host id identifies one (DOCNUMBER)."""
    return document_reference(payment.host_id)


def _function(action: str, tag: str, fields: Mapping[str, Any]) -> Function:
    return {"action": action, "tag": tag, "fields": dict(fields)}


def _legacy_date(on: date) -> dict[str, str]:
    """Legacy functions (create_invoice...) take a date as <year>/<month>/<day>."""
    return {"year": f"{on.year:04d}", "month": f"{on.month:02d}", "day": f"{on.day:02d}"}


def functions(body: Mapping[str, Any], key: str) -> list[XmlFunction]:
    """The body's functions as sent: each numbered by its action and the business event's key, so
    the same event always gets the same controlid (Intacct refuses to run it twice)."""
    return [XmlFunction(controlid(f["action"], key), object_element(f["tag"], f["fields"]))
            for f in body["functions"]]


def customer_update_functions(customer_id: str, body: Mapping[str, Any]) -> list[XmlFunction]:
    """`contact_update_body` for the customer (or vendor) `customer_id`: an update is safe to
    repeat, so its controlid only has to name the party."""
    filled = []
    for f in body["functions"]:
        (tag, fields), = f["fields"].items()
        filled.append({**f, "fields": {tag: {**fields, f"{tag}ID": customer_id}}})
    return functions({"functions": filled}, customer_id)


def refusal(body: Mapping[str, Any]) -> str | None:
    """Why Intacct would refuse this body (the connector sends nothing then), or None."""
    return body.get("refused") or body.get("unmapped")


def unmapped(body: Mapping[str, Any]) -> str | None:
    """The tenant setting this body lacks (a purchase tax mapping): a skip, not a failure."""
    return body.get("unmapped")


# ------------------------------------------------------------------------------------ reference data


def tax_rate_record(detail: TaxDetail) -> RemoteRecord:
    """A sales tax detail as the export engine's tax table reads it: the rate, and the GL account
    its tax lines post to (the catalog import reads `mapper.tax_record`, without it)."""
    record = tax_record(detail)
    return RemoteRecord(id=record.id, data={**record.data, "gl_account": detail.gl_account,
                                            "tax_type": detail.tax_type})


@dataclass(frozen=True)
class TaxTable(SharedTaxTable):
    """The company's sales tax details, read once per run: id -> percentage (what validation
    checks), the rate an untaxed line uses (NO_TAX), and each detail's GL account and name (where
    its tax line posts)."""

    gl_accounts: Mapping[str, str | None] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)
    # Purchase (input) tax details: id -> percentage. Only bills and vendor credit memos use them
    # (IntacctSettings.purchase_tax_mappings); `rates` stays the sales details the engine validates.
    purchase_rates: Mapping[str, Decimal] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[RemoteRecord]) -> TaxTable:
        rates: dict[str, Decimal] = {}
        zero: list[tuple[int, str]] = []
        gl_accounts: dict[str, str | None] = {}
        names: dict[str, str] = {}
        purchase_rates: dict[str, Decimal] = {}
        for record in records:
            data = record.data
            if data.get("is_visible") is False or data.get("is_combined_rate"):
                continue
            percentage = to_decimal(data.get("percentage") or 0)
            if data.get("tax_type") == "Purchase":
                purchase_rates[record.id] = percentage
                gl_accounts[record.id] = data.get("gl_account") or None
                names[record.id] = str(data.get("name") or record.id)
                continue
            rates[record.id] = percentage
            gl_accounts[record.id] = data.get("gl_account") or None
            names[record.id] = str(data.get("name") or record.id)
            if percentage == ZERO:
                # An untaxed line goes to "No tax" before any exempt or zero-rated detail.
                text = f"{record.id} {data.get('name') or ''} {data.get('displayed_as') or ''}".upper()
                rank = 0 if "NO_TAX" in text or "NO TAX" in text else 1 if "EXEMPT" in text else 2
                zero.append((rank, record.id))
        table = cls.of(rates, zero)
        return cls(rates=table.rates, zero_rate_id=table.zero_rate_id, gl_accounts=gl_accounts, names=names,
                   purchase_rates=purchase_rates)

    def purchase_line(self, line: DocumentLine, kind: DocumentKind,
                      settings: TenantSettings) -> tuple[MappedLine, str | None]:
        """A bill or vendor credit memo line: its input tax on the Purchase detail the tenant maps
        its tax code to (IntacctSettings.purchase_tax_mappings), never on a sales detail. Returns
        the line and why it cannot be posted (None when it can). A line with no tax code, or one
        whose code is zero-rated on the sales side, posts no tax line and needs no mapping."""
        mapped = self.line(line, kind, settings)
        code = line.tax_code
        if code is None:
            return mapped, None
        purchase = settings.intacct.purchase_tax_mappings if settings.intacct is not None else {}
        detail_id = purchase.get(code)
        if detail_id is None:
            if mapped.tax == ZERO and self.rates.get(mapped.rate_id, ZERO) == ZERO:
                return mapped, None
            return mapped, (f"tax code {code!r} has no Sage Intacct purchase tax detail: set "
                            f"intacct.purchase_tax_mappings.{code} to a TAXDETAIL with TAXTYPE Purchase")
        if detail_id not in self.purchase_rates:
            return mapped, (f"intacct.purchase_tax_mappings.{code} is {detail_id!r}, which is not an active "
                            "purchase tax detail (TAXTYPE Purchase) in Sage Intacct")
        tax = line_tax(mapped.net, self.purchase_rates[detail_id])
        return MappedLine(net=mapped.net, rate_id=detail_id, account=mapped.account, tax=tax), None


@dataclass(frozen=True)
class PostingOptions:
    """Per tenant (TenantSettings.intacct): dimensions on every line, the location custom field."""

    location_id: str | None = None
    department_id: str | None = None
    class_id: str | None = None
    location_custom_field: str | None = None
    bill_location_custom_field: str | None = None
    host_location: str | None = None

    @classmethod
    def of(cls, settings: TenantSettings | None) -> PostingOptions:
        options = settings.intacct if settings is not None else None
        if options is None:
            return cls()
        return cls(location_id=options.location_id, department_id=options.department_id, class_id=options.class_id,
                   location_custom_field=options.location_custom_field,
                   bill_location_custom_field=options.bill_location_custom_field, host_location=options.host_location)

    def host_location_field(self, custom_field: str | None) -> dict[str, Any] | None:
        """`customfields` carrying the host's location in the object's own custom field (None: not set)."""
        if not custom_field or not self.host_location:
            return None
        return {"customfield": {"customfieldname": custom_field, "customfieldvalue": self.host_location}}


# ------------------------------------------------------------------------------------------- customers


def _names(party: Party) -> tuple[str, str]:
    """(organisation, person): the books' account name, and the person to contact there."""
    return party.account_name[:CONTACT_NAME_MAX].strip(), party.name[:CONTACT_NAME_MAX].strip()


def _mail_address(party: Party) -> dict[str, str] | None:
    a = party.address
    if a is None:
        return None
    mail = {"ADDRESS1": a.lines[0] if a.lines else None,
            "ADDRESS2": ", ".join(a.lines[1:]) if len(a.lines) > 1 else None,
            "CITY": a.city, "STATE": a.region, "ZIP": a.postcode, "COUNTRYCODE": a.country_code}
    return {k: str(v) for k, v in mail.items() if v} or None


def contact_body(party: Party, *, business_currency: str) -> Body:
    """CONTACT (the person) then CUSTOMER or VENDOR (the organisation), created in one transaction."""
    party_id = contact_reference(party.kind, party.host_id)
    organisation, person = _names(party)
    mail = _mail_address(party)
    contact_name = f"{person} ({party_id})"
    if len(contact_name) > CONTACT_NAME_MAX:
        contact_name = f"{person[: CONTACT_NAME_MAX - len(party_id) - 4]}~ ({party_id})"
    first, _, last = person.partition(" ")
    contact = {
        "CONTACTNAME": contact_name, "PRINTAS": person, "COMPANYNAME": organisation,
        "FIRSTNAME": first or None, "LASTNAME": last or None,
        "EMAIL1": party.email, "PHONE1": party.phone, "MAILADDRESS": mail,
    }
    currency = party.currency if party.currency and party.currency != business_currency else None
    display = {"PRINTAS": organisation, "COMPANYNAME": organisation, "EMAIL1": party.email,
               "PHONE1": party.phone, "MAILADDRESS": mail}
    if party.kind is PartyKind.VENDOR:
        # A vendor's contacts are its contact, pay-to and return-to (a customer's bill-to).
        tag, action = "VENDOR", "vendor"
        organisation_fields = {
            "VENDORID": party_id, "NAME": organisation, "TAXID": party.tax_number or None, "CURRENCY": currency,
            "DISPLAYCONTACT": display, "CONTACTINFO": {"CONTACTNAME": contact_name},
            "PAYTO": {"CONTACTNAME": contact_name},
        }
    else:
        tag, action = "CUSTOMER", "customer"
        organisation_fields = {
            "CUSTOMERID": party_id, "NAME": organisation, "TAXID": party.tax_number or None, "CURRENCY": currency,
            "DISPLAYCONTACT": display, "CONTACTINFO": {"CONTACTNAME": contact_name},
            "BILLTO": {"CONTACTNAME": contact_name},
        }
    return {
        "functions": [_function("contact", "create", {"CONTACT": contact}),
                      _function(action, "create", {tag: organisation_fields})],
        "reference": party_id, "name": party.name[:CONTACT_NAME_MAX],
    }


def contact_update_body(party: Party, *, business_currency: str) -> Body:
    """Generic `update` of the CUSTOMER (or VENDOR): name, tax id and display contact (email, phone,
    mail address) as the host has them now. The connector fills in CUSTOMERID / VENDORID (the
    contact's Sage id); the person made with it keeps its name (CONTACTNAME is its key)."""
    organisation = _names(party)[0]
    mail = _mail_address(party)
    tag = CONTACT_TYPE[party.kind]
    fields = {
        f"{tag}ID": None, "NAME": organisation or None, "TAXID": party.tax_number or None,
        "DISPLAYCONTACT": {"PRINTAS": organisation or None, "COMPANYNAME": organisation or None,
                           "EMAIL1": party.email, "PHONE1": party.phone, "MAILADDRESS": mail},
    }
    return {"functions": [_function(f"update-{tag.lower()}", "update", {tag: fields})],
            "name": party.name[:CONTACT_NAME_MAX]}


def contact_matches(record: RemoteRecord, party: Party) -> bool:
    """Is this Intacct record one of the party's kind (Intacct customers are all customers)?"""
    types = {t.get("id") for t in record.data.get("contact_types") or [] if isinstance(t, Mapping)}
    return not types or CONTACT_TYPE[party.kind] in types


# ------------------------------------------------------------------------------------------ documents


def _line_item(account: str, amount: Decimal, memo: str, options: PostingOptions) -> dict[str, Any]:
    # api-v3.0.xsd `lineitem` order (the same element on invoices, AR adjustments, bills and AP
    # adjustments): glaccountno, amount, memo, locationid, departmentid, ... classid.
    return {"glaccountno": account, "amount": amount, "memo": memo[:TEXT_MAX] if memo else None,
            "locationid": options.location_id or None, "departmentid": options.department_id or None,
            "classid": options.class_id or None}


def document_body(doc: AnyDocument, *, contact_id: str, settings: TenantSettings, taxes: SharedTaxTable,
                  business_currency: str) -> MappedDocument:
    """create_invoice (an invoice), create_aradjustment with negative amounts (a credit note),
    create_bill (a purchase invoice: an AP bill of the vendor `contact_id`) or create_apadjustment
    with negative amounts (a purchase credit note: a vendor credit memo).
    `taxes` is this module's `TaxTable` (its details' GL accounts make the tax lines). Call after
    validation: an unmapped tax code or ledger account raises ValueError here."""
    if not isinstance(taxes, TaxTable):
        raise TypeError("a Sage Intacct document needs Sage Intacct's tax table (export_mapper.TaxTable)")
    kind = doc.kind
    options = PostingOptions.of(settings)
    # a negative AR / AP adjustment is a credit memo
    sign = -1 if kind in (DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_CREDIT_NOTE) else 1
    items: list[dict[str, Any]] = []
    nets: list[Decimal] = []
    tax_by_rate: dict[str, Decimal] = {}
    purchase = kind in (DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE)
    unmapped: str | None = None
    for line in doc.lines:
        if purchase:
            mapped, why = taxes.purchase_line(line, kind, settings)
            unmapped = unmapped or why
        else:
            mapped = taxes.line(line, kind, settings)
        net, rate_id, account, tax = mapped.net, mapped.rate_id, mapped.account, mapped.tax
        nets.append(net)
        items.append(_line_item(account, net * sign, line.description, options))
        if tax != ZERO:
            tax_by_rate[rate_id] = tax_by_rate.get(rate_id, ZERO) + tax
    refused = None if items else "a document for Sage Intacct needs at least one line"
    for rate_id, amount in tax_by_rate.items():
        gl_account = taxes.gl_accounts.get(rate_id)
        if not gl_account:
            refused = refused or f"tax detail {rate_id!r} is not in Sage Intacct or has no GL account"
            continue
        items.append(_line_item(gl_account, round_money(amount) * sign,
                                f"Tax: {taxes.names.get(rate_id, rate_id)}", options))
    net_total, tax_total = sum_money(nets), sum_money(tax_by_rate.values())
    reference = document_reference(doc.number)
    said = "Vendor reference" if purchase else "Customer reference"
    notes = f"{said}: {doc.reference}"[:TEXT_MAX] if doc.reference else None
    currency: dict[str, Any] = {}
    if doc.currency != business_currency:
        currency["currency"] = doc.currency
        if doc.exchange_rate is not None:
            currency["exchrate"] = doc.exchange_rate
        else:
            currency["exchratetype"] = DAILY_RATE
    if kind is DocumentKind.SALES_INVOICE:
        fields: dict[str, Any] = {
            "customerid": contact_id, "datecreated": _legacy_date(doc.document_date),
            "datedue": _legacy_date(doc.due_date or doc.document_date),  # no term: due on the date
            "invoiceno": reference, "description": notes, **currency,
            "customfields": options.host_location_field(options.location_custom_field),
            "invoiceitems": {"lineitem": items},
        }
        function = _function("invoice", "create_invoice", fields)
    elif kind is DocumentKind.PURCHASE_INVOICE:
        # create_bill, in the XSD's order: vendorid, datecreated, datedue, billno, description,
        # currency, customfields (APBILL's own), billitems (the same lineitem as AR).
        fields = {
            "vendorid": contact_id, "datecreated": _legacy_date(doc.document_date),
            "datedue": _legacy_date(doc.due_date or doc.document_date),
            "billno": reference, "description": notes, **currency,
            "customfields": options.host_location_field(options.bill_location_custom_field),
            "billitems": {"lineitem": items},
        }
        function = _function("bill", "create_bill", fields)
    elif kind is DocumentKind.PURCHASE_CREDIT_NOTE:
        # create_apadjustment, in the XSD's order; negative amounts make it a vendor credit memo.
        fields = {"vendorid": contact_id, "datecreated": _legacy_date(doc.document_date),
                  "adjustmentno": reference, "description": notes, **currency,
                  "apadjustmentitems": {"lineitem": items}}
        function = _function("apadjustment", "create_apadjustment", fields)
    else:
        fields = {"customerid": contact_id, "datecreated": _legacy_date(doc.document_date),
                  "adjustmentno": reference, "description": notes, **currency,
                  "aradjustmentitems": {"lineitem": items}}
        function = _function("aradjustment", "create_aradjustment", fields)
        if kind is not DocumentKind.SALES_CREDIT_NOTE:
            refused = refused or f"a {kind.value.replace('_', ' ')} is not exported to Sage Intacct by Sage Bridge"
    body: Body = {"functions": [function], "reference": reference, "contact_id": contact_id,
                  "date": doc.document_date, "total_amount": net_total + tax_total}
    if refused:
        body["refused"] = refused
    if unmapped:
        body["unmapped"] = unmapped
    return MappedDocument(body=body, net=net_total, tax=tax_total,
                          total=net_total + tax_total, reference=reference, not_sendable=unmapped)


def void_reason(doc: AnyDocument | None, host_id: str) -> str:
    what = f"{doc.number}" if doc is not None else host_id
    return f"Voided in the host app ({what})"[:VOID_REASON_MAX]


# ------------------------------------------------------------------------------------------- payments


def _payment_method(payment: Payment, settings: TenantSettings) -> str:
    said = PAYMENT_METHODS.get((payment.method or "").strip().lower().replace(" ", "_"))
    return said or SETTING_METHODS.get(settings.receipt_payment_method or "", DEFAULT_METHOD)


def _credit_details(invoices: list[list[Any]], credits: Iterable[tuple[str, Decimal]]) -> tuple[list[dict[str, Any]],
                                                                                                 Decimal]:
    """Each credit memo applied to the invoices of the same payment in their order (one ARPYMTDETAIL
    per credit memo and invoice: RECORDKEY names the invoice, ADJUSTMENTKEY the memo); `invoices`
    are [id, amount still to settle], reduced in place. Returns the details and the credit left over."""
    details, left_over = [], ZERO
    for memo_id, amount in credits:
        left = amount
        for invoice in invoices:
            used = min(left, invoice[1])
            if used <= ZERO:
                continue
            details.append({"RECORDKEY": invoice[0], "ADJUSTMENTKEY": memo_id, "TRX_ADJUSTMENTAMOUNT": used})
            invoice[1] -= used
            left -= used
            if left == ZERO:
                break
        left_over += left
    return details, left_over


def payment_body(payment: Payment, *, contact_id: str, allocations: Iterable[tuple[DocumentKind, str, Decimal]],
                 bank_account_id: str, settings: TenantSettings, business_currency: str) -> Body:
    """A customer receipt (ARPYMT) that pays invoices and applies the credit memos it offsets to them:
    each credit memo on a detail naming the invoice (ADJUSTMENTKEY, TRX_ADJUSTMENTAMOUNT), what is
    left of each invoice paid in cash (TRX_PAYMENTAMOUNT). The cash adds up to the money that moved;
    a pure offset (amount 0) is an ARPYMT with credit details only. Intacct would keep an unapplied
    remainder as an advance, which Sage Bridge does not make: a receipt not applied in full, a
    refund, or one that moved and applied nothing is refused, saying why."""
    total = round_money(payment.amount)
    reference = payment_reference(payment)
    invoices: list[list[Any]] = []
    credits: list[tuple[str, Decimal]] = []
    for kind, sage_id, amount in allocations:
        if kind not in ALLOCATION_SIGN.get(payment.kind, {}):
            raise ValueError(f"a {payment.kind.value} cannot be allocated to a {kind.value}")
        if kind is DocumentKind.SALES_CREDIT_NOTE and payment.kind is DocumentKind.CUSTOMER_PAYMENT:
            credits.append((sage_id, round_money(amount)))
        else:
            invoices.append([sage_id, round_money(amount)])
    details, left_over = _credit_details(invoices, credits)
    cash = [{"RECORDKEY": sage_id, "TRX_PAYMENTAMOUNT": amount} for sage_id, amount in invoices if amount > ZERO]
    settled = sum_money(d["TRX_PAYMENTAMOUNT"] for d in cash)
    foreign = payment.currency != business_currency
    fields = {
        "FINANCIALENTITY": bank_account_id,
        "PAYMENTMETHOD": _payment_method(payment, settings),
        "CUSTOMERID": contact_id,
        "DOCNUMBER": reference,
        "RECEIPTDATE": payment.payment_date,
        "PAYMENTDATE": payment.payment_date,
        "CURRENCY": payment.currency if foreign else None,
        "EXCHANGE_RATE": payment.exchange_rate if foreign else None,
        "ARPYMTDETAILS": {"ARPYMTDETAIL": cash + details},
    }
    body: Body = {"functions": [_function("arpymt", "create", {"ARPYMT": fields})], "reference": reference,
                  "contact_id": contact_id, "date": payment.payment_date, "total_amount": total}
    if payment.kind is not DocumentKind.CUSTOMER_PAYMENT:
        body["refused"] = REFUND_REFUSED
    elif left_over > ZERO:
        body["refused"] = CREDIT_LEFT_OVER
    elif total == ZERO and not details:
        body["refused"] = NO_MONEY_MOVED
    elif total != settled:
        body["refused"] = NOT_APPLIED_IN_FULL
    return body


def credit_application_reference(credit_note_id: str, invoice_id: str) -> str:
    """DOCNUMBER of the ARPYMT applying one credit memo to one invoice: the pair names it, so an
    application whose answer was lost is found again before anything is resent."""
    return short_reference(f"{CREDIT_APPLICATION_PREFIX}{credit_note_id}/{invoice_id}", DOCUMENT_REFERENCE_MAX)


def credit_note_allocation_body(*, contact_id: str, invoice_id: str, credit_note_id: str, amount: Decimal,
                                on: date, kind: DocumentKind = DocumentKind.SALES_CREDIT_NOTE) -> Body:
    """A sales credit memo applied to its invoice: an ARPYMT that moves no money, with one detail
    naming the invoice (RECORDKEY) and the memo (ADJUSTMENTKEY, TRX_ADJUSTMENTAMOUNT), as
    developer.intacct.com/api/accounts-receivable/ar-payments/ documents it. FINANCIALENTITY (the
    tenant's receipt bank account) is the connector's to fill in. A vendor credit memo is refused
    (VENDOR_CREDIT_NOT_APPLIED says why): the connector raises NotSupported."""
    if kind is DocumentKind.PURCHASE_CREDIT_NOTE:
        return {"functions": [], "contact_id": contact_id, "date": on, "total_amount": round_money(amount),
                "refused": VENDOR_CREDIT_NOT_APPLIED}
    if kind is not DocumentKind.SALES_CREDIT_NOTE:
        raise ValueError(f"{kind.value} is not a credit note: only credit notes are allocated against invoices")
    reference = credit_application_reference(credit_note_id, invoice_id)
    fields = {
        "FINANCIALENTITY": None,  # the connector's: the tenant's receipt bank account
        "PAYMENTMETHOD": DEFAULT_METHOD,  # required; no money moves, so any method says the same
        "CUSTOMERID": contact_id,
        "DOCNUMBER": reference,
        "RECEIPTDATE": on,
        "PAYMENTDATE": on,
        "ARPYMTDETAILS": {"ARPYMTDETAIL": [{"RECORDKEY": invoice_id, "ADJUSTMENTKEY": credit_note_id,
                                            "TRX_ADJUSTMENTAMOUNT": round_money(amount)}]},
    }
    return {"functions": [_function("credit", "create", {"ARPYMT": fields})], "reference": reference,
            "contact_id": contact_id, "date": on, "total_amount": round_money(amount)}


__all__ = [
    "ALLOCATION_SIGN",
    "CHECKED_MAPPINGS",
    "CONTACT_TYPE",
    "LOCKED",
    "NOT_EXPORTED",
    "PAYMENT_TYPE",
    "TOTALS_FROM_LINES",
    "Body",
    "Function",
    "PostingOptions",
    "TaxTable",
    "contact_body",
    "contact_matches",
    "contact_reference",
    "contact_update_body",
    "credit_application_reference",
    "credit_note_allocation_body",
    "customer_update_functions",
    "document_body",
    "document_reference",
    "functions",
    "is_same_document",
    "payment_body",
    "payment_reference",
    "refusal",
    "remote_contact_id",
    "remote_contact_name",
    "remote_date",
    "remote_editable",
    "remote_outstanding",
    "remote_paid",
    "remote_status",
    "remote_total",
    "remote_transaction_type",
    "tax_rate_record",
    "unmapped",
    "void_reason",
]
