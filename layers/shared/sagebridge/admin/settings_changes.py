"""What a settings save changed, field by field, for the audit history; and the one migration a save
carries out (notification_email, accepted and never used before, moves into failure_emails).

Values that could hold a secret never reach the history: a setting named like a secret is recorded
as changed without its values, and a URL keeps only its scheme, host and path (its user, password
and query, where a token may sit, are masked)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

from sagebridge.store.settings_history import FieldChange, SettingsVersion

SECRET_NAME = re.compile(r"secret|password|passwd|token|api_?key|private|credential", re.IGNORECASE)
MASKED = "(hidden)"
NESTED = frozenset({"tax_mappings", "ledger_mappings", "intacct", "catalog_import"})  # diffed key by key
LEGACY_EMAIL = "notification_email"
FAILURE_EMAILS = "failure_emails"


def _safe(name: str, value: Any) -> Any:
    if value is None:
        return None
    if SECRET_NAME.search(name):
        return MASKED
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        if parts.username or parts.password or parts.query:
            host = parts.hostname or ""
            netloc = (f"{MASKED}@" if parts.username or parts.password else "") + host + (
                f":{parts.port}" if parts.port else "")
            return urlunsplit((parts.scheme, netloc, parts.path, MASKED if parts.query else "", ""))
    if isinstance(value, Mapping):
        return {k: _safe(f"{name}.{k}", v) for k, v in value.items()}
    return value


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    """Every setting whose value differs, in name order; mappings and nested settings key by key."""
    changes: list[FieldChange] = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if name in NESTED and isinstance(before or {}, Mapping) and isinstance(after or {}, Mapping):
            b, a = dict(before or {}), dict(after or {})
            for key in sorted(set(b) | set(a), key=str):
                if b.get(key) != a.get(key):
                    path = f"{name}.{key}"
                    changes.append(FieldChange(path, _safe(path, b.get(key)), _safe(path, a.get(key))))
            continue
        changes.append(FieldChange(name, _safe(name, before), _safe(name, after)))
    return changes


def move_legacy_email(settings: dict[str, Any]) -> str | None:
    """notification_email into failure_emails (in place); the audit note when it moved."""
    legacy = settings.pop(LEGACY_EMAIL, None)
    if not legacy:
        return None
    listed = list(settings.get(FAILURE_EMAILS) or [])
    if str(legacy).strip().lower() not in {str(a).strip().lower() for a in listed}:
        listed.append(legacy)
    settings[FAILURE_EMAILS] = listed
    return f"{LEGACY_EMAIL} moved into {FAILURE_EMAILS} (the failure digest's addresses)"


# ----------------------------------------------------------------------------------- API models


class FieldChangeView(BaseModel):
    field: str
    old: Any = None
    new: Any = None


class SettingsVersionView(BaseModel):
    version: int
    actor: str
    changed_at: str
    changes: list[FieldChangeView]
    note: str | None = None


class SettingsHistoryPage(BaseModel):
    tenant_id: str
    current_version: int
    versions: list[SettingsVersionView]  # newest first
    next_token: str | None = None


def version_view(v: SettingsVersion) -> SettingsVersionView:
    return SettingsVersionView(version=v.version, actor=v.actor, changed_at=v.changed_at.isoformat(),
                               changes=[FieldChangeView(field=c.field, old=c.old, new=c.new) for c in v.changes],
                               note=v.note)


__all__ = ["SettingsHistoryPage", "SettingsVersionView", "field_changes", "move_legacy_email", "version_view"]
