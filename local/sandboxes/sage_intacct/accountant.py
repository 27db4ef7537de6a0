"""Acting in Intacct directly, as the company's accountant does in the Intacct web app.

Tests use it to make things happen on the Intacct side (a customer pays an invoice, a receipt is
reversed, an item's price changes) and to look at everything a company holds (exactly-once
checks). Nothing here counts as API traffic.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .store import Company

if TYPE_CHECKING:
    from .app import SageIntacctSandbox


class Accountant:
    def __init__(self, sandbox: SageIntacctSandbox, company: Company) -> None:
        self.sandbox = sandbox
        self.company = company

    # -- company set-up

    def authorise_sender(self, sender_id: str) -> None:
        """Add a Web Services sender ID to the company's authorizations (Company > Setup > Company,
        Security tab)."""
        with self.sandbox.lock:
            self.company.authorised_senders.add(sender_id)

    def remove_sender_authorisation(self, sender_id: str | None = None) -> None:
        """Take a sender ID (the sandbox's own by default) off the company's authorizations: its
        next sign-in, and every request on a session it already holds, is refused."""
        with self.sandbox.lock:
            self.company.authorised_senders.discard(sender_id or self.sandbox.sender_id)

    # -- looking

    def list(self, obj: str) -> list[dict[str, Any]]:
        with self.sandbox.lock:
            return [dict(r) for r in self.company.objects[obj].values()]

    def get(self, obj: str, recordno: int | str) -> dict[str, Any]:
        with self.sandbox.lock:
            found = self.company.one(obj, "RECORDNO", recordno)
            if found is None:
                raise KeyError(f"{obj} {recordno} does not exist")
            return dict(found)

    def find(self, obj: str, field: str, value: Any) -> list[dict[str, Any]]:
        with self.sandbox.lock:
            return [dict(r) for r in self.company.find(obj, field, value)]

    def count(self, obj: str) -> int:
        return len(self.company.objects[obj])

    def count_by_reference(self, obj: str = "ARINVOICE", field: str = "RECORDID") -> Counter[Any]:
        """How many records carry each reference: an exactly-once export shows only 1s."""
        with self.sandbox.lock:
            return Counter(r.get(field) for r in self.company.objects[obj].values())

    # -- doing

    def _touch(self) -> dt.datetime:
        return self.sandbox.clock.now()

    def record_payment(self, invoice: int | str, amount: Any = None, *, on: dt.date | None = None,
                       reference: str | None = None, method: str = "EFT", bank: str = "BOA-OPS") -> dict[str, Any]:
        """An ARPYMT applied to one invoice (default: all that is due)."""
        with self.sandbox.lock:
            record = self.company.one("ARINVOICE", "RECORDNO", invoice)
            if record is None:
                raise KeyError(f"ARINVOICE {invoice} does not exist")
            value = Decimal(str(amount)).quantize(Decimal("0.01")) if amount is not None else record["TOTALDUE"]
            if value <= 0 or value > record["TOTALDUE"]:
                raise ValueError(f"cannot apply {value} to an invoice with {record['TOTALDUE']} due")
            payment = self.sandbox.functions.post_payment(
                self.company, customer_id=record["CUSTOMERID"], bank=bank, method=method,
                received=on or self.sandbox.clock.today(), reference=reference, currency=record.get("CURRENCY"),
                applied=[(record, value)], undo=[])
            return dict(payment)

    def reverse_payment(self, payment: int | str) -> dict[str, Any]:
        """Reverse a receipt: the invoices it paid are due again."""
        with self.sandbox.lock:
            record = self.company.one("ARPYMT", "RECORDNO", payment)
            if record is None:
                raise KeyError(f"ARPYMT {payment} does not exist")
            self.sandbox.functions.reverse_payment(self.company, record)
            return dict(record)

    def add_item(self, item_id: str, name: str, *, item_type: str = "Non-Inventory",
                 price: Any = None) -> dict[str, Any]:
        with self.sandbox.lock:
            now = self._touch()
            return dict(self.company.add("ITEM", {
                "ITEMID": item_id, "NAME": name, "ITEMTYPE": item_type, "STATUS": "active",
                "BASEPRICE": Decimal(str(price)).quantize(Decimal("0.01")) if price is not None else None,
                "WHENCREATED": now, "WHENMODIFIED": now}))

    def update(self, obj: str, recordno: int | str, **fields: Any) -> dict[str, Any]:
        with self.sandbox.lock:
            record = self.company.one(obj, "RECORDNO", recordno)
            if record is None:
                raise KeyError(f"{obj} {recordno} does not exist")
            record.update(fields)
            record["WHENMODIFIED"] = self._touch()
            return dict(record)

    def add_customers(self, count: int, *, prefix: str = "BULK") -> None:
        """Many customers at once (benchmarks): CUSTOMERID PREFIX-000001..."""
        with self.sandbox.lock:
            now = self._touch()
            for n in range(1, count + 1):
                name = f"{prefix.title()} Customer {n:06d}"
                self.company.add("CUSTOMER", {
                    "CUSTOMERID": f"{prefix}-{n:06d}", "NAME": name, "STATUS": "active",
                    "DISPLAYCONTACT": {"PRINTAS": name, "EMAIL1": f"c{n}@{prefix.lower()}.example"},
                    "WHENCREATED": now, "WHENMODIFIED": now})
