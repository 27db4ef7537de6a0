"""How a document's claim settles in the ledger: exported (committed write-behind), skipped with
its reasons, or failed; each with its sync log line in the same transaction, and the host told."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from sagebridge.connectors.base import AuthError, NotSupported, RateLimited, RecordInvalid, RemoteRecord, SageError
from sagebridge.domain.base import describe_problems
from sagebridge.domain.documents import Document
from sagebridge.domain.errors import ConflictError
from sagebridge.domain.kinds import DocumentKind
from sagebridge.domain.payments import Payment
from sagebridge.domain.settings import ExportType
from sagebridge.domain.validation import SkipReason
from sagebridge.observability import logger
from sagebridge.store import Claim, ClaimConflict, LedgerEntry, LedgerState, Outcome, StagedDocument, Write
from sagebridge.sync.export.context import ExportRun, failure_code, label, not_supported_reason, number_of
from sagebridge.sync.export.journal import ExportedNews, Journal
from sagebridge.sync.export.request import (
    LINKED_UNPOLLED_KIND,
    ExportHooks,
    PlannedOutcome,
    idempotency_key,
    void_hash,
)

# Write-behind commits: a few in flight hide DynamoDB's round trip behind the next Sage call; the
# bound keeps memory flat and the crash window (documents sent, not yet committed) small.
COMMIT_THREADS = 4
MAX_UNSETTLED = 8
COMMIT_GROUP = 4  # commits per TransactWriteItems (each its own all-or-nothing group)
# Sales documents whose money in Sage the payment poller must look at when they are linked.
MONEY_LINKED_KINDS = frozenset({DocumentKind.SALES_INVOICE.value, DocumentKind.SALES_CREDIT_NOTE.value})


class Outcomes:
    """Claims and settles one document at a time; commits run behind, a few at once."""

    def __init__(self, run: ExportRun, journal: Journal, hooks: ExportHooks | None) -> None:
        self.run = run
        self.journal = journal
        self.hooks = hooks
        self.held: Claim | None = None  # the document's claim not yet settled (for an unexpected error)
        self.hook_raised = False  # the test seam "killed" the worker: not a document's own failure
        self._executor: ThreadPoolExecutor | None = None
        # commits not yet settled, each with the host's document.exported to queue once it is
        self._pending: deque[tuple[Future[bool], Outcome, ExportedNews]] = deque()
        self._group: list[tuple[list[Write], Future[bool], StagedDocument]] = []  # commits not yet sent
        # claims taken ahead for new documents (`claim_ahead`), each handed out by `claim`
        self._ahead: dict[tuple[str, str], Claim] = {}

    # ---- claim and settle

    def claim(self, staged: StagedDocument, payload_hash: str) -> Claim | None:
        ahead = self._ahead.pop((staged.kind, staged.host_id), None)
        if ahead is not None:
            if ahead.entry.payload_hash == payload_hash:
                self.held = ahead
                return ahead
            self.run.store.ledger.release_new([ahead])  # another version: claimed as usual below
        try:
            self.held = self.run.claim(staged.kind, staged.host_id, payload_hash)
            return self.held
        except ClaimConflict:
            return None  # someone else has it, or it is exported unchanged: nothing for us to do

    def claim_ahead(self, documents: Sequence[StagedDocument]) -> None:
        """Claim these new documents (no ledger entry when the page was read) in one request
        instead of one each just before its POST; `claim` hands each out. A document someone else
        claimed meanwhile is not among them, and its own `claim` is refused as before. What is not
        handed out goes back (`release_ahead`)."""
        if not documents:
            return
        wanted = [(s.kind, s.host_id, s.payload_hash, idempotency_key(self.run.tenant, s.kind, s.host_id,
                                                                      s.payload_hash)) for s in documents]
        try:
            self._ahead.update(self.run.store.ledger.claim_new(self.run.tenant, wanted))
        except ConflictError:  # a concurrent transaction on one of them: nothing written, claim one by one
            return

    def release_ahead(self) -> None:
        """The claims taken ahead and not handed out (the run stopped first): given back, so none is
        left in flight for the claim timeout. Best effort: one left behind is a stale claim, which
        the next run looks up in Sage before sending, as after a crash."""
        if not self._ahead:
            return
        claims, self._ahead = list(self._ahead.values()), {}
        try:
            self.run.store.ledger.release_new(claims)
        except Exception as exc:
            logger.warning("export_claims_not_released", extra={"claims": len(claims), "error": type(exc).__name__})

    def release(self) -> Claim | None:
        """The claim held for the current document, no longer held."""
        claim, self.held = self.held, None
        return claim

    def settle(self, ledger_op: Write, log_op: Write) -> bool:
        """The ledger entry and its log line in one transaction; False if the claim was taken over."""
        try:
            self.run.store.transact([ledger_op, log_op])
        except ConflictError:
            return False
        finally:
            self.held = None
        return True

    def sage_answered(self, staged: StagedDocument, remote: RemoteRecord) -> None:
        """The test seam between Sage's answer and the commit."""
        if self.hooks is None:
            return
        try:
            self.hooks.after_sage_call(staged.kind, staged.host_id, remote)
        except BaseException:
            self.hook_raised = True
            raise

    # ---- exported: committed write-behind

    def commit(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim, sage_id: str,
               outcome: Outcome, message: str, extra: dict[str, Any]) -> None:
        run = self.run
        writes = [
            run.store.ledger.mark_exported_op(claim, sage_id),
            run.store.mappings.put_op(run.tenant, staged.kind, staged.host_id, sage_id, extra),
            self.journal.log_op(staged.kind, staged.host_id, number_of(record), outcome, sage_id=sage_id,
                                message=message),
        ]
        if outcome is Outcome.LINKED and staged.kind in MONEY_LINKED_KINDS:
            # Payments entered in Sage before the link are behind the poller's cursor: flag them.
            writes.append(run.store.mappings.put_op(run.tenant, LINKED_UNPOLLED_KIND, sage_id, sage_id, {
                "kind": staged.kind, "host_id": staged.host_id, "reference": extra.get("reference")}))
        self.held = None
        news = self.journal.exported_news(staged, record, claim, sage_id, outcome, voided=bool(extra.get("voided")))

        # Write-behind (docs/performance.md): the commit's DynamoDB round trip overlaps the next
        # document's claim and Sage call instead of adding to them. Safe because an unsettled commit
        # is exactly the crash window DESIGN.md already covers (in_flight -> look up by reference ->
        # adopt); every page drains its commits before the next page reads mappings, and the run
        # drains them on every exit, so nothing outlives the invocation. Commits go COMMIT_GROUP at
        # a time in one request, each all-or-nothing on its own; MAX_UNSETTLED still bounds the
        # documents sent and not yet committed.
        touched = {_item_key(w) for w in writes}
        if any(touched & _item_key_set(group_writes) for group_writes, _, _ in self._group):
            self._flush_group()  # a transaction writes an item once
        future: Future[bool] = Future()
        self._group.append((writes, future, staged))
        self._pending.append((future, outcome, news))
        if len(self._group) >= COMMIT_GROUP:
            self._flush_group()
        while len(self._pending) > MAX_UNSETTLED:
            self._settle_oldest()

    def _flush_group(self) -> None:
        group, self._group = self._group, []
        if group:
            self._writer().submit(self._write_group, group)

    def _write_group(self, group: list[tuple[list[Write], Future[bool], StagedDocument]]) -> None:
        try:
            stood = self.run.store.table.transact_groups([writes for writes, _, _ in group])
        except BaseException as exc:
            for _, future, _ in group:
                future.set_exception(exc)
            return
        for (_, future, staged), ok in zip(group, stood, strict=True):
            if not ok:
                # Our claim was taken over (we were too slow); the taker looks Sage up and adopts ours.
                logger.warning("export_commit_lost", extra={"kind": staged.kind, "host_id": staged.host_id})
            future.set_result(ok)

    def _writer(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=COMMIT_THREADS, thread_name_prefix="export-commit")
        return self._executor

    def _settle_oldest(self) -> None:
        future, outcome, news = self._pending.popleft()
        if any(future is waiting for _, waiting, _ in self._group):
            self._flush_group()
        if future.result():  # a store error raises here, in the run's thread, as it did inline
            self.journal.count(outcome)
            self.journal.deliver(news[0], dedupe_key=news[1])  # only once the commit stands

    def drain(self, party_writes: Sequence[Write]) -> None:
        """Write the page's party mappings, wait for every commit in flight; raise the first store
        error after all have settled."""
        error: BaseException | None = None
        self._flush_group()
        if party_writes:
            try:
                self.run.store.table.batch_put(list(party_writes))
            except Exception as exc:
                error = exc
        while self._pending:
            try:
                self._settle_oldest()
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error

    def shut_down(self) -> None:
        self._flush_group()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # ---- skipped

    def skip(self, staged: StagedDocument, record: Document[Any] | Payment, reasons: list[SkipReason],
             entry: LedgerEntry | None, *, payload_hash: str | None = None, report: bool = False,
             waiting: bool = False, explicit: bool = False, waits_for: str | None = None) -> None:
        """Log why a record is not sent and settle its ledger entry as skipped; tell the host. A
        `waiting` skip (a draft) has nothing to fix: the host is not told, the status page does not
        list it, and it is logged again only when it changes or a run names it (`explicit`)."""
        message = "; ".join(reason.message for reason in reasons)
        code = reasons[0].code.value
        h = payload_hash or staged.payload_hash
        if self.run.dry_run:
            self.journal.count(Outcome.SKIPPED)
            self.run.result.planned.append(PlannedOutcome(staged.kind, staged.host_id, Outcome.SKIPPED, message))
            self.journal.log_now(staged.kind, staged.host_id, number_of(record), Outcome.SKIPPED, reason_code=code,
                                 message=f"dry run: would skip: {message}")
            return
        same_as_before = (entry is not None and entry.state is LedgerState.SKIPPED and entry.payload_hash == h
                          and entry.reason == message)
        if same_as_before and (not explicit if waiting else self._quiet_repeats()):
            # skipped for the same reasons last time and logged then: no new writes (the run's
            # summary counts it among the skips it did not log again)
            self.journal.count(Outcome.SKIPPED, logged=False)
            return
        claim = self.claim(staged, h)
        if claim is None or not self.settle(
                self.run.store.ledger.mark_skipped_op(claim, message, waiting=waiting, waits_for=waits_for),
                self.journal.log_op(staged.kind, staged.host_id, number_of(record), Outcome.SKIPPED,
                                    reason_code=code, message=message)):
            return  # another worker settled it: its run counts it
        self.journal.count(Outcome.SKIPPED)
        if waiting:
            return
        if report and not same_as_before:  # operators hear once, not on every run (export type All)
            self.journal.remember_failure(staged.kind, staged.host_id, f"{number_of(record)}: {message}")
        self.journal.deliver_skipped(staged, record, reasons, h)

    def _quiet_repeats(self) -> bool:
        """Export type New, not naming documents: a skip for the same reasons is not logged again."""
        return self.run.export_type is ExportType.NEW and not self.run.request.documents

    def settle_not_supported(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim,
                             why: str, *, exported: bool = False) -> None:
        """Skipped for what the product does not do. `exported`: the document is in Sage already and
        the change (a void) is what is not carried out, so the reason does not say "not exported"."""
        reason = not_supported_reason(record, why, exported=exported)
        self.journal.count(Outcome.SKIPPED)
        if self.settle(self.run.store.ledger.mark_skipped_op(claim, reason.message),
                       self.journal.log_op(staged.kind, staged.host_id, number_of(record), Outcome.SKIPPED,
                                           reason_code=reason.code.value, message=reason.message)):
            self.journal.deliver_skipped(staged, record, [reason], claim.entry.payload_hash)

    # ---- failed

    def fail(self, staged: StagedDocument, record: Document[Any] | Payment, claim: Claim, exc: SageError, *,
             in_doubt_since: datetime | None = None) -> None:
        """Settle a claim whose Sage call failed. The host hears on the first failure of a version
        (will_retry true) and once more when it gives up (will_retry false): at once for a refusal
        Sage will repeat, else after `retry_limit` retries. Given up, no run sends this version
        again (nor mails about it) until a replay or a change."""
        if isinstance(exc, NotSupported):
            self.held = None
            self.settle_not_supported(staged, record, claim, exc.message)
            return
        attempts = self.run.attempts(claim)
        permanent = isinstance(exc, RecordInvalid)
        will_retry = not permanent and attempts <= self.run.settings.retry_limit
        logged = _failure_message(record, exc, permanent, will_retry, attempts)
        if not self.settle(
                self.run.store.ledger.mark_failed_op(claim, logged, attempts=attempts, gave_up=not will_retry,
                                                     in_doubt_since=in_doubt_since),
                self.journal.log_op(staged.kind, staged.host_id, number_of(record), Outcome.FAILED,
                                    reason_code=failure_code(exc), message=logged)):
            return
        self.journal.count(Outcome.FAILED)
        self.journal.tell_failed(staged, record, claim.entry.payload_hash, failure_code(exc), logged, attempts,
                                 will_retry)
        if isinstance(exc, AuthError | RateLimited):
            raise exc

    def write_failure(self, kind: str, host_id: str, number: str | None, claim: Claim | None, code: str,
                      message: str, attempts: int, will_retry: bool, *,
                      in_doubt_since: datetime | None = None) -> None:
        """Failed, with or without a claim: the ledger entry (if ours) and the log line; the log
        line alone if the claim was taken over meanwhile."""
        writes = [self.journal.log_op(kind, host_id, number, Outcome.FAILED, reason_code=code, message=message)]
        if claim is not None:
            writes.insert(0, self.run.store.ledger.mark_failed_op(claim, message, attempts=attempts,
                                                                  gave_up=not will_retry,
                                                                  in_doubt_since=in_doubt_since))
        try:
            self.run.store.transact(writes)
        except ConflictError:
            self.run.store.table.write(writes[-1])
        self.journal.count(Outcome.FAILED)

    def unexpected(self, staged: StagedDocument, record: Document[Any] | Payment | None, claim: Claim | None,
                   message: str) -> None:
        """A bug or a surprise for one document: given up until a replay or a change, the host told."""
        if claim is None and record is not None:
            claim = self.claim(staged, void_hash(staged.payload_hash) if staged.voided else staged.payload_hash)
            self.held = None
        attempts = self.run.attempts(claim) if claim is not None else 1
        number = number_of(record) if record is not None else None
        self.write_failure(staged.kind, staged.host_id, number, claim, "internal_error", message, attempts, False)
        if record is None:
            self.journal.remember_failure(staged.kind, staged.host_id, message)
            return
        h = claim.entry.payload_hash if claim is not None else staged.payload_hash
        self.journal.tell_failed(staged, record, h, "internal_error", message, attempts, False)

    def fail_unclaimed(self, staged: StagedDocument, record: Document[Any] | Payment, exc: SageError) -> None:
        """A read failed before anything was claimed or sent: log it; the next run tries again."""
        if isinstance(exc, AuthError | RateLimited):
            raise exc
        message = f"{label(record)}: could not read it from Sage: {exc.message}"
        if self.run.dry_run:
            self.journal.plan_failure(staged.kind, staged.host_id, number_of(record), message,
                                      reason_code=failure_code(exc))
            return
        self.journal.count(Outcome.FAILED)
        self.journal.log_now(staged.kind, staged.host_id, number_of(record), Outcome.FAILED,
                             reason_code=failure_code(exc), message=message)
        # the host hears once per version; the next run tries again
        self.journal.tell_failed(staged, record, staged.payload_hash, failure_code(exc), message, 1, True)

    def fail_unparsable(self, staged: StagedDocument, exc: ValidationError) -> None:
        message = "the staged record is not valid: " + "; ".join(describe_problems(exc))
        if self.run.dry_run:
            self.journal.plan_failure(staged.kind, staged.host_id, None, message, reason_code="invalid_record")
            return
        self.journal.count(Outcome.FAILED)
        self.journal.log_now(staged.kind, staged.host_id, None, Outcome.FAILED, reason_code="invalid_record",
                             message=message)


def _failure_message(record: Document[Any] | Payment, exc: SageError, permanent: bool, will_retry: bool,
                     attempts: int) -> str:
    if permanent:
        return (f"Sage refused {label(record)}: {exc.message} (not retried: Sage will refuse this version again; "
                "fix it and it is sent again)")
    return f"{label(record)} could not be sent to Sage: {exc.message}" + (
        "" if will_retry else f" (gave up after {attempts} attempts)")


def _item_key(write: Write) -> tuple[str, str]:
    key = write.params.get("Key") or write.params["Item"]
    return key["pk"]["S"], key["sk"]["S"]


def _item_key_set(writes: Sequence[Write]) -> set[tuple[str, str]]:
    return {_item_key(w) for w in writes}
