"""payment.recorded with credit-note offsets at the door: the amount must be the money that moved
(invoices allocated - credit notes allocated); otherwise 422 naming the figures, nothing stored."""

from __future__ import annotations

import json

from local.sandboxes.host_app import WebhookSender
from local.sandboxes.host_app.fixtures import example_event
from sagebridge.store.documents import Documents
from tests.integration.host.conftest import TENANT, Env

OFFSET = [{"kind": "sales_invoice", "host_id": "INV-1", "amount": "120.00"},
          {"kind": "sales_credit_note", "host_id": "CN-1", "amount": "30.00"}]


def _payment(amount: str, allocations: list[dict[str, str]]) -> dict:
    event = example_event("payment.recorded")
    event["data"]["amount"] = amount
    event["data"]["allocations"] = allocations
    return event


def test_defect_06_offset_payment_with_the_net_amount_is_stored(env: Env, sender: WebhookSender) -> None:
    reply = sender.send(_payment("90.00", OFFSET))
    assert reply.status == 202, reply.body
    staged = Documents(env.table).get(TENANT, "customer_payment", reply.body["host_id"])
    assert json.loads(staged.canonical_json)["amount"] in ("90", "90.00", 90)


def test_defect_06_pure_offset_of_zero_is_stored(env: Env, sender: WebhookSender) -> None:
    reply = sender.send(_payment("0", [OFFSET[0], {**OFFSET[1], "amount": "120.00"}]))
    assert reply.status == 202, reply.body


def test_defect_06_offset_payment_whose_amount_is_not_the_net_is_422_naming_the_figures(
        env: Env, sender: WebhookSender) -> None:
    before = env.scan()
    reply = sender.send(_payment("150.00", OFFSET))  # invoice + credit note: the old, double-booking way
    assert reply.status == 422 and reply.body["error"] == "invalid_event", reply.body
    [problem] = reply.body["problems"]
    assert problem["field"] == "data"
    for figure in ("150.00", "120.00", "30.00", "90.00"):
        assert figure in problem["reason"]
    assert env.scan() == before


def test_defect_06_zero_without_credit_notes_is_422(env: Env, sender: WebhookSender) -> None:
    reply = sender.send(_payment("0", [OFFSET[0]]))
    assert reply.status == 422, reply.body
