"""Sage Accounting paces each business on the product's own clock and sleep, as Sage 200 does: a
test (or the stack) that moves the sandbox's clock never waits a real minute, and every client of
one business shares that business's minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sagebridge.connectors.sage_accounting.product import SageAccounting
from sagebridge.connectors.sage_accounting.settings import SageAccountingSettings
from sagebridge.settings import load_settings

ENV = {"TABLE_NAME": "t", "IDEMPOTENCY_TABLE_NAME": "i", "TOKEN_KEY_ID": "k", "EXPORT_QUEUE_URL": "q",
       "DELIVERY_QUEUE_URL": "q", "PAYMENT_POLL_QUEUE_URL": "q", "NOTIFICATION_TOPIC_ARN": "arn",
       "SETTINGS_SECRET_NAME": "s"}


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, tzinfo=UTC)
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def _product(clock: _Clock, **env: Any) -> SageAccounting:
    settings = load_settings({**ENV, **env})
    return SageAccounting(settings=settings, product_settings=settings.for_product(SageAccountingSettings),
                          store=None, service=None, flow=None, http=None,  # type: ignore[arg-type]
                          sleep=clock.sleep, clock=clock)


def test_a_business_past_its_minute_waits_on_the_products_clock_not_the_wall():
    clock = _Clock()
    pacer = _product(clock, SAGE_ACCOUNTING_REQUESTS_PER_MINUTE="200").pacer_for("business-1")
    assert pacer is not None
    for _ in range(196):  # 200 a minute with the pacer's 2% headroom: these start at once
        pacer.wait()
    assert clock.slept == []
    pacer.wait()
    assert clock.slept == [61.0]  # the 197th waits for the first to leave the 61 s window


def test_every_client_of_a_business_shares_its_minute_and_other_businesses_have_their_own():
    product = _product(_Clock())
    assert product.pacer_for("business-1") is product.pacer_for("business-1")
    assert product.pacer_for("business-1") is not product.pacer_for("business-2")


def test_pacing_turned_off_gives_no_pacer():
    assert _product(_Clock(), SAGE_ACCOUNTING_REQUESTS_PER_MINUTE="0").pacer_for("business-1") is None
