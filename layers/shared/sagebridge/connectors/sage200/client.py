"""HTTP client for the Sage 200 accounts API v1 over an injected `httpx.Client`, and the `Connector`
over it.

Every call carries four headers: `Authorization: Bearer` (Sage ID), `Ocp-Apim-Subscription-Key`
(our app's API Management key; without it APIM answers 401 before Sage sees the call), `X-Site` and
`X-Company` (the tenant's choice from `GET /sites`, stored as the connection's business id
"<site id>/<company id>").

Rate: Sage 200 sits behind Azure API Management, whose rate limit counts our subscription key's
calls and answers 429 (`{"statusCode": 429, "message": "Rate limit is exceeded. Try again in N
seconds."}`, normally with Retry-After). A `RequestPacer` (one per subscription key, shared by the
container's clients) keeps requests under the configured rate; a 429 pauses the pacer for Retry-After,
else for the seconds APIM's message names, else for a whole rate window (`RATE_WINDOW_SECONDS`).

Retry policy: the shared `connectors.http.Transport` (reads retried on 429/5xx/transport errors;
writes only when Sage provably did not process them; anything else after sending, 503 included,
raises `UncertainWrite`; 401: one token refresh). Sage 200 has no idempotency keys, so the caller
reconciles by reference before any resend (the export engine does; `create_payment` below does it
itself for its second step).

Lists are OData: `$top` (default 500, at most 5000), `$skip` only with `$orderby`, datetimes in
`$filter` as UTC with `Z`. `iterate` pages with `$orderby` + `$top` + `$skip` until a short page.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Any, Unpack

import httpx
from pydantic import SecretStr

from sagebridge.connectors.base import (
    CheckedMapping,
    Mapper,
    NotSupported,
    RecordInvalid,
    RemoteRecord,
    SageError,
    UncertainWrite,
    error_for_status,
    iso_currency,
)
from sagebridge.connectors.http import (
    RetryOptions,
    TokenProvider,
    Transport,
    bearer,
    error_entries,
    loads,
    parse_retry_after,
    request_id,
)
from sagebridge.connectors.pacing import RequestPacer
from sagebridge.connectors.sage200 import mapper
from sagebridge.domain.kinds import DocumentKind, PartyKind, RecordKind

PROVIDER = "sage200"
DEFAULT_BASE_URL = "https://api.columbus.sage.com/uk/sage200extra/accounts/v1"
PAGE_SIZE = 500  # the API's default $top; 5000 is its maximum
MAX_PAGE_SIZE = 5000
SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id", "apim-request-id")
# A 429 that names no pause: wait out the window a per-minute limit counts over.
RATE_WINDOW_SECONDS = 60.0
_TRY_AGAIN_IN = re.compile(r"try again in (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------- OData


def odata_string(value: str) -> str:
    """A string literal for `$filter` (quotes doubled, as OData escapes them)."""
    return "'" + value.replace("'", "''") + "'"


def odata_datetime(value: datetime | date) -> str:
    """A datetime literal for `$filter`: UTC with `Z` (Sage 200 refuses offsets and local times)."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, clock_time(0), tzinfo=UTC)
    if value.tzinfo is None:
        raise ValueError("a $filter datetime must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def site_and_company(business_id: str) -> tuple[str, str]:
    """The connection's business id "<site id>/<company id>" split in two."""
    site, sep, company = business_id.partition("/")
    if not sep or not site or not company:
        raise ValueError(f"{business_id!r} is not a Sage 200 site/company")
    return site, company


def business_id_of(site_id: str, company_id: str | int) -> str:
    return f"{site_id}/{company_id}"


# --------------------------------------------------------------------------------------------- errors


def _request_id(response: httpx.Response) -> str | None:
    return request_id(response, _REQUEST_ID_HEADERS)


def throttle_pause(response: httpx.Response) -> float | None:
    """How long a 429 asks us to wait: Retry-After, else the seconds in APIM's message, else None."""
    pause = parse_retry_after(response.headers.get("retry-after"))
    if pause is not None:
        return pause
    try:
        body = loads(response.content) if response.content else None
    except ValueError:
        return None
    found = _TRY_AGAIN_IN.search(str(body.get("message") or "")) if isinstance(body, Mapping) else None
    return float(found.group(1)) if found else None


def error_from_response(response: httpx.Response) -> SageError:
    """Sage 200 (and APIM in front of it) errors, mapped to the shared error types with Sage's
    readable words. Documented: `{"statusCode": n, "message": "..."}` with one message about the
    first problem (APIM and developer.sage.com/200c); also read, as ASP.NET may send them:
    `{"Message"}`, a list of such objects, `details`, and a `code` (kept as data_code)."""
    status = response.status_code
    entries = error_entries(response)
    messages = []
    for entry in entries:
        text = str(entry.get("message") or entry.get("Message") or entry.get("error_description") or "")
        details = entry.get("details") or []
        more = [str(d.get("message")) for d in details if isinstance(d, Mapping) and d.get("message")]
        messages.append("; ".join([t for t in [text, *more] if t]))
    message = "; ".join(m for m in messages if m) or f"Sage 200 answered HTTP {status}"
    first = entries[0] if entries else {}
    kwargs: dict[str, Any] = {"data_code": first.get("code") and str(first.get("code")),
                              "request_id": _request_id(response)}
    retry_after = throttle_pause(response) if status == 429 else None
    return error_for_status(status, message, retry_after=retry_after, **kwargs)


# --------------------------------------------------------------------------------------------- client


class Sage200Client:
    """One tenant's Sage 200 company. The subscription key is ours (the app's), held as SecretStr."""

    provider = PROVIDER

    def __init__(
        self,
        http: httpx.Client,
        *,
        token_provider: TokenProvider,
        subscription_key: SecretStr | str,
        site_id: str | None = None,
        company_id: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        page_size: int = PAGE_SIZE,
        pacer: RequestPacer | None = None,
        **retry: Unpack[RetryOptions],
    ) -> None:
        self._pacer = pacer  # shared per subscription key (connectors.sage200.product); None: no pacing
        self._token = token_provider
        self._key = subscription_key if isinstance(subscription_key, SecretStr) else SecretStr(subscription_key)
        self.site_id = site_id
        self.company_id = company_id
        self.base_url = base_url.rstrip("/")
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        # A 429 that names no pause waits a whole rate window (APIM counts per minute).
        self._transport = Transport(
            http, token_provider=token_provider, read_error=error_from_response,
            request_id_headers=_REQUEST_ID_HEADERS, authenticate=self._authenticate,
            throttle_pause=throttle_pause, throttle_wait=lambda attempt: RATE_WINDOW_SECONDS, pacer=pacer,
            **retry)

    def __repr__(self) -> str:
        return f"Sage200Client(site_id={self.site_id!r}, company_id={self.company_id!r})"

    def _authenticate(self, token: str) -> dict[str, str]:
        # Without our subscription key APIM answers 401 before Sage sees the call.
        return bearer(token) | {SUBSCRIPTION_KEY_HEADER: self._key.get_secret_value()}

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                with_company: bool = True) -> Any:
        """One API call under the shared transport's retry policy; the parsed JSON (Decimal money) or None."""
        headers: dict[str, str] = {}
        if with_company:
            if not self.site_id or not self.company_id:
                raise ValueError("a Sage 200 call needs the tenant's site and company")
            headers = {"X-Site": self.site_id, "X-Company": str(self.company_id)}
        url = f"{self.base_url}/{path.lstrip('/')}"
        return self._transport.request(method, url, params=params, body=body, headers=headers)

    # ---- resources

    def get(self, resource: str, key: str | int) -> dict[str, Any]:
        return self.request("GET", f"{resource}/{key}")

    def post(self, resource: str, body: Mapping[str, Any]) -> Any:
        return self.request("POST", resource, body=dict(body))

    def put(self, resource: str, key: str | int, body: Mapping[str, Any]) -> Any:
        return self.request("PUT", f"{resource}/{key}", body=dict(body))

    def iterate(self, resource: str, *, filter: str | None = None, orderby: str = "id",
                select: str | None = None, top: int | None = None) -> Iterator[dict[str, Any]]:
        """Every record of a list, a page (`$top`) at a time; `$skip` always comes with `$orderby`
        (Sage 200 refuses it alone), so the pages cannot overlap or miss records."""
        size = min(top or self.page_size, MAX_PAGE_SIZE)
        skip = 0
        while True:
            params: dict[str, Any] = {"$orderby": orderby, "$top": size}
            if skip:
                params["$skip"] = skip
            if filter:
                params["$filter"] = filter
            if select:
                params["$select"] = select
            page = self.request("GET", resource, params=params) or []
            yield from page
            if len(page) < size:
                return
            skip += size

    def list(self, resource: str, **options: Any) -> builtins.list[dict[str, Any]]:
        return list(self.iterate(resource, **options))

    def list_sites(self) -> builtins.list[dict[str, Any]]:
        """The sites and companies the signed-in user can open (no X-Site/X-Company: not chosen yet)."""
        return self.request("GET", "sites", with_company=False) or []

    def posted_transactions(self, filter: str, *, resource: str = "sales_posted_transactions"
                            ) -> builtins.list[dict[str, Any]]:
        return self.list(resource, filter=filter)


