"""What a run tells: a sync log line for every record, the run's counts, the host's events
(exported, skipped, failed), the dry run's plan, the failure notification and the metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sagebridge.connectors.base import Payload
from sagebridge.domain.documents import Document
from sagebridge.domain.parties import Party
from sagebridge.domain.payments import Payment
from sagebridge.domain.validation import SkipReason
from sagebridge.host.outbound import DeliveryOutbox, DocumentExported, DocumentSkipped, ExportFailed, enqueue_delivery
from sagebridge.observability import logger, metrics
from sagebridge.store import Claim, Outcome, StagedDocument, SyncLogEntry, Write
from sagebridge.store.notifications import FailureSummary
from sagebridge.sync.export.context import STAND_IN_ID, ExportRun, number_of
from sagebridge.sync.export.request import DOCUMENT_KINDS, PlannedOutcome

MAX_REPORTED = 50  # failures kept in memory for the notification; the log has all of them

DOCUMENT_VALUES = frozenset(k.value for k in DOCUMENT_KINDS)
# document.exported and its dedupe key, queued once its commit stands
ExportedNews = tuple[DocumentExported, str]


class Journal:
    """The sync log, the counts and the news of one run."""

    def __init__(self, run: ExportRun, *, outbox: DeliveryOutbox | None,
                 notify: Callable[[FailureSummary], Any] | None) -> None:
        self.run = run
        self.outbox = outbox
        self.notify = notify
        self.final_failures: list[str] = []  # given up for good this run: the notification's lines
        # dry run only: documents it would create (a stand-in id) or link (Sage's id), for its payments
        self.planned_ids: dict[tuple[str, str], str] = {}

    # ---- the sync log and the counts

    def log_op(self, kind: str, host_id: str, number: str | None, outcome: Outcome, *, sage_id: str | None = None,
               reason_code: str | None = None, message: str = "") -> Write:
        # Every sync log line is built here, just before it is written: one log line per outcome,
        # so Logs Insights answers "what happened to INV-9" without the table.
        logger.info("document_outcome", extra={
            "tenant_id": self.run.tenant, "run_id": self.run.run_id, "kind": kind, "host_id": host_id,
            "number": number, "outcome": outcome.value, "reason_code": reason_code, "reason": message or None,
            "sage_id": sage_id, "dry_run": self.run.dry_run})
        return self.run.store.synclog.append_op(SyncLogEntry(
            self.run.tenant, self.run.run_id, kind, host_id, outcome, reason=message, sage_id=sage_id,
            reason_code=reason_code, number=number,
        ))

    def log_now(self, kind: str, host_id: str, number: str | None, outcome: Outcome, **fields: Any) -> None:
        self.run.store.table.write(self.log_op(kind, host_id, number, outcome, **fields))

    def count(self, outcome: Outcome, *, logged: bool = True) -> None:
        self.run.result.counts[outcome] += 1
        if not logged:
            self.run.result.not_logged[Outcome(outcome).value] += 1

    def unchanged(self, staged: StagedDocument, record: Document[Any] | Payment, message: str, *, log: bool,
                  sage_id: str | None = None) -> None:
        self.count(Outcome.UNCHANGED, logged=log)
        if log:
            self.log_now(staged.kind, staged.host_id, number_of(record), Outcome.UNCHANGED, sage_id=sage_id,
                         message=("dry run: " if self.run.dry_run else "") + message)

    def remember_failure(self, kind: str, host_id: str, message: str) -> None:
        line = f"{kind} {host_id}: {message}"
        if len(self.run.result.failures) < MAX_REPORTED:
            self.run.result.failures.append(line)
        if len(self.final_failures) < MAX_REPORTED:
            self.final_failures.append(line)

    # ---- a dry run's plan

    def plan(self, staged: StagedDocument, record: Document[Any] | Payment, outcome: Outcome, message: str,
             payload: Payload | None = None, *, sage_id: str | None = None) -> None:
        self.count(outcome)
        if outcome in (Outcome.CREATED, Outcome.LINKED) and staged.kind in DOCUMENT_VALUES:
            self.planned_ids[(staged.kind, staged.host_id)] = sage_id or STAND_IN_ID
        self.run.result.planned.append(PlannedOutcome(staged.kind, staged.host_id, outcome, message, payload))
        self.log_now(staged.kind, staged.host_id, number_of(record), outcome, message=f"dry run: {message}")

    def plan_failure(self, kind: str, host_id: str, number: str | None, message: str, *,
                     reason_code: str = "internal_error") -> None:
        """A dry run that could not plan a record: in the plan and the log with why, never dropped."""
        self.count(Outcome.FAILED)
        self.run.result.planned.append(PlannedOutcome(kind, host_id, Outcome.FAILED, message))
        self.log_now(kind, host_id, number, Outcome.FAILED, reason_code=reason_code,
                     message=f"dry run: would fail: {message}")

    def plan_party(self, party: Party, outcome: Outcome, message: str, payload: Payload | None) -> None:
        self.count(outcome)
        self.run.result.planned.append(PlannedOutcome(party.kind.value, party.host_id, outcome, message, payload))
        self.log_now(party.kind.value, party.host_id, party.name, outcome, message=f"dry run: {message}")

    # ---- the host's events

    def deliver(self, data: Any, *, dedupe_key: str) -> None:
        if self.outbox is None or self.run.dry_run:
            return
        try:
            enqueue_delivery(self.outbox, self.run.tenant, data, dedupe_key=dedupe_key)
        except Exception as exc:  # telling the host is best effort; the sync log has it anyway
            logger.warning("host_delivery_not_queued", extra={"error": type(exc).__name__})

    def exported_news(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim, sage_id: str,
                      outcome: Outcome, *, voided: bool) -> ExportedNews:
        """document.exported for a commit: once per version exported (its claim fences the commit)."""
        how = "voided" if voided else outcome.value
        data = DocumentExported(kind=staged.kind, host_id=staged.host_id, number=number_of(record), sage_id=sage_id,
                                run_id=self.run.run_id, outcome=how)  # type: ignore[arg-type]
        return data, f"exported\n{staged.kind}\n{staged.host_id}\n{claim.entry.payload_hash}\n{claim.entry.claim_id}"

    def deliver_skipped(self, staged: StagedDocument, record: Document[Any] | Payment, reasons: list[SkipReason],
                        h: str | None) -> None:
        """document.skipped to the host, once per version and first reason."""
        code = reasons[0].code.value
        self.deliver(DocumentSkipped(kind=staged.kind, host_id=staged.host_id, number=number_of(record),
                                     run_id=self.run.run_id, reasons=reasons),
                     dedupe_key=f"skipped\n{staged.kind}\n{staged.host_id}\n{h}\n{code}")

    def deliver_failed(self, kind: str, host_id: str, number: str | None, h: str | None, code: str, message: str,
                       attempts: int, will_retry: bool) -> None:
        replay = f"\n{self.run.run_id}" if self.run.replay else ""
        self.deliver(ExportFailed(kind=kind, host_id=host_id, number=number, run_id=self.run.run_id, reason_code=code,
                                  reason=message, attempts=max(attempts, 1), will_retry=will_retry),
                     dedupe_key=f"failed\n{kind}\n{host_id}\n{h}\n{will_retry}{replay}")

    def tell_failed(self, staged: StagedDocument, record: Document[Any] | Payment, h: str | None, code: str,
                    message: str, attempts: int, will_retry: bool) -> None:
        """export.failed to the host, once per version and kind of news (will retry / gave up; a
        replay's outcome is news of its own); the notification when it gave up."""
        if not will_retry:
            self.remember_failure(staged.kind, staged.host_id, f"{number_of(record)}: {message}")
        self.deliver_failed(staged.kind, staged.host_id, number_of(record), h, code, message, attempts, will_retry)

    # ---- the end of the run

    def close(self) -> None:
        """Metrics, and the operators' notification of what was given up."""
        self._emit_metrics()
        if self.final_failures and self.notify is not None and not self.run.dry_run:
            self._notify(self.final_failures)

    def _emit_metrics(self) -> None:
        c = self.run.result.counts
        exported = c[Outcome.CREATED] + c[Outcome.UPDATED] + c[Outcome.LINKED]
        if self.run.dry_run:
            return
        for name, value in (("DocumentsExported", exported), ("DocumentsSkipped", c[Outcome.SKIPPED]),
                            ("DocumentsFailed", c[Outcome.FAILED])):
            if value:
                metrics.add_metric(name=name, unit="Count", value=value)

    def _notify(self, problems: list[str]) -> None:
        assert self.notify is not None
        run = self.run
        try:
            self.notify(FailureSummary(
                title=f"Export run {run.run_id} for tenant {run.tenant}: {len(problems)} document(s) need attention",
                tenant_id=run.tenant, run_id=run.run_id, problems=problems[:MAX_REPORTED],
                hint="Sage refused these documents, they failed on every retry, hit an unexpected error or "
                     "cannot be changed in Sage. They are not sent again (nor reported again) until they "
                     "change in the host app or are replayed from the admin API.",
            ))
        except Exception as exc:  # a failed notification must not fail the run that it reports
            logger.error("notify_failed", extra={"error": type(exc).__name__})
