"""Every request the Intacct client sends validates against the gateway's schema
(../shared/specs/sage-intacct/api-v3.0.xsd), checked here with xmlschema independently of the
sandbox (which checks it too). The scenario drives every function the connector and the feed use.
`query` is newer than the published schema: requests carrying it validate against api-v3.0.xsd plus
local/sandboxes/sage_intacct/query-supplement.xsd (the schema the sandbox uses); every other request
against the published api-v3.0.xsd alone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import xmlschema
from defusedxml import ElementTree

from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    ENDPOINT,
    LOCATION_FIELD,
    SageIntacctSandbox,
    SandboxClock,
)
from local.sandboxes.sage_intacct.schemas import gateway_schema
from sagebridge.connectors.base import RecordInvalid, UncertainWrite
from sagebridge.connectors.sage_intacct import export_mapper, reads
from sagebridge.connectors.sage_intacct.client import (
    CompanyGates,
    IntacctClient,
    IntacctCredentials,
    SessionCache,
)
from sagebridge.connectors.sage_intacct.connector import IntacctConnector
from sagebridge.connectors.sage_intacct.feed import IntacctFeed
from sagebridge.connectors.sage_intacct.xml import Function, element, sub
from sagebridge.domain import (
    Customer,
    CustomerPayment,
    PurchaseCreditNote,
    PurchaseInvoice,
    SalesCreditNote,
    SalesInvoice,
    TenantSettings,
    Vendor,
)
from sagebridge.domain.kinds import DocumentKind
from sagebridge.domain.remote import MoneyKind

# Dimensions (location, department, class) on every line and the host's location on invoices and
# bills, as a tenant sets them.
SETTINGS = TenantSettings(provider="sage_intacct", tax_mappings={"S": "Sales Tax Standard"},
                          default_sales_ledger_account_id="4000", ledger_mappings={"PARTS": "4100"},
                          default_purchase_ledger_account_id="5000", receipt_bank_account_id="BOA-OPS",
                          intacct={"location_id": "100", "department_id": "SVC", "class_id": "FIELD",
                                   "location_custom_field": LOCATION_FIELD, "host_location": "Leeds depot",
                                   "bill_location_custom_field": LOCATION_FIELD,
                                   "purchase_tax_mappings": {"S": "Purchase Tax Standard"}})
XSD = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "sage-intacct" / "api-v3.0.xsd"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


@pytest.fixture
def recorded():
    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    sent: list[bytes] = []
    inner = sandbox.sync_transport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request.read())
            return inner.handle_request(request)

    http = httpx.Client(transport=Recording())
    credentials = IntacctCredentials(DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD, DEFAULT_COMPANY, DEFAULT_USER,
                                     DEFAULT_PASSWORD, entity_id="100")
    client = IntacctClient(http, credentials, endpoint=ENDPOINT, sessions=SessionCache(), gates=CompanyGates(),
                           sleep=lambda s: None, page_size=2)
    yield sandbox, IntacctConnector(client, SETTINGS), sent
    http.close()
    inner.close()


def _scenario(connector: IntacctConnector, sandbox: SageIntacctSandbox) -> None:
    since = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    connector.list_tax_rates()
    connector.list_ledger_accounts()
    connector.list_bank_accounts()
    connector.list_items(changed_since=since)
    connector.find_contacts(name="Acme Fleet Services", contact_type="CUSTOMER")
    connector.find_contacts(email="ap@acme.example")
    party = Customer(host_id="jo", name="Jo O'Neil", company="O'Neil & Sons <Plumbing>", email="jo@oneil.example",
                     phone="+1 512 555 0100", tax_number="12-345",
                     address={"lines": ["1 Main St"], "city": "Austin", "region": "TX", "postcode": "78701",
                              "country_code": "US"})
    contact = connector.create_contact(export_mapper.contact_body(party, business_currency="USD"),
                                       idempotency_key="k-contact")
    moved = party.model_copy(update={"tax_number": "12-346", "email": "accounts@oneil.example",
                                     "address": party.address.model_copy(update={"lines": ["2 Congress Ave"]})})
    connector.update_contact(contact.id, export_mapper.contact_update_body(moved, business_currency="USD"))
    taxes = export_mapper.TaxTable.from_records(connector.list_tax_rates())

    def document(model, number, lines, contact_id=contact.id, **fields):
        doc = model.model_validate({"host_id": number, "number": number, "party_id": "jo", "currency": "USD",
                                    "status": "pending_payment", "totals": {"net": "0", "tax": "0", "total": "0"},
                                    "lines": lines, **fields})
        return export_mapper.document_body(doc, contact_id=contact_id, settings=SETTINGS, taxes=taxes,
                                           business_currency="USD").body

    invoice = connector.create_document(DocumentKind.SALES_INVOICE, document(
        SalesInvoice, "INV-00001", [{"description": "Labour & parts", "unit_price": "100.00", "tax_code": "S",
                                     "ledger_code": "PARTS"}],
        document_date="2025-03-01", due_date="2025-03-31", reference="PO 7", currency="EUR",
        exchange_rate="1.0825"), idempotency_key="k-invoice")
    second = connector.create_document(DocumentKind.SALES_INVOICE, document(
        SalesInvoice, "INV-00002", [{"description": "Call-out", "unit_price": "50.00"}],
        document_date="2025-03-02"), idempotency_key="k-invoice-2")
    goodwill = document(SalesCreditNote, "CN-00001", [{"description": "Goodwill", "unit_price": "10.00",
                                                      "tax_code": "S", "ledger_code": "PARTS"}],
                        document_date="2025-03-03")
    credit = connector.create_document(DocumentKind.SALES_CREDIT_NOTE, goodwill, idempotency_key="k-credit")
    with pytest.raises(UncertainWrite):  # the same event again: refused as a repeat, nothing posted
        connector.create_document(DocumentKind.SALES_CREDIT_NOTE, goodwill, idempotency_key="k-credit")
    receipt = CustomerPayment(host_id="PAY-1", party_id="jo", payment_date=dt.date(2025, 3, 4), currency="USD",
                              amount=Decimal("60.00"), method="cheque",
                              allocations=[{"kind": "sales_invoice", "host_id": "INV-00001", "amount": "60.00"}])
    payment = connector.create_payment(export_mapper.payment_body(
        receipt, contact_id=contact.id, allocations=[(DocumentKind.SALES_INVOICE, invoice.id, Decimal("60.00"))],
        bank_account_id="BOA-OPS", settings=SETTINGS, business_currency="USD"), idempotency_key="k-payment")
    _credit_applications(connector, contact.id, invoice.id, document)
    connector.get_document(DocumentKind.SALES_INVOICE, invoice.id)
    connector.get_document(DocumentKind.CUSTOMER_PAYMENT, payment.id)
    connector.find_documents_by_reference(DocumentKind.SALES_INVOICE, "INV-00001")
    connector.find_documents_by_reference(DocumentKind.CUSTOMER_PAYMENT, "PAY-1")
    list(connector.list_documents(DocumentKind.SALES_INVOICE, from_date=dt.date(2025, 1, 1),
                                  to_date=dt.date(2025, 12, 31)))
    list(connector.payments_changed_since(since))
    feed = IntacctFeed(connector)
    for changed in (feed.payments_changed, feed.items_changed, feed.customers_changed, feed.tax_rates_changed):
        list(changed(since))
    list(feed.payments_deleted(since))
    feed.document(DocumentKind.SALES_INVOICE, invoice.id)
    # One receipt by id (money on a document linked going live), read as `payments_changed` lists it.
    money = feed.payment(payment.id)
    assert money.kind is MoneyKind.RECEIPT
    assert [a.document_id for a in money.allocations] == [invoice.id]
    _vendor_and_bill(connector, taxes)
    connector.void_document(DocumentKind.SALES_INVOICE, second.id, reason="Voided in the host app (INV-00002)")
    connector.void_document(DocumentKind.SALES_CREDIT_NOTE, credit.id, reason="Voided")
    owed = sandbox.accountant().get("ARINVOICE", invoice.id)["TOTALDUE"]
    connector.void_document(DocumentKind.CUSTOMER_PAYMENT, payment.id, reason="Voided in the host app (PAY-1)")
    assert sandbox.accountant().get("ARPYMT", payment.id)["STATE"] == "Reversed"  # reverse_arpayment
    assert sandbox.accountant().get("ARINVOICE", invoice.id)["TOTALDUE"] == owed + Decimal("60.00")
    with pytest.raises(RecordInvalid):
        connector.create_document(DocumentKind.SALES_INVOICE, document(
            SalesInvoice, "INV-X", [{"description": "x", "unit_price": "1.00"}], contact_id="NOBODY",
            document_date="2025-03-01"), idempotency_key="k-bad")
    assert connector.business_currency() == "USD"  # the login's entity (100): readByQuery LOCATIONENTITY
    sandbox.expire_sessions()
    connector.find_contacts(reference=contact.id)  # logs in again


def _credit_applications(connector: IntacctConnector, contact_id: str, invoice_id: str, document) -> None:
    """A credit memo applied to its invoice (an ARPYMT of no money, found again on a repeat), a
    receipt offsetting a credit memo, and a pure offset: ARPYMTDETAIL ADJUSTMENTKEY lines."""
    def memo(number: str) -> str:
        return connector.create_document(DocumentKind.SALES_CREDIT_NOTE, document(
            SalesCreditNote, number, [{"description": "Goodwill", "unit_price": "5.00"}],
            document_date="2025-03-03"), idempotency_key=f"k-{number}").id

    linked = memo("CN-00010")
    apply = export_mapper.credit_note_allocation_body(contact_id=contact_id, invoice_id=invoice_id,
                                                      credit_note_id=linked, amount=Decimal("5.00"),
                                                      on=dt.date(2025, 3, 3))
    first = connector.create_allocation(apply, idempotency_key="k-apply")
    assert connector.create_allocation(apply, idempotency_key="k-apply").id == first.id  # a repeat: found again
    offset_memo, pure_memo = memo("CN-00011"), memo("CN-00012")
    for host_id, amount, credit in (("PAY-2", "1.00", offset_memo), ("PAY-3", "0", pure_memo)):
        owed = Decimal(amount) + Decimal("5.00")
        paid = CustomerPayment(host_id=host_id, party_id="jo", payment_date=dt.date(2025, 3, 4), currency="USD",
                               amount=Decimal(amount), allocations=[
                                   {"kind": "sales_invoice", "host_id": "INV-00001", "amount": str(owed)},
                                   {"kind": "sales_credit_note", "host_id": "CN", "amount": "5.00"}])
        connector.create_payment(export_mapper.payment_body(
            paid, contact_id=contact_id, allocations=[(DocumentKind.SALES_INVOICE, invoice_id, owed),
                                                      (DocumentKind.SALES_CREDIT_NOTE, credit, Decimal("5.00"))],
            bank_account_id="BOA-OPS", settings=SETTINGS, business_currency="USD"), idempotency_key=f"k-{host_id}")


def _vendor_and_bill(connector: IntacctConnector, taxes: export_mapper.TaxTable) -> None:
    """A vendor (found, created, updated) and its bill (created once, read back, reversed)."""
    supplier = Vendor(host_id="acme-parts", name="Acme Parts", email="ap@acmeparts.example",
                      address={"lines": ["9 Dock Rd"], "city": "Austin", "country_code": "US"})
    assert connector.find_contacts(name="Acme Parts", contact_type="VENDOR") == []
    vendor = connector.create_contact(export_mapper.contact_body(supplier, business_currency="USD"),
                                      idempotency_key="k-vendor")
    assert [v.id for v in connector.find_contacts(email="ap@acmeparts.example", contact_type="VENDOR")] == [vendor.id]
    connector.update_contact(vendor.id, export_mapper.contact_update_body(
        supplier.model_copy(update={"phone": "+1 512 555 0199"}), business_currency="USD"))
    doc = PurchaseInvoice.model_validate({
        "host_id": "BILL-1", "number": "BILL-00001", "party_id": "acme-parts", "currency": "USD",
        "status": "pending_payment", "totals": {"net": "0", "tax": "0", "total": "0"}, "reference": "AP-77",
        "document_date": "2025-03-02", "due_date": "2025-04-01",
        "lines": [{"description": "Brake pads", "unit_price": "40.00", "tax_code": "S"}]})
    body = export_mapper.document_body(doc, contact_id=vendor.id, settings=SETTINGS, taxes=taxes,
                                       business_currency="USD").body
    bill = connector.create_document(DocumentKind.PURCHASE_INVOICE, body, idempotency_key="k-bill")
    with pytest.raises(UncertainWrite):  # the same bill again: refused as a repeat, nothing posted
        connector.create_document(DocumentKind.PURCHASE_INVOICE, body, idempotency_key="k-bill")
    [found] = connector.find_documents_by_reference(DocumentKind.PURCHASE_INVOICE, "BILL-00001")
    held = connector.get_document(DocumentKind.PURCHASE_INVOICE, bill.id)
    assert found.id == held.id == bill.id and held.data["contact"] == {"id": vendor.id}
    assert held.data["total_amount"] == Decimal("48.00")  # Intacct's total: the line plus its tax line
    connector.void_document(DocumentKind.PURCHASE_INVOICE, bill.id, reason="Voided in the host app (BILL-00001)")
    note = PurchaseCreditNote.model_validate({
        "host_id": "VCN-1", "number": "VCN-00001", "party_id": "acme-parts", "currency": "USD",
        "status": "pending_payment", "totals": {"net": "0", "tax": "0", "total": "0"}, "document_date": "2025-03-03",
        "lines": [{"description": "Returned pads", "unit_price": "10.00", "tax_code": "S"}]})
    credit = connector.create_document(DocumentKind.PURCHASE_CREDIT_NOTE, export_mapper.document_body(
        note, contact_id=vendor.id, settings=SETTINGS, taxes=taxes, business_currency="USD").body,
        idempotency_key="k-vendor-credit")
    held = connector.get_document(DocumentKind.PURCHASE_CREDIT_NOTE, credit.id)
    assert held.data["total_amount"] == Decimal("12.00") and held.data["contact"] == {"id": vendor.id}
    connector.void_document(DocumentKind.PURCHASE_CREDIT_NOTE, credit.id, reason="Voided")


def test_every_request_the_client_sends_validates_against_the_xsd(recorded, schema):
    sandbox, connector, sent = recorded
    _scenario(connector, sandbox)
    functions = set()
    for body in sent:
        errors = list(schema.iter_errors(body.decode("utf-8")))
        assert errors == [], f"{errors[0].reason} at {errors[0].path} in {body[:400]!r}"
        root = ElementTree.fromstring(body)
        functions.update(child.tag for f in root.iter("function") for child in f)
    assert functions >= {"getAPISession", "readByQuery", "readMore", "read", "create", "update", "create_invoice",
                         "create_aradjustment", "reverse_invoice", "delete_aradjustment", "create_bill",
                         "reverse_bill", "create_apadjustment", "delete_apadjustment", "reverse_arpayment"}
    assert len(sent) > 30


def test_every_document_line_sent_carries_the_tenant_s_dimensions_and_validates(recorded, schema):
    sandbox, connector, sent = recorded
    _scenario(connector, sandbox)
    kinds, custom = set(), {}
    for body in sent:
        root = ElementTree.fromstring(body)
        for document in (c for f in root.iter("function") for c in f
                         if c.tag in ("create_invoice", "create_aradjustment", "create_bill", "create_apadjustment")):
            kinds.add(document.tag)
            lines = list(document.iter("lineitem"))
            assert lines and all((li.findtext("locationid"), li.findtext("departmentid"), li.findtext("classid"))
                                 == ("100", "SVC", "FIELD") for li in lines), document.tag
            custom[document.tag] = document.findtext("customfields/customfield/customfieldname")
        assert schema.is_valid(body.decode())
    assert kinds == {"create_invoice", "create_aradjustment", "create_bill", "create_apadjustment"}
    # the host location: on invoices and bills (create_aradjustment has no customfields in the xsd)
    assert custom["create_invoice"] == custom["create_bill"] == LOCATION_FIELD
    assert custom["create_aradjustment"] is None
    [bill] = sandbox.accountant().find("APBILL", "RECORDID", "BILL-00001")
    assert bill[LOCATION_FIELD] == "Leeds depot"


def test_writes_are_unique_with_a_stable_controlid_and_reads_are_not(recorded):
    sandbox, connector, sent = recorded
    _scenario(connector, sandbox)
    for body in sent:
        root = ElementTree.fromstring(body)
        tags = {child.tag for f in root.iter("function") for child in f}
        unique = root.findtext("control/uniqueid")
        if tags & {"create", "create_invoice", "create_aradjustment", "reverse_invoice", "delete_aradjustment",
                   "create_bill", "reverse_bill", "create_apadjustment", "delete_apadjustment", "reverse_arpayment"}:
            assert unique == "true"
            assert all(f.get("controlid", "").split("-")[0] in {"contact", "customer", "invoice", "aradjustment",
                                                                 "arpymt", "void", "vendor", "bill", "apadjustment",
                                                                 "credit"}
                       for f in root.iter("function"))
        else:
            assert unique == "false"
    assert sandbox.accountant().count_by_reference("ARADJUSTMENT")["CN-00001"] == 0  # deleted (voided) once
    assert sandbox.accountant().count_by_reference("APBILL")["BILL-00001"] == 1  # the repeat posted nothing
    assert sandbox.accountant().count_by_reference("APADJUSTMENT")["VCN-00001"] == 0  # deleted (voided) once


def test_query_reads_validate_against_the_xsd_and_its_supplement(recorded, schema):
    sandbox, connector, sent = recorded
    sandbox.accountant().add_customers(7)
    where = reads.any_of(
        reads.all_of(reads.condition("like", "CUSTOMERID", "BULK%"), reads.condition("notequalto", "STATUS", "x"),
                     reads.condition("greaterthan", "RECORDNO", "0"), reads.condition("isnotnull", "NAME")),
        reads.condition("in", "CUSTOMERID", "ACME", "O'Neil & <Sons>"), reads.condition("isnull", "TAXID"))
    rows = list(reads.query_all(connector.client, "CUSTOMER", ["CUSTOMERID", "NAME"], where=where, page_size=2,
                                order_by=[("NAME", True), ("RECORDNO", False)]))
    assert len(rows) == 9
    supplemented = gateway_schema()
    queries = [body for body in sent if b"<query>" in body]
    assert any(body.count(b"<function ") > 1 for body in queries)  # pages after the first share a request
    for body in queries:
        assert not schema.is_valid(body.decode())  # the published schema predates query...
        errors = list(supplemented.iter_errors(body.decode()))  # ...the supplement describes it
        assert errors == [], f"{errors[0].reason} at {errors[0].path} in {body[:400]!r}"
        assert ElementTree.fromstring(body).findtext("control/uniqueid") == "false"


def test_the_supplement_changes_nothing_but_query(recorded, schema):
    sandbox, connector, sent = recorded
    _scenario(connector, sandbox)
    supplemented = gateway_schema()
    for body in sent:
        assert supplemented.is_valid(body.decode()) == schema.is_valid(body.decode())
    bad = sent[-1].replace(b"<readByQuery>", b"<readByQuery><bogus/>")
    assert not supplemented.is_valid(bad.decode()) and not schema.is_valid(bad.decode())


def test_the_sandbox_refuses_what_the_schema_refuses():
    # A <query> without <select> is invalid even with the supplement (returning all fields is not supported).
    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    transport = sandbox.sync_transport()
    with httpx.Client(transport=transport) as http:
        bad = (b"<request><control><senderid>x</senderid><controlid>1</controlid></control><operation>"
               b"<authentication><sessionid>s</sessionid></authentication><content><function controlid=\"q\">"
               b"<query><object>CUSTOMER</object></query></function></content></operation></request>")
        answer = http.post(ENDPOINT, content=bad).text
    transport.close()
    assert "<status>failure</status>" in answer and "XL03000003" in answer


def test_function_element_helper_builds_schema_valid_reads(schema):
    fn = element("readByQuery")
    for tag, value in (("object", "CUSTOMER"), ("fields", "*"), ("query", "NAME = 'A & B <C>'"), ("pagesize", "10")):
        sub(fn, tag, value)
    from sagebridge.connectors.sage_intacct.xml import request_document

    body = request_document(sender_id="s", sender_password="p", control_id="c", session_id="x",
                            functions=[Function("f", fn)])
    assert schema.is_valid(body.decode())


def _login_request(sender: str, sender_password: str) -> bytes:
    return (f"<request><control><senderid>{sender}</senderid><password>{sender_password}</password><controlid>c"
            f"</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control><operation><authentication>"
            f"<login><userid>{DEFAULT_USER}</userid><companyid>{DEFAULT_COMPANY}</companyid><password>"
            f"{DEFAULT_PASSWORD}</password></login></authentication><content><function controlid=\"g\">"
            f"<getAPISession/></function></content></operation></request>").encode()


def test_sender_refusals_come_where_intacct_documents_them():
    """A wrong sender fails the control (developer.intacct.com/web-services/error-handling); a sender
    the company has not authorised fails the authentication, the control succeeding
    (developer.intacct.com/support/faq); both XL03000006."""
    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    transport = sandbox.sync_transport()
    with httpx.Client(transport=transport) as http:
        wrong = ElementTree.fromstring(http.post(ENDPOINT, content=_login_request(DEFAULT_SENDER_ID, "nope")).content)
        sandbox.accountant().remove_sender_authorisation(DEFAULT_SENDER_ID)
        unauthorised = ElementTree.fromstring(
            http.post(ENDPOINT, content=_login_request(DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD)).content)
    transport.close()
    assert wrong.findtext("control/status") == "failure" and wrong.find("operation") is None
    assert wrong.findtext("errormessage/error/errorno") == "XL03000006"
    assert unauthorised.findtext("control/status") == "success"
    assert unauthorised.findtext("operation/authentication/status") == "failure"
    assert unauthorised.findtext("operation/authentication/companyid") == DEFAULT_COMPANY
    assert unauthorised.findtext("operation/errormessage/error/errorno") == "XL03000006"
    assert unauthorised.find("operation/result") is None  # no function ran


def test_credit_memo_applications_validate_against_the_xsd(recorded, schema):
    sandbox, connector, sent = recorded
    _scenario(connector, sandbox)
    credits = [body for body in sent if b"<ADJUSTMENTKEY>" in body]
    assert len(credits) == 4  # the application, its repeat, the offsetting receipt, the pure offset
    for body in credits:
        assert schema.is_valid(body.decode())
        assert ElementTree.fromstring(body).findtext("control/uniqueid") == "true"
    arpymts = {r["DOCNUMBER"]: r for r in sandbox.accountant().list("ARPYMT")}
    assert [k for k in arpymts if k.startswith("CM/")] and len(arpymts) == 4  # the repeat posted nothing
    assert (arpymts["PAY-2"]["TOTALENTERED"], arpymts["PAY-3"]["TOTALENTERED"]) == (Decimal("1.00"), Decimal("0"))
