"""Sage's arithmetic, document status, payments, allocations, voids and deletions."""

from __future__ import annotations

from local.sandboxes.sage_accounting import examples as ex
from local.sandboxes.sage_accounting.examples import invoice_line


def post(api, path, body, status=201):
    response = api.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


def source(response) -> str:
    return response.json()[0]["$source"]


def test_lines_are_rounded_per_line_and_headers_are_sums(api, ids):
    lines = [
        invoice_line(ids, unit_price=33.333, quantity=3, tax_amount=20.0),  # 99.999 -> net 100.00
        invoice_line(ids, unit_price=10.0, quantity=2, discount_amount=2.5, tax_rate_id="GB_LOWER", tax_amount=0.88),
        invoice_line(ids, unit_price=7.0, quantity=1, tax_rate_id="GB_ZERO"),  # no tax_amount needed
    ]
    response = api.post("/sales_invoices", json=ex.sales_invoice(ids, lines=lines))
    assert response.status_code == 201, response.text
    invoice = response.json()
    assert [line["net_amount"] for line in invoice["invoice_lines"]] == [100.0, 17.5, 7.0]
    assert [line["tax_amount"] for line in invoice["invoice_lines"]] == [20.0, 0.88, 0.0]
    assert (invoice["net_amount"], invoice["tax_amount"], invoice["total_amount"]) == (124.5, 20.88, 145.38)
    # Money is a JSON number with two decimals, as Sage writes it.
    assert '"net_amount":124.50' in response.text and '"total_amount":145.38' in response.text


def test_tax_amount_is_required_for_a_standard_rated_line(api, ids):
    line = invoice_line(ids)
    del line["tax_amount"]
    response = api.post("/sales_invoices", json=ex.sales_invoice(ids, lines=[line]))
    assert response.status_code == 422
    assert response.json()[0]["$dataCode"] == "RecordInvalid"
    assert source(response) == "invoice_lines.0.tax_amount"


def test_tax_amount_must_be_what_sage_computes_within_a_penny(api, ids):
    off_by_two = api.post("/sales_invoices", json=ex.sales_invoice(ids, lines=[invoice_line(ids, tax_amount=20.02)]))
    assert off_by_two.status_code == 422 and source(off_by_two) == "invoice_lines.0.tax_amount"
    off_by_one = api.post("/sales_invoices", json=ex.sales_invoice(ids, lines=[invoice_line(ids, tax_amount=20.01)]))
    assert off_by_one.status_code == 201
    assert off_by_one.json()["tax_amount"] == 20.01  # Sage keeps the client's figure


def test_a_line_net_or_total_a_penny_off_is_refused_only_tax_may_round(api, ids):
    """No source gives a tolerance: only the line's VAT may differ by a rounding penny; a net or
    total a penny off what Sage computes fails red."""
    net_off = api.post("/sales_invoices", json=ex.sales_invoice(ids, lines=[invoice_line(ids, net_amount=100.01)]))
    assert net_off.status_code == 422 and source(net_off) == "invoice_lines.0.net_amount"
    total_off = api.post("/sales_invoices", json=ex.sales_invoice(ids, lines=[invoice_line(ids, total_amount=120.01)]))
    assert total_off.status_code == 422 and source(total_off) == "invoice_lines.0.total_amount"
    header_off = api.post("/sales_invoices", json=ex.sales_invoice(ids, net_amount=100.01))
    assert header_off.status_code == 422 and source(header_off) == "net_amount"
    exact = api.post("/sales_invoices", json=ex.sales_invoice(ids, lines=[invoice_line(ids, net_amount=100.0,
                                                                                      total_amount=120.0)]))
    assert exact.status_code == 201


def test_header_total_that_disagrees_with_the_lines_is_refused(api, ids):
    response = api.post("/sales_invoices", json=ex.sales_invoice(ids, total_amount=121.0))
    assert response.status_code == 422 and source(response) == "total_amount"


def test_invoice_for_a_supplier_is_refused(api, ids):
    response = api.post("/sales_invoices", json=ex.sales_invoice(ids, customer="DUNMORE"))
    assert response.status_code == 422 and source(response) == "contact_id"


def test_payments_move_an_invoice_from_unpaid_to_part_paid_to_paid(api, ids):
    invoice = post(api, "/sales_invoices", ex.sales_invoice(ids))
    assert (invoice["status"]["id"], invoice["outstanding_amount"]) == ("UNPAID", 120.0)
    post(api, "/contact_payments", ex.customer_receipt(ids, [(invoice["id"], 50.0)]))
    part = api.get(f"/sales_invoices/{invoice['id']}").json()
    assert (part["status"]["id"], part["outstanding_amount"], part["total_paid"]) == ("PART_PAID", 70.0, 50.0)
    post(api, "/contact_payments", ex.customer_receipt(ids, [(invoice["id"], 70.0)]))
    paid = api.get(f"/sales_invoices/{invoice['id']}").json()
    assert (paid["status"]["id"], paid["outstanding_amount"]) == ("PAID", 0.0)
    assert len(paid["payments_allocations"]) == 2
    again = api.post("/contact_payments", json=ex.customer_receipt(ids, [(invoice["id"], 1.0)]))
    assert again.status_code == 422 and "already paid" in again.json()[0]["$message"]


