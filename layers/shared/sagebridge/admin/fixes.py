"""Words for the tenant's pages (the portal and the status page): counts, times, and what to do
about each skip or failure, including whether a replay can help at all."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 document', '2 documents', '1 delivery', '3 deliveries'."""
    if n == 1:
        return f"1 {word}"
    if many is None:
        many = word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s"
    return f"{n} {many}"


def ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = int((now - value).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return plural(seconds // 60, "minute") + " ago"
    if seconds < 2 * 86400:
        return plural(seconds // 3600, "hour") + " ago"
    return plural(seconds // 86400, "day") + " ago"


@dataclass(frozen=True)
class Fix:
    text: str  # what to do, in the tenant's words
    replayable: bool  # replaying (after the fix) can help; False: only the host app or time can
    link: str | None = None  # a page of the portal where the fix is made (relative to the tenant's base)
    link_text: str = ""


_TAX_CODE = re.compile(r"tax code '([^']+)'")
_MAPPING = ("tax_code_not_mapped", "tax_rate_missing_in_sage", "ledger_account_not_mapped", "bank_account_not_set",
            "mapping_not_usable")
_IN_HOST = ("totals_mismatch", "currency_mismatch", "multiple_taxes_on_line", "adjustment_amount", "header_tax_mode",
            "invalid_record")
_IN_SAGE = ("already_paid_in_sage", "locked_in_sage", "in_sage_by_hand", "already_in_sage_on_another_contact",
            "already_in_sage_different", "several_in_sage")


def guess_code(reason: str, state: str) -> str | None:
    """The skip code of a reason kept without one (the open failures list keeps the words only)."""
    if "is not mapped to a Sage tax rate" in reason:
        return "tax_code_not_mapped"
    if "which no longer exists in Sage" in reason:
        return "tax_rate_missing_in_sage"
    if re.search(r"no default \w+ ledger account", reason):
        return "ledger_account_not_mapped"
    if "no Sage bank account is set" in reason:
        return "bank_account_not_set"
    if "in the host app differs from" in reason:
        return "totals_mismatch"
    if re.search(r" trades in \w+", reason) or "not the business currency" in reason:
        return "currency_mismatch"
    return None if state == "skipped" else "failed"


def fix_for(code: str | None, reason: str, outcome: str) -> Fix:
    """What to do about a skip or failure, and whether a replay can help."""
    code = code or guess_code(reason, outcome)
    if code in _MAPPING:
        tax = _TAX_CODE.search(reason)
        if code == "tax_code_not_mapped" and tax:
            return Fix(f"Map tax code {tax.group(1)} to a Sage tax rate, then replay.", True,
                       "mappings?" + urlencode({"tax_code": tax.group(1)}) + "#tax", "Map it")
        if code == "bank_account_not_set":
            return Fix("Choose the Sage bank account receipts and refunds go to, then replay.", True,
                       "mappings#defaults", "Choose it")
        if code == "ledger_account_not_mapped":
            return Fix("Map the line's ledger code, or choose a default ledger account, then replay.", True,
                       "mappings#ledger", "Map it")
        return Fix("Choose a Sage record that exists and is active for this mapping, then replay.", True,
                   "mappings", "Fix the mapping")
    if code == "status_not_exportable":
        return Fix("Nothing to do here: it is sent when it reaches an exportable status in your app.", False)
    if code in _IN_HOST:
        return Fix("Correct the document in your app; it is sent again when it changes.", False)
    if code == "not_supported":
        return Fix("Your Sage product does not take this kind of document; nothing to replay.", False)
    if code in _IN_SAGE:
        return Fix("Sort it out in Sage as the reason says, then replay.", True)
    if code in ("party_missing", "allocation_not_exported"):
        return Fix("It waits for the document it depends on: replay once that one is in Sage.", True)
    if outcome == "failed" or code == "failed":
        return Fix("Sage refused it or could not be reached: replay to try again.", True)
    return Fix("Fix what the reason names, then replay.", True)


__all__ = ["Fix", "ago", "fix_for", "guess_code", "plural"]
