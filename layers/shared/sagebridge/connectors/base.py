"""The protocols every Sage product implements (`Connector`, and the `Mapper` it brings), and the
errors they all raise.

The export engine and the payment poller talk to `Connector` only. Bodies are the provider's own
`Payload` (each product's mapper builds them from the canonical domain models); what comes back is a
`RemoteRecord`: the provider's id, its reference and the raw data for the mapper to read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from sagebridge.connectors import mapping
from sagebridge.connectors.mapping import MappedDocument, Payload, TaxTable
from sagebridge.connectors.product import LinkConnect, Login, LoginConnect, Product
from sagebridge.domain.errors import NotFoundError, SageBridgeError, ThrottledError
from sagebridge.domain.kinds import DocumentKind, PartyKind, RecordKind
from sagebridge.domain.settings import TenantSettings

if TYPE_CHECKING:  # annotations only: a scheduler's cold start does not build the document models
    from sagebridge.domain.documents import AnyDocument
    from sagebridge.domain.parties import Party
    from sagebridge.domain.payments import Payment
    from sagebridge.domain.remote import (
        DocumentBalance,
        RemoteCustomer,
        RemoteItem,
        RemotePayment,
        RemoteTaxRate,
        Removed,
    )

# --------------------------------------------------------------------------------------------- errors


class SageError(SageBridgeError):
    """Sage refused or failed a request. Carries what Sage said, never a token or a request body."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        data_code: str | None = None,
        source: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.data_code = data_code
        self.source = source
        self.request_id = request_id

    def __str__(self) -> str:
        bits = [self.message]
        if self.status is not None:
            bits.append(f"status={self.status}")
        if self.data_code:
            bits.append(f"code={self.data_code}")
        if self.source:
            bits.append(f"source={self.source}")
        if self.request_id:
            bits.append(f"request_id={self.request_id}")
        return " ".join(bits)


class AuthError(SageError):
    """401: the access token was refused (and one refresh did not help)."""


class GrantRevoked(AuthError):
    """The tenant's grant is gone (invalid_grant at the token endpoint, 403 on the API): the
    connection is dead until the tenant reconnects. Retrying cannot help."""


class LoginRefused(SageError):
    """Sage refused the login a person typed in to connect (wrong details, or an authorisation the
    company must give first): their input to fix, nothing was saved."""


class NotConnected(SageError):
    """The tenant has no usable connection (never connected, expired or disconnected)."""


class NotFound(SageError, NotFoundError):
    """404: no such record in the tenant's Sage business."""


class RecordInvalid(SageError):
    """422: Sage rejected the record; `message` is Sage's own readable reason(s)."""


