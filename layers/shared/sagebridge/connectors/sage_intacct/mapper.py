"""The export engine's bodies -> Sage Intacct functions, and Intacct records -> what the engines read.

The export engine builds one body shape for every provider (the Sage Accounting mapper's: contact,
document and payment attributes with Decimal amounts already rounded per line); this module turns
those bodies into Intacct functions, Zuper-style:

- an organisation -> CUSTOMER (CUSTOMERID = the deterministic contact reference, so a lost answer
  is found again and a twin is refused), the person -> CONTACT, created in one transaction;
- an invoice -> `create_invoice` (line: GL account, amount, memo, location, department; a custom
  field carries the host's location), tax -> one line per tax detail on its GL account;
- a credit note -> `create_aradjustment` with negative amounts (a credit memo);
- a receipt -> generic `create` of ARPYMT applied to the invoices it pays.

And back: ARINVOICE / ARADJUSTMENT / ARPYMT / CUSTOMER / ITEM records -> the attribute names the
engines read (`reference`, `total_amount`, `outstanding_amount`, `contact.id`...). Pure functions:
no I/O, no clock. docs/mapping.md has the tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sagebridge.connectors.base import NotSupported, RecordInvalid, RemoteRecord
from sagebridge.connectors.sage_intacct.xml import Function, date_element, element, object_element, sub
from sagebridge.domain.kinds import DocumentKind, PartyKind, RecordKind
from sagebridge.domain.money import ZERO, round_money, sum_money

NO_TAX = "NO_TAX"  # Intacct AR lines carry no tax code: untaxed lines are "no tax" by construction
CONTACT_NAME_MAX = 100  # CONTACTNAME is unique per company and at most 100 characters
INVOICE_OBJECTS = {DocumentKind.SALES_INVOICE: "ARINVOICE", DocumentKind.SALES_CREDIT_NOTE: "ARADJUSTMENT",
                   DocumentKind.CUSTOMER_PAYMENT: "ARPYMT"}
# What this connector does not post at all, in words for the host and the sync log: the export
# engine skips these (reason code not_supported) instead of sending them.
NOT_EXPORTED: dict[RecordKind, str] = {
    PartyKind.VENDOR: "Sage Bridge exports customers to Sage Intacct, not vendors (AP stays in Intacct)",
    DocumentKind.PURCHASE_INVOICE: "Sage Bridge exports AR to Sage Intacct, not purchase invoices "
                                   "(enter bills in Intacct)",
    DocumentKind.PURCHASE_CREDIT_NOTE: "Sage Bridge exports AR to Sage Intacct, not purchase credit notes "
                                       "(enter them in Intacct)",
    DocumentKind.CUSTOMER_REFUND: "customer refunds are not exported to Sage Intacct by Sage Bridge "
                                  "(record the refund in Intacct)",
}
# The host's words (as the engine passes them in payment bodies) -> Intacct PAYMENTMETHOD values.
PAYMENT_METHODS = {"CASH": "Cash", "CREDIT_DEBIT": "Credit Card", "BANK_TRANSFER": "EFT", "CHECK": "Printed Check"}
VOID_STATES = frozenset({"Reversed", "Reversal", "Voided", "V"})
DATE_FORMAT = "%m/%d/%Y"
TIMESTAMP_FORMAT = "%m/%d/%Y %H:%M:%S"


@dataclass(frozen=True)
class PostingOptions:
    """Per tenant (TenantSettings.intacct): dimensions on every line, the location custom field."""

    location_id: str | None = None
    department_id: str | None = None
    location_custom_field: str | None = None
    host_location: str | None = None


@dataclass(frozen=True)
class TaxDetail:
    detail_id: str
    percentage: Decimal
    gl_account: str | None
    name: str


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


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return str(value["id"]) if value.get("id") else None
    return str(value) if value else None


# ----------------------------------------------------------------------------------------- customers


def customer_functions(body: Mapping[str, Any], key: str) -> tuple[list[Function], str]:
    """CONTACT (the person) then CUSTOMER (the organisation) in one transaction. Returns the
    functions and the CUSTOMERID. A lost answer retried with the same controlids is refused as a
    repeat; a customer created before under this id is refused as a duplicate (both adopted by id)."""
    customer_id = str(body.get("reference") or "").strip()
    if not customer_id:
        raise RecordInvalid("a customer for Sage Intacct needs a reference (its CUSTOMERID)")
    if "VENDOR" in (body.get("contact_type_ids") or []):
        raise RecordInvalid("vendors are not exported to Sage Intacct by Sage Bridge")
    person = body.get("main_contact_person") or {}
    # The engine names the person by the organisation when there is one: recover both names.
    organisation = str(person.get("name") or body.get("name") or "").strip()
    person_name = str(body.get("name") or organisation).strip()
    address = body.get("main_address") or {}
    mail = {
        "ADDRESS1": address.get("address_line_1"), "ADDRESS2": address.get("address_line_2"),
        "CITY": address.get("city"), "STATE": address.get("region"), "ZIP": address.get("postal_code"),
        "COUNTRYCODE": _id(address.get("country_id")),
    }
    mail = {k: v for k, v in mail.items() if v}
    contact_name = f"{person_name} ({customer_id})"
    if len(contact_name) > CONTACT_NAME_MAX:
        contact_name = f"{person_name[: CONTACT_NAME_MAX - len(customer_id) - 4]}~ ({customer_id})"
    first, _, last = person_name.partition(" ")
    contact = {
        "CONTACTNAME": contact_name, "PRINTAS": person_name, "COMPANYNAME": organisation,
        "FIRSTNAME": first or None, "LASTNAME": last or None,
        "EMAIL1": person.get("email"), "PHONE1": person.get("telephone"), "MAILADDRESS": mail or None,
    }
    customer = {
        "CUSTOMERID": customer_id, "NAME": organisation, "TAXID": body.get("tax_number"),
        "CURRENCY": _id(body.get("currency_id")),
        "DISPLAYCONTACT": {"PRINTAS": organisation, "COMPANYNAME": organisation, "EMAIL1": person.get("email"),
                           "PHONE1": person.get("telephone"), "MAILADDRESS": mail or None},
        "CONTACTINFO": {"CONTACTNAME": contact_name},
        "BILLTO": {"CONTACTNAME": contact_name},
    }
    functions = [
        Function(controlid("contact", key), _create("CONTACT", contact)),
        Function(controlid("customer", key), _create("CUSTOMER", customer)),
    ]
    return functions, customer_id


def customer_update_function(customer_id: str, body: Mapping[str, Any]) -> Function:
    """Generic `update` of a CUSTOMER (by CUSTOMERID) from the engine's `contact_update_body`: the
    name, tax id and the display contact (email, phone, mail address) as the host has them now.
    The contact person made with the customer keeps its name (CONTACTNAME is its key). An update
    is safe to repeat, so its controlid only has to name it."""
    if "VENDOR" in (body.get("contact_type_ids") or []):
        raise NotSupported("vendors are not exported to Sage Intacct by Sage Bridge, so they are not updated")
    person = body.get("main_contact_person") or {}
    organisation = str(person.get("name") or body.get("name") or "").strip()
    address = body.get("main_address") or {}
    mail = {
        "ADDRESS1": address.get("address_line_1"), "ADDRESS2": address.get("address_line_2"),
        "CITY": address.get("city"), "STATE": address.get("region"), "ZIP": address.get("postal_code"),
        "COUNTRYCODE": _id(address.get("country_id")),
    }
    mail = {k: v for k, v in mail.items() if v}
    customer = {
        "CUSTOMERID": customer_id, "NAME": organisation or None, "TAXID": body.get("tax_number"),
        "DISPLAYCONTACT": {"PRINTAS": organisation or None, "COMPANYNAME": organisation or None,
                           "EMAIL1": person.get("email"), "PHONE1": person.get("telephone"),
                           "MAILADDRESS": mail or None},
    }
    node = element("update")
    node.append(object_element("CUSTOMER", customer))
    return Function(controlid("update-customer", customer_id), node)


def _create(obj: str, fields: Mapping[str, Any]) -> Any:
    node = element("create")
    node.append(object_element(obj, fields))
    return node


def _mapping(value: Any) -> Mapping[str, Any]:
    """A nested record of a response, or an empty one where Intacct left it out."""
    return value if isinstance(value, Mapping) else {}


def customer_record(data: Mapping[str, Any]) -> RemoteRecord:
    """A CUSTOMER as the engines read contacts (id = CUSTOMERID, which invoices name)."""
    display = _mapping(data.get("DISPLAYCONTACT"))
    customer_id = str(data.get("CUSTOMERID") or "")
    mail = _mapping(display.get("MAILADDRESS"))
    normalised: dict[str, Any] = {
        "id": customer_id, "reference": customer_id, "name": data.get("NAME"), "displayed_as": data.get("NAME"),
        "record_no": data.get("RECORDNO"), "contact_types": [{"id": "CUSTOMER"}],
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


def _line_items(body: Mapping[str, Any], lines: list[Mapping[str, Any]], *, sign: int,
                taxes: Mapping[str, TaxDetail], options: PostingOptions) -> list[Any]:
    items: list[Any] = []
    tax_by_rate: dict[str, Decimal] = {}
    for number, line in enumerate(lines, start=1):
        account = line.get("ledger_account_id")
        if not account:
            raise RecordInvalid(f"line {number}: no GL account (map the host's ledger code)")
        items.append(_line_item(str(account), decimal_of(line.get("net_amount")) * sign,
                                str(line.get("description") or ""), options))
        tax = decimal_of(line.get("tax_amount"))
        if tax != ZERO:
            rate = str(line.get("tax_rate_id") or "")
            tax_by_rate[rate] = tax_by_rate.get(rate, ZERO) + tax
    for rate, amount in tax_by_rate.items():
        detail = taxes.get(rate)
        if detail is None or not detail.gl_account:
            raise RecordInvalid(f"tax detail {rate!r} is not in Sage Intacct or has no GL account")
        items.append(_line_item(detail.gl_account, round_money(amount) * sign, f"Tax: {detail.name}", options))
    return items


def _line_item(account: str, amount: Decimal, memo: str, options: PostingOptions) -> Any:
    # Sequence order is the schema's: glaccountno, amount, memo, locationid, departmentid.
    item = element("lineitem")
    sub(item, "glaccountno", account)
    sub(item, "amount", amount)
    if memo:
        sub(item, "memo", memo[:1000])
    if options.location_id:
        sub(item, "locationid", options.location_id)
    if options.department_id:
        sub(item, "departmentid", options.department_id)
    return item


def _currency(node: Any, body: Mapping[str, Any]) -> None:
    currency = _id(body.get("currency_id"))
    if not currency:
        return
    sub(node, "currency", currency)
    if body.get("exchange_rate") is not None:
        sub(node, "exchrate", decimal_of(body["exchange_rate"]))
    else:
        sub(node, "exchratetype", "Intacct Daily Rate")


def document_function(kind: DocumentKind, body: Mapping[str, Any], key: str, *,
                      taxes: Mapping[str, TaxDetail], options: PostingOptions) -> Function:
    """create_invoice for an invoice, create_aradjustment (negative amounts) for a credit note."""
    on = _date(body.get("date"))
    customer = str(body.get("contact_id") or "")
    reference = str(body.get("reference") or "")
    if kind is DocumentKind.SALES_INVOICE:
        node = element("create_invoice")
        sub(node, "customerid", customer)
        node.append(date_element("datecreated", on))
        node.append(date_element("datedue", date_of(body.get("due_date")) or on))  # no term: due on the date
        sub(node, "invoiceno", reference)
        if body.get("notes"):
            sub(node, "description", str(body["notes"])[:1000])
        _currency(node, body)
        if options.location_custom_field and options.host_location:
            fields = sub(node, "customfields")
            field = sub(fields, "customfield")
            sub(field, "customfieldname", options.location_custom_field)
            sub(field, "customfieldvalue", options.host_location)
        items = sub(node, "invoiceitems")
        lines = list(body.get("invoice_lines") or [])
        sign = 1
        action = "invoice"
    elif kind is DocumentKind.SALES_CREDIT_NOTE:
        node = element("create_aradjustment")
        sub(node, "customerid", customer)
        node.append(date_element("datecreated", on))
        sub(node, "adjustmentno", reference)
        if body.get("notes"):
            sub(node, "description", str(body["notes"])[:1000])
        _currency(node, body)
        items = sub(node, "aradjustmentitems")
        lines = list(body.get("credit_note_lines") or [])
        sign = -1  # a negative AR adjustment is a credit memo
        action = "aradjustment"
    else:
        raise RecordInvalid(f"a {kind.value.replace('_', ' ')} is not exported to Sage Intacct by Sage Bridge")
    if not lines:
        raise RecordInvalid("a document for Sage Intacct needs at least one line")
    for item in _line_items(body, lines, sign=sign, taxes=taxes, options=options):
        items.append(item)
    return Function(controlid(action, key), node)


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
    total = abs(decimal_of(data.get("TOTALENTERED")))
    paid = abs(decimal_of(data.get("TOTALPAID")))
    due = abs(decimal_of(data.get("TOTALDUE"))) if data.get("TOTALDUE") not in (None, "") else total - paid
    state = str(data.get("STATE") or "")
    reference = data.get("RECORDID") or data.get("DOCNUMBER")
    normalised = {
        "id": str(data.get("RECORDNO") or ""), "reference": reference, "total_amount": total,
        "outstanding_amount": due, "total_paid": paid, "contact": {"id": data.get("CUSTOMERID")},
        "contact_name": data.get("CUSTOMERNAME"), "date": _iso_date(data.get("WHENCREATED")),
        "due_date": _iso_date(data.get("WHENDUE")), "status": {"id": "VOID" if state in VOID_STATES else state},
        "editable": state not in VOID_STATES, "currency": {"id": data.get("CURRENCY") or None},
        "updated_at": _iso(data.get("WHENMODIFIED")), "created_at": _iso(data.get("AUWHENCREATED")),
    }
    if kind is DocumentKind.SALES_INVOICE:
        normalised["invoice_number"] = reference
    else:
        normalised["credit_note_number"] = reference
    return RemoteRecord(id=str(normalised["id"]), reference=reference, data=normalised)


def _iso_date(value: Any) -> str | None:
    found = date_of(value)
    return found.isoformat() if found else None


# ------------------------------------------------------------------------------------------ payments

# A receipt is applied to invoices only: Sage Bridge does not apply credit memos (ARADJUSTMENT) in
# Intacct, so a credit note's invoice_id and payments offsetting credit notes are refused, saying so.
ALLOCATION_SIGN: dict[DocumentKind, dict[DocumentKind, int]] = {
    DocumentKind.CUSTOMER_PAYMENT: {DocumentKind.SALES_INVOICE: 1},
    DocumentKind.CUSTOMER_REFUND: {DocumentKind.SALES_CREDIT_NOTE: 1},
}
CREDIT_MEMO_NOT_APPLIED = ("Sage Intacct: Sage Bridge does not apply credit memos to invoices; apply the credit "
                           "memo to its invoice in Intacct")


def payment_function(body: Mapping[str, Any], key: str) -> Function:
    """A customer receipt applied to the invoices it pays (ARPYMT with ARPYMTDETAIL lines). Intacct
    keeps an unapplied receipt as an advance, which Sage Bridge does not make: allocate it."""
    if body.get("transaction_type_id") not in (None, "CUSTOMER_RECEIPT"):
        raise RecordInvalid("customer refunds are not exported to Sage Intacct by Sage Bridge")
    if body.get("payment_on_account"):
        raise RecordInvalid("Sage Intacct: a receipt must be applied in full to exported invoices "
                            "(an over- or unallocated payment is not exported)")
    details = []
    for allocation in body.get("allocated_artefacts") or []:
        amount = decimal_of(allocation.get("amount"))
        if amount <= ZERO:
            raise RecordInvalid("Sage Intacct: a receipt is applied to invoices only, not to credit notes")
        details.append({"RECORDKEY": allocation.get("artefact_id"), "TRX_PAYMENTAMOUNT": amount})
    on = _date(body.get("date"))
    fields = {
        "FINANCIALENTITY": body.get("bank_account_id"),
        "PAYMENTMETHOD": PAYMENT_METHODS.get(str(body.get("payment_method_id") or ""), "EFT"),
        "CUSTOMERID": body.get("contact_id"),
        "DOCNUMBER": body.get("reference"),
        "RECEIPTDATE": on,
        "PAYMENTDATE": on,
        "CURRENCY": _id(body.get("currency_id")),
        "EXCHANGE_RATE": body.get("exchange_rate"),
        "ARPYMTDETAILS": {"ARPYMTDETAIL": details},
    }
    return Function(controlid("arpymt", key), _create("ARPYMT", fields))


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
    if details is not None:
        normalised["allocated_artefacts"] = [
            {"artefact": {"id": str(d.get("RECORDKEY")), "$path": f"/sales_invoices/{d.get('RECORDKEY')}"},
             "amount": abs(decimal_of(d.get("TRX_PAYMENTAMOUNT")))}
            for d in details if d.get("RECORDKEY")
        ]
    return RemoteRecord(id=record_no, reference=normalised["reference"], data=normalised)


def is_voided(data: Mapping[str, Any]) -> bool:
    return str(data.get("STATE") or "") in VOID_STATES


# ----------------------------------------------------------------------------------- reference data


def tax_detail(data: Mapping[str, Any]) -> TaxDetail:
    return TaxDetail(detail_id=str(data.get("DETAILID") or data.get("RECORDNO")),
                     percentage=decimal_of(data.get("VALUE")), gl_account=data.get("GLACCOUNT") or None,
                     name=str(data.get("DESCRIPTION") or data.get("DETAILID") or ""))


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


def totals_of(lines: list[Mapping[str, Any]]) -> Decimal:
    return sum_money(decimal_of(line.get("net_amount")) + decimal_of(line.get("tax_amount")) for line in lines)


__all__ = [
    "ALLOCATION_SIGN",
    "CREDIT_MEMO_NOT_APPLIED",
    "INVOICE_OBJECTS",
    "NOT_EXPORTED",
    "NO_TAX",
    "NO_TAX_RECORD",
    "PostingOptions",
    "TaxDetail",
    "controlid",
    "created_document",
    "customer_functions",
    "customer_record",
    "customer_update_function",
    "date_of",
    "decimal_of",
    "document_function",
    "document_record",
    "is_service",
    "is_voided",
    "item_record",
    "payment_function",
    "payment_record",
    "query_timestamp",
    "quoted",
    "tax_detail",
    "tax_record",
    "timestamp_of",
]