def test_overpaying_and_unbalanced_payments_are_refused(api, ids):
    invoice = post(api, "/sales_invoices", ex.sales_invoice(ids))
    over = api.post("/contact_payments", json=ex.customer_receipt(ids, [(invoice["id"], 120.01)]))
    assert over.status_code == 422 and "exceeds the outstanding" in over.json()[0]["$message"]
    unbalanced = api.post("/contact_payments", json=ex.customer_receipt(ids, [(invoice["id"], 20.0)], total=30.0))
    assert unbalanced.status_code == 422 and source(unbalanced) == "total_amount"
    other_customer = api.post("/contact_payments",
                              json=ex.customer_receipt(ids, [(invoice["id"], 20.0)], customer="BRIGHT01"))
    assert other_customer.status_code == 422


def test_credit_note_allocation_reduces_both_outstanding_amounts(api, ids):
    invoice = post(api, "/sales_invoices", ex.sales_invoice(ids))
    note = post(api, "/sales_credit_notes", ex.sales_credit_note(ids, lines=[invoice_line(ids, unit_price=50.0)]))
    assert note["total_amount"] == 60.0
    unbalanced = api.post("/contact_allocations", json={"contact_allocation": {
        "transaction_type_id": "CUSTOMER_ALLOCATION", "contact_id": ids["ACME001"],
        "allocated_artefacts": [{"artefact_id": invoice["id"], "amount": 60.0},
                                {"artefact_id": note["id"], "amount": -50.0}]}})
    assert unbalanced.status_code == 422
    post(api, "/contact_allocations", {"contact_allocation": {
        "transaction_type_id": "CUSTOMER_ALLOCATION", "contact_id": ids["ACME001"], "date": "2025-03-04",
        "allocated_artefacts": [{"artefact_id": invoice["id"], "amount": 60.0},
                                {"artefact_id": note["id"], "amount": -60.0}]}})
    invoice = api.get(f"/sales_invoices/{invoice['id']}").json()
    note = api.get(f"/sales_credit_notes/{note['id']}").json()
    assert (invoice["status"]["id"], invoice["outstanding_amount"]) == ("PART_PAID", 60.0)
    assert (note["status"]["id"], note["outstanding_amount"]) == ("PAID", 0.0)


def _vendor_allocation(ids, invoice_id: str, note_id: str, amount: float) -> dict:
    return {"contact_allocation": {
        "transaction_type_id": "VENDOR_ALLOCATION", "contact_id": ids["DUNMORE"], "date": "2025-03-04",
        "allocated_artefacts": [{"artefact_id": invoice_id, "amount": amount},
                                {"artefact_id": note_id, "amount": -amount}]}}


def test_vendor_allocation_sets_a_purchase_credit_note_against_a_bill_within_both_outstanding_amounts(api, ids):
    bill = post(api, "/purchase_invoices", ex.purchase_invoice(ids))  # 120.00
    note = post(api, "/purchase_credit_notes", ex.purchase_credit_note(
        ids, credit_note_lines=[invoice_line(ids, unit_price=50.0, ledger="5000")]))  # 60.00
    assert (bill["total_amount"], note["total_amount"]) == (120.0, 60.0)

    more_than_the_note = api.post("/contact_allocations", json=_vendor_allocation(ids, bill["id"], note["id"], 90.0))
    assert more_than_the_note.status_code == 422 and "exceeds the outstanding amount (60" in more_than_the_note.text
    customer_type = _vendor_allocation(ids, bill["id"], note["id"], 60.0)
    customer_type["contact_allocation"]["transaction_type_id"] = "CUSTOMER_ALLOCATION"
    assert api.post("/contact_allocations", json=customer_type).status_code == 422  # the sales side's type
    post(api, "/contact_allocations", _vendor_allocation(ids, bill["id"], note["id"], 60.0))

    bill = api.get(f"/purchase_invoices/{bill['id']}").json()
    note = api.get(f"/purchase_credit_notes/{note['id']}").json()
    assert (bill["status"]["id"], bill["outstanding_amount"]) == ("PART_PAID", 60.0)
    assert (note["status"]["id"], note["outstanding_amount"]) == ("PAID", 0.0)

    second = post(api, "/purchase_credit_notes", ex.purchase_credit_note(ids, reference="PCN-2"))  # 120.00
    more_than_the_bill = api.post("/contact_allocations", json=_vendor_allocation(ids, bill["id"], second["id"], 90.0))
    assert more_than_the_bill.status_code == 422 and "exceeds the outstanding amount (60" in more_than_the_bill.text
    assert api.get(f"/purchase_invoices/{bill['id']}").json()["outstanding_amount"] == 60.0


