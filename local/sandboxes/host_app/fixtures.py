"""Example host data: one event of each inbound type, valid against the published schemas. Used by
the sandbox, the events/ files, the docs and the tests."""

from __future__ import annotations

import copy
from typing import Any

# Documented in docs/host-integration.md: signs the files in events/ and the demo tenant's webhooks.
# It is public on purpose; never give a real tenant this secret.
DEMO_SECRET = "whsec_demo_local_only_0123456789abcdef"  # noqa: S105 - a published demo value
DEMO_TENANT = "demo"
OCCURRED_AT = "2024-05-01T10:15:00Z"

CUSTOMER: dict[str, Any] = {
    "host_id": "CUST-1001",
    "name": "Ada Lovelace",
    "company": "Analytical Engines Ltd",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
    "address": {"lines": ["12 Babbage Row"], "city": "London", "postcode": "N1 9GU", "country_code": "GB"},
    "tax_number": "GB123456789",
    "currency": "GBP",
    "version": 3,
}
VENDOR: dict[str, Any] = {
    "host_id": "VEND-2001",
    "name": "Brass Gears Supply",
    "email": "accounts@brassgears.example",
    "currency": "GBP",
    "version": 1,
}
# Not an inbound event (items come from Sage, and the door refuses item.upserted): kept to show
# what a host would send, and that it is refused.
ITEM: dict[str, Any] = {
    "host_id": "ITEM-77",
    "code": "SRV-CALLOUT",
    "description": "Call-out fee",
    "item_type": "service",
    "sales_price": "65.00",
    "tax_code": "S20",
    "active": True,
}
_LINES: list[dict[str, Any]] = [
    {"description": "Call-out fee", "quantity": "1", "unit_price": "65.00", "tax_code": "S20", "item_id": "ITEM-77"},
    {"description": "Replacement valve", "quantity": "2", "unit_price": "17.50", "tax_code": "S20"},
]
_TOTALS = {"net": "100.00", "tax": "20.00", "total": "120.00"}
INVOICE: dict[str, Any] = {
    "host_id": "INV-1001",
    "number": "INV-1001",
    "reference": "Job 5521",
    "party_id": "CUST-1001",
    "document_date": "2024-05-01",
    "due_date": "2024-05-31",
    "currency": "GBP",
    "status": "pending_payment",
    "lines": _LINES,
    "totals": _TOTALS,
    "version": 2,
}
# A credit the customer is paid back in cash (REFUND), so it names no invoice: a credit note with
# `invoice_id` is allocated against that invoice in Sage, and could not then be refunded as well.
CREDIT_NOTE: dict[str, Any] = {
    **INVOICE, "host_id": "CN-301", "number": "CN-301", "status": "pending_payment",
    "lines": [_LINES[1]], "totals": {"net": "35.00", "tax": "7.00", "total": "42.00"},
}
PURCHASE_INVOICE: dict[str, Any] = {
    **INVOICE, "host_id": "PI-88", "number": "SUP-88", "party_id": "VEND-2001", "reference": None,
    "status": "approved", "lines": [_LINES[1]], "totals": {"net": "35.00", "tax": "7.00", "total": "42.00"},
}
PURCHASE_CREDIT_NOTE: dict[str, Any] = {
    **PURCHASE_INVOICE, "host_id": "PCN-9", "number": "SUP-CN-9", "invoice_id": "PI-88",
}
PAYMENT: dict[str, Any] = {
    "host_id": "PAY-501",
    "party_id": "CUST-1001",
    "payment_date": "2024-05-03",
    "amount": "120.00",
    "currency": "GBP",
    "method": "card",
    "reference": "Stripe ch_123",
    "allocations": [{"kind": "sales_invoice", "host_id": "INV-1001", "amount": "120.00"}],
}
REFUND: dict[str, Any] = {
    **PAYMENT, "host_id": "REF-12", "payment_date": "2024-05-04", "amount": "42.00", "reference": "Refund for CN-301",
    "allocations": [{"kind": "sales_credit_note", "host_id": "CN-301", "amount": "42.00"}],
}
VOID: dict[str, Any] = {"kind": "sales_invoice", "host_id": "INV-1001", "reason": "raised in error", "version": 3}

_DATA = {
    "customer.upserted": CUSTOMER,
    "vendor.upserted": VENDOR,
    "invoice.upserted": INVOICE,
    "credit_note.upserted": CREDIT_NOTE,
    "purchase_invoice.upserted": PURCHASE_INVOICE,
    "purchase_credit_note.upserted": PURCHASE_CREDIT_NOTE,
    "payment.recorded": PAYMENT,
    "refund.recorded": REFUND,
    "document.voided": VOID,
}


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def example_event(event_type: str, *, event_id: str | None = None, occurred_at: str = OCCURRED_AT,
                  **changes: Any) -> dict[str, Any]:
    """One example event; `changes` override fields of its data."""
    data = _without_none(copy.deepcopy(_DATA[event_type]))
    data.update(changes)
    return {
        "id": event_id or f"evt_{event_type.replace('.', '_')}_0001",
        "type": event_type,
        "occurred_at": occurred_at,
        "data": data,
    }


def example_events() -> dict[str, dict[str, Any]]:
    """Every inbound event type -> one example event."""
    return {event_type: example_event(event_type) for event_type in _DATA}
