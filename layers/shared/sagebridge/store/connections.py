"""Connections to Sage (TENANT#t / CONN#provider): encrypted tokens or credentials, never plaintext.
Saves are conditional on `version`, so concurrent token refreshes are single-flight: the loser gets
ConflictError and re-reads the winner's tokens instead of spending a refresh token twice.

Every product's connection is written here, so this is where a change of a connection's state is
seen, whichever product made it: watchers (`watch`) hear of each change once, after the write
that made it (connected, connected to another business, expired/revoked, disconnected), and of
the warnings that a grant is about to end (`announce_expiring`). A watcher that fails does not
undo or fail the write."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sagebridge.store import keys
from sagebridge.store.records import ConnectionRecord, ConnectionStatus
from sagebridge.store.table import Item, Table, delete, iso, iso_or_none, missing, parse_iso, put, update

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """What a watcher hears: the connection's new state (`connected`, `expiring`, `expired`,
    `revoked`, `disconnected`), the one before, and the record as it is now (as it was, for a
    disconnect)."""

    tenant_id: str
    provider: str
    status: str
    previous_status: str | None
    business_id: str | None
    business_name: str | None
    at: datetime
    days_left: int | None = None  # `expiring` only
    grant_ends_at: datetime | None = None


ConnectionWatcher = Callable[[ConnectionChange], None]


class Connections:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._watchers: list[ConnectionWatcher] = []

    def watch(self, watcher: ConnectionWatcher) -> None:
        """Hear of every change of a connection's state written through this repository."""
        if watcher not in self._watchers:
            self._watchers.append(watcher)

    def _tell(self, change: ConnectionChange) -> None:
        for watcher in self._watchers:
            try:
                watcher(change)
            except Exception as exc:  # the connection is saved: telling about it is best effort
                _log.warning("connection_watcher_failed: %s", type(exc).__name__)

    def announce_expiring(self, record: ConnectionRecord, days_left: int) -> None:
        """A warning was sent (once per threshold) that the record's grant ends in `days_left` days."""
        status = ConnectionStatus(record.status).value
        self._tell(ConnectionChange(record.tenant_id, record.provider, "expiring", status, record.business_id,
                                    record.business_name, self._table.now(), days_left=days_left,
                                    grant_ends_at=record.refresh_expires_at))

    def get(self, tenant_id: str, provider: str) -> ConnectionRecord:
        """NotFoundError if the tenant has not connected this provider."""
        found = self.find(tenant_id, provider)
        if found is None:
            raise missing(f"connection {provider} of tenant {tenant_id}")
        return found

    def find(self, tenant_id: str, provider: str) -> ConnectionRecord | None:
        item = self._table.get(keys.tenant_pk(tenant_id), keys.connection_sk(provider))
        return _record(item) if item else None

    def save(self, record: ConnectionRecord, *, expected_version: int | None) -> ConnectionRecord:
        """Write the whole connection if it is still at `expected_version` (None: it must not
        exist yet). Returns the record with its new version; ConflictError if someone saved first."""
        if not isinstance(record.ciphertext, bytes | bytearray):
            raise TypeError("connections hold ciphertext only (bytes)")
        new_version = 1 if expected_version is None else expected_version + 1
        saved = replace(record, version=new_version)
        item = {
            "pk": keys.tenant_pk(record.tenant_id), "sk": keys.connection_sk(record.provider),
            "tenant_id": record.tenant_id, "provider": record.provider,
            "ciphertext": bytes(record.ciphertext), "status": ConnectionStatus(record.status).value,
            "business_id": record.business_id, "business_name": record.business_name,
            "access_expires_at": iso_or_none(record.access_expires_at),
            "refresh_expires_at": iso_or_none(record.refresh_expires_at),
            "last_refreshed_at": iso_or_none(record.last_refreshed_at),
            "paused_until": iso_or_none(record.paused_until), "paused_reason": record.paused_reason,
            "version": new_version, "updated_at": iso(self._table.now()),
        }
        what = f"connection {record.provider} of tenant {record.tenant_id}"
        if expected_version is None:
            old = self._table.write(put(item, condition="attribute_not_exists(pk)", what=what), ReturnValues="ALL_OLD")
        else:
            old = self._table.write(put(item, condition="#v = :expected", names={"#v": "version"},
                                        values={":expected": expected_version}, what=what), ReturnValues="ALL_OLD")
        if self._watchers:
            self._saved(_record(old) if old else None, saved)
        return saved

    def _saved(self, before: ConnectionRecord | None, after: ConnectionRecord) -> None:
        status = ConnectionStatus(after.status).value
        previous = ConnectionStatus(before.status).value if before is not None else self._gone(after)
        another_business = before is not None and before.business_id != after.business_id
        if status == previous and not (status == ConnectionStatus.CONNECTED.value and another_business):
            return  # a token refresh, or the same state written again: nothing changed for the host
        self._tell(ConnectionChange(after.tenant_id, after.provider, status, previous, after.business_id,
                                    after.business_name, self._table.now(), grant_ends_at=after.refresh_expires_at))

    def pause(self, tenant_id: str, provider: str, until: datetime, reason: str) -> None:
        """Sage blocks the connection's requests until `until` (`reason` in words): kept on the
        connection, not in one container, so every run and poll honours it. Leaves the version (and
        the credentials) alone; a connection deleted meanwhile is not brought back."""
        self._table.write(update((keys.tenant_pk(tenant_id), keys.connection_sk(provider)),
                                 set_={"paused_until": iso(until), "paused_reason": reason},
                                 condition="attribute_exists(pk)",
                                 what=f"connection {provider} of tenant {tenant_id}"))

    def of_business(self, provider: str, business_id: str, tenant_ids: Iterable[str]) -> list[ConnectionRecord]:
        """The connections (any status) of `tenant_ids` to this Sage business: one batch read per
        100 tenants, for the rare moment someone connects."""
        found = self._table.batch_get([(keys.tenant_pk(t), keys.connection_sk(provider)) for t in tenant_ids])
        return [r for r in map(_record, found) if r.business_id == business_id]

    def _gone(self, record: ConnectionRecord) -> str | None:
        """`disconnected` when the tenant disconnected this product before (a first connect: None)."""
        found = self._table.get(keys.tenant_pk(record.tenant_id), keys.disconnected_sk(record.provider))
        return "disconnected" if found else None

    def delete(self, tenant_id: str, provider: str) -> None:
        """Disconnect: forget the tokens (revoking them at Sage is the caller's job), and remember that
        the tenant disconnected, so a later connect tells the host it follows a disconnect. Idempotent."""
        old = self._table.write(delete((keys.tenant_pk(tenant_id), keys.connection_sk(provider)),
                                       what=f"connection {provider} of tenant {tenant_id}"), ReturnValues="ALL_OLD")
        if old:
            self._table.write(put({"pk": keys.tenant_pk(tenant_id), "sk": keys.disconnected_sk(provider),
                                   "tenant_id": tenant_id, "provider": provider,
                                   "disconnected_at": iso(self._table.now())},
                                  what=f"disconnect of {provider} by tenant {tenant_id}"))
        if old and self._watchers:
            before = _record(old)
            self._tell(ConnectionChange(tenant_id, provider, "disconnected", ConnectionStatus(before.status).value,
                                        before.business_id, before.business_name, self._table.now()))


def _record(item: Item) -> ConnectionRecord:
    return ConnectionRecord(
        tenant_id=item["tenant_id"], provider=item["provider"], ciphertext=bytes(item["ciphertext"]),
        status=ConnectionStatus(item.get("status", ConnectionStatus.CONNECTED)),
        business_id=item.get("business_id"), business_name=item.get("business_name"),
        access_expires_at=parse_iso(item.get("access_expires_at")),
        refresh_expires_at=parse_iso(item.get("refresh_expires_at")),
        last_refreshed_at=parse_iso(item.get("last_refreshed_at")),
        paused_until=parse_iso(item.get("paused_until")), paused_reason=item.get("paused_reason"),
        version=int(item["version"]),
    )