class RateLimited(SageError, ThrottledError):
    """429: too many requests; `retry_after` (seconds) is Sage's hint when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class SageUnavailable(SageError):
    """5xx or a transport failure on a request that is safe to try again later."""


class NotSupported(SageError):
    """The Sage product cannot do what was asked (for example update a contact of a kind it does
    not hold); `message` says so in words a user can act on. Retrying cannot help."""


class UncertainWrite(SageError):
    """A write (POST/PUT/DELETE) was sent and its outcome is unknown (timeout, dropped connection,
    gateway error). The caller must look the record up in Sage (by reference) before any resend."""


def error_for_status(status: int, message: str, *, retry_after: float | None = None, **kwargs: Any) -> SageError:
    """The typed error of an HTTP error status from a Sage REST API (Sage Accounting, Sage 200):
    401 auth, 403 grant revoked, 404 not found, 400/409/422 invalid record, 429 rate limited (with
    Sage's `retry_after` hint), 5xx unavailable, anything else a plain `SageError`. `kwargs` are
    `SageError`'s (data_code, source, request_id); `status` is set from the first argument."""
    kwargs["status"] = status
    if status == 401:
        return AuthError(message, **kwargs)
    if status == 403:
        return GrantRevoked(message, **kwargs)
    if status == 404:
        return NotFound(message, **kwargs)
    if status in (400, 409, 422):
        return RecordInvalid(message, **kwargs)
    if status == 429:
        return RateLimited(message, retry_after=retry_after, **kwargs)
    if status >= 500:
        return SageUnavailable(message, **kwargs)
    return SageError(message, **kwargs)


# ---------------------------------------------------------------------------------------------- model


def iso_currency(value: Any) -> str | None:
    """An ISO 4217 code out of what Sage wrote ("GBP", " eur", "Pound Sterling (GBP)"), else None."""
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    if len(text) == 3 and text.isascii() and text.isalpha():
        return text
    found = re.search(r"\(([A-Z]{3})\)\s*$", text)
    return found.group(1) if found else None


@dataclass(frozen=True)
class RemoteRecord:
    """A record as the provider returned it. `data` is the provider's JSON (money as Decimal)."""

    id: str
    reference: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # A ledger account the product will not post on one side of the books: ledger (a PartyKind
    # value, "customer" | "vendor") -> why, naming the product's flag. Filled by the connector.
    unusable_for: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_sage(cls, data: Mapping[str, Any]) -> RemoteRecord:
        return cls(id=str(data.get("id", "")), reference=data.get("reference"), data=data)

    # What the engines read of any record, whatever the product: each connector gives its records in
    # the one shape these read (Sage Accounting's names; the others normalise to them), and engines
    # read a record through these or its product's mapper, never `data` itself.

    @property
    def display_name(self) -> str | None:
        """The record's name as Sage shows it (a contact, tax rate, ledger or bank account)."""
        name = self.data.get("displayed_as") or self.data.get("name")
        return str(name) if name else None

    @property
    def version(self) -> str | None:
        """Sage's change stamp of the record (its last update), exactly as Sage wrote it."""
        stamp = self.data.get("updated_at")
        return str(stamp) if stamp else None

    @property
    def active(self) -> bool:
        """False when Sage has switched the record off (hidden, out of the chart, inactive)."""
        flags = ("is_visible", "included_in_chart", "is_active", "active")
        return not any(self.data.get(flag) is False for flag in flags)

    @property
    def live(self) -> bool:
        """False once Sage holds the record as voided or deleted."""
        status = self.data.get("status")
        status_id = (status.get("id") if isinstance(status, Mapping) else status) or ""
        return str(status_id).upper() not in {"VOID", "VOIDED", "DELETED"} and not self.data.get("void_reason") \
            and not self.data.get("deleted_at")

    def text(self, name: str) -> str | None:
        """One more field of the shared shape as text (a tax rate's `percentage`, an account's
        `nominal_code`), None when the record has none."""
        value = self.data.get(name)
        return None if value is None else str(value)


@dataclass(frozen=True)
class CheckedMapping:
    """A map of the tenant's settings (host code -> Sage id) that the mapping health check holds
    against Sage, as a product declares it (`Connector.checked_mappings`): a map of the product's
    own (Intacct's purchase tax details), or which of Sage's records a shared map may point at.
    Data only: the check reads the settings and Sage's lists itself."""

    setting: str  # its path in the tenant settings: "tax_mappings", "intacct.purchase_tax_mappings"
    points_at: Literal["tax_rate", "ledger_account", "bank_account"]  # the Sage list its ids are in
    used_by: frozenset[RecordKind]  # checked while the tenant exports one of these kinds
    # Only records whose `type_field` (RemoteRecord.text) is one of `types` serve; a record of
    # another type is a wrong-type mapping, `wrong_type` saying what it is in the product's words.
    # A record that says no type serves either way.
    type_field: str | None = None
    types: frozenset[str] = frozenset()
    wrong_type: str = "not of a type this setting takes"
    # Each code the shared map `codes_of` maps to a rate above zero needs an entry in this one too
    # (a document with that code is skipped until it has one).
    codes_of: str | None = None


# ------------------------------------------------------------------------------------------- protocol

class TaxTableReader(Protocol):
    """How a mapper reads its product's tax rates (`TaxTable.from_records`, a classmethod)."""

    def from_records(self, records: Iterable[RemoteRecord]) -> mapping.TaxTable: ...


@runtime_checkable
class Mapper(Protocol):
    """Canonical domain -> a product's payloads, and its records read back: exactly what the export
    engine and the reconciliation ask of a product's mapper (a module, brought by its connector as
    `Connector.mapper`). Pure: no I/O, no clock."""

    # What the product calls things, and what it takes (read-only: each mapper's constants).
    @property
    def CONTACT_TYPE(self) -> Mapping[PartyKind, str]: ...  # the contact_type a lookup filters by

    @property
    def PAYMENT_TYPE(self) -> Mapping[DocumentKind, str]: ...  # remote_transaction_type of a payment kind

    # What a receipt or refund may be allocated to, and the sign the product wants on the amount.
    @property
    def ALLOCATION_SIGN(self) -> Mapping[DocumentKind, Mapping[DocumentKind, int]]: ...

    # False: the product posts the host's header totals (a penny of rounding on a line), not the lines'.
    @property
    def TOTALS_FROM_LINES(self) -> bool: ...

    # Why the product will not change a document it holds (`remote_editable` False), in its own words:
    # what follows "<document> " in the skip reason the host sees.
    @property
    def LOCKED(self) -> str: ...

    # The kinds the product never takes, each with the reason the host sees (empty: every kind).
    @property
    def NOT_EXPORTED(self) -> Mapping[RecordKind, str]: ...

    @property
    def TaxTable(self) -> TaxTableReader: ...

    # references: deterministic, so a write whose answer was lost is found again
    def contact_reference(self, kind: PartyKind, host_id: str) -> str: ...

    def payment_reference(self, payment: Payment) -> str: ...

    # bodies
    def contact_body(self, party: Party, *, business_currency: str) -> Payload: ...

    def contact_update_body(self, party: Party, *, business_currency: str) -> Payload: ...

    def document_body(self, doc: AnyDocument, *, contact_id: str, settings: TenantSettings, taxes: mapping.TaxTable,
                      business_currency: str) -> MappedDocument: ...

    def void_reason(self, doc: AnyDocument | None, host_id: str) -> str: ...

    def payment_body(self, payment: Payment, *, contact_id: str,
                     allocations: Iterable[tuple[DocumentKind, str, Decimal]], bank_account_id: str,
                     settings: TenantSettings, business_currency: str) -> Payload: ...

    # `kind`: the credit note's (sales or purchase); the body sets it against an invoice of its side.
    def credit_note_allocation_body(self, *, contact_id: str, invoice_id: str, credit_note_id: str,
                                    amount: Decimal, on: date,
                                    kind: DocumentKind = DocumentKind.SALES_CREDIT_NOTE) -> Payload: ...

    # reading the product's records back
    def contact_matches(self, record: RemoteRecord, party: Party) -> bool: ...

    def remote_total(self, record: RemoteRecord) -> Decimal: ...

    def remote_outstanding(self, record: RemoteRecord) -> Decimal: ...

    def remote_paid(self, record: RemoteRecord) -> Decimal: ...

    def remote_contact_id(self, record: RemoteRecord) -> str | None: ...

    def remote_contact_name(self, record: RemoteRecord) -> str | None: ...

    def remote_date(self, record: RemoteRecord) -> date | None: ...

    def remote_status(self, record: RemoteRecord) -> str | None: ...  # "VOID" once voided

    def remote_editable(self, record: RemoteRecord) -> bool: ...

    def remote_transaction_type(self, record: RemoteRecord) -> str | None: ...

    def is_same_document(self, record: RemoteRecord, *, reference: str, contact_id: str | None, total: Decimal,
                         on: date | None = None) -> bool: ...


@runtime_checkable
class Connector(Protocol):
    """What the engines need from any Sage product. `idempotency_key` is the ledger's deterministic
    key; each connector passes it through the provider's own idempotency mechanism."""

    provider: str
    mapper: Mapper  # builds the bodies this connector sends and reads its records back
    # What the product declares about itself, read by the export engine and the status check:
    not_exported: Mapping[RecordKind, str]  # kinds it never takes -> the reason the host sees (empty: all)
    creates_idempotent: bool  # Sage refuses a second create with the same idempotency key (a resend is harmless)
    search_settle: timedelta  # how long its lists/searches may lag a create (a miss sooner may still be there)
    # Whether a document voided in the host is voided (or reversed) in Sage by this product, or at least
    # told how to reverse it there: the way out offered for a paid document that changed depends on it.
    voids_documents: bool
    # The settings maps its documents need, beyond what every product's do (tax_mappings, ledger
    # mappings), or the records a shared map may point at: what the mapping health check holds
    # against Sage besides the shared maps (empty: nothing more).
    checked_mappings: tuple[CheckedMapping, ...]

    # contacts (customers and vendors)
    def find_contacts(
        self, *, name: str | None = None, email: str | None = None, reference: str | None = None,
        contact_type: str | None = None,
    ) -> list[RemoteRecord]: ...

    def create_contact(self, body: Payload, *, idempotency_key: str | None = None) -> RemoteRecord: ...

    # A changed customer or vendor: `body` is the mapper's `contact_update_body` (no reference, no
    # contact type: Sage keeps its own for a contact linked by name or email). A PUT: safe to
    # repeat. Raises `NotSupported` where the product cannot update that contact.
    def update_contact(self, sage_id: str, body: Payload) -> RemoteRecord: ...

    # documents, by kind (invoices, credit notes, purchase documents)
    def create_document(
        self, kind: DocumentKind, body: Payload, *, idempotency_key: str | None = None
    ) -> RemoteRecord: ...

    def update_document(self, kind: DocumentKind, remote_id: str, body: Payload) -> RemoteRecord: ...

    def void_document(self, kind: DocumentKind, remote_id: str, *, reason: str) -> RemoteRecord: ...

    def get_document(self, kind: DocumentKind, remote_id: str) -> RemoteRecord: ...

    def find_documents_by_reference(self, kind: DocumentKind, reference: str) -> list[RemoteRecord]: ...

    # Added for the export engine (going live): every document of a kind dated in a range, with at
    # least reference, contact, total and date, page by page. Connectors without a cheap listing
    # may leave it out; the engine then looks documents up one by one.
    def list_documents(
        self, kind: DocumentKind, *, from_date: date | None = None, to_date: date | None = None
    ) -> Iterator[RemoteRecord]: ...

    # money movements
    def create_payment(self, body: Payload, *, idempotency_key: str | None = None) -> RemoteRecord: ...

    def create_allocation(
        self, body: Payload, *, idempotency_key: str | None = None
    ) -> RemoteRecord: ...

    # Take back an allocation Sage Bridge made (`create_allocation`) of a credit note (`kind`, sales
    # or purchase) against its invoice, so the credit note can be voided: the invoice owes again.
    # Raises NotFound when it is gone already, and NotSupported, with what to do in the product,
    # where the product's API cannot remove an allocation.
    def remove_allocation(self, kind: DocumentKind, allocation_id: str, *, credit_note_id: str) -> None: ...

    # A product that cannot void documents (`voids_documents` False) tells the accountant to credit a
    # voided one in full in Sage; this says whether credit notes alone now settle the document whose
    # `total` the engine has read (False where the product voids documents itself).
    def credited_in_full(self, kind: DocumentKind, remote_id: str, *, total: Decimal) -> bool: ...

    def payments_changed_since(self, since: datetime) -> Iterator[RemoteRecord]: ...

    def allocations_changed_since(self, since: datetime) -> Iterator[RemoteRecord]: ...

    # reference data
    def list_tax_rates(self) -> Iterable[RemoteRecord]: ...

    def list_ledger_accounts(self) -> Iterable[RemoteRecord]: ...

    def list_bank_accounts(self) -> Iterable[RemoteRecord]: ...

    def list_items(self, *, changed_since: datetime | None = None) -> Iterable[RemoteRecord]: ...

    # The business's base (home) currency, ISO 4217, as Sage holds it: one cheap read, cached by the
    # caller (sagebridge.sync.currency). None when the product has no cheap way to say; the tenant
    # setting `business_currency` then decides.
    def business_currency(self) -> str | None: ...


class Feed(Protocol):
    """What the payment poller and the catalog import read from a product, as typed read models
    (sagebridge.domain.remote): what changed since a cursor, what was deleted, and one payment or
    document by id. Each product's feed reads its own records; a product without a kind of record
    (Sage 200 services, Intacct credit allocations) reads nothing for it. Feeds do no store or AWS I/O.
    `since` None: everything (a first catalog import)."""

    # money: customer receipts and refunds, credit notes set against invoices
    def payments_changed(self, since: datetime) -> Iterator[RemotePayment]: ...

    def allocations_changed(self, since: datetime) -> Iterator[RemotePayment]: ...

    def payments_deleted(self, since: datetime) -> Iterator[Removed]: ...

    def allocations_deleted(self, since: datetime) -> Iterator[Removed]: ...

    def payment(self, sage_id: str) -> RemotePayment: ...  # NotFound once deleted

    def allocation(self, sage_id: str) -> RemotePayment: ...  # NotFound once deleted

    # a sales invoice or credit note: its balance and what settled it, in order
    def document(self, kind: DocumentKind, sage_id: str) -> DocumentBalance: ...

    # catalog
    def items_changed(self, since: datetime | None) -> Iterator[RemoteItem]: ...  # products, then services

    def tax_rates_changed(self, since: datetime | None) -> Iterator[RemoteTaxRate]: ...

    def customers_changed(self, since: datetime | None) -> Iterator[RemoteCustomer]: ...


def not_exported(connector: Connector) -> Mapping[RecordKind, str]:
    """The kinds a product never takes, each with the reason the host sees (empty: every kind)."""
    return connector.not_exported


def checked_mappings(connector: Connector) -> tuple[CheckedMapping, ...]:
    """The settings maps the product declares for the mapping health check (see `CheckedMapping`)."""
    return connector.checked_mappings


def creates_idempotent(connector: Connector) -> bool:
    """Does the product itself refuse to create a record twice for the same idempotency key (so a
    resend after a lost answer is harmless)?"""
    return connector.creates_idempotent


def voids_documents(connector: Connector) -> bool:
    """Is "void it in the host app and send it again" a way out on this product?"""
    return connector.voids_documents


def search_settle(connector: Connector) -> timedelta:
    """How long the product's list/search queries may lag a create: a record a lookup misses sooner
    than this after its create may still be there."""
    return connector.search_settle


__all__ = [
    "AuthError",
    "CheckedMapping",
    "Connector",
    "Feed",
    "GrantRevoked",
    "LinkConnect",
    "Login",
    "LoginConnect",
    "MappedDocument",
    "Mapper",
    "NotConnected",
    "NotFound",
    "NotSupported",
    "Payload",
    "Product",
    "RateLimited",
    "RecordInvalid",
    "RemoteRecord",
    "SageError",
    "SageUnavailable",
    "TaxTable",
    "TaxTableReader",
    "UncertainWrite",
    "checked_mappings",
    "creates_idempotent",
    "error_for_status",
    "iso_currency",
    "not_exported",
    "search_settle",
    "voids_documents",
]
