"""Grants that end whatever we do (Sage 200: 90 days from consent): how many days a connection has
left, and the warnings, sent once per threshold from the daily keep-alive, that it is about to end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from sagebridge.observability import logger
from sagebridge.store.notifications import FailureSummary
from sagebridge.store.records import ConnectionRecord, ConnectionStatus

Notify = Callable[[FailureSummary], Any]  # how operators are told (the notification topic)

# ------------------------------------------------------------------------------ grants that end

EXPIRY_WARNING_DAYS = (14, 3)


def days_left(connection: ConnectionRecord | None, now: datetime | None = None) -> int | None:
    """Whole days until the connection's grant (refresh token) runs out: 0 once it has, None when
    unknown (not connected, or the provider does not say)."""
    if connection is None or connection.refresh_expires_at is None:
        return None
    if connection.status != ConnectionStatus.CONNECTED:
        return 0
    left = connection.refresh_expires_at - (now or datetime.now(UTC))
    return max(0, left.days)


class WarningCursors(Protocol):
    """Where sent warnings are remembered (the store's cursors: they only move forward)."""

    def get(self, tenant_id: str, stream: str) -> Any: ...

    def set(self, tenant_id: str, stream: str, position: str) -> Any: ...


class ExpiryWarnings:
    """Warns, once per threshold (14 and 3 days before by default), that a connection whose grant
    cannot be extended (Sage 200: 90 days from consent) is about to end, with the one-click
    reconnect link. Run from the daily keep-alive.

    Once each: what was sent is a cursor per tenant and provider at `<grant end>|<threshold rank>`;
    a reconnect moves the grant end on, so the next grant gets its own warnings."""

    def __init__(
        self, *, provider: str, cursors: WarningCursors, notify: Notify,
        reconnect_link: Callable[[str], str | None] | None = None,
        thresholds: tuple[int, ...] = EXPIRY_WARNING_DAYS, label: str | None = None,
    ) -> None:
        self.provider = provider
        self._cursors = cursors
        self._notify = notify
        self._link = reconnect_link
        self.thresholds = tuple(sorted(thresholds, reverse=True))  # 14, 3: rank 1 then 2
        self.label = label or provider
        self.stream = f"expiry_warning_{provider}"

    def _position(self, record: ConnectionRecord, threshold: int) -> str:
        assert record.refresh_expires_at is not None
        end = record.refresh_expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        return f"{end}|{self.thresholds.index(threshold) + 1:02d}"

    def check(self, record: ConnectionRecord | None, now: datetime) -> int | None:
        """Send the warning that is due, if it was not sent before; the threshold sent, or None."""
        if record is None or record.status != ConnectionStatus.CONNECTED:
            return None
        left = days_left(record, now)
        if left is None:
            return None
        due = [t for t in self.thresholds if left <= t]
        if not due:
            return None
        threshold = due[-1]  # the most urgent one reached (a 3-day warning makes the 14-day one moot)
        position = self._position(record, threshold)
        sent = self._cursors.get(record.tenant_id, self.stream)
        if sent is not None and sent.position >= position:
            return None
        link = self._link(record.tenant_id) if self._link else None
        when = "today" if left == 0 else f"in {left} day{'s' if left != 1 else ''}"
        self._notify(FailureSummary(
            title=f"{self.label} connection of tenant {record.tenant_id} ends {when}",
            tenant_id=record.tenant_id,
            problems=[f"{self.provider}: the Sage sign-in expires on {record.refresh_expires_at:%d %B %Y} "
                      "and cannot be extended; exports and payment polling stop then"],
            hint="Ask the tenant to reconnect Sage (one click, then sign in to Sage)"
                 + (f"; the link works once and only for minutes (`sagebridge connect-url {record.tenant_id}` "
                    f"gives a fresh one): {link}" if link else " from the status page or Settings > Sage > Connect."),
        ))
        self._cursors.set(record.tenant_id, self.stream, position)
        logger.info("expiry_warning_sent", extra={"tenant_id": record.tenant_id, "provider": self.provider,
                                                  "days_left": left, "threshold": threshold})
        return threshold


__all__ = ["EXPIRY_WARNING_DAYS", "ExpiryWarnings", "Notify", "WarningCursors", "days_left"]
