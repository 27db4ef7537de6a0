"""Items (products and services) and tax rates: imported from Sage into the host app."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from sagebridge.domain.base import InboundModel
from sagebridge.domain.fields import HostId, SageId, Text, UtcDatetime
from sagebridge.domain.money import Amount

Code = Annotated[str, Field(min_length=1, max_length=100)]


class ItemType(StrEnum):
    PRODUCT = "product"
    SERVICE = "service"


class Item(InboundModel):
    code: Code
    description: Text = ""
    item_type: ItemType = ItemType.PRODUCT
    sales_price: Amount | None = None
    purchase_price: Amount | None = None
    tax_code: Code | None = None
    sales_ledger_code: Code | None = None
    purchase_ledger_code: Code | None = None
    active: bool = True
    host_id: HostId | None = None  # known once the host has it
    sage_id: SageId | None = None  # known once Sage has it
    updated_at: UtcDatetime | None = None


class TaxRate(InboundModel):
    code: Code
    name: Text = Field(min_length=1)
    percentage: Annotated[Amount, Field(ge=0, le=100)]
    active: bool = True
    sage_id: SageId | None = None
    updated_at: UtcDatetime | None = None
