"""Deliver one queued event to the tenant's host app: signed POST to its callback URL, at most once
delivered, retried with exponential backoff through the SQS message's visibility, dead-lettered by
SQS after the queue's maxReceiveCount.

What a reply means:
- 2xx: delivered (recorded; a later copy of the message is acknowledged without sending).
- 4xx other than 408/429: the host refuses this event for good; recorded `failed`, not retried.
- 408, 429, 5xx, timeouts, connection errors: retried later; `Retry-After` is honoured.

Every record keeps the event and the host's last answer (status, the start of its body, when), so
a refused delivery can be listed and sent again (`resend`) once the host's URL or secret is fixed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from sagebridge.domain.errors import ConfigurationError, ConflictError
from sagebridge.domain.settings import HostSignatureScheme, parse_tenant_settings
from sagebridge.host.outbound import DeliveryMessage, DeliveryQueue
from sagebridge.host.secrets import WebhookSecrets
from sagebridge.observability import logger, metrics
from sagebridge.security.signing import SIGNATURE_HEADER, sign, standard_webhooks_headers
from sagebridge.store.deliveries import Deliveries
from sagebridge.store.notifications import FailureSummary
from sagebridge.store.records import DeliveryRecord, DeliveryState
from sagebridge.store.table import missing
from sagebridge.store.tenants import Tenants

BASE_DELAY_SECONDS = 60
MAX_DELAY_SECONDS = 3600
REQUEST_TIMEOUT_SECONDS = 10.0
_RETRYABLE_4XX = frozenset({408, 429})
USER_AGENT = "SageBridge-Delivery/1"
_OPERATORS_TOLD_DIRECTLY = frozenset({"connection.status_changed"})


class Delivered(StrEnum):
    DELIVERED = "delivered"
    ALREADY_DELIVERED = "already_delivered"
    REFUSED = "refused"  # a permanent failure, recorded; the message is done with


class RetryDelivery(Exception):
    """Raised so the batch reports this message as failed: SQS makes it visible again after the
    visibility we set (the backoff), or moves it to the DLQ after maxReceiveCount receives."""


class VisibilityQueue(Protocol):
    def change_visibility(self, receipt_handle: str, seconds: int) -> None: ...


@dataclass
class DeliveryDeps:
    tenants: Tenants
    deliveries: Deliveries
    secrets: WebhookSecrets
    http: httpx.Client
    queue: VisibilityQueue
    max_receive_count: int
    notify: Callable[[FailureSummary], Any] | None = None
    jitter: Callable[[], float] = random.random


def retry_delay(attempt: int, retry_after: float | None = None, *, jitter: float = 1.0) -> int:
    """Seconds before attempt `attempt + 1`: 60 s doubling per attempt, at most an hour, with up to
    half of it random so a host that comes back is not hit by every tenant at once."""
    delay = min(BASE_DELAY_SECONDS * 2 ** max(attempt - 1, 0), MAX_DELAY_SECONDS)
    delay = delay / 2 + delay / 2 * jitter
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_DELAY_SECONDS))
    return int(delay)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from hosts; the backoff is good enough


def deliver(message: DeliveryMessage, *, receive_count: int, receipt_handle: str, deps: DeliveryDeps) -> Delivered:
    """Send one event; returns how it ended, or raises RetryDelivery to try again later."""
    existing = deps.deliveries.find(message.event_id)
    if existing is not None and existing.state is DeliveryState.DELIVERED:
        return Delivered.ALREADY_DELIVERED
    attempts = (existing.attempts if existing else 0) + 1

    target = _target(message, deps)
    if target is None:
        # The tenant was deleted since (its disconnect queued a last event): nobody to tell, and a
        # record would outlive the tenant's data.
        logger.info("delivery dropped: tenant deleted", extra={"event_id": message.event_id})
        return Delivered.REFUSED
    if isinstance(target, str):
        # Operators are mailed for the first of these, not for each event after it (every export
        # sends news): they are kept, listed and resent together once the URL is set.
        told = _told_before(deps, message, target)
        _record(deps, message, DeliveryState.FAILED, attempts, target)
        metrics.add_metric(name="DeliveriesNotSendable", unit="Count", value=1)
        if not told:
            _notify(deps, message, target, hint="Set the tenant's host_callback_url (and its webhook secret), then "
                                                f"send what was kept: sagebridge deliveries {message.tenant_id} "
                                                "--resend-failed (later events are kept without a mail each).")
        return Delivered.REFUSED
    url, secret, scheme = target

    body = _body(message)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": message.event_id,
        "Sage-Bridge-Event-Type": message.event_type,
        **_signature_headers(body, secret, scheme, message.event_id),
    }
    retry_after: float | None = None
    answer: tuple[int | None, str | None]
    try:
        response = deps.http.post(url, content=body, headers=headers)  # the client holds the timeout
        status: int | None = response.status_code
        reason = f"host replied {response.status_code}"
        retry_after = _retry_after(response)
        answer = (status, _text(response))
    except httpx.HTTPError as exc:
        status, reason = None, f"could not reach the host: {type(exc).__name__}"
        answer = (None, reason)

    if status is not None and 200 <= status < 300:
        _record(deps, message, DeliveryState.DELIVERED, attempts, None, answer)
        metrics.add_metric(name="DeliveriesSent", unit="Count", value=1)
        logger.info("delivered", extra={"event_id": message.event_id, "attempts": attempts})
        return Delivered.DELIVERED
    if status is not None and 400 <= status < 500 and status not in _RETRYABLE_4XX:
        metrics.add_metric(name="DeliveriesRefusedByHost", unit="Count", value=1)
        logger.warning("delivery refused by the host", extra={"event_id": message.event_id, "status": status})
        told = _told_before(deps, message, f"{reason}: not retried")  # a wrong secret refuses every event
        _record(deps, message, DeliveryState.FAILED, attempts, f"{reason}: not retried", answer)
        if not told:
            _notify(deps, message, f"{reason}; a 4xx reply is not retried (later refusals for the same reason are "
                                   "kept without a mail each)",
                    hint="The host app refused it: check the tenant's host_callback_url and that the host checks "
                         f"signatures with the tenant's current webhook secret, then {_resend_hint(message)}.")
        return Delivered.REFUSED

    if receive_count >= deps.max_receive_count:
        final = f"{reason}; gave up after {attempts} attempts (message moved to the dead-letter queue)"
        metrics.add_metric(name="DeliveriesGivenUp", unit="Count", value=1)
        _record(deps, message, DeliveryState.FAILED, attempts, final, answer, dead_lettered=True)
        _notify(deps, message, final,
                hint="Check the tenant's host_callback_url and that the host app is up; once it is, redrive the "
                     f"HostDeliveryDLQ messages (or {_resend_hint(message)}).")
        deps.queue.change_visibility(receipt_handle, 0)  # straight on to the DLQ, no need to wait
        raise RetryDelivery(final)  # SQS moves it to the DLQ, where an operator can redrive it
    _record(deps, message, DeliveryState.QUEUED, attempts, reason, answer)
    metrics.add_metric(name="DeliveryRetries", unit="Count", value=1)
    delay = retry_delay(attempts, retry_after, jitter=deps.jitter())
    deps.queue.change_visibility(receipt_handle, delay)
    logger.info("delivery will be retried", extra={"event_id": message.event_id, "attempts": attempts,
                                                   "reason": reason, "retry_in_seconds": delay})
    raise RetryDelivery(reason)


def _signature_headers(body: bytes, secret: str, scheme: HostSignatureScheme, event_id: str) -> dict[str, str]:
    if scheme is HostSignatureScheme.STANDARD_WEBHOOKS:
        # The event id is the message id: a host's library dedupes on it as on Idempotency-Key.
        return standard_webhooks_headers(body, secret, event_id)
    return {SIGNATURE_HEADER: sign(body, secret)}


def _target(message: DeliveryMessage, deps: DeliveryDeps) -> tuple[str, str, HostSignatureScheme] | str | None:
    """(callback URL, signing secret, signature scheme), or why there is none (a permanent
    failure); None: the tenant no longer exists."""
    tenant = deps.tenants.find(message.tenant_id)
    if tenant is None:
        return None
    if not tenant.enabled:
        return "the tenant is disabled"
    try:
        settings = parse_tenant_settings(tenant.settings)
    except ConfigurationError:
        return "the tenant's settings are invalid"
    url = settings.host_callback_url
    if not url:
        return "the tenant has no host_callback_url"
    secrets = deps.secrets.for_tenant(message.tenant_id)
    if not secrets:
        return "the tenant has no webhook secret to sign with"
    return url, secrets[0], settings.host_signature_scheme


def _body(message: DeliveryMessage) -> bytes:
    return json.dumps(message.event, separators=(",", ":"), ensure_ascii=False).encode()


def _text(response: httpx.Response) -> str | None:
    try:
        return response.text[:4096] or None  # the record keeps an excerpt of it
    except Exception:  # an undecodable body: the status says enough
        return None


def _resend_hint(message: DeliveryMessage) -> str:
    return (f"send it again: `sagebridge deliveries {message.tenant_id} --resend {message.event_id}` (or "
            f"--resend-failed for all refused ones), or POST /admin/tenants/{message.tenant_id}/deliveries/"
            f"{message.event_id}/resend")


def _record(deps: DeliveryDeps, message: DeliveryMessage, state: DeliveryState, attempts: int,
            error: str | None, answer: tuple[int | None, str | None] | None = None, *,
            dead_lettered: bool = False) -> None:
    try:
        deps.deliveries.record(message.event_id, message.tenant_id, state, attempts=attempts, last_error=error,
                               event=message.event, answer=answer, dead_lettered=dead_lettered)
    except ConflictError:
        # Delivered already (another copy won), or a later attempt recorded first: theirs stands.
        logger.info("delivery record not updated", extra={"event_id": message.event_id, "state": state.value})


def _told_before(deps: DeliveryDeps, message: DeliveryMessage, error: str) -> bool:
    """The tenant's newest refused delivery failed the same way: operators were mailed about it."""
    return any(d.last_error == error for d in deps.deliveries.of_tenant(
        message.tenant_id, state=DeliveryState.FAILED, limit=1))


