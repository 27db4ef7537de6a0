"""`POST /webhooks/{tenant_id}`: check, parse, stage (once), and ask for an immediate export when a
document reached one of the tenant's trigger statuses.

The order of the checks is the contract: size (413), tenant (404), signature (401, before the body
is parsed), Content-Type (415), JSON (400), schema and input limits (422). Every refusal is a reply,
never an exception: bad input must not become a 500. A replayed event id returns the first reply
(Powertools idempotency, keyed on tenant + event id, then the event record); the same id with another
body is a 409 and changes nothing. A record's changes are ordered by version, then occurred_at, then
arrival (see `event_version`); an older change is accepted but reported `stale` and not stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Protocol

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from pydantic import BaseModel

from sagebridge.domain.errors import ConfigurationError, ConflictError, SageBridgeError
from sagebridge.domain.hashing import canonical_json, payload_hash
from sagebridge.domain.kinds import ledger_of, record_kind
from sagebridge.domain.settings import TenantSettings, parse_tenant_settings
from sagebridge.host.inbound import MAX_BODY_BYTES, DocumentVoided, InvalidWebhook, parse_event
from sagebridge.host.inbound import _Event as InboundEventModel
from sagebridge.host.jobs import webhook_export_job
from sagebridge.host.secrets import WebhookSecrets
from sagebridge.host.triggers import PendingTriggers, trigger_element
from sagebridge.observability import logger, metrics
from sagebridge.security.signing import DEFAULT_TOLERANCE_SECONDS, SignatureError, verify
from sagebridge.store.documents import Documents
from sagebridge.store.records import StagedDocument
from sagebridge.store.table import Table
from sagebridge.store.tenants import Tenants
from sagebridge.store.webhook_events import WebhookEventRecord, WebhookEvents

IDEMPOTENCY_SECONDS = 3 * 24 * 3600  # longer than any host's retry schedule
# version orders changes: the host's version first, then occurred_at. Epoch milliseconds stay below
# 10**13 until the year 2286, so (version, ms) packs into one number DynamoDB compares; versions
# have at most 25 digits (domain.fields.MAX_HOST_VERSION), so the number fits DynamoDB's 38.
_VERSION_FACTOR = 10**13
_ATTEMPTS = 3  # a record changed under us: read it again and decide again, this many times
JSON_MEDIA_TYPE = "application/json"


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
    reason: str | None = None  # why a stale or unknown-document event changed nothing


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
    # A burst of triggers shares one export job (sagebridge.host.triggers); False: one job each.
    coalesce_triggers: bool = True

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
    content_type: str | None = JSON_MEDIA_TYPE,
    lambda_context: Any = None,
) -> WebhookReply:
    """Handle one webhook delivery; always a reply, for any input. `content_type`: the request's
    Content-Type header (None if it had none). A refusal (4xx) is counted and logged with why."""
    reply = _receive(tenant_id, raw_body, signature, deps, content_type=content_type, lambda_context=lambda_context)
    if 400 <= reply.status < 500:
        metrics.add_metric(name="WebhooksRefused", unit="Count", value=1)
        logger.info("webhook refused", extra={"tenant_id": tenant_id, "status": reply.status,
                                              "error": reply.body.get("error"), "event_id": reply.body.get("event_id")})
    elif reply.status >= 500:
        metrics.add_metric(name="WebhooksDeferred", unit="Count", value=1)
    return reply


def _receive(
    tenant_id: str, raw_body: bytes, signature: str | None, deps: WebhookDeps, *,
    content_type: str | None, lambda_context: Any,
) -> WebhookReply:
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
    media_problem = _media_type_problem(content_type)
    if media_problem is not None:
        return _error(415, "unsupported_media_type", reason=media_problem)
    try:
        event = parse_event(raw_body, now=datetime.fromtimestamp(deps.clock(), UTC))
    except InvalidWebhook as exc:
        error = "invalid_json" if exc.status == 400 else "invalid_event"
        return _error(exc.status, error, problems=[p.model_dump() for p in exc.problems])

    settings = _tenant_settings(tenant_id, tenant.settings)
    try:
        result = _process_once(tenant_id, event, event_hash(event), settings, deps, lambda_context)
    except (IdempotencyValidationError, EventIdConflict):
        # Nothing is stored: the idempotency record refused it, or stage_event raised before writing.
        return _error(409, "event_id_conflict", event_id=event.id, reason=(
            f"event id {event.id!r} was received before, and this body differs from the one first received; "
            "nothing was stored. An event id names one change: send a new change under a new id, and "
            "retry an event with exactly its first body"))
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
    return WebhookReply(202, result.model_dump(mode="json", exclude_none=True))


class _RetryLater(Exception):
    """Lost a race with a concurrent write of the same record: the host's retry will settle it."""


class EventIdConflict(Exception):
    """The event id was received before with a different body."""


