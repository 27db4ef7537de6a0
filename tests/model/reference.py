"""The reference model: what the tenant's books should say, from what the host app and the
accountant did. Plain dicts and Decimals, written from the host contract and Sage's arithmetic, with
no Sage Bridge code, so it cannot share a bug with what it checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# What a document must not be exported in (the default exportable statuses: all but these).
NOT_EXPORTABLE = frozenset({"draft", "quote", "estimate", "cancelled"})
TRIGGER_STATUSES = frozenset({"pending_payment"})
TAX_RATES = {"S": Decimal("20"), "R": Decimal("5"), "Z": Decimal("0")}
# Sage collection of each host document kind.
COLLECTION = {
    "sales_invoice": "sales_invoices", "sales_credit_note": "sales_credit_notes",
    "purchase_invoice": "purchase_invoices", "purchase_credit_note": "purchase_credit_notes",
    "customer_payment": "contact_payments", "customer_refund": "contact_payments",
}
EVENT_TYPE = {
    "sales_invoice": "invoice.upserted", "sales_credit_note": "credit_note.upserted",
    "purchase_invoice": "purchase_invoice.upserted", "purchase_credit_note": "purchase_credit_note.upserted",
    "customer_payment": "payment.recorded", "customer_refund": "refund.recorded",
    "customer": "customer.upserted", "vendor": "vendor.upserted",
}
SALES = ("sales_invoice", "sales_credit_note")
PURCHASES = ("purchase_invoice", "purchase_credit_note")


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def exportable(status: str) -> bool:
    return status not in NOT_EXPORTABLE


@dataclass
class Line:
    description: str
    quantity: int
    unit_price: Decimal
    tax_code: str
    ledger_code: str | None = None

    @property
    def net(self) -> Decimal:
        return money(self.unit_price * self.quantity)

    @property
    def tax(self) -> Decimal:
        # Sage's arithmetic: tax per line, on the rounded net, half up.
        return money(self.net * TAX_RATES[self.tax_code] / 100)

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"description": self.description, "quantity": str(self.quantity),
                               "unit_price": str(self.unit_price), "tax_code": self.tax_code}
        if self.ledger_code:
            out["ledger_code"] = self.ledger_code
        return out


@dataclass
class Party:
    kind: str  # customer | vendor
    host_id: str
    name: str
    email: str
    version: int = 0


@dataclass
class Doc:
    kind: str
    host_id: str
    number: str
    party_id: str
    document_date: date
    status: str
    lines: list[Line]
    invoice_id: str | None = None
    version: int = 0
    versioned: bool = True  # this host sends `version` with every change of the document
    voided: bool = False
    ever_exportable: bool = False
    changed_at: int = 0  # host deliveries seen when it last changed: a skip/failure after it counts
    pre_existing: bool = False  # was in Sage before the tenant connected (going live)
    sage_voided: bool = False  # the accountant voided it in Sage (and the host has not changed it since)
    uses_inactive: bool = False  # last changed while one of its mappings was inactive in Sage
    # Every exportable version the host sent, as Sage would show it: with export type New a
    # document changed after its export keeps the version Sage got first.
    sent_versions: list[tuple[Any, ...]] = field(default_factory=list)

    def shape(self) -> tuple[Any, ...]:
        return (self.net, self.tax, self.total, self.document_date.isoformat(),
                tuple(sorted((line.net, line.tax) for line in self.lines)))

    @property
    def net(self) -> Decimal:
        return sum((line.net for line in self.lines), ZERO)

    @property
    def tax(self) -> Decimal:
        return sum((line.tax for line in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        return self.net + self.tax

    @property
    def live(self) -> bool:
        """What the host wants in the books now."""
        return not self.voided and exportable(self.status)


@dataclass
class Payment:
    kind: str  # customer_payment | customer_refund
    host_id: str
    party_id: str
    payment_date: date
    amount: Decimal
    allocations: list[tuple[str, str, Decimal]]  # (kind, host id, amount)
    changed_at: int = 0

    @property
    def on_account(self) -> Decimal:
        return self.amount - sum((a for _, _, a in self.allocations), ZERO)


@dataclass
class Receipt:
    """Money the accountant recorded in Sage (full, part or split), by Sage id."""

    sage_id: str
    allocations: list[tuple[str, Decimal]]  # (host id of the invoice, amount)
    deleted: bool = False
    before_link: bool = False  # entered on a Sage invoice Sage Bridge had not linked to the host's yet


@dataclass
class Books:
    parties: dict[str, Party] = field(default_factory=dict)
    docs: dict[str, Doc] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)  # event id -> the body first sent with it
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id -> the first reply
    receipts: dict[str, Receipt] = field(default_factory=dict)
    inactive_ledger_codes: set[str] = field(default_factory=set)
    inactive_tax_codes: set[str] = field(default_factory=set)

    def documents(self, *kinds: str) -> list[Doc]:
        return [d for d in self.docs.values() if not kinds or d.kind in kinds]

    def host_allocated(self, host_id: str) -> Decimal:
        """What the host's own payments, refunds and credit notes took off a document."""
        total = ZERO
        for payment in self.payments.values():
            total += sum((a for _, h, a in payment.allocations if h == host_id), ZERO)
        return total

    def outstanding(self, host_id: str) -> Decimal:
        doc = self.docs[host_id]
        return doc.total - self.host_allocated(host_id) - self.sage_allocated(host_id)

    def sage_allocated(self, host_id: str) -> Decimal:
        return sum((a for r in self.receipts.values() if not r.deleted for h, a in r.allocations if h == host_id),
                   ZERO)

    def uses_inactive(self, doc: Doc) -> bool:
        return any(line.ledger_code in self.inactive_ledger_codes or line.tax_code in self.inactive_tax_codes
                   for line in doc.lines)


