"""One Sage 200 company's books in memory, and the rules Sage 200 applies when something is posted.

Posted transactions carry signed values on the customer account, as Sage 200 keeps them: invoices
and refunds (sales payments) positive, credit notes and receipts negative. An allocation moves
`document_allocated_value` and `document_outstanding_value` of every transaction in it, records an
allocation history item on each, and lists the other transactions of the session (by URN) in each
one's `allocation_session_items`; all of them get a new `date_time_updated`.

`products` follow stock.json's `product` (id, code, name, description, tax_code_id, product_group_id,
product_status_type, date_time_updated). That schema has no price: the sandbox keeps one per product
(`sales_price`, never served on `products`) and serves it as `selling_price` and `price` of
`product_views`, a list derived from the products as stock.json's `product_view` shapes it.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .odata import ODataError

CENT = Decimal("0.01")
INVOICE = "TradingAccountEntryTypeInvoice"
CREDIT_NOTE = "TradingAccountEntryTypeCreditNote"
RECEIPT = "TradingAccountEntryTypePurchasePaymentSalesReceipt"
SALES_PAYMENT = "TradingAccountEntryTypePurchaseReceiptSalesPayment"
# What each posting resource makes, and the sign its values carry on the account.
POSTINGS = {"sales_invoices": (INVOICE, 1), "sales_credit_notes": (CREDIT_NOTE, -1),
            "sales_receipts": (RECEIPT, -1), "sales_payments": (SALES_PAYMENT, 1),
            # On the supplier account: invoices positive (owed to the supplier), credit notes negative.
            "purchase_invoices": (INVOICE, 1), "purchase_credit_notes": (CREDIT_NOTE, -1)}


@dataclass(frozen=True)
class Ledger:
    """Where a ledger keeps its traders and their posted transactions (sales: customers; purchase:
    suppliers), named as purchases.json / sales.json name them."""

    traders: str
    trader_id: str
    posted: str
    what: str


SALES = Ledger("customers", "customer_id", "sales_posted_transactions", "customer")
PURCHASE = Ledger("suppliers", "supplier_id", "purchase_posted_transactions", "supplier")

TAX_CODES = [  # (id, code, name, rate)
    (1, 0, "Zero rated", "0.00"), (2, 1, "Standard rated", "20.00"), (3, 2, "Exempt", "0.00"),
    (4, 5, "Reduced rate", "5.00"), (5, 9, "Non-vatable", "0.00"),
]
NOMINAL_CODES = [  # (code, cost centre, department, name)
    ("4000", "", "", "Sales - labour"), ("4010", "", "", "Sales - parts"), ("4020", "", "", "Sales - fuel"),
    ("4100", "NTH", "WKS", "Sales - north workshop"), ("1100", "", "", "Debtors control"),
    ("1200", "", "", "Bank current account"), ("2200", "", "", "Sales tax control"),
]
PRODUCTS = [  # (code, name, price, tax code id)
    ("LAB-HOUR", "Labour, per hour", "65.00", 2), ("OIL-5W30", "Engine oil 5W-30, 1 litre", "9.99", 2),
    ("MOT-TEST", "MOT test", "54.85", 5),
]


class BusinessRuleError(Exception):
    """Sage 200 refuses the posting (answered 400 with `code`)."""

    def __init__(self, message: str, code: str = "BusinessRule") -> None:
        super().__init__(message)
        self.code = code


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _date_time(value: str | None, default: str) -> str:
    """A body's date-time as Sage 200 shows it back (the date at midnight, no offset)."""
    return f"{(value or default)[:10]}T00:00:00"


# ISO code, ISO numeric (the sandbox's currency_iso_codes id), name, symbol
CURRENCIES = (("GBP", 826, "Pound Sterling", "£"), ("EUR", 978, "Euro", "€"), ("USD", 840, "US Dollar", "$"))


