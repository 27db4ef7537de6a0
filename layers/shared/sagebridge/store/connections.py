"""Connections to Sage (TENANT#t / CONN#provider): encrypted tokens or credentials, never plaintext.
Saves are conditional on `version`, so concurrent token refreshes are single-flight: the loser gets
ConflictError and re-reads the winner's tokens instead of spending a refresh token twice."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from sagebridge.store import keys
from sagebridge.store.records import ConnectionRecord, ConnectionStatus
from sagebridge.store.table import Item, Table, delete, iso, iso_or_none, missing, parse_iso, put


class Connections:
    def __init__(self, table: Table) -> None:
        self._table = table

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
            "version": new_version, "updated_at": iso(self._table.now()),
        }
        what = f"connection {record.provider} of tenant {record.tenant_id}"
        if expected_version is None:
            self._table.write(put(item, condition="attribute_not_exists(pk)", what=what))
        else:
            self._table.write(put(item, condition="#v = :expected", names={"#v": "version"},
                                  values={":expected": expected_version}, what=what))
        return saved

    def of_business(self, provider: str, business_id: str, tenant_ids: Iterable[str]) -> list[ConnectionRecord]:
        """The connections (any status) of `tenant_ids` to this Sage business: one batch read per
        100 tenants, for the rare moment someone connects."""
        found = self._table.batch_get([(keys.tenant_pk(t), keys.connection_sk(provider)) for t in tenant_ids])
        return [r for r in map(_record, found) if r.business_id == business_id]

    def delete(self, tenant_id: str, provider: str) -> None:
        """Disconnect: forget the tokens (revoking them at Sage is the caller's job). Idempotent."""
        self._table.write(delete((keys.tenant_pk(tenant_id), keys.connection_sk(provider)),
                                 what=f"connection {provider} of tenant {tenant_id}"))


def _record(item: Item) -> ConnectionRecord:
    return ConnectionRecord(
        tenant_id=item["tenant_id"], provider=item["provider"], ciphertext=bytes(item["ciphertext"]),
        status=ConnectionStatus(item.get("status", ConnectionStatus.CONNECTED)),
        business_id=item.get("business_id"), business_name=item.get("business_name"),
        access_expires_at=parse_iso(item.get("access_expires_at")),
        refresh_expires_at=parse_iso(item.get("refresh_expires_at")),
        last_refreshed_at=parse_iso(item.get("last_refreshed_at")),
        version=int(item["version"]),
    )
