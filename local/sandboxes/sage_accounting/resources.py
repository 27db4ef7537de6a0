"""What each v3.1 resource does on create/read/update/list/delete, the way Sage does it.

Every function here runs under the sandbox lock and works on one ``Business``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from . import spec
from .money import ZERO, close_enough, money, to_decimal
from .store import Business, Collection, Record

# collection -> (body wrapper key, response definition)
RESOURCES: dict[str, tuple[str, str]] = {
    "contacts": ("contact", "Contact"),
    "sales_invoices": ("sales_invoice", "SalesInvoice"),
    "sales_credit_notes": ("sales_credit_note", "SalesCreditNote"),
    "purchase_invoices": ("purchase_invoice", "PurchaseInvoice"),
    "purchase_credit_notes": ("purchase_credit_note", "PurchaseCreditNote"),
    "contact_payments": ("contact_payment", "ContactPayment"),
    "contact_allocations": ("contact_allocation", "ContactAllocation"),
    "tax_rates": ("tax_rate", "TaxRate"),
    "ledger_accounts": ("ledger_account", "LedgerAccount"),
    "bank_accounts": ("bank_account", "BankAccount"),
    "products": ("product", "Product"),
    "services": ("service", "Service"),
    "artefact_statuses": ("artefact_status", "Base"),
}

# Sales/purchase documents: lines key, transaction type, contact type, number series.
ARTEFACTS: dict[str, dict[str, str]] = {
    "sales_invoices": {"lines": "invoice_lines", "type": "SALES_INVOICE", "contact": "CUSTOMER",
                       "prefix": "SI-", "number": "invoice_number", "side": "sales", "sign": "+"},
    "sales_credit_notes": {"lines": "credit_note_lines", "type": "SALES_CREDIT_NOTE", "contact": "CUSTOMER",
                           "prefix": "SCN-", "number": "credit_note_number", "side": "sales", "sign": "-"},
    "purchase_invoices": {"lines": "invoice_lines", "type": "PURCHASE_INVOICE", "contact": "VENDOR",
                          "prefix": "PI-", "number": "", "side": "purchase", "sign": "+"},
    "purchase_credit_notes": {"lines": "credit_note_lines", "type": "PURCHASE_CREDIT_NOTE", "contact": "VENDOR",
                              "prefix": "PCN-", "number": "", "side": "purchase", "sign": "-"},
}

# What a payment of each type may be allocated to: collection -> sign of the allocated amount.
PAYMENT_TARGETS: dict[str, dict[str, int]] = {
    "CUSTOMER_RECEIPT": {"sales_invoices": 1, "sales_credit_notes": -1},
    "CUSTOMER_REFUND": {"sales_credit_notes": 1},
    "VENDOR_PAYMENT": {"purchase_invoices": 1, "purchase_credit_notes": -1},
    "VENDOR_REFUND": {"purchase_credit_notes": 1},
}
ALLOCATION_TARGETS: dict[str, dict[str, int]] = {
    "CUSTOMER_ALLOCATION": {"sales_invoices": 1, "sales_credit_notes": -1},
    "VENDOR_ALLOCATION": {"purchase_invoices": 1, "purchase_credit_notes": -1},
}
PAYMENT_CONTACT_TYPE = {"CUSTOMER_RECEIPT": "CUSTOMER", "CUSTOMER_REFUND": "CUSTOMER",
                        "VENDOR_PAYMENT": "VENDOR", "VENDOR_REFUND": "VENDOR",
                        "CUSTOMER_ALLOCATION": "CUSTOMER", "VENDOR_ALLOCATION": "VENDOR"}

STATUSES = {"DRAFT": "Draft", "UNPAID": "Unpaid", "PART_PAID": "Part Paid", "PAID": "Paid",
            "VOID": "Void", "DISPUTED": "Disputed"}
CONTACT_TYPES = {"CUSTOMER": "Customer", "VENDOR": "Supplier"}
BASE_CURRENCY = "GBP"  # a new business's, unless the sandbox is told otherwise (Business.base_currency)
CURRENCY_NAMES = {"GBP": "Pound Sterling", "EUR": "Euro", "USD": "US Dollar", "CAD": "Canadian Dollar"}
DEFAULT_CREDIT_DAYS = 30

# "<x>_id" attributes that point at records the business holds (checked: 422 if missing).
_LINK_TARGETS = (
    ("ledger_account", "ledger_accounts"),
    ("tax_rate", "tax_rates"),
    ("bank_account", "bank_accounts"),
    ("usual_supplier", "contacts"),
    ("contact", "contacts"),
    ("product", "products"),
    ("service", "services"),
)

# Attributes the client may not set (Sage computes them).
_COMPUTED = {"id", "displayed_as", "$path", "created_at", "updated_at", "deleted_at", "status",
             "outstanding_amount", "total_paid", "payments_allocations", "balance"}


class ApiError(Exception):
    """An error response in Sage's shape: ``[{"$severity","$dataCode","$message","$source"}]``."""

    DATA_CODES = {400: "BadRequest", 401: "Unauthorized", 403: "MultiUserAccessDenied", 404: "RecordNotFound",
                  405: "MethodNotAllowed", 422: "RecordInvalid", 429: "TooManyRequests",
                  500: "UnexpectedError", 503: "ServiceUnavailable"}

    def __init__(self, status: int, message: str, source: str = "", data_code: str | None = None,
                 errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors or [{
            "$severity": "error",
            "$dataCode": data_code or self.DATA_CODES.get(status, "Error"),
            "$message": message,
            "$source": source,
        }]


def invalid(message: str, source: str = "") -> ApiError:
    return ApiError(422, message, source)


def new_id() -> str:
    return uuid.uuid4().hex


def link(collection: str, record_id: str, displayed_as: str) -> dict[str, Any]:
    return {"id": record_id, "displayed_as": displayed_as, "$path": f"/{collection}/{record_id}"}


def record_link(collection: str, record: Record) -> dict[str, Any]:
    return link(collection, record.id, record.data.get("displayed_as") or record.id)


def currency_link(code: str) -> dict[str, Any]:
    """A currency as Sage links it: the ISO code is the id."""
    return static_link("currencies", code, f"{CURRENCY_NAMES.get(code, code)} ({code})")


def static_link(kind: str, value: str, displayed_as: str | None = None) -> dict[str, Any]:
    return {"id": value, "displayed_as": displayed_as or value.replace("_", " ").title(), "$path": f"/{kind}/{value}"}


def _parse_date(value: Any, source: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise invalid(f"{source} is not a valid date", source) from exc


def parse_timestamp(value: str, source: str) -> dt.datetime:
    """Sage's filters take a date or a date-time with Z/offset."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace(" ", "+").replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, f"{source} is not a valid date-time", source) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class Resources:
    """The business rules; ``now`` is the sandbox clock."""

    def __init__(self, now: Callable[[], dt.datetime]) -> None:
        self.now = now

    # -- generic mapping from a request body to Sage's response shape ---------------------------

    def lookup(self, biz: Business, collection: str, record_id: Any, source: str) -> Record:
        record = biz.collections[collection].get(str(record_id)) if isinstance(record_id, str) else None
        if record is None:
            raise invalid(f"{source} {record_id!r} does not exist", source)
        return record

    def _link_for(self, biz: Business, stem: str, value: Any, source: str) -> dict[str, Any]:
        if not isinstance(value, str) or not value:
            raise invalid(f"{source} must be an id", source)
        if stem == "currency":
            # Seeded businesses have no multi-currency subscription: Sage refuses other currencies.
            if value != biz.base_currency:
                raise invalid(f"currency {value} is not enabled for this business", source)
            return currency_link(value)
        for suffix, collection in _LINK_TARGETS:
            if stem == suffix or stem.endswith("_" + suffix):
                return record_link(collection, self.lookup(biz, collection, value, source))
        if stem == "contact_type":
            if value not in CONTACT_TYPES:
                raise invalid(f"contact type {value!r} does not exist", source)
            return static_link("contact_types", value, CONTACT_TYPES[value])
        return static_link(stem + "s", value)

    def map_attributes(self, biz: Business, definition: str, body: dict[str, Any]) -> dict[str, Any]:
        """``{"tax_rate_id": "GB_STANDARD"}`` -> ``{"tax_rate": {"id", "displayed_as", "$path"}}``."""
        props = {name: spec.property_schema(definition, name) or {} for name in spec.response_properties(definition)}
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key == spec.IDEMPOTENCY_FIELD or key in _COMPUTED:
                continue
            if key.endswith("_ids") and key[:-4] + "s" in props and isinstance(value, list):
                stem = key[:-4]
                out[stem + "s"] = [self._link_for(biz, stem, item, key) for item in value]
            elif key.endswith("_id") and key[:-3] in props:
                out[key[:-3]] = None if value is None else self._link_for(biz, key[:-3], value, key)
            elif key in props:
                schema = props[key]
                ref = (schema.get("$ref") or (schema.get("items") or {}).get("$ref") or "").rsplit("/", 1)[-1]
                if ref and isinstance(value, dict):
                    out[key] = self.map_attributes(biz, ref, value)
                elif ref and isinstance(value, list) and all(isinstance(v, dict) for v in value):
                    out[key] = [self.map_attributes(biz, ref, v) for v in value]
                elif schema.get("type") == "number" and value is not None:
                    out[key] = to_decimal(value)
                else:
                    out[key] = value
        return out

    # -- create ---------------------------------------------------------------------------------

    def create(self, biz: Business, collection: str, body: dict[str, Any]) -> Record:
        now = self.now()
        handler = {
            "contacts": self._contact_attributes,
            "contact_payments": self._payment_attributes,
            "contact_allocations": self._allocation_attributes,
        }.get(collection)
        if collection in ARTEFACTS:
            data, extra = self._artefact_attributes(biz, collection, body, None)
        elif handler is not None:
            data, extra = handler(biz, body, None)
        else:
            data, extra = self._simple_attributes(biz, collection, body, None)
        record = Record(id=new_id(), data=data, created_at=now, updated_at=now)
        data["id"] = record.id
        data["$path"] = f"/{collection}/{record.id}"
        self._finish(biz, collection, record, extra, creating=True)
        biz.collections[collection].add(record)
        if collection in ("contact_payments", "contact_allocations"):
            self._apply_allocations(biz, collection, record, extra["allocations"])
        return record

    def update(self, biz: Business, collection: str, record: Record, body: dict[str, Any]) -> Record:
        if collection in ARTEFACTS:
            data, extra = self._artefact_attributes(biz, collection, body, record)
        elif collection == "contacts":
            data, extra = self._contact_attributes(biz, body, record)
        elif collection in ("contact_payments", "contact_allocations"):
            return self._update_allocating(biz, collection, record, body)
        else:
            data, extra = self._simple_attributes(biz, collection, body, record)
        record.data.update(data)
        self._finish(biz, collection, record, extra, creating=False)
        biz.collections[collection].touch(record, self.now())
        return record

    def _finish(self, biz: Business, collection: str, record: Record, extra: dict[str, Any], *, creating: bool) -> None:
        data = record.data
        if collection in ARTEFACTS:
            if creating:
                meta = ARTEFACTS[collection]
                number = f"{meta['prefix']}{biz.next_number(collection)}"
                if meta["number"]:
                    data[meta["number"]] = number
                    data["displayed_as"] = number
                else:
                    data["displayed_as"] = data.get("vendor_reference") or data.get("reference") or number
                data.setdefault("status", static_link("artefact_statuses", "UNPAID", STATUSES["UNPAID"]))
            self.refresh_artefact(record)
            text = " ".join(str(data.get(k) or "") for k in ("reference", "contact_name", "invoice_number",
                                                             "credit_note_number", "vendor_reference"))
            contact_id = data["contact"]["id"]
        elif collection == "contacts":
            data["displayed_as"] = f"{data['name']} ({data['reference']})" if data.get("reference") else data["name"]
            text = f"{data.get('name') or ''} {data.get('reference') or ''}"
            contact_id = None
        elif collection in ("contact_payments", "contact_allocations"):
            data["displayed_as"] = data.get("reference") or str(data.get("date"))
            text = str(data.get("reference") or "")
            contact_id = data["contact"]["id"]
        else:
            data.setdefault("displayed_as", str(data.get("name") or data.get("description") or data.get("item_code")
                                                or (data.get("bank_account_details") or {}).get("account_name") or ""))
            text = " ".join(str(data.get(k) or "") for k in ("name", "display_name", "item_code", "description"))
            contact_id = None
        if creating:
            record.search_text = text.lower()
            record.contact_id = contact_id
            record.date = data.get("date") if isinstance(data.get("date"), dt.date) else None
        else:
            biz.collections[collection].reindex(record, text.lower(), contact_id)
            record.date = data.get("date") if isinstance(data.get("date"), dt.date) else None

    # -- contacts ---------------------------------------------------------------------------------

    def _contact_attributes(self, biz: Business, body: dict[str, Any], record: Record | None):
        data = self.map_attributes(biz, "Contact", body)
        reference = data.get("reference")
        if reference:
            # Sage keeps contact references unique per business.
            for other in biz.collections["contacts"].ids_matching(str(reference)):
                found = biz.collections["contacts"].records[other]
                if found is not record and str(found.data.get("reference") or "").lower() == str(reference).lower():
                    raise invalid("Reference has already been taken", "reference")
        if record is None:
            if not data.get("contact_types"):
                raise invalid("contact_type_ids can't be blank", "contact_type_ids")
            data.setdefault("currency", currency_link(biz.base_currency))
            data.setdefault("credit_days", DEFAULT_CREDIT_DAYS)
            data.update({"deletable": True, "system": False, "is_active": True, "gb_based": True,
                         "ni_based": False, "gdpr_obfuscated": False, "links": []})
        person = data.get("main_contact_person") or {}
        if "email" in person:
            data["email"] = person["email"]
        return data, {}

    # -- simple resources (tax rates, ledger/bank accounts, products, services) --------------------

    def _simple_attributes(self, biz: Business, collection: str, body: dict[str, Any], record: Record | None):
        definition = RESOURCES[collection][1]
        data = self.map_attributes(biz, definition, body)
        unique = {"products": "item_code", "services": "item_code", "ledger_accounts": "nominal_code"}.get(collection)
        if unique and data.get(unique) not in (None, ""):
            for other in biz.collections[collection].records.values():
                if other is not record and other.data.get(unique) == data[unique]:
                    raise invalid(f"{unique} has already been taken", unique)
        if record is None:
            if collection in ("products", "services"):
                data.setdefault("active", True)
                data.update({"deletable": True, "deactivatable": True, "used_on_recurring_invoice": False})
            if collection == "tax_rates":
                data.setdefault("percentage", ZERO)
                data.update({"editable": True, "deletable": True, "is_visible": True, "is_combined_rate": False})
            if collection == "bank_accounts":
                data.update({"editable": True, "deletable": True, "is_active": True, "balance": ZERO,
                             "currency": currency_link(biz.base_currency)})
        elif record.data.get("editable") is False and collection == "tax_rates":
            raise invalid("This tax rate cannot be edited", "tax_rate")
        return data, {}

    # -- sales and purchase documents ---------------------------------------------------------------

    def _artefact_attributes(self, biz: Business, collection: str, body: dict[str, Any], record: Record | None):
        meta = ARTEFACTS[collection]
        definition = RESOURCES[collection][1]
        if record is not None and record.data["status"]["id"] == "VOID":
            raise invalid("A void document cannot be edited", "status")
        raw_lines = body.get(meta["lines"])
        data = self.map_attributes(biz, definition, {k: v for k, v in body.items() if k != meta["lines"]})
        contact_link = data.get("contact") or (record.data["contact"] if record else None)
        if contact_link is None:
            raise invalid("contact_id can't be blank", "contact_id")
        contact = self.lookup(biz, "contacts", contact_link["id"], "contact_id")
        contact_types = {t["id"] for t in contact.data.get("contact_types") or []}
        if meta["contact"] not in contact_types:
            raise invalid(f"The contact is not a {CONTACT_TYPES[meta['contact']].lower()}", "contact_id")
        if record is not None and record.data["contact"]["id"] != contact.id and self._allocations_of(record):
            raise invalid("The contact cannot be changed once payments are allocated", "contact_id")
        data["contact"] = record_link("contacts", contact)
        data.setdefault("contact_name", contact.data.get("name"))
        data.setdefault("contact_reference", contact.data.get("reference"))
        if "date" in body or record is None:
            data["date"] = _parse_date(body.get("date"), "date")
        doc_date = data.get("date") or record.data["date"]  # type: ignore[union-attr]
        if "due_date" in data and data["due_date"] is not None:
            data["due_date"] = _parse_date(data["due_date"], "due_date")
        elif record is None and collection.endswith("invoices"):
            data["due_date"] = doc_date + dt.timedelta(days=int(contact.data.get("credit_days") or DEFAULT_CREDIT_DAYS))
        if "original_invoice_date" in data and data["original_invoice_date"] is not None:
            data["original_invoice_date"] = _parse_date(data["original_invoice_date"], "original_invoice_date")
        lines_source = raw_lines if raw_lines is not None else None
        if lines_source is None and record is None:
            raise invalid(f"{meta['lines']} can't be blank", meta["lines"])
        if lines_source is not None:
            if not lines_source:
                raise invalid(f"{meta['lines']} can't be blank", meta["lines"])
            lines, totals = self._lines(biz, meta, lines_source)
            shipping = self._shipping(biz, body)
            net = sum((line["net_amount"] for line in lines), ZERO) + shipping["shipping_net_amount"]
            tax = sum((line["tax_amount"] for line in lines), ZERO) + shipping["shipping_tax_amount"]
            header = {"net_amount": net, "tax_amount": tax, "total_amount": net + tax}
            # Sage works the header out from the lines; a client total that disagrees is refused
            # (that is the "totals that do not match what Sage will compute" skip reason).
            for key, expected in header.items():
                # exact: the header is a sum of pennies, so no rounding step can separate the two
                if key in body and body[key] is not None and money(body[key]) != expected:
                    raise invalid(f"{key} {money(body[key])} does not equal the sum of the lines {expected}", key)
            data.update(shipping)
            data.update(header)
            data[meta["lines"]] = lines
            data["tax_analysis"] = totals
            data["total_quantity"] = sum((line["quantity"] for line in lines), Decimal(0))
            data["total_discount_amount"] = sum((line.get("discount_amount", ZERO) for line in lines), ZERO)
            for key in ("net_amount", "tax_amount", "total_amount", "total_discount_amount"):
                data["base_currency_" + key] = data[key]
            if record is not None and money(header["total_amount"]) < self._allocated_total(record):
                raise invalid("The total cannot be less than the amount already paid or allocated", "total_amount")
        if record is None:
            data.update({
                "transaction_type": static_link("transaction_types", meta["type"]),
                "currency": data.get("currency") or currency_link(biz.base_currency),
                "exchange_rate": Decimal("1.0"),
                # The swagger types PurchaseCreditNote.inverse_exchange_rate as a string.
                "inverse_exchange_rate": "1.0" if (spec.property_schema(definition, "inverse_exchange_rate")
                                                   or {}).get("type") == "string" else Decimal("1.0"),
                "payments_allocations": [], "links": [], "editable": True, "sent": False,
                "void_reason": None, "last_paid": None, "deleted_at": None, "tax_calculation_method": "invoice",
            })
        return data, {}

    def _lines(self, biz: Business, meta: dict[str, str], raw_lines: list[dict[str, Any]]):
        lines = []
        analysis: dict[str, dict[str, Any]] = {}
        line_definition = "SalesInvoiceLineItem" if meta["side"] == "sales" else "PurchaseInvoiceLineItem"
        line_props = set(_properties(line_definition))
        for index, raw in enumerate(raw_lines):
            where = f"{meta['lines']}.{index}"
            quantity = to_decimal(raw.get("quantity", 1))
            unit_price = to_decimal(raw["unit_price"])
            ledger = self.lookup(biz, "ledger_accounts", raw.get("ledger_account_id"), f"{where}.ledger_account_id")
            visible = "visible_in_sales" if meta["side"] == "sales" else "visible_in_expenses"
            if ledger.data.get("included_in_chart") is False:  # hidden by the accountant: not postable
                raise invalid(f"ledger account {ledger.data.get('nominal_code')} is not included in the chart of "
                              "accounts", f"{where}.ledger_account_id")
            if not ledger.data.get(visible):
                raise invalid(f"ledger account {ledger.data.get('nominal_code')} cannot be used for {meta['side']}",
                              f"{where}.ledger_account_id")
            rate_id = raw.get("tax_rate_id") or (ledger.data.get("tax_rate") or {}).get("id")
            if not rate_id:
                raise invalid("tax_rate_id can't be blank", f"{where}.tax_rate_id")
            rate = self.lookup(biz, "tax_rates", rate_id, f"{where}.tax_rate_id")
            if rate.data.get("is_visible") is False:
                raise invalid(f"tax rate {rate.id} is not active", f"{where}.tax_rate_id")
            percentage = to_decimal(rate.data.get("percentage") or 0)
            gross_before_discount = quantity * unit_price
            if raw.get("discount_amount") is not None:
                discount = money(raw["discount_amount"])
            elif raw.get("discount_percentage") is not None:
                discount = money(gross_before_discount * to_decimal(raw["discount_percentage"]) / 100)
            else:
                discount = ZERO
            if raw.get("unit_price_includes_tax"):
                gross = money(gross_before_discount - discount)
                net = money(gross * 100 / (100 + percentage))
                expected_tax = gross - net
            else:
                net = money(gross_before_discount - discount)
                expected_tax = money(net * percentage / 100)
            # Only the line's tax may differ by a penny (VAT rounding); net and total must be exact.
            if raw.get("net_amount") is not None and money(raw["net_amount"]) != net:
                raise invalid(f"net_amount {money(raw['net_amount'])} should be {net}", f"{where}.net_amount")
            if raw.get("tax_amount") is not None:
                tax = money(raw["tax_amount"])
                if not close_enough(tax, expected_tax):
                    raise invalid(f"tax_amount {tax} should be {expected_tax} ({percentage}% of {net})",
                                  f"{where}.tax_amount")
            elif percentage != 0:
                # v3.1: tax_amount is required unless the rate is zero/exempt/no-tax.
                raise invalid(f"tax_amount is required for tax rate {rate.id}", f"{where}.tax_amount")
            else:
                tax = ZERO
            total = net + tax
            if raw.get("total_amount") is not None and money(raw["total_amount"]) != total:
                raise invalid(f"total_amount {money(raw['total_amount'])} should be {total}", f"{where}.total_amount")
            line = self.map_attributes(biz, line_definition, raw)
            rate_link = record_link("tax_rates", rate)
            line.update({
                "id": new_id(), "displayed_as": raw.get("description"), "quantity": quantity,
                "unit_price": unit_price, "discount_amount": discount, "net_amount": net, "tax_amount": tax,
                "total_amount": total, "ledger_account": record_link("ledger_accounts", ledger), "tax_rate": rate_link,
                "unit_price_includes_tax": bool(raw.get("unit_price_includes_tax")),
                "base_currency_unit_price": unit_price, "base_currency_net_amount": net,
                "base_currency_tax_amount": tax, "base_currency_total_amount": total,
                "tax_breakdown": [{"tax_rate": rate_link, "percentage": percentage, "amount": tax}],
            })
            line["base_currency_discount_amount"] = discount
            # Purchase lines have no discount attributes in Sage's answer: emit only what it has.
            lines.append({k: v for k, v in line.items() if k in line_props})
            bucket = analysis.setdefault(rate.id, {"tax_rate": rate_link, "net_amount": ZERO, "tax_amount": ZERO,
                                                   "total_amount": ZERO, "goods_amount": ZERO,
                                                   "service_amount": ZERO})
            bucket["net_amount"] += net
            bucket["tax_amount"] += tax
            bucket["total_amount"] += total
            bucket["service_amount" if raw.get("service_id") else "goods_amount"] += net
        return lines, list(analysis.values())

    def _shipping(self, biz: Business, body: dict[str, Any]) -> dict[str, Any]:
        net = money(body.get("shipping_net_amount") or 0)
        if not net:
            return {"shipping_net_amount": ZERO, "shipping_tax_amount": ZERO, "shipping_total_amount": ZERO}
        rate = self.lookup(biz, "tax_rates", body.get("shipping_tax_rate_id") or "GB_STANDARD",
                           "shipping_tax_rate_id")
        # Sage computes shipping tax itself (the swagger says so).
        tax = money(net * to_decimal(rate.data.get("percentage") or 0) / 100)
        return {"shipping_net_amount": net, "shipping_tax_amount": tax, "shipping_total_amount": net + tax,
                "shipping_tax_rate": record_link("tax_rates", rate)}

    @staticmethod
    def _allocations_of(record: Record) -> dict[str, dict[str, Any]]:
        return record.data.setdefault("_allocations", {})

    def _allocated_total(self, record: Record) -> Decimal:
        return sum((abs(entry["amount"]) for entry in self._allocations_of(record).values()), ZERO)

    def refresh_artefact(self, record: Record) -> None:
        """Outstanding amount and status follow the payments and allocations."""
        data = record.data
        allocations = self._allocations_of(record)
        paid = self._allocated_total(record)
        data["payments_allocations"] = list(allocations.values())
        data["payments_allocations_total_amount"] = paid
        data["payments_allocations_total_discount"] = ZERO
        data["total_paid"] = paid
        data["last_paid"] = max((entry["date"] for entry in allocations.values()), default=None)
        status = data["status"]["id"]
        if status == "VOID":
            data["outstanding_amount"] = ZERO
        else:
            outstanding = money(data["total_amount"]) - paid
            data["outstanding_amount"] = outstanding
            new_status = "PAID" if outstanding <= 0 else "PART_PAID" if paid > 0 else "UNPAID"
            if new_status != status:
                data["status"] = static_link("artefact_statuses", new_status, STATUSES[new_status])
        data["base_currency_outstanding_amount"] = data["outstanding_amount"]
        data["editable"] = status != "VOID" and not allocations

    # -- payments and allocations ----------------------------------------------------------------

    def _payment_attributes(self, biz: Business, body: dict[str, Any], record: Record | None):
        return self._allocating_attributes(biz, "contact_payments", body, record)

    def _allocation_attributes(self, biz: Business, body: dict[str, Any], record: Record | None):
        return self._allocating_attributes(biz, "contact_allocations", body, record)

    def _allocating_attributes(self, biz: Business, collection: str, body: dict[str, Any], record: Record | None):
        definition = RESOURCES[collection][1]
        merged = dict(body)
        if record is not None:
            for key in ("transaction_type_id", "contact_id", "bank_account_id", "total_amount", "date"):
                if key not in merged and key != "total_amount":
                    value = record.data.get(key[:-3]) if key.endswith("_id") else record.data.get(key)
                    if isinstance(value, dict):
                        value = value["id"]
                    if value is not None:
                        merged[key] = value.isoformat() if isinstance(value, dt.date) else value
            if collection == "contact_payments" and "total_amount" not in merged:
                merged["total_amount"] = record.data["total_amount"]
        kind = merged.get("transaction_type_id")
        targets = (PAYMENT_TARGETS if collection == "contact_payments" else ALLOCATION_TARGETS).get(kind or "")
        if targets is None:
            raise invalid(f"transaction_type_id {kind!r} is not valid here", "transaction_type_id")
        contact = self.lookup(biz, "contacts", merged.get("contact_id"), "contact_id")
        if PAYMENT_CONTACT_TYPE[kind] not in {t["id"] for t in contact.data.get("contact_types") or []}:
            raise invalid(f"The contact is not a {CONTACT_TYPES[PAYMENT_CONTACT_TYPE[kind]].lower()}", "contact_id")
        raw_allocations = merged.get("allocated_artefacts")
        if raw_allocations is None:
            raw_allocations = [{"artefact_id": e["artefact"]["id"], "amount": e["amount"]}
                               for e in (record.data.get("allocated_artefacts") if record else None) or []]
        data = self.map_attributes(biz, definition, {k: v for k, v in merged.items()
                                                     if k not in ("allocated_artefacts", "payment_on_account")})
        data["contact"] = record_link("contacts", contact)
        data["transaction_type"] = static_link("transaction_types", kind)
        data["date"] = _parse_date(merged.get("date") or self.now().date().isoformat(), "date")
        allocations: list[tuple[Record, str, Decimal]] = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_allocations):
            where = f"allocated_artefacts.{index}.artefact_id"
            artefact_id = raw.get("artefact_id")
            if artefact_id in seen:
                raise invalid("An artefact may be allocated only once", where)
            seen.add(artefact_id)
            found = [(name, biz.collections[name].get(str(artefact_id))) for name in targets]
            hits = [(name, rec) for name, rec in found if rec is not None]
            if not hits:
                raise invalid(f"artefact {artefact_id!r} does not exist or cannot be allocated here", where)
            name, artefact = hits[0]
            amount = money(raw.get("amount", 0))
            if amount * targets[name] <= 0:
                sign = "positive" if targets[name] > 0 else "negative"
                raise invalid(f"The amount allocated to a {name[:-1].replace('_', ' ')} must be {sign}",
                              f"allocated_artefacts.{index}.amount")
            if artefact.contact_id != contact.id:
                raise invalid("The artefact belongs to another contact", where)
            if artefact.data["status"]["id"] == "VOID":
                raise invalid("A void document cannot be allocated", where)
            already = self._allocations_of(artefact).get(record.id if record else "", {}).get("amount", ZERO)
            outstanding = artefact.data["outstanding_amount"] + abs(already)
            if outstanding <= 0:
                raise invalid(f"{artefact.data['displayed_as']} is already paid", where)
            if abs(amount) > outstanding:
                raise invalid(f"The amount allocated ({abs(amount)}) exceeds the outstanding amount ({outstanding})",
                              f"allocated_artefacts.{index}.amount")
            allocations.append((artefact, name, amount))
        allocated = sum((amount for _, _, amount in allocations), ZERO)
        if collection == "contact_payments":
            total = money(merged.get("total_amount"))
            if total <= 0:
                raise invalid("total_amount must be greater than 0", "total_amount")
            self.lookup(biz, "bank_accounts", merged.get("bank_account_id"), "bank_account_id")
            on_account = merged.get("payment_on_account")
            on_account_total = money((on_account or {}).get("total_amount") or 0)
            # Sage wants the money accounted for: allocations plus payment on account = the payment.
            if not close_enough(allocated + on_account_total, total) or allocated + on_account_total != total:
                raise invalid(f"The allocated amounts ({allocated}) plus payment on account ({on_account_total}) "
                              f"must equal total_amount ({total})", "total_amount")
            data.update({"total_amount": total, "net_amount": data.get("net_amount", total),
                         "tax_amount": data.get("tax_amount", ZERO), "base_currency_total_amount": total,
                         "base_currency_net_amount": data.get("net_amount", total),
                         "base_currency_tax_amount": data.get("tax_amount", ZERO),
                         "currency": currency_link(biz.base_currency),
                         "exchange_rate": Decimal("1.0"), "editable": True, "links": []})
            if on_account_total:
                data["payment_on_account"] = {
                    "id": new_id(), "displayed_as": merged.get("reference") or "Payment on account",
                    "contact": record_link("contacts", contact), "contact_name": contact.data.get("name"),
                    "date": data["date"], "reference": merged.get("reference"), "total_amount": on_account_total,
                    "net_amount": on_account_total, "tax_amount": ZERO, "outstanding_amount": on_account_total,
                    "status": static_link("artefact_statuses", "UNPAID", STATUSES["UNPAID"]),
                }
            else:
                data["payment_on_account"] = None
        else:
            if not allocations:
                raise invalid("allocated_artefacts can't be blank", "allocated_artefacts")
            if allocated != 0:
                raise invalid(f"The allocated amounts must add up to zero (they add up to {allocated})",
                              "allocated_artefacts")
            data["links"] = []
        data["allocated_artefacts"] = [
            {"id": new_id(), "artefact": record_link(name, artefact), "amount": amount, "discount": ZERO}
            for artefact, name, amount in allocations
        ]
        if collection == "contact_allocations":
            for entry in data["allocated_artefacts"]:
                entry.pop("discount")
        return data, {"allocations": allocations}

    def _apply_allocations(self, biz: Business, collection: str, record: Record,
                           allocations: Iterable[tuple[Record, str, Decimal]]) -> None:
        now = self.now()
        kind = "contact_payment" if collection == "contact_payments" else "contact_allocation"
        for artefact, name, amount in allocations:
            entry = {
                "links": [], "date": record.data["date"],
                "type": record.data["transaction_type"]["displayed_as"],
                "reference": record.data.get("reference"), "amount": amount, "discount": ZERO,
                kind: record_link(collection, record), "displayed_as": record.data["displayed_as"],
                "negative_payment": amount < 0,
            }
            self._allocations_of(artefact)[record.id] = entry
            self.refresh_artefact(artefact)
            biz.collections[name].touch(artefact, now)

    def _release_allocations(self, biz: Business, record: Record) -> None:
        now = self.now()
        for entry in record.data.get("allocated_artefacts") or []:
            target = entry["artefact"]
            name = target["$path"].split("/")[1]
            artefact = biz.collections[name].get(target["id"])
            if artefact is not None and self._allocations_of(artefact).pop(record.id, None) is not None:
                self.refresh_artefact(artefact)
                biz.collections[name].touch(artefact, now)

    def _update_allocating(self, biz: Business, collection: str, record: Record, body: dict[str, Any]) -> Record:
        data, extra = self._allocating_attributes(biz, collection, body, record)
        self._release_allocations(biz, record)
        record.data.update(data)
        self._finish(biz, collection, record, extra, creating=False)
        biz.collections[collection].touch(record, self.now())
        self._apply_allocations(biz, collection, record, extra["allocations"])
        return record

    # -- delete / void ----------------------------------------------------------------------------

    def delete(self, biz: Business, collection: str, record: Record, void_reason: str | None) -> Record | None:
        """Returns the record when Sage answers 200 with it (void), None for 204."""
        coll = biz.collections[collection]
        now = self.now()
        if collection in ARTEFACTS:
            if self._allocations_of(record):
                raise invalid("This document has payments or allocations; remove them first", "base")
            if collection.startswith("sales_"):
                if record.data["status"]["id"] == "VOID":
                    raise invalid("The document is already void", "status")
                if not void_reason:
                    raise invalid("void_reason can't be blank", "void_reason")
                record.data["status"] = static_link("artefact_statuses", "VOID", STATUSES["VOID"])
                record.data["void_reason"] = void_reason
                self.refresh_artefact(record)
                coll.touch(record, now)
                return record
        elif collection == "contacts":
            for name in ARTEFACTS.keys() | {"contact_payments", "contact_allocations"}:
                if biz.collections[name].ids_for_contact(record.id):
                    raise invalid("A contact with transactions cannot be deleted", "base")
        elif collection in ("contact_payments", "contact_allocations"):
            self._release_allocations(biz, record)
        elif record.data.get("deletable") is False:
            raise invalid("This record cannot be deleted", "base")
        coll.remove(record, now)
        return None

    # -- reading ----------------------------------------------------------------------------------

    def contact_balance(self, biz: Business, contact_id: str) -> Decimal:
        balance = ZERO
        for name, meta in ARTEFACTS.items():
            coll = biz.collections[name]
            for record_id in coll.ids_for_contact(contact_id):
                outstanding = coll.records[record_id].data["outstanding_amount"]
                balance += outstanding if meta["sign"] == "+" else -outstanding
        return balance


def render(collection: str, record: Record, attributes: set[str] | None, extra: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    """Sage's view of a record: all attributes (``attributes=None``) or the base ones plus a few."""
    definition = RESOURCES[collection][1]
    data = record.data
    values = {"created_at": record.created_at, "updated_at": record.updated_at, "deleted_at": record.deleted_at}
    if extra:
        values.update(extra)
    names = _properties(definition) if attributes is None else [
        "id", "displayed_as", "$path", *[n for n in _properties(definition) if n in attributes
                                         and n not in ("id", "displayed_as", "$path")]]
    out = {}
    for name in names:
        out[name] = values[name] if name in values else data.get(name)
    return out


_PROPS: dict[str, list[str]] = {}


def _properties(definition: str) -> list[str]:
    if definition not in _PROPS:
        _PROPS[definition] = spec.response_properties(definition)
    return _PROPS[definition]


def filter_predicates(collection: str, params: dict[str, str]) -> list[Callable[[Record], bool]]:
    """Predicates for the filters Sage lists for GET /<collection> that no index serves."""
    checks: list[Callable[[Record], bool]] = []
    if "from_date" in params:
        start = parse_timestamp(params["from_date"], "from_date").date()
        checks.append(lambda r: r.date is not None and r.date >= start)
    if "to_date" in params:
        end = parse_timestamp(params["to_date"], "to_date").date()
        checks.append(lambda r: r.date is not None and r.date <= end)
    for key in ("status_id", "transaction_type_id", "bank_account_id", "ledger_account_type_id"):
        if key in params:
            wanted, attr = params[key], key[:-3]
            checks.append(lambda r, wanted=wanted, attr=attr: (r.data.get(attr) or {}).get("id") == wanted)
    # Each predicate binds its own value: a shared name read late would make one filter test the
    # other's value (contact_type_id compared with the email: no contact ever matched both).
    if "contact_type_id" in params:
        wanted_type = params["contact_type_id"].upper()
        checks.append(lambda r: any(t["id"] == wanted_type for t in r.data.get("contact_types") or []))
    if "email" in params:
        wanted_email = params["email"].lower()
        checks.append(lambda r: str(r.data.get("email") or "").lower() == wanted_email)
    if "active" in params:
        wanted_active = params["active"].lower() == "true"
        checks.append(lambda r: bool(r.data.get("active")) == wanted_active)
    if "visible_in" in params:
        attr = "visible_in_" + {"purchasing": "expenses"}.get(params["visible_in"], params["visible_in"])
        checks.append(lambda r: bool(r.data.get(attr)))
    return checks


def select_ids(coll: Collection, params: dict[str, str], allowed: set[str]) -> list[str]:
    """Ids matching the list filters, in Sage's default order (creation) or ``sort``."""
    params = {k: v for k, v in params.items() if k in allowed and v != ""}
    key = tuple(sorted((k, v) for k, v in params.items() if k not in ("page", "items_per_page", "attributes")))
    cached = coll.cached_query(key)
    if cached is not None:
        return cached
    candidates: list[str] | None = None
    if "updated_or_created_since" in params:
        candidates = coll.ids_changed_since(parse_timestamp(params["updated_or_created_since"],
                                                            "updated_or_created_since"))
    if "contact_id" in params:
        ids = coll.ids_for_contact(params["contact_id"])
        candidates = ids if candidates is None else [i for i in candidates if i in set(ids)]
    if params.get("search"):
        ids = coll.ids_matching(params["search"])
        candidates = ids if candidates is None else list(set(candidates) & set(ids))
    checks = filter_predicates(coll.name, params)
    if candidates is None and not checks and "sort" not in params:
        result = list(coll.all_ids())
    else:
        pool = coll.all_ids() if candidates is None else candidates
        records = [coll.records[i] for i in pool if i in coll.records]
        records = [r for r in records if all(check(r) for check in checks)]
        field, _, direction = params.get("sort", "").partition(":")
        if field in ("created_at", "updated_at", "date", "due_date"):
            def sort_key(r: Record, field: str = field) -> Any:
                value = getattr(r, field) if field in ("created_at", "updated_at") else r.data.get(field)
                return (value is None, value or dt.date.min, r.seq)
            records.sort(key=sort_key, reverse=direction == "desc")
        else:
            records.sort(key=lambda r: r.seq)
        result = [r.id for r in records]
    coll.remember_query(key, result)
    return result
