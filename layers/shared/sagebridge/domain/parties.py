"""Customers and vendors as the host app sends them."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from sagebridge.domain.base import InboundModel
from sagebridge.domain.fields import CountryCode, CurrencyCode, Email, HostId, Text, UtcDatetime
from sagebridge.domain.kinds import PartyKind


class Address(InboundModel):
    lines: list[Text] = Field(default_factory=list, max_length=4)
    city: Text | None = None
    region: Text | None = None
    postcode: Text | None = None
    country_code: CountryCode | None = None


class Party(InboundModel):
    kind: ClassVar[PartyKind]

    host_id: HostId
    name: Text = Field(min_length=1)
    company: Text | None = None
    email: Email | None = None
    phone: Text | None = None
    address: Address | None = None
    tax_number: Text | None = None
    currency: CurrencyCode | None = None  # None: the business currency
    version: int | None = Field(default=None, ge=0)
    updated_at: UtcDatetime | None = None


class Customer(Party):
    kind: ClassVar[PartyKind] = PartyKind.CUSTOMER


class Vendor(Party):
    kind: ClassVar[PartyKind] = PartyKind.VENDOR
