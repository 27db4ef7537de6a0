"""Mapping health for operators: the connected Sage business's tax rates, ledger accounts and bank
accounts (to map host codes onto), and every mapping whose Sage record is gone, inactive or not
usable, asked of Sage before a run fails (or skips) on it."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from sagebridge.connectors.base import Connector, RemoteRecord, SageError, checked_mappings, not_exported
from sagebridge.domain.settings import TenantSettings
from sagebridge.sync.mapping_health import MappingProblem, declared_ids, mapped_ids, mapping_problems


class SageAccountRef(BaseModel):
    """A tax rate, ledger account or bank account of the connected Sage business."""

    id: str
    name: str
    code: str | None = None  # nominal code, or the rate's percentage
    active: bool = True


class MappingHealth(BaseModel):
    checked: bool  # False when Sage could not be asked (not connected, Sage down): `reason` says why
    ok: bool
    reason: str | None = None
    mappings_checked: int = 0
    problems: list[MappingProblem] = Field(default_factory=list)


def sage_refs(records: Iterable[RemoteRecord], *, code_field: str | None = None) -> list[SageAccountRef]:
    out = []
    for r in records:
        out.append(SageAccountRef(id=r.id, name=r.display_name or r.id,
                                  code=r.text(code_field) if code_field else None, active=r.active))
    return sorted(out, key=lambda ref: (ref.code or "", ref.name))


def check_mappings(
    settings: TenantSettings, connector: Connector | None, *, why_not: str | None = None
) -> MappingHealth:
    """Every mapping whose Sage record is gone, inactive or of the wrong type, before a run fails (or
    skips) on it; the product's own maps too (`checked_mappings`: the setting path names them)."""
    wanted = list(mapped_ids(settings))
    if connector is None:
        return MappingHealth(checked=False, ok=False, reason=why_not or "not connected to Sage",
                             mappings_checked=0)
    declared = checked_mappings(connector)
    wanted += declared_ids(settings, declared)
    lists = {w for _, _, w in wanted} | {c.points_at for c in declared if c.codes_of is not None}
    try:
        known: dict[str, dict[str, RemoteRecord]] = {}
        for what, lister in (("tax_rate", connector.list_tax_rates), ("ledger_account", connector.list_ledger_accounts),
                             ("bank_account", connector.list_bank_accounts)):
            if what in lists:
                known[what] = {r.id: r for r in lister()}
    except SageError as exc:
        return MappingHealth(checked=False, ok=False, reason=f"Sage could not be asked: {exc.message}")
    problems = mapping_problems(settings, known, unsupported=frozenset(not_exported(connector)), declared=declared)
    return MappingHealth(checked=True, ok=not problems, mappings_checked=len(wanted), problems=problems)


__all__ = ["MappingHealth", "SageAccountRef", "check_mappings", "sage_refs"]
