"""Typed events of the Sage Bridge host contract, generated from docs/schemas by
clients/python/generate_events.py (do not edit; a test fails when it is stale).

Outbound events (what Sage Bridge delivers to your callback URL) are named after their type:
`invoice.part_paid` -> InvoicePartPaidEvent. Inbound ones (what you send) start with In.
Amounts are decimal strings. New optional fields and event types may appear in a minor version:
ignore what you do not know."""

# ruff: noqa: E501  (generated: an enum is one Literal on one line)
from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class InCreditNoteUpsertedEvent(TypedDict):
    data: InSalesCreditNote
    id: str
    occurred_at: str
    type: Literal["credit_note.upserted"]


class InSalesCreditNote(TypedDict):
    adjustment_amount: NotRequired[float | str]
    currency: str
    document_date: str
    due_date: NotRequired[str | None]
    exchange_rate: NotRequired[float | str | None]
    host_id: str
    invoice_id: NotRequired[str | None]
    lines: list[InDocumentLine]
    number: str
    party: NotRequired[InCustomer | None]
    party_id: str
    posting_date: NotRequired[str | None]
    reference: NotRequired[str | None]
    status: str
    tax_mode: NotRequired[Literal["line", "header"]]
    totals: InTotals
    updated_at: NotRequired[str | None]
    version: NotRequired[int | None]


class InDocumentLine(TypedDict):
    description: str
    discount: NotRequired[float | str]
    extra_taxes: NotRequired[list[InExtraTax]]
    item_id: NotRequired[str | None]
    ledger_code: NotRequired[str | None]
    quantity: NotRequired[float | str]
    tax_amount: NotRequired[float | str | None]
    tax_code: NotRequired[str | None]
    unit_price: float | str


class InExtraTax(TypedDict):
    """A second (third...) tax on one line. Sage allows one, so its presence is a skip reason."""
    tax_amount: NotRequired[float | str | None]
    tax_code: str


class InCustomer(TypedDict):
    address: NotRequired[InAddress | None]
    company: NotRequired[str | None]
    currency: NotRequired[str | None]
    email: NotRequired[str | None]
    host_id: str
    name: str
    phone: NotRequired[str | None]
    tax_number: NotRequired[str | None]
    updated_at: NotRequired[str | None]
    version: NotRequired[int | None]


class InAddress(TypedDict):
    city: NotRequired[str | None]
    country_code: NotRequired[str | None]
    lines: NotRequired[list[str]]
    postcode: NotRequired[str | None]
    region: NotRequired[str | None]


class InTotals(TypedDict):
    """A document's net, tax and gross total: the host's own, or the ones we compute."""
    net: float | str
    tax: float | str
    total: float | str


class InCustomerUpsertedEvent(TypedDict):
    data: InCustomer
    id: str
    occurred_at: str
    type: Literal["customer.upserted"]


class InDocumentVoidedEvent(TypedDict):
    data: InVoidedDocument
    id: str
    occurred_at: str
    type: Literal["document.voided"]


class InVoidedDocument(TypedDict):
    """A document the host cancelled: it must not be exported (or, if it was, be flagged)."""
    host_id: str
    kind: Literal["sales_invoice", "sales_credit_note", "purchase_invoice", "purchase_credit_note", "customer_payment", "customer_refund"]
    reason: NotRequired[str | None]
    version: NotRequired[int | None]


class InInvoiceUpsertedEvent(TypedDict):
    data: InSalesInvoice
    id: str
    occurred_at: str
    type: Literal["invoice.upserted"]


class InSalesInvoice(TypedDict):
    adjustment_amount: NotRequired[float | str]
    currency: str
    document_date: str
    due_date: NotRequired[str | None]
    exchange_rate: NotRequired[float | str | None]
    host_id: str
    lines: list[InDocumentLine]
    number: str
    party: NotRequired[InCustomer | None]
    party_id: str
    posting_date: NotRequired[str | None]
    reference: NotRequired[str | None]
    status: str
    tax_mode: NotRequired[Literal["line", "header"]]
    totals: InTotals
    updated_at: NotRequired[str | None]
    version: NotRequired[int | None]


class InPaymentRecordedEvent(TypedDict):
    data: InCustomerPayment
    id: str
    occurred_at: str
    type: Literal["payment.recorded"]


