"""Each product's credit-note allocation body for both ledgers: a purchase (vendor) credit note is set
against its purchase invoice on the vendor's side where the product can do it, and refused with a
reason the accountant can act on where it cannot; a kind that is not a credit note is a clear error."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sagebridge.connectors.base import NotSupported
from sagebridge.connectors.sage200 import mapper as sage200
from sagebridge.connectors.sage200.client import Sage200Connector
from sagebridge.connectors.sage_accounting import mapper as sage_accounting
from sagebridge.connectors.sage_intacct import export_mapper as intacct
from sagebridge.connectors.sage_intacct import mapper as intacct_reads
from sagebridge.connectors.sage_intacct.connector import IntacctConnector
from sagebridge.domain import DocumentKind

PCN, SCN = DocumentKind.PURCHASE_CREDIT_NOTE, DocumentKind.SALES_CREDIT_NOTE
ARGS = {"contact_id": "7", "invoice_id": "11", "credit_note_id": "12", "amount": Decimal("30"), "on": date(2025, 3, 4)}
MAPPERS = [sage_accounting, sage200, intacct]


def test_sage_accounting_sets_a_vendor_credit_note_against_its_bill_with_a_vendor_allocation():
    body = sage_accounting.credit_note_allocation_body(**ARGS, kind=PCN)
    assert body["transaction_type_id"] == "VENDOR_ALLOCATION" and body["contact_id"] == "7"
    assert body["allocated_artefacts"] == [{"artefact_id": "11", "amount": Decimal("30.00")},
                                           {"artefact_id": "12", "amount": Decimal("-30.00")}]
    assert sage_accounting.credit_note_allocation_body(**ARGS)["transaction_type_id"] == "CUSTOMER_ALLOCATION"


def test_sage_200_refuses_a_purchase_allocation_before_anything_is_sent():
    body = sage200.credit_note_allocation_body(**ARGS, kind=PCN)
    assert "allocate it in Sage 200's purchase ledger" in body["refused"]

    class NoCalls:
        def post(self, *args, **kwargs):
            raise AssertionError("nothing may be posted")

    connector = Sage200Connector.__new__(Sage200Connector)
    connector.client = NoCalls()  # type: ignore[assignment]
    with pytest.raises(NotSupported) as refused:
        connector.create_allocation(body)
    assert refused.value.message == sage200.PURCHASE_ALLOCATION_REFUSED
    assert "refused" not in sage200.credit_note_allocation_body(**ARGS, kind=SCN)  # sales allocations still go


def test_intacct_refuses_a_vendor_credit_memo_with_the_accounts_payable_reason():
    body = intacct.credit_note_allocation_body(**ARGS, kind=PCN)
    assert body["refused"] == intacct_reads.VENDOR_CREDIT_NOT_APPLIED
    assert "apply the vendor credit memo to its bill in Intacct" in body["refused"]
    connector = IntacctConnector.__new__(IntacctConnector)
    with pytest.raises(NotSupported) as refused:
        connector.create_allocation(body)
    assert refused.value.message == intacct_reads.VENDOR_CREDIT_NOT_APPLIED
    assert "refused" not in intacct.credit_note_allocation_body(**ARGS, kind=SCN)  # sales credit memos are applied


@pytest.mark.parametrize("mapper", MAPPERS, ids=lambda m: m.__name__.split(".")[-2])
def test_only_credit_notes_are_allocated(mapper):
    with pytest.raises(ValueError, match="sales_invoice is not a credit note"):
        mapper.credit_note_allocation_body(**ARGS, kind=DocumentKind.SALES_INVOICE)
