from __future__ import annotations

from sagebridge.domain import SalesInvoice, canonical_json, payload_hash


def test_the_same_document_written_differently_has_the_same_hash(invoice_data):
    data = invoice_data()
    reordered = dict(reversed(list(data.items())))
    reordered["lines"][0]["unit_price"] = "35.5000"  # same amount, other places
    reordered["lines"][1]["unit_price"] = 60.0
    assert payload_hash(SalesInvoice.model_validate(data)) == payload_hash(SalesInvoice.model_validate(reordered))


def test_a_penny_changes_the_hash(invoice_data):
    data = invoice_data()
    changed = invoice_data()
    changed["lines"][0]["unit_price"] = "35.51"
    assert payload_hash(SalesInvoice.model_validate(data)) != payload_hash(SalesInvoice.model_validate(changed))


def test_a_new_timestamp_or_version_alone_is_unchanged(invoice):
    assert payload_hash(invoice()) == payload_hash(invoice(updated_at="2025-03-09T00:00:00Z", version=7))
    assert payload_hash(invoice()) != payload_hash(invoice(), ignore=())


def test_the_canonical_form_is_fixed(invoice):
    # Stored hashes depend on this text: changing it makes every exported document look changed.
    text = canonical_json(invoice(lines=[{"description": "Oil", "unit_price": "10.10", "quantity": 1}],
                                  totals={"net": "10.1", "tax": "0", "total": "10.1"}, party=None,
                                  reference=None, due_date=None))
    assert text == (
        '{"adjustment_amount":"0","currency":"GBP","document_date":"2025-03-03","host_id":"inv-1001",'
        '"lines":[{"description":"Oil","discount":"0","extra_taxes":[],"quantity":"1","unit_price":"10.1"}],'
        '"number":"INV-1001","party_id":"cust-7","posting_date":"2025-03-04","status":"pending_payment",'
        '"tax_mode":"line","totals":{"net":"10.1","tax":"0","total":"10.1"}}'
    )
