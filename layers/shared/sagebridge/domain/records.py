"""From a kind to its model: how stores and handlers turn staged JSON back into a canonical record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from sagebridge.domain.documents import PurchaseCreditNote, PurchaseInvoice, SalesCreditNote, SalesInvoice
from sagebridge.domain.kinds import DocumentKind, PartyKind, RecordKind
from sagebridge.domain.parties import Customer, Vendor
from sagebridge.domain.payments import CustomerPayment, CustomerRefund

HostRecord = (
    Customer | Vendor | SalesInvoice | SalesCreditNote | PurchaseInvoice | PurchaseCreditNote
    | CustomerPayment | CustomerRefund
)

MODEL_FOR_KIND: Mapping[RecordKind, type[BaseModel]] = {
    PartyKind.CUSTOMER: Customer,
    PartyKind.VENDOR: Vendor,
    DocumentKind.SALES_INVOICE: SalesInvoice,
    DocumentKind.SALES_CREDIT_NOTE: SalesCreditNote,
    DocumentKind.PURCHASE_INVOICE: PurchaseInvoice,
    DocumentKind.PURCHASE_CREDIT_NOTE: PurchaseCreditNote,
    DocumentKind.CUSTOMER_PAYMENT: CustomerPayment,
    DocumentKind.CUSTOMER_REFUND: CustomerRefund,
}


def parse_host_record(kind: RecordKind, data: Mapping[str, Any] | str | bytes) -> HostRecord:
    """Validate a host record of the given kind from a mapping or JSON text; ValidationError names
    the bad fields (see describe_problems)."""
    model = MODEL_FOR_KIND[kind]
    record = model.model_validate_json(data) if isinstance(data, str | bytes) else model.model_validate(data)
    return record  # type: ignore[return-value]  # MODEL_FOR_KIND only holds HostRecord types
