"""Acting in Sage Business Cloud Accounting (regional) directly, as the company's accountant does in the
web app: receipts and allocations (a customer pays an invoice), supplier payments, edits to a tax type or
an item, and reading back everything the company holds (exactly-once checks). Nothing here counts as
API traffic or towards the request limit.
"""

from __future__ import annotations

import builtins
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .books import DOCUMENTS, PAYMENTS, Books, render_value

if TYPE_CHECKING:
    from .app import SageRegionalSandbox


class Accountant:
    def __init__(self, sandbox: SageRegionalSandbox, books: Books) -> None:
        self.sandbox = sandbox
        self.books = books

    @property
    def ids(self) -> dict[str, int]:
        """The company's seeded IDs (see ``SageRegionalSandbox.ids``)."""
        return self.books.seed_ids

    @property
    def company_id(self) -> int:
        return self.books.company_id

    # -- looking ------------------------------------------------------------------------------------

    def list(self, service: str) -> list[dict[str, Any]]:
        """Every record of a service as the API would render it (documents with their lines)."""
        with self.sandbox.lock:
            return [self.books.render(service, r, party=False) if service in DOCUMENTS or service in PAYMENTS
                    else render_value(self.books.view(service, r)) for r in self.books.records[service].values()]

    def get(self, service: str, record_id: int) -> dict[str, Any]:
        with self.sandbox.lock:
            return self.books.render(service, self.books.get(service, int(record_id)), party=False) \
                if service in DOCUMENTS or service in PAYMENTS \
                else render_value(self.books.view(service, self.books.get(service, int(record_id))))

    def count_by_external_reference(self, service: str = "TaxInvoice") -> Counter[str]:
        """How many documents of a service carry each ExternalReference: exactly once shows only 1s."""
        return Counter(r.get("ExternalReference") or "" for r in self.list(service))

    def by_external_reference(self, service: str, reference: str) -> dict[str, Any]:
        found = [r for r in self.list(service) if r.get("ExternalReference") == reference]
        if len(found) != 1:
            raise KeyError(f"{len(found)} {service} records carry ExternalReference {reference!r}")
        return found[0]

    def allocations(self, document_id: int | None = None) -> builtins.list[dict[str, Any]]:
        """Allocations, optionally only those from or to one document."""
        return [a for a in self.list("Allocation")
                if document_id is None or document_id in (a["SourceDocumentId"], a["AllocatedToDocumentId"])]

    def throttled(self) -> int:
        """429s the sandbox has served for the request limit (a paced client keeps this at 0)."""
        return self.sandbox.throttled["rate"]

    # -- what accountants do ------------------------------------------------------------------------

    def record_receipt(self, invoice_id: int, amount: Any = None, *, bank_account_id: int | None = None,
                       reference: str = "EFT") -> dict[str, Any]:
        """A customer receipt allocated to one tax invoice (default: all that is outstanding)."""
        return self._pay("CustomerReceipt", "TaxInvoice", invoice_id, amount, bank_account_id, reference)

    def record_supplier_payment(self, invoice_id: int, amount: Any = None, *, bank_account_id: int | None = None,
                                reference: str = "EFT") -> dict[str, Any]:
        """A supplier payment allocated to one supplier invoice (default: all that is outstanding)."""
        return self._pay("SupplierPayment", "SupplierInvoice", invoice_id, amount, bank_account_id, reference)

    def _pay(self, service: str, invoice_service: str, invoice_id: int, amount: Any, bank_account_id: int | None,
             reference: str) -> dict[str, Any]:
        party = PAYMENTS[service][0]
        with self.sandbox.lock:
            invoice = self.books.get(invoice_service, int(invoice_id))
            value = self.books.money(Decimal(str(amount))) if amount is not None else invoice["AmountDue"]
            payment, _ = self.books.save(service, {
                f"{party}Id": invoice[f"{party}Id"], "Date": self.books.now().date().isoformat(), "Total": value,
                "BankAccountId": bank_account_id or self.ids["bank"], "Reference": reference, "PaymentMethod": 4})
            self.books.allocate(payment["ID"], invoice["ID"], value)
            return self.get(service, payment["ID"])

    def allocate(self, source_id: int, invoice_id: int, amount: Any = None) -> dict[str, Any]:
        """Set a receipt, payment or return against an invoice (default: as much as both allow)."""
        with self.sandbox.lock:
            source_service, source = self.books.document(int(source_id))
            _, invoice = self.books.document(int(invoice_id))
            value = Decimal(str(amount)) if amount is not None else min(
                self.books.outstanding(source_service, source), invoice["AmountDue"])
            return render_value(self.books.allocate(int(source_id), int(invoice_id), value))

    def change(self, service: str, record_id: int, **fields: Any) -> dict[str, Any]:
        """Edit a record in place (a tax type's rate, an item's price), as the web app would."""
        with self.sandbox.lock:
            record = self.books.get(service, int(record_id))
            record.update({k: Decimal(str(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                           for k, v in fields.items()})
            record["Modified"] = self.books.now().replace(tzinfo=None, microsecond=0)
            return self.get(service, record_id)

    def add(self, service: str, **fields: Any) -> dict[str, Any]:
        """Key a record in (a customer, an item, a tax type) without the API."""
        with self.sandbox.lock:
            return render_value(self.books.add(service, fields))

    def let_registration_expire(self, expired: bool = True) -> None:
        """The company's subscription lapses (every API call for it answers 402) or is paid again."""
        with self.sandbox.lock:
            self.books.registration_expired = expired
