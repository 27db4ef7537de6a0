"""Validation before posting: pure functions that say, in a bookkeeper's words, why a document
cannot go to Sage. Every fact they need (settings, Sage's tax rates, currencies, what was exported)
is an argument, so the engines fetch facts and these only judge.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Decimal

from sagebridge.domain.documents import AnyDocument, TaxMode
from sagebridge.domain.kinds import DocumentKind, PartyKind, ledger_of
from sagebridge.domain.money import CENT, ZERO, Totals, line_tax, totals_of, within_tolerance
from sagebridge.domain.payments import Payment
from sagebridge.domain.settings import TenantSettings
from sagebridge.domain.skips import SkipCode, SkipReason

_LABELS = {
    DocumentKind.SALES_INVOICE: "Invoice",
    DocumentKind.SALES_CREDIT_NOTE: "Credit note",
    DocumentKind.PURCHASE_INVOICE: "Purchase invoice",
    DocumentKind.PURCHASE_CREDIT_NOTE: "Purchase credit note",
    DocumentKind.CUSTOMER_PAYMENT: "Payment",
    DocumentKind.CUSTOMER_REFUND: "Refund",
}


def _label(record: AnyDocument | Payment, *, capital: bool = True) -> str:
    """'Invoice INV-1001', or for a payment, which has no number, "Payment 'Card ending 4242'"."""
    word = _LABELS[record.kind] if capital else _LABELS[record.kind].lower()
    number = getattr(record, "number", None)
    return f"{word} {number}" if number else f"{word} '{record.reference or record.host_id}'"


def _party_word(record: AnyDocument | Payment) -> str:
    return "customer" if ledger_of(record.kind) is PartyKind.CUSTOMER else "vendor"


def currency_reasons(
    record: AnyDocument | Payment, *, business_currency: str, contact_currency: str | None
) -> list[SkipReason]:
    """The contact must trade in the document's currency, and a foreign currency needs a rate.

    contact_currency is the Sage contact's (or, for a new one, what we will create it with: the
    party the host sent, embedded or staged on its own); None means the embedded party's currency,
    else the business currency. Each reason says what the host app can send instead."""
    party_currency = record.party.currency if record.party is not None else None
    contact = contact_currency or party_currency or business_currency
    party = f"{_party_word(record)} '{record.party_id}'"
    if record.currency != contact:
        # Whose currency it is, so the host knows which record to change.
        source = "" if contact_currency or party_currency else (
            " (the Sage business's currency: the host app sent no currency for it)")
        return [SkipReason(
            code=SkipCode.CURRENCY_MISMATCH,
            field="currency",
            message=f"{_label(record)} is in {record.currency} but {party} trades in {contact}{source}: send "
            f"the {_LABELS[record.kind].lower()} in {contact}, or send {party} with currency {record.currency} "
            "before Sage has a contact for it (Sage keeps a contact's currency once it is created)",
        )]
    if record.currency != business_currency and record.exchange_rate is None:
        return [SkipReason(
            code=SkipCode.CURRENCY_MISMATCH,
            field="exchange_rate",
            message=f"{_label(record)} is in {record.currency}, not the business currency "
            f"{business_currency} (the Sage business keeps its books in {business_currency}), and has no "
            f"exchange rate: send its exchange_rate ({record.currency} to {business_currency}), or send it in "
            f"{business_currency}",
        )]
    return []


def tax_reasons(
    doc: AnyDocument, *, settings: TenantSettings, sage_tax_rates: Mapping[str, Decimal]
) -> list[SkipReason]:
    """One tax per line, mapped to a Sage tax rate that still exists. sage_tax_rates: id -> percent."""
    if doc.tax_mode is TaxMode.HEADER:
        return [SkipReason(
            code=SkipCode.HEADER_TAX_MODE,
            field="tax_mode",
            message=f"{_label(doc)} has its tax on the header (group tax); Sage needs tax on each line",
        )]
    reasons = []
    for number, line in enumerate(doc.lines, start=1):
        codes = line.tax_codes()
        if len(codes) > 1:
            listed = ", ".join(f"'{code}'" for code in codes)
            reasons.append(SkipReason(
                code=SkipCode.MULTIPLE_TAXES_ON_LINE,
                field=f"lines[{number}].extra_taxes",
                message=f"Line {number} has {len(codes)} taxes ({listed}); Sage allows one tax per line",
            ))
        elif codes and codes[0] not in settings.tax_mappings:
            reasons.append(SkipReason(
                code=SkipCode.TAX_CODE_NOT_MAPPED,
                field=f"lines[{number}].tax_code",
                message=f"Line {number}: host tax code '{codes[0]}' is not mapped to a Sage tax rate",
            ))
        elif codes and settings.tax_mappings[codes[0]] not in sage_tax_rates:
            reasons.append(SkipReason(
                code=SkipCode.TAX_RATE_MISSING_IN_SAGE,
                field=f"lines[{number}].tax_code",
                message=f"Line {number}: host tax code '{codes[0]}' is mapped to Sage tax rate "
                f"'{settings.tax_mappings[codes[0]]}', which no longer exists in Sage",
            ))
    return reasons


def ledger_reasons(doc: AnyDocument, *, settings: TenantSettings) -> list[SkipReason]:
    """Every line needs a Sage ledger account: its code's mapping or the ledger's default."""
    default = "purchase" if ledger_of(doc.kind) is PartyKind.VENDOR else "sales"
    reasons = []
    for number, line in enumerate(doc.lines, start=1):
        if settings.ledger_account_for(doc.kind, line.ledger_code) is not None:
            continue
        what = (
            f"Line {number}: host ledger code '{line.ledger_code}' is not mapped to a Sage ledger account"
            if line.ledger_code is not None
            else f"Line {number} has no ledger code"
        )
        reasons.append(SkipReason(
            code=SkipCode.LEDGER_ACCOUNT_NOT_MAPPED,
            field=f"lines[{number}].ledger_code",
            message=f"{what} and there is no default {default} ledger account",
        ))
    return reasons


def adjustment_reasons(doc: AnyDocument) -> list[SkipReason]:
    if doc.adjustment_amount == ZERO:
        return []
    return [SkipReason(
        code=SkipCode.ADJUSTMENT_AMOUNT,
        field="adjustment_amount",
        message=f"{_label(doc)} has an adjustment of {doc.adjustment_amount} on the header, which Sage "
        "cannot hold; put it on a line in the host app",
    )]


def computed_totals(
    doc: AnyDocument, *, settings: TenantSettings, sage_tax_rates: Mapping[str, Decimal]
) -> Totals | None:
    """The totals Sage will compute (rounded per line); None when a line's tax rate is not known."""
    nets, taxes = [], []
    for line in doc.lines:
        codes = line.tax_codes()
        net = line.net_amount()
        nets.append(net)
        if not codes:
            taxes.append(ZERO)
            continue
        rate_id = settings.tax_mappings.get(codes[0]) if len(codes) == 1 else None
        if rate_id is None or rate_id not in sage_tax_rates:
            return None
        taxes.append(line_tax(net, sage_tax_rates[rate_id]))
    return totals_of(nets, taxes)


