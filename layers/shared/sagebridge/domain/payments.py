"""Customer payments and refunds as the host app sends them, with their allocations to documents.

Vendor payments are not exported, so only the customer ledger has payments here.

A payment may offset credit notes against invoices: its allocations to credit notes are used up
(the negative side), so the money that moved is invoices allocated - credit notes allocated, and
`amount` must be exactly that figure (0 for a pure offset: nothing reached the bank).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import Field, field_validator, model_validator

from sagebridge.domain.base import InboundModel
from sagebridge.domain.fields import CurrencyCode, HostId, HostName, HostVersion, UtcDatetime
from sagebridge.domain.kinds import DateBasis, DocumentKind, PartyKind, ledger_of
from sagebridge.domain.money import ZERO, Amount, HostAmount, precision_problem, sum_money
from sagebridge.domain.parties import Customer

PositiveAmount = Annotated[HostAmount, Field(gt=0)]  # the kind says which way the money goes


class Allocation(InboundModel):
    """Part of a payment or refund set against one document."""

    kind: DocumentKind
    host_id: HostId
    amount: PositiveAmount

    @field_validator("kind")
    @classmethod
    def _customer_ledger_only(cls, kind: DocumentKind) -> DocumentKind:
        if ledger_of(kind) is not PartyKind.CUSTOMER:
            raise ValueError(f"a customer payment or refund cannot be allocated to a {kind.value}")
        return kind


class Payment(InboundModel):
    kind: ClassVar[DocumentKind]

    host_id: HostId
    party_id: HostId  # the host id of the customer
    party: Customer | None = None
    payment_date: date
    amount: Annotated[HostAmount, Field(ge=0)]  # the money that moved; 0 only for a pure offset (a payment)
    currency: CurrencyCode
    exchange_rate: Annotated[Amount, Field(gt=0)] | None = None
    method: HostName | None = None  # the host's words: cash, card, bank_transfer, cheque...
    reference: HostName | None = None
    allocations: list[Allocation] = Field(default_factory=list)  # empty: on account
    version: HostVersion | None = None
    updated_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _allocations_fit(self) -> Payment:
        if self.party is not None and self.party.host_id != self.party_id:
            raise ValueError(
                f"party.host_id {self.party.host_id!r} is not the party_id {self.party_id!r}"
            )
        if self.offsets_credit_notes:
            invoices, credits = self.allocated_to_invoices, self.allocated_credit_notes
            net = invoices - credits
            if net < ZERO:
                raise ValueError(f"allocations to credit notes ({credits}) are more than the allocations to "
                                 f"invoices ({invoices}); paying a credit note out is a refund")
            if self.amount != net:
                raise ValueError(f"amount {self.amount} is not the money that moved: invoices allocated {invoices} "
                                 f"- credit notes allocated {credits} = {net}; with credit notes allocated, "
                                 "amount must be that net (0 for a pure offset)")
            return self
        if self.amount == ZERO:
            raise ValueError("amount must be greater than 0 (0 only for a payment offsetting credit notes "
                             "against invoices)")
        allocated = sum_money(a.amount for a in self.allocations)
        if allocated > self.amount:
            raise ValueError(f"allocations add up to {allocated}, more than the amount {self.amount}")
        return self

    @property
    def offsets_credit_notes(self) -> bool:
        """A customer payment that uses credit notes up against invoices (a refund pays them out)."""
        return self.kind is DocumentKind.CUSTOMER_PAYMENT and any(
            a.kind is DocumentKind.SALES_CREDIT_NOTE for a in self.allocations)

    @property
    def allocated_to_invoices(self) -> Decimal:
        return sum_money(a.amount for a in self.allocations if a.kind is not DocumentKind.SALES_CREDIT_NOTE)

    @property
    def allocated_credit_notes(self) -> Decimal:
        return sum_money(a.amount for a in self.allocations if a.kind is DocumentKind.SALES_CREDIT_NOTE)

    @property
    def ledger(self) -> PartyKind:
        return ledger_of(self.kind)

    def money_problems(self) -> list[tuple[str, str]]:
        """(field path, reason) for each amount with more decimals than the currency has."""
        amounts = [("amount", self.amount)] + [(f"allocations.{i}.amount", a.amount)
                                                for i, a in enumerate(self.allocations)]
        return [(path, problem) for path, amount in amounts
                if (problem := precision_problem(amount, self.currency)) is not None]

    def date_for(self, basis: DateBasis) -> date:
        """A payment has one date, whichever basis is asked for."""
        return self.payment_date


class CustomerPayment(Payment):
    kind: ClassVar[DocumentKind] = DocumentKind.CUSTOMER_PAYMENT


class CustomerRefund(Payment):
    kind: ClassVar[DocumentKind] = DocumentKind.CUSTOMER_REFUND
