"""The business (base) currency of a tenant's Sage business, for the export engine's currency checks.

Order: the tenant setting `business_currency` when set (an override, and the only source for an
Intacct company-level login); else what the connector reads from Sage (`Connector.business_currency`,
one request), remembered per container for `ttl` seconds per tenant (it changes about never: Sage
lets it change only before the first transaction). When Sage cannot say (an Intacct company-level
login whose entities differ), nothing is assumed: ConfigurationError naming the setting to set (a
GBP guess skipped every USD invoice, silently).

A failed read is not guessed over: the error propagates (the job goes back to the queue) unless an
expired value is still held, which is then used and logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sagebridge.connectors.base import Connector, SageError
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import TenantSettings
from sagebridge.observability import logger

DEFAULT_CURRENCY = "GBP"  # only for deployments that wire no currency lookup (WorkerDeps)
CACHE_SECONDS = 3600.0


@dataclass
class BusinessCurrencies:
    """Per-container cache of tenants' base currencies: (tenant, provider) -> (code, read at)."""

    ttl: float = CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _held: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def currency_for(self, tenant_id: str, connector: Connector, settings: TenantSettings | None = None) -> str:
        if settings is not None and settings.business_currency:
            return settings.business_currency
        key = (tenant_id, str(getattr(connector, "provider", "")))
        now = self.clock()
        with self._lock:
            held = self._held.get(key)
        if held is not None and now - held[1] < self.ttl:
            return held[0]
        try:
            code = connector.business_currency()
        except SageError as exc:
            if held is None:
                raise
            logger.warning("business_currency_stale", extra={"tenant_id": tenant_id, "error": str(exc),
                                                             "currency": held[0]})
            return held[0]
        if code is None:
            logger.error("business_currency_unknown", extra={
                "tenant_id": tenant_id, "fix": "set the tenant setting business_currency"})
            raise ConfigurationError(
                f"Sage does not tell tenant {tenant_id}'s base currency: set the tenant setting "
                f"business_currency (e.g. `sagebridge tenants set {tenant_id} business_currency=USD`); "
                "nothing is exported until it is known")
        with self._lock:
            self._held[key] = (code, now)
        return code

    def forget(self, tenant_id: str) -> None:
        """Drop what is held for a tenant (after it reconnects, perhaps to another business)."""
        with self._lock:
            for key in [k for k in self._held if k[0] == tenant_id]:
                del self._held[key]


__all__ = ["CACHE_SECONDS", "DEFAULT_CURRENCY", "BusinessCurrencies"]
