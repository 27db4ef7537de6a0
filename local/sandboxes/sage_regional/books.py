"""One company's books in the regional API's terms: master data (customers, suppliers, tax types, items,
accounts, bank accounts), commercial documents (tax invoices, customer returns, supplier invoices and
returns) with lines, payments (customer receipts, supplier payments) and the allocations between them.

Records are kept with PascalCase names and Python values (Decimal money, naive datetimes);
`render` turns one into the JSON Sage answers. Totals are always computed here from the lines,
whatever the client sent (entities.md, TaxInvoice: totals "recomputed by server").
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from . import schema

ZERO = Decimal("0")
HUNDRED = Decimal("100")
ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


class RuleError(Exception):
    """A request Sage refuses; `status` and a `{"Message": ...}` body (ModelState when a field is named)."""

    def __init__(self, message: str, status: int = 400, field_name: str | None = None) -> None:
        super().__init__(message)
        self.status, self.field_name = status, field_name

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Message": str(self)}
        if self.field_name:
            body["ModelState"] = {self.field_name: [str(self)]}
        return body


@dataclass(frozen=True)
class DocumentKind:
    party: str  # "Customer" or "Supplier"
    prefix: str  # what useSystemDocumentNumber numbers start with
    sales: bool  # sales side: item lines take the item's sales tax type and price
    payable: bool  # an invoice (payments are allocated to it); else a return (allocated from)
    due_date: bool


DOCUMENTS = {
    "TaxInvoice": DocumentKind("Customer", "INV", sales=True, payable=True, due_date=True),
    "CustomerReturn": DocumentKind("Customer", "CRN", sales=True, payable=False, due_date=False),
    "SupplierInvoice": DocumentKind("Supplier", "SI", sales=False, payable=True, due_date=True),
    "SupplierReturn": DocumentKind("Supplier", "SRN", sales=False, payable=False, due_date=False),
}
PAYMENTS = {"CustomerReceipt": ("Customer", "RC"), "SupplierPayment": ("Supplier", "PAY")}
MASTER = ("Customer", "Supplier", "TaxType", "Item", "Account", "BankAccount")
COLLECTIONS = (*MASTER, *DOCUMENTS, *PAYMENTS, "Allocation")
# What an allocation may join: its source's service -> the invoice service it pays.
ALLOCATES_TO = {"CustomerReceipt": "TaxInvoice", "CustomerReturn": "TaxInvoice",
                "SupplierPayment": "SupplierInvoice", "SupplierReturn": "SupplierInvoice"}
READ_ONLY = {"Created", "Modified", "Balance", "HasActivity", "Status", "Paid", "Locked", "Editable",
             "TotalUnallocated", "AverageCost", "QuantityOnHand", "TaxPeriodId", "CustomerZoneGuid",
             "HasAttachments", "HasNotes", "HasAnticipatedDate", "AnticipatedDate", "UnitCost",
             "FromDocumentId", "FromDocumentTypeId", "Printed"}
_LINE_AMOUNTS = ("Exclusive", "Discount", "Tax", "Total")
_HEADER_AMOUNTS = ("Discount", "Exclusive", "Tax", "Rounding", "Total", "AmountDue")


def parse_date(text: str, field_name: str = "Date") -> dt.datetime:
    """A request date: YYYY-MM-DD or an ISO date-time (any offset dropped: Sage keeps local dates)."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RuleError(f"{field_name} {text!r} is not a date.", 400, field_name) from None
    return value.replace(tzinfo=None)


