"""Every request body the regional product sends validates against the reference's request schemas
(specs/sage-accounting-regional/entities.schema.json, read here directly, not through the sandbox) and
names no field the schema does not list: customers created and updated, tax invoices, customer
returns, receipts and allocations, as the mapper builds them from host records and the connector sends
them. The schema file has no supplier bodies: suppliers, supplier invoices and supplier returns are
checked against their mirrors as entities.md describes them (the sandbox's derivation)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from local.sandboxes import sage_regional as sr
from local.sandboxes.sage_accounting import SandboxClock
from local.sandboxes.sage_regional.schema import SCHEMA_FILE, definitions
from sagebridge.connectors.sage_regional import mapper
from sagebridge.connectors.sage_regional.client import CompanyGate, RegionalClient, RegionalLogin
from sagebridge.connectors.sage_regional.connector import RegionalConnector
from sagebridge.domain import Customer, CustomerPayment, DocumentKind, TenantSettings, Vendor
from sagebridge.domain.records import parse_host_record

SCHEMA = json.loads(Path(SCHEMA_FILE).read_text())
DEFINITION = {"Customer": "CustomerSave", "TaxInvoice": "TaxInvoiceSave", "CustomerReturn": "CustomerReturnSave",
              "CustomerReceipt": "CustomerReceiptSave", "Allocation": "AllocationSave"}


class Recording(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            service = request.url.path.split("/")[-2]
            self.sent.append((service, json.loads(request.content)))
        return self.inner.handle_request(request)


def problems(service: str, body: dict[str, Any]) -> list[str]:
    if service not in DEFINITION:  # a supplier-side body: entities.md's mirror of the customer side
        derived = definitions()[service]
        found = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                 for e in Draft202012Validator({"$defs": SCHEMA["$defs"], **derived}).iter_errors(body)]
        return found + [f"{k}: not a field of {service}" for k in body if k not in derived["properties"]]
    name = DEFINITION[service]
    validator = Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{name}"})
    found = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    known = SCHEMA["$defs"][name]["properties"]
    found += [f"{k}: not a field of {name}" for k in body if k not in known]
    line_fields = SCHEMA["$defs"]["CommercialDocumentLine"]["properties"]
    for n, line in enumerate(body.get("Lines") or []):
        found += [f"Lines[{n}].{k}: not a field of CommercialDocumentLine" for k in line if k not in line_fields]
    return found


@pytest.fixture
def sent() -> list[tuple[str, dict[str, Any]]]:
    box = sr.SageRegionalSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    recording = Recording(box.sync_transport())
    http = httpx.Client(transport=recording, timeout=10)
    gate = CompanyGate(1.0, clock=box.clock.now, sleep=lambda s: box.clock.advance(seconds=s))
    client = RegionalClient(http, base_url=sr.API_BASE_URL, api_key=sr.DEFAULT_API_KEY, gate=gate,
                            login=RegionalLogin("AU", sr.DEFAULT_USERNAME, sr.DEFAULT_PASSWORD, box.lead_company_id))
    connector = RegionalConnector(client, region="AU")
    ids = box.ids
    settings = TenantSettings.model_validate({
        "provider": "sage_regional", "tax_mappings": {"S": str(ids["tax_standard"]), "Z": str(ids["tax_zero"])},
        "ledger_mappings": {"PARTS": str(ids["account_services"])},
        "default_sales_ledger_account_id": str(ids["account_sales"]),
        "default_purchase_ledger_account_id": str(ids["account_purchases"]),
        "receipt_bank_account_id": str(ids["bank"])})
    taxes = mapper.TaxTable.from_records(connector.list_tax_rates())
    pat = Customer(host_id="C-1", name="Pat Jones", company="Jones Motors", email="pat@jones.example",
                   phone="0400 000 000", tax_number="51 824 753 556",
                   address={"lines": ["1 High St", "Unit 2", "Rear"], "city": "Perth", "region": "WA",
                            "postcode": "6000"})
    contact = connector.create_contact(mapper.contact_body(pat, business_currency="AUD"))
    moved = pat.model_copy(update={"address": pat.address.model_copy(update={"city": "Fremantle"})})  # type: ignore[union-attr]
    connector.update_contact(contact.id, mapper.contact_update_body(moved, business_currency="AUD"))
    made = {}
    for kind, number in ((DocumentKind.SALES_INVOICE, "INV-1"), (DocumentKind.SALES_CREDIT_NOTE, "CN-1")):
        doc = parse_host_record(kind, {
            "host_id": number, "number": number, "party_id": "C-1", "document_date": "2025-03-01",
            "due_date": "2025-03-31", "currency": "AUD", "status": "pending_payment",
            "lines": [{"description": "Labour", "quantity": "1.5", "unit_price": "80.00", "tax_code": "S"},
                      {"description": "Pads", "quantity": "2", "unit_price": "19.99", "discount": "4.00",
                       "tax_code": "S", "ledger_code": "PARTS"},
                      {"description": "Levy", "quantity": "1", "unit_price": "5.00", "tax_code": None}],
            "totals": {"net": "160.98", "tax": "15.60", "total": "176.58"}} | (
                {} if kind is DocumentKind.SALES_INVOICE else {"due_date": None}))
        mapped = mapper.document_body(doc, contact_id=contact.id, settings=settings, taxes=taxes,
                                      business_currency="AUD")
        made[kind] = connector.create_document(kind, mapped.body)
        assert mapper.remote_total(made[kind]) == mapped.total  # Sage's per-line arithmetic is the host's
    supplies = Vendor(host_id="V-1", name="Parts Co", email="ap@parts.example", address={"city": "Perth"})
    supplier = connector.create_contact(mapper.contact_body(supplies, business_currency="AUD"))
    for kind, number in ((DocumentKind.PURCHASE_INVOICE, "PI-1"), (DocumentKind.PURCHASE_CREDIT_NOTE, "PCN-1")):
        bill = parse_host_record(kind, {
            "host_id": number, "number": number, "party_id": "V-1", "document_date": "2025-03-01",
            "currency": "AUD", "status": "pending_payment",
            "lines": [{"description": "Pads", "quantity": "4", "unit_price": "12.50", "tax_code": "S"}],
            "totals": {"net": "50.00", "tax": "5.00", "total": "55.00"}} | (
                {"due_date": "2025-03-31"} if kind is DocumentKind.PURCHASE_INVOICE else {}))
        mapped = mapper.document_body(bill, contact_id=supplier.id, settings=settings, taxes=taxes,
                                      business_currency="AUD")
        assert mapper.remote_total(connector.create_document(kind, mapped.body)) == mapped.total
    paid = CustomerPayment.model_validate({
        "host_id": "R-1", "party_id": "C-1", "payment_date": "2025-03-02", "amount": "100.00", "currency": "AUD",
        "allocations": [{"kind": "sales_invoice", "host_id": "INV-1", "amount": "100.00"}]})
    connector.create_payment(mapper.payment_body(
        paid, contact_id=contact.id, allocations=[(DocumentKind.SALES_INVOICE, made[DocumentKind.SALES_INVOICE].id,
                                                   Decimal("76.58"))],
        bank_account_id=str(ids["bank"]), settings=settings, business_currency="AUD"))
    connector.create_allocation(mapper.credit_note_allocation_body(
        contact_id=contact.id, invoice_id=made[DocumentKind.SALES_INVOICE].id,
        credit_note_id=made[DocumentKind.SALES_CREDIT_NOTE].id, amount=Decimal("100.00"), on=paid.payment_date))
    return recording.sent


def test_every_body_sent_validates_against_the_reference_schema(sent):
    services = [service for service, _ in sent]
    assert services == ["Customer", "Customer", "TaxInvoice", "CustomerReturn", "Supplier", "SupplierInvoice",
                        "SupplierReturn", "CustomerReceipt", "Allocation", "Allocation"]
    for service, body in sent:
        assert problems(service, body) == [], (service, body)


def test_documents_carry_our_reference_in_external_reference_and_receipts_in_reference(sent):
    bodies = dict(sent)
    assert bodies["TaxInvoice"]["ExternalReference"] == "INV-1"
    assert bodies["CustomerReturn"]["ExternalReference"] == "CN-1"
    assert bodies["SupplierInvoice"]["ExternalReference"] == "PI-1" and "SupplierId" in bodies["SupplierReturn"]
    assert "_service" not in bodies["Supplier"]  # the mapper's note to the connector is not sent
    assert bodies["CustomerReceipt"]["Reference"] == "R-1" and "ExternalReference" not in bodies["CustomerReceipt"]
    lines = bodies["TaxInvoice"]["Lines"]
    assert {line["LineType"] for line in lines} == {1} and all(isinstance(line["TaxTypeId"], int) for line in lines)
    update = sent[1][1]  # Save replaces the customer: Sage's copy, the host's change over it
    assert update["ID"] > 0 and update["PostalAddress04"] == "Fremantle" and update["Name"] == "Jones Motors"