def totals_reasons(
    doc: AnyDocument, *, settings: TenantSettings, sage_tax_rates: Mapping[str, Decimal],
    tolerance: Decimal | None = None,
) -> list[SkipReason]:
    """The host's totals must match Sage's per-line sums within `tolerance` (the tenant's
    `total_tolerance`, default 0: a penny of drift is a skip with both figures, never posted
    silently; a header adjustment aside, which has its own reason)."""
    tolerance = settings.total_tolerance if tolerance is None else tolerance
    ours = computed_totals(doc, settings=settings, sage_tax_rates=sage_tax_rates)
    if ours is None or doc.tax_mode is TaxMode.HEADER:
        return []  # the tax reasons already say why we cannot compute
    expected = {"net": ours.net, "tax": ours.tax, "total": ours.total + doc.adjustment_amount}
    names = {"net": "Net total", "tax": "Tax total", "total": "Total"}
    reasons = []
    for part, amount in expected.items():
        theirs: Decimal = getattr(doc.totals, part)
        if not within_tolerance(amount, theirs, tolerance):
            why = " (Sage rounds tax on each line)" if part != "net" else ""
            reasons.append(SkipReason(
                code=SkipCode.TOTALS_MISMATCH,
                field=f"totals.{part}",
                message=f"{_label(doc)}: {names[part]} {_pence(theirs)} in the host app differs from "
                f"{_pence(amount)} that Sage will compute{why}",
            ))
    return reasons