# ------------------------------------------------------------------------------------------ connector


def _record(data: Mapping[str, Any]) -> RemoteRecord:
    return RemoteRecord(id=str(data.get("id", "")), reference=data.get("reference"), data=data)


class Sage200Connector:
    """The `Connector` protocol over a `Sage200Client`. `mapper` tells the engines how to build bodies
    for Sage 200 and read its records back."""

    provider = PROVIDER
    mapper: Mapper = mapper
    # Sage 200 has no idempotency key: a resend after a lost answer that a lookup missed makes a
    # second record. How long its queries may lag a create is not documented: 5 minutes, assumed.
    creates_idempotent = False
    voids_documents = True  # a void is skipped with how to reverse it in Sage 200 (Correct Transactions > Reverse)
    search_settle = timedelta(minutes=5)
    not_exported: Mapping[RecordKind, str] = mapper.NOT_EXPORTED
    checked_mappings: tuple[CheckedMapping, ...] = ()  # its documents need only the shared maps

    def __init__(self, client: Sage200Client) -> None:
        self.client = client

    @staticmethod
    def _unsupported(what: str) -> RecordInvalid:
        return RecordInvalid(f"the Sage 200 connector does not export {what}", data_code="unsupported")

    # ---- customers and suppliers

    def find_contacts(self, *, name: str | None = None, email: str | None = None, reference: str | None = None,
                      contact_type: str | None = None) -> list[RemoteRecord]:
        """Customers (contact_type CUSTOMER or none) or suppliers (VENDOR): the same three searches on
        sales.json's or purchases.json's lists."""
        what = "supplier" if contact_type == mapper.CONTACT_TYPE[PartyKind.VENDOR] else "customer"
        traders = what + "s"
        if reference:
            rows = self.client.list(traders, filter=f"reference eq {odata_string(reference)}")
            return [_record(r) for r in rows if r.get("reference") == reference]
        if name:
            rows = self.client.list(traders, filter=f"name eq {odata_string(name.strip())}")
            return [_record(r) for r in rows if (r.get("name") or "").strip().lower() == name.strip().lower()]
        if email:
            emails = self.client.list(f"{what}_emails", filter=f"email eq {odata_string(email.strip())}")
            contacts = {str(e[f"{what}_contact_id"]) for e in emails if e.get(f"{what}_contact_id") is not None}
            owners = {str(self.client.get(f"{what}_contacts", c).get(f"{what}_id")) for c in sorted(contacts)}
            return [_record(self.client.get(traders, c)) for c in sorted(owners) if c != "None"]
        return []

    @staticmethod
    def _ledger_of(body: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
        """The mapper wraps a supplier's body as {"supplier": {...}}; a customer's is bare."""
        if "supplier" in body:
            return "suppliers", body["supplier"]
        return "customers", body

    def create_contact(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        # No idempotency keys in Sage 200: the unique account reference refuses a twin, and the
        # engine finds a customer or supplier whose create was uncertain by that reference.
        resource, record = self._ledger_of(body)
        return _record(self.client.post(resource, record))

    def update_contact(self, sage_id: str, body: Mapping[str, Any]) -> RemoteRecord:
        """PUT customers/{id} (suppliers/{id}). The schema requires `reference` and an account linked
        by name or email keeps its own, so it is read first (updates are rare: a changed party, once)."""
        resource, record = self._ledger_of(body)
        current = self.client.get(resource, sage_id)
        return _record(self.client.put(resource, sage_id, {"reference": current["reference"], **record}))

    # ---- invoices and credit notes (posted transactions)

    def _resource(self, kind: DocumentKind) -> str:
        if kind not in mapper.SUPPORTED_KINDS:
            raise self._unsupported(kind.value.replace("_", " ") + "s")
        return mapper.POST_RESOURCE[kind]

    def _by_urn(self, urn: Any, what: str, *, resource: str = "sales_posted_transactions") -> dict[str, Any]:
        rows = self.client.posted_transactions(f"urn eq {int(urn)}", resource=resource)
        if not rows:
            # Posted, but Sage's search does not show it yet: in Sage, but not known to us. Uncertain,
            # so the engine looks it up by reference once the search has settled, never posts it again.
            raise UncertainWrite(f"{what} was posted (urn {urn}) but Sage 200 does not list it yet")
        return rows[0]

    def create_document(self, kind: DocumentKind, body: Mapping[str, Any], *,
                        idempotency_key: str | None = None) -> RemoteRecord:
        """POST the document; Sage answers with its URN, which finds the posted transaction (its id is
        what allocations and the mapping need)."""
        resource = self._resource(kind)
        answer = self.client.post(resource, body) or {}
        return _record(self._by_urn(answer.get("urn"), f"{kind.value} {body.get('reference')}",
                                    resource=mapper.posted_resource(kind)))

    def update_document(self, kind: DocumentKind, remote_id: str, body: Mapping[str, Any]) -> RemoteRecord:
        raise RecordInvalid(mapper.NOT_EDITABLE, data_code="posted_transaction")

    def void_document(self, kind: DocumentKind, remote_id: str, *, reason: str) -> RemoteRecord:
        """Not carried out, without a request: the API cannot void, cancel or reverse a posted transaction
        of any kind. Not a refusal of this version (failed, given up) but what Sage 200 cannot do:
        skipped, the host told how the accountant reverses it in Sage 200."""
        raise NotSupported(mapper.void_refusal(kind), data_code="posted_transaction")

    def get_document(self, kind: DocumentKind, remote_id: str) -> RemoteRecord:
        return _record(self.client.get(mapper.posted_resource(kind), remote_id))

    def find_documents_by_reference(self, kind: DocumentKind, reference: str) -> list[RemoteRecord]:
        """Posted transactions of the kind with exactly this reference (Sage 200 does not keep
        references unique: the engine also compares customer, amount and date)."""
        if kind not in mapper.TRANSACTION_TYPE:
            return []
        rows = self.client.posted_transactions(
            f"reference eq {odata_string(reference)} and "
            f"trader_transaction_type eq {odata_string(mapper.TRANSACTION_TYPE[kind])}",
            resource=mapper.posted_resource(kind))
        return [_record(r) for r in rows if r.get("reference") == reference]

    def list_documents(self, kind: DocumentKind, *, from_date: date | None = None,
                       to_date: date | None = None) -> Iterator[RemoteRecord]:
        if kind not in mapper.TRANSACTION_TYPE:
            return iter(())
        parts = [f"trader_transaction_type eq {odata_string(mapper.TRANSACTION_TYPE[kind])}"]
        if from_date:
            parts.append(f"transaction_date ge {odata_datetime(from_date)}")
        if to_date:
            parts.append(f"transaction_date le {odata_datetime(to_date)}")
        return (_record(r) for r in self.client.iterate(mapper.posted_resource(kind), filter=" and ".join(parts)))

    # ---- receipts, refunds and allocations

    def create_payment(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        """A receipt (or refund) and its allocation: two posts that Sage 200 cannot make one. Safe to
        call again after any failure: the payment is found by reference before it is posted, and
        allocated only while nothing is allocated against it yet (the allocation is one request, so
        it happened wholly or not at all)."""
        kind = DocumentKind(body["kind"])
        record: Mapping[str, Any] = body["record"]
        lines: list[dict[str, Any]] = list(body.get("allocation_lines") or [])
        if kind is DocumentKind.CUSTOMER_PAYMENT and Decimal(str(record["cheque_value"])) == 0:
            return self._offset(record, lines)
        existing = self._find_payment(kind, record)
        if existing is None:
            try:
                answer = self.client.post(self._resource(kind), record) or {}
            except UncertainWrite:
                existing = self._find_payment(kind, record)
                if existing is None:
                    raise  # not there: the engine looks again, then sends once more
            else:
                existing = self._by_urn(answer.get("urn"), f"{kind.value} {record.get('reference')}")
        if lines and mapper.remote_paid(_record(existing)) == 0:
            allocation = mapper.allocation_body(int(record["customer_id"]), int(existing["id"]), kind, lines,
                                                record.get("transaction_date"))
            try:
                self.client.post("sales_allocations", allocation)
            except UncertainWrite:
                if mapper.remote_paid(_record(self.client.get("sales_posted_transactions", existing["id"]))) == 0:
                    raise
            existing = self.client.get("sales_posted_transactions", existing["id"])
        return _record(existing)

    def _offset(self, record: Mapping[str, Any], lines: list[dict[str, Any]]) -> RemoteRecord:
        """A payment that moved no money: its credit notes set against its invoices by one allocation,
        no receipt (Sage 200 refuses a receipt of 0). It is known by its first credit note, and sent
        only while nothing is allocated against that yet, so a resend after a lost answer is harmless."""
        credit = next(line for line in lines if Decimal(str(line["value_to_allocate"])) < 0)
        current = self.client.get("sales_posted_transactions", credit["posted_tran_id"])
        if mapper.remote_paid(_record(current)) == 0:
            allocation: dict[str, Any] = {"customer_id": int(record["customer_id"]), "allocation_lines": lines}
            if record.get("transaction_date"):
                allocation["allocation_date"] = record["transaction_date"]
            try:
                self.client.post("sales_allocations", allocation)
            except UncertainWrite:
                if mapper.remote_paid(_record(self.client.get("sales_posted_transactions", current["id"]))) == 0:
                    raise
            current = self.client.get("sales_posted_transactions", current["id"])
        return _record(current)

    def _find_payment(self, kind: DocumentKind, record: Mapping[str, Any]) -> dict[str, Any] | None:
        reference = str(record["reference"])
        for found in self.find_documents_by_reference(kind, reference):
            data = found.data
            if str(data.get("customer_id")) == str(record["customer_id"]) and \
                    mapper.remote_total(found) == Decimal(record["cheque_value"]):
                return dict(data)
        return None

    def create_allocation(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        if body.get("refused"):  # no purchase allocations in Sage 200's API: nothing is sent
            raise NotSupported(str(body["refused"]), data_code="not_supported")
        self.client.post("sales_allocations", body)
        return RemoteRecord(id="", data=body)

    def credited_in_full(self, kind: DocumentKind, remote_id: str, *, total: Decimal) -> bool:
        return False  # voids_documents is True: the engine never asks (the void itself is the way out)

    def remove_allocation(self, kind: DocumentKind, allocation_id: str, *, credit_note_id: str) -> None:
        # The API only adds allocations (sales_allocations POST): none is removed through it.
        raise NotSupported("Sage Bridge allocated this credit note against its invoice in Sage 200, and Sage 200's "
                           "API cannot remove an allocation; in Sage 200, undo it with Amend Allocation on the "
                           "customer's account, then reverse the credit note there")

    def _changed(self, kind: DocumentKind, since: datetime) -> Iterator[RemoteRecord]:
        flt = (f"trader_transaction_type eq {odata_string(mapper.TRANSACTION_TYPE[kind])} and "
               f"date_time_updated gt {odata_datetime(since)}")
        return (_record(r) for r in self.client.iterate("sales_posted_transactions", filter=flt,
                                                        orderby="date_time_updated,id"))

    def payments_changed_since(self, since: datetime) -> Iterator[RemoteRecord]:
        return self._changed(DocumentKind.CUSTOMER_PAYMENT, since)

    def allocations_changed_since(self, since: datetime) -> Iterator[RemoteRecord]:
        """Credit notes whose allocations changed (set against invoices in Sage)."""
        return self._changed(DocumentKind.SALES_CREDIT_NOTE, since)

    # ---- reference data

    def list_tax_rates(self) -> list[RemoteRecord]:
        # `percentage` is what the engines read of a rate (Sage 200 calls it `tax_rate`).
        return [_record({**r, "percentage": r.get("tax_rate")}) for r in self.client.iterate("tax_codes")]

    def list_ledger_accounts(self) -> list[RemoteRecord]:
        # Mappings name a Sage 200 nominal account by code[/cost centre[/department]], not by its record
        # id, so that is the id the admin API lists and the mapping health check looks for.
        return [RemoteRecord(id=mapper.nominal_key(r), reference=r.get("reference"),
                             data={**r, "nominal_code": mapper.nominal_key(r)})
                for r in self.client.iterate("nominal_codes")]

    def list_bank_accounts(self) -> list[RemoteRecord]:
        return [_record(r) for r in self.client.iterate("banks")]

    def business_currency(self) -> str:
        """The company's base currency: the `currencies` row flagged `is_base_currency` (Sage 200
        insists on exactly one), its ISO code expanded inline (`currency_iso_code`, a navigation
        property), so one request. If the expansion is not honoured, the ISO code record is read
        by `currency_iso_code_id` (a second request, once per cache period)."""
        rows = self.client.request("GET", "currencies", params={
            "$filter": "is_base_currency eq true", "$expand": "currency_iso_code", "$top": 1}) or []
        if not rows:
            raise SageError("Sage 200 lists no base currency (no currency has is_base_currency)")
        row = rows[0]
        iso = row.get("currency_iso_code")
        code = iso_currency(iso.get("code")) if isinstance(iso, Mapping) else None
        if code is None and row.get("currency_iso_code_id") is not None:
            code = iso_currency(self.client.get("currency_iso_codes", row["currency_iso_code_id"]).get("code"))
        if code is None:
            raise SageError(f"Sage 200's base currency {row.get('id')} has no ISO code")
        return code

    def list_items(self, *, changed_since: datetime | None = None) -> list[RemoteRecord]:
        flt = f"date_time_updated gt {odata_datetime(changed_since)}" if changed_since else None
        return [_record(r) for r in self.client.iterate("products", filter=flt)]


__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_PAGE_SIZE",
    "PAGE_SIZE",
    "PROVIDER",
    "RATE_WINDOW_SECONDS",
    "SUBSCRIPTION_KEY_HEADER",
    "Sage200Client",
    "Sage200Connector",
    "business_id_of",
    "error_from_response",
    "odata_datetime",
    "odata_string",
    "site_and_company",
    "throttle_pause",
]