class Books:
    # Lists served though not described by the shared specs (none since stock.json came).
    EXTRA_LISTS: frozenset[str] = frozenset()

    def __init__(self, company_id: str, name: str, clock: Any, *, base_currency: str = "GBP") -> None:
        self.company_id = company_id
        self.name = name
        self.clock = clock
        self.base_currency = base_currency
        self.collections: dict[str, dict[int, dict[str, Any]]] = {}
        self._ids = itertools.count(1001)
        self._urns = itertools.count(50001)
        # Each allocation session, as the desktop's Amend Allocation undoes it: (record, value, the
        # session items it added to that record). Not served: the API shows only the items.
        self._sessions: list[list[tuple[dict[str, Any], Decimal, list[dict[str, Any]]]]] = []
        self.seed_ids: dict[str, str] = {}
        self._seed()

    # ---- storage

    def now(self) -> str:
        return self.clock.now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _add(self, collection: str, record: dict[str, Any], *, record_id: int | None = None) -> dict[str, Any]:
        now = self.now()
        record = {"id": record_id if record_id is not None else next(self._ids), **record}
        record.setdefault("date_time_created", now)
        record.setdefault("date_time_updated", now)
        self.collections.setdefault(collection, {})[record["id"]] = record
        return record

    # Kept on records but not served (what the spec does not have).
    HIDDEN = {"products": frozenset({"sales_price"})}

    def _served(self, collection: str, record: dict[str, Any]) -> dict[str, Any]:
        hidden = self.HIDDEN.get(collection, frozenset())
        return {k: copy.deepcopy(v) for k, v in record.items() if k not in hidden}

    def rows(self, collection: str) -> list[dict[str, Any]]:
        if collection == "product_views":
            return [self._product_view(p) for p in self.collections.get("products", {}).values()]
        return [self._served(collection, r) for r in self.collections.get(collection, {}).values()]

    @staticmethod
    def _product_view(product: dict[str, Any]) -> dict[str, Any]:
        status = product.get("product_status_type", "Active")
        return {"id": product["id"], "code": product["code"], "name": product["name"],
                "description": product.get("description", ""), "status_type": status,
                "status_type_id": 0 if status == "Active" else 1,
                "selling_price": product.get("sales_price"), "price": product.get("sales_price")}

    def get(self, collection: str, record_id: str | int) -> dict[str, Any] | None:
        found = self.collections.get(collection, {}).get(int(record_id))
        return self._served(collection, found) if found is not None else None

    def set_base_currency(self, code: str) -> None:
        """The accountant picks another base currency (Sage 200 allows it before any transaction)."""
        isos = {r["code"]: r["id"] for r in self.collections["currency_iso_codes"].values()}
        if code not in isos:
            raise BusinessRuleError(f"{code} is not a currency of this company")
        for record in self.collections["currencies"].values():
            record["is_base_currency"] = record["currency_iso_code_id"] == isos[code]
            self._touch(record)
        self.base_currency = code

    def expand(self, collection: str, rows: list[dict[str, Any]], names: str) -> list[dict[str, Any]]:
        """OData `$expand`: a navigation property `x` of a record holding `x_id` is the record of
        `xs` with that id, inlined (None when it points nowhere)."""
        for name in (n.strip() for n in names.split(",") if n.strip()):
            target = name + "s"
            if target not in self.collections or (not any(name + "_id" in r for r in rows) and rows):
                raise ODataError(f"$expand: {collection} has no navigation property {name!r}")
            for row in rows:
                key = row.get(name + "_id")
                row[name] = self.get(target, key) if key is not None else None
        return rows

    def _touch(self, record: dict[str, Any]) -> None:
        record["date_time_updated"] = self.now()

    def _seed(self) -> None:
        for record_id, code, name, rate in TAX_CODES:
            self._add("tax_codes", {"code": code, "name": name, "tax_rate": money(rate), "terms": "",
                                    "terms_description": "", "is_notional_acquisition_tax": False},
                      record_id=record_id)
            self.seed_ids[f"T{code}"] = str(record_id)
        for code, cost_centre, department, name in NOMINAL_CODES:
            self._add("nominal_codes", {"reference": code, "cost_centre_code": cost_centre,
                                        "department_code": department, "name": name, "report_category_id": 1})
        bank = self._add("banks", {"code": "1200", "description": "Current Account", "sort_code": "40-11-62",
                                   "account_no": "12345678", "balance": money(0)})
        self.seed_ids["bank"] = str(bank["id"])
        # As the specs shape them: a currency points at its ISO code record (`currency_iso_code_id`,
        # `currency_iso_code` when expanded); exactly one is the base currency, listed first.
        others = [c for c in CURRENCIES if c[0] != self.base_currency]
        base = next((c for c in CURRENCIES if c[0] == self.base_currency), (self.base_currency, 0, self.base_currency,
                                                                            self.base_currency))
        for number, (code, iso_id, name, symbol) in enumerate([base, *others], start=1):
            iso_id = iso_id or 1000 + number
            self._add("currency_iso_codes", {"code": code, "name": name}, record_id=iso_id)
            self._add("currencies", {"symbol": symbol, "name": name, "is_base_currency": number == 1,
                                     "currency_iso_code_id": iso_id}, record_id=number)
        for code, name, price, tax in PRODUCTS:
            product = self._add("products", {"code": code, "name": name, "description": name,
                                             "sales_price": money(price), "tax_code_id": tax,
                                             "product_group_id": 1, "product_status_type": "Active"})
            self.seed_ids[code] = str(product["id"])
        for reference, name in (("ACME001", "Acme Fleet Services Ltd"), ("BROWN01", "Brown & Daughters")):
            customer = self._customer({"reference": reference, "name": name})
            self.seed_ids[reference] = str(customer["id"])
        # Purchase ledger accounts and a supplier, seeded last so the ids above stay as they were.
        for code, name in (("5000", "Purchases - parts"), ("5010", "Purchases - subcontract"),
                           ("2100", "Creditors control")):
            self._add("nominal_codes", {"reference": code, "cost_centre_code": "", "department_code": "",
                                        "name": name, "report_category_id": 1})
        supplier = self._trader(PURCHASE, {"reference": "PARTCO01", "name": "Parts Co Wholesale Ltd"})
        self.seed_ids["PARTCO01"] = str(supplier["id"])

    # ---- posting

    def post(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        if resource == "customers":
            return self._customer(body)
        if resource == "suppliers":
            return self._trader(PURCHASE, body)
        if resource in ("sales_invoices", "sales_credit_notes"):
            return self._document(resource, body)
        if resource in ("purchase_invoices", "purchase_credit_notes"):
            return self._document(resource, body, PURCHASE)
        if resource in ("sales_receipts", "sales_payments"):
            return self._payment(resource, body)
        if resource == "sales_allocations":
            return self._allocate(body)
        raise BusinessRuleError(f"the sandbox does not post {resource}", "NotSupported")

    # Set by Sage 200, never by a PUT body.
    READ_ONLY = frozenset({"id", "balance", "date_time_created", "date_time_updated", "contacts"})

    def put(self, resource: str, record_id: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Update a record (the sandbox updates customers and suppliers only). Properties sent replace
        the stored ones; a nested main_address replaces the address lines it names. None: no such record."""
        if resource not in ("customers", "suppliers"):
            raise BusinessRuleError(f"the sandbox does not update {resource}", "NotSupported")
        what = "customer" if resource == "customers" else "supplier"
        customer = self.collections.get(resource, {}).get(int(record_id))
        if customer is None:
            return None
        reference = str(body["reference"]).upper()
        if any(c["reference"] == reference and c is not customer for c in self.collections[resource].values()):
            raise BusinessRuleError(f"A {what} with the reference {reference} already exists.", "DuplicateReference")
        for key, value in body.items():
            if key in self.READ_ONLY:
                continue
            if key == "main_address" and isinstance(value, dict):
                address = dict(customer.get("main_address") or {"id": customer["id"], f"{what}_id": customer["id"]})
                address.update({k: v for k, v in value.items() if k not in ("id", f"{what}_id")})
                customer["main_address"] = address
            else:
                customer[key] = value
        customer["reference"] = reference
        self._touch(customer)
        return copy.deepcopy(customer)

    def _customer(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._trader(SALES, body)

    def _trader(self, ledger: Ledger, body: dict[str, Any]) -> dict[str, Any]:
        """A customer or a supplier, with its contacts and their emails (`<what>_contacts`,
        `<what>_emails`, as sales.json and purchases.json list them)."""
        what = ledger.what
        reference = str(body["reference"]).upper()
        if any(c["reference"] == reference for c in self.collections.get(ledger.traders, {}).values()):
            raise BusinessRuleError(f"A {what} with the reference {reference} already exists.", "DuplicateReference")
        contacts = body.get("contacts") or []
        record = {k: v for k, v in body.items() if k != "contacts"}
        record.update({"reference": reference, "short_name": body.get("short_name") or reference,
                       "balance": money(0), "on_hold": False, "currency_id": 1, "default_tax_code_id": 2,
                       "account_status_type": "AccountStatusActive"})
        customer = self._add(ledger.traders, record)
        if "main_address" in body:
            customer["main_address"] = {"id": customer["id"], ledger.trader_id: customer["id"], **body["main_address"]}
        for person in contacts:
            contact = self._add(f"{what}_contacts", {
                ledger.trader_id: customer["id"], "first_name": person.get("first_name"),
                "name": " ".join(p for p in (person.get("first_name"), person.get("last_name")) if p),
            })
            for email in person.get("emails") or []:
                self._add(f"{what}_emails", {"email": email["email"], f"{what}_contact_id": contact["id"],
                                             "is_default": bool(email.get("is_default"))})
        return copy.deepcopy(customer)

    def _customer_of(self, body: dict[str, Any], ledger: Ledger = SALES) -> dict[str, Any]:
        customer = self.collections.get(ledger.traders, {}).get(int(body[ledger.trader_id]))
        if customer is None:
            raise BusinessRuleError(f"The {ledger.what} {body[ledger.trader_id]} does not exist.",
                                    f"{ledger.what.title()}NotFound")
        return customer

    def _document(self, resource: str, body: dict[str, Any], ledger: Ledger = SALES) -> dict[str, Any]:
        """A sales or purchase invoice or credit note, posted as a transaction on the trader's account
        after Sage 200's checks: every analysis adds up to the header, to the penny."""
        customer = self._customer_of(body, ledger)
        kind, sign = POSTINGS[resource]
        goods = money(body.get("document_goods_value", 0))
        tax = money(body.get("document_tax_value", 0))
        tax_items = body.get("tax_analysis_items") or [
            {"id": customer["default_tax_code_id"], "goods_amount": goods, "tax_amount": tax}]
        default_nominal = "4000" if ledger is SALES else "5000"
        nominal_items = body.get("nominal_analysis_items") or [{"code": default_nominal, "value": goods}]
        rendered_tax = []
        for item in tax_items:
            code = self.collections["tax_codes"].get(int(item["id"]))
            if code is None:
                raise BusinessRuleError(f"The tax code {item['id']} does not exist.", "TaxCodeNotFound")
            rendered_tax.append({"id": code["id"], "code": code["code"], "name": code["name"],
                                 "goods_amount": sign * money(item.get("goods_amount", goods)),
                                 "tax_amount": sign * money(item.get("tax_amount", tax)),
                                 "tax_discount_amount": money(0)})
        rendered_nominal = []
        for item in nominal_items:
            key = (item["code"], item.get("cost_centre", ""), item.get("department", ""))
            account = next((n for n in self.collections["nominal_codes"].values()
                            if (n["reference"], n["cost_centre_code"], n["department_code"]) == key), None)
            if account is None:
                raise BusinessRuleError(f"The nominal account {'/'.join(k for k in key if k)} does not exist.",
                                        "NominalCodeNotFound")
            rendered_nominal.append({"code": key[0], "cost_centre": key[1], "department": key[2],
                                     "name": account["name"], "narrative": item.get("narrative", ""),
                                     "value": sign * money(item.get("value", goods)),
                                     "base_value": sign * money(item.get("value", goods))})
        # Sage 200's own check: every analysis adds up to the header, to the penny.
        if sum((abs(i["goods_amount"]) for i in rendered_tax), Decimal(0)) != goods:
            raise BusinessRuleError("The tax analysis goods amounts do not add up to the document goods value.",
                                    "AnalysisMismatch")
        if sum((abs(i["tax_amount"]) for i in rendered_tax), Decimal(0)) != tax:
            raise BusinessRuleError("The tax analysis tax amounts do not add up to the document tax value.",
                                    "AnalysisMismatch")
        if sum((abs(i["value"]) for i in rendered_nominal), Decimal(0)) != goods:
            raise BusinessRuleError("The nominal analysis values do not add up to the document goods value.",
                                    "AnalysisMismatch")
        gross = goods + tax
        today = self.clock.now().date().isoformat()
        return self._posted(customer, kind, body, ledger=ledger, values={
            "document_goods_value": sign * goods, "document_tax_value": sign * tax,
            "document_gross_value": sign * gross, "document_outstanding_value": sign * gross,
            "due_date": _date_time(body.get("due_date"), body.get("transaction_date") or today),
            "tax_analysis_items": rendered_tax, "nominal_analysis_items": rendered_nominal,
        })

    def _payment(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        customer = self._customer_of(body)
        if int(body["bank_id"]) not in self.collections["banks"]:
            raise BusinessRuleError(f"The bank {body['bank_id']} does not exist.", "BankNotFound")
        value = money(body["cheque_value"])
        if value <= 0:
            raise BusinessRuleError("The value must be more than zero.", "InvalidValue")
        kind, sign = POSTINGS[resource]
        return self._posted(customer, kind, body, values={
            "document_goods_value": sign * value, "document_tax_value": money(0),
            "document_gross_value": sign * value, "document_outstanding_value": sign * value,
            "due_date": None,
        })

    def _posted(self, customer: dict[str, Any], kind: str, body: dict[str, Any], *,
                values: dict[str, Any], ledger: Ledger = SALES) -> dict[str, Any]:
        urn = next(self._urns)
        today = self.clock.now().date().isoformat()
        record = {
            ledger.trader_id: customer["id"], "trader_transaction_type": kind,
            "reference": body.get("reference", ""), "second_reference": body.get("second_reference", ""),
            "queried": "", "transaction_date": _date_time(body.get("transaction_date"), today),
            "posted_date": _date_time(None, today), "full_settlement_date": None,
            "document_discount_value": money(0), "discount_percent": money(0),
            "document_tax_discount_value": money(0), "document_allocated_value": money(0),
            "exchange_rate": Decimal("1.000000"), "settled_immediately": False, "discount_days": 0,
            "urn": urn, "user_name": "sage.bridge", "bank_items": [], "allocation_session_items": [],
            "allocation_history_items": [], **values,
        }
        for base, doc in (("base_goods_value", "document_goods_value"), ("base_gross_value", "document_gross_value"),
                          ("base_tax_value", "document_tax_value"), ("base_allocated_value",
                                                                      "document_allocated_value")):
            record[base] = record[doc]
        # Sage 200 leaves out what has no value (no due date on a receipt, not settled yet).
        if ledger is PURCHASE:  # purchases.json's purchase_posted_transaction has these two as well
            record.update({"vat_adjustment_doc_expected": bool(body.get("vat_adjustment_doc_expected", False)),
                           "control_value_in_base_currency": record["document_gross_value"]})
        self._add(ledger.posted, {k: v for k, v in record.items() if v is not None})
        customer["balance"] = money(customer["balance"] + record["document_gross_value"])
        self._touch(customer)
        return {"urn": str(urn)}

    def _allocate(self, body: dict[str, Any]) -> dict[str, Any]:
        customer = self._customer_of(body)
        posted = self.collections.get("sales_posted_transactions", {})
        lines = body["allocation_lines"]
        if len(lines) < 2:
            raise BusinessRuleError("An allocation needs at least two transactions.", "AllocationInvalid")
        entries = []
        for line in lines:
            record = posted.get(int(line["posted_tran_id"]))
            if record is None or record["customer_id"] != customer["id"]:
                raise BusinessRuleError(f"The transaction {line['posted_tran_id']} is not on this customer's account.",
                                        "AllocationInvalid")
            value = money(line["value_to_allocate"])
            outstanding = record["document_outstanding_value"]
            if value == 0 or (value > 0) != (outstanding > 0) or abs(value) > abs(outstanding):
                raise BusinessRuleError(f"The transaction {record['reference']} has {outstanding} outstanding; "
                                        f"{value} cannot be allocated against it.", "AllocationInvalid")
            entries.append((record, value))
        if sum((v for _, v in entries), Decimal(0)) != 0:
            raise BusinessRuleError("The allocation lines must add up to zero.", "AllocationInvalid")
        if len({r["id"] for r, _ in entries}) != len(entries):
            raise BusinessRuleError("A transaction appears twice in the allocation.", "AllocationInvalid")
        when = _date_time(body.get("allocation_date"), self.clock.now().date().isoformat())
        now = self.now()
        session: list[tuple[dict[str, Any], Decimal, list[dict[str, Any]]]] = []
        for record, value in entries:
            added: list[dict[str, Any]] = []
            session.append((record, value, added))
            record["document_outstanding_value"] = money(record["document_outstanding_value"] - value)
            record["document_allocated_value"] = money(record["document_allocated_value"] + value)
            record["base_allocated_value"] = record["document_allocated_value"]
            if record["document_outstanding_value"] == 0:
                record["full_settlement_date"] = when
            record["allocation_history_items"].append({
                "id": next(self._ids), "trading_revaluation_allocation_entry_type": "AllocationEntryTypeAllocation",
                "entry_date": when, "allocation_value": value, "nominal_updated": True,
                "exchange_rate": Decimal("1.000000"), "exchange_gain_loss": money(0),
                "date_time_created": now, "date_time_updated": now,
            })
            for other, other_value in entries:
                if other is record:
                    continue
                added.append({
                    "user_name": "sage.bridge", "ledger_type": "LedgerTypeSales", "urn": other["urn"],
                    "allocation_date": when, "trader_transaction_type": other["trader_transaction_type"],
                    "reference": other["reference"], "value": other["document_gross_value"],
                    "allocation_value": other_value,
                })
            record["allocation_session_items"].extend(added)
            self._touch(record)
        self._sessions.append(session)
        return copy.deepcopy(body)

    # ---- what only the desktop does (the API has no operation for either)

    def unallocate(self, record_id: str | int) -> None:
        """Amend Allocation: every allocation session the sales transaction took part in is undone.
        Each transaction of those sessions gets its allocated value back as outstanding, loses the
        session items the allocation listed, gets an allocation history item of the opposite value
        and a new `date_time_updated`."""
        record = self.collections.get("sales_posted_transactions", {}).get(int(record_id))
        if record is None:
            raise BusinessRuleError(f"The transaction {record_id} does not exist.", "TransactionNotFound")
        undone = [s for s in self._sessions if any(r is record for r, _, _ in s)]
        if not undone:
            raise BusinessRuleError(f"The transaction {record['reference']} is not allocated.", "NotAllocated")
        when, now = _date_time(None, self.clock.now().date().isoformat()), self.now()
        for session in undone:
            self._sessions.remove(session)
            for other, value, added in session:
                other["document_outstanding_value"] = money(other["document_outstanding_value"] + value)
                other["document_allocated_value"] = money(other["document_allocated_value"] - value)
                other["base_allocated_value"] = other["document_allocated_value"]
                other.pop("full_settlement_date", None)
                other["allocation_session_items"] = [i for i in other["allocation_session_items"]
                                                     if not any(i is a for a in added)]
                other["allocation_history_items"].append({
                    "id": next(self._ids), "trading_revaluation_allocation_entry_type": "AllocationEntryTypeAllocation",
                    "entry_date": when, "allocation_value": -value, "nominal_updated": True,
                    "exchange_rate": Decimal("1.000000"), "exchange_gain_loss": money(0),
                    "date_time_created": now, "date_time_updated": now,
                })
                self._touch(other)

    # What Correct Transactions > Reverse posts against each kind of sales transaction.
    _OPPOSITE = {INVOICE: "sales_credit_notes", CREDIT_NOTE: "sales_invoices", RECEIPT: "sales_payments",
                 SALES_PAYMENT: "sales_receipts"}

    def reverse(self, record_id: str | int) -> dict[str, Any]:
        """Correct Transactions > Reverse: posts the opposite transaction (a refund for a receipt, a
        credit note for an invoice...) with the same values and reference, and allocates the two to
        each other. Refused while the transaction is allocated (Amend Allocation first)."""
        record = self.collections.get("sales_posted_transactions", {}).get(int(record_id))
        if record is None:
            raise BusinessRuleError(f"The transaction {record_id} does not exist.", "TransactionNotFound")
        if record["document_allocated_value"] != 0:
            raise BusinessRuleError(f"The transaction {record['reference']} is allocated; remove its allocation "
                                    "first.", "TransactionAllocated")
        resource = self._OPPOSITE[record["trader_transaction_type"]]
        body: dict[str, Any] = {"customer_id": record["customer_id"], "reference": record["reference"],
                                "transaction_date": record["transaction_date"]}
        if resource in ("sales_receipts", "sales_payments"):
            body.update({"bank_id": int(self.seed_ids["bank"]), "cheque_value": abs(record["document_gross_value"])})
        else:
            body.update({
                "document_goods_value": abs(record["document_goods_value"]),
                "document_tax_value": abs(record["document_tax_value"]),
                "tax_analysis_items": [{"id": i["id"], "goods_amount": abs(i["goods_amount"]),
                                        "tax_amount": abs(i["tax_amount"])} for i in record["tax_analysis_items"]],
                "nominal_analysis_items": [{k: v for k, v in (("code", i["code"]), ("cost_centre", i["cost_centre"]),
                                                              ("department", i["department"]),
                                                              ("value", abs(i["value"]))) if v != ""}
                                           for i in record["nominal_analysis_items"]]})
        urn = int(self.post(resource, body)["urn"])
        opposite = next(r for r in self.collections["sales_posted_transactions"].values() if r["urn"] == urn)
        value = record["document_outstanding_value"]
        self._allocate({"customer_id": record["customer_id"], "allocation_lines": [
            {"posted_tran_id": record["id"], "value_to_allocate": value},
            {"posted_tran_id": opposite["id"], "value_to_allocate": -value}]})
        return copy.deepcopy(opposite)


__all__ = ["CREDIT_NOTE", "INVOICE", "POSTINGS", "PURCHASE", "RECEIPT", "SALES", "SALES_PAYMENT", "Books",
           "BusinessRuleError", "Ledger", "money"]
