"""Customer payments and refunds as the host app sends them, with their allocations to documents.

Vendor payments are not exported, so only the customer ledger has payments here.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar

from pydantic import Field, field_validator, model_validator

from sagebridge.domain.base import InboundModel
from sagebridge.domain.fields import CurrencyCode, HostId, HostName, HostVersion, UtcDatetime
from sagebridge.domain.kinds import DateBasis, DocumentKind, PartyKind, ledger_of
from sagebridge.domain.money import Amount, HostAmount, precision_problem, sum_money
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
    amount: PositiveAmount
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
        allocated = sum_money(a.amount for a in self.allocations)
        if allocated > self.amount:
            raise ValueError(f"allocations add up to {allocated}, more than the amount {self.amount}")
        return self

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
