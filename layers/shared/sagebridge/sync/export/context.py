"""What every step of one run shares: the run's facts (`ExportRun`), the ledger rules they all
apply (claims, give-ups, stale claims, attempts), and small helpers that name a record."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sagebridge.connectors.base import (
    AuthError,
    Connector,
    Mapper,
    NotConnected,
    RateLimited,
    RecordInvalid,
    SageError,
    UncertainWrite,
)
from sagebridge.domain.documents import Document
from sagebridge.domain.hashing import payload_hash
from sagebridge.domain.parties import Party
from sagebridge.domain.payments import Payment
from sagebridge.domain.runs import RunTrigger
from sagebridge.domain.settings import ExportType, TenantSettings
from sagebridge.domain.validation import SkipCode, SkipReason
from sagebridge.store import Claim, LedgerEntry, LedgerState, Store
from sagebridge.store.table import Page
from sagebridge.sync.export.request import ExportRequest, ExportResult, RunAborted, idempotency_key

T = TypeVar("T")

# An id every product's mapper takes (a whole number, as text) for a record Sage has not given one
# yet: a body built before its contact is known (its reference and total do not depend on it), or
# a dry run's body for a contact or document it would create. Never sent to Sage.
STAND_IN_ID = "0"


@dataclass
class ExportRun:
    """One run's facts, read by its steps: what was asked, with which store, Sage connection and
    settings, and what came of it so far. The steps keep their own working state."""

    store: Store
    connector: Connector
    mapper: Mapper
    settings: TenantSettings
    business_currency: str
    claim_timeout: timedelta
    request: ExportRequest
    run_id: str
    export_type: ExportType
    adopt: bool  # going live: list each kind once for the window (the tenant's first run)
    result: ExportResult
    mappings: dict[tuple[str, str], Any] = field(default_factory=dict)  # the page's id mappings
    # Sage blocks the connection until then (stored on it, with why): nothing is sent to Sage; each
    # document the run would send waits for the block's end, named as its trigger.
    blocked_until: datetime | None = None
    blocked_reason: str | None = None

    @property
    def tenant(self) -> str:
        return self.request.tenant_id

    @property
    def dry_run(self) -> bool:
        return self.request.dry_run

    @property
    def replay(self) -> bool:
        return self.request.triggered_by is RunTrigger.REPLAY

    def now(self) -> datetime:
        return self.store.table.now()

    def claim(self, kind: str, host_id: str, payload_hash: str) -> Claim:
        """Claim the ledger entry of this version (raises ClaimConflict when it is not ours to send)."""
        return self.store.ledger.claim(self.tenant, kind, host_id, payload_hash=payload_hash,
                                       idempotency_key=idempotency_key(self.tenant, kind, host_id, payload_hash),
                                       claim_timeout=self.claim_timeout)

    def gave_up(self, entry: LedgerEntry | None, payload_hash: str | None = None) -> bool:
        """This version failed for good (refused, or out of retries): only a replay or a change
        (a new payload hash) sends it again."""
        if entry is None or entry.state is not LedgerState.FAILED:
            return False
        if payload_hash is not None and entry.payload_hash != payload_hash:
            return False
        if self.replay:
            return False
        return entry.gave_up or entry.attempts > self.settings.retry_limit

    def stale(self, entry: LedgerEntry) -> bool:
        claimed = entry.claimed_at
        return claimed is None or claimed < self.now() - self.claim_timeout

    def attempts(self, claim: Claim) -> int:
        """Attempts at this version: a changed document, or a replay, starts again at 1."""
        previous = claim.previous
        same = (previous is not None and previous.payload_hash == claim.entry.payload_hash
                and previous.state in (LedgerState.FAILED, LedgerState.IN_FLIGHT))
        if not same or self.replay:
            return 1
        assert previous is not None
        return previous.attempts + 1

    def ledger_pages(self, state: LedgerState) -> Iterator[Page[LedgerEntry]]:
        """The tenant's ledger entries in this state, a page at a time (each read when asked for)."""
        token: str | None = None
        while True:
            page = self.store.ledger.list_by_state(self.tenant, state, next_token=token)
            yield page
            if not (token := page.next_token):
                return


@contextmanager
def connection_guard() -> Iterator[None]:
    """The connection, not one document: the run stops (its job is retried)."""
    try:
        yield
    except (AuthError, NotConnected) as exc:
        raise RunAborted(f"Sage refused the connection: {exc.message}") from exc
    except RateLimited as exc:
        raise RunAborted(f"Sage is rate limiting this business: {exc.message}") from exc


def put_again_if_lost(call: Callable[[], T]) -> T:
    """An update (a PUT) whose answer was lost is sent once more: it repeats safely."""
    try:
        return call()
    except UncertainWrite:
        return call()


@dataclass
class Skip:
    """Why a record cannot go to Sage (every reason)."""

    reasons: list[SkipReason]


PARTY_CACHE_SIZE = 10_000  # parties a run remembers (contact ids, checks, failures)


class LruDict(dict[Any, Any]):
    """A dict that forgets its oldest entries beyond `limit` (party ids: flat memory on big runs)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if len(self) > self.limit:
            del self[next(iter(self))]


def label(record: Document[Any] | Payment) -> str:
    number = getattr(record, "number", None)
    word = record.kind.value.replace("_", " ").capitalize()
    return f"{word} {number}" if number else f"{word} '{record.host_id}'"


def number_of(record: Document[Any] | Payment) -> str | None:
    return getattr(record, "number", None) or record.reference or record.host_id


def date_of(record: Document[Any] | Payment) -> date:
    return record.document_date if isinstance(record, Document) else record.payment_date


def as_document(record: Document[Any] | Payment) -> Any:
    return record if isinstance(record, Document) else None


def party_hash(party: Party) -> str:
    return payload_hash(party)


def failure_code(exc: SageError) -> str:
    if isinstance(exc, RecordInvalid):
        return "sage_rejected"
    if isinstance(exc, UncertainWrite):
        return "sage_uncertain"
    if isinstance(exc, RateLimited):
        return "sage_rate_limited"
    if isinstance(exc, AuthError):
        return "sage_auth"
    return "sage_unavailable"


def not_supported_reason(record: Document[Any] | Payment, why: str, *, exported: bool = False) -> SkipReason:
    message = f"{label(record)}: {why}" if exported else f"{label(record)} is not exported: {why}"
    return SkipReason(code=SkipCode.NOT_SUPPORTED, field="kind", message=message)
