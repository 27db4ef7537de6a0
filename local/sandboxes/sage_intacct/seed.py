"""What a new sandbox company holds: a small US chart of accounts, a bank account, locations,
departments, classes, sales and purchase tax details, the host-location custom field on invoices and bills,
items and customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from .store import Company

GL_ACCOUNTS = (("1000", "Operating cash"), ("1100", "Accounts receivable"), ("2200", "Sales tax payable"),
               ("2210", "Input VAT recoverable"),
               ("4000", "Sales"), ("4100", "Service revenue"), ("4200", "Parts sales"),
               ("5000", "Cost of sales"))
TAX_DETAILS = (("Sales Tax Standard", Decimal("20")), ("Sales Tax Reduced", Decimal("5")),
               ("Sales Tax Zero", Decimal("0")))
# Input tax on purchases: TAXTYPE Purchase details post to their own GL account, not sales tax payable.
PURCHASE_TAX_DETAILS = (("Purchase Tax Standard", Decimal("20")), ("Purchase Tax Reduced", Decimal("5")))
PURCHASE_TAX_ACCOUNT = "2210"
ITEMS = (("LAB-HOUR", "Labour per hour", "Non-Inventory", Decimal("85.00")),
         ("OIL-5W30", "Engine oil 5W-30 (5 l)", "Inventory", Decimal("42.50")),
         ("MOT", "Annual inspection", "Non-Inventory (Sales only)", Decimal("54.85")))
LOCATION_FIELD = "HOST_LOCATION"
CLASSES = (("FIELD", "Field service"), ("WORKSHOP", "Workshop"))


def seed_company(company: Company, now: dt.datetime) -> None:
    def add(obj: str, **fields: object) -> None:
        company.add(obj, {"STATUS": "active", "WHENCREATED": now, "WHENMODIFIED": now, **fields})

    for number, title in GL_ACCOUNTS:
        add("GLACCOUNT", ACCOUNTNO=number, TITLE=title, ACCOUNTTYPE="incomestatement" if number >= "4" else
            "balancesheet")
    add("CHECKINGACCOUNT", BANKACCOUNTID="BOA-OPS", BANKNAME="Bank of America operating", GLACCOUNTNO="1000",
        CURRENCY=company.base_currency)
    for location, name in (("100", "Head office"), ("200", "Workshop")):
        add("LOCATION", LOCATIONID=location, NAME=name)
    for entity in sorted(company.entities):
        add("LOCATIONENTITY", LOCATIONID=entity, NAME=f"Entity {entity}", CURRENCY=company.base_currency)
    for department, title in (("SVC", "Service"), ("PARTS", "Parts")):
        add("DEPARTMENT", DEPARTMENTID=department, TITLE=title)
    for class_id, name in CLASSES:
        add("CLASS", CLASSID=class_id, NAME=name)
    for detail, value in TAX_DETAILS:
        add("TAXDETAIL", DETAILID=detail, DESCRIPTION=detail, VALUE=value, TAXTYPE="Sale", GLACCOUNT="2200")
    for detail, value in PURCHASE_TAX_DETAILS:
        add("TAXDETAIL", DETAILID=detail, DESCRIPTION=detail, VALUE=value, TAXTYPE="Purchase",
            GLACCOUNT=PURCHASE_TAX_ACCOUNT)
    for item_id, name, item_type, price in ITEMS:
        add("ITEM", ITEMID=item_id, NAME=name, ITEMTYPE=item_type, BASEPRICE=price, GLACCOUNT="4100")
    for customer_id, name, email in (("ACME", "Acme Fleet Services", "ap@acme.example"),
                                     ("GLOBEX", "Globex Logistics", "accounts@globex.example")):
        add("CONTACT", CONTACTNAME=f"{name} ({customer_id})", PRINTAS=name, COMPANYNAME=name, EMAIL1=email)
        add("CUSTOMER", CUSTOMERID=customer_id, NAME=name,
            DISPLAYCONTACT={"PRINTAS": name, "COMPANYNAME": name, "EMAIL1": email},
            CONTACTINFO={"CONTACTNAME": f"{name} ({customer_id})"})
    # A custom field belongs to one object: invoices and bills each have their own.
    for obj in ("ARINVOICE", "APBILL"):
        company.custom_fields.setdefault(obj, set()).add(LOCATION_FIELD)
