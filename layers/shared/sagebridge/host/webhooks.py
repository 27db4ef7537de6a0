"""`POST /webhooks/{tenant_id}`: check, parse, stage (once), and ask for an immediate export when a
document reached one of the tenant's trigger statuses.

The order of the checks is the contract: size (413), tenant (404), signature (401, before the body
is parsed), JSON (400), schema (422). Every refusal is a reply, never an exception: bad input must
not become a 500. A replayed event id returns the first reply (Powertools idempotency, keyed on
tenant + event id); an older version of a record is accepted but reported `stale` and not stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Protocol

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from pydantic import BaseModel

from sagebridge.domain.errors import ConfigurationError, ConflictError, NotFoundError, SageBridgeError
from sagebridge.domain.hashing import canonical_json, payload_hash
from sagebridge.domain.kinds import ledger_of, record_kind
from sagebridge.domain.settings import TenantSettings, parse_tenant_settings
from sagebridge.host.inbound import ITEM_KIND, MAX_BODY_BYTES, DocumentVoided, InvalidWebhook, parse_event
from sagebridge.host.inbound import _Event as InboundEventModel
from sagebridge.host.jobs import webhook_export_job
from sagebridge.host.secrets import WebhookSecrets
from sagebridge.observability import logger
from sagebridge.security.signing import DEFAULT_TOLERANCE_SECONDS, SignatureError, verify
from sagebridge.store.documents import Documents
from sagebridge.store.records import StagedDocument
from sagebridge.store.table import Table
from sagebridge.store.tenants import Tenants
from sagebridge.store.webhook_events import WebhookEventRecord, WebhookEvents

IDEMPOTENCY_SECONDS = 3 * 24 * 3600  # longer than any host's retry schedule
# version orders changes: the host's version first, then occurred_at. Epoch milliseconds stay below
# 10**13 until the year 2286, so (version, ms) packs into one number DynamoDB compares.
_VERSION_FACTOR = 10**13


class Outcome(StrEnum):
    STORED = "stored"
    STALE = "stale"  # a newer version is already staged; nothing changed
    UNKNOWN_DOCUMENT = "unknown_document"  # a void for a document never staged


class WebhookResult(BaseModel):
    """The 202 body, and what Powertools keeps to answer a replay with."""

    event_id: str
    type: str
    result: Outcome
    kind: str
    host_id: str
    export_queued: bool = False
    duplicate: bool = False


@dataclass
class WebhookReply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class ExportQueue(Protocol):
    def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str: ...


@dataclass
class WebhookDeps:
    table: Table
    export_queue: ExportQueue
    secrets: WebhookSecrets
    idempotency_store: BasePersistenceLayer
    clock: Callable[[], float] = time.time
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS

    @property
    def tenants(self) -> Tenants:
        return Tenants(self.table)

    @property
    def documents(self) -> Documents:
        return Documents(self.table)

    @property
    def events(self) -> WebhookEvents:
        return WebhookEvents(self.table)


def _error(status: int, error: str, **extra: Any) -> WebhookReply:
    return WebhookReply(status, {"error": error, **extra})


def receive_webhook(
    tenant_id: str,
    raw_body: bytes,
    signature: str | None,
    deps: WebhookDeps,
    *,
    lambda_context: Any = None,
) -> WebhookReply:
    """Handle one webhook delivery; always a reply, for any input."""
    if len(raw_body) > MAX_BODY_BYTES:
        return _error(413, "payload_too_large", reason=f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        tenant = deps.tenants.find(tenant_id)
    except ValueError:  # not a name a tenant can have ('#', empty)
        tenant = None
    if tenant is None or not tenant.enabled:
        return _error(404, "unknown_tenant", reason="no such tenant, or it is disabled")
    try:
        verify(raw_body, signature, deps.secrets.for_tenant(tenant_id),
               tolerance_seconds=deps.tolerance_seconds, now=deps.clock())
    except SignatureError as exc:
        logger.info("webhook signature refused", extra={"tenant_id": tenant_id, "reason": str(exc)})
        return _error(401, "invalid_signature", reason=str(exc))
    try:
        event = parse_event(raw_body)
    except InvalidWebhook as exc:
        error = "invalid_json" if exc.status == 400 else "invalid_event"
        return _error(exc.status, error, problems=[p.model_dump() for p in exc.problems])

    settings = _tenant_settings(tenant_id, tenant.settings)
    try:
        result = _process_once(tenant_id, event, settings, deps, lambda_context)
    except IdempotencyAlreadyInProgressError:
        return WebhookReply(409, {"error": "in_progress", "reason": f"event {event.id} is being processed"},
                            {"Retry-After": "5"})
    except (SageBridgeError, _RetryLater) as exc:
        # Ours, not the host's: throttling, a lost race, the export queue unreachable. Nothing is
        # half-done (the idempotency record is released), so the host's retry completes it.
        logger.warning("webhook not processed, asking the host to retry", extra={
            "tenant_id": tenant_id, "event_id": event.id, "error": type(exc).__name__, "reason": str(exc)})
        return WebhookReply(503, {"error": "try_again", "reason": "temporarily unable to store the event"},
                            {"Retry-After": "10"})
    return WebhookReply(202, result.model_dump(mode="json"))


class _RetryLater(Exception):
    """Lost a race with a concurrent write of the same record: the host's retry will settle it."""


