"""The books-correctness state machine: random sequences of host events, accountant actions in Sage
and system events (runs, replays, crashes, faults, token expiry) against the real system, checked
after every step against the reference model (reference.py).

Some invariants hold at every step (nothing exported twice, nothing non-exportable in Sage, every
failure told); the rest hold "after a quiet run" and are checked by the `settle` rule, which turns
faults off, runs what is queued and a scheduled run, polls payments, then compares Sage with the
reference books, as an eventual-consistency check would.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.model.reference import (
    COLLECTION,
    EVENT_TYPE,
    PURCHASES,
    SALES,
    TRIGGER_STATUSES,
    ZERO,
    Books,
    Doc,
    Line,
    Party,
    Payment,
    Receipt,
    exportable,
    money,
)
from tests.model.system import System, Tenant, now_iso

# Defects of issue 13 still open on this branch: the rules that would trip them hold back (and the
# invariants they would break are not asserted) until the fix is merged. Empty once all are in.
# SAGEBRIDGE_MODEL_OPEN_DEFECTS="" (or a list) overrides, e.g. to watch the model find one.
# New defects the model found get a name here (N1...) and a regression test of their own.
_DEFAULT_OPEN = ""
OPEN_DEFECTS = frozenset(n.strip() for n in os.environ.get("SAGEBRIDGE_MODEL_OPEN_DEFECTS", _DEFAULT_OPEN).split(",")
                         if n.strip())

STATS: Counter[str] = Counter()  # steps, examples, events...: printed at the end of the session
STATES: set[int] = set()  # fingerprints of distinct (host books, Sage books) states checked

PRICES = ("10.00", "12.50", "0.99", "33.33", "100.00", "7.15")
DESCRIPTIONS = ("Labour", "Parts", "Call-out", "Materials")
STATUSES = ("draft", "pending_payment", "paid", "quote", "cancelled")
# A credit note's kind -> the kind of invoice its `invoice_id` names.
CREDITED = {"sales_credit_note": "sales_invoice", "purchase_credit_note": "purchase_invoice"}
PREFIX = {"sales_invoice": "INV", "sales_credit_note": "CN", "purchase_invoice": "PI", "purchase_credit_note": "PCN"}
CUSTOMERS = ("C1", "C2", "C3")
VENDORS = ("V1", "V2")
FAULTS = ("500", "429", "timeout_after_commit", "503_get")



def lines_strategy(ledger_codes: tuple[str | None, ...]) -> st.SearchStrategy[list[Line]]:
    return st.lists(
        st.builds(Line, description=st.sampled_from(DESCRIPTIONS), quantity=st.integers(1, 3),
                  unit_price=st.sampled_from(PRICES).map(Decimal), tax_code=st.sampled_from(("S", "R", "Z")),
                  ledger_code=st.sampled_from(ledger_codes)),
        min_size=1, max_size=3,
    )


SALES_LINES = lines_strategy((None, "SALES", "SERVICES"))
PURCHASE_LINES = lines_strategy((None, "PARTS", "FUEL"))
# The mappings the accountant may make inactive in Sage: (setting kind, host code, seeded Sage key).
INACTIVABLE = (("ledger", "SERVICES", "4010"), ("ledger", "FUEL", "7200"), ("tax", "R", "GB_LOWER"))


def open_defect(number: int | str) -> bool:
    return str(number) in OPEN_DEFECTS


class BooksMachine(RuleBasedStateMachine):
    system: System  # set by the test module before the machine runs
    PROVIDER = "sage_accounting"  # the product each example's tenant is on (product_machine.py: the others)

    def __init__(self) -> None:
        super().__init__()
        self.books = Books()
        self.tenant: Tenant | None = None
        self.occurred: dict[str, str] = {}  # host id -> occurred_at of its last event
        self.sent: list[tuple[str, dict[str, Any]]] = []  # (event id, event) in the order sent
        self.faults_on = False
        self.seq = 0
        self.identify = "none"
        self.export_type = "all"
        self.scheduled_runs = 0
        STATS["examples"] += 1

    # ------------------------------------------------------------------------------------ plumbing

    @property
    def currency(self) -> str:
        """The tenant's Sage business currency, which every host document is in."""
        return self.t.row.currency if self.tenant is not None and self.t.row is not None else "GBP"

    @property
    def t(self) -> Tenant:
        assert self.tenant is not None
        return self.tenant

    def teardown(self) -> None:
        if self.tenant is not None:
            self.t.sandbox.faults.clear()
            self.tenant.disable()

    def _next_id(self, prefix: str) -> str:
        self.seq += 1
        return f"evt_{prefix}_{self.seq}"

    def _send(self, event_type: str, data: dict[str, Any], *, host_id: str, same_second: bool = False,
              event_id: str | None = None) -> dict[str, Any]:
        if same_second and host_id in self.occurred:
            occurred_at = self.occurred[host_id]
        else:
            self.system.clock.advance(seconds=1)
            occurred_at = now_iso(self.system.clock)
        self.occurred[host_id] = occurred_at
        event = {"id": event_id or self._next_id(event_type.split(".")[0]), "type": event_type,
                 "occurred_at": occurred_at, "data": data}
        reply = self.t.send(event)
        note(f"host -> {event_type} {host_id} {json.dumps(data, default=str)[:160]} => {reply.status} {reply.body}")
        assert reply.status == 202, f"{event_type} {host_id}: {reply.status} {reply.body}"
        self.books.events[event["id"]] = json.dumps(event, sort_keys=True)
        self.books.replies[event["id"]] = reply.body
        self.sent.append((event["id"], event))
        STATS["events"] += 1
        return reply.body

    def _party_json(self, party: Party) -> dict[str, Any]:
        return {"host_id": party.host_id, "name": party.name, "email": party.email, "currency": self.currency}

    def _party(self, kind: str, host_id: str) -> Party:
        if host_id not in self.books.parties:
            self.books.parties[host_id] = Party(kind, host_id, f"{kind.title()} {host_id} Ltd",
                                                f"ap.{host_id.lower()}@example.com")
        return self.books.parties[host_id]

    def _doc_json(self, doc: Doc) -> dict[str, Any]:
        party = self._party("customer" if doc.kind in SALES else "vendor", doc.party_id)
        data: dict[str, Any] = {
            "host_id": doc.host_id, "number": doc.number, "party_id": doc.party_id, "party": self._party_json(party),
            "document_date": doc.document_date.isoformat(), "currency": self.currency, "status": doc.status,
            "lines": [line.json() for line in doc.lines],
            "totals": {"net": str(doc.net), "tax": str(doc.tax), "total": str(doc.total)},
        }
        if doc.versioned:
            data["version"] = doc.version
        if doc.invoice_id:
            data["invoice_id"] = doc.invoice_id
        return data

    # ----------------------------------------------------------------------------------- the start

    @initialize(export_type=st.sampled_from(("all", "new")), identify=st.sampled_from(("none", "name")))
    def start(self, export_type: str, identify: str) -> None:
        self.tenant = self.system.new_tenant(self.PROVIDER, export_type=export_type, identify_customer_by=identify)
        self.identify = identify
        self.export_type = export_type
        self.tenant.connect()
        note(f"tenant {self.tenant.tenant_id} business {self.tenant.business_id} identify by {identify}")

    # ---------------------------------------------------------------------------------- host events

    @rule(n=st.sampled_from(CUSTOMERS + VENDORS), new_email=st.booleans(), rename=st.booleans())
    def upsert_party(self, n: str, new_email: bool, rename: bool) -> None:
        """A customer or vendor, new or changed (a new email, a new name). A changed party alone must
        reach Sage on the next scheduled run (defect 18)."""
        kind = "customer" if n.startswith("C") else "vendor"
        party = self._party(kind, n)
        if new_email:
            party.email = f"ap{self.seq}.{n.lower()}@example.com"
        if rename and not open_defect(18) and self.identify == "none":
            party.name = f"{kind.title()} {n} Trading {self.seq} Ltd"
        party.version += 1
        body = self._send(EVENT_TYPE[kind], {**self._party_json(party), "version": party.version}, host_id=n)
        assert body["result"] == "stored", body

    @rule(kind=st.sampled_from(tuple(PREFIX)), n=st.integers(1, 4), party=st.integers(0, 1),
          data=st.data(), days_back=st.sampled_from((0, 0, 3, 60)), status=st.sampled_from(STATUSES),
          versioned=st.booleans(), same_second=st.booleans(), link=st.booleans())
    def upsert_document(self, kind: str, n: int, party: int, data: st.DataObject, days_back: int, status: str,
                        versioned: bool, same_second: bool, link: bool) -> None:
        lines = data.draw(SALES_LINES if kind in SALES else PURCHASE_LINES, label="lines")
        host_id = f"{PREFIX[kind]}-{n}"
        doc = self.books.docs.get(host_id)
        if doc is not None and doc.voided:
            return  # a voided document is final in the host
        if open_defect("N1") and any(h == host_id for _, h in self.t.kill.killed):
            return  # in doubt since a worker died on it: changing it now trips N1
        if open_defect("N3") and doc is not None and doc.pre_existing and self._sage_doc(doc) is not None \
                and (self.t.store.ledger.find(self.t.tenant_id, doc.kind, doc.host_id) is None
                     or self.t.store.ledger.find(self.t.tenant_id, doc.kind, doc.host_id).sage_id is None):
            return  # history not linked yet: changing it now trips N3
        if days_back >= 60 and open_defect(4):
            days_back = 3
        if status == "cancelled" and doc is not None and doc.ever_exportable and open_defect(1):
            status = "paid"  # leaving an exportable status: defect 1
        if doc is None:
            parties = CUSTOMERS if kind in SALES else VENDORS
            doc = Doc(kind=kind, host_id=host_id, number=f"{PREFIX[kind]}-{n:05d}", party_id=parties[party],
                      document_date=self.system.clock.today() - timedelta(days=days_back), status=status,
                      lines=lines, versioned=versioned)
            if kind in CREDITED and link and not open_defect(6):
                invoices = [d for d in self.books.documents(CREDITED[kind]) if d.party_id == doc.party_id]
                doc.invoice_id = invoices[0].host_id if invoices else None
            self.books.docs[host_id] = doc
            same_second = False
        else:
            doc.lines, doc.status = lines, status
        if same_second and not doc.versioned and open_defect(2):
            same_second = False
        doc.version += 1
        doc.ever_exportable = doc.ever_exportable or exportable(status)
        doc.changed_at = len(self.t.outbox.sent)
        doc.uses_inactive = self.books.uses_inactive(doc)
        doc.sage_voided = False
        if exportable(status) or open_defect(1):  # with defect 1 open, any status may be exported
            doc.sent_versions.append(doc.shape())
        body = self._send(EVENT_TYPE[kind], self._doc_json(doc), host_id=host_id, same_second=same_second)
        assert body["result"] == "stored", body
        assert body["export_queued"] == (status in TRIGGER_STATUSES), body

    @rule(kind=st.sampled_from(tuple(PREFIX)), n=st.integers(1, 4), with_version=st.booleans())
    def void_document(self, kind: str, n: int, with_version: bool) -> None:
        """The host voids a document; a host that versions its documents may still send the void
        without `version` (defect 20: that void must not be dropped as stale)."""
        doc = self.books.docs.get(f"{PREFIX[kind]}-{n}")
        if doc is None or doc.voided:
            return
        if open_defect("N1") and any(h == doc.host_id for _, h in self.t.kill.killed):
            return
        if doc.versioned and not with_version and open_defect(20):
            with_version = True
        doc.version += 1
        data: dict[str, Any] = {"kind": kind, "host_id": doc.host_id, "reason": "raised in error"}
        if doc.versioned and with_version:
            data["version"] = doc.version
        doc.voided = True
        doc.changed_at = len(self.t.outbox.sent)
        body = self._send("document.voided", data, host_id=doc.host_id)
        assert body["result"] == "stored", body

    @rule(n=st.integers(1, 3), party=st.sampled_from(CUSTOMERS), share=st.sampled_from(("full", "part", "over")),
          data=st.data())
    def record_payment(self, n: int, party: str, share: str, data: st.DataObject) -> None:
        host_id = f"PAY-{n}"
        if host_id in self.books.payments:
            return
        open_invoices = [d for d in self._payable_invoices() if d.party_id == party]
        chosen = data.draw(st.lists(st.sampled_from(open_invoices), unique_by=lambda d: d.host_id, max_size=2)
                           if open_invoices else st.just([]))
        allocations = []
        for doc in chosen:
            outstanding = self.books.outstanding(doc.host_id)
            amount = outstanding if share != "part" else money(outstanding / 2)
            if amount > ZERO:
                allocations.append((doc.kind, doc.host_id, amount))
        amount = sum((a for _, _, a in allocations), ZERO) + (Decimal("5.00") if share == "over" or not allocations
                                                               else ZERO)
        payment = Payment("customer_payment", host_id, party, self.system.clock.today(), amount, allocations,
                          changed_at=len(self.t.outbox.sent))
        self.books.payments[host_id] = payment
        self._party("customer", party)
        self._send("payment.recorded", self._payment_json(payment), host_id=host_id)

    @rule(n=st.integers(1, 2))
    def record_refund(self, n: int) -> None:
        host_id = f"REF-{n}"
        notes = [d for d in self.books.documents("sales_credit_note")
                 if d.live and d.invoice_id is None and self.books.outstanding(d.host_id) > ZERO]
        if host_id in self.books.payments or not notes:
            return
        note_doc = notes[0]
        amount = self.books.outstanding(note_doc.host_id)
        payment = Payment("customer_refund", host_id, note_doc.party_id, self.system.clock.today(), amount,
                          [(note_doc.kind, note_doc.host_id, amount)], changed_at=len(self.t.outbox.sent))
        self.books.payments[host_id] = payment
        self._send("refund.recorded", self._payment_json(payment), host_id=host_id)

    def _linked(self, invoice: Doc) -> bool:
        return any(d.invoice_id == invoice.host_id and not d.voided for d in self.books.documents("sales_credit_note"))

    def _payable_invoices(self) -> list[Doc]:
        """Live invoices with something left to pay that no credit note is linked to (what a linked
        credit note takes off is Sage's arithmetic at allocation time, not the host's)."""
        return [d for d in self.books.documents("sales_invoice")
                if d.live and self.books.outstanding(d.host_id) > ZERO and not self._linked(d)]

    @precondition(lambda self: not open_defect(6))
    @rule(n=st.integers(4, 5), pure=st.booleans())
    def record_offset(self, n: int, pure: bool) -> None:
        """A payment that sets a credit note against an invoice: the bank amount is invoices minus
        credit notes; a pure offset moves no money (amount 0)."""
        host_id = f"PAY-{n}"
        if host_id in self.books.payments:
            return
        for invoice in self._payable_invoices():
            notes = [d for d in self.books.documents("sales_credit_note")
                     if d.party_id == invoice.party_id and d.live and d.invoice_id is None
                     and self.books.outstanding(d.host_id) > ZERO]
            if notes:
                break
        else:
            return
        credit_note = notes[0]
        owed = self.books.outstanding(invoice.host_id)
        credit = min(self.books.outstanding(credit_note.host_id), owed)
        paid = credit if pure else owed
        allocations = [("sales_invoice", invoice.host_id, paid), ("sales_credit_note", credit_note.host_id, credit)]
        payment = Payment("customer_payment", host_id, invoice.party_id, self.system.clock.today(), paid - credit,
                          allocations, changed_at=len(self.t.outbox.sent))
        self.books.payments[host_id] = payment
        self._send("payment.recorded", self._payment_json(payment), host_id=host_id)

    def _payment_json(self, payment: Payment) -> dict[str, Any]:
        party = self._party("customer", payment.party_id)
        return {"host_id": payment.host_id, "party_id": payment.party_id, "party": self._party_json(party),
                "payment_date": payment.payment_date.isoformat(), "amount": str(payment.amount),
                "currency": self.currency, "method": "bank_transfer",
                "allocations": [{"kind": k, "host_id": h, "amount": str(a)} for k, h, a in payment.allocations]}

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def duplicate_delivery(self, data: st.DataObject) -> None:
        """The host retries an event it already delivered: same id, same body."""
        event_id, event = data.draw(st.sampled_from(self.sent))
        reply = self.t.send(event)
        note(f"host -> again {event_id} => {reply.status} {reply.body}")
        assert reply.status == 202, reply.body
        first = self.books.replies[event_id]
        assert reply.body["result"] == first["result"] and reply.body["host_id"] == first["host_id"], reply.body
        assert reply.body.get("duplicate") is True, reply.body

    @precondition(lambda self: bool(self.sent) and not open_defect(3))
    @rule(data=st.data())
    def reuse_event_id(self, data: st.DataObject) -> None:
        """The host reuses an event id for a different body: refused, and nothing stored."""
        event_id, event = data.draw(st.sampled_from(self.sent))
        changed = json.loads(json.dumps(event))
        self.system.clock.advance(seconds=1)
        changed["occurred_at"] = now_iso(self.system.clock)
        reply = self.t.send(changed)
        note(f"host -> reused id {event_id} => {reply.status} {reply.body}")
        assert reply.status in (409, 422), reply.body

    @precondition(lambda self: any(d.versioned and d.version > 1 and not d.voided for d in self.books.docs.values()))
    @rule(data=st.data())
    def late_older_version(self, data: st.DataObject) -> None:
        """An older version arrives after a newer one (the host's queue reordered them): stale."""
        doc = data.draw(st.sampled_from(sorted(
            (d for d in self.books.docs.values() if d.versioned and d.version > 1 and not d.voided),
            key=lambda d: d.host_id)))
        older = self._doc_json(doc)
        older["version"] = doc.version - 1
        older["totals"] = {"net": "1.00", "tax": "0.00", "total": "1.00"}
        older["lines"] = [{"description": "old", "quantity": "1", "unit_price": "1.00", "tax_code": "Z"}]
        self.system.clock.advance(seconds=1)
        event = {"id": self._next_id("late"), "type": EVENT_TYPE[doc.kind], "occurred_at": now_iso(self.system.clock),
                 "data": older}
        reply = self.t.send(event)
        note(f"host -> older v{older['version']} of {doc.host_id} => {reply.status} {reply.body}")
        assert reply.status == 202 and reply.body["result"] == "stale", reply.body

    # ------------------------------------------------------------------------- the accountant in Sage

    def _mapped(self, doc: Doc) -> bool:
        """Did Sage Bridge ever create or link this document in Sage (it has a mapping)?"""
        return self.t.store.mappings.find(self.t.tenant_id, doc.kind, doc.host_id) is not None

    def _sage_doc(self, doc: Doc) -> dict[str, Any] | None:
        found = [r for r in self.t.accountant.list(COLLECTION[doc.kind]) if r.get("reference") == doc.number]
        return found[0] if found else None

    @rule(data=st.data(), part=st.booleans())
    def accountant_receipt(self, data: st.DataObject, part: bool) -> None:
        """The customer pays in Sage: full, part, or one receipt split over two invoices."""
        payable = []
        for doc in self.books.documents("sales_invoice"):
            sage = self._sage_doc(doc)
            if sage and sage["status"]["id"] != "VOID" and Decimal(str(sage["outstanding_amount"])) > ZERO:
                payable.append((doc, sage))
        if not payable:
            return
        chosen = data.draw(st.lists(st.sampled_from(payable), min_size=1, max_size=2, unique_by=lambda p: p[0].host_id))
        chosen = [p for p in chosen if p[1]["contact"]["id"] == chosen[0][1]["contact"]["id"]]
        allocations = []
        for doc, sage in chosen:
            outstanding = Decimal(str(sage["outstanding_amount"]))
            amount = money(outstanding / 2) if part and outstanding > Decimal("0.01") else outstanding
            allocations.append((doc, sage, amount))
        total = sum((a for _, _, a in allocations), ZERO)
        receipt = self.t.accountant.create("contact_payments", {
            "transaction_type_id": "CUSTOMER_RECEIPT", "contact_id": chosen[0][1]["contact"]["id"],
            "bank_account_id": self.t.ids["bank"], "date": self.system.clock.today().isoformat(),
            "total_amount": total,
            "allocated_artefacts": [{"artefact_id": s["id"], "amount": a} for _, s, a in allocations]})
        linked = all((e := self.t.store.ledger.find(self.t.tenant_id, d.kind, d.host_id)) is not None
                     and e.sage_id == s["id"] for d, s, _ in allocations)
        self.books.receipts[receipt["id"]] = Receipt(receipt["id"], [(d.host_id, a) for d, _, a in allocations],
                                                     before_link=not linked)
        note(f"accountant: receipt {receipt['id']} {[(d.host_id, str(a)) for d, _, a in allocations]}")

    @precondition(lambda self: any(not r.deleted for r in self.books.receipts.values()))
    @rule(data=st.data())
    def accountant_deletes_receipt(self, data: st.DataObject) -> None:
        receipt = data.draw(st.sampled_from([r for r in self.books.receipts.values() if not r.deleted]))
        self.t.accountant.delete_payment(receipt.sage_id)
        receipt.deleted = True
        note(f"accountant: deleted receipt {receipt.sage_id}")

    @rule(data=st.data())
    def accountant_voids_in_sage(self, data: st.DataObject) -> None:
        """The accountant voids an exported invoice in Sage (one with no money on it)."""
        voidable = []
        for doc in self.books.documents("sales_invoice"):
            sage = self._sage_doc(doc)
            if sage and sage["status"]["id"] != "VOID" and not (sage.get("payments_allocations") or []):
                voidable.append((doc, sage))
        if not voidable:
            return
        doc, sage = data.draw(st.sampled_from(voidable))
        try:
            self.t.accountant.void_invoice(sage["id"])
        except Exception as exc:
            note(f"accountant: could not void {doc.host_id}: {exc}")
            return
        doc.sage_voided = True
        note(f"accountant: voided {doc.host_id} in Sage")

    @rule(which=st.sampled_from(INACTIVABLE))
    def accountant_makes_mapping_inactive(self, which: tuple[str, str, str]) -> None:
        kind, code, key = which
        if code in self.books.inactive_ledger_codes | self.books.inactive_tax_codes:
            return
        sage_id = self.t.ids[key]
        if kind == "ledger":
            self.t.accountant.update("ledger_accounts", sage_id, {
                "included_in_chart": False, "visible_in_sales": False, "visible_in_expenses": False})
            self.books.inactive_ledger_codes.add(code)
        else:
            # Sage's own rates cannot be edited through the API: the accountant's switch, in its store.
            sandbox = self.system.sandbox
            with sandbox.lock:
                sandbox.business(self.t.business_id).collections["tax_rates"].records[sage_id].data[
                    "is_visible"] = False
            self.books.inactive_tax_codes.add(code)
        note(f"accountant: made {kind} {code} ({key}) inactive")

    def _first_run_ahead(self) -> bool:
        """No export run has succeeded yet (before defect 5's fix, only then is history adopted)."""
        return self.tenant is not None and self.t.store.cursors.get(self.t.tenant_id, "export") is None

    @precondition(lambda self: self.identify == "name" and (not open_defect(5) or self._first_run_ahead()))
    @rule(n=st.integers(1, 4), party=st.integers(0, 2), data=st.data(), status=st.sampled_from(("paid",
                                                                                                   "pending_payment")))
    def going_live_history(self, n: int, party: int, data: st.DataObject, status: str) -> None:
        """An invoice the accountant entered in Sage by hand before the connector; the host then sends
        it as history. It must be adopted, not created a second time."""
        host_id = f"INV-{n}"
        if host_id in self.books.docs:
            return
        lines = data.draw(lines_strategy((None,)), label="lines")
        if any(line.tax_code in self.books.inactive_tax_codes for line in lines):
            return  # Sage would not take it from the accountant either
        doc = Doc(kind="sales_invoice", host_id=host_id, number=f"INV-{n:05d}", party_id=CUSTOMERS[party],
                  document_date=self.system.clock.today() - timedelta(days=10), status=status, lines=lines,
                  versioned=True, pre_existing=True)
        customer = self._party("customer", doc.party_id)
        acme = self.t.accountant
        contacts = [c for c in acme.list("contacts") if c["name"] == customer.name]
        contact = contacts[0] if contacts else acme.create("contacts", {
            "name": customer.name, "contact_type_ids": ["CUSTOMER"], "email": customer.email})
        rates = {"S": self.t.ids["GB_STANDARD"], "R": self.t.ids["GB_LOWER"], "Z": self.t.ids["GB_ZERO"]}
        acme.create("sales_invoices", {
            "contact_id": contact["id"], "date": doc.document_date.isoformat(), "reference": doc.number,
            "invoice_lines": [{"description": line.description, "ledger_account_id": self.t.ids["4000"],
                               "quantity": line.quantity, "unit_price": line.unit_price,
                               "tax_rate_id": rates[line.tax_code], "net_amount": line.net,
                               "tax_amount": line.tax, "total_amount": line.net + line.tax} for line in lines]})
        self.books.docs[host_id] = doc
        doc.version = 1
        doc.ever_exportable = True
        doc.sent_versions.append(doc.shape())
        doc.changed_at = len(self.t.outbox.sent)
        note(f"accountant: entered {doc.number} by hand; the host sends it as history")
        body = self._send(EVENT_TYPE[doc.kind], self._doc_json(doc), host_id=host_id)
        assert body["result"] == "stored", body

    # --------------------------------------------------------------------------------- the system

    @rule()
    def scheduled_run(self) -> None:
        result = self.t.scheduled_run()
        self.scheduled_runs += 1
        note(f"scheduled run: {result.counts if result else None}")
        STATS["runs"] += 1

    @rule()
    def trigger_exports(self) -> None:
        results = self.t.run_trigger_jobs()
        note(f"trigger runs: {[r.counts if r else None for r in results]}")
        STATS["runs"] += len(results)

    @rule()
    def replay_failed(self) -> None:
        from sagebridge.domain.runs import LedgerState  # the replay reads what the ledger holds

        refs = [(e.kind, e.host_id) for state in (LedgerState.FAILED, LedgerState.SKIPPED)
                for e in self.t.store.ledger.list_by_state(self.t.tenant_id, state, limit=100)]
        if refs:
            result = self.t.replay(refs)
            note(f"replay {refs}: {result.counts if result else None}")

    @precondition(lambda self: self.tenant is not None and not self.tenant.kill.armed)
    @rule()
    def kill_next_write(self) -> None:
        self.t.kill.armed = 1

    @rule(fault=st.sampled_from(FAULTS))
    def inject_fault(self, fault: str) -> None:
        faults = self.system.sandbox.faults
        biz = self.t.business_id
        if fault == "500":
            faults.error(500, times=1, method="POST", business_id=biz)
        elif fault == "429":
            faults.rate_limit_storm(times=2, retry_after=0, business_id=biz)
        elif fault == "timeout_after_commit":
            faults.drop_after_commit(times=1, method="POST", business_id=biz)
        else:
            faults.error(503, times=1, method="GET", business_id=biz)
        self.faults_on = True

    @rule()
    def token_expires(self) -> None:
        self.system.clock.advance(minutes=6)  # past the access token's 5 minutes: the next call refreshes

    @rule()
    def poll_payments(self) -> None:
        poll = self.t.poll()
        note(f"poll: {poll.outcome} {poll.error or ''}")

    @rule()
    def settle(self) -> None:
        """A quiet run: faults off, queued jobs done, a scheduled run (and one more for retries), a
        poll; then the books must be right."""
        self.t.sandbox.faults.clear()
        self.t.kill.armed = 0
        self.faults_on = False
        # The chaos profile's random faults rest too (its search lag stays).
        chaos = getattr(self.t.sandbox, "chaos", None)
        if chaos is not None:
            chaos.paused = True
        try:
            self.t.run_trigger_jobs()
            for _ in range(2):
                self.t.scheduled_run()
            self.t.poll()
        finally:
            if chaos is not None:
                chaos.paused = False
        self.t.kill.killed.clear()  # the runs above took over what the dead workers left
        STATS["settles"] += 1
        self.check_books()

    # --------------------------------------------------------------------------------- invariants

    def _told(self, host_id: str, since: int) -> list[Any]:
        told: list[Any] = [
            e for e in self.t.delivered()[since:]
            if e["type"] in ("export.failed", "document.skipped") and e["data"].get("host_id") == host_id]
        if not told and open_defect(7):
            # Until defect 7 is fixed the host hears only once retries are exhausted: a failure
            # still being retried counts as "failed with a reason".
            from sagebridge.domain.runs import LedgerState

            for kind in ("sales_invoice", "sales_credit_note", "purchase_invoice", "purchase_credit_note",
                         "customer_payment", "customer_refund"):
                entry = self.t.store.ledger.find(self.t.tenant_id, kind, host_id)
                if entry is not None and entry.state is LedgerState.FAILED:
                    told.append(f"retrying: {entry.kind} {entry.host_id} attempts {entry.attempts}")
        return told

    @invariant()
    def count_step(self) -> None:
        """Counts steps, and the distinct states checked: what the host holds (status, void, how
        much is allocated) and what Sage holds (status, outstanding) for each document, by shape."""
        STATS["steps"] += 1
        if self.tenant is None:
            return
        host = tuple(sorted((d.host_id, d.status, d.voided, d.sage_voided, str(self.books.host_allocated(d.host_id)))
                            for d in self.books.docs.values()))
        sage = tuple(sorted((r.get("reference"), r["status"]["id"], str(r.get("outstanding_amount")))
                            for c in ("sales_invoices", "sales_credit_notes", "purchase_invoices")
                            for r in self.t.accountant.list(c)))
        STATES.add(hash((host, sage, tuple(sorted(self.books.payments)), len(self.books.receipts))))

    @invariant()
    def nothing_is_in_sage_twice(self) -> None:
        if self.tenant is None:
            return
        acme = self.t.accountant
        for collection in ("sales_invoices", "sales_credit_notes", "purchase_invoices", "purchase_credit_notes",
                           "contact_payments"):
            # A void copy does not count: a document voided and later live again may be a new one.
            counts = Counter(r.get("reference") for r in acme.list(collection)
                             if (r.get("status") or {}).get("id") != "VOID")
            twice = {ref: n for ref, n in counts.items() if ref and n > 1}
            assert not twice, f"{collection} twice in Sage: {twice}"
        contacts = Counter(c["name"] for c in acme.list("contacts") if c["name"].endswith(" Ltd"))
        assert all(n == 1 for n in contacts.values()), f"contacts twice in Sage: {contacts}"

    @invariant()
    def nothing_non_exportable_reaches_sage(self) -> None:
        if self.tenant is None or open_defect(1):
            return
        for doc in self.books.docs.values():
            if not doc.ever_exportable and not doc.pre_existing:
                assert self._sage_doc(doc) is None, f"{doc.host_id} ({doc.status}) reached Sage"

    @invariant()
    def every_failure_is_told(self) -> None:
        """The host hears of every failure: each failed ledger entry has an export.failed (before
        defect 7's fix: at least once it has given up)."""
        if self.tenant is None:
            return
        from sagebridge.domain.runs import LedgerState

        limit = self.t.settings().retry_limit
        for entry in self.t.store.ledger.list_by_state(self.t.tenant_id, LedgerState.FAILED, limit=100):
            if open_defect(7) and entry.attempts <= limit:
                continue
            failed = [e for e in self._told(entry.host_id, 0) if e["type"] == "export.failed"]
            assert failed, f"{entry.kind} {entry.host_id} failed ({entry.attempts} attempts), host never told"

    def check_books(self) -> None:
        """After a quiet run: Sage says what the host says, or the host was told why not."""
        acme = self.t.accountant
        for doc in self.books.docs.values():
            sage = self._sage_doc(doc)
            told = self._told(doc.host_id, doc.changed_at)
            if doc.live:
                if doc.sage_voided and sage is not None and sage["status"]["id"] == "VOID":
                    continue  # the accountant's choice; the host has not changed it since
                if doc.uses_inactive and not open_defect(9):
                    assert told, f"{doc.host_id} uses a mapping inactive in Sage and the host was not told"
                    continue
                if sage is None or sage["status"]["id"] == "VOID":
                    assert told, f"{doc.host_id} ({doc.status}) is not in Sage and the host was not told why"
                    continue
                problems = self._differences(doc, sage)
                assert not problems or told, f"{doc.host_id} differs in Sage, host not told: {problems}"
            elif doc.pre_existing and open_defect("N4") and not self._mapped(doc):
                continue  # N4: the accountant's own copy, never linked; its void or draft is not told yet
            elif not doc.voided and doc.ever_exportable and not open_defect(1):
                # Left an exportable status (cancelled after it was pending): voided as a host void
                # would be, or the host was told why not.
                if sage is not None and sage["status"]["id"] != "VOID":
                    assert told, f"{doc.host_id} is {doc.status} in the host, live in Sage, host not told"
            elif doc.voided:
                if sage is not None and doc.kind in SALES:
                    assert sage["status"]["id"] == "VOID" or told, f"{doc.host_id} voided by the host, live in Sage"
                if sage is not None and doc.kind in PURCHASES:
                    assert told, f"{doc.host_id} voided by the host, still in Sage"
        for payment in self.books.payments.values():
            sage_payments = [p for p in acme.list("contact_payments") if p.get("reference") == payment.host_id]
            if payment.amount == ZERO:  # a pure offset: an allocation, no bank entry
                sage_payments = [a for a in acme.list("contact_allocations")
                                 if not self._payment_differences(payment, a, bank=False)][:1]
            told = self._told(payment.host_id, payment.changed_at)
            if not sage_payments:
                assert told, f"{payment.host_id} is not in Sage and the host was not told why"
                continue
            [sage] = sage_payments
            problems = self._payment_differences(payment, sage)
            assert not problems or told, f"{payment.host_id} differs in Sage, host not told: {problems}"
        self._linked_credit_notes_allocated()
        self._receipts_told_once()

    def _linked_credit_notes_allocated(self) -> None:
        """A credit note with invoice_id is set against that invoice in Sage once both are there,
        unless the invoice had nothing left to pay (or the host was told why not)."""
        if open_defect(6):
            return
        allocations = [{e["artefact"]["id"] for e in a.get("allocated_artefacts") or []}
                       for a in self.t.accountant.list("contact_allocations")]
        for note_doc in self.books.documents(*CREDITED):  # sales and vendor credit notes alike
            if not note_doc.invoice_id or not note_doc.live:
                continue
            invoice = self.books.docs[note_doc.invoice_id]
            sage_note, sage_invoice = self._sage_doc(note_doc), self._sage_doc(invoice)
            if sage_note is None or sage_invoice is None or not invoice.live:
                continue
            if sage_invoice["status"]["id"] == "VOID" or sage_note["status"]["id"] == "VOID":
                continue
            together = any({sage_note["id"], sage_invoice["id"]} <= ids for ids in allocations)
            nothing_owed = Decimal(str(sage_invoice["outstanding_amount"])) == ZERO
            assert together or nothing_owed or self._told(note_doc.host_id, 0), \
                f"{note_doc.host_id} credits {invoice.host_id} but is not allocated against it in Sage"

    def _differences(self, doc: Doc, sage: dict[str, Any]) -> list[str]:
        problems = []
        lines = sage.get("invoice_lines") or sage.get("credit_note_lines") or []
        sage_lines = tuple(sorted((Decimal(str(x["net_amount"])), Decimal(str(x["tax_amount"]))) for x in lines))
        theirs = (Decimal(str(sage["net_amount"])), Decimal(str(sage["tax_amount"])),
                  Decimal(str(sage["total_amount"])), str(sage["date"]), sage_lines)
        # Export type All: Sage has the host's latest version. New: the version it got first stays
        # (documented), but it is one the host sent.
        expected = [doc.shape()] if self.export_type == "all" else doc.sent_versions
        if theirs not in expected:
            problems.append(f"Sage has (net, tax, total, date, lines) {theirs}, the host {expected[-1]}")
        party = self.books.parties[doc.party_id]
        contact = self.t.accountant.get("contacts", sage["contact"]["id"])
        if contact["name"] != party.name:
            problems.append(f"contact {contact['name']} != {party.name}")
        return problems

    def _payment_differences(self, payment: Payment, sage: dict[str, Any], *, bank: bool = True) -> list[str]:
        problems = []
        if bank and Decimal(str(sage["total_amount"])) != payment.amount:
            problems.append(f"bank amount {sage['total_amount']} != {payment.amount}")
        by_ref = {}
        for entry in sage.get("allocated_artefacts") or []:
            artefact_id = entry["artefact"]["id"]
            by_ref[artefact_id] = abs(Decimal(str(entry["amount"])))
        for kind, host_id, amount in payment.allocations:
            sage_doc = self._sage_doc(self.books.docs[host_id])
            got = by_ref.get(sage_doc["id"]) if sage_doc else None
            if got != amount:
                problems.append(f"allocation to {host_id}: {got} != {amount}")
        return problems

    def _receipts_told_once(self) -> None:
        """Each accountant receipt on an exported invoice reaches the host exactly once."""
        received = Counter((e["data"]["payment"]["sage_id"], e["data"]["invoice"]["sage_id"])
                           for e in self.t.delivered("invoice.payment_received"))
        assert all(n == 1 for n in received.values()), f"payments told twice: {received}"
        for receipt in self.books.receipts.values():
            if receipt.deleted or (receipt.before_link and open_defect("N2")):
                continue
            for host_id, _amount in receipt.allocations:
                doc = self.books.docs[host_id]
                sage_doc = self._sage_doc(doc)
                assert sage_doc is not None
                entry = self.t.store.ledger.find(self.t.tenant_id, doc.kind, doc.host_id)
                if receipt.before_link and (entry is None or entry.sage_id != sage_doc["id"]) \
                        and self._told(host_id, doc.changed_at):
                    continue  # history never linked to the accountant's copy (the host was told why)
                assert received[(receipt.sage_id, sage_doc["id"])] == 1, \
                    f"receipt {receipt.sage_id} on {host_id} not told to the host"

    def check_state_count(self) -> None:
        STATS["states"] += 1


def books_test_case(system: System) -> Any:
    BooksMachine.system = system
    return BooksMachine.TestCase


_ = (date,)  # dates come from the sandbox clock
