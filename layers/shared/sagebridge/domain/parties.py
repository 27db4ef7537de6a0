"""Customers and vendors as the host app sends them."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from sagebridge.domain.base import InboundModel
from sagebridge.domain.fields import CountryCode, CurrencyCode, Email, HostId, HostName, HostVersion, UtcDatetime
from sagebridge.domain.kinds import PartyKind


class Address(InboundModel):
    lines: list[HostName] = Field(default_factory=list, max_length=4)
    city: HostName | None = None
    region: HostName | None = None
    postcode: HostName | None = None
    country_code: CountryCode | None = None


class Party(InboundModel):
    kind: ClassVar[PartyKind]

    host_id: HostId
    name: HostName = Field(min_length=1)
    company: HostName | None = None
    email: Email | None = None
    phone: HostName | None = None
    address: Address | None = None
    tax_number: HostName | None = None
    currency: CurrencyCode | None = None  # None: the business currency
    version: HostVersion | None = None
    updated_at: UtcDatetime | None = None


    @property
    def account_name(self) -> str:
        """The name the books file the party under: the business (`company`) when the host gives one,
        else `name`. `name` is then the person to contact there."""
        return self.company or self.name


class Customer(Party):
    kind: ClassVar[PartyKind] = PartyKind.CUSTOMER


class Vendor(Party):
    kind: ClassVar[PartyKind] = PartyKind.VENDOR
