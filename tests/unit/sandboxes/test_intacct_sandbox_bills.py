"""The Intacct sandbox's AP side: VENDOR (generic create / update, readByQuery by VENDORID, NAME and
DISPLAYCONTACT.EMAIL1) and APBILL (create_bill, validated against api-v3.0.xsd; its total is the
sum of its lines; a repeated controlid under uniqueid=true posts nothing; reverse_bill)."""

from __future__ import annotations

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
from sagebridge.connectors.base import RecordInvalid, UncertainWrite
from sagebridge.connectors.sage_intacct.client import CompanyGates, IntacctClient, IntacctCredentials, SessionCache
from sagebridge.connectors.sage_intacct.xml import Function, element, sub


@pytest.fixture
def gateway():
    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    transport = sandbox.sync_transport()
    with httpx.Client(transport=transport) as http:
        yield sandbox, IntacctClient(
            http, IntacctCredentials(DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD, DEFAULT_COMPANY, DEFAULT_USER,
                                     DEFAULT_PASSWORD),
            endpoint=ENDPOINT, sessions=SessionCache(), gates=CompanyGates(), sleep=lambda s: None)
    transport.close()


def _vendor(vendor_id: str, name: str, email: str) -> Function:
    create = element("create")
    vendor = sub(create, "VENDOR")
    sub(vendor, "VENDORID", vendor_id)
    sub(vendor, "NAME", name)
    sub(sub(vendor, "DISPLAYCONTACT"), "EMAIL1", email)
    return Function(f"vendor-{vendor_id}", create)


def _date(parent, tag: str, day: int) -> None:
    node = sub(parent, tag)
    sub(node, "year", "2025")
    sub(node, "month", "03")
    sub(node, "day", f"{day:02d}")


def _bill(vendor_id: str, number: str, *lines: tuple[str, str], items: bool = True) -> Function:
    bill = element("create_bill")
    sub(bill, "vendorid", vendor_id)
    _date(bill, "datecreated", 2)
    _date(bill, "datedue", 31)
    sub(bill, "billno", number)
    if items:
        billitems = sub(bill, "billitems")
        for account, amount in lines:
            line = sub(billitems, "lineitem")
            sub(line, "glaccountno", account)
            sub(line, "amount", amount)
            sub(line, "locationid", "100")
    return Function(f"bill-{number}", bill)


def test_a_vendor_is_created_once_found_by_id_name_and_email_and_updated(gateway):
    sandbox, client = gateway
    client.execute(_vendor("V1", "Acme Parts", "ap@acme.example"), unique=True)
    with pytest.raises(RecordInvalid) as taken:  # another create under the same VENDORID
        client.execute(Function("vendor-again", _vendor("V1", "Other", "x@y.example").body), unique=True)
    assert taken.value.data_code == "BL34000061"
    for query in ("VENDORID = 'V1'", "NAME = 'Acme Parts'", "DISPLAYCONTACT.EMAIL1 = 'ap@acme.example'"):
        assert [r["VENDORID"] for r in client.read_by_query("VENDOR", query)] == ["V1"]
    update = element("update")
    changed = sub(update, "VENDOR")
    sub(changed, "VENDORID", "V1")
    sub(changed, "NAME", "Acme Parts Ltd")
    client.execute(Function("update-vendor-V1", update))
    [held] = sandbox.accountant().find("VENDOR", "VENDORID", "V1")
    assert held["NAME"] == "Acme Parts Ltd" and held["DISPLAYCONTACT"]["EMAIL1"] == "ap@acme.example"


def test_a_bill_totals_its_lines_names_its_vendor_and_posts_once(gateway):
    sandbox, client = gateway
    client.execute(_vendor("V1", "Acme Parts", "ap@acme.example"), unique=True)
    bill = _bill("V1", "BILL-1", ("5000", "40.00"), ("2210", "8.00"))
    client.execute(bill, unique=True)
    with pytest.raises(UncertainWrite):  # the same controlid again under uniqueid: nothing runs
        client.execute(bill, unique=True)
    [held] = client.read_by_query("APBILL", "RECORDID = 'BILL-1'")
    assert (held["VENDORID"], held["VENDORNAME"]) == ("V1", "Acme Parts")
    assert Decimal(held["TOTALENTERED"]) == Decimal(held["TOTALDUE"]) == Decimal("48.00")
    assert sandbox.accountant().count_by_reference("APBILL") == {"BILL-1": 1}
    reverse = element("reverse_bill", key=str(held["RECORDNO"]))
    _date(reverse, "datereversed", 4)
    client.execute(Function("void-bill", reverse), unique=True)
    [after] = sandbox.accountant().find("APBILL", "RECORDID", "BILL-1")
    assert after["STATE"] == "Reversed" and after["TOTALDUE"] == 0


