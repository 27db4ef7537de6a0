"""The conformance suite's table of products: everything product-specific the suite knows, in one
place. The cases (test_*.py) never name a product; they ask the row of the product under test.

A row says how to stand up the product's sandbox, how a tenant of it is set up and connects, how to
read back what Sage holds (as the accountant sees it, not through our connector), how to make Sage
misbehave (fault hooks), and how the accountant acts in Sage (a receipt, a customer of their own).
What the product does not take at all is NOT listed here: the product declares it itself
(`not_exported(connector)`), and the suite holds it to that declaration.

A new product joins by adding one row to PRODUCTS (docs/testing.md, "The conformance suite").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from local.sandboxes import sage200 as s200
from local.sandboxes import sage_accounting as sa
from local.sandboxes import sage_intacct as si
from local.sandboxes import sage_regional as sr
from local.sandboxes.sage_accounting import SandboxClock
from sagebridge.connectors.base import Login
from sagebridge.domain import DocumentKind, PartyKind
from sagebridge.domain.kinds import RecordKind
from sagebridge.domain.settings import Provider

D = Decimal
SI, SCN, PI, PCN = (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
                    DocumentKind.PURCHASE_CREDIT_NOTE)
PAYMENT, REFUND = DocumentKind.CUSTOMER_PAYMENT, DocumentKind.CUSTOMER_REFUND
CUSTOMER, VENDOR = PartyKind.CUSTOMER, PartyKind.VENDOR


@dataclass(frozen=True)
class Held:
    """One record as Sage holds it: its reference, its total (positive, as the host sent it), its id."""

    reference: str | None
    total: Decimal
    sage_id: str
    outstanding: Decimal | None = None


@dataclass(frozen=True)
class ProductRow:
    provider: Provider
    currency: str  # the sandbox business's base currency
    sandbox: Callable[[SandboxClock], Any]
    settings: Callable[[Any], dict[str, Any]]  # tenant settings pointing at the sandbox's seeded ids
    held: Callable[[Any, RecordKind], list[Held]]  # what Sage holds of a kind
    contact: Callable[[Any, str], dict[str, Any]]  # a contact as Sage holds it: name, city
    contact_updates: Callable[[Any], int]  # update requests sent for contacts so far
    creates: Callable[[Any, RecordKind], int]  # create requests Sage answered for a kind
    add_customer: Callable[[Any], tuple[str, str, str]]  # the accountant's own customer: (sage id, name, email)
    record_receipt: Callable[[Any, str, Decimal], None]  # the accountant records a receipt on an invoice
    set_base_currency: Callable[[Any, str], None]
    # fault hooks: how to match a create of a kind, and any read, in the sandbox's Faults
    write_match: Callable[[RecordKind], dict[str, Any]]
    read_match: dict[str, Any]
    # is the record (by its Sage id) still live in the books, as the accountant sees it: not voided,
    # reversed or deleted there
    live: Callable[[Any, RecordKind, str], bool]
    login: Login | None = None  # connects with a login (LoginConnect); None: through Sage's sign-in (LinkConnect)
    sandbox_knobs: Mapping[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- Sage Accounting (v3.1)

_SA_COLLECTION = {SI: "sales_invoices", SCN: "sales_credit_notes", PI: "purchase_invoices",
                  PCN: "purchase_credit_notes"}
_SA_PAYMENT_TYPE = {PAYMENT: "CUSTOMER_RECEIPT", REFUND: "CUSTOMER_REFUND"}


def _sa_held(box: Any, kind: RecordKind) -> list[Held]:
    books = box.accountant()
    if kind in _SA_COLLECTION:
        return [Held(r.get("reference") or r.get("vendor_reference"), D(str(r["total_amount"])), r["id"],
                     D(str(r["outstanding_amount"]))) for r in books.list(_SA_COLLECTION[kind])]
    if kind in _SA_PAYMENT_TYPE:
        return [Held(r.get("reference"), D(str(r["total_amount"])), r["id"]) for r in books.list("contact_payments")
                if r["transaction_type"]["id"] == _SA_PAYMENT_TYPE[kind]]
    wanted = "CUSTOMER" if kind is CUSTOMER else "VENDOR"
    return [Held(r.get("reference"), D("0"), r["id"]) for r in books.list("contacts")
            if wanted in {t["id"] for t in r.get("contact_types") or ()} and r.get("reference")]


def _sa_add_customer(box: Any) -> tuple[str, str, str]:
    made = box.accountant().create("contacts", {
        "name": "Own Customer Ltd", "contact_type_ids": ["CUSTOMER"], "reference": "OWN001",
        "main_contact_person": {"name": "Accounts", "email": "accounts@own.example"}})
    return made["id"], "Own Customer Ltd", "accounts@own.example"


def _sa_receipt(box: Any, reference: str, amount: Decimal) -> None:
    [invoice] = [r for r in box.accountant().list("sales_invoices") if r["reference"] == reference]
    box.accountant().record_customer_payment(invoice["id"], amount)


def _sa_contact(box: Any, sage_id: str) -> dict[str, Any]:
    record = box.accountant().get("contacts", sage_id)
    return {"name": record["name"], "city": (record.get("main_address") or {}).get("city")}


def _sa_creates(box: Any, kind: RecordKind) -> int:
    path = _SA_COLLECTION.get(kind) or ("contacts" if isinstance(kind, PartyKind) else "contact_payments")
    return box.request_count(box.lead_business_id, "POST", "/" + path)


def _sa_base_currency(box: Any, code: str) -> None:
    box.business().base_currency = code


def _sa_live(box: Any, kind: RecordKind, sage_id: str) -> bool:
    try:  # a deleted record is gone; a voided invoice or credit note stays, with status VOID
        record = box.accountant().get(_SA_COLLECTION.get(kind) or "contact_payments", sage_id)
    except KeyError:
        return False
    return bool((record.get("status") or {}).get("id") != "VOID")


def _sa_write(kind: RecordKind) -> dict[str, Any]:
    path = _SA_COLLECTION.get(kind) or ("contacts" if isinstance(kind, PartyKind) else "contact_payments")
    return {"method": "POST", "path": "/" + path}


SAGE_ACCOUNTING = ProductRow(
    provider=Provider.SAGE_ACCOUNTING, currency="GBP",
    sandbox=lambda clock: sa.SageAccountingSandbox.single_business(clock=clock),
    settings=lambda box: {
        "tax_mappings": {"S": "GB_STANDARD", "R": "GB_LOWER", "Z": "GB_ZERO"},
        "ledger_mappings": {"SALES": box.ids["4000"], "PARTS": box.ids["4010"]},
        "default_sales_ledger_account_id": box.ids["4000"], "default_purchase_ledger_account_id": box.ids["5000"],
        "receipt_bank_account_id": box.ids["bank"]},
    held=_sa_held, contact=_sa_contact,
    contact_updates=lambda box: box.request_count(box.lead_business_id, "PUT", "/contacts"),
    creates=_sa_creates, add_customer=_sa_add_customer, record_receipt=_sa_receipt,
    set_base_currency=_sa_base_currency, write_match=_sa_write, read_match={"method": "GET"}, live=_sa_live,
)


# ------------------------------------------------------------------------------------------ Sage 200

_S200_POSTED = {SI: "sales_invoice", SCN: "sales_credit_note", PAYMENT: "receipt"}
_S200_RESOURCE = {SI: "sales_invoices", SCN: "sales_credit_notes", PAYMENT: "sales_receipts", REFUND: "sales_payments",
                  CUSTOMER: "customers", VENDOR: "suppliers", PI: "purchase_invoices",
                  PCN: "purchase_credit_notes"}


def _s200_held(box: Any, kind: RecordKind) -> list[Held]:
    books = box.accountant()
    if kind is CUSTOMER:
        return [Held(r["reference"], D("0"), str(r["id"])) for r in books.customers()]
    if kind is VENDOR:
        return [Held(r["reference"], D("0"), str(r["id"])) for r in books.suppliers()]
    if kind in (PI, PCN):
        rows = books.purchase_posted("purchase_invoice" if kind is PI else "purchase_credit_note")
    elif kind is REFUND:
        from local.sandboxes.sage200.books import SALES_PAYMENT

        rows = [r for r in books.list("sales_posted_transactions") if r["trader_transaction_type"] == SALES_PAYMENT]
    elif kind in _S200_POSTED:
        rows = books.posted(_S200_POSTED[kind])
    else:
        return []
    return [Held(r["reference"], abs(D(str(r["document_gross_value"]))), str(r["id"]),
                 abs(D(str(r["document_outstanding_value"])))) for r in rows]


def _s200_add_customer(box: Any) -> tuple[str, str, str]:
    with box.lock:
        made = box.accountant().books.post("customers", {
            "reference": "OWN001", "name": "Own Customer Ltd",
            "contacts": [{"first_name": "Accounts",
                          "emails": [{"email": "accounts@own.example", "is_default": True}]}]})
    return str(made["id"]), "Own Customer Ltd", "accounts@own.example"


def _s200_contact(box: Any, sage_id: str) -> dict[str, Any]:
    record = box.accountant().get("customers", sage_id)
    return {"name": record["name"], "city": (record.get("main_address") or {}).get("city")}


SAGE_200 = ProductRow(
    provider=Provider.SAGE_200, currency="GBP",
    sandbox=lambda clock: s200.Sage200Sandbox(clock=clock),
    settings=lambda box: {
        "tax_mappings": {"S": box.ids["T1"], "R": box.ids["T5"], "Z": box.ids["T0"]},
        "ledger_mappings": {"SALES": "4000", "PARTS": "4010"},
        "default_sales_ledger_account_id": "4000", "default_purchase_ledger_account_id": "5000",
        "receipt_bank_account_id": box.ids["bank"]},
    held=_s200_held, contact=_s200_contact,
    contact_updates=lambda box: box.request_count("PUT", "customers"),
    creates=lambda box, kind: box.request_count("POST", _S200_RESOURCE.get(kind, "-")),
    add_customer=_s200_add_customer,
    record_receipt=lambda box, ref, amount: box.accountant().record_receipt(
        box.accountant().by_reference("sales_invoice", ref)["id"], amount),
    set_base_currency=lambda box, code: box.books().set_base_currency(code),
    write_match=lambda kind: {"method": "POST", "path": "/" + _S200_RESOURCE.get(kind, "-")},
    read_match={"method": "GET"},
    # posted transactions are never taken back (only a new transaction offsets one)
    live=lambda box, kind, sage_id: any(h.sage_id == sage_id for h in _s200_held(box, kind)),
)


# ------------------------------------------------------------------------------------- Sage Intacct

_SI_OBJECT = {SI: "ARINVOICE", SCN: "ARADJUSTMENT", PAYMENT: "ARPYMT", PI: "APBILL", PCN: "APADJUSTMENT"}
_SI_CREATED = {**_SI_OBJECT, CUSTOMER: "CUSTOMER", VENDOR: "VENDOR"}
# The functions a write of each kind carries (a receipt is a generic `create` of ARPYMT).
_SI_FUNCTION = {SI: "create_invoice", SCN: "create_aradjustment", PAYMENT: "create",
                CUSTOMER: "create,create", VENDOR: "create,create", PI: "create_bill",
                PCN: "create_apadjustment"}


def _si_held(box: Any, kind: RecordKind) -> list[Held]:
    books = box.accountant()
    if kind is CUSTOMER:
        return [Held(r["CUSTOMERID"], D("0"), r["CUSTOMERID"]) for r in books.list("CUSTOMER")]
    if kind is VENDOR:
        return [Held(r["VENDORID"], D("0"), r["VENDORID"]) for r in books.list("VENDOR")]
    if kind not in _SI_OBJECT:
        return []
    out = []
    for r in books.list(_SI_OBJECT[kind]):
        total = r.get("TOTALENTERED", r.get("PAYMENTAMOUNT", r.get("TOTALPAID")))
        due = r.get("TOTALDUE")
        out.append(Held(r.get("RECORDID") or r.get("DOCNUMBER") or r.get("REFERENCENO"), abs(D(str(total))),
                        str(r["RECORDNO"]), abs(D(str(due))) if due is not None else None))
    return out


def _si_add_customer(box: Any) -> tuple[str, str, str]:
    box.accountant().add_customers(1, prefix="OWN")  # "Own Customer 000001", c1@own.example
    return "OWN-000001", "Own Customer 000001", "c1@own.example"


def _si_contact(box: Any, sage_id: str) -> dict[str, Any]:
    [record] = box.accountant().find("CUSTOMER", "CUSTOMERID", sage_id)
    contact = record.get("DISPLAYCONTACT") or {}
    return {"name": record.get("NAME"), "city": (contact.get("MAILADDRESS") or {}).get("CITY")}


def _si_receipt(box: Any, reference: str, amount: Decimal) -> None:
    [invoice] = box.accountant().find("ARINVOICE", "RECORDID", reference)
    box.accountant().record_payment(invoice["RECORDNO"], amount)


def _si_live(box: Any, kind: RecordKind, sage_id: str) -> bool:
    try:  # a deleted adjustment is gone; a reversed invoice, bill or payment stays, in state Reversed
        record = box.accountant().get(_SI_OBJECT[kind], sage_id)
    except KeyError:
        return False
    return record.get("STATE") not in ("Reversed", "Voided")


def _si_base_currency(box: Any, code: str) -> None:
    books = box.accountant()
    books.company.base_currency = code
    for entity in books.list("LOCATIONENTITY"):  # each entity's books, where Intacct says the currency
        books.update("LOCATIONENTITY", entity["RECORDNO"], CURRENCY=code)


SAGE_INTACCT = ProductRow(
    provider=Provider.SAGE_INTACCT, currency="USD",
    sandbox=lambda clock: si.SageIntacctSandbox(clock=clock),
    settings=lambda box: {
        "tax_mappings": {"S": "Sales Tax Standard", "R": "Sales Tax Reduced", "Z": "Sales Tax Zero"},
        "ledger_mappings": {"SALES": "4100", "PARTS": "4200"},
        "default_sales_ledger_account_id": "4000", "default_purchase_ledger_account_id": "5000",
        "receipt_bank_account_id": "BOA-OPS",
        "intacct": {"location_id": "100", "department_id": "SVC", "class_id": "FIELD",
                    "location_custom_field": si.LOCATION_FIELD, "bill_location_custom_field": si.LOCATION_FIELD,
                    "host_location": "Leeds depot",
                    # input VAT on bills and vendor credit memos: the Purchase tax details
                    "purchase_tax_mappings": {"S": "Purchase Tax Standard", "R": "Purchase Tax Reduced"}}},
    held=_si_held, contact=_si_contact,
    contact_updates=lambda box: box.request_count("update"),
    # Objects the API created (a generic `create` of ARPYMT has no function name of its own to count).
    creates=lambda box, kind: box.created_count(_SI_CREATED[kind]) if kind in _SI_CREATED else 0,
    add_customer=_si_add_customer, record_receipt=_si_receipt,
    set_base_currency=_si_base_currency,
    write_match=lambda kind: {"path": _SI_FUNCTION.get(kind, "-")},
    read_match={"path": "readByQuery"}, live=_si_live,
    login=Login(company_id=si.DEFAULT_COMPANY, user_id=si.DEFAULT_USER, password=SecretStr(si.DEFAULT_PASSWORD)),
)



# ------------------------------------------------- Sage Business Cloud Accounting, regional (v2.0.0)

_SR_SERVICE = {SI: "TaxInvoice", SCN: "CustomerReturn", PAYMENT: "CustomerReceipt", CUSTOMER: "Customer",
               VENDOR: "Supplier", PI: "SupplierInvoice", PCN: "SupplierReturn"}


def _sr_sandbox(clock: SandboxClock) -> Any:
    """An Australian company with the suite's 20% and 5% rates keyed in (AU's own GST is 10%)."""
    box = sr.SageRegionalSandbox(clock=clock)
    books = box.accountant()
    for key, name, percent in (("tax_20", "Standard 20", "20"), ("tax_5", "Reduced 5", "5")):
        box.ids[key] = books.add("TaxType", Name=name, Percentage=D(percent), IsDefault=False, IsManualTax=False,
                                 Active=True)["ID"]
    return box


def _sr_held(box: Any, kind: RecordKind) -> list[Held]:
    service = _SR_SERVICE.get(kind)
    if service is None:
        return []
    rows = box.accountant().list(service)
    if kind in (CUSTOMER, VENDOR):
        return [Held(r["TextField1"], D("0"), str(r["ID"])) for r in rows if r.get("TextField1")]
    if kind is PAYMENT:
        return [Held(r.get("Reference"), D(str(r["Total"])), str(r["ID"]), D(str(r["TotalUnallocated"])))
                for r in rows]
    return [Held(r.get("ExternalReference"), D(str(r["Total"])), str(r["ID"]), D(str(r["AmountDue"]))) for r in rows]


def _sr_add_customer(box: Any) -> tuple[str, str, str]:
    made = box.accountant().add("Customer", Name="Own Customer Ltd", Email="accounts@own.example", Active=True,
                                AutoAllocateToOldestInvoice=False)
    return str(made["ID"]), "Own Customer Ltd", "accounts@own.example"


def _sr_receipt(box: Any, reference: str, amount: Decimal) -> None:
    books = box.accountant()
    books.record_receipt(books.by_external_reference("TaxInvoice", reference)["ID"], amount)


def _sr_contact(box: Any, sage_id: str) -> dict[str, Any]:
    record = box.accountant().get("Customer", int(sage_id))
    return {"name": record["Name"], "city": record.get("PostalAddress04")}


def _sr_saves(box: Any, service: str, status: int) -> int:
    """Save answers of a service with a status: 201 a create, 200 an update (the sandbox's log)."""
    return sum(1 for s, m, _, code in box.request_log if (s, m, code) == (service, "Save", status))


def _sr_base_currency(box: Any, code: str) -> None:
    # The regional API names no ISO currency (Company/Get has a symbol): the region says it, and a
    # tenant whose books are kept in another sets business_currency, as this row's settings then do.
    box.conformance_currency = code


SAGE_REGIONAL = ProductRow(
    provider=Provider.SAGE_REGIONAL, currency="AUD",
    sandbox=_sr_sandbox,
    settings=lambda box: {
        "tax_mappings": {"S": str(box.ids["tax_20"]), "R": str(box.ids["tax_5"]), "Z": str(box.ids["tax_zero"])},
        "ledger_mappings": {"SALES": str(box.ids["account_sales"]), "PARTS": str(box.ids["account_services"])},
        "default_sales_ledger_account_id": str(box.ids["account_sales"]),
        "default_purchase_ledger_account_id": str(box.ids["account_purchases"]),
        "receipt_bank_account_id": str(box.ids["bank"]),
        **({"business_currency": box.conformance_currency} if getattr(box, "conformance_currency", None) else {})},
    held=_sr_held, contact=_sr_contact, contact_updates=lambda box: _sr_saves(box, "Customer", 200),
    creates=lambda box, kind: _sr_saves(box, _SR_SERVICE.get(kind, "-"), 201),
    add_customer=_sr_add_customer, record_receipt=_sr_receipt, set_base_currency=_sr_base_currency,
    write_match=lambda kind: {"method": "POST", "path": f"/{_SR_SERVICE.get(kind, '-')}/Save"},
    read_match={"method": "GET"},
    # Voids are a declared refusal here: a record is live while the accountant can list it.
    live=lambda box, kind, sage_id: any(h.sage_id == sage_id for h in _sr_held(box, kind)),
    # The region, and the company (the sandbox's login sees two): "AU:<Company/Get ID>".
    login=Login(company_id="AU:1", user_id=sr.DEFAULT_USERNAME, password=SecretStr(sr.DEFAULT_PASSWORD)),
)


PRODUCTS: dict[Provider, ProductRow] = {row.provider: row for row in (SAGE_ACCOUNTING, SAGE_200, SAGE_INTACCT,
                                                                       SAGE_REGIONAL)}

# The one settings environment and settings secret every product is built from (each takes its own).
ENVIRONMENT = {
    "SAGE_ACCOUNTING_API_URL": sa.API_BASE_URL, "SAGE_ACCOUNTING_AUTH_URL": sa.AUTHORIZE_URL,
    "SAGE_ACCOUNTING_TOKEN_URL": sa.TOKEN_URL, "SAGE_ACCOUNTING_REVOKE_URL": sa.REVOKE_URL,
    "SAGE200_API_URL": s200.API_BASE_URL, "SAGE200_AUTH_URL": s200.AUTHORIZE_URL, "SAGE200_TOKEN_URL": s200.TOKEN_URL,
    "SAGE_INTACCT_ENDPOINT": si.ENDPOINT, "SAGE_REGIONAL_AU_URL": sr.API_BASE_URL,
    # The storms inject 429s that are not Sage's hour-long block: waited out in the run (the real
    # block, an hour and the run stopped, is tested against the sandbox's own limiter).
    "SAGE_REGIONAL_BLOCK_SECONDS": "0",
}
SECRETS = {
    "sage_accounting_client_id": sa.DEFAULT_CLIENT_ID, "sage_accounting_client_secret": sa.DEFAULT_CLIENT_SECRET,
    "sage200_client_id": s200.DEFAULT_CLIENT_ID, "sage200_client_secret": s200.DEFAULT_CLIENT_SECRET,
    "sage200_subscription_key": s200.DEFAULT_SUBSCRIPTION_KEY,
    "intacct_sender_id": si.DEFAULT_SENDER_ID, "intacct_sender_password": si.DEFAULT_SENDER_PASSWORD,
    "sage_regional_api_key": sr.DEFAULT_API_KEY,
}


def copies(row: ProductRow, box: Any, kind: RecordKind) -> Counter[str | None]:
    """How many records of a kind Sage holds per reference: exactly once shows only 1s."""
    return Counter(h.reference for h in row.held(box, kind))


__all__ = ["ENVIRONMENT", "PRODUCTS", "SECRETS", "Held", "ProductRow", "copies"]
