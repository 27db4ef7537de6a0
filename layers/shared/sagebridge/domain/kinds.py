"""What kinds of record Sage Bridge moves, in the user's words, and which ledger each belongs to."""

from __future__ import annotations

from enum import StrEnum


class DocumentKind(StrEnum):
    SALES_INVOICE = "sales_invoice"
    SALES_CREDIT_NOTE = "sales_credit_note"
    PURCHASE_INVOICE = "purchase_invoice"
    PURCHASE_CREDIT_NOTE = "purchase_credit_note"
    CUSTOMER_PAYMENT = "customer_payment"
    CUSTOMER_REFUND = "customer_refund"


class PartyKind(StrEnum):
    """A party, and also the ledger (customer or vendor) a document is posted to."""

    CUSTOMER = "customer"
    VENDOR = "vendor"


# Anything with a host id that we stage, map, export and log.
RecordKind = DocumentKind | PartyKind

ALL_RECORD_KINDS: frozenset[RecordKind] = frozenset([*DocumentKind, *PartyKind])

_VENDOR_DOCUMENTS = frozenset({DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE})


class DateBasis(StrEnum):
    """Which date of a document decides whether it falls in an export window."""

    POSTING = "posting"
    DOCUMENT = "document"


def ledger_of(kind: RecordKind) -> PartyKind:
    """The ledger a kind belongs to: purchase documents and vendors are the vendor ledger, the rest customer."""
    if isinstance(kind, PartyKind):
        return kind
    return PartyKind.VENDOR if kind in _VENDOR_DOCUMENTS else PartyKind.CUSTOMER


def record_kind(value: str) -> RecordKind:
    """Parse a kind as written in keys and events ('sales_invoice', 'customer'); ValueError names it."""
    for enum in (DocumentKind, PartyKind):
        try:
            return enum(value)
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a kind of record Sage Bridge knows")
