"""What a fresh UK business in Sage Accounting holds: chart of accounts, VAT rates, a bank account,
a few customers and suppliers. Ids of tax rates are Sage's own (``GB_STANDARD``...)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from .resources import STATUSES, currency_link, link, new_id, static_link
from .store import Business, Record

# Sage UK's tax rates: id, name, percentage.
GB_TAX_RATES = (
    ("GB_STANDARD", "Standard 20.00%", Decimal("20.00")),
    ("GB_LOWER", "Lower Rate 5.00%", Decimal("5.00")),
    ("GB_ZERO", "Zero Rated 0.00%", Decimal("0.00")),
    ("GB_EXEMPT", "Exempt 0.00%", Decimal("0.00")),
    ("GB_NO_TAX", "No Tax", Decimal("0.00")),
)

# nominal code, name, type, default tax rate, where Sage offers it
UK_CHART = (
    (1100, "Debtors Control Account", "CURRENT_ASSETS", None, ()),
    (1200, "Current", "BANK", "GB_NO_TAX", ("banking",)),
    (2100, "Creditors Control Account", "CURRENT_LIABILITY", None, ()),
    (2200, "Sales VAT", "CURRENT_LIABILITY", None, ()),
    (2201, "Purchase VAT", "CURRENT_LIABILITY", None, ()),
    (4000, "Sales Type A", "SALES", "GB_STANDARD", ("sales",)),
    (4010, "Sales Type B", "SALES", "GB_STANDARD", ("sales",)),
    (4900, "Other Income", "OTHER_INCOME", "GB_EXEMPT", ("sales",)),
    (5000, "Cost of sales - goods", "DIRECT_EXPENSES", "GB_STANDARD", ("expenses",)),
    (7100, "Rent and rates", "OVERHEADS", "GB_EXEMPT", ("expenses",)),
    (7200, "Electricity", "OVERHEADS", "GB_STANDARD", ("expenses",)),
    (7500, "Office costs", "OVERHEADS", "GB_STANDARD", ("expenses",)),
    (7900, "Bank charges and interest", "OVERHEADS", "GB_EXEMPT", ("expenses",)),
)
CONTROL_ACCOUNTS = {1100: "DEBTORS", 2100: "CREDITORS", 2200: "SALES_TAX", 2201: "PURCHASE_TAX"}

CUSTOMERS = (
    ("Acme Garages Ltd", "ACME001", "accounts@acme-garages.example"),
    ("Brightwell Plumbing", "BRIGHT01", "office@brightwell.example"),
    ("Cobalt Facilities plc", "COBALT", "ap@cobalt.example"),
)
SUPPLIERS = (
    ("Dunmore Parts Wholesale", "DUNMORE", "sales@dunmore.example"),
    ("Elm Street Fuels", "ELMFUEL", "billing@elmfuels.example"),
)


def _add(biz: Business, collection: str, data: dict[str, Any], now: dt.datetime, record_id: str | None = None,
         search: str = "") -> Record:
    record = Record(id=record_id or new_id(), data=data, created_at=now, updated_at=now, search_text=search.lower())
    data.setdefault("id", record.id)
    data.setdefault("$path", f"/{collection}/{record.id}")
    return biz.collections[collection].add(record)


def seed_business(biz: Business, now: dt.datetime) -> dict[str, str]:
    """Fill a new business; returns handy ids by name (e.g. ``"4000"``, ``"bank"``, ``"ACME001"``)."""
    ids: dict[str, str] = {}
    for status_id, name in STATUSES.items():
        _add(biz, "artefact_statuses", {"displayed_as": name}, now, status_id, name)
    for rate_id, name, pct in GB_TAX_RATES:
        _add(biz, "tax_rates", {
            "displayed_as": name, "name": name.split(" ")[0] if rate_id != "GB_NO_TAX" else name,
            "agency": "HMRC", "percentage": pct,
            "percentages": [{"percentage": pct, "from_date": dt.date(2011, 1, 4), "to_date": None}],
            "is_visible": True, "retailer": False, "editable": False, "deletable": False, "is_combined_rate": False,
        }, now, rate_id, name)
        ids[rate_id] = rate_id
    tax = {rate_id: link("tax_rates", rate_id, name) for rate_id, name, _ in GB_TAX_RATES}
    for code, name, kind, rate, visible in UK_CHART:
        record = _add(biz, "ledger_accounts", {
            "displayed_as": f"{name} ({code})", "name": name, "display_name": name, "nominal_code": code,
            "ledger_account_type": static_link("ledger_account_types", kind),
            "ledger_account_group": {"id": kind, "displayed_as": kind.replace("_", " ").title()},
            "included_in_chart": True, "visible_scopes": list(visible),
            "tax_rate": tax[rate] if rate else None, "fixed_tax_rate": False,
            "visible_in_banking": "banking" in visible, "visible_in_expenses": "expenses" in visible,
            "visible_in_journals": True, "visible_in_other_payments": "expenses" in visible,
            "visible_in_other_receipts": "sales" in visible, "visible_in_reporting": True,
            "visible_in_sales": "sales" in visible, "is_control_account": code in CONTROL_ACCOUNTS,
            "control_name": CONTROL_ACCOUNTS.get(code), "display_formatted": f"{code} - {name}",
        }, now, search=f"{code} {name}")
        ids[str(code)] = record.id
    bank = _add(biz, "bank_accounts", {
        "displayed_as": "Current (1200)",
        "bank_account_details": {"account_name": "Current", "account_number": "12345678", "sort_code": "40-11-62",
                                 "bic": None, "iban": None},
        "ledger_account": link("ledger_accounts", ids["1200"], "Current (1200)"),
        "bank_account_type": static_link("bank_account_types", "CHECKING", "Current"),
        "balance": Decimal("0.00"), "nominal_code": 1200, "editable": True, "deletable": False, "is_active": True,
        "default_payment_method": static_link("payment_methods", "BANK_TRANSFER", "Bank Transfer"),
        "currency": currency_link(biz.base_currency),
    }, now, search="current 1200")
    ids["bank"] = bank.id
    for contact_type, people in (("CUSTOMER", CUSTOMERS), ("VENDOR", SUPPLIERS)):
        for name, reference, email in people:
            record = _add(biz, "contacts", {
                "displayed_as": f"{name} ({reference})", "name": name, "reference": reference,
                "contact_types": [static_link("contact_types", contact_type,
                                              "Customer" if contact_type == "CUSTOMER" else "Supplier")],
                "email": email, "main_contact_person": {"name": "Accounts", "email": email, "is_main_contact": True},
                "currency": currency_link(biz.base_currency), "credit_days": 30,
                "deletable": True, "system": False, "is_active": True, "gb_based": True, "ni_based": False,
                "gdpr_obfuscated": False, "links": [],
            }, now, search=f"{name} {reference}")
            ids[reference] = record.id
    return ids