def _media_type_problem(content_type: str | None) -> str | None:
    """Why a Content-Type is not JSON in UTF-8, or None if it is."""
    if not content_type or not content_type.strip():
        return f"the Content-Type header is missing; send the body as {JSON_MEDIA_TYPE}"
    media, _, parameters = content_type.partition(";")
    if media.strip().lower() != JSON_MEDIA_TYPE:
        return f"Content-Type {media.strip()!r} is not accepted; send the body as {JSON_MEDIA_TYPE}"
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            return f"charset {value.strip()!r} is not accepted; send {JSON_MEDIA_TYPE} in UTF-8"
    return None


def event_hash(event: InboundEventModel) -> str:
    """The fingerprint of an event's content (not its bytes: key order and spacing do not count)."""
    return payload_hash(event, ignore=())


def _tenant_settings(tenant_id: str, raw: dict[str, Any]) -> TenantSettings | None:
    try:
        return parse_tenant_settings(raw)
    except ConfigurationError as exc:
        # The tenant's own settings are broken: still stage (the scheduled run will report it),
        # but no trigger export.
        logger.error("tenant settings invalid", extra={"tenant_id": tenant_id, "reason": str(exc)})
        return None


def _process_once(
    tenant_id: str, event: InboundEventModel, body_hash: str, settings: TenantSettings | None,
    deps: WebhookDeps, lambda_context: Any,
) -> WebhookResult:
    def _mark_duplicate(response: Any, _record: Any) -> Any:
        # A duplicate queues nothing: the first reply's export_queued is not this one's.
        return response.model_copy(update={"duplicate": True, "export_queued": False}) \
            if isinstance(response, WebhookResult) else response

    config = IdempotencyConfig(
        event_key_jmespath="[tenant_id, event_id]",
        payload_validation_jmespath="body_hash",  # the same id with another body: IdempotencyValidationError
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
        return stage_event(tenant_id, event, settings, deps, body_hash=body_hash)

    return process(  # type: ignore[no-any-return]
        delivery={"tenant_id": tenant_id, "event_id": event.id, "body_hash": body_hash})


def event_version(event: InboundEventModel, current: StagedDocument | None = None) -> int:
    """One number that orders a record's changes: the host's version, then occurred_at. An event
    without a version is taken to be of the version `current`ly staged (0 if none), so occurred_at
    orders it against that change. Equal numbers go to the later arrival (`stage_event`)."""
    host_version = event.version()
    if host_version is None:
        host_version = current.version // _VERSION_FACTOR if current is not None else 0
    millis = int(event.occurred_at.timestamp() * 1000)
    return host_version * _VERSION_FACTOR + min(max(millis, 0), _VERSION_FACTOR - 1)


def _describe_version(version: int) -> str:
    moment = datetime.fromtimestamp((version % _VERSION_FACTOR) / 1000, UTC)
    return f"version {version // _VERSION_FACTOR}, occurred {moment.isoformat().replace('+00:00', 'Z')}"


def stage_event(
    tenant_id: str, event: InboundEventModel, settings: TenantSettings | None, deps: WebhookDeps,
    *, body_hash: str | None = None,
) -> WebhookResult:
    """Stage the event's record (all-or-nothing with the event record) and queue a trigger export.
    EventIdConflict if the event id was used before for another body."""
    body_hash = body_hash or event_hash(event)
    kind, host_id = event.staged_kind(), event.staged_host_id()
    for _attempt in range(_ATTEMPTS):
        seen = deps.events.find(tenant_id, event.id)
        if seen is not None:
            return _seen_before(tenant_id, event, seen, body_hash, settings, deps)
        try:
            if isinstance(event, DocumentVoided):
                outcome, reason = _stage_void(tenant_id, event, body_hash, deps)
            else:
                outcome, reason = _stage_record(tenant_id, event, kind, host_id, body_hash, deps)
        except ConflictError:
            continue  # the record (or this event id) changed since we read it: read again
        return _finish(tenant_id, event, outcome, settings, deps, reason=reason)
    raise _RetryLater(f"{kind}/{host_id}: changed concurrently {_ATTEMPTS} times")


def _finish(
    tenant_id: str, event: InboundEventModel, outcome: Outcome, settings: TenantSettings | None,
    deps: WebhookDeps, *, reason: str | None = None,
) -> WebhookResult:
    kind, host_id = event.staged_kind(), event.staged_host_id()
    result = WebhookResult(event_id=event.id, type=event.type, result=outcome,  # type: ignore[attr-defined]
                           kind=kind, host_id=host_id, reason=reason)
    status = event.status()
    if outcome is Outcome.STORED and status and settings is not None and settings.is_trigger_status(status):
        queue_trigger(tenant_id, kind, host_id, event.id, deps)
        result.export_queued = True
    logger.info("webhook staged", extra={"tenant_id": tenant_id, "event_id": event.id, "kind": kind,
                                         "host_id": host_id, "result": outcome.value,
                                         "export_queued": result.export_queued})
    return result


def queue_trigger(tenant_id: str, kind: str, host_id: str, event_id: str, deps: WebhookDeps) -> None:
    """Queue the trigger's export: its own job, or (coalescing) the tenant's job already queued."""
    if not deps.coalesce_triggers:
        job = webhook_export_job(tenant_id, kind, host_id, event_id=event_id)
        deps.export_queue.send(job.model_dump(mode="json", exclude_none=True))
        return
    triggers = PendingTriggers(deps.table)
    if not triggers.add(tenant_id, trigger_element(kind, host_id, event_id)):
        return  # the job queued moments ago exports it
    job = webhook_export_job(tenant_id, kind, host_id, event_id=event_id, coalesced=True)
    try:
        deps.export_queue.send(job.model_dump(mode="json", exclude_none=True))
    except Exception:
        try:  # no job is queued: the host's retry of this webhook (a 5xx) must queue one
            triggers.not_queued(tenant_id)
        except Exception as error:  # then the trigger waits STALE_AFTER at most
            logger.warning("export_trigger_not_released", extra={"tenant_id": tenant_id,
                                                                 "error": type(error).__name__})
        raise


def _seen_before(
    tenant_id: str, event: InboundEventModel, seen: WebhookEventRecord, body_hash: str,
    settings: TenantSettings | None, deps: WebhookDeps,
) -> WebhookResult:
    """This event id was handled before (its idempotency record expired or its handling failed
    after the write): the same body is a duplicate, another body a conflict."""
    if seen.body_hash is not None and seen.body_hash != body_hash:
        raise EventIdConflict(event.id)
    outcome = Outcome(seen.outcome)
    current = deps.documents.find(tenant_id, seen.kind, seen.host_id)
    if outcome is Outcome.STORED and current is not None and current.version == seen.version and (
        current.voided if isinstance(event, DocumentVoided) else
        current.payload_hash == payload_hash(event.data) and not current.voided  # type: ignore[attr-defined]
    ):
        # Our own write of this very event is still what is staged, and its handling failed after
        # the write (the export queue was unreachable): finish it, so the trigger export is queued.
        return _finish(tenant_id, event, outcome, settings, deps)
    return WebhookResult(event_id=event.id, type=event.type, result=outcome,  # type: ignore[attr-defined]
                         kind=seen.kind, host_id=seen.host_id, duplicate=True)


def _record_of(event: InboundEventModel, outcome: Outcome, tenant_id: str, version: int,
               body_hash: str) -> WebhookEventRecord:
    return WebhookEventRecord(
        tenant_id=tenant_id, event_id=event.id, event_type=event.type,  # type: ignore[attr-defined]
        kind=event.staged_kind(), host_id=event.staged_host_id(), version=version,
        outcome=outcome.value, occurred_at=event.occurred_at, body_hash=body_hash,
    )


def _stale(tenant_id: str, event: InboundEventModel, version: int, body_hash: str, current: StagedDocument,
           deps: WebhookDeps) -> tuple[Outcome, str]:
    deps.events.put(_record_of(event, Outcome.STALE, tenant_id, version, body_hash))
    return Outcome.STALE, (
        f"a newer change of this record is already staged ({_describe_version(current.version)}), so this "
        "event changed nothing; send a change with a higher version, or without a version a later occurred_at")


def _stage_record(
    tenant_id: str, event: InboundEventModel, kind: str, host_id: str, body_hash: str, deps: WebhookDeps
) -> tuple[Outcome, str | None]:
    current = deps.documents.find(tenant_id, kind, host_id)
    version = event_version(event, current)
    if current is not None and current.version > version:
        return _stale(tenant_id, event, version, body_hash, current, deps)
    data: Any = event.data  # type: ignore[attr-defined]
    document_date, posting_date = _dates(data, event.occurred_at)
    staged = StagedDocument(
        tenant_id=tenant_id, kind=kind, host_id=host_id, ledger=_ledger(kind),
        canonical_json=canonical_json(data, ignore=()), payload_hash=payload_hash(data),
        version=version, posting_date=posting_date, document_date=document_date,
    )
    # Conditional on what we read: a newer change landing meanwhile cancels both writes.
    deps.table.transact([
        deps.documents.put_op(staged, ties_win=True),
        deps.events.put_op(_record_of(event, Outcome.STORED, tenant_id, version, body_hash)),
    ])
    return Outcome.STORED, None


def _stage_void(tenant_id: str, event: DocumentVoided, body_hash: str, deps: WebhookDeps
                ) -> tuple[Outcome, str | None]:
    kind, host_id = event.data.kind.value, event.data.host_id
    current = deps.documents.find(tenant_id, kind, host_id)
    if current is None:
        deps.events.put(_record_of(event, Outcome.UNKNOWN_DOCUMENT, tenant_id, event_version(event), body_hash))
        return Outcome.UNKNOWN_DOCUMENT, f"no {kind} {host_id!r} was ever sent, so there is nothing to void"
    version = event_version(event, current)
    if current.version > version:
        return _stale(tenant_id, event, version, body_hash, current, deps)
    deps.table.transact([
        deps.documents.void_op(tenant_id, kind, host_id, version=version),
        deps.events.put_op(_record_of(event, Outcome.STORED, tenant_id, version, body_hash)),
    ])
    return Outcome.STORED, None


def _ledger(kind: str) -> str:
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
    "EventIdConflict", "Outcome", "WebhookDeps", "WebhookReply", "WebhookResult",
    "event_hash", "event_version", "receive_webhook", "stage_event",
]
