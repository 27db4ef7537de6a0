"""What the payment poller and the catalog import read from Sage Accounting (`Feed`, connectors/base.py):
its v3.1 JSON read into the typed read models of sagebridge.domain.remote.

Lists are read whole, 200 a page, changed since (`updated_or_created_since`, `attributes=all`) or
deleted since (`deleted_since`):
- contact_payments (receipts and refunds) and contact_allocations (credit notes set against
  invoices), with the invoices and credit notes each settles (`allocated_artefacts`, by `$path`);
- sales_invoices / sales_credit_notes by id: total, outstanding and `payments_allocations` in order;
  many at once through their list changed since (`documents`), which costs a page per 200;
- products then services, tax_rates, contacts of type CUSTOMER.
Supplier money is not the host's business and is left out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from typing import Any

from sagebridge.connectors.base import NotFound
from sagebridge.connectors.mapping import day
from sagebridge.connectors.sage_accounting.client import ITEMS_PER_PAGE, SageAccountingClient
from sagebridge.domain.catalog import ItemType
from sagebridge.domain.kinds import DocumentKind
from sagebridge.domain.money import to_decimal
from sagebridge.domain.remote import (
    Allocation,
    DocumentBalance,
    MoneyKind,
    RemoteAddress,
    RemoteCustomer,
    RemoteItem,
    RemotePayment,
    RemoteTaxRate,
    Removed,
    Settlement,
)

RESOURCE_OF_KIND = {DocumentKind.SALES_INVOICE: "sales_invoices", DocumentKind.SALES_CREDIT_NOTE: "sales_credit_notes"}
_KIND_OF_RESOURCE = {resource: kind for kind, resource in RESOURCE_OF_KIND.items()}
MONEY_KIND = {"CUSTOMER_RECEIPT": MoneyKind.RECEIPT, "CUSTOMER_REFUND": MoneyKind.REFUND,
              "CUSTOMER_ALLOCATION": MoneyKind.CREDIT_ALLOCATION}  # transaction_type.id
# What a balance reads (document_balance): asked for by name, so a list page carries no more.
BALANCE_ATTRIBUTES = ("total_amount,outstanding_amount,payments_allocations,reference,invoice_number,"
                      "credit_note_number")
DEFAULT_CURRENCY = "GBP"  # a payment without a currency: what the host has always been told


class SageAccountingFeed:
    """`Feed` over a tenant's Sage Accounting client."""

    def __init__(self, client: SageAccountingClient) -> None:
        self.client = client

    # ---- money

    def payments_changed(self, since: datetime) -> Iterator[RemotePayment]:
        return self._money_changed("contact_payments", since)

    def allocations_changed(self, since: datetime) -> Iterator[RemotePayment]:
        return self._money_changed("contact_allocations", since)

    def payments_deleted(self, since: datetime) -> Iterator[Removed]:
        return (Removed(str(r["id"])) for r in self.client.iterate("contact_payments", deleted_since=since))

    def allocations_deleted(self, since: datetime) -> Iterator[Removed]:
        return (Removed(str(r["id"])) for r in self.client.iterate("contact_allocations", deleted_since=since))

    def payment(self, sage_id: str) -> RemotePayment:
        return self._money_one("contact_payments", sage_id)

    def allocation(self, sage_id: str) -> RemotePayment:
        return self._money_one("contact_allocations", sage_id)

    def document(self, kind: DocumentKind, sage_id: str) -> DocumentBalance:
        resource = RESOURCE_OF_KIND.get(kind)
        if resource is None:
            raise NotFound(f"a {kind.value.replace('_', ' ')} has no balance to read", status=404)
        # show_payments_allocations: the swagger's switch for the payments_allocations list
        return document_balance(kind, self.client.get(resource, sage_id, show_payments_allocations=True))

    def documents(self, kind: DocumentKind, sage_ids: Collection[str], since: datetime) -> dict[str, DocumentBalance]:
        """Many documents' balances through the list of those changed since `since` (money set
        against a document changes it), 200 a page with just the attributes a balance needs, while a
        page costs less than the GETs still to make; the rest one GET each (NotFound: left out)."""
        resource = RESOURCE_OF_KIND.get(kind)
        if resource is None:
            return {}
        wanted, read = set(sage_ids), 0
        found: dict[str, DocumentBalance] = {}
        if len(wanted) > 1:
            for record in self.client.iterate(resource, updated_or_created_since=since, attributes=BALANCE_ATTRIBUTES,
                                              show_payments_allocations=True, items_per_page=ITEMS_PER_PAGE):
                read += 1
                if str(record.get("id")) in wanted:
                    found[str(record["id"])] = document_balance(kind, record)
                    wanted.discard(str(record["id"]))
                if read % ITEMS_PER_PAGE == 0 and len(wanted) <= read // ITEMS_PER_PAGE:
                    break  # the next page would cost more than the GETs left
                if not wanted:
                    break
        for sage_id in sorted(wanted):
            try:
                found[sage_id] = self.document(kind, sage_id)
            except NotFound:
                continue
        return found

    def _money_changed(self, resource: str, since: datetime) -> Iterator[RemotePayment]:
        for record in self.client.iterate(resource, updated_or_created_since=since, attributes="all"):
            payment = remote_payment(record)
            if payment is not None:
                yield payment

    def _money_one(self, resource: str, sage_id: str) -> RemotePayment:
        payment = remote_payment(self.client.get(resource, sage_id))
        if payment is None:
            raise NotFound(f"{resource} {sage_id} is not a customer's", status=404)
        return payment

    # ---- catalog

    def items_changed(self, since: datetime | None) -> Iterator[RemoteItem]:
        for resource, item_type in (("products", ItemType.PRODUCT), ("services", ItemType.SERVICE)):
            for record in self._changed(resource, since):
                yield remote_item(record, item_type)

    def tax_rates_changed(self, since: datetime | None) -> Iterator[RemoteTaxRate]:
        return (remote_tax_rate(r) for r in self._changed("tax_rates", since))

    def customers_changed(self, since: datetime | None) -> Iterator[RemoteCustomer]:
        return (remote_customer(r) for r in self._changed("contacts", since, contact_type_id="CUSTOMER"))

    def _changed(self, resource: str, since: datetime | None, **filters: Any) -> Iterator[dict[str, Any]]:
        # since None: everything (a first catalog import)
        return self.client.iterate(resource, updated_or_created_since=since, attributes="all", **filters)


