"""The Intacct sandbox applies credit memos as Intacct documents it (developer.intacct.com/api/
accounts-receivable/ar-payments/, "Create AR Payment"): an ARPYMTDETAIL naming the invoice
(RECORDKEY) applies a credit memo (ADJUSTMENTKEY, TRX_ADJUSTMENTAMOUNT) to it, with or without cash.
Both documents' TOTALDUE move; neither can be over-applied; a credit memo of another customer is
refused; the ARPYMT's total is the cash only. The connector sends a credit note's application once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest

from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    ENDPOINT,
    SageIntacctSandbox,
    SandboxClock,
)
from sagebridge.connectors.base import NotSupported, RecordInvalid, UncertainWrite
from sagebridge.connectors.sage_intacct import export_mapper
from sagebridge.connectors.sage_intacct.client import CompanyGates, IntacctClient, IntacctCredentials, SessionCache
from sagebridge.connectors.sage_intacct.connector import IntacctConnector
from sagebridge.connectors.sage_intacct.xml import Function, element, sub
from sagebridge.domain import DocumentKind, TenantSettings

D = Decimal
SETTINGS = TenantSettings(provider="sage_intacct", receipt_bank_account_id="BOA-OPS")


@pytest.fixture
def books():
    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    transport = sandbox.sync_transport()
    with httpx.Client(transport=transport) as http:
        client = IntacctClient(
            http, IntacctCredentials(DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD, DEFAULT_COMPANY, DEFAULT_USER,
                                     DEFAULT_PASSWORD),
            endpoint=ENDPOINT, sessions=SessionCache(), gates=CompanyGates(), sleep=lambda s: None)
        yield sandbox, IntacctConnector(client, SETTINGS)
    transport.close()


def _document(connector: IntacctConnector, tag: str, customer: str, number: str, amount: str) -> str:
    fn = element(tag)
    sub(fn, "customerid", customer)
    created = sub(fn, "datecreated")
    for part, value in (("year", "2025"), ("month", "03"), ("day", "01")):
        sub(created, part, value)
    sub(fn, "invoiceno" if tag == "create_invoice" else "adjustmentno", number)
    line = sub(sub(fn, "invoiceitems" if tag == "create_invoice" else "aradjustmentitems"), "lineitem")
    sub(line, "glaccountno", "4000")
    sub(line, "amount", amount)
    return str(connector.client.execute(Function(f"doc-{number}", fn), unique=True).key)


def _due(sandbox: SageIntacctSandbox, obj: str, key: str) -> Decimal:
    return sandbox.accountant().get(obj, key)["TOTALDUE"]


def _apply(connector: IntacctConnector, memo: str, invoice: str, amount: str, *, customer: str = "ACME",
           key: str = "k-1"):
    body = export_mapper.credit_note_allocation_body(contact_id=customer, invoice_id=invoice, credit_note_id=memo,
                                                     amount=D(amount), on=date(2025, 3, 2))
    return connector.create_allocation(body, idempotency_key=key)


def test_a_credit_memo_applied_to_its_invoice_moves_both_totaldue_and_no_money(books):
    sandbox, connector = books
    invoice = _document(connector, "create_invoice", "ACME", "INV-1", "120.00")
    memo = _document(connector, "create_aradjustment", "ACME", "CN-1", "-30.00")

    made = _apply(connector, memo, invoice, "30.00")

    assert _due(sandbox, "ARINVOICE", invoice) == D("90.00")
    assert _due(sandbox, "ARADJUSTMENT", memo) == D("0.00")  # used up
    payment = sandbox.accountant().get("ARPYMT", made.id)
    assert payment["TOTALENTERED"] == D("0") and payment["DOCNUMBER"] == f"CM/{memo}/{invoice}"
    [detail] = sandbox.accountant().find("ARPYMTDETAIL", "PAYMENTKEY", payment["RECORDNO"])
    assert detail["ADJUSTMENTKEY"] == int(memo) and detail["TRX_ADJUSTMENTAMOUNT"] == D("30.00")


def test_a_repeat_of_the_same_application_posts_nothing_and_is_found_again_by_its_docnumber(books):
    sandbox, connector = books
    invoice = _document(connector, "create_invoice", "ACME", "INV-1", "120.00")
    memo = _document(connector, "create_aradjustment", "ACME", "CN-1", "-30.00")
    first = _apply(connector, memo, invoice, "10.00")

    again = _apply(connector, memo, invoice, "10.00")  # the answer was lost: the same controlid again

    assert again.id == first.id
    assert len(sandbox.accountant().list("ARPYMT")) == 1 and _due(sandbox, "ARINVOICE", invoice) == D("110.00")


def test_neither_document_can_be_over_applied(books):
    sandbox, connector = books
    invoice = _document(connector, "create_invoice", "ACME", "INV-1", "20.00")
    memo = _document(connector, "create_aradjustment", "ACME", "CN-1", "-30.00")
    with pytest.raises(RecordInvalid, match=r"more than the 20\.00 due on invoice INV-1"):
        _apply(connector, memo, invoice, "25.00", key="k-over-invoice")
    other = _document(connector, "create_invoice", "ACME", "INV-2", "100.00")
    with pytest.raises(RecordInvalid, match=r"more than the 30\.00 left on credit memo CN-1"):
        _apply(connector, memo, other, "31.00", key="k-over-memo")
    assert _due(sandbox, "ARINVOICE", invoice) == D("20.00") and _due(sandbox, "ARADJUSTMENT", memo) == D("-30.00")
    assert sandbox.accountant().list("ARPYMT") == []


def test_a_credit_memo_of_another_customer_is_refused(books):
    sandbox, connector = books
    invoice = _document(connector, "create_invoice", "ACME", "INV-1", "120.00")
    theirs = _document(connector, "create_aradjustment", "GLOBEX", "CN-9", "-30.00")
    with pytest.raises(RecordInvalid, match="belongs to customer GLOBEX, not ACME"):
        _apply(connector, theirs, invoice, "30.00")
    assert _due(sandbox, "ARINVOICE", invoice) == D("120.00")


def test_a_receipt_with_credit_lines_books_the_cash_only_and_settles_the_invoice(books):
    sandbox, connector = books
    invoice = _document(connector, "create_invoice", "ACME", "INV-1", "120.00")
    memo = _document(connector, "create_aradjustment", "ACME", "CN-1", "-12.00")
    create = element("create")
    arpymt = sub(create, "ARPYMT")
    for tag, value in (("FINANCIALENTITY", "BOA-OPS"), ("PAYMENTMETHOD", "EFT"), ("CUSTOMERID", "ACME"),
                       ("DOCNUMBER", "PAY-1"), ("RECEIPTDATE", "03/02/2025")):
        sub(arpymt, tag, value)
    details = sub(arpymt, "ARPYMTDETAILS")
    for fields in ((("RECORDKEY", invoice), ("TRX_PAYMENTAMOUNT", "108.00")),
                   (("RECORDKEY", invoice), ("ADJUSTMENTKEY", memo), ("TRX_ADJUSTMENTAMOUNT", "12.00"))):
        detail = sub(details, "ARPYMTDETAIL")
        for tag, value in fields:
            sub(detail, tag, value)
    connector.client.execute(Function("arpymt-PAY-1", create), unique=True)

    [payment] = sandbox.accountant().list("ARPYMT")
    assert payment["TOTALENTERED"] == D("108.00")  # the bank sees the money that moved
    assert _due(sandbox, "ARINVOICE", invoice) == D("0.00") and _due(sandbox, "ARADJUSTMENT", memo) == D("0.00")
    assert sandbox.accountant().get("ARINVOICE", invoice)["STATE"] == "Paid"
    sandbox.accountant().reverse_payment(payment["RECORDNO"])  # and a reversal gives both back
    assert _due(sandbox, "ARINVOICE", invoice) == D("120.00") and _due(sandbox, "ARADJUSTMENT", memo) == D("-12.00")


def test_a_detail_that_neither_pays_nor_applies_a_credit_is_refused(books):
    _, connector = books
    invoice = _document(connector, "create_invoice", "ACME", "INV-1", "120.00")
    create = element("create")
    arpymt = sub(create, "ARPYMT")
    for tag, value in (("FINANCIALENTITY", "BOA-OPS"), ("PAYMENTMETHOD", "EFT"), ("CUSTOMERID", "ACME"),
                       ("RECEIPTDATE", "03/02/2025")):
        sub(arpymt, tag, value)
    sub(sub(sub(arpymt, "ARPYMTDETAILS"), "ARPYMTDETAIL"), "RECORDKEY", invoice)
    with pytest.raises(RecordInvalid, match="give a payment amount"):
        connector.client.execute(Function("arpymt-empty", create), unique=True)


def test_without_a_receipt_bank_account_the_connector_sends_nothing_and_says_which_setting(books):
    sandbox, connector = books
    invoice = _document(connector, "create_invoice", "ACME", "INV-1", "120.00")
    memo = _document(connector, "create_aradjustment", "ACME", "CN-1", "-30.00")
    unset = IntacctConnector(connector.client, TenantSettings(provider="sage_intacct"))
    with pytest.raises(NotSupported, match="receipt_bank_account_id"):
        _apply(unset, memo, invoice, "30.00")
    assert sandbox.accountant().list("ARPYMT") == []


def test_an_uncertain_write_not_found_by_its_docnumber_stays_uncertain(books, monkeypatch):
    sandbox, connector = books
    invoice = _document(connector, "create_invoice", "ACME", "INV-1", "120.00")
    memo = _document(connector, "create_aradjustment", "ACME", "CN-1", "-30.00")

    def lost(*args, **kwargs):
        raise UncertainWrite("the connection dropped before Intacct answered")

    monkeypatch.setattr(connector.client, "execute", lost)
    with pytest.raises(UncertainWrite):
        _apply(connector, memo, invoice, "30.00")
    assert _due(sandbox, "ARINVOICE", invoice) == D("120.00")


def test_the_connector_reads_the_credit_memo_left_after_its_application(books):
    _, connector = books
    invoice = _document(connector, "create_invoice", "ACME", "INV-1", "120.00")
    memo = _document(connector, "create_aradjustment", "ACME", "CN-1", "-30.00")
    _apply(connector, memo, invoice, "20.00")
    note = connector.get_document(DocumentKind.SALES_CREDIT_NOTE, memo)
    assert note.data["outstanding_amount"] == D("10.00")  # what the engine reads to know it landed
