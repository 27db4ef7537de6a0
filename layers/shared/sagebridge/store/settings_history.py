"""Every saved change of a tenant's settings: item TENANT#t / SETTINGS#V#<version, 10 digits>, written
in one transaction with the new settings (TENANT#t / SETTINGS), so a version without its audit entry,
or an audit entry of a change that was refused, cannot exist. The entries live in the tenant's
partition, so deleting the tenant deletes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sagebridge.domain.errors import ConflictError
from sagebridge.store import keys
from sagebridge.store.records import TenantRecord
from sagebridge.store.table import Item, Page, Table, Write, iso, missing, parse_iso, plain, put, update

_PREFIX = "SETTINGS#V#"


def history_sk(version: int) -> str:
    return f"{_PREFIX}{version:010d}"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One setting's old and new value (None: not set, i.e. its default); secrets never in here."""

    field: str  # "notification_email", "tax_mappings.T9"
    old: Any = None
    new: Any = None


@dataclass(frozen=True, slots=True)
class SettingsVersion:
    tenant_id: str
    version: int
    actor: str  # who: "admin-api:<principal>", "portal:<role>", "cli:<user>"
    changed_at: datetime
    changes: list[FieldChange] = field(default_factory=list)
    note: str | None = None  # e.g. "migrated notification_email into failure_emails"


class SettingsHistory:
    def __init__(self, table: Table) -> None:
        self._table = table

    def save(self, tenant: TenantRecord, settings: dict[str, Any], *, expected_version: int, actor: str,
             changes: list[FieldChange], note: str | None = None) -> SettingsVersion:
        """The new settings as version expected_version + 1 and its audit entry, all or nothing.
        ConflictError naming the version found when somebody saved since `expected_version` was read."""
        tenant_id, now = tenant.tenant_id, self._table.now()
        version = expected_version + 1
        entry = SettingsVersion(tenant_id=tenant_id, version=version, actor=actor, changed_at=now,
                                changes=changes, note=note)
        pk = keys.tenant_pk(tenant_id)
        settings_write = update(
            (pk, keys.settings_sk()),
            set_={"settings": settings, "version": version, "updated_at": iso(now)},
            condition="#v = :expected", names={"#v": "version"}, values={":expected": expected_version},
            what=f"tenant {tenant_id}",
        )
        try:
            self._table.transact([settings_write, _audit(entry)])
        except ConflictError:
            item = self._table.get(pk, keys.settings_sk())
            if item is None:
                raise missing(f"tenant {tenant_id}") from None
            now_at = int(item["version"])
            raise ConflictError(f"tenant {tenant_id}: the settings changed since version {expected_version} was "
                                f"read (they are at version {now_at} now); read them again and send the change "
                                f"with expected_version {now_at}") from None
        return entry

    def record_created(self, tenant: TenantRecord, *, actor: str, changes: list[FieldChange]) -> SettingsVersion:
        """The audit entry of a tenant's first settings (version 1, written by Tenants.create)."""
        entry = SettingsVersion(tenant_id=tenant.tenant_id, version=tenant.version, actor=actor,
                                changed_at=tenant.created_at, changes=changes, note="tenant created")
        self._table.write(_audit(entry))
        return entry

    def list(self, tenant_id: str, *, limit: int = 50, next_token: str | None = None) -> Page[SettingsVersion]:
        """Saved changes, newest first."""
        pk = keys.tenant_pk(tenant_id)
        items, token = self._table.query_page(
            "pk = :p AND begins_with(sk, :v)", {":p": pk, ":v": _PREFIX}, partition=("pk", pk),
            newest_first=True, limit=limit, next_token=next_token,
        )
        return Page([_version(i) for i in items], token)


def _audit(entry: SettingsVersion) -> Write:
    return put({
        "pk": keys.tenant_pk(entry.tenant_id), "sk": history_sk(entry.version), "tenant_id": entry.tenant_id,
        "version": entry.version, "actor": entry.actor, "changed_at": iso(entry.changed_at), "note": entry.note,
        "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in entry.changes],
    }, condition="attribute_not_exists(pk)", what=f"settings version {entry.version} of tenant {entry.tenant_id}")


def _version(item: Item) -> SettingsVersion:
    changed = parse_iso(item["changed_at"])
    assert changed is not None
    return SettingsVersion(
        tenant_id=item["tenant_id"], version=int(item["version"]), actor=str(item.get("actor") or "unknown"),
        changed_at=changed, note=item.get("note"),
        changes=[FieldChange(field=c["field"], old=plain(c.get("old")), new=plain(c.get("new")))
                 for c in item.get("changes") or []],
    )


__all__ = ["FieldChange", "SettingsHistory", "SettingsVersion", "history_sk"]
