"""What Sage reports back, read by the payment poller and the catalog import: typed read models each
product's feed (`connectors.base.Feed`) builds from its own records, so the engines read no
product's names.

Frozen dataclasses, money as Decimal. `version` is the record's last-changed stamp exactly as the
product wrote it: event ids and what the host was told are keyed on it, so it is kept verbatim
(a reformatted stamp would give a record seen before a new event id). `updated_at` is that stamp
read as a time, when it reads as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sagebridge.domain.catalog import ItemType
from sagebridge.domain.kinds import DocumentKind


def stamp_time(stamp: str | None) -> datetime | None:
    """An ISO-8601 stamp ("...Z" or an offset) as a datetime; None when absent or unreadable."""
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Versioned:
    sage_id: str
    version: str | None  # verbatim, see the module's docstring

    @property
    def updated_at(self) -> datetime | None:
        return stamp_time(self.version)


# ------------------------------------------------------------------------------------------- money


class MoneyKind(StrEnum):
    """What moved money on the customer's side of the books."""

    RECEIPT = "receipt"  # a customer paid invoices
    REFUND = "refund"  # a customer was refunded credit notes
    CREDIT_ALLOCATION = "credit_allocation"  # a credit note set against invoices


@dataclass(frozen=True)
class Allocation:
    """How much of one sales invoice or credit note a payment (or credit note) settles."""

    kind: DocumentKind  # SALES_INVOICE or SALES_CREDIT_NOTE
    document_id: str  # the document's id in Sage
    amount: Decimal  # positive


@dataclass(frozen=True)
class RemotePayment(Versioned):
    """A customer receipt or refund, or a credit note set against invoices, as Sage holds it now.
    `allocations` are the documents it settles, in Sage's order (others of its kinds left out)."""

    kind: MoneyKind
    total: Decimal
    currency: str
    on: date | None  # the day it was paid (allocated)
    reference: str | None = None
    method: str | None = None  # how it was paid, as Sage shows it
    allocations: tuple[Allocation, ...] = ()


@dataclass(frozen=True)
class Removed:
    """A payment (or credit allocation) deleted or reversed in Sage since the cursor."""

    sage_id: str


@dataclass(frozen=True)
class Settlement:
    """One payment or credit allocation set against a document, as the document lists it."""

    source_id: str | None  # the payment's (allocation's) id in Sage; None: Sage did not say
    amount: Decimal  # positive
    by_allocation: bool = False  # a credit allocation (read with Feed.allocation), else a payment


@dataclass(frozen=True)
class DocumentBalance:
    """A sales invoice or credit note's balance as Sage shows it, and what settled it, in the order
    Sage applied it."""

    kind: DocumentKind
    sage_id: str
    number: str | None  # the document's reference (number) in Sage
    total: Decimal
    outstanding: Decimal
    settled_by: tuple[Settlement, ...] = ()


# ------------------------------------------------------------------------------------------ catalog


@dataclass(frozen=True)
class RemoteItem(Versioned):
    """A product or service Sage sells. No price: `sales_price` None."""

    item_type: ItemType
    code: str | None
    description: str = ""
    sales_price: Decimal | None = None
    purchase_price: Decimal | None = None
    tax_rate_id: str | None = None
    sales_ledger_id: str | None = None
    purchase_ledger_id: str | None = None
    active: bool = True


@dataclass(frozen=True)
class RemoteTaxRate(Versioned):
    name: str | None
    percentage: Decimal
    active: bool = True


@dataclass(frozen=True)
class RemoteAddress:
    lines: tuple[str, ...] = ()
    city: str | None = None
    region: str | None = None
    postcode: str | None = None
    country_code: str | None = None


@dataclass(frozen=True)
class RemoteCustomer(Versioned):
    """A customer in Sage. `created` is its creation stamp, verbatim like `version`: the two are
    equal while nobody changed it since it was made."""

    created: str | None
    name: str | None
    reference: str | None = None
    email: str | None = None
    phone: str | None = None
    tax_number: str | None = None
    currency: str | None = None
    address: RemoteAddress | None = None


__all__ = [
    "Allocation",
    "DocumentBalance",
    "MoneyKind",
    "RemoteAddress",
    "RemoteCustomer",
    "RemoteItem",
    "RemotePayment",
    "RemoteTaxRate",
    "Removed",
    "Settlement",
    "Versioned",
    "stamp_time",
]