def _pence(amount: Decimal) -> Decimal:
    """An amount as an accountant reads it: at least two decimals (2.00, not 2), more only if given."""
    return amount.quantize(CENT) if amount.as_tuple().exponent > -2 else amount  # type: ignore[operator]


def mapping_health_reasons(
    doc: AnyDocument, *, settings: TenantSettings, unusable: Mapping[str, str]
) -> list[SkipReason]:
    """Lines whose Sage ledger account or tax rate the mapping health check found inactive or gone.
    unusable: Sage id -> the health check's reason; Sage would refuse these lines."""
    reasons = []
    for number, line in enumerate(doc.lines, start=1):
        account = settings.ledger_account_for(doc.kind, line.ledger_code)
        codes = line.tax_codes()
        rate = settings.tax_mappings.get(codes[0]) if len(codes) == 1 else None
        for sage_id, where in ((account, "ledger_code"), (rate, "tax_code")):
            if sage_id is not None and sage_id in unusable:
                reasons.append(SkipReason(code=SkipCode.MAPPING_NOT_USABLE, field=f"lines[{number}].{where}",
                                          message=f"Line {number}: {unusable[sage_id]}"))
    return reasons


def party_reasons(record: AnyDocument | Payment, *, party_in_sage: bool) -> list[SkipReason]:
    """We can post when the party is in Sage, or came embedded so we can create it."""
    if party_in_sage or record.party is not None:
        return []
    word = _party_word(record)
    return [SkipReason(
        code=SkipCode.PARTY_MISSING,
        field="party_id",
        message=f"{word.capitalize()} '{record.party_id}' of {_label(record, capital=False)} is not in Sage "
        f"and was not sent with it",
    )]


def allocation_reasons(
    payment: Payment, *, exported: Set[tuple[DocumentKind, str]],
    not_in_sage: Mapping[tuple[DocumentKind, str], str] | None = None,
) -> list[SkipReason]:
    """Every allocation must point at a document already in Sage. exported: (kind, host id) pairs;
    not_in_sage: why a document is not there when the ledger says ("skipped: <its reason>"), so
    the host fixes that document rather than the payment."""
    reasons = []
    for number, allocation in enumerate(payment.allocations, start=1):
        ref = (allocation.kind, allocation.host_id)
        if ref in exported:
            continue
        why = (not_in_sage or {}).get(ref)
        reasons.append(SkipReason(
            code=SkipCode.ALLOCATION_NOT_EXPORTED,
            field=f"allocations[{number}]",
            message=f"{_label(payment)}: allocation {number} is to "
            f"{_LABELS[allocation.kind].lower()} '{allocation.host_id}', which "
            + (f"is not in Sage because it was {why}; once it is fixed and exported, this payment follows"
               if why else "has not been exported to Sage"),
        ))
    return reasons


