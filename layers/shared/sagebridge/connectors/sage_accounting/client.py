"""HTTP client for the Sage Accounting v3.1 API over an injected `httpx.Client`.

Requests go through the shared `connectors.http.Transport` (its docstring gives the retry policy
and why it is safe: never a blind resend of a write). What is Sage Accounting's own: errors are a
JSON array of {$severity,$dataCode,$message,$source}; the business is the `X-Business` header; and
Sage documents no `Retry-After`, so a 429 without one waits `throttle_backoff` seconds, doubling
per attempt (up to `max_retry_after`): Sage counts a minute, and a sub-second backoff would only be
refused again.

Money stays Decimal: JSON is parsed with `parse_float=Decimal` and written by `dumps`, which prints
a Decimal as a JSON number without passing through float.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Unpack
from urllib.parse import urljoin, urlsplit

import httpx

from sagebridge.connectors.base import (
    CheckedMapping,
    Mapper,
    NotFound,
    NotSupported,
    RemoteRecord,
    SageError,
    error_for_status,
    iso_currency,
)
from sagebridge.connectors.http import (
    RetryOptions,
    TokenProvider,
    Transport,
    error_entries,
    parse_retry_after,
    request_id,
)
from sagebridge.connectors.http import dumps as dumps  # the JSON codec: still importable from here
from sagebridge.connectors.http import loads as loads
from sagebridge.connectors.pacing import RequestPacer, pacer_for
from sagebridge.connectors.sage_accounting import mapper
from sagebridge.domain.kinds import DocumentKind, RecordKind
from sagebridge.observability import logger as logger  # the log the transport writes (tests patch it)

PROVIDER = "sage_accounting"
ITEMS_PER_PAGE = 200  # the API's maximum
_REQUEST_ID_HEADERS = ("x-request-id", "x-amzn-requestid", "request-id", "x-correlation-id")

# resource path -> the key the v3.1 API wraps a single record in
RESOURCES: dict[str, str] = {
    "contacts": "contact",
    "sales_invoices": "sales_invoice",
    "sales_credit_notes": "sales_credit_note",
    "purchase_invoices": "purchase_invoice",
    "purchase_credit_notes": "purchase_credit_note",
    "contact_payments": "contact_payment",
    "contact_allocations": "contact_allocation",
    "tax_rates": "tax_rate",
    "ledger_accounts": "ledger_account",
    "bank_accounts": "bank_account",
    "products": "product",
    "services": "service",
    "businesses": "business",
}
# Documents that Sage voids (DELETE with a void_reason) rather than deletes.
VOIDABLE = frozenset({"sales_invoices", "sales_credit_notes", "purchase_invoices", "purchase_credit_notes"})

DOCUMENT_RESOURCES: dict[DocumentKind, str] = {
    DocumentKind.SALES_INVOICE: "sales_invoices",
    DocumentKind.SALES_CREDIT_NOTE: "sales_credit_notes",
    DocumentKind.PURCHASE_INVOICE: "purchase_invoices",
    DocumentKind.PURCHASE_CREDIT_NOTE: "purchase_credit_notes",
    DocumentKind.CUSTOMER_PAYMENT: "contact_payments",
    DocumentKind.CUSTOMER_REFUND: "contact_payments",
}
_PAYMENT_TYPES = {DocumentKind.CUSTOMER_PAYMENT: "CUSTOMER_RECEIPT", DocumentKind.CUSTOMER_REFUND: "CUSTOMER_REFUND"}


# ------------------------------------------------------------------------------------------- helpers


def _request_id(response: httpx.Response) -> str | None:
    return request_id(response, _REQUEST_ID_HEADERS)


def error_from_response(response: httpx.Response) -> SageError:
    """Map a Sage error response (a JSON array of {$severity,$dataCode,$message,$source}) to a
    typed error with Sage's readable message(s)."""
    status = response.status_code
    request_id = _request_id(response)
    entries = error_entries(response)
    messages = []
    for e in entries:
        msg = str(e.get("$message") or e.get("message") or e.get("error_description") or e.get("error") or "")
        src = e.get("$source")
        messages.append(f"{src}: {msg}" if src and msg else msg)
    message = "; ".join(m for m in messages if m) or f"Sage answered HTTP {status}"
    first = entries[0] if entries else {}
    kwargs: dict[str, Any] = {
        "data_code": first.get("$dataCode"),
        "source": first.get("$source"),
        "request_id": request_id,
    }
    retry_after = parse_retry_after(response.headers.get("retry-after")) if status == 429 else None
    return error_for_status(status, message, retry_after=retry_after, **kwargs)


