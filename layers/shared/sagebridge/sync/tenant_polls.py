"""The poll of one tenant, and of every tenant of a product in one process, whichever the product:
payments (sync/payments.py), then the catalog the tenant asked for (sync/catalog.py), read through
the feed the tenant's product hands over (`Product.feed_for`). Names no product.

Outcomes: polled; not_connected (no connection, or disconnected since the job was queued); expired
(Sage refused the connection and the product declares it lost: `Product.connection_lost`); failed
(any other failure: the in-process loop records it and goes on; the payment poll worker raises, so
the job goes back to the queue); skipped (a tenant of another product, removed or disabled).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sagebridge.connectors.base import AuthError, Feed, NotConnected, Product
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import Provider, TenantSettings, parse_tenant_settings
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.observability import logger
from sagebridge.store.store import Store
from sagebridge.sync.catalog import CatalogReport, import_catalog
from sagebridge.sync.payments import Clock, PaymentPollReport, poll_payments


@dataclass
class TenantPoll:
    tenant_id: str
    outcome: Literal["polled", "not_connected", "expired", "failed", "skipped"]
    payments: PaymentPollReport | None = None
    catalog: CatalogReport | None = None
    error: str | None = None


@dataclass
class PollerReport:
    tenants: list[TenantPoll] = field(default_factory=list)

    @property
    def payments_delivered(self) -> int:
        return sum(t.payments.payments_delivered for t in self.tenants if t.payments)

    def count(self, outcome: str) -> int:
        return sum(1 for t in self.tenants if t.outcome == outcome)

    def summary(self) -> dict[str, Any]:
        return {"tenants": len(self.tenants), "polled": self.count("polled"),
                "not_connected": self.count("not_connected"), "expired": self.count("expired"),
                "failed": self.count("failed"), "payments_delivered": self.payments_delivered,
                "failures": {t.tenant_id: t.error for t in self.tenants if t.outcome == "failed"}}


def poll_tenant(
    tenant_id: str, settings: TenantSettings, *, feed: Feed, store: Store, outbox: DeliveryOutbox, clock: Clock,
) -> TenantPoll:
    """Payments, then the catalog the tenant asked for."""
    payments = poll_payments(tenant_id, feed=feed, store=store, outbox=outbox, clock=clock)
    catalog = import_catalog(tenant_id, feed=feed, store=store, outbox=outbox, settings=settings, clock=clock)
    return TenantPoll(tenant_id, "polled", payments, catalog)


def poll_product_tenant(product: Product, tenant_id: str, settings: TenantSettings, *, store: Store,
                        outbox: DeliveryOutbox, clock: Clock) -> TenantPoll:
    """One tenant through its own product's feed, shared by the in-process loop below and the payment
    poll worker (one SQS job per tenant). A connection Sage refuses and the product declares dead
    (`Product.connection_lost`: a revoked grant, a refused login) is an outcome, "expired", not a
    failure: retrying cannot help, the tenant must connect again. Any other failure raises, for the
    caller to record (the loop) or to hand back to the queue (the worker)."""
    try:
        feed = product.feed_for(tenant_id, settings)
        return poll_tenant(tenant_id, settings, feed=feed, store=store, outbox=outbox, clock=clock)
    except AuthError as exc:
        if not product.connection_lost(tenant_id, exc):
            raise
        return TenantPoll(tenant_id, "expired", error=exc.message)
    except NotConnected as exc:
        return TenantPoll(tenant_id, "not_connected", error=exc.message)


def poll_each(report: PollerReport, tenants: Iterable[tuple[str, TenantSettings]],
              poll_one: Callable[[str, TenantSettings], TenantPoll], *,
              is_connected: Callable[[str], bool]) -> PollerReport:
    """Poll tenants one after another in this process, each on its own, into `report`: one failing
    tenant is recorded as failed and does not stop the others."""
    for tenant_id, settings in tenants:
        if not is_connected(tenant_id):
            report.tenants.append(TenantPoll(tenant_id, "not_connected"))
            continue
        logger.append_keys(tenant_id=tenant_id)
        try:
            report.tenants.append(poll_one(tenant_id, settings))
        except Exception as exc:  # one tenant's trouble (Sage down, a bad record) must not stop the rest
            logger.exception("payment_poll_failed")
            report.tenants.append(TenantPoll(tenant_id, "failed", error=f"{type(exc).__name__}: {exc}"))
        finally:
            logger.remove_keys(["tenant_id"])
    return report


def tenants_of(store: Store, provider: Provider, report: PollerReport) -> Iterator[tuple[str, TenantSettings]]:
    """(tenant id, settings) of every enabled tenant of `provider`; a tenant whose settings do not
    parse is recorded in `report` as failed, one of another product as skipped."""
    for tenant in store.tenants.iter_all(enabled_only=True):
        try:
            settings = parse_tenant_settings(tenant.settings)
        except ConfigurationError as exc:
            report.tenants.append(TenantPoll(tenant.tenant_id, "failed", error=str(exc)))
            continue
        if settings.provider is not provider:
            report.tenants.append(TenantPoll(tenant.tenant_id, "skipped"))
            continue
        yield tenant.tenant_id, settings


def poll_all_tenants(product: Product, provider: Provider, *, store: Store, outbox: DeliveryOutbox,
                     clock: Clock | None = None) -> PollerReport:
    """Every enabled tenant of `provider` (served by `product`) in one process, each on its own
    (`poll_product_tenant`); tenants of other products are reported as skipped. Deployed, the payment
    poller fans out one SQS job per tenant instead (sync/payment_polls.py); this loop serves tests and
    one-off runs."""
    poll_clock = clock or (lambda: datetime.now(UTC))
    report = PollerReport()
    return poll_each(
        report, tenants_of(store, provider, report),  # records skips and bad settings as it goes
        lambda tenant_id, settings: poll_product_tenant(product, tenant_id, settings, store=store, outbox=outbox,
                                                        clock=poll_clock),
        is_connected=product.is_connected)


__all__ = [
    "PollerReport",
    "TenantPoll",
    "poll_all_tenants",
    "poll_each",
    "poll_product_tenant",
    "poll_tenant",
    "tenants_of",
]