def already_paid_reasons(
    doc: AnyDocument, *, total_in_sage: Decimal, outstanding_in_sage: Decimal, voids: bool = True
) -> list[SkipReason]:
    """Sage will not change a document that has payments against it. `voids`: whether the product can
    void it (else the way out is a credit note or a new document for the difference)."""
    paid = total_in_sage - outstanding_in_sage
    if paid <= ZERO:
        return []
    how = ("void it in the host app and send the change as a new document" if voids else
           "send the difference from the host app as a credit note against it (or a new document for an "
           "increase), or record the change in Sage itself; voiding it would not take it out of Sage")
    return [SkipReason(
        code=SkipCode.ALREADY_PAID_IN_SAGE,
        message=f"{_label(doc)} already has {paid} paid or allocated against it in Sage (a payment, a refund or a "
        f"credit note set against it), so Sage will not let it be changed; to change it, {how}",
    )]


def locked_reasons(doc: AnyDocument, *, editable_in_sage: bool, why: str) -> list[SkipReason]:
    """Sage will not change a document it has locked (VAT-reconciled, posted...): `why` is the
    product's own words for it, after the document's label."""
    if editable_in_sage:
        return []
    return [SkipReason(code=SkipCode.LOCKED_IN_SAGE, message=f"{_label(doc)} {why}")]


def bank_account_reasons(payment: Payment, *, bank_account_id: str | None,
                         unusable: Mapping[str, str] | None = None) -> list[SkipReason]:
    """Sage records a payment or refund against a bank account; the tenant must have chosen one
    that is still usable in Sage (unusable: the mapping health check's findings, id -> reason)."""
    if bank_account_id and unusable and bank_account_id in unusable:
        return [SkipReason(code=SkipCode.MAPPING_NOT_USABLE, field="receipt_bank_account_id",
                           message=f"{_label(payment)} cannot be posted: {unusable[bank_account_id]}")]
    if bank_account_id:
        return []
    return [SkipReason(
        code=SkipCode.BANK_ACCOUNT_NOT_SET,
        field="receipt_bank_account_id",
        message=f"{_label(payment)} cannot be posted: no Sage bank account is set for receipts and refunds "
        "in the tenant's settings",
    )]


def document_skip_reasons(
    doc: AnyDocument,
    *,
    settings: TenantSettings,
    sage_tax_rates: Mapping[str, Decimal],
    business_currency: str,
    contact_currency: str | None,
    party_in_sage: bool = True,
    unusable: Mapping[str, str] | None = None,
    total_tolerance: Decimal | None = None,
) -> list[SkipReason]:
    """Every reason this invoice or credit note cannot be posted; empty means post it. unusable:
    the mapping health check's inactive or missing Sage records (id -> reason)."""
    health = mapping_health_reasons(doc, settings=settings, unusable=unusable or {})
    flagged = {r.field for r in health}
    return [
        *party_reasons(doc, party_in_sage=party_in_sage),
        *currency_reasons(doc, business_currency=business_currency, contact_currency=contact_currency),
        *health,
        # An inactive tax rate is not in sage_tax_rates either: the health reason says it better.
        *(r for r in tax_reasons(doc, settings=settings, sage_tax_rates=sage_tax_rates) if r.field not in flagged),
        *ledger_reasons(doc, settings=settings),
        *adjustment_reasons(doc),
        *totals_reasons(doc, settings=settings, sage_tax_rates=sage_tax_rates, tolerance=total_tolerance),
    ]


def payment_skip_reasons(
    payment: Payment,
    *,
    exported: Set[tuple[DocumentKind, str]],
    business_currency: str,
    contact_currency: str | None,
    party_in_sage: bool = True,
    not_in_sage: Mapping[tuple[DocumentKind, str], str] | None = None,
) -> list[SkipReason]:
    """Every reason this payment or refund cannot be posted; empty means post it."""
    return [
        *party_reasons(payment, party_in_sage=party_in_sage),
        *currency_reasons(payment, business_currency=business_currency, contact_currency=contact_currency),
        *allocation_reasons(payment, exported=exported, not_in_sage=not_in_sage),
    ]
