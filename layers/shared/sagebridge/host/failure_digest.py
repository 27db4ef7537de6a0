"""The tenant's failure digest: after an export run, one mail to the tenant's failure email addresses
listing the documents the run left needing action (skipped for a reason to fix, or failed for good),
each with its number, reason and fix, and a link to the sync log. Only news is mailed: a document
failing again for the reason already mailed is left out (a new reason, a document that exported in
between and fails again, or a newly failing document is news); no news, no mail.

Read from what the run wrote (its sync log lines and the ledger), so the export engine needs no
change: documents skipped for the same reason by a quiet run are not logged, and nothing is mailed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sagebridge.domain.kinds import record_kind
from sagebridge.domain.settings import TenantSettings
from sagebridge.domain.validation import SkipCode
from sagebridge.observability import logger
from sagebridge.store import LedgerState, Outcome, Store
from sagebridge.store.failure_emails import MailedFailure, MailedFailures, reason_key

MAX_LISTED = 100  # a digest lists at most this many; the rest is counted and waits in the sync log
_SUBJECT_LIMIT = 100  # SNS: ASCII, no line breaks
DRY_RUN_PREFIX = "dry run:"

# What fixes each reason, in the accountant's words. The portal's Mappings / Settings pages are named
# so a reader knows where to go; anything else is fixed in the host app and replayed.
FIXES: dict[str, str] = {
    SkipCode.TAX_CODE_NOT_MAPPED.value: "map the tax code to a Sage tax rate (Mappings), then replay it",
    SkipCode.TAX_RATE_MISSING_IN_SAGE.value: "map the tax code to a tax rate Sage has (Mappings), then replay it",
    SkipCode.LEDGER_ACCOUNT_NOT_MAPPED.value: "map the ledger code, or set a default ledger account (Mappings), "
                                              "then replay it",
    SkipCode.MAPPING_NOT_USABLE.value: "the mapping points at a Sage record that is inactive or gone: choose "
                                       "another (Mappings), then replay it",
    SkipCode.BANK_ACCOUNT_NOT_SET.value: "set the bank account payments go to (Mappings), then replay it",
    SkipCode.CURRENCY_MISMATCH.value: "correct the document's currency in the host app (or the business "
                                      "currency in Settings); it is sent again when it changes",
    SkipCode.MULTIPLE_TAXES_ON_LINE.value: "give each line one tax in the host app; it is sent again when it changes",
    SkipCode.TOTALS_MISMATCH.value: "correct the document's totals or rounding in the host app; it is sent again "
                                    "when it changes",
    SkipCode.ADJUSTMENT_AMOUNT.value: "move the adjustment onto a line in the host app; it is sent again when it "
                                      "changes",
    SkipCode.HEADER_TAX_MODE.value: "enter the tax per line in the host app; it is sent again when it changes",
    SkipCode.PARTY_MISSING.value: "add the customer or vendor to the document in the host app",
    SkipCode.ALREADY_PAID_IN_SAGE.value: "the document is paid or allocated in Sage: change it there or leave it",
    SkipCode.LOCKED_IN_SAGE.value: "the period or document is locked in Sage: unlock it there, then replay it",
}
FAILED_FIX = "check the reason above; once fixed (in the host app or the mappings), replay it from the sync log"
DEFAULT_FIX = "see the reason above; once fixed, replay it from the sync log"


@dataclass(frozen=True, slots=True)
class DigestLine:
    kind: str
    host_id: str
    number: str | None
    state: str  # "skipped" | "failed"
    reason: str
    fix: str


@dataclass
class FailureDigest:
    tenant_id: str
    run_id: str
    lines: list[DigestLine] = field(default_factory=list)
    sync_log_url: str = ""

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for line in self.lines if line.state == s) for s in ("failed", "skipped")}

    def subject(self) -> str:
        c = self.counts()
        parts = [f"{n} {state}" for state, n in c.items() if n]
        n = len(self.lines)
        text = f"Sage sync for {self.tenant_id}: {n} {_documents(n)} {'needs' if n == 1 else 'need'} action " \
               f"({', '.join(parts)})"
        text = " ".join(text.split()).encode("ascii", "replace").decode()
        return text if len(text) <= _SUBJECT_LIMIT else text[: _SUBJECT_LIMIT - 3] + "..."

    def render(self) -> str:
        c = self.counts()
        n = len(self.lines)
        out = [f"The export run {self.run_id} left {n} {_documents(n)} that need your action: "
               f"{c['failed']} failed, {c['skipped']} skipped.",
               "Each is listed once; it is not mailed again while it fails for the same reason.", ""]
        for i, line in enumerate(self.lines[:MAX_LISTED], 1):
            out += [f"{i}. {line.kind.replace('_', ' ')} {line.number or line.host_id} ({line.state})",
                    f"   Reason: {line.reason}", f"   Fix: {line.fix}", ""]
        if n > MAX_LISTED:
            out += [f"... and {n - MAX_LISTED} more: see the sync log.", ""]
        out += [f"Sync log: {self.sync_log_url}", "",
                "You get this because your address is listed in the Sage sync's failure email settings."]
        return "\n".join(out)


def _documents(n: int) -> str:
    return "document" if n == 1 else "documents"


def sync_log_url(template: str, tenant_id: str, run_id: str) -> str:
    """The link a digest gives to the sync log: the deployment's FAILURE_DIGEST_LINK with {tenant_id}
    and {run_id} filled in (usually the host app's page that opens the portal), or a placeholder."""
    if not template:
        return "open the Sage sync log from your host app"
    return template.replace("{tenant_id}", tenant_id).replace("{run_id}", run_id)


def needing_action(store: Store, tenant_id: str, run_id: str) -> list[DigestLine]:
    """Documents this run left skipped for a reason to fix or failed for good, in log order."""
    found: dict[tuple[str, str], DigestLine] = {}
    token: str | None = None
    while True:
        page = store.synclog.for_run(tenant_id, run_id, limit=200, next_token=token)
        for e in page:
            outcome = Outcome(e.outcome)
            key = (e.kind, e.host_id)
            if outcome not in (Outcome.SKIPPED, Outcome.FAILED):
                found.pop(key, None)  # settled otherwise later in the run
                continue
            if e.reason.startswith(DRY_RUN_PREFIX) or e.reason_code == SkipCode.STATUS_NOT_EXPORTABLE.value:
                continue
            try:
                record_kind(e.kind)
            except ValueError:
                continue  # the ledger's own bookkeeping entries (allocations), not a document
            fix = FAILED_FIX if outcome is Outcome.FAILED else FIXES.get(e.reason_code or "", DEFAULT_FIX)
            found[key] = DigestLine(e.kind, e.host_id, e.number, outcome.value, e.reason, fix)
        if not (token := page.next_token):
            break
    if not found:
        return []
    # Still in that state now, and for good: a failure the next run retries by itself is not news yet.
    ledger = store.ledger.find_many(tenant_id, found)
    keep = []
    for key, line in found.items():
        entry = ledger.get(key)
        if entry is None:
            keep.append(line)  # a party's skip has no ledger entry: the log is all there is
        elif line.state == "skipped" and entry.state is LedgerState.SKIPPED and not entry.waiting:
            keep.append(line)
        elif line.state == "failed" and entry.state is LedgerState.FAILED and entry.gave_up:
            keep.append(line)
    return keep


def send_failure_digest(store: Store, settings: TenantSettings, tenant_id: str, run_id: str, *,
                        publish: Callable[[str, str, str], Any], link_template: str = "") -> FailureDigest | None:
    """Mail the run's new failures to the tenant's failure addresses (one digest); None when there is
    nothing new or nobody to tell. Remembered as mailed only once published, so a refused publish is
    tried again by the next run that sees the failure."""
    if not settings.failure_addresses():
        return None
    lines = needing_action(store, tenant_id, run_id)
    if not lines:
        return None
    refs = [(line.kind, line.host_id) for line in lines]
    mailed = MailedFailures(store.table)
    before = mailed.find_many(tenant_id, refs)
    held = store.ledger.find_many(tenant_id, refs)
    news: list[DigestLine] = []
    marks: list[MailedFailure] = []
    for line in lines:
        entry = held.get((line.kind, line.host_id))
        mark = MailedFailure(line.kind, line.host_id, reason_key(line.reason),
                             entry.exported_hash if entry else None)
        if before.get((line.kind, line.host_id)) == mark:
            continue  # mailed already, for this reason, and not exported since
        news.append(line)
        marks.append(mark)
    if not news:
        return None
    news.sort(key=lambda line: (line.state != "failed", line.kind, line.number or line.host_id))  # failed first
    digest = FailureDigest(tenant_id, run_id, news, sync_log_url(link_template, tenant_id, run_id))
    publish(tenant_id, digest.subject(), digest.render())
    mailed.remember(tenant_id, marks, run_id)
    logger.info("failure_digest_sent", extra={"tenant_id": tenant_id, "run_id": run_id, "documents": len(news)})
    return digest


__all__ = ["DigestLine", "FailureDigest", "needing_action", "send_failure_digest", "sync_log_url"]
