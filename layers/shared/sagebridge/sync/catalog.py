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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from sagebridge.connectors.base import Feed
from sagebridge.domain.catalog import ItemType
from sagebridge.domain.kinds import PartyKind
from sagebridge.domain.money import to_decimal
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
            _item(record, item_type)
            for resource, item_type in (("products", ItemType.PRODUCT), ("services", ItemType.SERVICE))
            for record in feed.changed(resource, since)
        ), outbox)
    if wanted.tax_rates:
        _stream(TAX_RATES_STREAM, report, store, clock, lambda since: (
            _tax_rate(record, settings.replace_host_tax_types) for record in feed.changed("tax_rates", since)
        ), outbox)
    if wanted.customers:
        _stream(CUSTOMERS_STREAM, report, store, clock, lambda since: (
            _customer(record, store, tenant_id)
            for record in feed.changed("contacts", since, contact_type_id="CUSTOMER")
        ), outbox)
    return report


def _stream(stream: str, report: CatalogReport, store: Store, clock: Clock,
            read: Callable[[datetime | None], Any], outbox: DeliveryOutbox) -> None:
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


Made = tuple[BaseModel, str, datetime | None] | str | None  # an event, why not, or nothing to say


def _described(what: str, record: Mapping[str, Any], build: Callable[[], BaseModel], key: str) -> Made:
    try:
        data = build()
    except (ValidationError, ValueError, KeyError) as exc:
        # One odd record must not hold the stream back forever: say which, and carry on.
        logger.warning("catalog_record_unreadable", extra={"what": what, "sage_id": record.get("id"),
                                                            "error": type(exc).__name__})
        return f"{what} {record.get('id')}: {exc}"
    return data, key, _when(record.get("updated_at"))


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _id(link: Any) -> str | None:
    return str(link["id"]) if isinstance(link, Mapping) and link.get("id") else None


def _amount(value: Any) -> Any:
    return to_decimal(value) if value is not None else None


def _item(record: Mapping[str, Any], item_type: ItemType) -> Made:
    prices = record.get("sales_prices") or record.get("sales_rates") or []
    price = next((p.get("price", p.get("rate")) for p in prices if isinstance(p, Mapping)), None)

    def build() -> BaseModel:
        return SageItem(
            code=str(record.get("item_code") or record["id"]),
            description=str(record.get("description") or ""),
            item_type=item_type,
            sales_price=_amount(price),
            purchase_price=_amount(record.get("cost_price")),
            tax_code=_id(record.get("sales_tax_rate")),
            sales_ledger_code=_id(record.get("sales_ledger_account")),
            purchase_ledger_code=_id(record.get("purchase_ledger_account")),
            active=record.get("active") is not False,
            sage_id=str(record["id"]),
            updated_at=_when(record.get("updated_at")),
        )

    return _described("item", record, build, f"item:{record.get('id')}:{record.get('updated_at')}")


def _tax_rate(record: Mapping[str, Any], replace_host_tax_types: bool) -> Made:
    def build() -> BaseModel:
        return SageTaxRate(
            code=str(record["id"]),
            name=str(record.get("name") or record.get("displayed_as") or record["id"]),
            percentage=to_decimal(record.get("percentage") or 0),
            active=record.get("is_visible") is not False,
            sage_id=str(record["id"]),
            updated_at=_when(record.get("updated_at")),
            replace_host_tax_types=replace_host_tax_types,
        )

    # The flag is in the key: a tenant who switches it on gets every rate again, now replacing.
    key = f"tax_rate:{record.get('id')}:{record.get('updated_at')}:{replace_host_tax_types}"
    return _described("tax rate", record, build, key)


def _customer(record: Mapping[str, Any], store: Store, tenant_id: str) -> Made:
    sage_id = str(record["id"])
    kind = PartyKind.CUSTOMER.value
    mapping = store.mappings.find_by_sage_id(tenant_id, kind, sage_id)
    if mapping is not None and record.get("updated_at") is not None \
            and str(record.get("updated_at")) == mapping.extra.get(SAGE_UPDATED_AT):
        return None  # the export engine's own update of the host's change: nothing new for the host
    if mapping is not None and mapping.extra.get("origin") != SAGE_ORIGIN \
            and record.get("created_at") == record.get("updated_at"):
        return None  # the export engine made (or linked) it and nobody changed it in Sage: the host has it
    if mapping is None:
        host_id = host_id_for_sage_customer(sage_id)
        # Before the event: from now on the export engine treats this customer as present in Sage.
        store.mappings.put(tenant_id, kind, host_id, sage_id,
                           {"origin": SAGE_ORIGIN, "reference": record.get("reference")})
        origin = SAGE_ORIGIN
    else:
        host_id = mapping.host_id
        origin = SAGE_ORIGIN if mapping.extra.get("origin") == SAGE_ORIGIN else "host"

    def build() -> BaseModel:
        try:
            return SageCustomer(host_id=host_id, sage_id=sage_id, origin=origin, **_party_fields(record))
        except ValidationError:
            # Sage holds what the host's model refuses (an odd email, a long address): the name
            # and the link are what matter, so send those rather than nothing.
            return SageCustomer(host_id=host_id, sage_id=sage_id, origin=origin, name=record["name"])

    return _described("customer", record, build, f"customer:{sage_id}:{record.get('updated_at')}")


def _party_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    person = record.get("main_contact_person") or {}
    address = record.get("main_address") or {}
    fields: dict[str, Any] = {
        "name": record.get("name"),
        "email": record.get("email") or person.get("email") or None,
        "phone": person.get("telephone") or person.get("mobile") or record.get("telephone") or None,
        "tax_number": record.get("tax_number") or None,
        "currency": _id(record.get("currency")),
        "updated_at": _when(record.get("updated_at")),
    }
    lines = [line for line in (address.get("address_line_1"), address.get("address_line_2")) if line]
    if lines or address.get("city") or address.get("postal_code"):
        fields["address"] = {"lines": lines, "city": address.get("city"), "region": address.get("region"),
                             "postcode": address.get("postal_code"),
                             "country_code": _id(address.get("country"))}
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
