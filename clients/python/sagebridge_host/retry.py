"""The retry rules of both directions (docs/host-integration.md: Replies; What your reply means)."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


def should_retry_webhook(status: int | None, body: dict[str, Any] | None = None) -> bool:
    """After POST /webhooks/{tenant_id}: retry (same event id, same body, backoff) or not.

    None (a timeout, no connection), 5xx, and 409 `in_progress` are retried, honouring Retry-After.
    202 is done. 401 is a wrong secret or clock: retrying as is fails again (fix, then send with a
    fresh signature). Any other 4xx, and 409 `event_id_conflict` (send the change under a new id), never.
    """
    if status is None or status >= 500:
        return True
    if status == 409:
        return (body or {}).get("error") == "in_progress"
    return False


class DeliveryReply(IntEnum):
    """What to answer a delivery from Sage Bridge."""

    DONE = 200  # any 2xx: delivered, never sent again; also for an event id you saw before, or a type you ignore
    RETRY_LATER = 503  # any 5xx, 408 or 429 (with Retry-After in seconds): sent again, 60 s doubling to 1 h
    REFUSE = 400  # any other 4xx: not retried; kept as failed until an operator resends it