class InCustomerPayment(TypedDict):
    allocations: NotRequired[list[InAllocation]]
    amount: float | str
    currency: str
    exchange_rate: NotRequired[float | str | None]
    host_id: str
    method: NotRequired[str | None]
    party: NotRequired[InCustomer | None]
    party_id: str
    payment_date: str
    reference: NotRequired[str | None]
    updated_at: NotRequired[str | None]
    version: NotRequired[int | None]


class InAllocation(TypedDict):
    """Part of a payment or refund set against one document."""
    amount: float | str
    host_id: str
    kind: Literal["sales_invoice", "sales_credit_note", "purchase_invoice", "purchase_credit_note", "customer_payment", "customer_refund"]


class InPurchaseCreditNoteUpsertedEvent(TypedDict):
    data: InPurchaseCreditNote
    id: str
    occurred_at: str
    type: Literal["purchase_credit_note.upserted"]


class InPurchaseCreditNote(TypedDict):
    adjustment_amount: NotRequired[float | str]
    currency: str
    document_date: str
    due_date: NotRequired[str | None]
    exchange_rate: NotRequired[float | str | None]
    host_id: str
    invoice_id: NotRequired[str | None]
    lines: list[InDocumentLine]
    number: str
    party: NotRequired[InVendor | None]
    party_id: str
    posting_date: NotRequired[str | None]
    reference: NotRequired[str | None]
    status: str
    tax_mode: NotRequired[Literal["line", "header"]]
    totals: InTotals
    updated_at: NotRequired[str | None]
    version: NotRequired[int | None]


class InVendor(TypedDict):
    address: NotRequired[InAddress | None]
    company: NotRequired[str | None]
    currency: NotRequired[str | None]
    email: NotRequired[str | None]
    host_id: str
    name: str
    phone: NotRequired[str | None]
    tax_number: NotRequired[str | None]
    updated_at: NotRequired[str | None]
    version: NotRequired[int | None]


class InPurchaseInvoiceUpsertedEvent(TypedDict):
    data: InPurchaseInvoice
    id: str
    occurred_at: str
    type: Literal["purchase_invoice.upserted"]


class InPurchaseInvoice(TypedDict):
    adjustment_amount: NotRequired[float | str]
    currency: str
    document_date: str
    due_date: NotRequired[str | None]
    exchange_rate: NotRequired[float | str | None]
    host_id: str
    lines: list[InDocumentLine]
    number: str
    party: NotRequired[InVendor | None]
    party_id: str
    posting_date: NotRequired[str | None]
    reference: NotRequired[str | None]
    status: str
    tax_mode: NotRequired[Literal["line", "header"]]
    totals: InTotals
    updated_at: NotRequired[str | None]
    version: NotRequired[int | None]


class InRefundRecordedEvent(TypedDict):
    data: InCustomerRefund
    id: str
    occurred_at: str
    type: Literal["refund.recorded"]


class InCustomerRefund(TypedDict):
    allocations: NotRequired[list[InAllocation]]
    amount: float | str
    currency: str
    exchange_rate: NotRequired[float | str | None]
    host_id: str
    method: NotRequired[str | None]
    party: NotRequired[InCustomer | None]
    party_id: str
    payment_date: str
    reference: NotRequired[str | None]
    updated_at: NotRequired[str | None]
    version: NotRequired[int | None]


class InVendorUpsertedEvent(TypedDict):
    data: InVendor
    id: str
    occurred_at: str
    type: Literal["vendor.upserted"]


class ConnectionStatusChangedEvent(TypedDict):
    api_version: NotRequired[str]
    data: ConnectionStatusChanged
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["connection.status_changed"]


class ConnectionStatusChanged(TypedDict):
    """The tenant's connection to Sage changed: `connected` (or connected to another business), `expiring` (a grant
    that cannot be extended ends in `days_left` days), `expired` (Sage no longer accepts the sign-in: revoked or
    run out), `disconnected`. Sent once per change."""
    business_name: NotRequired[str | None]
    days_left: NotRequired[int | None]
    previous_status: NotRequired[str | None]
    provider: str
    reason: NotRequired[str | None]
    reconnect_hint: NotRequired[str | None]
    status: Literal["connected", "expiring", "expired", "revoked", "disconnected"]


class CreditNoteRefundReversedEvent(TypedDict):
    api_version: NotRequired[str]
    data: CreditNoteRefundReversed
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["credit_note.refund_reversed"]


