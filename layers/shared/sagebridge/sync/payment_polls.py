"""The payment poll, fanned out: the scheduled payment poller queues one job per tenant, and the
payment poll worker polls that one tenant (`SageProducts.poll_tenant`), so a few hundred tenants
never share one Lambda's 300 seconds and one slow Sage business delays nobody else.

Fan-out: every enabled tenant (any product) whose connection is live gets one job. A job's content
is the tenant and the schedule's slot only, so a duplicate schedule fire sends the same message
again; and a poll repeated over the same window queues nothing twice (deliveries are deduplicated,
see sync/payments.py), so a duplicate job costs a few Sage requests and no harm.

Worker: a job whose tenant was disabled or disconnected meanwhile is dropped; a dead grant marks
the connection expired (an outcome, not a failure); any other failure raises so that the job, and
only that job, goes back to the queue (partial batch failure) and on to the dead-letter queue after
MaxReceiveCount receives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import parse_tenant_settings
from sagebridge.observability import logger
from sagebridge.store import ConnectionStatus, Store

if TYPE_CHECKING:  # the payment poller's cold start does not import the export engine
    from sagebridge.sync.scheduling import JobQueue


class PaymentPollJob(BaseModel):
    """The message on PAYMENT_POLL_QUEUE_URL: poll this tenant's Sage for payments and catalog."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # ignore: newer senders may add fields

    tenant_id: str = Field(min_length=1)
    scheduled_for: str | None = None  # the schedule's slot (ISO time), for the logs


@dataclass
class PaymentPollSchedule:
    slot: str
    checked: int = 0
    queued: list[str] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)  # disabled, not connected, or broken settings


def schedule_slot(event: object, now: datetime) -> str:
    """The schedule's slot: EventBridge Scheduler's `scheduled_time` (the same on a retried or
    duplicated fire), else now; ISO, to the second, UTC."""
    raw = event.get("scheduled_time") if isinstance(event, dict) else None
    when = now
    if isinstance(raw, str) and raw and not raw.startswith("<"):
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            when = now
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def schedule_payment_polls(store: Store, queue: JobQueue, *, slot: str) -> PaymentPollSchedule:
    """Queue one payment poll job per enabled tenant with a live connection (the payment poller)."""
    report = PaymentPollSchedule(slot=slot)
    for tenant in store.tenants.iter_all():
        report.checked += 1
        if not tenant.enabled:
            report.not_ready.append(f"{tenant.tenant_id}: disabled")
            continue
        try:
            settings = parse_tenant_settings(tenant.settings)
        except ConfigurationError as exc:
            report.not_ready.append(f"{tenant.tenant_id}: {exc}")
            continue
        connection = store.connections.find(tenant.tenant_id, settings.provider.value)
        if connection is None or connection.status is not ConnectionStatus.CONNECTED:
            report.not_ready.append(f"{tenant.tenant_id}: not connected")
            continue
        job = PaymentPollJob(tenant_id=tenant.tenant_id, scheduled_for=slot)
        queue.send(job.model_dump(mode="json"))
        report.queued.append(tenant.tenant_id)
    logger.info("payment_poll_schedule", extra={"slot": slot, "checked": report.checked,
                                                 "queued": len(report.queued), "not_ready": len(report.not_ready)})
    return report


__all__ = ["PaymentPollJob", "PaymentPollSchedule", "schedule_payment_polls", "schedule_slot"]
