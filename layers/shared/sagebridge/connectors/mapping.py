"""What the Sage Accounting and Sage 200 mappers share: deterministic references within a length
limit, the mapped-document record and the allocation rules the export engine asks them for."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Self, TypeAlias

from sagebridge.domain.kinds import DocumentKind, PartyKind
from sagebridge.domain.money import line_tax
from sagebridge.domain.settings import TenantSettings

if TYPE_CHECKING:  # an annotation only (cold start)
    from sagebridge.domain.documents import DocumentLine

# A body for the product's API, as its mapper builds it and its connector sends it. Free-form to the
# engines (Sage Accounting and Sage 200 JSON, Intacct functions): only the product reads inside it.
Payload: TypeAlias = Mapping[str, object]

# What a receipt or refund may be allocated to in Sage, and the sign Sage wants on the amount:
# a receipt pays invoices (+) and uses up credit notes (-); a refund pays out a credit note (+).
ALLOCATION_SIGN: dict[DocumentKind, dict[DocumentKind, int]] = {
    DocumentKind.CUSTOMER_PAYMENT: {DocumentKind.SALES_INVOICE: 1, DocumentKind.SALES_CREDIT_NOTE: -1},
    DocumentKind.CUSTOMER_REFUND: {DocumentKind.SALES_CREDIT_NOTE: 1},
}


def short_reference(text: str, limit: int) -> str:
    """`text` if it fits, else a prefix and 8 hex of its hash: deterministic, still unique, still
    readable ("INV-2024-000000012345-XYZ" -> "INV-2024-0000000~1a2b3c4d")."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 9]}~{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def hashed_contact_reference(kind: PartyKind, host_id: str, length: int) -> str:
    """A contact reference of `length` characters derived from the host id ("C"/"V" and hex), so a
    contact whose create timed out is found again by reference and Sage's unique-reference rule
    refuses a twin."""
    prefix = "C" if kind is PartyKind.CUSTOMER else "V"
    digest = hashlib.sha256(f"{kind.value}:{host_id}".encode()).hexdigest()
    return prefix + digest[: length - 1].upper()


@dataclass(frozen=True)
class MappedDocument:
    """A document's Sage body and the totals Sage will compute from it."""

    body: Payload
    net: Decimal
    tax: Decimal
    total: Decimal
    reference: str
    # Why the product will not take this document as the tenant's settings stand (a mapping its own
    # settings lack), in its words: the engine skips it with this reason BEFORE it creates the
    # party, so a bad mapping leaves no contact behind in Sage. None: it can go.
    not_sendable: str | None = None


@dataclass(frozen=True)
class TaxTable:
    """A product's tax rates, read once per run: id -> percentage, and the rate a tax-free line uses.
    Each mapper reads its product's records (`from_records`) and ranks the zero rates its way."""

    rates: Mapping[str, Decimal] = field(default_factory=dict)
    zero_rate_id: str | None = None

    @classmethod
    def of(cls, rates: Mapping[str, Decimal], zero_rates: Iterable[tuple[Any, ...]]) -> Self:
        """`zero_rates`: (rank..., id) per zero rate; the lowest rank is the one untaxed lines use."""
        ranked = sorted(zero_rates)
        return cls(rates=rates, zero_rate_id=ranked[0][-1] if ranked else None)

    def line(self, line: DocumentLine, kind: DocumentKind, settings: TenantSettings) -> MappedLine:
        """A line's net, its Sage tax rate (the mapped one, else the zero rate), its ledger account
        and its tax rounded per line, as every product posts it. Call after validation: an unmapped
        tax code or account raises ValueError here."""
        net = line.net_amount()
        rate_id = settings.tax_mappings[line.tax_code] if line.tax_code is not None else self.zero_rate_id
        if rate_id is None or rate_id not in self.rates:
            raise ValueError(f"line '{line.description}': no Sage tax rate (validate before mapping)")
        account = settings.ledger_account_for(kind, line.ledger_code)
        if account is None:
            raise ValueError(f"line '{line.description}': no Sage ledger account (validate before mapping)")
        return MappedLine(net=net, rate_id=rate_id, account=account, tax=line_tax(net, self.rates[rate_id]))


@dataclass(frozen=True)
class MappedLine:
    net: Decimal
    rate_id: str
    account: str
    tax: Decimal



def day(value: Any) -> date | None:
    """The day a Sage record gives (a date, a timestamp, or text starting yyyy-mm-dd); None when it
    gives none or one that cannot be read."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None

def sage_int(value: str | int) -> int:
    """A Sage id that is an integer (Sage 200, the regional API); the engine and the store keep ids
    as strings."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a Sage id (a whole number)") from None


__all__ = [
    "ALLOCATION_SIGN",
    "MappedDocument",
    "MappedLine",
    "Payload",
    "TaxTable",
    "day",
    "hashed_contact_reference",
    "sage_int",
    "short_reference",
]