class CreditNoteRefundReversed(TypedDict):
    """A refund against a credit note was deleted or changed in Sage. Added for the payment poller."""
    credit_note: DocumentLink
    outstanding_amount: str
    reason: Literal["deleted", "changed"]
    refund_sage_id: str
    reversed_amount: str


class DocumentLink(TypedDict):
    """A document known on both sides."""
    host_id: NotRequired[str | None]
    kind: Literal["sales_invoice", "sales_credit_note", "purchase_invoice", "purchase_credit_note", "customer_payment", "customer_refund"]
    number: NotRequired[str | None]
    sage_id: str


class CreditNoteRefundedEvent(TypedDict):
    api_version: NotRequired[str]
    data: CreditNoteRefunded
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["credit_note.refunded"]


class CreditNoteRefunded(TypedDict):
    credit_note: DocumentLink
    outstanding_amount: str
    refund: MoneyMovement


class MoneyMovement(TypedDict):
    """A payment or refund as Sage recorded it."""
    amount: str
    currency: str
    date: str
    host_id: NotRequired[str | None]
    method: NotRequired[str | None]
    reference: NotRequired[str | None]
    sage_id: str


class CustomerUpsertedEvent(TypedDict):
    api_version: NotRequired[str]
    data: SageCustomer
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["customer.upserted"]


class SageCustomer(TypedDict):
    """A customer (Sage 'contact') created or changed in Sage."""
    address: NotRequired[Address | None]
    company: NotRequired[str | None]
    currency: NotRequired[str | None]
    email: NotRequired[str | None]
    host_id: NotRequired[str | None]
    name: str
    origin: NotRequired[Literal["sage", "host"]]
    phone: NotRequired[str | None]
    sage_id: str
    tax_number: NotRequired[str | None]
    updated_at: NotRequired[str | None]
    version: NotRequired[int | None]


class Address(TypedDict):
    city: NotRequired[str | None]
    country_code: NotRequired[str | None]
    lines: NotRequired[list[str]]
    postcode: NotRequired[str | None]
    region: NotRequired[str | None]


class DocumentExportedEvent(TypedDict):
    api_version: NotRequired[str]
    data: DocumentExported
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["document.exported"]


class DocumentExported(TypedDict):
    """A document (or payment, refund) is in Sage now: once per version exported. `outcome` says how: `created` by
    Sage Bridge, `updated` (a newer version sent to Sage's copy), `linked` (found already in Sage, entered by hand
    or by an earlier attempt that was cut off, and adopted rather than created again) or `voided` (voided, or
    deleted where Sage deletes that kind, in Sage)."""
    host_id: str
    kind: str
    number: NotRequired[str | None]
    outcome: Literal["created", "updated", "linked", "voided"]
    run_id: str
    sage_id: str


class DocumentSkippedEvent(TypedDict):
    api_version: NotRequired[str]
    data: DocumentSkipped
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["document.skipped"]


class DocumentSkipped(TypedDict):
    """A document was not exported because something needs fixing first; every reason is listed."""
    host_id: str
    kind: str
    number: NotRequired[str | None]
    reasons: list[SkipReason]
    run_id: str


class SkipReason(TypedDict):
    code: Literal["currency_mismatch", "multiple_taxes_on_line", "tax_code_not_mapped", "tax_rate_missing_in_sage", "ledger_account_not_mapped", "adjustment_amount", "header_tax_mode", "totals_mismatch", "allocation_not_exported", "already_paid_in_sage", "party_missing", "bank_account_not_set", "locked_in_sage", "mapping_not_usable", "not_supported", "status_not_exportable", "already_in_sage_on_another_contact", "in_sage_by_hand", "already_in_sage_different", "several_in_sage", "changed_after_export", "waiting_for_sage"]
    field: NotRequired[str | None]
    message: str


class ExportFailedEvent(TypedDict):
    api_version: NotRequired[str]
    data: ExportFailed
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["export.failed"]


class ExportFailed(TypedDict):
    """A document could not be exported; `will_retry` says if the next run tries again."""
    attempts: int
    host_id: str
    kind: str
    number: NotRequired[str | None]
    reason: str
    reason_code: str
    run_id: str
    will_retry: bool


class ExportRunFailedEvent(TypedDict):
    api_version: NotRequired[str]
    data: ExportRunFailed
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["export.run_failed"]


class ExportRunFailed(TypedDict):
    """An export run failed because of the tenant's setup (settings Sage Bridge cannot read, a business currency it
    cannot tell...); what it had not sent waits for a later run. Sent once per distinct reason; scheduled runs
    keep trying and carry on once the setup is fixed."""
    reason: str
    reason_code: NotRequired[Literal["configuration"]]
    run_id: str


