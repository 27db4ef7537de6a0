"""The regional Sage Accounting sandbox's Save, Get, Calculate and Delete as a client sees them over HTTP:
bodies validated against entities.schema.json, totals computed from the lines, tax invoices, customer
returns, receipts and their allocations, and the supplier side
(../shared/specs/sage-accounting-regional/README.md §4, §7, §10, §11; entities.md)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from local.sandboxes.sage_regional import API_BASE_URL, DEFAULT_API_KEY, SageRegionalSandbox, SandboxClock


def _client(sandbox: SageRegionalSandbox) -> httpx.Client:
    return httpx.Client(transport=sandbox.sync_transport(), base_url=API_BASE_URL, auth=sandbox.basic_auth(),
                        headers={"Content-Type": "application/json"},
                        params={"apikey": DEFAULT_API_KEY, "companyid": sandbox.lead_company_id})


@pytest.fixture
def sandbox() -> SageRegionalSandbox:
    return SageRegionalSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))  # AU: GST 10 %


@pytest.fixture
def api(sandbox: SageRegionalSandbox) -> Iterator[httpx.Client]:
    with _client(sandbox) as client:
        yield client


def _invoice(ids: dict[str, int], **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "CustomerId": ids["customer_acme"], "Date": "2025-03-03", "DueDate": "2025-04-02",
        "Reference": "PO-77", "ExternalReference": "sagebridge:inv-1",
        "Lines": [{"SelectionId": ids["item_service"], "TaxTypeId": ids["tax_standard"], "Quantity": 2,
                   "UnitPriceExclusive": 100},
                  {"SelectionId": ids["account_sales"], "LineType": 1, "TaxTypeId": ids["tax_zero"], "Quantity": 1,
                   "UnitPriceExclusive": 25.5, "Description": "Call-out fee"}],
    }
    body.update(overrides)
    return body


def _save(api: httpx.Client, service: str, body: dict[str, object], *, system_number: bool = True) -> httpx.Response:
    params = {"useSystemDocumentNumber": "true"} if system_number else {}
    return api.post(f"/{service}/Save", params=params, json=body)


def _created(api: httpx.Client, service: str, body: dict[str, object]) -> dict[str, Any]:
    answer = _save(api, service, body)
    assert answer.status_code == 201, answer.text
    return answer.json()


# ---- tax invoices

def test_save_with_no_id_creates_and_returns_the_entity_with_its_id_and_location(api, sandbox):
    answer = _save(api, "TaxInvoice", _invoice(sandbox.ids, Total=1, Tax=999, AmountDue=0))
    assert answer.status_code == 201
    invoice = answer.json()
    assert isinstance(invoice["ID"], int) and invoice["ID"] > 0
    assert answer.headers["location"].endswith(f"/api/2.0.0/TaxInvoice/Get/{invoice['ID']}")
    # Totals come from the lines, whatever the client sent: 2 x 100 at 10 % plus 25.50 at 0 %.
    assert (invoice["Exclusive"], invoice["Tax"], invoice["Total"]) == (225.5, 20, 245.5)
    assert invoice["AmountDue"] == 245.5
    assert [line["Total"] for line in invoice["Lines"]] == [220, 25.5]
    assert invoice["Status"] == "Unpaid" and invoice["DocumentNumber"] == "INV0000001"
    assert invoice["ExternalReference"] == "sagebridge:inv-1" and invoice["Date"] == "2025-03-03T00:00:00"
    fetched = api.get(f"/TaxInvoice/Get/{invoice['ID']}").json()
    assert fetched["ExternalReference"] == "sagebridge:inv-1" and fetched["Customer"]["Name"] == "Acme Fleet Services"


def test_save_with_an_existing_id_updates_it_in_place(api, sandbox):
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids))
    changed = _invoice(sandbox.ids, ID=invoice["ID"], Reference="PO-78",
                       Lines=[{"SelectionId": sandbox.ids["item_part"], "Quantity": 1}])
    answer = _save(api, "TaxInvoice", changed)
    assert answer.status_code == 200
    assert answer.json()["ID"] == invoice["ID"] and answer.json()["DocumentNumber"] == invoice["DocumentNumber"]
    assert answer.json()["Total"] == 50.05  # the item's price 45.50 and its sales tax type (GST 10 %)
    assert len(sandbox.accountant().list("TaxInvoice")) == 1
    assert _save(api, "TaxInvoice", _invoice(sandbox.ids, ID=987_654)).status_code == 404


def test_a_resent_save_without_an_id_makes_a_second_document(api, sandbox):
    _created(api, "TaxInvoice", _invoice(sandbox.ids))
    _created(api, "TaxInvoice", _invoice(sandbox.ids))  # no idempotency key in this API
    assert sandbox.accountant().count_by_external_reference()["sagebridge:inv-1"] == 2


@pytest.mark.parametrize(("change", "field"), [
    ({"DueDate": None}, "DueDate"),
    ({"CustomerId": "12"}, "CustomerId"),
    ({"ExternalReference": "x" * 101}, "ExternalReference"),
    ({"Lines": []}, "Lines"),
    ({"Lines": [{"Quantity": 1}]}, "Lines[0].SelectionId"),
    ({"Colour": "red"}, "Colour"),
])
def test_an_invalid_body_is_400_naming_the_field(api, sandbox, change, field):
    body = _invoice(sandbox.ids, **change)
    body = {k: v for k, v in body.items() if v is not None}
    answer = _save(api, "TaxInvoice", body)
    assert answer.status_code == 400
    assert field in answer.json()["ModelState"]
    assert field in answer.json()["Message"]


def test_unknown_members_are_ignored_when_the_knob_says_so(sandbox):
    relaxed = SageRegionalSandbox(clock=sandbox.clock, refuse_unknown_fields=False)
    with _client(relaxed) as api:
        assert _save(api, "TaxInvoice", _invoice(relaxed.ids, Colour="red")).status_code == 201


@pytest.mark.parametrize(("line", "field", "words"), [
    ({"SelectionId": 999_999, "Quantity": 1}, "Lines[0].SelectionId", "is not an Item"),
    ({"SelectionId": "item_service", "LineType": 1, "Quantity": 1, "UnitPriceExclusive": 1}, "Lines[0].SelectionId",
     "is not an Account"),
    ({"SelectionId": "item_service", "Quantity": 1, "TaxTypeId": 999_999}, "Lines[0].TaxTypeId", "not a TaxType"),
    ({"SelectionId": "item_service", "Quantity": 1, "TaxPercentage": 0.1}, "Lines[0].TaxPercentage", "not a fraction"),
    ({"SelectionId": "item_service", "Quantity": -1}, "Lines[0].Quantity", "must not be negative"),
])
def test_a_line_that_names_what_the_company_lacks_is_refused(api, sandbox, line, field, words):
    if line["SelectionId"] == "item_service":
        line = {**line, "SelectionId": sandbox.ids["item_service"]}
    answer = _save(api, "TaxInvoice", _invoice(sandbox.ids, Lines=[line]))
    assert answer.status_code == 400
    assert field in answer.json()["ModelState"] and words in answer.json()["Message"]


def test_lines_round_to_the_cent_half_up_by_default_and_half_even_by_knob(api, sandbox):
    line = [{"SelectionId": sandbox.ids["account_sales"], "LineType": 1, "TaxTypeId": sandbox.ids["tax_zero"],
             "Quantity": 1, "UnitPriceExclusive": 10.125}]
    assert _created(api, "TaxInvoice", _invoice(sandbox.ids, Lines=line))["Total"] == 10.13
    even = SageRegionalSandbox(clock=sandbox.clock, midpoint_rounding="half_even")
    with _client(even) as other:
        line[0].update(SelectionId=even.ids["account_sales"], TaxTypeId=even.ids["tax_zero"])
        assert _created(other, "TaxInvoice", _invoice(even.ids, Lines=line))["Total"] == 10.12


def test_inclusive_prices_take_the_tax_out_of_the_price(api, sandbox):
    line = [{"SelectionId": sandbox.ids["item_service"], "TaxTypeId": sandbox.ids["tax_standard"], "Quantity": 1,
             "UnitPriceInclusive": 110}]
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids, Inclusive=True, Lines=line))
    assert (invoice["Exclusive"], invoice["Tax"], invoice["Total"]) == (100, 10, 110)


def test_a_document_number_is_required_unless_sage_is_asked_to_assign_one(api, sandbox):
    answer = _save(api, "TaxInvoice", _invoice(sandbox.ids), system_number=False)
    assert answer.status_code == 400 and "useSystemDocumentNumber" in answer.json()["Message"]
    own = _save(api, "TaxInvoice", _invoice(sandbox.ids, DocumentNumber="HOST-1001"), system_number=False)
    assert own.status_code == 201 and own.json()["DocumentNumber"] == "HOST-1001"


def test_duplicate_document_numbers_are_kept_unless_the_knob_rejects_them(api, sandbox):
    for _ in range(2):
        assert _save(api, "TaxInvoice", _invoice(sandbox.ids, DocumentNumber="D-1"), system_number=False)\
            .status_code == 201
    strict = SageRegionalSandbox(clock=sandbox.clock, reject_duplicate_document_numbers=True)
    with _client(strict) as other:
        statuses = [_save(other, "TaxInvoice", _invoice(strict.ids, DocumentNumber="D-1"), system_number=False)
                    .status_code for _ in range(2)]
    assert statuses == [201, 400]


def test_voiding_by_status_4_is_refused_unless_the_knob_allows_it(api, sandbox):
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids))
    refused = _save(api, "TaxInvoice", _invoice(sandbox.ids, ID=invoice["ID"], StatusId=4))
    assert refused.status_code == 400 and "CustomerReturn" in refused.json()["Message"]
    voiding = SageRegionalSandbox(clock=sandbox.clock, void_by_status=True)
    with _client(voiding) as other:
        made = _created(other, "TaxInvoice", _invoice(voiding.ids))
        void = _save(other, "TaxInvoice", _invoice(voiding.ids, ID=made["ID"], StatusId=4)).json()
    assert (void["Status"], void["AmountDue"]) == ("Void", 0)


def test_calculate_previews_the_totals_and_saves_nothing(api, sandbox):
    answer = api.post("/TaxInvoice/Calculate", json=_invoice(sandbox.ids))
    assert answer.status_code == 200 and answer.json()["Total"] == 245.5
    assert sandbox.accountant().list("TaxInvoice") == []


# ---- receipts, returns and allocations

def test_a_receipt_allocated_to_an_invoice_part_pays_then_pays_it(api, sandbox):
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids))
    receipt = _created(api, "CustomerReceipt", {"CustomerId": sandbox.ids["customer_acme"], "Date": "2025-03-10",
                                                "Total": 245.5, "BankAccountId": sandbox.ids["bank"],
                                                "PaymentMethod": 4, "Reference": "EFT 1"})
    assert receipt["TotalUnallocated"] == 245.5
    first = api.post("/Allocation/Save", json={"SourceDocumentId": receipt["ID"],
                                               "AllocatedToDocumentId": invoice["ID"], "Total": 100})
    assert first.status_code == 201
    part = api.get(f"/TaxInvoice/Get/{invoice['ID']}").json()
    assert (part["Status"], part["AmountDue"]) == ("Partially Paid", 145.5)
    # The other ID pair third parties send is the same allocation.
    rest = api.post("/Allocation/Save", json={"DocumentHeaderId_Source": receipt["ID"],
                                              "DocumentHeaderId_Allocation": invoice["ID"], "Total": 145.5})
    assert rest.status_code == 201
    paid = api.get(f"/TaxInvoice/Get/{invoice['ID']}").json()
    assert (paid["Status"], paid["AmountDue"], paid["Paid"]) == ("Paid", 0, True)
    assert api.get(f"/CustomerReceipt/Get/{receipt['ID']}").json()["TotalUnallocated"] == 0


def test_an_allocation_cannot_exceed_what_is_outstanding(api, sandbox):
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids))
    receipt = _created(api, "CustomerReceipt", {"CustomerId": sandbox.ids["customer_acme"], "Date": "2025-03-10",
                                                "Total": 500, "BankAccountId": sandbox.ids["bank"]})
    over_invoice = api.post("/Allocation/Save", json={"SourceDocumentId": receipt["ID"],
                                                      "AllocatedToDocumentId": invoice["ID"], "Total": 245.51})
    assert over_invoice.status_code == 400 and "outstanding" in over_invoice.json()["Message"]
    small = _created(api, "CustomerReceipt", {"CustomerId": sandbox.ids["customer_acme"], "Date": "2025-03-10",
                                              "Total": 10, "BankAccountId": sandbox.ids["bank"]})
    over_receipt = api.post("/Allocation/Save", json={"SourceDocumentId": small["ID"],
                                                      "AllocatedToDocumentId": invoice["ID"], "Total": 11})
    assert over_receipt.status_code == 400 and "left to allocate" in over_receipt.json()["Message"]
    assert api.get(f"/TaxInvoice/Get/{invoice['ID']}").json()["AmountDue"] == 245.5


def test_a_receipt_may_carry_its_allocations_unless_the_knob_refuses_them(api, sandbox):
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids))
    receipt = {"CustomerId": sandbox.ids["customer_acme"], "Date": "2025-03-10", "Total": 245.5,
               "BankAccountId": sandbox.ids["bank"], "Allocations": [{"ID": invoice["ID"], "Amount": 245.5}]}
    assert _save(api, "CustomerReceipt", receipt).status_code == 201
    assert api.get(f"/TaxInvoice/Get/{invoice['ID']}").json()["Status"] == "Paid"
    strict = SageRegionalSandbox(clock=sandbox.clock, inline_receipt_allocations=False)
    with _client(strict) as other:
        made = _created(other, "TaxInvoice", _invoice(strict.ids))
        receipt.update(CustomerId=strict.ids["customer_acme"], BankAccountId=strict.ids["bank"],
                       Allocations=[{"ID": made["ID"], "Amount": 1}])
        assert _save(other, "CustomerReceipt", receipt).status_code == 400


def test_a_customer_return_is_a_credit_note_set_against_the_invoice(api, sandbox):
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids))
    credit = _created(api, "CustomerReturn", {"CustomerId": sandbox.ids["customer_acme"], "Date": "2025-03-05",
                                              "ExternalReference": "sagebridge:cn-1",
                                              "Lines": [{"SelectionId": sandbox.ids["item_service"], "Quantity": 1,
                                                         "UnitPriceExclusive": 100}]})
    assert (credit["Total"], credit["DocumentNumber"]) == (110, "CRN0000001")
    assert api.post("/Allocation/Save", json={"SourceDocumentId": credit["ID"],
                                              "AllocatedToDocumentId": invoice["ID"], "Total": 110}).status_code == 201
    assert api.get(f"/TaxInvoice/Get/{invoice['ID']}").json()["AmountDue"] == 135.5
    customer = api.get(f"/Customer/Get/{sandbox.ids['customer_acme']}").json()
    assert customer["Balance"] == 135.5


def test_an_allocated_invoice_can_no_longer_be_edited(api, sandbox):
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids))
    sandbox.accountant().record_receipt(invoice["ID"], "10")
    answer = _save(api, "TaxInvoice", _invoice(sandbox.ids, ID=invoice["ID"]))
    assert answer.status_code == 400 and "can no longer be edited" in answer.json()["Message"]


def test_deleting_a_receipt_gives_the_invoice_its_amount_due_back(api, sandbox):
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids))
    receipt = sandbox.accountant().record_receipt(invoice["ID"])
    assert api.get(f"/TaxInvoice/Get/{invoice['ID']}").json()["Status"] == "Paid"
    assert api.delete(f"/CustomerReceipt/Delete/{receipt['ID']}").status_code == 204
    assert api.get(f"/TaxInvoice/Get/{invoice['ID']}").json()["Status"] == "Unpaid"


def test_a_customer_who_auto_allocates_has_receipts_set_against_the_oldest_invoice(api, sandbox):
    customer = _created(api, "Customer", {"Name": "Auto Pay Ltd", "AutoAllocateToOldestInvoice": True})
    older = _created(api, "TaxInvoice", _invoice(sandbox.ids, CustomerId=customer["ID"], Date="2025-03-01"))
    newer = _created(api, "TaxInvoice", _invoice(sandbox.ids, CustomerId=customer["ID"]))
    _created(api, "CustomerReceipt", {"CustomerId": customer["ID"], "Date": "2025-03-10", "Total": 300,
                                      "BankAccountId": sandbox.ids["bank"]})
    assert api.get(f"/TaxInvoice/Get/{older['ID']}").json()["Status"] == "Paid"
    assert api.get(f"/TaxInvoice/Get/{newer['ID']}").json()["AmountDue"] == Decimal("191.0")


# ---- master data and the supplier side

def test_save_replaces_a_customer_and_delete_refuses_one_in_use(api, sandbox):
    customer = _created(api, "Customer", {"Name": "Cole Motors", "Email": "cole@example.com"})
    updated = _save(api, "Customer", {"ID": customer["ID"], "Name": "Cole Motors Pty Ltd"}).json()
    assert updated["Name"] == "Cole Motors Pty Ltd" and "Email" not in updated  # what is not sent is gone
    _created(api, "TaxInvoice", _invoice(sandbox.ids, CustomerId=customer["ID"]))
    in_use = api.delete(f"/Customer/Delete/{customer['ID']}")
    assert in_use.status_code == 409 and "in use" in in_use.json()["Message"]
    spare = _created(api, "Customer", {"Name": "Spare Ltd"})
    assert api.delete(f"/Customer/Delete/{spare['ID']}").status_code == 204
    assert api.get(f"/Customer/Get/{spare['ID']}").status_code == 404


def test_tax_types_and_items_are_saved_and_read_back(api, sandbox):
    gst = _created(api, "TaxType", {"Name": "GST on imports", "Percentage": 10})
    item = _created(api, "Item", {"Code": "OIL-5W30", "Description": "Engine oil", "PriceExclusive": 12.5,
                                  "TaxTypeIdSales": gst["ID"]})
    assert api.get(f"/Item/Get/{item['ID']}").json()["TaxTypeIdSales"] == gst["ID"]
    assert _save(api, "TaxType", {"Name": "No rate"}).json()["ModelState"] == {"Percentage": ["is required"]}
    assert api.delete(f"/TaxType/Delete/{gst['ID']}").status_code == 409  # an item uses it


def test_the_supplier_side_invoice_payment_and_return(api, sandbox):
    ids = sandbox.ids
    bill = _created(api, "SupplierInvoice", {"SupplierId": ids["supplier_parts"], "Date": "2025-03-03",
                                             "DueDate": "2025-03-31", "DocumentNumber": "PW-8812",
                                             "ExternalReference": "sagebridge:bill-1",
                                             "Lines": [{"SelectionId": ids["account_purchases"], "LineType": 1,
                                                        "Quantity": 1, "UnitPriceExclusive": 200,
                                                        "TaxTypeId": ids["tax_standard"]}]})
    assert (bill["Total"], bill["ExternalReference"]) == (220, "sagebridge:bill-1")
    refund = _created(api, "SupplierReturn", {"SupplierId": ids["supplier_parts"], "Date": "2025-03-04",
                                              "Lines": [{"SelectionId": ids["item_part"], "Quantity": 1}]})
    assert refund["Total"] == 33  # the item's last cost, 30.00, with GST
    payment = _created(api, "SupplierPayment", {"SupplierId": ids["supplier_parts"], "Date": "2025-03-20",
                                                "Total": 187, "BankAccountId": ids["bank"]})
    for source, amount in ((refund["ID"], 33), (payment["ID"], 187)):
        assert api.post("/Allocation/Save", json={"SourceDocumentId": source, "AllocatedToDocumentId": bill["ID"],
                                                  "Total": amount}).status_code == 201
    assert api.get(f"/SupplierInvoice/Get/{bill['ID']}").json()["Status"] == "Paid"
    wrong_side = api.post("/Allocation/Save", json={"SourceDocumentId": payment["ID"],
                                                    "AllocatedToDocumentId": 987_654, "Total": 1})
    assert wrong_side.status_code == 404


def test_a_receipt_cannot_pay_another_customers_invoice(api, sandbox):
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids))
    receipt = _created(api, "CustomerReceipt", {"CustomerId": sandbox.ids["customer_brown"], "Date": "2025-03-10",
                                                "Total": 10, "BankAccountId": sandbox.ids["bank"]})
    answer = api.post("/Allocation/Save", json={"SourceDocumentId": receipt["ID"],
                                                "AllocatedToDocumentId": invoice["ID"], "Total": 10})
    assert answer.status_code == 400 and "different customers" in answer.json()["Message"]


# ---- the accountant

def test_the_accountant_records_a_receipt_the_client_then_reads(api, sandbox):
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids))
    accountant = sandbox.accountant()
    accountant.record_receipt(invoice["ID"], "45.50")
    seen = api.get(f"/TaxInvoice/Get/{invoice['ID']}").json()
    assert (seen["Status"], seen["AmountDue"]) == ("Partially Paid", 200)
    assert accountant.by_external_reference("TaxInvoice", "sagebridge:inv-1")["AmountDue"] == Decimal("200.00")
    assert len(accountant.allocations(invoice["ID"])) == 1
    assert sandbox.request_count("TaxInvoice") == 2  # the accountant's work is not API traffic


# ---- what a connector without an idempotency key relies on

def test_an_uncertain_write_is_found_by_customer_and_date_then_its_external_reference(api, sandbox):
    sandbox.faults.drop_after_commit(path="/TaxInvoice/Save")
    with pytest.raises(httpx.ReadTimeout):
        _save(api, "TaxInvoice", _invoice(sandbox.ids, ExternalReference="sagebridge:lost-1"))
    _created(api, "TaxInvoice", _invoice(sandbox.ids, ExternalReference="sagebridge:other"))
    flt = f"CustomerId eq {sandbox.ids['customer_acme']} and Date eq datetime'2025-03-03T00:00:00'"
    candidates = api.get("/TaxInvoice/Get", params={"$filter": flt, "$orderby": "ID"}).json()["Results"]
    assert [c["ExternalReference"] for c in candidates] == ["sagebridge:lost-1", "sagebridge:other"]


def test_a_payment_recorded_in_sage_shows_up_when_polling_on_modified(api, sandbox):
    invoice = _created(api, "TaxInvoice", _invoice(sandbox.ids))
    cursor = "2025-03-03T10:00:00"
    sandbox.clock.advance(hours=2)
    sandbox.accountant().record_receipt(invoice["ID"])
    changed = api.get("/TaxInvoice/Get", params={"$filter": f"Modified gt datetime'{cursor}'"}).json()
    assert [(i["ID"], i["Status"]) for i in changed["Results"]] == [(invoice["ID"], "Paid")]
    strict = SageRegionalSandbox(clock=sandbox.clock, change_filters=False)
    with _client(strict) as other:
        refused = other.get("/TaxInvoice/Get", params={"$filter": f"Modified gt datetime'{cursor}'"})
    assert refused.status_code == 400 and "Modified" in refused.json()["Message"]


def test_an_impossible_date_is_400_naming_the_field(api, sandbox):
    answer = _save(api, "TaxInvoice", _invoice(sandbox.ids, DueDate="2025-02-30"))
    assert answer.status_code == 400 and answer.json()["ModelState"] == {"DueDate": [
        "DueDate '2025-02-30' is not a date."]}
