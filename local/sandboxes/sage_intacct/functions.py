"""The gateway's functions over one company. Each returns an `Outcome` (a key, data records) or
raises `GatewayError` with Intacct-style errors (errorno, description, description2, correction).

Error numbers (FIDELITY.md, "Sage Intacct", has the source of each): XL03000003 (schema),
XL03000006 (sender or sign-in refused), XL03000009 (transaction rolled back) and GW-0010 (rate
limit) are documented by Intacct; BL34000061 (another record already has that ID) and BL03000018
(a value Intacct will not take) are the numbers Intacct answers in third-party fixtures; the
descriptions are the sandbox's own words, close in meaning.
"""

from __future__ import annotations

import datetime as dt
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .. import limits
from .store import OBJECTS, Company, QueryError

if TYPE_CHECKING:
    from .app import SageIntacctSandbox, Session

DUPLICATE = "BL34000061"  # "another <object> with the given value(s) already exists"
COULD_NOT_CREATE = "BL01001973"  # Intacct's general "the record was not created" that follows it
INVALID = "BL03000018"
# readByQuery's pagesize: Intacct refuses more than 1000 (its official SDKs cap readByQuery there);
# the newer `query` function allows 2000 (query.py). Not in api-v3.0.xsd, which types it a string.
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
PAYMENT_METHODS = frozenset({"Printed Check", "Check", "Cash", "EFT", "Credit Card", "Online", "Online Charge Card",
                             "Online ACH Debit"})
CENT = Decimal("0.01")


class GatewayError(Exception):
    def __init__(self, *errors: tuple[str, str, str, str]) -> None:
        super().__init__(errors[0][1] if errors else "error")
        self.errors = list(errors)


def refuse(errorno: str, description: str, description2: str = "", correction: str = "") -> GatewayError:
    return GatewayError((errorno, description, description2, correction))


def already_exists(obj: str, description2: str, correction: str = "") -> GatewayError:
    """Intacct's answer to a create whose ID is taken: BL34000061, then BL01001973 (not created)."""
    return GatewayError((DUPLICATE, f"Another {obj} with the given value(s) already exists", description2, correction),
                        (COULD_NOT_CREATE, "", f"The {obj.lower()} record was not created.", ""))


@dataclass
class Outcome:
    key: Any = None
    data: list[ET.Element] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


def value_of(node: ET.Element) -> Any:
    children = list(node)
    if not children:
        return (node.text or "").strip()
    out: dict[str, Any] = {}
    for child in children:
        value = value_of(child)
        if child.tag in out:
            existing = out[child.tag]
            out[child.tag] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[child.tag] = value
    return out


