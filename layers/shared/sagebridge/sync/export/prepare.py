"""Before a document is sent: the checks it must pass (mapping health, tax table, currency,
totals, allocations) and, once its contact is known, its body for Sage, built by the product's
mapper. Sage's reference data is read once a run."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sagebridge.connectors.base import AuthError, NotConnected, Payload, RateLimited, RemoteRecord, SageError, TaxTable
from sagebridge.domain.documents import Document
from sagebridge.domain.kinds import DocumentKind, PartyKind, ledger_of
from sagebridge.domain.money import TOLERANCE
from sagebridge.domain.payments import Payment
from sagebridge.domain.validation import (
    SkipCode,
    SkipReason,
    bank_account_reasons,
    document_skip_reasons,
    payment_skip_reasons,
)
from sagebridge.observability import logger
from sagebridge.store import LedgerState
from sagebridge.sync.export.context import STAND_IN_ID, ExportRun, Skip, label, not_supported_reason
from sagebridge.sync.mapping_health import mapping_problems

Built = tuple[Payload, str, Decimal]  # body, reference, total


class ContactFinder(Protocol):
    def contact_for(self, record: Document[Any] | Payment) -> str | Skip: ...

    def sent_currency(self, record: Document[Any] | Payment) -> str | None: ...


@dataclass(frozen=True)
class _Planned:
    """A dry run's would-be create, standing in for its mapping."""

    sage_id: str