# -------------------------------------------------------------------------------------------- client


class SageAccountingClient:
    """One tenant's Sage Accounting business. Thread-safe as far as `httpx.Client` is."""

    provider = PROVIDER

    def __init__(
        self,
        http: httpx.Client,
        *,
        token_provider: TokenProvider,
        business_id: str | None = None,
        base_url: str = "https://api.accounting.sage.com/v3.1",
        throttle_backoff: float = 5.0,
        pacer: RequestPacer | None = None,
        requests_per_minute: float | None = None,
        **retry: Unpack[RetryOptions],
    ) -> None:
        # None: no pacing (429s are still honoured). requests_per_minute: the container's shared
        # pacer of this business; pacer: one given outright (tests, benchmarks).
        if pacer is None and requests_per_minute and business_id:
            pacer = pacer_for(business_id, requests_per_minute)
        self._pacer = pacer
        self._token = token_provider
        self.business_id = business_id
        self.base_url = base_url.rstrip("/")
        self._throttle_backoff = throttle_backoff
        self._transport = Transport(
            http, token_provider=token_provider, read_error=error_from_response,
            request_id_headers=_REQUEST_ID_HEADERS, throttle_wait=self._throttled_wait, pacer=pacer, **retry)

    # ---- transport

    def _throttled_wait(self, attempt: int) -> float:
        """A 429 without Retry-After: half to all of throttle_backoff x 2^(attempt-1), at most max_retry_after."""
        ceiling = min(self._transport.max_retry_after, self._throttle_backoff * 2 ** (attempt - 1))
        return ceiling * (0.5 + 0.5 * self._transport.jitter())

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        base_path = urlsplit(self.base_url).path.rstrip("/")
        if base_path and path.startswith(base_path + "/"):
            # `$next` links carry the API's own path prefix (/v3.1/...): join onto the origin.
            return urljoin(self.base_url + "/", path)
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        with_business: bool = True,
    ) -> Any:
        """One API call under the shared transport's retry policy; returns the parsed JSON (or None)."""
        headers = {"X-Business": self.business_id} if with_business and self.business_id else None
        return self._transport.request(method, self._url(path), params=params, body=body, headers=headers)

    # ---- generic resource operations

    @staticmethod
    def _wrapper(resource: str) -> str:
        try:
            return RESOURCES[resource]
        except KeyError:
            raise ValueError(f"unknown Sage Accounting resource {resource!r}") from None

    def create(self, resource: str, body: Mapping[str, Any], *, idempotency_id: str | None = None) -> dict[str, Any]:
        """POST a record. `body` is the record's attributes; the client wraps it as the API wants
        ({"sales_invoice": {...}}). `idempotency_id` (32 hex) makes Sage replay the first result of
        a repeated create instead of creating a second record."""
        record = dict(body)
        if idempotency_id:
            record["idempotency_id"] = idempotency_id
        return self.request("POST", resource, body={self._wrapper(resource): record})

    def update(self, resource: str, key: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("PUT", f"{resource}/{key}", body={self._wrapper(resource): dict(body)})

    def get(self, resource: str, key: str, **params: Any) -> dict[str, Any]:
        self._wrapper(resource)
        return self.request("GET", f"{resource}/{key}", params=_params(params) or None,
                            with_business=resource != "businesses")

    def delete(self, resource: str, key: str, *, void_reason: str | None = None) -> Any:
        """DELETE a record; for documents that have been issued Sage voids them and needs a reason."""
        params = {"void_reason": void_reason} if void_reason else None
        return self.request("DELETE", f"{resource}/{key}", params=params)

    def void(self, resource: str, key: str, *, reason: str) -> Any:
        if resource not in VOIDABLE:
            raise ValueError(f"{resource} cannot be voided")
        return self.delete(resource, key, void_reason=reason)

    def iterate(self, resource: str, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every record of a list, following `$next` page by page (200 per page)."""
        self._wrapper(resource)
        params = _params(filters)
        params.setdefault("items_per_page", ITEMS_PER_PAGE)
        with_business = resource != "businesses"
        page: Any = self.request("GET", resource, params=params, with_business=with_business)
        seen: set[str] = set()
        while True:
            if isinstance(page, list):  # the spec's shape; the live API wraps lists (specs README)
                yield from page
                return
            yield from page.get("$items") or []
            nxt = page.get("$next")
            if not nxt or nxt in seen:  # past the end the API repeats the last page
                return
            seen.add(nxt)
            page = self.request("GET", nxt, with_business=with_business)

    def list(self, resource: str, **filters: Any) -> builtins.list[dict[str, Any]]:
        return list(self.iterate(resource, **filters))

    # ---- typed helpers

    def list_businesses(self) -> builtins.list[dict[str, Any]]:
        """The businesses the authorising user can reach (no X-Business header: not yet chosen)."""
        return self.list("businesses")

    def financial_settings(self) -> dict[str, Any]:
        """`GET /financial_settings` (a singleton: no key, no list envelope): base_currency,
        multi_currency_enabled, year end... Needs the user's Settings area (full or read only)."""
        return self.request("GET", "financial_settings") or {}

    def create_contact(self, body: Mapping[str, Any], *, idempotency_id: str | None = None) -> dict[str, Any]:
        return self.create("contacts", body, idempotency_id=idempotency_id)

    def update_contact(self, key: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.update("contacts", key, body)

    def find_contacts(self, *, search: str | None = None, email: str | None = None,
                      contact_type_id: str | None = None) -> builtins.list[dict[str, Any]]:
        return self.list("contacts", search=search, email=email, contact_type_id=contact_type_id,
                         attributes="all")

    def find_by_reference(self, resource: str, reference: str) -> builtins.list[dict[str, Any]]:
        """Documents whose reference is exactly `reference` (`search` also matches contact names
        and partial references, so the result is filtered)."""
        # Lists carry only id/displayed_as unless attributes are asked for.
        hits = self.iterate(resource, search=reference, attributes="all")
        return [r for r in hits if (r.get("reference") or "") == reference]

    def changed_since(self, resource: str, since: datetime, **filters: Any) -> Iterator[dict[str, Any]]:
        filters.setdefault("attributes", "all")
        return self.iterate(resource, updated_or_created_since=since, **filters)


def _params(filters: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in filters.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            out[key] = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif isinstance(value, date):
            out[key] = value.isoformat()
        else:
            out[key] = str(value)
    return out


# ----------------------------------------------------------------------------------------- connector


class SageAccountingConnector:
    """The `Connector` protocol over a `SageAccountingClient`."""

    provider = PROVIDER
    mapper: Mapper = mapper  # the bodies it sends and how its records read back
    not_exported: Mapping[RecordKind, str] = mapper.NOT_EXPORTED  # it takes every kind
    checked_mappings: tuple[CheckedMapping, ...] = ()  # its documents need only the shared maps
    # idempotency_id: Sage replays the first answer to a create sent again with the same key.
    creates_idempotent = True
    voids_documents = True  # sales documents voided, purchases and payments deleted
    search_settle = timedelta(minutes=5)  # not documented: assumed

    def __init__(self, client: SageAccountingClient) -> None:
        self.client = client

    def pacing_delay(self) -> float:
        """Seconds the business's pacer would hold the next request (0 without a pacer)."""
        pacer = self.client._pacer
        return pacer.delay() if pacer is not None else 0.0

    @staticmethod
    def _key(idempotency_key: str | None) -> str | None:
        # Sage wants a 32-hex GUID; the ledger's key is a hash, so its first 128 bits do.
        return idempotency_key[:32] if idempotency_key else None

    def find_contacts(self, *, name: str | None = None, email: str | None = None,
                      reference: str | None = None, contact_type: str | None = None) -> list[RemoteRecord]:
        found = self.client.find_contacts(search=reference or name, email=email,
                                          contact_type_id=contact_type)
        if reference:
            found = [c for c in found if c.get("reference") == reference]
        elif name:
            found = [c for c in found if (c.get("name") or "").strip().lower() == name.strip().lower()]
        return [RemoteRecord.from_sage(c) for c in found]

    def create_contact(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        return RemoteRecord.from_sage(self.client.create_contact(body, idempotency_id=self._key(idempotency_key)))

    def update_contact(self, sage_id: str, body: Mapping[str, Any]) -> RemoteRecord:
        """PUT /contacts/{id} with the `putContacts` body."""
        return RemoteRecord.from_sage(self.client.update_contact(sage_id, body))

    def create_document(self, kind: DocumentKind, body: Mapping[str, Any], *,
                        idempotency_key: str | None = None) -> RemoteRecord:
        resource = DOCUMENT_RESOURCES[kind]
        return RemoteRecord.from_sage(self.client.create(resource, body, idempotency_id=self._key(idempotency_key)))

    def update_document(self, kind: DocumentKind, remote_id: str, body: Mapping[str, Any]) -> RemoteRecord:
        if body.get("transaction_type_id") == mapper.OFFSET_TYPE:  # still an offset: PUT the allocation
            return RemoteRecord.from_sage(self.client.update("contact_allocations", remote_id, body))
        return RemoteRecord.from_sage(self.client.update(DOCUMENT_RESOURCES[kind], remote_id, body))

    def void_document(self, kind: DocumentKind, remote_id: str, *, reason: str) -> RemoteRecord:
        if kind is DocumentKind.CUSTOMER_PAYMENT and self._is_offset(remote_id):
            self.client.delete("contact_allocations", remote_id)
            return RemoteRecord.from_sage({"id": remote_id})
        data = self.client.delete(DOCUMENT_RESOURCES[kind], remote_id, void_reason=reason)
        return RemoteRecord.from_sage(data or {"id": remote_id})

    def get_document(self, kind: DocumentKind, remote_id: str) -> RemoteRecord:
        try:
            return RemoteRecord.from_sage(self.client.get(DOCUMENT_RESOURCES[kind], remote_id))
        except NotFound:
            if kind is not DocumentKind.CUSTOMER_PAYMENT:
                raise
            # A payment that moved no money was sent as a contact allocation (mapper.OFFSET_TYPE).
            return RemoteRecord.from_sage(self.client.get("contact_allocations", remote_id))

    def _is_offset(self, remote_id: str) -> bool:
        try:
            self.client.get("contact_payments", remote_id)
        except NotFound:
            return True
        return False

    def find_documents_by_reference(self, kind: DocumentKind, reference: str) -> list[RemoteRecord]:
        return [RemoteRecord.from_sage(r) for r in self.client.find_by_reference(DOCUMENT_RESOURCES[kind], reference)]

    def list_documents(self, kind: DocumentKind, *, from_date: date | None = None,
                       to_date: date | None = None) -> Iterator[RemoteRecord]:
        """Documents of `kind` dated from..to (the export engine's going-live check), 200 a page."""
        filters: dict[str, Any] = {"from_date": from_date, "to_date": to_date,
                                   "attributes": "reference,total_amount,outstanding_amount,date,contact,"
                                                 "transaction_type"}
        if kind in _PAYMENT_TYPES:
            filters["transaction_type_id"] = _PAYMENT_TYPES[kind]
        if DOCUMENT_RESOURCES[kind] in VOIDABLE:  # voided documents stay listed: the reconciliation tells them apart
            filters["attributes"] += ",status,void_reason"
        return (RemoteRecord.from_sage(r) for r in self.client.iterate(DOCUMENT_RESOURCES[kind], **filters))

    def create_payment(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        if body.get("transaction_type_id") == mapper.OFFSET_TYPE:  # no money moved: credit notes offset invoices
            return self.create_allocation(body, idempotency_key=idempotency_key)
        return RemoteRecord.from_sage(
            self.client.create("contact_payments", body, idempotency_id=self._key(idempotency_key)))

    def create_allocation(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        return RemoteRecord.from_sage(
            self.client.create("contact_allocations", body, idempotency_id=self._key(idempotency_key)))

    def credited_in_full(self, kind: DocumentKind, remote_id: str, *, total: Decimal) -> bool:
        return False  # voids_documents is True: the engine never asks (the void itself is the way out)

    def remove_allocation(self, kind: DocumentKind, allocation_id: str, *, credit_note_id: str) -> None:
        """DELETE /contact_allocations/{key}: the credit note and its invoice are outstanding again."""
        if allocation_id == credit_note_id:  # allocated by an attempt whose answer was lost: its id is unknown
            raise NotSupported(f"Sage Bridge's allocation of this credit note (Sage id {credit_note_id}) has no known "
                               "id; delete the allocation in Sage Accounting, then void the credit note")
        self.client.delete("contact_allocations", allocation_id)

    def payments_changed_since(self, since: datetime) -> Iterator[RemoteRecord]:
        return (RemoteRecord.from_sage(r) for r in self.client.changed_since("contact_payments", since))

    def allocations_changed_since(self, since: datetime) -> Iterator[RemoteRecord]:
        return (RemoteRecord.from_sage(r) for r in self.client.changed_since("contact_allocations", since))

    def list_tax_rates(self) -> list[RemoteRecord]:
        return [RemoteRecord.from_sage(r) for r in self.client.iterate("tax_rates", attributes="all")]

    def list_ledger_accounts(self) -> list[RemoteRecord]:
        return [_ledger_account(r) for r in self.client.iterate("ledger_accounts", attributes="all")]

    def list_bank_accounts(self) -> list[RemoteRecord]:
        return [RemoteRecord.from_sage(r) for r in self.client.iterate("bank_accounts", attributes="all")]

    def business_currency(self) -> str:
        """The business's base currency: `financial_settings.base_currency`, a link whose id is the
        ISO code ({"id": "GBP", "displayed_as": "Pound Sterling (GBP)"}); one request."""
        base = self.client.financial_settings().get("base_currency")
        link = base if isinstance(base, Mapping) else {}
        code = iso_currency(link.get("id")) or iso_currency(link.get("displayed_as"))
        if code is None:
            raise SageError(f"Sage's financial settings name no base currency (base_currency={base!r})",
                            source="base_currency")
        return code

    def list_items(self, *, changed_since: datetime | None = None) -> list[RemoteRecord]:
        out = []
        for resource in ("products", "services"):
            rows = (self.client.changed_since(resource, changed_since) if changed_since
                    else self.client.iterate(resource, attributes="all"))
            out += [RemoteRecord.from_sage(r) for r in rows]
        return out


# Sage Accounting refuses a line on a ledger account not displayed in that area (swagger
# LedgerAccount: visible_in_sales for sales, visible_in_expenses for the purchases area).
_SIDE_FLAGS = {"customer": ("visible_in_sales", "sales"), "vendor": ("visible_in_expenses", "purchase")}


def _ledger_account(data: Mapping[str, Any]) -> RemoteRecord:
    record = RemoteRecord.from_sage(data)
    unusable = {ledger: f"{flag} is false in Sage, so it cannot be used on {side} documents"
                for ledger, (flag, side) in _SIDE_FLAGS.items() if data.get(flag) is False}
    return replace(record, unusable_for=unusable) if unusable else record

