"""The webhook door's input limits (issue 13, defects 11 and 18), through the real handler: every
refusal is a 4xx naming the field and why, never a 5xx, and a refused event stores nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.sandboxes.host_app import WebhookSender
from local.sandboxes.host_app.fixtures import ITEM, example_event
from local.sandboxes.host_app.sender import encode
from sagebridge.domain.documents import MAX_DOCUMENT_LINES
from sagebridge.domain.fields import MAX_HOST_VERSION
from sagebridge.domain.money import minor_units
from tests.integration.host.conftest import Env


def _refused(env: Env, sender: WebhookSender, event: dict[str, Any] | bytes, **send: Any) -> dict[str, str]:
    """Send, expect a 422 that stores nothing; {field: reason}."""
    before = env.scan()
    reply = sender.send(event, **send)
    assert reply.status == 422, reply.body
    assert reply.body["error"] == "invalid_event"
    assert env.scan() == before
    return {p["field"]: p["reason"] for p in reply.body["problems"]}


def _line(**fields: Any) -> dict[str, Any]:
    return {"description": "Labour", "quantity": "1", "unit_price": "10.00", "tax_code": "S20", **fields}


# ----------------------------------------------------------------------------------------- versions


@pytest.mark.parametrize("event_type", ["invoice.upserted", "customer.upserted", "payment.recorded",
                                        "document.voided"])
def test_defect_11_a_version_too_large_for_the_store_is_422_not_500(
    env: Env, sender: WebhookSender, event_type: str
) -> None:
    problems = _refused(env, sender, example_event(event_type, version=10**25))
    assert "data.version" in problems and "25 digits" in problems["data.version"]
    reply = sender.send(example_event(event_type, event_id="evt-biggest", version=MAX_HOST_VERSION))
    assert reply.status == 202, reply.body


def test_defect_11_a_version_that_is_not_a_whole_number_is_422(env: Env, sender: WebhookSender) -> None:
    assert "data.version" in _refused(env, sender, example_event("invoice.upserted", version=True))
    assert "data.version" in _refused(env, sender, example_event("invoice.upserted", version=-1))


def test_defect_11_occurred_at_far_in_the_future_is_422(env: Env, sender: WebhookSender) -> None:
    problems = _refused(env, sender, example_event("invoice.upserted", occurred_at="9999-12-31T23:59:59Z",
                                                   version=MAX_HOST_VERSION))
    assert "future" in problems["occurred_at"]


# ------------------------------------------------------------------------------------------ amounts


def test_defect_11_more_decimals_than_the_currency_has_are_422(env: Env, sender: WebhookSender) -> None:
    gbp = example_event("invoice.upserted", totals={"net": "100.00", "tax": "20.00", "total": "120.001"})
    assert _refused(env, sender, gbp)["data.totals.total"] == "has 3 decimal places; GBP amounts have at most 2"
    discount = example_event("invoice.upserted", lines=[_line(discount="0.125")],
                             totals={"net": "9.88", "tax": "1.98", "total": "11.86"})
    assert "data.lines.0.discount" in _refused(env, sender, discount)
    payment = example_event("payment.recorded", amount="120.005")
    assert "data.amount" in _refused(env, sender, payment)
    allocation = example_event("payment.recorded",
                               allocations=[{"kind": "sales_invoice", "host_id": "INV-1001", "amount": "1.001"}])
    assert "data.allocations.0.amount" in _refused(env, sender, allocation)

    jpy = example_event("invoice.upserted", currency="JPY", lines=[_line(unit_price="1000")],
                        totals={"net": "1000", "tax": "100.5", "total": "1100.5"})
    problems = _refused(env, sender, jpy)
    assert problems["data.totals.tax"] == "has 1 decimal place; JPY amounts have at most 0"
    assert minor_units("JPY") == 0 and minor_units("GBP") == 2 and minor_units("BHD") == 3

    # Trailing zeros are not extra precision, and unit prices and quantities may be finer than a cent.
    fine = example_event("invoice.upserted", event_id="evt-fine",
                         lines=[_line(unit_price="0.3333", quantity="3.5")],
                         totals={"net": "1.1700", "tax": "0.23", "total": "1.40"})
    assert sender.send(fine).status == 202


def test_defect_11_exponent_notation_is_422(env: Env, sender: WebhookSender) -> None:
    event = example_event("invoice.upserted")
    raw = encode(event).replace(b'"unit_price":"65.00"', b'"unit_price":6.5e1')
    assert b"6.5e1" in raw
    problems = _refused(env, sender, raw)
    assert "exponent" in problems["data.lines.0.unit_price"]
    as_text = example_event("invoice.upserted", totals={"net": "1E+2", "tax": "20.00", "total": "120.00"})
    assert "exponent" in _refused(env, sender, as_text)["data.totals.net"]


def test_defect_11_not_a_number_and_infinity_are_refused(env: Env, sender: WebhookSender) -> None:
    for bad in ["NaN", "Infinity", "-Infinity", "sNaN"]:
        event = example_event("invoice.upserted", totals={"net": "100.00", "tax": "20.00", "total": bad})
        assert "finite" in _refused(env, sender, event)["data.totals.total"], bad
    raw = encode(example_event("invoice.upserted")).replace(b'"total":"120.00"', b'"total":NaN')
    reply = sender.send(raw)
    assert reply.status == 400 and "NaN" in reply.body["problems"][0]["reason"]


def test_defect_11_negative_amounts_the_kind_forbids_are_422(env: Env, sender: WebhookSender) -> None:
    for event_type in ["invoice.upserted", "credit_note.upserted", "purchase_invoice.upserted",
                       "purchase_credit_note.upserted"]:
        negative = example_event(event_type, totals={"net": "-35.00", "tax": "-7.00", "total": "-42.00"})
        problems = _refused(env, sender, negative)
        assert set(problems) >= {"data.totals.net", "data.totals.tax", "data.totals.total"}, problems
        assert "credit note" in problems["data.totals.total"]
    discount = example_event("invoice.upserted", lines=[_line(discount="-1.00")],
                             totals={"net": "11.00", "tax": "2.20", "total": "13.20"})
    assert "data.lines.0.discount" in _refused(env, sender, discount)
    assert "data.amount" in _refused(env, sender, example_event("refund.recorded", amount="-42.00"))
    # A negative line (a deposit taken off) is allowed while the document's totals stay positive.
    deposit = example_event("invoice.upserted", event_id="evt-deposit",
                            lines=[_line(unit_price="100.00"), _line(description="Less deposit", unit_price="-40.00")],
                            totals={"net": "60.00", "tax": "12.00", "total": "72.00"})
    assert sender.send(deposit).status == 202


def test_review_a_made_up_currency_code_is_422_naming_the_field(env: Env, sender: WebhookSender) -> None:
    for event_type in ["invoice.upserted", "credit_note.upserted", "purchase_invoice.upserted", "payment.recorded",
                       "refund.recorded", "customer.upserted", "vendor.upserted"]:
        problems = _refused(env, sender, example_event(event_type, currency="XXQ"))
        assert "XXQ" in problems["data.currency"] and "ISO 4217" in problems["data.currency"], problems
    # Real codes pass, in any case, including ones with other minor units.
    for n, code in enumerate(["gbp", "EUR", "USD", "JPY", "BHD", "CHF"]):
        event = example_event("customer.upserted", event_id=f"evt-currency-{n}", currency=code)
        assert sender.send(event).status == 202, code


# ---------------------------------------------------------------------------------- text and lines


def test_defect_11_control_characters_in_names_and_text_are_422(env: Env, sender: WebhookSender) -> None:
    problems = _refused(env, sender, example_event("customer.upserted", name="Ada\u0000Lovelace"))
    assert problems["data.name"] == "contains a control character (U+0000); remove it"
    assert "data.number" in _refused(env, sender, example_event("invoice.upserted", number="INV\n1001"))
    assert "data.address.city" in _refused(env, sender, example_event(
        "customer.upserted", address={"lines": ["1 Road"], "city": "Lon\tdon"}))
    assert "data.lines.0.description" in _refused(env, sender, example_event(
        "invoice.upserted", lines=[_line(description="Bell\u0007")]))
    assert "data.host_id" in _refused(env, sender, example_event("customer.upserted", host_id="C\u009b1"))
    lone_surrogate = encode(example_event("customer.upserted")).replace(b"Ada Lovelace", b"Ada \\ud800")
    assert "data.name" in _refused(env, sender, lone_surrogate)
    # A line description may run over several lines.
    multi = example_event("invoice.upserted", event_id="evt-multi",
                          lines=[_line(description="Call-out fee\nincludes parking")],
                          totals={"net": "10.00", "tax": "2.00", "total": "12.00"})
    assert sender.send(multi).status == 202


def test_defect_11_more_lines_than_the_documented_limit_is_422(env: Env, sender: WebhookSender) -> None:
    assert MAX_DOCUMENT_LINES == 200
    too_many = example_event("invoice.upserted", lines=[_line()] * (MAX_DOCUMENT_LINES + 1),
                             totals={"net": "2010.00", "tax": "402.00", "total": "2412.00"})
    assert "at most 200" in _refused(env, sender, too_many)["data.lines"]
    enough = example_event("invoice.upserted", lines=[_line()] * MAX_DOCUMENT_LINES,
                           totals={"net": "2000.00", "tax": "400.00", "total": "2400.00"})
    assert sender.send(enough).status == 202


# ------------------------------------------------------------------------------------- content type


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "",
                                          "application/json; charset=latin-1", "application/jsonp"])
def test_defect_11_a_body_that_is_not_declared_json_is_415(
    env: Env, sender: WebhookSender, content_type: str
) -> None:
    before = env.scan()
    reply = sender.send(example_event("invoice.upserted"), headers={"Content-Type": content_type})
    assert reply.status == 415, reply.body
    assert reply.body["error"] == "unsupported_media_type" and "application/json" in reply.body["reason"]
    assert env.scan() == before


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;charset=UTF-8"])
def test_defect_11_json_content_types_are_accepted(env: Env, sender: WebhookSender, content_type: str) -> None:
    reply = sender.send(example_event("invoice.upserted"), headers={"Content-Type": content_type})
    assert reply.status == 202, reply.body


# ------------------------------------------------------------------------------------------- defect 18


def test_defect_18_host_items_are_refused_at_the_door_with_what_to_do(env: Env, sender: WebhookSender) -> None:
    event = {"id": "evt-item", "type": "item.upserted", "occurred_at": "2024-05-01T10:15:00Z",
             "data": json.loads(json.dumps(ITEM))}
    problems = _refused(env, sender, event)
    reason = problems["type"]
    assert "not exported to Sage" in reason and "item.upserted deliveries" in reason
    assert "item_id" in reason