# ------------------------------------------------------------------------ what each product differs in
# Each product's declared differences, in plain terms (docs/mapping.md, each product's section). The
# invariant stays the same on every product: every document ends in Sage once with the right amount,
# or skipped/failed with a reason the host was told; nothing in Sage twice; money allocated right.
# A refusal listed here is one the host must be told of, with words from `says` in the reason.


@dataclass(frozen=True)
class Refusal:
    says: str  # words the reason the host gets must contain (case-insensitive)


@dataclass(frozen=True)
class Product:
    name: str
    refunds: Refusal | None = None  # None: a customer refund is posted
    # What a host void does to a document already in Sage, per kind: "voided" (Sage shows it void),
    # "reversed" (a reversal, the original kept and marked so), "deleted" (gone from Sage), or a
    # Refusal (nothing changed in Sage; the host is told what the accountant does instead).
    voids: dict[str, str | Refusal] = field(default_factory=dict)
    # A document changed after its export: "updated" in Sage, or a Refusal (Sage keeps the version it
    # got first and the host is told).
    changes: str | Refusal = "updated"
    # A payment that offsets a credit note against an invoice (record_offset, or a credit note's
    # invoice_id): set against each other in Sage, or a Refusal.
    credit_note_offsets: str | Refusal = "allocated"
    # A receipt not applied in full to exported invoices (money on account): posted, or a Refusal.
    unapplied_money: str | Refusal = "on account"


SAGE_ACCOUNTING = Product(
    "sage_accounting",
    voids={"sales_invoice": "voided", "sales_credit_note": "voided",
           # Purchase documents have no void in Sage Accounting: the host is told.
           "purchase_invoice": Refusal(""), "purchase_credit_note": Refusal("")},
)
SAGE_INTACCT = Product(
    "sage_intacct",
    # Intacct's XML API has no customer refund: the accountant records it in Intacct.
    refunds=Refusal("refund"),
    voids={"sales_invoice": "reversed", "purchase_invoice": "reversed",
           "sales_credit_note": "deleted", "purchase_credit_note": "deleted"},
    # Posted documents are changed in Intacct by reversing and re-entering: the bookkeeper decides.
    changes=Refusal("already posted"),
    # Credit memos are applied to invoices through ARPYMT credit lines (no money, or with a receipt's
    # cash); a receipt must still be applied in full to invoices (Intacct would keep the rest as an advance).
    credit_note_offsets="allocated",
    unapplied_money=Refusal(""),
)
SAGE_200 = Product(
    "sage200",
    # Posted ledger transactions cannot be voided through the API: the accountant reverses them.
    voids={kind: Refusal("reverse") for kind in ("sales_invoice", "sales_credit_note", "purchase_invoice",
                                                 "purchase_credit_note")},
    changes=Refusal("cannot be changed"),
)
PRODUCTS = {p.name: p for p in (SAGE_ACCOUNTING, SAGE_INTACCT, SAGE_200)}
