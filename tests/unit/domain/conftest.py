"""A realistic tenant and documents to bend in each test: a UK garage selling in GBP at 20% VAT."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from sagebridge.domain import CustomerPayment, SalesInvoice, TenantSettings

SAGE_TAX_RATES = {"GB_STANDARD": Decimal("20.00"), "GB_ZERO": Decimal("0.00")}

INVOICE: dict[str, Any] = {
    "host_id": "inv-1001",
    "number": "INV-1001",
    "reference": "Job 77 - brake pads",
    "party_id": "cust-7",
    "party": {"host_id": "cust-7", "name": "Ada Lovelace", "email": "ada@example.com", "currency": "GBP"},
    "document_date": "2025-03-03",
    "posting_date": "2025-03-04",
    "due_date": "2025-04-02",
    "currency": "GBP",
    "status": "pending_payment",
    "updated_at": "2025-03-03T10:15:00+00:00",
    "lines": [
        {"description": "Brake pads", "quantity": 2, "unit_price": "35.50", "tax_code": "S",
         "ledger_code": "4000", "item_id": "item-9"},
        {"description": "Labour", "quantity": "1.5", "unit_price": 60, "discount": "5.00", "tax_code": "S"},
    ],
    # 71.00 + 85.00 = 156.00 net; 14.20 + 17.00 = 31.20 tax
    "totals": {"net": "156.00", "tax": "31.20", "total": "187.20"},
}

PAYMENT: dict[str, Any] = {
    "host_id": "pay-55",
    "party_id": "cust-7",
    "payment_date": "2025-03-10",
    "amount": "187.20",
    "currency": "GBP",
    "method": "card",
    "reference": "Card ending 4242",
    "allocations": [{"kind": "sales_invoice", "host_id": "inv-1001", "amount": "187.20"}],
}


@pytest.fixture
def sage_tax_rates() -> dict[str, Decimal]:
    """Sage's tax rates by id, with their percentages."""
    return dict(SAGE_TAX_RATES)


@pytest.fixture
def settings() -> TenantSettings:
    return TenantSettings(
        provider="sage_accounting",
        tax_mappings={"S": "GB_STANDARD", "Z": "GB_ZERO"},
        ledger_mappings={"4000": "ledger-sales-parts"},
        default_sales_ledger_account_id="ledger-sales",
        default_purchase_ledger_account_id="ledger-purchases",
    )


@pytest.fixture
def invoice_data() -> Callable[..., dict[str, Any]]:
    """A fresh copy of the invoice as JSON-ish data, with top-level fields replaced."""

    def make(**changes: Any) -> dict[str, Any]:
        return {**copy.deepcopy(INVOICE), **changes}

    return make


@pytest.fixture
def invoice(invoice_data: Callable[..., dict[str, Any]]) -> Callable[..., SalesInvoice]:
    def make(**changes: Any) -> SalesInvoice:
        return SalesInvoice.model_validate(invoice_data(**changes))

    return make


@pytest.fixture
def payment() -> Callable[..., CustomerPayment]:
    def make(**changes: Any) -> CustomerPayment:
        return CustomerPayment.model_validate({**copy.deepcopy(PAYMENT), **changes})

    return make
