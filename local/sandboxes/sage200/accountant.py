"""Acting in Sage 200 directly, as the company's accountant does in the Sage 200 desktop.

Tests use it to make things happen on the Sage side (a customer pays, a credit note is set against an
invoice, a product's price changes) and to look at everything the company holds (exactly-once
checks). Nothing here counts as API traffic.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from .books import CREDIT_NOTE, INVOICE, RECEIPT, SALES_PAYMENT, Books, money

if TYPE_CHECKING:
    from .app import Sage200Sandbox

KINDS = {"sales_invoice": INVOICE, "sales_credit_note": CREDIT_NOTE, "receipt": RECEIPT, "refund": SALES_PAYMENT}


class Accountant:
    def __init__(self, sandbox: Sage200Sandbox, books: Books) -> None:
        self.sandbox = sandbox
        self.books = books

    @property
    def ids(self) -> dict[str, str]:
        """Seeded ids: tax codes "T0", "T1", "T2", "T5", "T9"; "bank"; products; customers "ACME001"..."""
        return self.books.seed_ids

    # -- looking ------------------------------------------------------------------------------------

    def list(self, collection: str) -> list[dict[str, Any]]:
        with self.sandbox.lock:
            return self.books.rows(collection)

    def get(self, collection: str, record_id: str | int) -> dict[str, Any]:
        with self.sandbox.lock:
            found = self.books.get(collection, record_id)
        if found is None:
            raise KeyError(f"{collection}/{record_id} does not exist")
        return found

    def customers(self) -> list[dict[str, Any]]:
        return self.list("customers")

    def suppliers(self) -> list[dict[str, Any]]:
        return self.list("suppliers")

    def purchase_posted(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Purchase posted transactions, optionally of one kind ("purchase_invoice", "purchase_credit_note")."""
        rows = self.list("purchase_posted_transactions")
        wanted = {"purchase_invoice": INVOICE, "purchase_credit_note": CREDIT_NOTE}
        return rows if kind is None else [r for r in rows if r["trader_transaction_type"] == wanted[kind]]

    def posted(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Posted transactions, optionally of one kind ("sales_invoice", "sales_credit_note", "receipt",
        "refund": a sales payment)."""
        rows = self.list("sales_posted_transactions")
        return rows if kind is None else [r for r in rows if r["trader_transaction_type"] == KINDS[kind]]

    def count_by_reference(self, kind: str) -> Counter[str]:
        """How many posted transactions of a kind carry each reference: exactly once shows only 1s."""
        return Counter(r["reference"] for r in self.posted(kind))

    def by_reference(self, kind: str, reference: str) -> dict[str, Any]:
        found = [r for r in self.posted(kind) if r["reference"] == reference]
        if len(found) != 1:
            raise KeyError(f"{len(found)} {kind} posted with reference {reference}")
        return found[0]

    # -- what accountants do ------------------------------------------------------------------------

    def record_receipt(self, invoice_id: str | int, amount: Any = None, *, reference: str = "BACS",
                       bank_id: str | None = None) -> dict[str, Any]:
        """A customer receipt allocated to one sales invoice (default: all that is outstanding)."""
        with self.sandbox.lock:
            invoice = self.get("sales_posted_transactions", invoice_id)
            value = money(amount) if amount is not None else invoice["document_outstanding_value"]
            urn = self.books.post("sales_receipts", {
                "customer_id": invoice["customer_id"], "bank_id": int(bank_id or self.ids["bank"]),
                "cheque_value": value, "reference": reference})["urn"]
            receipt = next(r for r in self.posted("receipt") if str(r["urn"]) == urn)
            self.books.post("sales_allocations", {"customer_id": invoice["customer_id"], "allocation_lines": [
                {"posted_tran_id": invoice["id"], "value_to_allocate": value},
                {"posted_tran_id": receipt["id"], "value_to_allocate": -value}]})
            return self.get("sales_posted_transactions", receipt["id"])

    def allocate_credit_note(self, credit_note_id: str | int, invoice_id: str | int,
                             amount: Any = None) -> None:
        """Set a credit note against an invoice (default: as much as both allow)."""
        with self.sandbox.lock:
            note = self.get("sales_posted_transactions", credit_note_id)
            invoice = self.get("sales_posted_transactions", invoice_id)
            value = money(amount) if amount is not None else min(-note["document_outstanding_value"],
                                                                  invoice["document_outstanding_value"])
            self.books.post("sales_allocations", {"customer_id": invoice["customer_id"], "allocation_lines": [
                {"posted_tran_id": invoice["id"], "value_to_allocate": value},
                {"posted_tran_id": note["id"], "value_to_allocate": -value}]})

    def remove_allocation(self, transaction_id: str | int) -> None:
        """Amend Allocation in the desktop: the transaction's allocations are undone, so what it paid
        (or credited) is outstanding again on both sides. The API cannot do this."""
        with self.sandbox.lock:
            self.books.unallocate(transaction_id)

    def reverse(self, transaction_id: str | int) -> dict[str, Any]:
        """Correct Transactions > Reverse in the desktop: the opposite transaction is posted and
        allocated against this one (a refund against a receipt). Only an unallocated transaction."""
        with self.sandbox.lock:
            return self.books.reverse(transaction_id)

    def cancel_receipt(self, receipt_id: str | int) -> dict[str, Any]:
        """How an accountant takes back a receipt posted in error: its allocation removed, then reversed."""
        with self.sandbox.lock:
            if self.books.get("sales_posted_transactions", receipt_id)["document_allocated_value"] != 0:  # type: ignore[index]
                self.books.unallocate(receipt_id)
            return self.books.reverse(receipt_id)

    def change(self, collection: str, record_id: str | int, **fields: Any) -> dict[str, Any]:
        """Edit a record in place (a product's price, a tax code's name), as the desktop would."""
        with self.sandbox.lock:
            record = self.books.collections[collection][int(record_id)]
            record.update(fields)
            record["date_time_updated"] = self.books.now()
            return self.get(collection, record_id)

    def add_product(self, code: str, name: str, price: Any, tax_code_id: int = 2) -> dict[str, Any]:
        with self.sandbox.lock:
            return dict(self.books._add("products", {"code": code, "name": name, "description": name,
                                                     "sales_price": money(price), "tax_code_id": tax_code_id,
                                                     "product_group_id": 1, "product_status_type": "Active"}))
