"""Reading a Sage record back, in the shape the connectors give the engines: `total_amount`,
`outstanding_amount`, `total_paid`, `contact` (or `contact_id`/`contact_name`), `date`, `status`,
`editable`, `transaction_type`. Sage Accounting's records come that way; the Intacct connector
normalises its records to it. What the export engine and the reconciliation ask of a record: totals,
what is outstanding or paid, contact, date, status, and whether it is the document we would create.
Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sagebridge.connectors.base import RemoteRecord
from sagebridge.connectors.mapping import day
from sagebridge.domain.money import ZERO, round_money, to_decimal


def _amount(data: Mapping[str, Any], key: str) -> Decimal:
    value = data.get(key)
    return to_decimal(value) if value is not None else ZERO


def remote_total(record: RemoteRecord) -> Decimal:
    return _amount(record.data, "total_amount")


def remote_outstanding(record: RemoteRecord) -> Decimal:
    return _amount(record.data, "outstanding_amount")


def remote_paid(record: RemoteRecord) -> Decimal:
    """What has been paid or allocated against a document (its total paid, else total - outstanding)."""
    data = record.data
    if data.get("total_paid") is not None:
        return _amount(data, "total_paid")
    if data.get("outstanding_amount") is None:
        return ZERO
    return remote_total(record) - remote_outstanding(record)


def remote_contact_id(record: RemoteRecord) -> str | None:
    contact = record.data.get("contact")
    if isinstance(contact, Mapping):
        return contact.get("id")
    return record.data.get("contact_id")


def remote_contact_name(record: RemoteRecord) -> str | None:
    """The contact's name as Sage shows it on the document (what a skip reason names)."""
    contact = record.data.get("contact")
    name = contact.get("displayed_as") or contact.get("name") if isinstance(contact, Mapping) else None
    return name or record.data.get("contact_name")


def remote_date(record: RemoteRecord) -> date | None:
    return day(record.data.get("date"))


def remote_status(record: RemoteRecord) -> str | None:
    status = record.data.get("status")
    return status.get("id") if isinstance(status, Mapping) else status


def remote_editable(record: RemoteRecord) -> bool:
    """False when Sage has locked the document (VAT-reconciled); payments are judged separately."""
    return record.data.get("editable") is not False or remote_paid(record) > ZERO


def remote_transaction_type(record: RemoteRecord) -> str | None:
    value = record.data.get("transaction_type")
    return value.get("id") if isinstance(value, Mapping) else value


def is_same_document(
    record: RemoteRecord, *, reference: str, contact_id: str | None, total: Decimal, on: date | None = None
) -> bool:
    """Is this Sage record the one we would create: same reference, contact and amount (and date
    when Sage told us one)? How an uncertain write is reconciled and how going live adopts."""
    if (record.reference or record.data.get("reference") or "") != reference:
        return False
    if contact_id is not None and remote_contact_id(record) not in (None, contact_id):
        return False
    if record.data.get("total_amount") is not None and remote_total(record) != round_money(total):
        return False
    remote_on = remote_date(record)
    return on is None or remote_on is None or remote_on == on


__all__ = [
    "is_same_document",
    "remote_contact_id",
    "remote_contact_name",
    "remote_date",
    "remote_editable",
    "remote_outstanding",
    "remote_paid",
    "remote_status",
    "remote_total",
    "remote_transaction_type",
]
