"""Why a record was not sent: the stable reason codes and the reason a bookkeeper reads. On their own
so the run and sync-log types (domain.runs, the store) load without the document and payment models
(a cold start of a function that never reads a document)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class SkipCode(StrEnum):
    """Stable reason codes: stored in the sync log and shown to hosts, so never rename one."""

    CURRENCY_MISMATCH = "currency_mismatch"
    MULTIPLE_TAXES_ON_LINE = "multiple_taxes_on_line"
    TAX_CODE_NOT_MAPPED = "tax_code_not_mapped"
    TAX_RATE_MISSING_IN_SAGE = "tax_rate_missing_in_sage"
    LEDGER_ACCOUNT_NOT_MAPPED = "ledger_account_not_mapped"
    ADJUSTMENT_AMOUNT = "adjustment_amount"
    HEADER_TAX_MODE = "header_tax_mode"
    TOTALS_MISMATCH = "totals_mismatch"
    ALLOCATION_NOT_EXPORTED = "allocation_not_exported"
    ALREADY_PAID_IN_SAGE = "already_paid_in_sage"
    PARTY_MISSING = "party_missing"
    BANK_ACCOUNT_NOT_SET = "bank_account_not_set"
    LOCKED_IN_SAGE = "locked_in_sage"
    MAPPING_NOT_USABLE = "mapping_not_usable"  # mapped to a Sage record that is inactive or gone
    NOT_SUPPORTED = "not_supported"  # the Sage product does not take this kind (its connector says why)
    STATUS_NOT_EXPORTABLE = "status_not_exportable"  # waits for the host to move it on (draft, quote)
    # Going live: Sage has a document with its reference, total and date on a contact that is not its party's
    ALREADY_IN_SAGE_ON_ANOTHER_CONTACT = "already_in_sage_on_another_contact"
    IN_SAGE_BY_HAND = "in_sage_by_hand"  # voided or not exportable here, live in Sage (typed in by hand)
    ALREADY_IN_SAGE_DIFFERENT = "already_in_sage_different"  # going live: same number in Sage, other figures
    SEVERAL_IN_SAGE = "several_in_sage"  # sent by an attempt in doubt, and Sage holds more than one copy
    # Export type New: changed in the host app after it was exported; Sage keeps the exported version
    CHANGED_AFTER_EXPORT = "changed_after_export"
    # Not sent: Sage blocks the connection's requests until a time (a product's rate-limit block)
    WAITING_FOR_SAGE = "waiting_for_sage"


class SkipReason(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use (cold start)

    code: SkipCode
    message: str  # for a bookkeeper: names the document, line and field
    field: str | None = None  # where, for machines: "lines[2].tax_code", "totals.tax"