def test_void_is_refused_while_payments_are_allocated(api, ids):
    invoice = post(api, "/sales_invoices", ex.sales_invoice(ids))
    payment = post(api, "/contact_payments", ex.customer_receipt(ids, [(invoice["id"], 10.0)]))
    refused = api.delete(f"/sales_invoices/{invoice['id']}", params={"void_reason": "Raised in error"})
    assert refused.status_code == 422
    assert api.delete(f"/contact_payments/{payment['id']}").status_code == 204
    assert api.get(f"/sales_invoices/{invoice['id']}").json()["status"]["id"] == "UNPAID"
    no_reason = api.delete(f"/sales_invoices/{invoice['id']}")
    assert no_reason.status_code == 422 and source(no_reason) == "void_reason"
    voided = api.delete(f"/sales_invoices/{invoice['id']}", params={"void_reason": "Raised in error"})
    assert voided.status_code == 200
    assert (voided.json()["status"]["id"], voided.json()["void_reason"]) == ("VOID", "Raised in error")
    assert voided.json()["outstanding_amount"] == 0.0
    assert api.post("/contact_payments", json=ex.customer_receipt(ids, [(invoice["id"], 1.0)])).status_code == 422


def test_deleted_payment_shows_in_deleted_since(api, ids, clock):
    invoice = post(api, "/sales_invoices", ex.sales_invoice(ids))
    payment = post(api, "/contact_payments", ex.customer_receipt(ids, [(invoice["id"], 120.0)]))
    before = clock.now().isoformat()
    clock.advance(5)
    api.delete(f"/contact_payments/{payment['id']}")
    assert api.get(f"/contact_payments/{payment['id']}").status_code == 404
    deleted = api.get("/contact_payments", params={"deleted_since": before}).json()
    assert [(item["id"], item["deleted_at"]) for item in deleted["$items"]] == [(payment["id"], "2025-03-03T09:00:05Z")]
    assert api.get("/contact_payments", params={"deleted_since": clock.now().isoformat()}).json()["$total"] == 0


def test_purchase_invoice_delete_removes_it(api, ids):
    bill = post(api, "/purchase_invoices", ex.purchase_invoice(ids))
    assert bill["total_amount"] == 120.0 and bill["status"]["id"] == "UNPAID"
    assert api.delete(f"/purchase_invoices/{bill['id']}").status_code == 204
    assert api.get(f"/purchase_invoices/{bill['id']}").status_code == 404
    assert api.get("/purchase_invoices").json()["$total"] == 0


def test_contact_references_are_unique_and_may_exceed_the_swagger_max_length(api):
    long_reference = "CUSTOMER-REF-0001"  # longer than the swagger's 10: the live server takes it
    post(api, "/contacts", ex.customer("Fernhill Autos", long_reference))
    duplicate = api.post("/contacts", json=ex.customer("Fernhill Autos 2", long_reference.lower()))
    assert duplicate.status_code == 422 and source(duplicate) == "reference"


def test_each_business_has_its_own_data(sandbox, api, make_client):
    other = list(sandbox.businesses)[1]
    other_ids = sandbox.seed_ids[other]
    other_api = make_client(sandbox.issue_tokens()["access_token"], other)
    post(other_api, "/sales_invoices", ex.sales_invoice(other_ids, "OTHER-1"))
    assert api.get("/sales_invoices").json()["$total"] == 0
    assert other_api.get("/sales_invoices").json()["$total"] == 1
    # Ids of one business mean nothing in another.
    assert api.post("/sales_invoices", json=ex.sales_invoice(other_ids)).status_code == 422


def test_accountant_records_a_payment_the_api_then_sees(sandbox, api, ids):
    invoice = post(api, "/sales_invoices", ex.sales_invoice(ids))
    requests_before = sandbox.request_count()
    sandbox.accountant().record_customer_payment(invoice["id"], "20.00", reference="BACS 991")
    assert sandbox.request_count() == requests_before  # the accountant is not API traffic
    seen = api.get(f"/sales_invoices/{invoice['id']}").json()
    assert (seen["status"]["id"], seen["outstanding_amount"]) == ("PART_PAID", 100.0)
    sandbox.accountant().void_invoice(post(api, "/sales_invoices", ex.sales_invoice(ids, "INV-2"))["id"])
    assert sandbox.accountant().count_by_reference("sales_invoices") == {"INV-1001": 1, "INV-2": 1}