def _notify(deps: DeliveryDeps, message: DeliveryMessage, problem: str, *, hint: str) -> None:
    """Operators told; the DLQ redrive is named only for a message that went to the DLQ. Not for
    news operators get themselves (a connection that ends or ended is mailed to them directly):
    that failed delivery is kept and listed like any other, without a second mail."""
    if deps.notify is None or message.event_type in _OPERATORS_TOLD_DIRECTLY:
        return
    summary = FailureSummary(
        title=f"a {message.event_type} event could not be delivered to tenant {message.tenant_id}'s host app",
        tenant_id=message.tenant_id,
        problems=[f"event {message.event_id}: {problem}"],
        hint=hint,
    )
    try:
        deps.notify(summary)
    except Exception:  # a notification must never turn a recorded outcome into a retry
        logger.exception("failure notification not sent", extra={"event_id": message.event_id})


# ------------------------------------------------------------------------------ sending again


class NotResendable(ConflictError):
    """The delivery cannot be sent again (delivered already, still queued, or kept without its event)."""


def resend(queue: DeliveryQueue, deliveries: Deliveries, tenant_id: str, event_id: str) -> DeliveryRecord:
    """Put a failed delivery back on the delivery queue, as it was first sent (same event id, so a
    host that got it after all ignores it by its Idempotency-Key, and a copy still in the DLQ that is
    redriven later is not delivered twice). NotFoundError for another tenant's event."""
    record = deliveries.find(event_id)
    if record is None or record.tenant_id != tenant_id:
        raise missing(f"delivery {event_id} of tenant {tenant_id}")
    if record.state is not DeliveryState.FAILED:
        why = "was delivered already" if record.state is DeliveryState.DELIVERED else \
            "is still queued: it is retried on its own"
        raise NotResendable(f"delivery {event_id} {why}; only failed deliveries are sent again")
    if record.event is None:
        raise NotResendable(f"delivery {event_id} was recorded before Sage Bridge kept the events it sends, so it "
                            "cannot be sent again from here" + (": redrive the HostDeliveryDLQ"
                                                               if record.dead_lettered else ""))
    message = DeliveryMessage(tenant_id=tenant_id, event_id=event_id, event_type=record.event_type or
                              str(record.event.get("type")), event=record.event)
    # Queued first, so the delivery function (which may run at once) finds a record it can move on.
    updated = deliveries.record(event_id, tenant_id, DeliveryState.QUEUED, attempts=record.attempts,
                                last_error=f"sent again after: {record.last_error or 'a failure'}")
    queue.send(message.model_dump(mode="json"))
    logger.info("delivery_resent", extra={"tenant_id": tenant_id, "event_id": event_id})
    return updated


def resend_failed(queue: DeliveryQueue, deliveries: Deliveries, tenant_id: str, *,
                  limit: int = 500) -> list[DeliveryRecord]:
    """Every failed delivery of the tenant (at most `limit`) sent again; those that cannot be are left."""
    failed: list[DeliveryRecord] = []
    token: str | None = None
    while len(failed) < limit:
        page = deliveries.backlog(tenant_id, DeliveryState.FAILED, limit=100, next_token=token)
        failed += list(page)
        if not (token := page.next_token):
            break
    sent = []
    for record in failed[:limit]:
        try:
            sent.append(resend(queue, deliveries, tenant_id, record.event_id))
        except NotResendable as exc:
            logger.info("delivery_not_resent", extra={"event_id": record.event_id, "reason": str(exc)})
    return sent


def parse_message(body: str) -> DeliveryMessage:
    """The queued message; ValidationError if it is not one (it then ends in the DLQ)."""
    return DeliveryMessage.model_validate_json(body)


__all__ = ["Delivered", "DeliveryDeps", "NotResendable", "RetryDelivery", "ValidationError", "deliver",
           "parse_message", "resend", "resend_failed", "retry_delay"]