# -------------------------------------------------------------------------------- JSON -> read models


def stamp(value: Any) -> str | None:
    """A last-changed stamp verbatim (see sagebridge.domain.remote)."""
    return None if value is None else str(value)


def _id(link: Any) -> str | None:
    return str(link["id"]) if isinstance(link, Mapping) and link.get("id") else None


def _link(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = record.get(name)
    return value if isinstance(value, Mapping) else {}


def _amount(value: Any) -> Any:
    return to_decimal(value) if value is not None else None


def remote_payment(record: Mapping[str, Any]) -> RemotePayment | None:
    """A contact_payment or contact_allocation; None for supplier money."""
    kind = MONEY_KIND.get(str(_link(record, "transaction_type").get("id") or ""))
    if kind is None:
        return None
    allocations = []
    for entry in record.get("allocated_artefacts") or []:
        artefact = entry.get("artefact") or {}
        document = _KIND_OF_RESOURCE.get(str(artefact.get("$path") or "").strip("/").split("/")[0])
        if document is not None:
            allocations.append(Allocation(document, str(artefact["id"]), abs(to_decimal(entry.get("amount") or 0))))
    return RemotePayment(
        sage_id=str(record["id"]), version=stamp(record.get("updated_at")), kind=kind,
        total=to_decimal(record.get("total_amount") or 0),
        currency=str(_link(record, "currency").get("id") or DEFAULT_CURRENCY),
        on=day(record.get("date")),
        reference=record.get("reference"), method=_link(record, "payment_method").get("displayed_as"),
        allocations=tuple(allocations),
    )


def document_balance(kind: DocumentKind, record: Mapping[str, Any]) -> DocumentBalance:
    """A sales invoice or credit note; its `payments_allocations` list is in the order Sage applied them."""
    settled = []
    for entry in record.get("payments_allocations") or []:
        payment, allocation = _id(entry.get("contact_payment")), _id(entry.get("contact_allocation"))
        settled.append(Settlement(payment or allocation, abs(to_decimal(entry.get("amount") or 0)),
                                  by_allocation=payment is None and allocation is not None))
    return DocumentBalance(
        kind=kind, sage_id=str(record["id"]),
        number=record.get("reference") or record.get("invoice_number") or record.get("credit_note_number"),
        total=to_decimal(record.get("total_amount") or 0),
        outstanding=to_decimal(record.get("outstanding_amount") or 0),
        settled_by=tuple(settled),
    )


def remote_item(record: Mapping[str, Any], item_type: ItemType) -> RemoteItem:
    prices = record.get("sales_prices") or record.get("sales_rates") or []
    price = next((p.get("price", p.get("rate")) for p in prices if isinstance(p, Mapping)), None)
    return RemoteItem(
        sage_id=str(record["id"]), version=stamp(record.get("updated_at")), item_type=item_type,
        code=record.get("item_code"), description=str(record.get("description") or ""),
        sales_price=_amount(price), purchase_price=_amount(record.get("cost_price")),
        tax_rate_id=_id(record.get("sales_tax_rate")), sales_ledger_id=_id(record.get("sales_ledger_account")),
        purchase_ledger_id=_id(record.get("purchase_ledger_account")), active=record.get("active") is not False,
    )


def remote_tax_rate(record: Mapping[str, Any]) -> RemoteTaxRate:
    return RemoteTaxRate(
        sage_id=str(record["id"]), version=stamp(record.get("updated_at")),
        name=record.get("name") or record.get("displayed_as"), percentage=to_decimal(record.get("percentage") or 0),
        active=record.get("is_visible") is not False,
    )


def remote_customer(record: Mapping[str, Any]) -> RemoteCustomer:
    person = _link(record, "main_contact_person")
    address = _link(record, "main_address")
    lines = tuple(line for line in (address.get("address_line_1"), address.get("address_line_2")) if line)
    return RemoteCustomer(
        sage_id=str(record["id"]), version=stamp(record.get("updated_at")), created=stamp(record.get("created_at")),
        name=record.get("name"), reference=record.get("reference"),
        email=record.get("email") or person.get("email") or None,
        phone=person.get("telephone") or person.get("mobile") or record.get("telephone") or None,
        tax_number=record.get("tax_number") or None, currency=_id(record.get("currency")),
        address=RemoteAddress(lines, address.get("city"), address.get("region"), address.get("postal_code"),
                              _id(address.get("country")))
        if lines or address.get("city") or address.get("postal_code") else None,
    )


__all__ = ["SageAccountingFeed", "document_balance", "remote_customer", "remote_item", "remote_payment",
           "remote_tax_rate"]
