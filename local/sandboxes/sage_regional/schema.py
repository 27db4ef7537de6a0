"""Save bodies checked against the reference's request schemas (../shared/specs/sage-accounting-regional/
entities.schema.json), with one clear message per problem naming the field ("Lines[0].Quantity is required").

The reference gives schemas for Customer, TaxInvoice, CustomerReturn, CustomerReceipt and Allocation.
The supplier side and the master data it lists only in entities.md are derived here from them, as
entities.md describes (Supplier = Customer without the customer-only fields; SupplierInvoice/Return/
Payment = their customer mirror with SupplierId; TaxType and Item from their field tables).
"""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

_REPO_ROOT = Path(__file__).resolve().parents[3]
SPEC_DIR = Path(os.environ.get("SAGE_REGIONAL_SPECS_DIR",
                               _REPO_ROOT.parent / "shared" / "specs" / "sage-accounting-regional"))
SCHEMA_FILE = SPEC_DIR / "entities.schema.json"

# entities.md, Customer: fields a Supplier does not have.
_CUSTOMER_ONLY = ("CommunicationMethod", "EnableCustomerZone", "CustomerZoneGuid", "CashSale", "DefaultPriceListId",
                  "DefaultPriceList", "DefaultPriceListName", "AcceptsElectronicInvoices")
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_READ_ONLY_FLAG = {"type": "boolean", "readOnly": True}


