"""Outbound event ids, backoff and the problem list of a refused webhook."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sagebridge.host.delivery import retry_delay
from sagebridge.host.inbound import InvalidWebhook, parse_event
from sagebridge.host.outbound import DocumentLink, InvoicePaid, build_event


def paid(total: str = "120.00") -> InvoicePaid:
    return InvoicePaid(invoice=DocumentLink(kind="sales_invoice", sage_id="s1"), total_amount=Decimal(total))


def test_event_id_is_deterministic_per_tenant_type_and_news() -> None:
    a, b = build_event("t1", paid()), build_event("t1", paid())
    assert a.id == b.id and a.id.startswith("evt_")
    assert build_event("t2", paid()).id != a.id
    assert build_event("t1", paid("1.00")).id != a.id
    assert build_event("t1", paid(), dedupe_key="payment-9").id != a.id


def test_backoff_doubles_with_a_cap_and_honours_retry_after() -> None:
    assert [retry_delay(n, jitter=1.0) for n in range(1, 9)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_delay(1, jitter=0.0) == 30
    assert retry_delay(1, retry_after=600, jitter=1.0) == 600
    assert retry_delay(1, retry_after=10**6, jitter=1.0) == 3600


def test_refused_body_lists_every_problem_by_path() -> None:
    body = (b'{"id":"e","type":"payment.recorded","occurred_at":"nope","data":{"host_id":"p","party_id":"c",'
            b'"payment_date":"2024-01-01","amount":"-1","currency":"GBP","allocations":[{"kind":"purchase_invoice",'
            b'"host_id":"x","amount":"1"}]}}')
    with pytest.raises(InvalidWebhook) as caught:
        parse_event(body)
    assert caught.value.status == 422
    assert [p.field for p in caught.value.problems] == ["occurred_at", "data.amount", "data.allocations.0.kind"]


def test_money_in_a_host_event_has_two_places_whatever_sage_read() -> None:
    """Review: credit_note.refund_reversed said "outstanding_amount": "0" (Sage read back 0)."""
    from sagebridge.host.outbound import CreditNoteRefundReversed, delivery_message

    link = DocumentLink(kind="sales_credit_note", host_id="CN-1", sage_id="cn1")
    data = CreditNoteRefundReversed(credit_note=link, refund_sage_id="r1", reversed_amount=Decimal("12"),
                                    outstanding_amount=Decimal("0"), reason="deleted")
    told = delivery_message(build_event("acme", data, dedupe_key="k"))["event"]["data"]
    assert (told["reversed_amount"], told["outstanding_amount"]) == ("12.00", "0.00")
