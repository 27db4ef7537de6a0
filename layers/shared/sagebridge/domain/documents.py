"""Sales and purchase invoices and credit notes as the host app sends them.

Amounts are positive on credit notes too: the kind says which way the money goes.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import Field, field_validator, model_validator

from sagebridge.domain.base import InboundModel
from sagebridge.domain.fields import (
    CurrencyCode,
    HostId,
    HostName,
    HostStatus,
    HostText,
    HostVersion,
    SingleLine,
    UtcDatetime,
)
from sagebridge.domain.kinds import DateBasis, DocumentKind, PartyKind, ledger_of
from sagebridge.domain.money import ZERO, Amount, HostAmount, Totals, line_net, precision_problem
from sagebridge.domain.parties import Customer, Party, Vendor

HostCode = Annotated[str, Field(min_length=1, max_length=100), SingleLine]
ExchangeRate = Annotated[Amount, Field(gt=0)]

# The most lines one document may have: every Sage product takes this many in one request, and a
# document this long is already one an accountant can hardly check.
MAX_DOCUMENT_LINES = 200


class TaxMode(StrEnum):
    """Tax per line (what Sage posts) or once on the header (a 'group' tax, which we skip)."""

    LINE = "line"
    HEADER = "header"


class ExtraTax(InboundModel):
    """A second (third...) tax on one line. Sage allows one, so its presence is a skip reason."""

    tax_code: HostCode
    tax_amount: HostAmount | None = None


class DocumentLine(InboundModel):
    description: HostText = Field(min_length=1)
    quantity: HostAmount = Decimal(1)
    unit_price: HostAmount  # may be negative: a deposit or a trade-in taken off the document
    discount: Annotated[HostAmount, Field(ge=0)] = ZERO  # an amount off the line, not a percentage
    tax_code: HostCode | None = None  # None: the line carries no tax
    ledger_code: HostCode | None = None  # None: the tenant's default sales/purchase account
    item_id: HostId | None = None
    tax_amount: HostAmount | None = None  # the host's own figure; Sage recomputes from the rate
    extra_taxes: list[ExtraTax] = Field(default_factory=list)

    def net_amount(self) -> Decimal:
        return line_net(self.quantity, self.unit_price, self.discount)

    def tax_codes(self) -> list[str]:
        """Every tax on the line, the main one first."""
        main = [self.tax_code] if self.tax_code is not None else []
        return main + [extra.tax_code for extra in self.extra_taxes]


P = TypeVar("P", bound=Party)


class Document(InboundModel, Generic[P]):
    kind: ClassVar[DocumentKind]

    host_id: HostId
    number: HostName = Field(min_length=1)
    reference: HostName | None = None
    party_id: HostId  # the host id of the customer or vendor
    party: P | None = None  # embedded so we can create the party in Sage if it is not there yet
    document_date: date
    posting_date: date | None = None  # None: the document date
    due_date: date | None = None
    currency: CurrencyCode
    exchange_rate: ExchangeRate | None = None  # units of this currency per business currency unit
    status: HostStatus
    tax_mode: TaxMode = TaxMode.LINE
    version: HostVersion | None = None
    updated_at: UtcDatetime | None = None
    lines: list[DocumentLine] = Field(min_length=1, max_length=MAX_DOCUMENT_LINES)
    adjustment_amount: HostAmount = ZERO  # a header-level adjustment; Sage has no place for it
    totals: Totals  # the host's own net, tax and total

    @field_validator("tax_mode", mode="before")
    @classmethod
    def _group_is_header(cls, value: Any) -> Any:
        # Hosts call header tax "group" tax; it is the same thing to us.
        return TaxMode.HEADER if isinstance(value, str) and value.strip().lower() == "group" else value

    @model_validator(mode="after")
    def _party_is_the_one_named(self) -> Document[P]:
        if self.party is not None and self.party.host_id != self.party_id:
            raise ValueError(
                f"party.host_id {self.party.host_id!r} is not the party_id {self.party_id!r}"
            )
        return self

    @property
    def ledger(self) -> PartyKind:
        return ledger_of(self.kind)

    def money_problems(self) -> list[tuple[str, str]]:
        """(field path, reason) for each amount of money the currency or the kind does not allow:
        more decimals than the currency has, or negative totals (a negative invoice is a credit
        note, and a credit note's amounts are positive: the kind says which way the money goes)."""
        problems = []
        for name in ("net", "tax", "total"):
            if getattr(self.totals, name) < 0:
                problems.append((f"totals.{name}", f"cannot be negative on a {_NAMES[self.kind]}; "
                                 f"{_NEGATIVE_ADVICE[self.kind]}"))
        for path, amount in self._money():
            problem = precision_problem(amount, self.currency)
            if problem is not None:
                problems.append((path, problem))
        return problems

    def _money(self) -> list[tuple[str, Decimal]]:
        """Every amount of money (not unit prices or quantities, which may be finer than a cent)."""
        out = [(f"totals.{name}", getattr(self.totals, name)) for name in ("net", "tax", "total")]
        out.append(("adjustment_amount", self.adjustment_amount))
        for i, line in enumerate(self.lines):
            out.append((f"lines.{i}.discount", line.discount))
            if line.tax_amount is not None:
                out.append((f"lines.{i}.tax_amount", line.tax_amount))
            out += [(f"lines.{i}.extra_taxes.{j}.tax_amount", extra.tax_amount)
                    for j, extra in enumerate(line.extra_taxes) if extra.tax_amount is not None]
        return out

    def date_for(self, basis: DateBasis) -> date:
        """The date this document has for an export window on the given basis."""
        if basis is DateBasis.POSTING and self.posting_date is not None:
            return self.posting_date
        return self.document_date


class SalesInvoice(Document[Customer]):
    kind: ClassVar[DocumentKind] = DocumentKind.SALES_INVOICE


class SalesCreditNote(Document[Customer]):
    kind: ClassVar[DocumentKind] = DocumentKind.SALES_CREDIT_NOTE

    invoice_id: HostId | None = None  # the host id of the sales invoice it credits, if any


class PurchaseInvoice(Document[Vendor]):
    kind: ClassVar[DocumentKind] = DocumentKind.PURCHASE_INVOICE


class PurchaseCreditNote(Document[Vendor]):
    kind: ClassVar[DocumentKind] = DocumentKind.PURCHASE_CREDIT_NOTE

    invoice_id: HostId | None = None  # the host id of the purchase invoice it credits, if any


AnyDocument = SalesInvoice | SalesCreditNote | PurchaseInvoice | PurchaseCreditNote

_NAMES = {DocumentKind.SALES_INVOICE: "sales invoice", DocumentKind.SALES_CREDIT_NOTE: "sales credit note",
          DocumentKind.PURCHASE_INVOICE: "purchase invoice", DocumentKind.PURCHASE_CREDIT_NOTE: "purchase credit note"}
_NEGATIVE_ADVICE = {
    DocumentKind.SALES_INVOICE: "send money owed back to the customer as a credit note (credit_note.upserted)",
    DocumentKind.PURCHASE_INVOICE: "send money the vendor owes back as a purchase credit note "
                                   "(purchase_credit_note.upserted)",
    DocumentKind.SALES_CREDIT_NOTE: "amounts on a credit note are positive: the kind says which way the money goes",
    DocumentKind.PURCHASE_CREDIT_NOTE: "amounts on a credit note are positive: the kind says which way the money goes",
}