class Preparation:
    """Validates and builds the documents of one run."""

    def __init__(self, run: ExportRun, contacts: ContactFinder, planned_ids: dict[tuple[str, str], str]) -> None:
        self.run = run
        self.contacts = contacts
        self.planned_ids = planned_ids  # a dry run's creates and links count as exported for its payments
        self._taxes: TaxTable | None = None
        self._tax_records: list[RemoteRecord] | None = None
        self._unusable_ids: dict[str, dict[str, str]] = {}  # what -> {Sage id: health reason}, once a run
        self._ledger_accounts: dict[str, RemoteRecord] = {}  # as the health check read them

    def prepare(self, record: Document[Any] | Payment, *,
                validated: bool = False) -> tuple[Payload, str, Decimal, str] | Skip:
        """(body, reference, total, contact id) for Sage, or every reason it cannot go. Validates
        (unless `validated` already) before it looks for (or creates) the contact, so a skipped
        document leaves Sage untouched."""
        checked = None if validated else self.build(record, None)
        if isinstance(checked, Skip):
            return checked
        contact = self.contacts.contact_for(record)
        if isinstance(contact, Skip):
            return contact
        built = self.build(record, contact)
        assert not isinstance(built, Skip) and built is not None
        return (*built, contact)

    def build(self, record: Document[Any] | Payment, contact_id: str | None) -> Built | Skip | None:
        """(body, reference, total) for Sage, or every reason it cannot go; contact_id None: only
        validate (None when valid)."""
        if isinstance(record, Payment):
            return self._build_payment(record, contact_id)
        reasons = self._document_reasons(record)
        if reasons:
            return Skip(reasons)
        run = self.run
        # Validating maps it too (on a stand-in contact): what the product's mapper refuses is
        # skipped before the contact is looked for or created, so no orphan contact is left in Sage.
        mapped = run.mapper.document_body(record, contact_id=contact_id or STAND_IN_ID,  # type: ignore[arg-type]
                                          settings=run.settings, taxes=self.taxes(),
                                          business_currency=run.business_currency)
        if contact_id is None:
            return None if mapped.not_sendable is None else Skip([not_supported_reason(record, mapped.not_sendable)])
        return mapped.body, mapped.reference, mapped.total

    def _document_reasons(self, record: Document[Any]) -> list[SkipReason]:
        run, taxes = self.run, self.taxes()
        unusable = {**self._unusable_on(ledger_of(record.kind)), **self.unusable("tax_rate"),
                    **self.unusable("ledger_account")}
        # A product that posts the host's header (its mapper says so) takes a penny of rounding on a line.
        tolerance = run.settings.total_tolerance if run.mapper.TOTALS_FROM_LINES else max(
            TOLERANCE, run.settings.total_tolerance)
        reasons = document_skip_reasons(
            record, settings=run.settings, sage_tax_rates=taxes.rates,  # type: ignore[arg-type]
            business_currency=run.business_currency, contact_currency=self._contact_currency(record),
            unusable=unusable,
            total_tolerance=tolerance,
        )
        if not reasons and taxes.zero_rate_id is None and any(line.tax_code is None for line in record.lines):
            reasons = [SkipReason(code=SkipCode.TAX_RATE_MISSING_IN_SAGE, field="lines",
                                  message=f"{label(record)} has lines without tax and Sage has no zero or "
                                  "no-tax rate to post them with")]
        return reasons

    def _not_in_sage(self, payment: Payment,
                     exported: set[tuple[DocumentKind, str]]) -> dict[tuple[DocumentKind, str], str]:
        """Why each allocated document that is not in Sage is not there, as its ledger entry says
        (skipped or failed, with the reason); read only for a payment that is skipped for it."""
        why: dict[tuple[DocumentKind, str], str] = {}
        for a in payment.allocations:
            if (a.kind, a.host_id) in exported:
                continue
            entry = self.run.store.ledger.find(self.run.tenant, a.kind.value, a.host_id)
            if entry is not None and entry.state in (LedgerState.SKIPPED, LedgerState.FAILED) and entry.reason:
                why[(a.kind, a.host_id)] = f"{entry.state.value} ({entry.reason})"
        return why

    def _contact_currency(self, record: Document[Any] | Payment) -> str | None:
        """What the party trades in as the host sent it (a party staged on its own counts, not only
        one embedded); read only for a record not in the business currency, the one case it decides."""
        if record.currency == self.run.business_currency:
            return None
        return self.contacts.sent_currency(record)

    def _build_payment(self, payment: Payment, contact_id: str | None) -> Built | Skip | None:
        run = self.run
        maps = dict(run.mappings)
        for a in payment.allocations:  # a dry run's would-be creates (a stand-in id) and links count as exported
            if (a.kind.value, a.host_id) in self.planned_ids:
                maps[(a.kind.value, a.host_id)] = _Planned(self.planned_ids[(a.kind.value, a.host_id)])
        reasons = self._payment_reasons(payment, maps)
        if reasons:
            return Skip(reasons)
        if contact_id is None:
            return None
        assert run.settings.receipt_bank_account_id is not None
        body = run.mapper.payment_body(
            payment, contact_id=contact_id,
            allocations=[(a.kind, maps[(a.kind.value, a.host_id)].sage_id, a.amount) for a in payment.allocations],
            bank_account_id=run.settings.receipt_bank_account_id, settings=run.settings,
            business_currency=run.business_currency,
        )
        return body, run.mapper.payment_reference(payment), payment.amount

    def _payment_reasons(self, payment: Payment, maps: dict[tuple[str, str], Any]) -> list[SkipReason]:
        run = self.run
        exported = {(a.kind, a.host_id) for a in payment.allocations if (a.kind.value, a.host_id) in maps}
        reasons = payment_skip_reasons(payment, exported=exported, business_currency=run.business_currency,
                                       contact_currency=self._contact_currency(payment),
                                       not_in_sage=self._not_in_sage(payment, exported))
        reasons += bank_account_reasons(payment, bank_account_id=run.settings.receipt_bank_account_id,
                                        unusable=self.unusable("bank_account")
                                        if run.settings.receipt_bank_account_id else None)
        # A product that cannot take every allocation says which it can (its mapper's ALLOCATION_SIGN).
        allowed = run.mapper.ALLOCATION_SIGN[payment.kind]
        targets = " or ".join(k.value.replace("_", " ") + "s" for k in allowed)
        for number, allocation in enumerate(payment.allocations, start=1):
            if allocation.kind not in allowed:
                what = allocation.kind.value.replace("_", " ")
                # What to do instead: a credit note offset is set against its invoice, not paid with the money.
                instead = (f"; send the {what} with invoice_id (Sage Bridge sets it against that invoice) and this "
                           "payment net of it, with its allocations only to what the money paid, or record the "
                           "offset in Sage itself" if allocation.kind in (DocumentKind.SALES_CREDIT_NOTE,
                                                                        DocumentKind.PURCHASE_CREDIT_NOTE)
                           else f"; allocate it only to {targets}, or record it in Sage itself")
                reasons.append(SkipReason(
                    code=SkipCode.ALLOCATION_NOT_EXPORTED, field=f"allocations[{number}]",
                    message=f"{label(payment)}: allocation {number} is to a {what}; Sage allocates a "
                    f"{payment.kind.value.replace('_', ' ')} only to {targets}{instead}"))
        return reasons

    # ---- Sage's reference data, read once a run

    def taxes(self) -> TaxTable:
        if self._taxes is None:
            self._taxes = self.run.mapper.TaxTable.from_records(self._tax_rate_records())
        return self._taxes

    def _tax_rate_records(self) -> list[RemoteRecord]:
        if self._tax_records is None:
            self._tax_records = list(self.run.connector.list_tax_rates())
        return self._tax_records

    def unusable(self, what: str) -> dict[str, str]:
        """The mapping health check, applied before sending (read once a run): mapped Sage ids of
        `what` (tax_rate | ledger_account | bank_account) that are inactive or gone -> the reason.
        Sage would refuse a document using one; it is skipped with the reason instead."""
        if what not in self._unusable_ids:
            found: dict[str, str] = {}
            for p in mapping_problems(self.run.settings, self._read_health(what)):
                # A tax rate gone from Sage has its own reason (tax_rate_missing_in_sage). One Sage id
                # under several settings: the first (a code's mapping before a default) names it.
                # A ledger account one side cannot use is per document (_unusable_on).
                if p.sage_id is not None and _kind_of_setting(p.setting) == what and p.problem != "not_usable" and (
                        what != "tax_rate" or p.problem == "inactive"):
                    found.setdefault(p.sage_id, p.message)
            self._unusable_ids[what] = found
        return self._unusable_ids[what]

    def _read_health(self, what: str) -> dict[str, dict[str, RemoteRecord]]:
        """Sage's records of `what` by id, as the health check reads them ({} when Sage cannot say)."""
        connector = self.run.connector
        listers = {"tax_rate": self._tax_rate_records, "ledger_account": connector.list_ledger_accounts,
                   "bank_account": connector.list_bank_accounts}
        try:
            known = {what: {r.id: r for r in listers[what]()}}
        except (AuthError, NotConnected, RateLimited):
            raise
        except SageError as exc:  # cannot tell: send, and let Sage say
            logger.warning("mapping_health_not_read", extra={"what": what, "error": exc.message})
            return {}
        if what == "ledger_account":
            self._ledger_accounts = known[what]
        return known

    def _unusable_on(self, ledger: PartyKind) -> dict[str, str]:
        """Ledger accounts Sage will not post on this ledger's documents (the connector says which
        and why): Sage id -> the reason. Read with the health check, once a run."""
        key = f"ledger_account.{ledger.value}"
        if key not in self._unusable_ids:
            self.unusable("ledger_account")
            self._unusable_ids[key] = {
                r.id: f"ledger account {r.display_name or r.id!r}: {r.unusable_for[ledger.value]}"
                for r in self._ledger_accounts.values() if ledger.value in r.unusable_for}
        return self._unusable_ids[key]


def _kind_of_setting(setting: str) -> str:
    """What a mapped setting points at (as the health check names it)."""
    if setting.startswith("tax_mappings."):
        return "tax_rate"
    return "bank_account" if setting == "receipt_bank_account_id" else "ledger_account"