def money(value: Any, what: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise refuse(INVALID, f"{what} is not a valid amount", f"Got {value!r}.") from None
    if not amount.is_finite():
        raise refuse(INVALID, f"{what} is not a valid amount", f"Got {value!r}.")
    return amount.quantize(CENT)


def generic_date(value: Any, what: str) -> dt.date:
    try:
        return dt.datetime.strptime(str(value).strip(), "%m/%d/%Y").replace(tzinfo=dt.UTC).date()
    except ValueError:
        raise refuse(INVALID, f"{what} is not a valid date", f"Use mm/dd/yyyy, got {value!r}.") from None


def legacy_date(node: ET.Element | None, what: str) -> dt.date:
    if node is None:
        raise refuse(INVALID, f"{what} is required")
    try:
        return dt.date(int(node.findtext("year") or 0), int(node.findtext("month") or 0),
                       int(node.findtext("day") or 0))
    except ValueError:
        raise refuse(INVALID, f"{what} is not a valid date") from None


def as_list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    return value if isinstance(value, list) else [value]


def _merged(record: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """`record` with `fields` laid over it; nested records are merged, not replaced."""
    out = dict(record)
    for name, value in fields.items():
        if isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = _merged(out[name], value)
        else:
            out[name] = value
    return out


class Functions:
    READS = frozenset({"readByQuery", "readMore", "read", "getAPISession", "readByName", "query"})

    def __init__(self, sandbox: SageIntacctSandbox) -> None:
        self.sandbox = sandbox

    @property
    def now(self) -> dt.datetime:
        return self.sandbox.clock.now()

    def run(self, node: ET.Element, company: Company, session: Session, *, origin: str,
            undo: list[tuple[str, int]]) -> Outcome:
        handler = getattr(self, f"_fn_{node.tag}", None)
        if handler is None:
            raise refuse("XL03000005", f"The function {node.tag} is not available in this sandbox", "",
                         "Use one of the functions the sandbox documents.")
        return handler(node, company, session=session, origin=origin, undo=undo)

    def _add(self, company: Company, obj: str, record: dict[str, Any], undo: list[tuple[str, int]]) -> dict[str, Any]:
        now = self.now
        record.setdefault("STATUS", "active")
        record.setdefault("WHENCREATED", now)
        record["WHENMODIFIED"] = now
        added = company.add(obj, record)
        if self.sandbox.chaos is not None:
            self.sandbox.chaos.created(company.company_id, obj, added["RECORDNO"], now)
        undo.append((obj, added["RECORDNO"]))
        self.sandbox.created[(company.company_id, obj)] += 1
        return added

    # ---- sessions

    def _fn_getAPISession(self, node: ET.Element, company: Company, *, session: Session, origin: str,
                          **_: Any) -> Outcome:
        from .app import SESSION_PATH

        api = ET.Element("api")
        ET.SubElement(api, "sessionid").text = session.session_id
        ET.SubElement(api, "endpoint").text = origin + SESSION_PATH
        ET.SubElement(api, "locationid").text = session.entity_id or ""
        return Outcome(data=[api])

    # ---- generic create

    def _fn_create(self, node: ET.Element, company: Company, *, undo: list[tuple[str, int]], **_: Any) -> Outcome:
        made = []
        for child in node:
            fields = value_of(child)
            if not isinstance(fields, dict):
                raise refuse(INVALID, f"{child.tag} has no fields")
            creator = getattr(self, f"_create_{child.tag.upper()}", None)
            if creator is None:
                raise refuse(INVALID, f"create is not available for {child.tag} in this sandbox")
            record = creator(company, fields, undo)
            reply = ET.Element(child.tag.lower())
            ET.SubElement(reply, "RECORDNO").text = str(record["RECORDNO"])
            for key in ("CUSTOMERID", "VENDORID", "CONTACTNAME", "ITEMID"):
                if key in record:
                    ET.SubElement(reply, key).text = str(record[key])
            made.append(reply)
        return Outcome(data=made, attributes={"listtype": "objects", "count": len(made)})

    # ---- generic update

    def _fn_update(self, node: ET.Element, company: Company, **_: Any) -> Outcome:
        """Generic `update`: each child names its record by its id field (or RECORDNO); the fields
        sent replace the stored ones, nested ones (DISPLAYCONTACT, MAILADDRESS) field by field."""
        changed = []
        for child in node:
            fields = value_of(child)
            if not isinstance(fields, dict):
                raise refuse(INVALID, f"{child.tag} has no fields")
            updater = getattr(self, f"_update_{child.tag.upper()}", None)
            if updater is None:
                raise refuse(INVALID, f"update is not available for {child.tag} in this sandbox")
            record = updater(company, fields)
            reply = ET.Element(child.tag.lower())
            ET.SubElement(reply, "RECORDNO").text = str(record["RECORDNO"])
            changed.append(reply)
        return Outcome(data=changed, attributes={"listtype": "objects", "count": len(changed)})

    def _update_CUSTOMER(self, company: Company, f: dict[str, Any]) -> dict[str, Any]:
        return self._update_party(company, f, "CUSTOMER", "Customer", contact_links=("CONTACTINFO", "BILLTO", "SHIPTO"))

    def _update_VENDOR(self, company: Company, f: dict[str, Any]) -> dict[str, Any]:
        return self._update_party(company, f, "VENDOR", "Vendor")

    def _update_party(self, company: Company, f: dict[str, Any], obj: str, word: str, *,
                      contact_links: tuple[str, ...] = ()) -> dict[str, Any]:
        """A CUSTOMER or VENDOR update, named by its ID field or RECORDNO; the contacts it links must exist."""
        id_field = f"{obj}ID"
        key = str(f.get(id_field) or "").strip()
        found = company.one(obj, id_field, key) if key else company.one(obj, "RECORDNO", f.get("RECORDNO"))
        if found is None:
            raise refuse(INVALID, f"Invalid {word} '{key or f.get('RECORDNO')}'", "",
                         f"Name an existing {word.lower()} by {id_field} or RECORDNO.")
        if "NAME" in f and not str(f.get("NAME") or "").strip():
            raise refuse(INVALID, "NAME cannot be blank")
        for link in contact_links:
            contact = (f.get(link) or {}).get("CONTACTNAME") if isinstance(f.get(link), dict) else None
            if contact and not company.one("CONTACT", "CONTACTNAME", contact):
                raise refuse(INVALID, f"{link}: contact '{contact}' does not exist", "", "Create the contact first.")
        record = _merged(found, {k: v for k, v in f.items() if k not in ("RECORDNO", id_field)})
        record["WHENMODIFIED"] = self.now
        return company.replace(obj, found["RECORDNO"], record)

    def _create_VENDOR(self, company: Company, f: dict[str, Any], undo: list[tuple[str, int]]) -> dict[str, Any]:
        vendor_id = str(f.get("VENDORID") or "").strip() or f"VEND-{company.next_recordno:05d}"
        if not str(f.get("NAME") or "").strip():
            raise refuse(INVALID, "NAME is required to create a vendor")
        if company.one("VENDOR", "VENDORID", vendor_id):
            raise already_exists("Vendor", f"Vendor ID '{vendor_id}' is already in use.", "Use another vendor ID.")
        for link in ("CONTACTINFO", "PAYTO", "RETURNTO"):
            contact = (f.get(link) or {}).get("CONTACTNAME") if isinstance(f.get(link), dict) else None
            if contact and not company.one("CONTACT", "CONTACTNAME", contact):
                raise refuse(INVALID, f"{link}: contact '{contact}' does not exist", "", "Create the contact first.")
        currency = f.get("CURRENCY")
        if currency and len(str(currency)) != 3:
            raise refuse(INVALID, f"Currency '{currency}' is not valid")
        return self._add(company, "VENDOR", dict(f, VENDORID=vendor_id), undo)

    def _create_CONTACT(self, company: Company, f: dict[str, Any], undo: list[tuple[str, int]]) -> dict[str, Any]:
        name = str(f.get("CONTACTNAME") or "").strip()
        if not name or not str(f.get("PRINTAS") or "").strip():
            raise refuse(INVALID, "CONTACTNAME and PRINTAS are required to create a contact")
        if company.one("CONTACT", "CONTACTNAME", name):
            raise already_exists("Contact", f"A contact named '{name}' already exists.", "Use a unique contact name.")
        return self._add(company, "CONTACT", dict(f), undo)

    def _create_CUSTOMER(self, company: Company, f: dict[str, Any], undo: list[tuple[str, int]]) -> dict[str, Any]:
        customer_id = str(f.get("CUSTOMERID") or "").strip() or f"CUST-{company.next_recordno:05d}"
        if not str(f.get("NAME") or "").strip():
            raise refuse(INVALID, "NAME is required to create a customer")
        if company.one("CUSTOMER", "CUSTOMERID", customer_id):
            raise already_exists("Customer", f"Customer ID '{customer_id}' is already in use.",
                                 "Use another customer ID.")
        for link in ("CONTACTINFO", "BILLTO", "SHIPTO"):
            contact = (f.get(link) or {}).get("CONTACTNAME") if isinstance(f.get(link), dict) else None
            if contact and not company.one("CONTACT", "CONTACTNAME", contact):
                raise refuse(INVALID, f"{link}: contact '{contact}' does not exist", "", "Create the contact first.")
        currency = f.get("CURRENCY")
        if currency and len(str(currency)) != 3:
            raise refuse(INVALID, f"Currency '{currency}' is not valid")
        record = dict(f, CUSTOMERID=customer_id)
        return self._add(company, "CUSTOMER", record, undo)

    def _create_ITEM(self, company: Company, f: dict[str, Any], undo: list[tuple[str, int]]) -> dict[str, Any]:
        item_id = str(f.get("ITEMID") or "").strip()
        if not item_id or not str(f.get("NAME") or "").strip():
            raise refuse(INVALID, "ITEMID and NAME are required to create an item")
        if company.one("ITEM", "ITEMID", item_id):
            raise already_exists("Item", f"Item '{item_id}'.")
        record = dict(f, ITEMTYPE=f.get("ITEMTYPE") or "Non-Inventory")
        for name in ("BASEPRICE", "STANDARD_COST"):
            if record.get(name) not in (None, ""):
                record[name] = money(record[name], name)
        return self._add(company, "ITEM", record, undo)

    def _create_ARPYMT(self, company: Company, f: dict[str, Any], undo: list[tuple[str, int]]) -> dict[str, Any]:
        customer_id = str(f.get("CUSTOMERID") or "")
        if not company.one("CUSTOMER", "CUSTOMERID", customer_id):
            raise refuse(INVALID, f"Invalid Customer '{customer_id}'", "", "Enter an existing customer ID.")
        bank = str(f.get("FINANCIALENTITY") or "")
        if not company.one("CHECKINGACCOUNT", "BANKACCOUNTID", bank):
            raise refuse(INVALID, f"Invalid financial entity '{bank}'", "", "Enter a checking account ID.")
        method = str(f.get("PAYMENTMETHOD") or "")
        if method not in PAYMENT_METHODS:
            raise refuse(INVALID, f"Invalid payment method '{method}'")
        received = generic_date(f.get("RECEIPTDATE"), "RECEIPTDATE")
        details = as_list((f.get("ARPYMTDETAILS") or {}).get("ARPYMTDETAIL") if isinstance(
            f.get("ARPYMTDETAILS"), dict) else None)
        if not details:
            raise refuse(INVALID, "A payment needs at least one ARPYMTDETAIL (the invoice it pays)")
        applied: list[tuple[dict[str, Any], Decimal]] = []
        credits: list[tuple[dict[str, Any], dict[str, Any], Decimal]] = []
        owed: dict[int, Decimal] = {}  # what is left due on each invoice, and on each credit memo, as lines apply
        left: dict[int, Decimal] = {}
        for number, d in enumerate(details, start=1):
            invoice = company.one("ARINVOICE", "RECORDNO", d.get("RECORDKEY"))
            if invoice is None or invoice.get("CUSTOMERID") != customer_id:
                raise refuse(INVALID, f"Line {number}: invoice {d.get('RECORDKEY')} is not an open invoice of "
                             f"customer {customer_id}")
            due = owed.setdefault(invoice["RECORDNO"], invoice["TOTALDUE"])
            cash = d.get("TRX_PAYMENTAMOUNT") not in (None, "")
            credit = d.get("ADJUSTMENTKEY") not in (None, "")
            if not cash and not credit:
                raise refuse(INVALID, f"Line {number}: give a payment amount (TRX_PAYMENTAMOUNT) or a credit to "
                             "apply (ADJUSTMENTKEY with TRX_ADJUSTMENTAMOUNT)")
            if cash:
                amount = money(d.get("TRX_PAYMENTAMOUNT"), f"line {number} TRX_PAYMENTAMOUNT")
                if amount <= 0 or amount > due:
                    raise refuse(INVALID, f"Line {number}: the payment amount {amount} is more than the "
                                 f"{due} due on invoice {invoice['RECORDID']}")
                applied.append((invoice, amount))
                due -= amount
            if credit:
                memo = self._credit_memo(company, d.get("ADJUSTMENTKEY"), customer_id, number)
                amount = money(d.get("TRX_ADJUSTMENTAMOUNT"), f"line {number} TRX_ADJUSTMENTAMOUNT")
                available = left.setdefault(memo["RECORDNO"], -memo["TOTALDUE"])
                if amount <= 0 or amount > available:
                    raise refuse(INVALID, f"Line {number}: the credit {amount} is more than the {available} left on "
                                 f"credit memo {memo['RECORDID']}")
                if amount > due:
                    raise refuse(INVALID, f"Line {number}: the credit {amount} is more than the {due} due on "
                                 f"invoice {invoice['RECORDID']}")
                credits.append((invoice, memo, amount))
                due -= amount
                left[memo["RECORDNO"]] = available - amount
            owed[invoice["RECORDNO"]] = due
        return self.post_payment(company, customer_id=customer_id, bank=bank, method=method, received=received,
                                 reference=f.get("DOCNUMBER") or None, currency=f.get("CURRENCY") or None,
                                 applied=applied, credits=credits, undo=undo)

    @staticmethod
    def _credit_memo(company: Company, key: Any, customer_id: str, number: int) -> dict[str, Any]:
        """The credit memo (an ARADJUSTMENT with a negative total) a line applies: the customer's own."""
        memo = company.one("ARADJUSTMENT", "RECORDNO", key)
        if memo is None or memo["TOTALENTERED"] >= 0:
            raise refuse(INVALID, f"Line {number}: {key} is not a credit memo (ADJUSTMENTKEY)")
        if memo.get("CUSTOMERID") != customer_id:
            raise refuse(INVALID, f"Line {number}: credit memo {memo['RECORDID']} belongs to customer "
                         f"{memo.get('CUSTOMERID')}, not {customer_id}")
        return memo

    def post_payment(self, company: Company, *, customer_id: str, bank: str, method: str, received: dt.date,
                     reference: str | None, currency: str | None, applied: list[tuple[dict[str, Any], Decimal]],
                     undo: list[tuple[str, int]],
                     credits: list[tuple[dict[str, Any], dict[str, Any], Decimal]] | None = None) -> dict[str, Any]:
        """Post a receipt and apply it: the invoices' TOTALPAID/TOTALDUE/STATE move with it, and with
        each credit memo applied (whose own TOTALDUE moves towards 0). Its total is the cash only."""
        total = sum((a for _, a in applied), Decimal("0"))
        payment = self._add(company, "ARPYMT", {
            "CUSTOMERID": customer_id, "FINANCIALENTITY": bank, "PAYMENTMETHOD": method, "DOCNUMBER": reference,
            "RECEIPTDATE": received, "PAYMENTDATE": received, "CURRENCY": currency or company.base_currency,
            "TOTALENTERED": total, "STATE": "Posted"}, undo)
        for invoice, amount in applied:
            self._add(company, "ARPYMTDETAIL", {"PAYMENTKEY": payment["RECORDNO"], "RECORDKEY": invoice["RECORDNO"],
                                                "TRX_PAYMENTAMOUNT": amount}, undo)
            self._settle(invoice, amount)
        for invoice, memo, amount in credits or ():
            self._add(company, "ARPYMTDETAIL", {"PAYMENTKEY": payment["RECORDNO"], "RECORDKEY": invoice["RECORDNO"],
                                                "ADJUSTMENTKEY": memo["RECORDNO"], "TRX_ADJUSTMENTAMOUNT": amount},
                      undo)
            self._settle(invoice, amount)
            self._use_credit(memo, amount)
        return payment

    def _settle(self, invoice: dict[str, Any], amount: Decimal) -> None:
        invoice["TOTALPAID"] += amount
        invoice["TOTALDUE"] = invoice["TOTALENTERED"] - invoice["TOTALPAID"]
        paid = invoice["TOTALPAID"]
        invoice["STATE"] = "Paid" if invoice["TOTALDUE"] <= 0 else "Partially Paid" if paid else "Posted"
        invoice["WHENMODIFIED"] = self.now

    def _use_credit(self, memo: dict[str, Any], amount: Decimal) -> None:
        # A credit memo is negative: applying it moves its TOTALPAID and TOTALDUE towards 0.
        memo["TOTALPAID"] -= amount
        memo["TOTALDUE"] = memo["TOTALENTERED"] - memo["TOTALPAID"]
        memo["STATE"] = "Paid" if memo["TOTALDUE"] >= 0 else "Partially Paid" if memo["TOTALPAID"] else "Posted"
        memo["WHENMODIFIED"] = self.now

    def reverse_payment(self, company: Company, payment: dict[str, Any]) -> None:
        for detail in company.find("ARPYMTDETAIL", "PAYMENTKEY", payment["RECORDNO"]):
            invoice = company.one("ARINVOICE", "RECORDNO", detail["RECORDKEY"])
            amount = detail.get("TRX_PAYMENTAMOUNT") or detail.get("TRX_ADJUSTMENTAMOUNT") or Decimal("0")
            if invoice is not None:
                self._settle(invoice, -amount)
            memo = company.one("ARADJUSTMENT", "RECORDNO", detail.get("ADJUSTMENTKEY"))
            if memo is not None:
                self._use_credit(memo, -amount)
            company.remove("ARPYMTDETAIL", detail["RECORDNO"])
        payment["STATE"] = "Reversed"
        payment["WHENMODIFIED"] = self.now

    # ---- legacy AR documents

    def _lines(self, company: Company, items: ET.Element | None, what: str) -> list[dict[str, Any]]:
        if items is None or not len(items):
            raise refuse(INVALID, f"{what} needs at least one line item")
        lines = []
        for number, node in enumerate(items.findall("lineitem"), start=1):
            account = (node.findtext("glaccountno") or node.findtext("accountlabel") or "").strip()
            if not company.one("GLACCOUNT", "ACCOUNTNO", account):
                raise refuse(INVALID, f"Enter a valid account number on line item {number}",
                             f"Account '{account}' is not valid.", "Pick an account from the chart of accounts.")
            line = {"ACCOUNTNO": account, "AMOUNT": money(node.findtext("amount"), f"line {number} amount"),
                    "ENTRYDESCRIPTION": node.findtext("memo") or ""}
            for tag, obj, key in (("locationid", "LOCATION", "LOCATIONID"),
                                  ("departmentid", "DEPARTMENT", "DEPARTMENTID"), ("classid", "CLASS", "CLASSID")):
                value = (node.findtext(tag) or "").strip()
                if value:
                    if not company.one(obj, key, value):
                        raise refuse(INVALID, f"Line item {number}: {key.lower()} '{value}' is not valid")
                    line[key] = value
            lines.append(line)
        if what.startswith("AP"):
            self._no_output_tax(company, lines, what)
        return lines

    @staticmethod
    def _no_output_tax(company: Company, lines: list[dict[str, Any]], what: str) -> None:
        # Stricter than Intacct (FIDELITY.md): input tax on a bill or vendor credit memo posts to a
        # Purchase tax detail's account; a line on a Sale detail's account is output VAT booked as
        # a purchase, so it is refused here rather than left in the books.
        details = company.objects["TAXDETAIL"].values()
        sale = {d.get("GLACCOUNT") for d in details if d.get("TAXTYPE") == "Sale"}
        purchase = {d.get("GLACCOUNT") for d in details if d.get("TAXTYPE") == "Purchase"}
        for number, line in enumerate(lines, start=1):
            if line["ACCOUNTNO"] in sale - purchase:
                raise refuse(INVALID, f"{what} line item {number} posts to sales tax account '{line['ACCOUNTNO']}'",
                             "Tax on a purchase belongs on a Purchase tax detail.",
                             "Use the GL account of a TAXDETAIL with TAXTYPE Purchase.")

    def _document(self, node: ET.Element, company: Company, obj: str, items_tag: str, number_tag: str,
                  undo: list[tuple[str, int]]) -> Outcome:
        # AR documents name a CUSTOMER (customerid), AP bills and adjustments a VENDOR (vendorid).
        party = "VENDOR" if obj.startswith("AP") else "CUSTOMER"
        party_id = (node.findtext(f"{party.lower()}id") or "").strip()
        customer = company.one(party, f"{party}ID", party_id)
        if customer is None:
            raise refuse(INVALID, f"Invalid {party.title()} '{party_id}'", "", f"Enter an existing {party.lower()} ID.")
        created = legacy_date(node.find("datecreated"), "datecreated")
        due = legacy_date(node.find("datedue"), "datedue") if node.find("datedue") is not None else created
        if due < created:
            raise refuse(INVALID, "Date Due cannot be earlier than date of transaction")
        lines = self._lines(company, node.find(items_tag), obj)
        total = sum((line["AMOUNT"] for line in lines), Decimal("0"))
        record: dict[str, Any] = {
            "RECORDID": (node.findtext(number_tag) or "").strip() or None, f"{party}ID": party_id,
            f"{party}NAME": customer.get("NAME"), "WHENCREATED": created, "WHENPOSTED": created,
            "DESCRIPTION": node.findtext("description") or None,
            "CURRENCY": node.findtext("currency") or company.base_currency,
            "TOTALENTERED": total, "TOTALPAID": Decimal("0"), "TOTALDUE": total, "STATE": "Posted",
            "AUWHENCREATED": self.now,
        }
        if obj in ("ARINVOICE", "APBILL"):
            record["WHENDUE"] = due
        for custom in node.findall("customfields/customfield"):
            name = (custom.findtext("customfieldname") or "").strip()
            if name not in company.custom_fields.get(obj, set()):
                raise refuse(INVALID, f"Custom field '{name}' does not exist on {obj}", "",
                             "Create the custom field in Intacct or fix its name in the settings.")
            record[name] = custom.findtext("customfieldvalue") or ""
        record[f"{obj}ITEMS"] = {f"{obj}ITEM": lines}
        added = self._add(company, obj, record, undo)
        added["STATUS"] = "active"
        return Outcome(key=added["RECORDNO"])

    def _fn_create_invoice(self, node: ET.Element, company: Company, *, undo: list[tuple[str, int]],
                           **_: Any) -> Outcome:
        return self._document(node, company, "ARINVOICE", "invoiceitems", "invoiceno", undo)

    def _fn_create_aradjustment(self, node: ET.Element, company: Company, *, undo: list[tuple[str, int]],
                                **_: Any) -> Outcome:
        return self._document(node, company, "ARADJUSTMENT", "aradjustmentitems", "adjustmentno", undo)

    def _fn_create_bill(self, node: ET.Element, company: Company, *, undo: list[tuple[str, int]],
                        **_: Any) -> Outcome:
        """An AP bill (APBILL): its vendor must exist, its total is the sum of its lines."""
        return self._document(node, company, "APBILL", "billitems", "billno", undo)

    def _fn_reverse_invoice(self, node: ET.Element, company: Company, **_: Any) -> Outcome:
        return self._reverse(node, company, "ARINVOICE", "Invoice")

    def _reverse(self, node: ET.Element, company: Company, obj: str, word: str) -> Outcome:
        """reverse_invoice / reverse_bill: refused when absent, reversed already, or paid."""
        document = company.one(obj, "RECORDNO", node.get("key"))
        if document is None:
            raise refuse(INVALID, f"{word} {node.get('key')} does not exist")
        if document["STATE"] == "Reversed":
            raise refuse(INVALID, f"{word} {document['RECORDID']} is already reversed")
        if document["TOTALPAID"]:
            raise refuse(INVALID, f"{word} {document['RECORDID']} has payments applied and cannot be reversed")
        document.update(STATE="Reversed", TOTALDUE=Decimal("0"), WHENMODIFIED=self.now)
        return Outcome(key=document["RECORDNO"])

    def _fn_reverse_arpayment(self, node: ET.Element, company: Company, **_: Any) -> Outcome:
        """reverse_arpayment: the receipt's applications are undone (invoices owe again, credit memos
        are available again) and it stays, in state Reversed; refused when absent or reversed already."""
        payment = company.one("ARPYMT", "RECORDNO", node.get("key"))
        if payment is None:
            raise refuse(INVALID, f"Payment {node.get('key')} does not exist")
        if payment.get("STATE") == "Reversed":
            raise refuse(INVALID, f"Payment {payment['RECORDNO']} is already reversed")
        if node.find("datereversed") is None:
            raise refuse(INVALID, "reverse_arpayment needs a datereversed")
        self.reverse_payment(company, payment)
        return Outcome(key=payment["RECORDNO"])

    def _fn_create_apadjustment(self, node: ET.Element, company: Company, *, undo: list[tuple[str, int]],
                                **_: Any) -> Outcome:
        """An AP adjustment (APADJUSTMENT): negative line amounts make a vendor credit memo."""
        return self._document(node, company, "APADJUSTMENT", "apadjustmentitems", "adjustmentno", undo)

    def _fn_delete_apadjustment(self, node: ET.Element, company: Company, **_: Any) -> Outcome:
        return self._delete_adjustment(node, company, "APADJUSTMENT")

    def _fn_reverse_bill(self, node: ET.Element, company: Company, **_: Any) -> Outcome:
        return self._reverse(node, company, "APBILL", "Bill")

    def _fn_delete_aradjustment(self, node: ET.Element, company: Company, **_: Any) -> Outcome:
        return self._delete_adjustment(node, company, "ARADJUSTMENT")

    @staticmethod
    def _delete_adjustment(node: ET.Element, company: Company, obj: str) -> Outcome:
        adjustment = company.one(obj, "RECORDNO", node.get("key"))
        if adjustment is None:
            raise refuse(INVALID, f"Adjustment {node.get('key')} does not exist")
        company.remove(obj, adjustment["RECORDNO"])
        return Outcome(key=node.get("key"))

    # ---- reads

    def _object(self, name: str | None) -> str:
        obj = (name or "").strip().upper()
        if obj not in OBJECTS:
            raise refuse(INVALID, f"Object '{name}' is not available", "", "Check the object name.")
        return obj

    @staticmethod
    def _fields(text: str | None) -> list[str] | None:
        text = (text or "*").strip()
        return None if text in ("", "*") else [f.strip() for f in text.split(",") if f.strip()]

    def _render(self, obj: str, records: list[dict[str, Any]], fields: list[str] | None) -> list[ET.Element]:
        from .app import record_element

        return [record_element(obj, r, fields) for r in records]

    def _fn_read(self, node: ET.Element, company: Company, **_: Any) -> Outcome:
        obj = self._object(node.findtext("object"))
        keys = [k.strip() for k in (node.findtext("keys") or "").split(",") if k.strip()]
        records = [r for k in keys for r in company.find(obj, "RECORDNO", k)]
        return Outcome(data=self._render(obj, records, self._fields(node.findtext("fields"))),
                       attributes={"listtype": obj.lower(), "count": len(records)})

    def _fn_readByQuery(self, node: ET.Element, company: Company, session: Session, **_: Any) -> Outcome:
        obj = self._object(node.findtext("object"))
        try:
            size = int((node.findtext("pagesize") or str(DEFAULT_PAGE_SIZE)).strip())
        except ValueError:
            raise refuse(INVALID, "pagesize must be a number") from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            limits.record("sage_intacct", limits.PAGE_SIZE, f"readByQuery pagesize={size} (at most {MAX_PAGE_SIZE})")
            raise refuse(INVALID, f"pagesize must be between 1 and {MAX_PAGE_SIZE} for readByQuery",
                         f"readByQuery was asked for {size} records per page",
                         f"Ask for at most {MAX_PAGE_SIZE} and page on with readMore.")
        try:
            records = company.query(obj, node.findtext("query") or "")
        except QueryError as exc:
            raise refuse(INVALID, "The query is not valid", str(exc), "Check the query syntax.") from None
        recordnos = [r["RECORDNO"] for r in records]
        if self.sandbox.chaos is not None:
            # chaos: queries lag a create; read by RECORDNO finds the record at once.
            hidden = self.sandbox.chaos.hidden(company.company_id, obj, self.now)
            recordnos = [n for n in recordnos if str(n) not in hidden]
        return self._page(company, session, obj, recordnos, size, self._fields(node.findtext("fields")))

    def _page(self, company: Company, session: Session, obj: str, recordnos: list[int], size: int,
              fields: list[str] | None, result_id: str | None = None) -> Outcome:
        page, rest = recordnos[:size], recordnos[size:]
        records = [company.objects[obj][i] for i in page if i in company.objects[obj]]
        attributes: dict[str, Any] = {"listtype": obj.lower(), "count": len(records),
                                      "totalcount": len(recordnos), "numremaining": len(rest)}
        if rest:
            result_id = result_id or secrets.token_hex(16)
            self.sandbox.result_sets[result_id] = {"company": company.company_id, "session": session.session_id,
                                                   "object": obj, "rest": rest, "size": size, "fields": fields}
            attributes["resultId"] = result_id
        elif result_id:
            self.sandbox.result_sets.pop(result_id, None)
        return Outcome(data=self._render(obj, records, fields), attributes=attributes)

    def _fn_readMore(self, node: ET.Element, company: Company, session: Session, **_: Any) -> Outcome:
        result_id = (node.findtext("resultId") or "").strip()
        state = self.sandbox.result_sets.get(result_id)
        # A result set ends with the session that opened it (no source gives its lifetime; the
        # shorter one is the stricter choice: a client must page within one session).
        if state is None or state["company"] != company.company_id or state["session"] != session.session_id:
            raise refuse(INVALID, f"There is no result set '{result_id}' to read more of", "",
                         "Run readByQuery again (result sets end with the session).")
        return self._page(company, session, state["object"], state["rest"], state["size"], state["fields"],
                          result_id)

    def _fn_query(self, node: ET.Element, company: Company, **_: Any) -> Outcome:
        """`query` (not in api-v3.0.xsd, served by the live gateway): see query.py."""
        from .query import QueryRefused, render, run_query

        try:
            chaos = self.sandbox.chaos
            obj, page, fields, attributes = run_query(
                node, company, OBJECTS,
                hidden=(lambda o: chaos.hidden(company.company_id, o, self.now)) if chaos is not None else None)
        except QueryRefused as exc:
            raise refuse(INVALID, "The query is not valid", str(exc), "Check the query and try again.") from None
        return Outcome(data=render(obj, page, fields), attributes=attributes)
