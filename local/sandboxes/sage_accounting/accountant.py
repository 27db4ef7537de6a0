"""Acting in Sage directly, as the business's accountant does in the Sage web app.

Tests use it to make things happen on the Sage side (a customer pays, an invoice is voided) and
to look at everything a business holds (exactly-once checks). Nothing here counts as API traffic.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from .money import money
from .resources import render

if TYPE_CHECKING:
    from .app import SageAccountingSandbox
    from .store import Business


class Accountant:
    def __init__(self, sandbox: SageAccountingSandbox, business: Business) -> None:
        self.sandbox = sandbox
        self.business = business

    @property
    def ids(self) -> dict[str, str]:
        """Seeded ids: "4000", "GB_STANDARD", "bank", customers "ACME001"..., suppliers "DUNMORE"..."""
        return self.sandbox.seed_ids[self.business.id]

    # -- generic ------------------------------------------------------------------------------------

    def create(self, collection: str, attributes: dict[str, Any]) -> dict[str, Any]:
        with self.sandbox.lock:
            record = self.sandbox.resources.create(self.business, collection, attributes)
            return render(collection, record, None)

    def update(self, collection: str, record_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        with self.sandbox.lock:
            record = self._record(collection, record_id)
            self.sandbox.resources.update(self.business, collection, record, attributes)
            return render(collection, record, None)

    def delete(self, collection: str, record_id: str, void_reason: str | None = None) -> None:
        with self.sandbox.lock:
            self.sandbox.resources.delete(self.business, collection, self._record(collection, record_id), void_reason)

    def get(self, collection: str, record_id: str) -> dict[str, Any]:
        with self.sandbox.lock:
            return render(collection, self._record(collection, record_id), None)

    def list(self, collection: str) -> list[dict[str, Any]]:
        """Every live record of a collection, full attributes, in creation order."""
        with self.sandbox.lock:
            coll = self.business.collections[collection]
            return [render(collection, coll.records[i], None) for i in coll.all_ids()]

    def count(self, collection: str) -> int:
        return len(self.business.collections[collection])

    def count_by_reference(self, collection: str) -> Counter[str | None]:
        """How many documents carry each reference: an exactly-once export shows only 1s."""
        with self.sandbox.lock:
            return Counter(r.data.get("reference") for r in self.business.collections[collection].records.values())

    def _record(self, collection: str, record_id: str) -> Any:
        record = self.business.collections[collection].get(record_id)
        if record is None:
            raise KeyError(f"{collection}/{record_id} does not exist")
        return record

    # -- what accountants do ------------------------------------------------------------------------

    def record_customer_payment(self, invoice_id: str, amount: Any = None, *, date: str | None = None,
                                reference: str | None = None) -> dict[str, Any]:
        """A customer receipt allocated to one sales invoice (default: its whole outstanding amount)."""
        return self._pay("CUSTOMER_RECEIPT", "sales_invoices", invoice_id, amount, date, reference)

    def record_supplier_payment(self, invoice_id: str, amount: Any = None, *, date: str | None = None,
                                reference: str | None = None) -> dict[str, Any]:
        return self._pay("VENDOR_PAYMENT", "purchase_invoices", invoice_id, amount, date, reference)

    def refund_customer(self, credit_note_id: str, amount: Any = None, *, date: str | None = None,
                        reference: str | None = None) -> dict[str, Any]:
        return self._pay("CUSTOMER_REFUND", "sales_credit_notes", credit_note_id, amount, date, reference)

    def _pay(self, kind: str, collection: str, artefact_id: str, amount: Any, date: str | None,
             reference: str | None) -> dict[str, Any]:
        with self.sandbox.lock:
            artefact = self._record(collection, artefact_id)
            value = money(amount) if amount is not None else artefact.data["outstanding_amount"]
            body = {"transaction_type_id": kind, "contact_id": artefact.contact_id, "bank_account_id": self.ids["bank"],
                    "date": date or self.sandbox.clock.today().isoformat(), "total_amount": value,
                    "allocated_artefacts": [{"artefact_id": artefact_id, "amount": value}]}
            if reference is not None:
                body["reference"] = reference
            return self.create("contact_payments", body)

    def allocate_credit_note(self, credit_note_id: str, invoice_id: str, amount: Any = None) -> dict[str, Any]:
        """Set a sales credit note against a sales invoice (default: as much as both allow)."""
        with self.sandbox.lock:
            note = self._record("sales_credit_notes", credit_note_id)
            invoice = self._record("sales_invoices", invoice_id)
            value = money(amount) if amount is not None else min(note.data["outstanding_amount"],
                                                                  invoice.data["outstanding_amount"])
            return self.create("contact_allocations", {
                "transaction_type_id": "CUSTOMER_ALLOCATION", "contact_id": invoice.contact_id,
                "date": self.sandbox.clock.today().isoformat(),
                "allocated_artefacts": [{"artefact_id": invoice_id, "amount": value},
                                        {"artefact_id": credit_note_id, "amount": -value}],
            })

    def void_invoice(self, invoice_id: str, reason: str = "Voided by the accountant") -> dict[str, Any]:
        self.delete("sales_invoices", invoice_id, reason)
        return self.get("sales_invoices", invoice_id)

    def delete_payment(self, payment_id: str) -> None:
        self.delete("contact_payments", payment_id)
