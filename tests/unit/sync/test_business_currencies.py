"""The per-container cache of tenants' base currencies (sagebridge.sync.currency)."""

from __future__ import annotations

import pytest

from sagebridge.connectors.base import SageUnavailable, iso_currency
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import TenantSettings
from sagebridge.sync.currency import BusinessCurrencies


class Connector:
    provider = "sage_accounting"

    def __init__(self, answer: str | None = "EUR") -> None:
        self.answer: str | Exception | None = answer
        self.asked = 0

    def business_currency(self) -> str | None:
        self.asked += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Ticks:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_asks_once_per_tenant_per_hour():
    ticks, sage = Ticks(), Connector()
    cache = BusinessCurrencies(clock=ticks)
    assert [cache.currency_for("a", sage) for _ in range(3)] == ["EUR"] * 3 and sage.asked == 1
    assert cache.currency_for("b", sage) == "EUR" and sage.asked == 2  # per tenant
    ticks.now = 3600
    assert cache.currency_for("a", sage) == "EUR" and sage.asked == 3


def test_the_tenant_setting_wins_without_asking():
    sage = Connector()
    settings = TenantSettings(provider="sage_accounting", business_currency="usd")
    assert settings.business_currency == "USD"
    assert BusinessCurrencies().currency_for("a", sage, settings) == "USD" and sage.asked == 0
    with pytest.raises(ValueError, match="ISO 4217"):
        TenantSettings(provider="sage_accounting", business_currency="euro")


def test_defect_17_an_unknown_currency_is_an_error_naming_the_setting_never_gbp():
    with pytest.raises(ConfigurationError, match="business_currency") as refused:
        BusinessCurrencies().currency_for("a", Connector(None))
    assert "GBP" not in str(refused.value)
    settings = TenantSettings(provider="sage_intacct", business_currency="USD")
    assert BusinessCurrencies().currency_for("a", Connector(None), settings) == "USD"


def test_a_failed_read_uses_what_was_held_or_raises():
    ticks = Ticks()
    cache = BusinessCurrencies(clock=ticks)
    sage = Connector()
    with_error = Connector()
    with_error.answer = SageUnavailable("down")
    with pytest.raises(SageUnavailable):
        cache.currency_for("b", with_error)
    assert cache.currency_for("b", sage) == "EUR"
    ticks.now = 7200
    sage.answer = SageUnavailable("down")
    assert cache.currency_for("b", sage) == "EUR"  # stale beats failing the run


def test_iso_currency_reads_what_sage_writes():
    assert [iso_currency(v) for v in ("GBP", " eur", "Pound Sterling (GBP)", "Pounds", None)] == \
        ["GBP", "EUR", "GBP", None, None]