def _to_supplier(body: dict[str, Any], *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A customer-side body schema turned into its supplier mirror (CustomerId -> SupplierId...)."""
    derived = copy.deepcopy(body)
    renamed: dict[str, Any] = {}
    for name, rule in derived["properties"].items():
        if name in drop:
            continue
        renamed[name.replace("Customer", "Supplier")] = rule
    derived["properties"] = renamed
    derived["required"] = [n.replace("Customer", "Supplier") for n in derived.get("required", [])]
    derived["title"] = derived.get("title", "").replace("Customer", "Supplier").replace("TaxInvoice", "SupplierInvoice")
    return derived


@cache
def definitions() -> dict[str, Any]:
    """Every Save body schema by service name, plus the shared definitions they refer to."""
    defs: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())["$defs"]
    supplier = _to_supplier(defs["CustomerSave"], drop=_CUSTOMER_ONLY)
    supplier["properties"]["RMCDApprovalNumber"] = {"type": ["string", "null"]}
    supplier_invoice = _to_supplier(defs["TaxInvoiceSave"], drop=("AllowOnlinePayment", "SalesRepresentativeId",
                                                                    "SalesRepresentative", "FromDocument"))
    supplier_return = _to_supplier(defs["CustomerReturnSave"], drop=("SalesRepresentativeId", "SalesRepresentative"))
    supplier_payment = _to_supplier(defs["CustomerReceiptSave"], drop=("SalesRepresentative", "Allocations"))
    tax_type = {
        "type": "object", "title": "TaxType/Save request body", "required": ["Name", "Percentage"],
        "properties": {"ID": {"type": "integer"}, "Name": {"type": "string", "maxLength": 100},
                       "Percentage": {"type": "number", "minimum": 0, "maximum": 100},
                       "IsDefault": {"type": "boolean"}, "IsManualTax": {"type": "boolean"},
                       "Active": {"type": "boolean"}, "TaxTypeDefaultUID": {"type": ["string", "null"]},
                       "HasActivity": _READ_ONLY_FLAG, "Created": {"readOnly": True}, "Modified": {"readOnly": True}},
    }
    item_props: dict[str, Any] = {
        "ID": {"type": "integer"}, "Code": {"type": "string", "minLength": 1, "maxLength": 100},
        "Description": {"type": "string", "minLength": 1, "maxLength": 100},
        "Category": {"type": ["object", "null"]}, "Active": {"type": "boolean"},
        "PriceInclusive": {"type": "number"}, "PriceExclusive": {"type": "number"}, "Physical": {"type": "boolean"},
        "TaxTypeIdSales": _NULLABLE_INT, "TaxTypeIdPurchases": _NULLABLE_INT,
        "TaxTypeSales": {"type": ["object", "null"]}, "TaxTypePurchases": {"type": ["object", "null"]},
        "LastCost": {"type": "number"}, "Unit": {"type": ["string", "null"]},
        "ItemReportingGroupId_Sales": _NULLABLE_INT, "ItemReportingGroupId_Purchases": _NULLABLE_INT,
        "MajorIndustryCodeId": _NULLABLE_INT, "GPPercentage": _NULLABLE_NUMBER, "GPAmount": _NULLABLE_NUMBER,
        "AverageCost": {"readOnly": True}, "QuantityOnHand": {"readOnly": True},
        "HasAttachments": _READ_ONLY_FLAG, "HasActivity": _READ_ONLY_FLAG,
        "Created": {"readOnly": True}, "Modified": {"readOnly": True},
    }
    for n in (1, 2, 3):
        item_props[f"TextUserField{n}"] = {"type": ["string", "null"], "maxLength": 100}
        item_props[f"NumericUserField{n}"] = _NULLABLE_NUMBER
        item_props[f"DateUserField{n}"] = {"anyOf": [defs["Date"], {"type": "null"}]}
        item_props[f"YesNoUserField{n}"] = {"type": "boolean"}
    item = {"type": "object", "title": "Item/Save request body", "required": ["Code", "Description"],
            "properties": item_props}
    return {
        **defs,
        "Customer": defs["CustomerSave"], "Supplier": supplier, "TaxType": tax_type, "Item": item,
        "TaxInvoice": defs["TaxInvoiceSave"], "CustomerReturn": defs["CustomerReturnSave"],
        "CustomerReceipt": defs["CustomerReceiptSave"], "Allocation": defs["AllocationSave"],
        "SupplierInvoice": supplier_invoice, "SupplierReturn": supplier_return, "SupplierPayment": supplier_payment,
    }


SAVE_SERVICES = ("Customer", "Supplier", "TaxType", "Item", "TaxInvoice", "CustomerReturn", "CustomerReceipt",
                 "Allocation", "SupplierInvoice", "SupplierReturn", "SupplierPayment")


@cache
def _validator(service: str) -> Draft202012Validator:
    return Draft202012Validator({"$defs": definitions(), "$ref": f"#/$defs/{service}"})


def _where(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problem(error: ValidationError) -> tuple[str, str]:
    where = _where(error.absolute_path)
    rule, expected = error.validator, error.validator_value
    if rule == "required":
        missing = error.message.split("'")[1]
        return (f"{where}.{missing}" if where else missing), "is required"
    if rule == "type":
        kinds = [expected] if isinstance(expected, str) else list(expected)
        words = {"number": "a number", "integer": "a whole number", "string": "text", "boolean": "true or false",
                 "array": "a list", "object": "an object", "null": "null"}
        return where, "must be " + " or ".join(words.get(k, k) for k in kinds)
    if rule == "maxLength":
        return where, f"is longer than {expected} characters"
    if rule == "minLength":
        return where, "must not be empty"
    if rule == "minItems":
        return where, f"needs at least {expected} entry"
    if rule in ("minimum", "maximum"):
        return where, f"must be {'at least' if rule == 'minimum' else 'at most'} {expected}"
    if rule == "pattern":
        return where, "must be a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)"
    if rule == "anyOf" and where in ("", None):
        return "Body", "needs SourceDocumentId and AllocatedToDocumentId (or DocumentHeaderId_Source and " \
                       "DocumentHeaderId_Allocation)"
    if rule == "anyOf":
        return where, "has the wrong type (" + "; ".join(e.message for e in error.context[:2]) + ")"
    return where or "Body", error.message


def _unknown(service: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """Members the entity does not have (the reference's schemas are open; the sandbox refuses them)."""
    schema = definitions()[service]
    found = [(name, "is not a field of " + service) for name in body if name not in schema["properties"]]
    line_fields = definitions()["CommercialDocumentLine"]["properties"]
    for index, line in enumerate(body.get("Lines") or []):
        if isinstance(line, dict):
            found += [(f"Lines[{index}].{name}", "is not a field of a document line")
                      for name in line if name not in line_fields]
    return found


def problems(service: str, body: Any, *, refuse_unknown_fields: bool = True) -> dict[str, list[str]]:
    """ModelState-style problems of a Save body: {"Lines[0].Quantity": ["is required"]}; empty when valid."""
    if not isinstance(body, dict):
        return {"Body": ["must be a JSON object"]}
    found: dict[str, list[str]] = {}
    for error in sorted(_validator(service).iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        where, what = _problem(error)
        found.setdefault(where, []).append(what)
    if refuse_unknown_fields:
        for where, what in _unknown(service, body):
            found.setdefault(where, []).append(what)
    return found


def message(found: dict[str, list[str]]) -> str:
    return "The request is invalid. " + " ".join(f"{where} {what}." for where, whats in found.items() for what in whats)


__all__ = ["SAVE_SERVICES", "SCHEMA_FILE", "definitions", "message", "problems"]