class InvoicePaidEvent(TypedDict):
    api_version: NotRequired[str]
    data: InvoicePaid
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["invoice.paid"]


class InvoicePaid(TypedDict):
    invoice: DocumentLink
    outstanding_amount: NotRequired[str]
    paid_on: NotRequired[str | None]
    total_amount: str


class InvoicePartPaidEvent(TypedDict):
    api_version: NotRequired[str]
    data: InvoicePartPaid
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["invoice.part_paid"]


class InvoicePartPaid(TypedDict):
    invoice: DocumentLink
    outstanding_amount: str
    total_amount: str


class InvoicePaymentReceivedEvent(TypedDict):
    api_version: NotRequired[str]
    data: InvoicePaymentReceived
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["invoice.payment_received"]


class InvoicePaymentReceived(TypedDict):
    """Money was set against an invoice in Sage (one event per payment allocation)."""
    allocated_amount: str
    invoice: DocumentLink
    outstanding_amount: str
    payment: MoneyMovement


class InvoicePaymentReversedEvent(TypedDict):
    api_version: NotRequired[str]
    data: InvoicePaymentReversed
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["invoice.payment_reversed"]


class InvoicePaymentReversed(TypedDict):
    """A payment (or credit note allocation) set against an invoice was deleted or changed in Sage: the money told
    earlier in invoice.payment_received no longer counts. Added for the payment poller."""
    invoice: DocumentLink
    outstanding_amount: str
    payment_sage_id: str
    reason: Literal["deleted", "changed"]
    reversed_amount: str


class ItemUpsertedEvent(TypedDict):
    api_version: NotRequired[str]
    data: SageItem
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["item.upserted"]


class SageItem(TypedDict):
    """An item (product or service) as Sage holds it."""
    active: NotRequired[bool]
    code: str
    description: NotRequired[str]
    host_id: NotRequired[str | None]
    item_type: NotRequired[Literal["product", "service"]]
    purchase_ledger_code: NotRequired[str | None]
    purchase_price: NotRequired[str | None]
    sage_id: str
    sales_ledger_code: NotRequired[str | None]
    sales_price: NotRequired[str | None]
    tax_code: NotRequired[str | None]
    updated_at: NotRequired[str | None]


class TaxRateUpsertedEvent(TypedDict):
    api_version: NotRequired[str]
    data: SageTaxRate
    id: str
    occurred_at: str
    tenant_id: str
    type: Literal["tax_rate.upserted"]


class SageTaxRate(TypedDict):
    active: NotRequired[bool]
    code: str
    name: str
    percentage: str
    replace_host_tax_types: NotRequired[bool]
    sage_id: str
    updated_at: NotRequired[str | None]


OUTBOUND_EVENTS: dict[str, Any] = {
    'connection.status_changed': ConnectionStatusChangedEvent,
    'credit_note.refund_reversed': CreditNoteRefundReversedEvent,
    'credit_note.refunded': CreditNoteRefundedEvent,
    'customer.upserted': CustomerUpsertedEvent,
    'document.exported': DocumentExportedEvent,
    'document.skipped': DocumentSkippedEvent,
    'export.failed': ExportFailedEvent,
    'export.run_failed': ExportRunFailedEvent,
    'invoice.paid': InvoicePaidEvent,
    'invoice.part_paid': InvoicePartPaidEvent,
    'invoice.payment_received': InvoicePaymentReceivedEvent,
    'invoice.payment_reversed': InvoicePaymentReversedEvent,
    'item.upserted': ItemUpsertedEvent,
    'tax_rate.upserted': TaxRateUpsertedEvent,
}
INBOUND_EVENTS: dict[str, Any] = {
    'credit_note.upserted': InCreditNoteUpsertedEvent,
    'customer.upserted': InCustomerUpsertedEvent,
    'document.voided': InDocumentVoidedEvent,
    'invoice.upserted': InInvoiceUpsertedEvent,
    'payment.recorded': InPaymentRecordedEvent,
    'purchase_credit_note.upserted': InPurchaseCreditNoteUpsertedEvent,
    'purchase_invoice.upserted': InPurchaseInvoiceUpsertedEvent,
    'refund.recorded': InRefundRecordedEvent,
    'vendor.upserted': InVendorUpsertedEvent,
}