def _tenant_settings(tenant_id: str, raw: dict[str, Any]) -> TenantSettings | None:
    try:
        return parse_tenant_settings(raw)
    except ConfigurationError as exc:
        # The tenant's own settings are broken: still stage (the scheduled run will report it),
        # but no trigger export.
        logger.error("tenant settings invalid", extra={"tenant_id": tenant_id, "reason": str(exc)})
        return None


def _process_once(
    tenant_id: str, event: InboundEventModel, settings: TenantSettings | None, deps: WebhookDeps,
    lambda_context: Any,
) -> WebhookResult:
    def _mark_duplicate(response: Any, _record: Any) -> Any:
        return response.model_copy(update={"duplicate": True}) if isinstance(response, WebhookResult) else response

    config = IdempotencyConfig(
        event_key_jmespath="[tenant_id, event_id]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_SECONDS,
        response_hook=_mark_duplicate,  # type: ignore[arg-type]  # a plain function fits the protocol
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    @idempotent_function(
        data_keyword_argument="delivery",
        persistence_store=deps.idempotency_store,
        config=config,
        output_serializer=PydanticSerializer(WebhookResult),  # an instance: annotations are strings here
        key_prefix="webhook",
    )
    def process(delivery: dict[str, str]) -> WebhookResult:
        return stage_event(tenant_id, event, settings, deps)

    return process(delivery={"tenant_id": tenant_id, "event_id": event.id})  # type: ignore[no-any-return]


def event_version(event: InboundEventModel) -> int:
    """One number that orders a record's changes: the host's version, then occurred_at."""
    millis = int(event.occurred_at.timestamp() * 1000)
    return (event.version() or 0) * _VERSION_FACTOR + max(millis, 0)


def stage_event(
    tenant_id: str, event: InboundEventModel, settings: TenantSettings | None, deps: WebhookDeps
) -> WebhookResult:
    """Stage the event's record (all-or-nothing with the event record) and queue a trigger export."""
    kind, host_id, version = event.staged_kind(), event.staged_host_id(), event_version(event)
    if isinstance(event, DocumentVoided):
        outcome = _stage_void(tenant_id, event, version, deps)
    else:
        outcome = _stage_record(tenant_id, event, kind, host_id, version, deps)
    result = WebhookResult(event_id=event.id, type=event.type, result=outcome,  # type: ignore[attr-defined]
                           kind=kind, host_id=host_id)
    status = event.status()
    if outcome is Outcome.STORED and status and settings is not None and settings.is_trigger_status(status):
        job = webhook_export_job(tenant_id, kind, host_id, event_id=event.id)
        deps.export_queue.send(job.model_dump(mode="json", exclude_none=True))
        result.export_queued = True
    logger.info("webhook staged", extra={"tenant_id": tenant_id, "event_id": event.id, "kind": kind,
                                         "result": outcome.value, "export_queued": result.export_queued})
    return result


def _record_of(event: InboundEventModel, outcome: Outcome, tenant_id: str, version: int) -> WebhookEventRecord:
    return WebhookEventRecord(
        tenant_id=tenant_id, event_id=event.id, event_type=event.type,  # type: ignore[attr-defined]
        kind=event.staged_kind(), host_id=event.staged_host_id(), version=version,
        outcome=outcome.value, occurred_at=event.occurred_at,
    )


def _stage_record(
    tenant_id: str, event: InboundEventModel, kind: str, host_id: str, version: int, deps: WebhookDeps
) -> Outcome:
    data: Any = event.data  # type: ignore[attr-defined]
    document_date, posting_date = _dates(data, event.occurred_at)
    staged = StagedDocument(
        tenant_id=tenant_id, kind=kind, host_id=host_id, ledger=_ledger(kind),
        canonical_json=canonical_json(data, ignore=()), payload_hash=payload_hash(data),
        version=version, posting_date=posting_date, document_date=document_date,
    )
    try:
        deps.table.transact([
            deps.documents.put_op(staged),
            deps.events.put_op(_record_of(event, Outcome.STORED, tenant_id, version)),
        ])
        return Outcome.STORED
    except ConflictError:
        current = deps.documents.find(tenant_id, kind, host_id)
    if current is None or current.version < version:
        raise _RetryLater(f"{kind}/{host_id}: concurrent write")
    if current.version == version and current.payload_hash == staged.payload_hash and not current.voided:
        # Our own earlier write of this very event (its handling failed after the transaction):
        # carry on as stored so the trigger export is queued this time.
        return Outcome.STORED
    deps.events.put(_record_of(event, Outcome.STALE, tenant_id, version))
    return Outcome.STALE


def _stage_void(tenant_id: str, event: DocumentVoided, version: int, deps: WebhookDeps) -> Outcome:
    kind, host_id = event.data.kind.value, event.data.host_id
    current = deps.documents.find(tenant_id, kind, host_id)
    if current is None:
        deps.events.put(_record_of(event, Outcome.UNKNOWN_DOCUMENT, tenant_id, version))
        return Outcome.UNKNOWN_DOCUMENT
    if current.version >= version:
        if current.version == version and current.voided:
            return Outcome.STORED  # this void, retried
        deps.events.put(_record_of(event, Outcome.STALE, tenant_id, version))
        return Outcome.STALE
    try:
        deps.table.transact([
            deps.documents.put_op(replace(current, voided=True, version=version)),
            deps.events.put_op(_record_of(event, Outcome.STORED, tenant_id, version)),
        ])
    except (ConflictError, NotFoundError):
        raise _RetryLater(f"{kind}/{host_id}: changed while voiding") from None
    return Outcome.STORED


def _ledger(kind: str) -> str:
    if kind == ITEM_KIND:
        return ITEM_KIND
    return ledger_of(record_kind(kind)).value


def _dates(data: Any, occurred_at: datetime) -> tuple[date, date]:
    """(document date, posting date) a staged record is indexed by. Parties and items have none of
    their own: they take the day the event happened, so a catalog export by date still finds them."""
    if isinstance(getattr(data, "document_date", None), date):
        return data.document_date, data.posting_date or data.document_date
    if isinstance(getattr(data, "payment_date", None), date):
        return data.payment_date, data.payment_date
    day = occurred_at.astimezone(UTC).date()
    return day, day


__all__ = [
    "Outcome", "WebhookDeps", "WebhookReply", "WebhookResult",
    "event_version", "receive_webhook", "stage_event",
]