def render_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S")  # Json.NET without an offset (README §6)
    if isinstance(value, dict):
        return {k: render_value(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [render_value(v) for v in value]
    return value


@dataclass
class Settings:
    """The knobs the books need (the sandbox passes its own)."""

    midpoint: str = "half_up"
    void_by_status: bool = False
    reject_duplicate_document_numbers: bool = False
    auto_allocate: bool = True


@dataclass
class Books:
    company_id: int
    name: str
    region: str
    next_id: Callable[[], int]
    now: Callable[[], dt.datetime]
    settings: Settings = field(default_factory=Settings)
    currency_digits: int = 2
    registration_expired: bool = False  # the subscription lapsed: every call answers 402
    records: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    numbers: dict[str, Iterator[int]] = field(default_factory=dict)
    seed_ids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in COLLECTIONS:
            self.records.setdefault(name, {})

    # -- reading ----------------------------------------------------------------------------------

    def get(self, service: str, record_id: int) -> dict[str, Any]:
        found = self.records.get(service, {}).get(record_id)
        if found is None:
            # README §7: 404 when the entity does not exist or belongs to another company.
            raise RuleError(f"The {service} with ID {record_id} was not found. Entities are bound to companies: "
                            "make sure it belongs to this company.", 404)
        return found

    def rows(self, service: str) -> list[dict[str, Any]]:
        return [self.view(service, r) for r in self.records[service].values()]

    def view(self, service: str, record: dict[str, Any]) -> dict[str, Any]:
        """The record with what Sage computes when it is read (balances, activity)."""
        shown = dict(record)
        if service in ("Customer", "Supplier"):
            shown["Balance"] = self._balance(service, record["ID"])
            shown["HasActivity"] = self._party_used(service, record["ID"])
        elif service in ("TaxType", "Item", "Account"):
            shown["HasActivity"] = self._master_used(service, record["ID"])
        return shown

    def render(self, service: str, record: dict[str, Any], *, lines: bool = True, party: bool = True) -> dict:
        shown = self.view(service, record)
        if not lines:
            shown.pop("Lines", None)
        kind = DOCUMENTS.get(service)
        owner = kind.party if kind else PAYMENTS.get(service, (None,))[0]
        if owner and party:
            shown[owner] = render_value(self.view(owner, self.get(owner, record[f"{owner}Id"])))
        return render_value(shown)

    # -- money ------------------------------------------------------------------------------------

    def money(self, value: Decimal) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-self.currency_digits), rounding=ROUNDING[self.settings.midpoint])

    # -- saving -----------------------------------------------------------------------------------

    def save(self, service: str, body: dict[str, Any], *, system_number: bool = False,
             dry_run: bool = False) -> tuple[dict[str, Any], bool]:
        """Create (ID 0 or absent) or update (an existing ID): (the stored record, created?)."""
        record_id = int(body.get("ID") or 0)
        existing = self.get(service, record_id) if record_id else None
        if existing is not None and existing.get("_locked_reason"):
            raise RuleError(f"The {service} with ID {record_id} can no longer be edited: "
                            f"{existing['_locked_reason']}.", 400)
        # Save replaces the entity with what was sent (read-only members kept from the stored one).
        record = {k: v for k, v in body.items() if k not in READ_ONLY and k != "Lines"}
        if service in DOCUMENTS:
            self._document(service, record, body, existing, system_number, dry_run)
        elif service in PAYMENTS:
            self._payment(service, record, existing, system_number)
        elif service == "Item":
            self._item(record)
        elif service == "TaxType":
            record["Percentage"] = Decimal(str(record["Percentage"]))
        self._dates(record)
        now = self.now().replace(tzinfo=None, microsecond=0)
        record["ID"] = record_id if existing else (0 if dry_run else self.next_id())
        record["Created"] = existing["Created"] if existing else now
        record["Modified"] = now if existing else None
        if dry_run:
            return record, False
        if existing is not None:
            for key, value in existing.items():
                if key.startswith("_"):
                    record.setdefault(key, value)
        record = {"ID": record.pop("ID"), **record}
        self.records[service][record["ID"]] = record
        if service in PAYMENTS and not existing:
            self._allocate_from_payment(service, record, body)
        return record, existing is None

    def _dates(self, record: dict[str, Any]) -> None:
        for key, value in list(record.items()):
            if isinstance(value, str) and (key in ("Date", "DueDate") or key.startswith("DateField")
                                           or key.startswith("DateUserField") or key == "TaxStatusVerified"):
                record[key] = parse_date(value, key)

    def _party(self, party: str, record: dict[str, Any]) -> dict[str, Any]:
        party_id = record[f"{party}Id"]
        try:
            found = self.get(party, party_id)
        except RuleError:
            raise RuleError(f"{party}Id {party_id} is not a {party} of this company.", 400, f"{party}Id") from None
        if found.get("Active") is False:
            raise RuleError(f"{party} {party_id} is inactive.", 400, f"{party}Id")
        return found

    def _document(self, service: str, record: dict[str, Any], body: dict[str, Any],
                  existing: dict[str, Any] | None, system_number: bool, dry_run: bool) -> None:
        kind = DOCUMENTS[service]
        party = self._party(kind.party, record)
        record[f"{kind.party}Name"] = party["Name"]
        record.pop(kind.party, None)
        if Decimal(str(body.get("DiscountPercentage") or 0)) != ZERO:
            raise RuleError("A header DiscountPercentage is not modelled by the sandbox: discount the lines "
                            "(DiscountPercentage on each line).", 400, "DiscountPercentage")
        if body.get("StatusId") == 4 and service == "TaxInvoice":
            if not self.settings.void_by_status:
                # README §10: voiding by StatusId 4 rests on one AU example; reverse with a CustomerReturn.
                raise RuleError("StatusId 4 (void) is not accepted: reverse an invoice with a CustomerReturn.",
                                400, "StatusId")
        if not dry_run:  # Calculate previews the totals; a number is given only on Save
            self._number(service, record, existing, system_number, kind.prefix, required=True)
        if kind.due_date and parse_date(body["DueDate"], "DueDate") < parse_date(body["Date"]):
            raise RuleError("DueDate is before Date.", 400, "DueDate")
        inclusive = bool(body.get("Inclusive", False))
        record["Inclusive"] = inclusive
        record["Lines"] = [self._line(service, index, line, inclusive, kind.sales)
                           for index, line in enumerate(body["Lines"])]
        totals = {name: sum((line[name] for line in record["Lines"]), ZERO) for name in _LINE_AMOUNTS}
        record.update(Exclusive=totals["Exclusive"], Discount=totals["Discount"], Tax=totals["Tax"],
                      Rounding=ZERO, Total=totals["Total"], DiscountPercentage=ZERO)
        record["AmountDue"] = record["Total"]
        if kind.payable:
            void = body.get("StatusId") == 4
            record["AmountDue"] = ZERO if void else record["Total"]
            self._status(record, void=void)
        record["Editable"], record["Locked"] = True, False

    def _number(self, service: str, record: dict[str, Any], existing: dict[str, Any] | None, system_number: bool,
                prefix: str, *, required: bool) -> None:
        if existing is not None and not record.get("DocumentNumber"):
            record["DocumentNumber"] = existing["DocumentNumber"]
        elif system_number and existing is None:
            counter = self.numbers.setdefault(service, itertools.count(1))
            record["DocumentNumber"] = f"{prefix}{next(counter):07d}"
        elif not record.get("DocumentNumber"):
            if required:
                raise RuleError("DocumentNumber is required unless the Save asks for useSystemDocumentNumber=true.",
                                400, "DocumentNumber")
            counter = self.numbers.setdefault(service, itertools.count(1))
            record["DocumentNumber"] = f"{prefix}{next(counter):07d}"
        if self.settings.reject_duplicate_document_numbers:
            for other in self.records[service].values():
                if other["DocumentNumber"] == record["DocumentNumber"] and other["ID"] != record.get("ID"):
                    raise RuleError(f"DocumentNumber {record['DocumentNumber']} is already used.", 400,
                                    "DocumentNumber")

    def _line(self, service: str, index: int, sent: dict[str, Any], inclusive: bool, sales: bool) -> dict[str, Any]:
        where = f"Lines[{index}]"
        line = {k: v for k, v in sent.items() if k not in ("UnitCost",)}
        line_type = int(sent.get("LineType") or 0)
        if line_type not in (0, 1):
            raise RuleError(f"{where}.LineType {line_type} is not modelled by the sandbox: use 0 (item) or 1 "
                            "(account).", 400, f"{where}.LineType")
        chosen = "Item" if line_type == 0 else "Account"
        selection = self.records[chosen].get(sent["SelectionId"])
        if selection is None:
            raise RuleError(f"{where}.SelectionId {sent['SelectionId']} is not an {chosen} of this company "
                            f"(LineType {line_type}).", 400, f"{where}.SelectionId")
        quantity = Decimal(str(sent["Quantity"]))
        if quantity < 0:
            raise RuleError(f"{where}.Quantity must not be negative (a return's lines are positive; the document "
                            "type carries the sign).", 400, f"{where}.Quantity")
        tax_type_id = sent.get("TaxTypeId")
        if tax_type_id is None:
            default = (selection.get("TaxTypeIdSales") if sales else selection.get("TaxTypeIdPurchases")) \
                if chosen == "Item" else selection.get("DefaultTaxTypeId")
            tax_type_id = default
        percentage = ZERO
        if tax_type_id is not None:
            tax_type = self.records["TaxType"].get(tax_type_id)
            if tax_type is None:
                raise RuleError(f"{where}.TaxTypeId {tax_type_id} is not a TaxType of this company.", 400,
                                f"{where}.TaxTypeId")
            percentage = tax_type["Percentage"]
        if "TaxPercentage" in sent and Decimal(str(sent["TaxPercentage"])) != percentage:
            raise RuleError(f"{where}.TaxPercentage {sent['TaxPercentage']} does not match the tax type's "
                            f"{percentage} (a percent, e.g. 15, not a fraction).", 400, f"{where}.TaxPercentage")
        rate = percentage / HUNDRED
        excl_price, incl_price = sent.get("UnitPriceExclusive"), sent.get("UnitPriceInclusive")
        if excl_price is None and incl_price is None and chosen == "Item":
            excl_price = selection.get("PriceExclusive") if sales else selection.get("LastCost")
        if excl_price is None and incl_price is None:
            raise RuleError(f"{where}.UnitPriceExclusive (or UnitPriceInclusive) is required on an account line.",
                            400, f"{where}.UnitPriceExclusive")
        discount_rate = Decimal(str(sent.get("DiscountPercentage") or 0)) / HUNDRED
        if inclusive:
            price = Decimal(str(incl_price)) if incl_price is not None else Decimal(str(excl_price)) * (1 + rate)
            gross = self.money(quantity * price)
            discount_incl = self.money(gross * discount_rate)
            total = gross - discount_incl
            tax = self.money(total * rate / (1 + rate))
            exclusive = total - tax
            discount = self.money(discount_incl / (1 + rate))
            line["UnitPriceInclusive"], line["UnitPriceExclusive"] = price, self.money(price / (1 + rate))
        else:
            price = Decimal(str(excl_price)) if excl_price is not None else Decimal(str(incl_price)) / (1 + rate)
            gross = self.money(quantity * price)
            discount = self.money(gross * discount_rate)
            exclusive = gross - discount
            tax = self.money(exclusive * rate)
            total = exclusive + tax
            line["UnitPriceExclusive"], line["UnitPriceInclusive"] = price, self.money(price * (1 + rate))
        line.update(ID=self.next_id(), LineType=line_type, Quantity=quantity, TaxTypeId=tax_type_id,
                    TaxPercentage=percentage, DiscountPercentage=discount_rate * HUNDRED,
                    Exclusive=exclusive, Discount=discount, Tax=tax, Total=total)
        line.setdefault("Description", selection.get("Description") or selection.get("Name") or "")
        return line

    def _payment(self, service: str, record: dict[str, Any], existing: dict[str, Any] | None,
                 system_number: bool) -> None:
        party_name, prefix = PAYMENTS[service]
        self._party(party_name, record)
        record.pop(party_name, None)
        record.pop("Allocations", None)
        if record["BankAccountId"] not in self.records["BankAccount"]:
            raise RuleError(f"BankAccountId {record['BankAccountId']} is not a BankAccount of this company.", 400,
                            "BankAccountId")
        total = Decimal(str(record["Total"]))
        if total <= 0:
            raise RuleError("Total must be more than 0.", 400, "Total")
        record["Total"] = self.money(total)
        record["Discount"] = self.money(Decimal(str(record.get("Discount") or 0)))
        self._number(service, record, existing, system_number, prefix, required=False)
        record["TotalUnallocated"] = record["Total"]
        record["Editable"], record["Locked"] = True, False

    def _item(self, record: dict[str, Any]) -> None:
        for name in ("TaxTypeIdSales", "TaxTypeIdPurchases"):
            if record.get(name) is not None and record[name] not in self.records["TaxType"]:
                raise RuleError(f"{name} {record[name]} is not a TaxType of this company.", 400, name)
        for name in ("PriceExclusive", "PriceInclusive", "LastCost"):
            if name in record:
                record[name] = Decimal(str(record[name]))
        record.setdefault("Active", True)

    # -- allocations ------------------------------------------------------------------------------

    def document(self, document_id: int) -> tuple[str, dict[str, Any]]:
        """(service, record) of a document or payment by its ID (IDs are unique in the company)."""
        for service in (*DOCUMENTS, *PAYMENTS):
            if document_id in self.records[service]:
                return service, self.records[service][document_id]
        raise RuleError(f"Document {document_id} was not found. Entities are bound to companies: make sure it "
                        "belongs to this company.", 404)

    def outstanding(self, service: str, record: dict[str, Any]) -> Decimal:
        """What is left to allocate: an invoice's AmountDue, a return's or payment's unallocated amount."""
        if service in PAYMENTS:
            return Decimal(record["TotalUnallocated"])
        return Decimal(record["AmountDue"])

    def allocate(self, source_id: int, target_id: int, total: Any, discount: Any = 0, *,
                 allocation_type: int | None = None) -> dict[str, Any]:
        """Set a receipt, payment or return against an invoice; refuses more than either has outstanding."""
        source_service, source = self.document(int(source_id))
        target_service, target = self.document(int(target_id))
        if ALLOCATES_TO.get(source_service) != target_service:
            raise RuleError(f"A {source_service} cannot be allocated to a {target_service}.", 400,
                            "AllocatedToDocumentId")
        party = DOCUMENTS[target_service].party
        if source[f"{party}Id"] != target[f"{party}Id"]:
            raise RuleError(f"Document {source_id} and document {target_id} belong to different "
                            f"{party.lower()}s.", 400, "AllocatedToDocumentId")
        amount, settlement = self.money(Decimal(str(total))), self.money(Decimal(str(discount or 0)))
        if amount <= 0 or settlement < 0:
            raise RuleError("Total must be more than 0 (and Discount not negative).", 400, "Total")
        if amount > self.outstanding(source_service, source):
            raise RuleError(f"Total {amount} is more than the {self.outstanding(source_service, source)} left to "
                            f"allocate on {source_service} {source_id}.", 400, "Total")
        if amount + settlement > target["AmountDue"]:
            raise RuleError(f"Total {amount + settlement} is more than the {target['AmountDue']} outstanding on "
                            f"{target_service} {target_id}.", 400, "Total")
        if source_service in PAYMENTS:
            source["TotalUnallocated"] = source["TotalUnallocated"] - amount
        else:
            source["AmountDue"] = source["AmountDue"] - amount
        target["AmountDue"] = target["AmountDue"] - amount - settlement
        self._status(target)
        for record in (source, target):
            record["_locked_reason"] = "it has allocations"
            record["Editable"] = False
            record["Modified"] = self.now().replace(tzinfo=None, microsecond=0)
        now = self.now().replace(tzinfo=None, microsecond=0)
        allocation = {"ID": self.next_id(), "SourceDocumentId": source["ID"], "AllocatedToDocumentId": target["ID"],
                      "DocumentHeaderId_Source": source["ID"], "DocumentHeaderId_Allocation": target["ID"],
                      "Total": amount, "Discount": settlement,
                      "Type": allocation_type if allocation_type is not None else 0,
                      "Created": now, "Modified": None}
        self.records["Allocation"][allocation["ID"]] = allocation
        return allocation

    def _allocate_from_payment(self, service: str, record: dict[str, Any], body: dict[str, Any]) -> None:
        for index, wanted in enumerate(body.get("Allocations") or []):
            try:
                self.allocate(record["ID"], int(wanted["ID"]), wanted["Amount"])
            except RuleError as exc:
                self._undo_payment(service, record["ID"])
                raise RuleError(f"Allocations[{index}]: {exc}", exc.status, f"Allocations[{index}]") from None
        party = PAYMENTS[service][0]
        owner = self.records[party][record[f"{party}Id"]]
        if not body.get("Allocations") and self.settings.auto_allocate and owner.get("AutoAllocateToOldestInvoice"):
            invoices = DOCUMENTS_BY_PARTY[party]
            open_ones = sorted((r for r in self.records[invoices].values()
                                if r[f"{party}Id"] == owner["ID"] and r["AmountDue"] > 0),
                               key=lambda r: (r["Date"], r["ID"]))
            for invoice in open_ones:
                left = record["TotalUnallocated"]
                if left <= 0:
                    break
                self.allocate(record["ID"], invoice["ID"], min(left, invoice["AmountDue"]))

    def _undo_payment(self, service: str, payment_id: int) -> None:
        for allocation in [a for a in self.records["Allocation"].values() if a["SourceDocumentId"] == payment_id]:
            self._unallocate(allocation)
        del self.records[service][payment_id]

    def _unallocate(self, allocation: dict[str, Any]) -> None:
        _, target = self.document(allocation["AllocatedToDocumentId"])
        target["AmountDue"] += allocation["Total"] + allocation["Discount"]
        self._status(target)
        source_service, source = self.document(allocation["SourceDocumentId"])
        if source_service in PAYMENTS:
            source["TotalUnallocated"] += allocation["Total"]
        else:
            source["AmountDue"] += allocation["Total"]
        del self.records["Allocation"][allocation["ID"]]

    @staticmethod
    def _status(invoice: dict[str, Any], *, void: bool = False) -> None:
        """An invoice's status from what is left to pay (T2's StatusId values: 1 unpaid, 2 part, 3 paid, 4 void)."""
        if void or invoice.get("StatusId") == 4:
            invoice.update(StatusId=4, Status="Void", Paid=False)
        elif invoice["AmountDue"] <= 0:
            invoice.update(StatusId=3, Status="Paid", Paid=True)
        elif invoice["AmountDue"] < invoice["Total"]:
            invoice.update(StatusId=2, Status="Partially Paid", Paid=False)
        else:
            invoice.update(StatusId=1, Status="Unpaid", Paid=False)

    # -- deleting -----------------------------------------------------------------------------------

    def delete(self, service: str, record_id: int) -> None:
        record = self.get(service, record_id)
        if service in PAYMENTS:
            for allocation in [a for a in self.records["Allocation"].values()
                               if a["SourceDocumentId"] == record_id]:
                self._unallocate(allocation)
        elif (service in ("Customer", "Supplier") and self._party_used(service, record_id)) \
                or (service in ("TaxType", "Item") and self._master_used(service, record_id)):
            # README §4 (S3, S4): delete only when nothing uses it, else 409 Conflict.
            raise RuleError(f"The {service} with ID {record_id} is in use and cannot be deleted.", 409)
        del self.records[service][record["ID"]]

    # -- derived values -----------------------------------------------------------------------------

    def _party_documents(self, party: str, party_id: int) -> Iterator[tuple[str, dict[str, Any]]]:
        for service in (*DOCUMENTS, *PAYMENTS):
            for record in self.records[service].values():
                if record.get(f"{party}Id") == party_id:
                    yield service, record

    def _party_used(self, party: str, party_id: int) -> bool:
        return any(True for _ in self._party_documents(party, party_id))

    def _balance(self, party: str, party_id: int) -> Decimal:
        balance = ZERO
        for service, record in self._party_documents(party, party_id):
            if service in DOCUMENTS and record.get("StatusId") != 4:
                balance += record["Total"] if DOCUMENTS[service].payable else -record["Total"]
            elif service in PAYMENTS:
                balance -= record["Total"]
        return balance

    def _master_used(self, service: str, record_id: int) -> bool:
        for kind in DOCUMENTS:
            for document in self.records[kind].values():
                for line in document["Lines"]:
                    if service == "TaxType" and line.get("TaxTypeId") == record_id:
                        return True
                    if service in ("Item", "Account") and line["SelectionId"] == record_id \
                            and line["LineType"] == (0 if service == "Item" else 1):
                        return True
        if service == "TaxType":
            return any(record_id in (i.get("TaxTypeIdSales"), i.get("TaxTypeIdPurchases"))
                       for i in self.records["Item"].values())
        return False

    # -- seeding ------------------------------------------------------------------------------------

    def add(self, service: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Store a record as the accountant keys it in (no API validation)."""
        record = {"ID": self.next_id(), **fields, "Created": self.now().replace(tzinfo=None, microsecond=0),
                  "Modified": None}
        self.records[service][record["ID"]] = record
        return record


DOCUMENTS_BY_PARTY = {"Customer": "TaxInvoice", "Supplier": "SupplierInvoice"}
SAVE_SERVICES = schema.SAVE_SERVICES

# Each region's tax types (Sage seeds a new company's; T8 looks ZA's "Standard Rate" up by name).
REGION_TAX_TYPES = {
    "ZA": (("Standard Rate", "15"), ("Zero Rated", "0"), ("Exempt", "0")),
    "AU": (("GST", "10"), ("GST Free", "0"), ("Input Taxed", "0")),
    "NZ": (("GST", "15"), ("Zero Rated", "0"), ("Exempt", "0")),
    "ASIA": (("Standard Rated", "9"), ("Zero Rated", "0"), ("Exempt", "0")),
}


def seed(books: Books) -> None:
    """A new company's tax types, accounts and bank account, plus two customers, a supplier and two items."""
    ids = books.seed_ids
    for key, (name, percent) in zip(("tax_standard", "tax_zero", "tax_exempt"), REGION_TAX_TYPES[books.region],
                                    strict=True):
        ids[key] = books.add("TaxType", {"Name": name, "Percentage": Decimal(percent),
                                          "IsDefault": key == "tax_standard", "IsManualTax": False,
                                          "Active": True})["ID"]
    for key, name, category in (("account_sales", "Sales", "Income"), ("account_services", "Services Income",
                                                                        "Income"),
                                ("account_purchases", "Purchases", "Cost of Sales"),
                                ("account_expenses", "Motor Vehicle Expenses", "Expenses")):
        ids[key] = books.add("Account", {"Name": name, "Category": {"ID": 0, "Description": category},
                                         "Active": True, "Description": name, "AccountType": 1,
                                         "DefaultTaxTypeId": ids["tax_standard"]})["ID"]
    ids["bank"] = books.add("BankAccount", {"Name": "Business Cheque Account", "BankName": "Sandbox Bank",
                                            "AccountNumber": "000111222", "Active": True, "Default": True,
                                            "PaymentMethod": 4})["ID"]
    ids["item_service"] = books.add("Item", {"Code": "SERVICE", "Description": "Standard service", "Active": True,
                                             "Physical": False, "PriceExclusive": Decimal("100.00"),
                                             "PriceInclusive": Decimal("115.00"), "LastCost": Decimal("0"),
                                             "TaxTypeIdSales": ids["tax_standard"],
                                             "TaxTypeIdPurchases": ids["tax_standard"]})["ID"]
    ids["item_part"] = books.add("Item", {"Code": "PART-001", "Description": "Brake pads", "Active": True,
                                          "Physical": True, "PriceExclusive": Decimal("45.50"),
                                          "PriceInclusive": Decimal("52.33"), "LastCost": Decimal("30.00"),
                                          "TaxTypeIdSales": ids["tax_standard"],
                                          "TaxTypeIdPurchases": ids["tax_standard"]})["ID"]
    ids["customer_acme"] = books.add("Customer", {"Name": "Acme Fleet Services", "Email": "accounts@acme.example",
                                                  "Active": True, "AutoAllocateToOldestInvoice": False})["ID"]
    ids["customer_brown"] = books.add("Customer", {"Name": "Brown & Daughters", "Email": "brown@example.com",
                                                   "Active": True, "AutoAllocateToOldestInvoice": False})["ID"]
    ids["supplier_parts"] = books.add("Supplier", {"Name": "Parts Wholesale", "Email": "sales@parts.example",
                                                   "Active": True, "AutoAllocateToOldestInvoice": False})["ID"]


__all__ = ["ALLOCATES_TO", "DOCUMENTS", "MASTER", "PAYMENTS", "REGION_TAX_TYPES", "Books", "RuleError", "Settings",
           "parse_date", "render_value", "seed"]
