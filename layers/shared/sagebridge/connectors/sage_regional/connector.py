"""The `Connector` protocol over the regional API client (client.py): customers, tax invoices,
customer returns, receipts with their allocations, and reference data, with the mapper's bodies.

Exactly once without an idempotency key (the export engine's ledger claim comes first):
- every create is preceded by nothing and never resent blindly: a lost answer is `UncertainWrite`;
- `find_documents_by_reference` looks the document up by what Sage CAN filter (CustomerId and Date,
  remembered from the body this connector sent; else every document of the kind, 100 a call) and
  compares our reference (`ExternalReference`, a receipt's `Reference`) here;
- a receipt is looked up the same way before it is sent, and its allocations are read before any is
  sent, so a resend after a lost answer completes it instead of doubling it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sagebridge.connectors.base import (
    CheckedMapping,
    Mapper,
    NotFound,
    NotSupported,
    RecordInvalid,
    RemoteRecord,
    UncertainWrite,
)
from sagebridge.connectors.sage_regional import mapper
from sagebridge.connectors.sage_regional.client import PROVIDER, RegionalClient, odata_datetime
from sagebridge.connectors.sage_regional.mapper import CHECKED_MAPPINGS
from sagebridge.domain.kinds import DocumentKind, RecordKind
from sagebridge.domain.money import ZERO, round_money, to_decimal

# A region's currency: Company/Get gives a symbol only ("$", "R"), the region says which.
REGION_CURRENCY = {"AU": "AUD", "NZ": "NZD", "ZA": "ZAR"}
_CUSTOMER_READ_ONLY = ("Created", "Modified", "Balance", "HasActivity")


def _filter_day(on: date) -> str:
    return odata_datetime(datetime.combine(on, time()))


class RegionalConnector:
    """The `Connector` protocol over a `RegionalClient` of one tenant's company."""

    provider = PROVIDER
    mapper: Mapper = mapper  # a module implementing the protocol
    not_exported: Mapping[RecordKind, str] = mapper.NOT_EXPORTED
    checked_mappings: tuple[CheckedMapping, ...] = CHECKED_MAPPINGS  # the shared maps, and its own account check
    creates_idempotent = False  # no idempotency key: a lost answer is looked up, never resent blindly
    # The engines' advice: documents cannot be voided here (a credit note is the way out); payments are deleted.
    voids_documents = False
    search_settle = timedelta(minutes=5)  # how long a list may lag a Save: not documented; assumed as Sage 200's

    def __init__(self, client: RegionalClient, *, region: str = "AU") -> None:
        self.client = client
        self.region = region.upper()
        self._parties: dict[str, list[RemoteRecord]] = {}  # "Customer" / "Supplier" -> every one, once a run
        self._sent: dict[tuple[str, str], tuple[str, int, str]] = {}  # (service, reference) -> (party field, id, Date)
        self._wanted: dict[str, list[dict[str, Any]]] = {}  # a receipt's reference -> its allocations

    # ---- customers and suppliers

    def _all(self, service: str) -> list[RemoteRecord]:
        # Sage cannot filter on Name or Email (text): the company's customers (suppliers) are read once a run.
        if service not in self._parties:
            self._parties[service] = [mapper.customer_record(r, service) for r in self.client.iterate(service)]
        return self._parties[service]

    def find_contacts(self, *, name: str | None = None, email: str | None = None, reference: str | None = None,
                      contact_type: str | None = None) -> list[RemoteRecord]:
        if contact_type not in (None, "CUSTOMER", "VENDOR"):
            return []
        customers = self._all("Supplier" if contact_type == "VENDOR" else "Customer")
        if reference:
            return [c for c in customers if c.reference == reference]
        if name:
            wanted = name.strip().casefold()
            return [c for c in customers if str(c.data.get("Name") or "").strip().casefold() == wanted]
        if email:
            wanted = email.strip().casefold()
            return [c for c in customers if str(c.data.get("Email") or "").strip().casefold() == wanted]
        return []

    @staticmethod
    def _split(body: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """(the service a contact body is for, the body Sage is sent: without the mapper's `_` keys)."""
        return str(body.get("_service") or "Customer"), {k: v for k, v in body.items() if not k.startswith("_")}

    def create_contact(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        service, sent = self._split(body)
        # No idempotency key and no unique reference: a party Sage Bridge made in a run that died before
        # remembering it is found by its reference in the list read once a run, never saved twice.
        made_before = [c for c in self._all(service) if sent.get("TextField1") and c.reference == sent["TextField1"]]
        if made_before:
            return made_before[0]
        try:
            created = mapper.customer_record(self.client.save(service, sent), service)
        except Exception:
            # The save may have landed without its answer: the list read before it is stale now, and a
            # lookup against it would send the party a second time.
            self._parties.pop(service, None)
            raise
        if service in self._parties:
            self._parties[service].append(created)
        return created

    def update_contact(self, sage_id: str, body: Mapping[str, Any]) -> RemoteRecord:
        """Save replaces the whole customer (supplier): Sage's copy, with the host's changes over it."""
        service, sent = self._split(body)
        current = self.client.get(service, sage_id)
        merged = {k: v for k, v in current.items() if k not in _CUSTOMER_READ_ONLY}
        merged.update(sent)
        merged["ID"] = int(sage_id)
        updated = mapper.customer_record(self.client.save(service, merged), service)
        self._parties.pop(service, None)
        return updated

    # ---- documents

    @staticmethod
    def _service(kind: DocumentKind) -> str:
        service = mapper.SERVICE.get(kind)
        if service is None:
            raise NotSupported(mapper.NOT_EXPORTED.get(kind, f"a {kind.value} is not exported"))
        return service

    def create_document(self, kind: DocumentKind, body: Mapping[str, Any], *,
                        idempotency_key: str | None = None) -> RemoteRecord:
        if kind is DocumentKind.CUSTOMER_PAYMENT:
            return self.create_payment(body, idempotency_key=idempotency_key)
        service = self._service(kind)
        self._remember(service, str(body["ExternalReference"]), body)
        return mapper.document_record(service, self.client.save(service, body))

    def _remember(self, service: str, reference: str, body: Mapping[str, Any]) -> None:
        party = "SupplierId" if "SupplierId" in body else "CustomerId"
        self._sent[(service, reference)] = (party, int(body[party]), str(body["Date"])[:10])

    def update_document(self, kind: DocumentKind, remote_id: str, body: Mapping[str, Any]) -> RemoteRecord:
        service = self._service(kind)
        current = mapper.document_record(service, self.client.get(service, remote_id))
        if not mapper.remote_editable(current):
            raise RecordInvalid(f"{service} {remote_id} {mapper.LOCKED}")
        return mapper.document_record(service, self.client.save(service, {**body, "ID": int(remote_id)}))

    def void_document(self, kind: DocumentKind, remote_id: str, *, reason: str) -> RemoteRecord:
        """A receipt is deleted (`CustomerReceipt/Delete`, which undoes its allocations: the invoices owe
        again); the API has no Delete or void of a document, so any other kind is refused with what to do."""
        if kind is not DocumentKind.CUSTOMER_PAYMENT:
            raise NotSupported(mapper.not_voided(kind), data_code="not_supported")
        try:
            self.client.delete("CustomerReceipt", remote_id)
        except NotFound:
            pass  # gone already (an earlier attempt whose answer was lost, or the accountant)
        return RemoteRecord(id=remote_id, data={"id": remote_id, "deleted": True})

    def credited_in_full(self, kind: DocumentKind, remote_id: str, *, total: Decimal) -> bool:
        """A tax invoice settled in Sage by customer returns alone (the accountant's way to cancel one, since
        the API cannot void it): every allocation against it comes from a return, and they cover its total."""
        if kind is not DocumentKind.SALES_INVOICE:
            return False
        credited = ZERO
        for allocation in self.client.iterate("Allocation", filter=f"AllocatedToDocumentId eq {int(remote_id)}"):
            try:
                self.client.get("CustomerReturn", allocation["SourceDocumentId"])
            except NotFound:
                return False  # a receipt (money), not a credit
            credited += to_decimal(allocation.get("Total") or 0) + to_decimal(allocation.get("Discount") or 0)
        return credited > ZERO and round_money(credited) == round_money(abs(total))

    def get_document(self, kind: DocumentKind, remote_id: str) -> RemoteRecord:
        service = self._service(kind)
        return self._completed(service, mapper.document_record(service, self.client.get(service, remote_id)))

    def find_documents_by_reference(self, kind: DocumentKind, reference: str) -> list[RemoteRecord]:
        """Our documents under `reference`: filtered by CustomerId (SupplierId) and Date when this connector sent
        the body (text cannot be filtered), else every document of the kind; compared here."""
        service = self._service(kind)
        sent = self._sent.get((service, reference))
        where = None
        if sent is not None:
            where = f"{sent[0]} eq {sent[1]} and Date eq {_filter_day(date.fromisoformat(sent[2]))}"
        found = [mapper.document_record(service, r) for r in self.client.iterate(service, filter=where)]
        return [self._completed(service, r) for r in found if r.reference == reference]

    def list_documents(self, kind: DocumentKind, *, from_date: date | None = None,
                       to_date: date | None = None) -> Iterator[RemoteRecord]:
        service = self._service(kind)
        parts = [f"Date ge {_filter_day(from_date)}" if from_date else "",
                 f"Date le {_filter_day(to_date)}" if to_date else ""]
        where = " and ".join(p for p in parts if p) or None
        return (mapper.document_record(service, r) for r in self.client.iterate(service, filter=where))

    # ---- money

    def _allocations_of(self, source_id: int) -> list[dict[str, Any]]:
        return list(self.client.iterate("Allocation", filter=f"SourceDocumentId eq {source_id}"))

    def _completed(self, service: str, record: RemoteRecord) -> RemoteRecord:
        """A receipt this connector was asked to allocate: marked incomplete until it is."""
        if service != "CustomerReceipt":
            return record
        wanted = self._wanted.get(record.reference or "")
        if wanted is None:
            return record
        done = {int(a["AllocatedToDocumentId"]) for a in self._allocations_of(int(record.id))}
        complete = all(w["AllocatedToDocumentId"] in done for w in wanted)
        return RemoteRecord(id=record.id, reference=record.reference, data={**record.data, "_complete": complete})

    def create_payment(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        """The receipt (found first by CustomerId, Date and our Reference: a resend completes an earlier
        attempt instead of doubling it), then each allocation Sage does not hold yet."""
        receipt, wanted = dict(body["receipt"]), list(body.get("_allocations") or [])
        reference = str(receipt["Reference"])
        self._remember("CustomerReceipt", reference, receipt)
        self._wanted[reference] = wanted
        where = f"CustomerId eq {int(receipt['CustomerId'])} and Date eq " \
                f"{_filter_day(date.fromisoformat(str(receipt['Date'])[:10]))}"
        existing = [r for r in self.client.iterate("CustomerReceipt", filter=where) if r.get("Reference") == reference
                    and round_money(to_decimal(r.get("Total") or 0)) == round_money(to_decimal(receipt["Total"]))]
        saved = existing[0] if existing else self.client.save("CustomerReceipt", receipt)
        receipt_id = int(saved["ID"])
        done = {int(a["AllocatedToDocumentId"]) for a in self._allocations_of(receipt_id)} if existing else set()
        for allocation in wanted:
            if allocation["AllocatedToDocumentId"] in done:
                continue
            self._allocate({"SourceDocumentId": receipt_id, **allocation})
        record = mapper.document_record("CustomerReceipt", self.client.get("CustomerReceipt", receipt_id)) \
            if wanted else mapper.document_record("CustomerReceipt", saved)
        return record

    def _allocate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Allocation/Save; a lost answer is looked up (source and target are numbers Sage filters on)."""
        try:
            return self.client.save("Allocation", body)
        except UncertainWrite:
            where = (f"SourceDocumentId eq {int(body['SourceDocumentId'])} and AllocatedToDocumentId eq "
                     f"{int(body['AllocatedToDocumentId'])}")
            found = list(self.client.iterate("Allocation", filter=where))
            if found:
                return found[0]
            raise

    def create_allocation(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        """A customer return set against its invoice, once: an allocation already there is returned."""
        if "refused" in body:  # what the product does not do: skipped, the host told why
            raise NotSupported(str(body["refused"]), data_code="not_supported")
        where = (f"SourceDocumentId eq {int(body['SourceDocumentId'])} and AllocatedToDocumentId eq "
                 f"{int(body['AllocatedToDocumentId'])}")
        found = list(self.client.iterate("Allocation", filter=where))
        made = found[0] if found else self._allocate(body)
        return RemoteRecord(id=str(made["ID"]), data={"id": str(made["ID"]), **made})

    def remove_allocation(self, kind: DocumentKind, allocation_id: str, *, credit_note_id: str) -> None:
        # Allocation has Get and Save only in the API (no Delete): nothing is removed through it.
        raise NotSupported(f"Sage Bridge allocated this return against its invoice (Allocation {allocation_id}), and "
                           "the Sage Business Cloud Accounting API cannot remove an allocation; remove the allocation "
                           "in Sage itself, then delete the return there")

    def payments_changed_since(self, since: datetime) -> Iterator[RemoteRecord]:
        stamp = odata_datetime(since)
        rows = self.client.iterate("CustomerReceipt", filter=f"Created ge {stamp} or Modified ge {stamp}")
        return (mapper.document_record("CustomerReceipt", r) for r in rows)

    def allocations_changed_since(self, since: datetime) -> Iterator[RemoteRecord]:
        return iter(())  # returns set against invoices show on the invoice's AmountDue (feed.document)

    # ---- reference data

    def list_tax_rates(self) -> list[RemoteRecord]:
        return [mapper.tax_type_record(r) for r in self.client.iterate("TaxType")]

    def list_ledger_accounts(self) -> list[RemoteRecord]:
        return [mapper.account_record(r) for r in self.client.iterate("Account")]

    def list_bank_accounts(self) -> list[RemoteRecord]:
        return [mapper.account_record(r) for r in self.client.iterate("BankAccount")]

    def list_items(self, *, changed_since: datetime | None = None) -> list[RemoteRecord]:
        where = None
        if changed_since is not None:
            stamp = odata_datetime(changed_since)
            where = f"Created ge {stamp} or Modified ge {stamp}"
        return [RemoteRecord(id=str(r["ID"]), data={"id": str(r["ID"]), "name": r.get("Description"),
                                                     "displayed_as": r.get("Description"), **r})
                for r in self.client.iterate("Item", filter=where)]

    def business_currency(self) -> str | None:
        """The region's currency (Sage gives a symbol only); None for Asia (several): the tenant sets it."""
        return REGION_CURRENCY.get(self.region)


__all__ = ["REGION_CURRENCY", "RegionalConnector"]