def test_a_bill_is_refused_for_an_unknown_vendor_or_account_and_without_its_items(gateway):
    sandbox, client = gateway
    with pytest.raises(RecordInvalid, match="Invalid Vendor 'NOBODY'"):
        client.execute(_bill("NOBODY", "BILL-2", ("5000", "1.00")), unique=True)
    client.execute(_vendor("V1", "Acme Parts", "ap@acme.example"), unique=True)
    with pytest.raises(RecordInvalid, match="valid account"):
        client.execute(_bill("V1", "BILL-3", ("9999", "1.00")), unique=True)
    with pytest.raises(RecordInvalid):  # billitems is required by api-v3.0.xsd: the schema refuses it
        client.execute(_bill("V1", "BILL-4", items=False), unique=True)
    assert sandbox.accountant().count_by_reference("APBILL") == {}


def test_a_bill_tax_line_on_a_sales_tax_account_is_refused(gateway):
    # Input VAT belongs on a Purchase TAXDETAIL's account (2210 here), not the sales tax payable 2200.
    sandbox, client = gateway
    details = {r["DETAILID"]: (r["TAXTYPE"], r["GLACCOUNT"]) for r in client.read_by_query("TAXDETAIL", "")}
    assert details["Purchase Tax Standard"] == ("Purchase", "2210")
    assert details["Sales Tax Standard"] == ("Sale", "2200")
    client.execute(_vendor("V1", "Acme Parts", "ap@acme.example"), unique=True)
    with pytest.raises(RecordInvalid, match="sales tax account '2200'"):
        client.execute(_bill("V1", "BILL-5", ("5000", "40.00"), ("2200", "8.00")), unique=True)
    assert sandbox.accountant().count_by_reference("APBILL") == {}


def _with_dimensions(tag: str, party: str, number_tag: str, items_tag: str, number: str, *,
                     department: str = "SVC", class_id: str = "FIELD", custom: str | None = None) -> Function:
    """create_invoice / create_aradjustment / create_bill / create_apadjustment with one line that
    names every dimension, in api-v3.0.xsd's lineitem order."""
    doc = element(tag)
    sub(doc, f"{party}id", "V1" if party == "vendor" else "ACME")
    _date(doc, "datecreated", 2)
    if tag in ("create_invoice", "create_bill"):
        _date(doc, "datedue", 31)
    sub(doc, number_tag, number)
    if custom:
        field = sub(sub(doc, "customfields"), "customfield")
        sub(field, "customfieldname", custom)
        sub(field, "customfieldvalue", "Leeds depot")
    line = sub(sub(doc, items_tag), "lineitem")
    for child, value in (("glaccountno", "5000"), ("amount", "10.00"), ("locationid", "100"),
                         ("departmentid", department), ("classid", class_id)):
        sub(line, child, value)
    return Function(f"{tag}-{number}", doc)


DOCUMENTS = [("create_invoice", "customer", "invoiceno", "invoiceitems", "ARINVOICE"),
             ("create_aradjustment", "customer", "adjustmentno", "aradjustmentitems", "ARADJUSTMENT"),
             ("create_bill", "vendor", "billno", "billitems", "APBILL"),
             ("create_apadjustment", "vendor", "adjustmentno", "apadjustmentitems", "APADJUSTMENT")]


@pytest.mark.parametrize(("tag", "party", "number_tag", "items_tag", "obj"), DOCUMENTS)
def test_every_document_line_keeps_its_class_and_department_and_refuses_ones_intacct_does_not_hold(
        gateway, tag, party, number_tag, items_tag, obj):
    sandbox, client = gateway
    client.execute(_vendor("V1", "Acme Parts", "ap@acme.example"), unique=True)
    client.execute(_with_dimensions(tag, party, number_tag, items_tag, "D-1"), unique=True)
    [held] = sandbox.accountant().find(obj, "RECORDID", "D-1")
    [line] = held[f"{obj}ITEMS"][f"{obj}ITEM"]
    assert (line["LOCATIONID"], line["DEPARTMENTID"], line["CLASSID"]) == ("100", "SVC", "FIELD")
    with pytest.raises(RecordInvalid, match="classid 'NOPE' is not valid"):
        client.execute(_with_dimensions(tag, party, number_tag, items_tag, "D-2", class_id="NOPE"), unique=True)
    with pytest.raises(RecordInvalid, match="departmentid 'NOPE' is not valid"):
        client.execute(_with_dimensions(tag, party, number_tag, items_tag, "D-3", department="NOPE"), unique=True)
    assert sorted(sandbox.accountant().count_by_reference(obj)) == ["D-1"]


def test_a_bill_takes_the_custom_field_defined_on_apbill_and_refuses_one_that_is_not(gateway):
    sandbox, client = gateway
    client.execute(_vendor("V1", "Acme Parts", "ap@acme.example"), unique=True)
    client.execute(_with_dimensions("create_bill", "vendor", "billno", "billitems", "B-1", custom="HOST_LOCATION"),
                   unique=True)
    [held] = sandbox.accountant().find("APBILL", "RECORDID", "B-1")
    assert held["HOST_LOCATION"] == "Leeds depot"
    with pytest.raises(RecordInvalid, match="Custom field 'DEPOT' does not exist on APBILL"):
        client.execute(_with_dimensions("create_bill", "vendor", "billno", "billitems", "B-2", custom="DEPOT"),
                       unique=True)
