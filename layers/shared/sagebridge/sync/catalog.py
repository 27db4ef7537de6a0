"""Catalog import, on the payment poller's schedule: what the tenant asked for (TenantSettings
.catalog_import) from Sage to the host app, as `item.upserted`, `tax_rate.upserted` and
`customer.upserted` events.

Each stream has its own cursor: a tenant's first import reads everything, later ones only what
changed since the cursor minus the overlap (one request per stream when nothing did). Event ids come
from (Sage id, updated_at), so a record is sent once per version.

Two-way customers without ping-pong. A customer created in Sage is filed under the host id
`sage:<sage id>` with a mapping marked `origin: sage`, written before the event is queued. The
export engine looks mappings up before it creates a contact, so when the host sends that customer
(or a document for it) back under that id, it is linked to the Sage contact, never created again.
A contact the export engine created itself (mapped, never changed in Sage since) is not echoed back,
nor is the engine's own update of a contact the host changed (the mapping keeps Sage's updated_at
after that update).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from sagebridge.connectors.base import Feed
from sagebridge.domain.kinds import PartyKind
from sagebridge.domain.remote import RemoteCustomer, RemoteItem, RemoteTaxRate, Versioned
from sagebridge.domain.settings import TenantSettings
from sagebridge.host.outbound import DeliveryOutbox, SageCustomer, SageItem, SageTaxRate, enqueue_delivery
from sagebridge.observability import logger
from sagebridge.store.store import Store
from sagebridge.sync.export import SAGE_UPDATED_AT

ITEMS_STREAM = "sage_items"
TAX_RATES_STREAM = "sage_tax_rates"
CUSTOMERS_STREAM = "sage_customers"
SAGE_ORIGIN = "sage"
Clock = Callable[[], datetime]
# Sage's clock and ours differ, and a record saved during a poll may carry a time just before it:
# re-read this much of the previous window (repeats are deduplicated).
OVERLAP = timedelta(minutes=5)


# ------------------------------------------------------------------------------------------- reading


def window_start(store: Store, tenant_id: str, stream: str, *, first: datetime | None) -> datetime | None:
    """Where a poll of `stream` starts reading: the cursor minus the overlap, or `first`."""
    cursor = store.cursors.get(tenant_id, stream)
    if cursor is None:
        return first
    return datetime.fromisoformat(cursor.position) - OVERLAP


def cursor_position(when: datetime) -> str:
    """ISO-8601 UTC with a fixed width, so positions compare as strings (the store's cursor rule)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")




def host_id_for_sage_customer(sage_id: str) -> str:
    """The host id Sage Bridge files a customer created in Sage under."""
    return f"sage:{sage_id}"


@dataclass
class CatalogReport:
    tenant_id: str
    queued: dict[str, int] = field(default_factory=dict)  # event type -> newly queued
    already_queued: int = 0
    unreadable: list[str] = field(default_factory=list)  # Sage records we could not describe


def import_catalog(
    tenant_id: str, *, feed: Feed, store: Store, outbox: DeliveryOutbox, settings: TenantSettings,
    clock: Clock,
) -> CatalogReport:
    """One import of what the tenant asked for. Raises on Sage or store failures; a stream's cursor
    moves only after its events are queued."""
    wanted = settings.catalog_import
    report = CatalogReport(tenant_id)
    if wanted.items:
        _stream(ITEMS_STREAM, report, store, clock, lambda since: (
            _item(item) for item in feed.items_changed(since)
        ), outbox)
    if wanted.tax_rates:
        _stream(TAX_RATES_STREAM, report, store, clock, lambda since: (
            _tax_rate(rate, settings.replace_host_tax_types) for rate in feed.tax_rates_changed(since)
        ), outbox)
    if wanted.customers:
        _stream(CUSTOMERS_STREAM, report, store, clock, lambda since: (
            _customer(customer, store, tenant_id) for customer in feed.customers_changed(since)
        ), outbox)
    return report


Made = tuple[BaseModel, str, datetime | None] | str | None  # an event, why not, or nothing to say


def _stream(stream: str, report: CatalogReport, store: Store, clock: Clock,
            read: Callable[[datetime | None], Iterator[Made]], outbox: DeliveryOutbox) -> None:
    started = clock()
    since = window_start(store, report.tenant_id, stream, first=None)  # first import: everything
    for made in read(since):
        if made is None:
            continue
        if isinstance(made, str):
            report.unreadable.append(made)
            continue
        data, key, occurred = made
        queued = enqueue_delivery(outbox, report.tenant_id, data, dedupe_key=key, occurred_at=occurred)
        if queued.queued:
            report.queued[queued.event_type] = report.queued.get(queued.event_type, 0) + 1
        else:
            report.already_queued += 1
    store.cursors.set(report.tenant_id, stream, cursor_position(started))


def _described(what: str, record: Versioned, build: Callable[[], BaseModel], key: str) -> Made:
    try:
        data = build()
    except (ValidationError, ValueError, KeyError) as exc:
        # One odd record must not hold the stream back forever: say which, and carry on.
        logger.warning("catalog_record_unreadable", extra={"what": what, "sage_id": record.sage_id,
                                                            "error": type(exc).__name__})
        return f"{what} {record.sage_id}: {exc}"
    return data, key, record.updated_at


def _item(item: RemoteItem) -> Made:
    def build() -> BaseModel:
        return SageItem(
            code=item.code or item.sage_id, description=item.description, item_type=item.item_type,
            sales_price=item.sales_price, purchase_price=item.purchase_price, tax_code=item.tax_rate_id,
            sales_ledger_code=item.sales_ledger_id, purchase_ledger_code=item.purchase_ledger_id,
            active=item.active, sage_id=item.sage_id, updated_at=item.updated_at,
        )

    return _described("item", item, build, f"item:{item.sage_id}:{item.version}")


def _tax_rate(rate: RemoteTaxRate, replace_host_tax_types: bool) -> Made:
    def build() -> BaseModel:
        return SageTaxRate(code=rate.sage_id, name=rate.name or rate.sage_id, percentage=rate.percentage,
                           active=rate.active, sage_id=rate.sage_id, updated_at=rate.updated_at,
                           replace_host_tax_types=replace_host_tax_types)

    # The flag is in the key: a tenant who switches it on gets every rate again, now replacing.
    key = f"tax_rate:{rate.sage_id}:{rate.version}:{replace_host_tax_types}"
    return _described("tax rate", rate, build, key)


def _customer(customer: RemoteCustomer, store: Store, tenant_id: str) -> Made:
    sage_id = customer.sage_id
    kind = PartyKind.CUSTOMER.value
    mapping = store.mappings.find_by_sage_id(tenant_id, kind, sage_id)
    if mapping is not None and customer.version is not None \
            and customer.version == mapping.extra.get(SAGE_UPDATED_AT):
        return None  # the export engine's own update of the host's change: nothing new for the host
    if mapping is not None and mapping.extra.get("origin") != SAGE_ORIGIN and customer.created == customer.version:
        return None  # the export engine made (or linked) it and nobody changed it in Sage: the host has it
    if mapping is None:
        host_id = host_id_for_sage_customer(sage_id)
        # Before the event: from now on the export engine treats this customer as present in Sage.
        store.mappings.put(tenant_id, kind, host_id, sage_id, {"origin": SAGE_ORIGIN, "reference": customer.reference})
        origin = SAGE_ORIGIN
    else:
        host_id = mapping.host_id
        origin = SAGE_ORIGIN if mapping.extra.get("origin") == SAGE_ORIGIN else "host"

    def build() -> BaseModel:
        try:
            return SageCustomer(host_id=host_id, sage_id=sage_id, origin=origin, **_party_fields(customer))
        except ValidationError:
            # Sage holds what the host's model refuses (an odd email, a long address): the name
            # and the link are what matter, so send those rather than nothing.
            return SageCustomer(host_id=host_id, sage_id=sage_id, origin=origin, name=customer.name)

    return _described("customer", customer, build, f"customer:{sage_id}:{customer.version}")


def _party_fields(customer: RemoteCustomer) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": customer.name, "email": customer.email, "phone": customer.phone, "tax_number": customer.tax_number,
        "currency": customer.currency, "updated_at": customer.updated_at,
    }
    address = customer.address
    if address is not None:
        fields["address"] = {"lines": list(address.lines), "city": address.city, "region": address.region,
                             "postcode": address.postcode, "country_code": address.country_code}
    return fields


__all__ = [
    "CUSTOMERS_STREAM",
    "ITEMS_STREAM",
    "OVERLAP",
    "SAGE_ORIGIN",
    "TAX_RATES_STREAM",
    "CatalogReport",
    "cursor_position",
    "host_id_for_sage_customer",
    "import_catalog",
    "window_start",
]
