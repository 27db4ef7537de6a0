"""The `Connector` protocol over the Sage Intacct XML gateway client (client.py): contacts,
documents, receipts and reference data, with the bodies built by the Intacct mapper."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sagebridge.connectors.base import (
    CheckedMapping,
    Mapper,
    NotFound,
    NotSupported,
    RecordInvalid,
    RemoteRecord,
    SageError,
    UncertainWrite,
    iso_currency,
)
from sagebridge.connectors.sage_intacct import export_mapper, mapper
from sagebridge.connectors.sage_intacct.client import PROVIDER, IntacctClient
from sagebridge.connectors.sage_intacct.mapper import TaxDetail
from sagebridge.connectors.sage_intacct.xml import Function, date_element, element, sub
from sagebridge.domain.kinds import DocumentKind, RecordKind
from sagebridge.domain.settings import TenantSettings


class IntacctConnector:
    """The `Connector` protocol over an `IntacctClient`. Its bodies are the Intacct mapper's
    (`export_mapper`: functions built from the canonical records), which it brings as `mapper`."""

    provider = PROVIDER
    # Its ALLOCATION_SIGN says what the export engine may allocate a receipt or refund to here: a
    # receipt pays invoices and applies the credit memos it offsets to them (ARPYMTDETAIL
    # ADJUSTMENTKEY); a credit note linked to its invoice is applied by an ARPYMT of no money.
    mapper: Mapper = export_mapper
    # What Intacct never takes, said before anything is built.
    not_exported: Mapping[RecordKind, str] = export_mapper.NOT_EXPORTED
    # Bills' input tax on purchase details (intacct.purchase_tax_mappings), sales on Sale details.
    checked_mappings: tuple[CheckedMapping, ...] = export_mapper.CHECKED_MAPPINGS
    # controlid + uniqueid: the gateway refuses to run a write function it has already executed.
    creates_idempotent = True
    voids_documents = True  # invoices, bills and receipts reversed, adjustments deleted
    search_settle = timedelta(minutes=5)  # not documented: assumed

    def __init__(self, client: IntacctClient, settings: TenantSettings | None = None) -> None:
        self.client = client
        self.settings = settings  # the receipt bank account a credit memo is applied through
        self._taxes: dict[str, TaxDetail] | None = None

    @staticmethod
    def _key(idempotency_key: str | None, body: Mapping[str, Any]) -> str:
        # No ledger key (a catalog tool): the reference is what makes the event unique.
        return idempotency_key or f"ref-{body.get('reference')}"

    # contacts

    def find_contacts(self, *, name: str | None = None, email: str | None = None, reference: str | None = None,
                      contact_type: str | None = None) -> list[RemoteRecord]:
        if contact_type not in (None, "CUSTOMER", "VENDOR"):
            return []
        obj = contact_type or "CUSTOMER"
        if reference:
            query = f"{obj}ID = {mapper.quoted(reference)}"
        elif name:
            query = f"NAME = {mapper.quoted(name.strip())}"
        elif email:
            query = f"DISPLAYCONTACT.EMAIL1 = {mapper.quoted(email.strip())}"
        else:
            return []
        found = [mapper.customer_record(r) for r in self.client.read_by_query(obj, query)]
        if name and not reference:  # Intacct compares as written; the engine means "the same name"
            found = [c for c in found if (c.data.get("name") or "").strip().lower() == name.strip().lower()]
        return found

    @staticmethod
    def _check(body: Mapping[str, Any]) -> None:
        unmapped = export_mapper.unmapped(body)
        if unmapped:  # a tenant setting to fill in (a purchase tax mapping): a skip, nothing is sent
            raise NotSupported(unmapped)
        refused = export_mapper.refusal(body)
        if refused:  # what Intacct would refuse: nothing is sent
            raise RecordInvalid(refused)

    def create_contact(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        self._check(body)
        customer_id = str(body["reference"])
        self.client.execute_all(export_mapper.functions(body, self._key(idempotency_key, body)), transaction=True)
        data = {"id": customer_id, "reference": customer_id, "name": body.get("name"),
                "displayed_as": body.get("name"), "contact_types": [{"id": self._party_type(body)}]}
        return RemoteRecord(id=customer_id, reference=customer_id, data=data)

    def update_contact(self, sage_id: str, body: Mapping[str, Any]) -> RemoteRecord:
        """`update` CUSTOMER or VENDOR (sage_id is the CUSTOMERID / VENDORID documents name)."""
        refused = export_mapper.refusal(body)
        if refused:
            raise NotSupported(refused)
        self.client.execute(export_mapper.customer_update_functions(sage_id, body)[0])
        data = {"id": sage_id, "reference": sage_id, "name": body.get("name"), "displayed_as": body.get("name"),
                "contact_types": [{"id": self._party_type(body)}]}
        return RemoteRecord(id=sage_id, reference=sage_id, data=data)

    @staticmethod
    def _party_type(body: Mapping[str, Any]) -> str:
        """CUSTOMER or VENDOR: the object the body's last function creates or updates."""
        fields = body["functions"][-1]["fields"] if body.get("functions") else {}
        return "VENDOR" if "VENDOR" in fields else "CUSTOMER"

    # documents

    def _object(self, kind: DocumentKind) -> str:
        try:
            return mapper.INVOICE_OBJECTS[kind]
        except KeyError:
            raise RecordInvalid(f"a {kind.value.replace('_', ' ')} is not exported to Sage Intacct") from None

    def create_document(self, kind: DocumentKind, body: Mapping[str, Any], *,
                        idempotency_key: str | None = None) -> RemoteRecord:
        if kind is DocumentKind.CUSTOMER_PAYMENT:
            return self.create_payment(body, idempotency_key=idempotency_key)
        self._check(body)
        function, = export_mapper.functions(body, self._key(idempotency_key, body))
        result = self.client.execute(function, unique=True)
        return mapper.created_document(kind, result.key, body)

    def update_document(self, kind: DocumentKind, remote_id: str, body: Mapping[str, Any]) -> RemoteRecord:
        # Posted AR documents are changed in Intacct by reversing and re-entering, which the
        # bookkeeper decides; Sage Bridge reports it rather than rewriting the ledger.
        raise RecordInvalid(f"Sage Intacct: {kind.value.replace('_', ' ')} {remote_id} is already posted; "
                            "change it in Intacct (reverse and re-enter) or void it in the host app")

    def void_document(self, kind: DocumentKind, remote_id: str, *, reason: str) -> RemoteRecord:
        today = datetime.now(UTC).date()
        if kind in (DocumentKind.SALES_INVOICE, DocumentKind.PURCHASE_INVOICE):
            fn = element("reverse_invoice" if kind is DocumentKind.SALES_INVOICE else "reverse_bill", key=remote_id)
            fn.append(date_element("datereversed", today))
            sub(fn, "description", reason[:1000])
        elif kind in (DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_CREDIT_NOTE):
            fn = element("delete_aradjustment" if kind is DocumentKind.SALES_CREDIT_NOTE else "delete_apadjustment",
                         key=remote_id)
        elif kind is DocumentKind.CUSTOMER_PAYMENT:  # its applications undone; it stays, Reversed
            fn = element("reverse_arpayment", key=remote_id)
            fn.append(date_element("datereversed", today))
            sub(fn, "description", reason[:1000])
        else:  # what Sage Bridge does not do (skipped, the host told), not a refusal of this version
            raise NotSupported(f"a {kind.value.replace('_', ' ')} voided in the host app is not reversed in Sage "
                               "Intacct by Sage Bridge; reverse it in Sage Intacct itself")
        self.client.execute(Function(mapper.controlid("void", f"{kind.value}-{remote_id}"), fn), unique=True)
        return RemoteRecord(id=remote_id, data={"id": remote_id, "status": {"id": "VOID"}})

    def get_document(self, kind: DocumentKind, remote_id: str) -> RemoteRecord:
        rows = self.client.read(self._object(kind), [remote_id])
        if not rows:
            raise NotFound(f"{self._object(kind)} {remote_id} is not in Sage Intacct", status=404)
        return mapper.document_record(kind, rows[0])

    def find_documents_by_reference(self, kind: DocumentKind, reference: str) -> list[RemoteRecord]:
        field_name = "DOCNUMBER" if kind is DocumentKind.CUSTOMER_PAYMENT else "RECORDID"
        rows = self.client.read_by_query(self._object(kind), f"{field_name} = {mapper.quoted(reference)}")
        return [mapper.document_record(kind, r) for r in rows]

    def list_documents(self, kind: DocumentKind, *, from_date: date | None = None,
                       to_date: date | None = None) -> Iterator[RemoteRecord]:
        field_name = "RECEIPTDATE" if kind is DocumentKind.CUSTOMER_PAYMENT else "WHENCREATED"
        parts = []
        if from_date:
            parts.append(f"{field_name} >= {mapper.quoted(from_date.strftime(mapper.DATE_FORMAT))}")
        if to_date:
            parts.append(f"{field_name} <= {mapper.quoted(to_date.strftime(mapper.DATE_FORMAT))}")
        rows = self.client.read_by_query(self._object(kind), " AND ".join(parts))
        # a credit note's application (an ARPYMT of no money) is not one of the host's payments
        return (mapper.document_record(kind, r) for r in rows
                if kind is not DocumentKind.CUSTOMER_PAYMENT or not mapper.is_credit_application(r))

    # money movements

    def create_payment(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        self._check(body)
        function, = export_mapper.functions(body, self._key(idempotency_key, body))
        result = self.client.execute(function, unique=True)
        created = (result.records or [{}])[0]
        key = str(created.get("RECORDNO") or result.key or "")
        return RemoteRecord(id=key, reference=body.get("reference"), data={
            "id": key, "reference": body.get("reference"), "total_amount": body.get("total_amount"),
            "contact": {"id": body.get("contact_id")}, "transaction_type": {"id": "CUSTOMER_RECEIPT"},
            "date": str(body.get("date"))})

    def create_allocation(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> RemoteRecord:
        """A credit memo applied to its invoice: an ARPYMT that moves no money (export_mapper's
        credit_note_allocation_body), through the tenant's receipt bank account. An uncertain write
        is looked up by its DOCNUMBER before the engine hears it is uncertain."""
        refused = export_mapper.refusal(body)
        if refused:
            raise NotSupported(str(refused), data_code="not_supported")
        bank = self.settings.receipt_bank_account_id if self.settings is not None else None
        if not bank:
            raise NotSupported("Sage Intacct applies a credit memo to its invoice through an AR payment, which names "
                               "a bank account: set receipt_bank_account_id", data_code="not_supported")
        function, = export_mapper.functions(_with_bank(body, bank), self._key(idempotency_key, body))
        try:
            result = self.client.execute(function, unique=True)
        except UncertainWrite:
            found = [r for r in self.client.read_by_query("ARPYMT", f"DOCNUMBER = {mapper.quoted(body['reference'])}")
                     if not mapper.is_voided(r)]
            if not found:
                raise
            return mapper.payment_record(found[0])
        key = str((result.records or [{}])[0].get("RECORDNO") or result.key or "")
        return RemoteRecord(id=key, reference=body.get("reference"), data={
            "id": key, "reference": body.get("reference"), "total_amount": body.get("total_amount"),
            "contact": {"id": body.get("contact_id")}, "date": str(body.get("date"))})

    def credited_in_full(self, kind: DocumentKind, remote_id: str, *, total: Decimal) -> bool:
        return False  # voids_documents is True: the engine never asks (the void itself is the way out)

    def remove_allocation(self, kind: DocumentKind, allocation_id: str, *, credit_note_id: str) -> None:
        """The credit-only ARPYMT that applied the credit memo, reversed (reverse_arpayment, as a
        receipt's void): the invoice owes again and the credit memo is available to delete."""
        if kind is not DocumentKind.SALES_CREDIT_NOTE or allocation_id == credit_note_id:
            raise NotSupported("Sage Bridge cannot tell which Sage Intacct application set this credit memo against "
                               "its invoice; reverse that application in Sage Intacct, then delete the credit memo")
        rows = self.client.read("ARPYMT", [allocation_id])
        if not rows or mapper.is_voided(rows[0]):
            raise NotFound(f"ARPYMT {allocation_id} is not in Sage Intacct (or is reversed already)", status=404)
        fn = element("reverse_arpayment", key=allocation_id)
        fn.append(date_element("datereversed", datetime.now(UTC).date()))
        sub(fn, "description", "credit memo voided in the host app")
        self.client.execute(Function(mapper.controlid("unapply", f"{kind.value}-{allocation_id}"), fn), unique=True)

    def payments_changed_since(self, since: datetime) -> Iterator[RemoteRecord]:
        query = f"WHENMODIFIED >= {mapper.quoted(mapper.query_timestamp(since))}"
        rows = list(self.client.read_by_query("ARPYMT", query))
        details = self.payment_details([str(r.get("RECORDNO")) for r in rows])
        return (mapper.payment_record(r, details.get(str(r.get("RECORDNO")), [])) for r in rows)

    def payment_details(self, payment_keys: Sequence[str], *, chunk: int = 100) -> dict[str, list[dict[str, Any]]]:
        """ARPYMTDETAIL lines (which invoice, how much) of the given payments, 100 keys a query."""
        out: dict[str, list[dict[str, Any]]] = {}
        keys = [k for k in payment_keys if k]
        for start in range(0, len(keys), chunk):
            ids = ",".join(mapper.quoted(k) for k in keys[start:start + chunk])
            for row in self.client.read_by_query("ARPYMTDETAIL", f"PAYMENTKEY IN ({ids})"):
                out.setdefault(str(row.get("PAYMENTKEY")), []).append(row)
        return out

    def allocations_changed_since(self, since: datetime) -> Iterator[RemoteRecord]:
        return iter(())  # a credit memo's application is an ARPYMT: the feed reads it with the payments

    # reference data

    def _tax_details(self) -> dict[str, TaxDetail]:
        if self._taxes is None:
            self._taxes = {}
            # Sale details tax AR documents; Purchase details (their own GL accounts) tax bills and
            # vendor credit memos.
            for row in self.client.read_by_query("TAXDETAIL", "TAXTYPE IN ('Sale', 'Purchase')"):
                detail = mapper.tax_detail(row)
                self._taxes[detail.detail_id] = detail
        return self._taxes

    def list_tax_rates(self) -> list[RemoteRecord]:
        self._taxes = None  # a new run reads the company's tax details afresh
        return [mapper.NO_TAX_RECORD, *(export_mapper.tax_rate_record(d) for d in self._tax_details().values())]

    def list_ledger_accounts(self) -> list[RemoteRecord]:
        return [RemoteRecord(id=str(r.get("ACCOUNTNO")), data={"id": r.get("ACCOUNTNO"), "name": r.get("TITLE"),
                                                                "displayed_as": r.get("TITLE"), **r})
                for r in self.client.read_by_query("GLACCOUNT", "STATUS = 'active'")]

    def list_bank_accounts(self) -> list[RemoteRecord]:
        return [RemoteRecord(id=str(r.get("BANKACCOUNTID")), data={"id": r.get("BANKACCOUNTID"),
                                                                    "name": r.get("BANKNAME"),
                                                                    "displayed_as": r.get("BANKNAME"), **r})
                for r in self.client.read_by_query("CHECKINGACCOUNT", "STATUS = 'active'")]

    def business_currency(self) -> str | None:
        """The base currency, read from Intacct's entities (`LOCATIONENTITY`, whose CURRENCY is an
        entity's base currency), one request:
        - a login scoped to an entity: that entity's currency;
        - a company-level login: the currency every entity shares. None when Intacct cannot say
          (no entities, i.e. a standalone company, or entities in different currencies): the
          tenant setting `business_currency` must then decide (`read_base_currency` says why);
          nothing is assumed."""
        return self.read_base_currency()[0]

    def read_base_currency(self) -> tuple[str | None, str | None]:
        """(the base currency, None) or (None, why Intacct cannot tell it, in an operator's words)."""
        entity = self.client.credentials.entity_id
        if entity:
            rows = list(self.client.read_by_query("LOCATIONENTITY", f"LOCATIONID = {mapper.quoted(entity)}",
                                                  fields="LOCATIONID,CURRENCY", page_size=1))
            code = iso_currency(rows[0].get("CURRENCY")) if rows else None
            if code is None:
                raise SageError(f"Intacct names no base currency for entity {entity!r}", source="LOCATIONENTITY")
            return code, None
        rows = list(self.client.read_by_query("LOCATIONENTITY", "", fields="LOCATIONID,CURRENCY"))
        found = {str(r.get("LOCATIONID")): iso_currency(r.get("CURRENCY")) for r in rows}
        codes = set(found.values())
        if len(codes) == 1 and None not in codes:
            return codes.pop(), None
        if not found:
            return None, ("this Intacct company has no entities, and Intacct's API does not tell a "
                          "standalone company's base currency")
        named = ", ".join(f"{e}: {c or 'none'}" for e, c in sorted(found.items()))
        return None, f"this company-level login spans entities in different currencies ({named})"

    def list_items(self, *, changed_since: datetime | None = None) -> list[RemoteRecord]:
        query = f"WHENMODIFIED >= {mapper.quoted(mapper.query_timestamp(changed_since))}" if changed_since else ""
        return [mapper.item_record(r) for r in self.client.read_by_query("ITEM", query)]


def _with_bank(body: Mapping[str, Any], bank: str) -> dict[str, Any]:
    """The credit application body with FINANCIALENTITY filled in (the rest as built)."""
    (function,) = body["functions"]
    (tag, fields), = function["fields"].items()
    return {**body, "functions": [{**function, "fields": {tag: {**fields, "FINANCIALENTITY": bank}}}]}


__all__ = ["IntacctConnector"]
