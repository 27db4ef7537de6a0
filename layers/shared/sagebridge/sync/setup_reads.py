"""Sage's reference data an export run reads before it sends (tax rates, ledger accounts, bank
accounts), kept per container for a bounded time per tenant, so a burst of triggered runs does not
read it again for every document.

Why it is safe: these lists only decide whether a mapped tax rate or account is usable (the mapping
health check) and which rate a tax code means. What makes a kept list wrong is a change in Sage
within `ttl`: a rate or account deactivated or deleted, one created or reactivated, a rate's
percentage changed. Then:
- a document using a rate or account Sage no longer takes is sent and Sage refuses it (a failed
  document, retried by the next run, as when the health check cannot read Sage);
- a document using one Sage takes again is skipped with the health reason.
Either way the run is not clean, and a run that is not clean (any failure or skip) drops the
tenant's kept lists: the next run reads Sage again and decides on what Sage says now. An operator's
or a replay run always reads Sage (the operator may have just fixed something there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sagebridge.connectors.base import Connector, RemoteRecord
from sagebridge.domain.runs import ExportOutcome

# The connector's reads that are kept (each a list of RemoteRecord, no arguments).
KEPT_READS = ("list_tax_rates", "list_ledger_accounts", "list_bank_accounts")
SETUP_READS_TTL = timedelta(minutes=10)


@dataclass
class SetupReads:
    """Per container: tenant -> its kept lists and when each was read (monotonic seconds)."""

    ttl: timedelta = SETUP_READS_TTL
    clock: Callable[[], float] = time.monotonic
    _kept: dict[tuple[str, str, str], tuple[float, list[RemoteRecord]]] = field(default_factory=dict, repr=False)

    def connector(self, tenant_id: str, connector: Connector, *, fresh: bool = False) -> Connector:
        """`connector` with its setup reads served from (and kept in) this cache; `fresh`: read Sage
        now (and keep what it says)."""
        if fresh:
            self.forget(tenant_id)
        return cast(Connector, _KeepingConnector(connector, self, tenant_id))

    def forget(self, tenant_id: str) -> None:
        for key in [k for k in self._kept if k[0] == tenant_id]:
            del self._kept[key]

    def after_run(self, tenant_id: str, counts: Any, failures: list[str]) -> None:
        """A run that failed or skipped anything may have decided on a stale list: read again next time."""
        if failures or counts.get(ExportOutcome.SKIPPED.value) or counts.get(ExportOutcome.FAILED.value):
            self.forget(tenant_id)

    def read(self, tenant_id: str, where: str, name: str, read: Callable[[], Any]) -> list[RemoteRecord]:
        key = (tenant_id, where, name)
        now = self.clock()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self.ttl.total_seconds():
            return list(kept[1])
        records = list(read())  # an error is not kept: the next run asks again
        self._kept[key] = (now, records)
        return list(records)


class _KeepingConnector:
    """The tenant's connector, with KEPT_READS through the cache; everything else is the connector's."""

    def __init__(self, inner: Connector, cache: SetupReads, tenant_id: str) -> None:
        self._inner = inner
        self._cache = cache
        self._tenant_id = tenant_id
        # Which Sage business the connector writes to (a tenant reconnected to another business
        # must not be judged on the old one's lists); "" when the connector does not say.
        self._where = str(getattr(getattr(inner, "client", None), "business_id", None) or "")

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name in KEPT_READS:
            return lambda: self._cache.read(self._tenant_id, self._where, name, attribute)
        return attribute


__all__ = ["KEPT_READS", "SETUP_READS_TTL", "SetupReads"]
