"""Tenants and their settings: item TENANT#t / SETTINGS, listed through the sparse GSI1 `TENANTS`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

from sagebridge.domain.errors import ConflictError
from sagebridge.store import keys
from sagebridge.store.records import TenantRecord
from sagebridge.store.table import ClaimConflict, Item, Page, Table, iso, missing, parse_iso, plain, put, update


class Tenants:
    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, tenant_id: str, settings: dict[str, Any], *, enabled: bool = True) -> TenantRecord:
        """A new tenant at version 1; ConflictError if it already exists."""
        now = iso(self._table.now())
        item = {
            "pk": keys.tenant_pk(tenant_id), "sk": keys.settings_sk(),
            "gsi1pk": keys.tenants_gsi1pk(), "gsi1sk": keys.tenants_gsi1sk(tenant_id),
            "tenant_id": tenant_id, "settings": settings, "enabled": enabled, "version": 1,
            "created_at": now, "updated_at": now, "portal_epoch": secrets.token_urlsafe(12),
        }
        self._table.write(put(item, condition="attribute_not_exists(pk)", what=f"tenant {tenant_id}"))
        return _record(item)

    def get(self, tenant_id: str) -> TenantRecord:
        """NotFoundError if there is no such tenant."""
        found = self.find(tenant_id)
        if found is None:
            raise missing(f"tenant {tenant_id}")
        return found

    def find(self, tenant_id: str) -> TenantRecord | None:
        item = self._table.get(keys.tenant_pk(tenant_id), keys.settings_sk())
        return _record(item) if item else None

    def update_settings(
        self, tenant_id: str, settings: dict[str, Any], *, expected_version: int
    ) -> TenantRecord:
        """Replace the settings if nobody changed them since `expected_version` was read:
        optimistic locking, ConflictError when stale, NotFoundError when the tenant is gone."""
        try:
            new = self._table.write_existing(update(
                (keys.tenant_pk(tenant_id), keys.settings_sk()),
                set_={"settings": settings, "version": expected_version + 1,
                      "updated_at": iso(self._table.now())},
                condition="#v = :expected", names={"#v": "version"}, values={":expected": expected_version},
                what=f"tenant {tenant_id}",
            ), ReturnValues="ALL_NEW")
        except ClaimConflict as exc:
            now = (exc.current or {}).get("version")
            raise ConflictError(f"tenant {tenant_id}: the settings changed since version {expected_version} was read "
                                f"(they are at version {now} now); read them again and send the change with "
                                f"expected_version {now}") from None
        return _record(new)

    def set_enabled(self, tenant_id: str, enabled: bool) -> TenantRecord:
        """Enable or disable (the scheduler skips disabled tenants). NotFoundError if absent."""
        new = self._table.write_existing(update(
            (keys.tenant_pk(tenant_id), keys.settings_sk()),
            set_={"enabled": enabled, "updated_at": iso(self._table.now())},
            condition="attribute_exists(pk)", what=f"tenant {tenant_id}",
        ), ReturnValues="ALL_NEW")
        return _record(new)

    def renew_portal_epoch(self, tenant_id: str) -> TenantRecord:
        """A new portal epoch: every portal link and session issued before it stops working.
        NotFoundError if absent."""
        new = self._table.write_existing(update(
            (keys.tenant_pk(tenant_id), keys.settings_sk()),
            set_={"portal_epoch": secrets.token_urlsafe(12), "updated_at": iso(self._table.now())},
            condition="attribute_exists(pk)", what=f"tenant {tenant_id}",
        ), ReturnValues="ALL_NEW")
        return _record(new)

    def mark_disconnected(self, tenant_id: str) -> None:
        """Remember when Sage was disconnected (the connection itself is deleted)."""
        self._table.write_existing(update(
            (keys.tenant_pk(tenant_id), keys.settings_sk()), set_={"disconnected_at": iso(self._table.now())},
            condition="attribute_exists(pk)", what=f"tenant {tenant_id}"))

    def list(
        self, *, enabled_only: bool = False, limit: int = 100, next_token: str | None = None
    ) -> Page[TenantRecord]:
        """Tenants in id order, one page at a time."""
        items, token = self._table.query_page(
            "gsi1pk = :p", {":p": keys.tenants_gsi1pk(), **({":yes": True} if enabled_only else {})},
            partition=("gsi1pk", keys.tenants_gsi1pk()), index="GSI1",
            filter_expression="#enabled = :yes" if enabled_only else None,
            names={"#enabled": "enabled"} if enabled_only else None,
            limit=limit, next_token=next_token,
        )
        return Page([_record(i) for i in items], token)

    def iter_all(self, *, enabled_only: bool = False) -> Iterator[TenantRecord]:
        """Every tenant (the scheduler's and the token keep-alive's loop)."""
        token: str | None = None
        while True:
            page = self.list(enabled_only=enabled_only, next_token=token)
            yield from page
            if not (token := page.next_token):
                return

    def delete(self, tenant_id: str) -> int:
        """Delete the tenant and everything it owns; returns how many items went. The settings
        item goes last, so a delete cut short leaves the tenant listed and can simply be rerun."""
        pk = keys.tenant_pk(tenant_id)
        found = [
            (i["pk"], i["sk"])
            for i in self._table.query_all("pk = :p", {":p": pk}, partition=("pk", pk), limit=500)
        ]
        deliveries_pk = keys.deliveries_of_tenant_pk(tenant_id)
        found += [
            (i["pk"], i["sk"])
            for i in self._table.query_all(
                "gsi2pk = :p", {":p": deliveries_pk}, partition=("gsi2pk", deliveries_pk),
                index="GSI2", limit=500,
            )
        ]
        settings = (pk, keys.settings_sk())
        deleted = self._table.batch_delete([k for k in found if k != settings])
        if settings in found:
            deleted += self._table.batch_delete([settings])
        return deleted


def _record(item: Item) -> TenantRecord:
    created, updated = parse_iso(item["created_at"]), parse_iso(item["updated_at"])
    assert created and updated
    return TenantRecord(
        tenant_id=item["tenant_id"], settings=plain(item.get("settings") or {}),
        enabled=bool(item.get("enabled", True)), version=int(item["version"]),
        created_at=created, updated_at=updated, portal_epoch=str(item.get("portal_epoch") or ""),
        disconnected_at=parse_iso(item.get("disconnected_at")),
    )
