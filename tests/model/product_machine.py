"""The books machine (machine.py) on the other Sage products: Sage Intacct and Sage 200.

The host events, runs, replays, kills, faults and token expiry are the Sage Accounting machine's
own rules; what Sage holds is read as the conformance suite reads it (tests/conformance/products.py:
`held`, `contact`, `record_receipt`, the fault matches), and the product's declared differences come
from the reference model (reference.PRODUCTS), so the invariant is the same on every product:

- nothing in Sage twice (at every step), nothing that was never exportable reaches Sage;
- after a quiet run, every document is in Sage once with the host's amount, or the host was told
  why not (a refusal the product declares says its words);
- money allocated right: what Sage says is still outstanding on each document is its total less the
  host's payments and refunds in Sage and the accountant's receipts;
- each receipt the accountant records in Sage reaches the host, once.

Rules that act as the Sage Accounting accountant (voiding in its screens, making a ledger account
inactive, entering history by hand) are left out here.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from sagebridge.domain import DocumentKind, PartyKind
from tests.conformance.products import Held
from tests.model.machine import FAULTS, STATES, STATS, BooksMachine
from tests.model.reference import PRODUCTS, SALES, ZERO, Doc, Payment, Product, Receipt, Refusal, money

DOCUMENT_KINDS = ("sales_invoice", "sales_credit_note", "purchase_invoice", "purchase_credit_note")
PAYMENT_KINDS = ("customer_payment", "customer_refund")
WRITES = (*DOCUMENT_KINDS, *PAYMENT_KINDS, "customer", "vendor")
CHAOS_FIRED: Counter[str] = Counter()  # the chaos profile's faults that fired in the products' sandboxes


def _kind(name: str) -> DocumentKind | PartyKind:
    return PartyKind(name) if name in ("customer", "vendor") else DocumentKind(name)


def voided_in_sage(provider: str, box: Any, kind: str) -> set[str]:
    """Sage ids of documents Sage shows as voided/reversed (the conformance row's `held` lists them
    too). Intacct marks a reversed invoice or bill `Reversed`; a deleted credit memo is gone, and
    Sage 200 voids nothing through its API."""
    if provider != "sage_intacct":
        return set()
    objects = {"sales_invoice": "ARINVOICE", "purchase_invoice": "APBILL", "customer_payment": "ARPYMT"}
    if kind not in objects:
        return set()
    return {str(r["RECORDNO"]) for r in box.accountant().list(objects[kind]) if r.get("STATE") == "Reversed"}


class ProductBooksMachine(BooksMachine):
    PROVIDER = "sage_intacct"

    @property
    def product(self) -> Product:
        return PRODUCTS[self.PROVIDER]

    def teardown(self) -> None:
        chaos = getattr(self.t.sandbox, "chaos", None) if self.tenant is not None else None
        if chaos is not None:
            CHAOS_FIRED.update(chaos.fired)
        super().teardown()

    # --------------------------------------------------------------------------- reading Sage

    def _held(self, kind: str) -> list[Held]:
        """What Sage holds of a kind, less what it shows as voided."""
        assert self.t.row is not None
        voided = voided_in_sage(self.PROVIDER, self.t.box, kind)
        return [h for h in self.t.row.held(self.t.box, _kind(kind)) if h.sage_id not in voided]

    def _held_one(self, kind: str, reference: str) -> Held | None:
        found = [h for h in self._held(kind) if h.reference == reference]
        return found[0] if found else None

    def _sage_doc(self, doc: Doc) -> dict[str, Any] | None:
        held = self._held_one(doc.kind, doc.number)
        return None if held is None else {"id": held.sage_id, "total": held.total, "outstanding": held.outstanding}

    def _told_saying(self, host_id: str, since: int, refusal: Refusal) -> bool:
        return any(refusal.says.lower() in json_text(e).lower() for e in self._told(host_id, since)
                   if isinstance(e, dict))

    # ----------------------------------------------------------------- the rules that differ

    def accountant_voids_in_sage(self) -> None:  # not a rule here: Sage Accounting's screens
        pass

    def accountant_makes_mapping_inactive(self) -> None:  # not a rule here
        pass

    def going_live_history(self) -> None:  # not a rule here
        pass

    def accountant_deletes_receipt(self) -> None:  # not a rule here
        pass

    @rule(fault=st.sampled_from(FAULTS), kind=st.sampled_from(WRITES))
    def inject_fault(self, fault: str, kind: str) -> None:  # type: ignore[override]
        row, faults = self.t.row, self.t.sandbox.faults
        assert row is not None
        write = row.write_match(_kind(kind))
        if fault == "500":
            faults.error(500, times=1, **write)
        elif fault == "429":
            faults.rate_limit_storm(times=2, retry_after=0, **row.read_match)
        elif fault == "timeout_after_commit":
            faults.drop_after_commit(times=1, **write)
        else:
            faults.error(503, times=1, **row.read_match)
        self.faults_on = True

    @rule(n=st.integers(6, 7), part=st.booleans())
    def pay_exported_invoice(self, n: int, part: bool) -> None:
        """The host records a payment of an invoice already in Sage, applied in full (what every
        product takes; record_payment also makes the ones some products refuse)."""
        host_id = f"PAY-{n}"
        candidates = [d for d in self._payable_invoices() if self._held_one(d.kind, d.number) is not None]
        if host_id in self.books.payments or not candidates:
            return
        doc = candidates[0]
        outstanding = self.books.outstanding(doc.host_id)
        amount = money(outstanding / 2) if part and outstanding > Decimal("0.01") else outstanding
        payment = Payment("customer_payment", host_id, doc.party_id, self.system.clock.today(), amount,
                          [(doc.kind, doc.host_id, amount)], changed_at=len(self.t.outbox.sent))
        self.books.payments[host_id] = payment
        self._send("payment.recorded", self._payment_json(payment), host_id=host_id)

    @rule(data=st.data(), part=st.booleans())
    def accountant_receipt(self, data: st.DataObject, part: bool) -> None:  # type: ignore[override]
        """The customer pays an exported invoice in Sage (full or part), as the accountant records it."""
        payable = []
        for doc in self.books.documents("sales_invoice"):
            held = self._held_one(doc.kind, doc.number)
            if held is not None and held.outstanding and held.outstanding > ZERO:
                payable.append((doc, held))
        if not payable:
            return
        doc, held = data.draw(st.sampled_from(payable))
        assert held.outstanding is not None
        amount = money(held.outstanding / 2) if part and held.outstanding > Decimal("0.01") else held.outstanding
        assert self.t.row is not None
        self.t.row.record_receipt(self.t.box, doc.number, amount)
        receipt_id = f"receipt-{len(self.books.receipts) + 1}"
        self.books.receipts[receipt_id] = Receipt(receipt_id, [(doc.host_id, amount)])
        note(f"accountant: receipt of {amount} on {doc.host_id}")

    # ----------------------------------------------------------------------------- invariants

    @invariant()
    def count_step(self) -> None:  # type: ignore[override]
        STATS["steps"] += 1
        if self.tenant is None:
            return
        host = tuple(sorted((d.host_id, d.status, d.voided, str(self.books.host_allocated(d.host_id)))
                            for d in self.books.docs.values()))
        sage = tuple(sorted((k, h.reference, str(h.total), str(h.outstanding))
                            for k in ("sales_invoice", "sales_credit_note") for h in self._held(k)))
        STATES.add(hash((self.PROVIDER, host, sage, tuple(sorted(self.books.payments)), len(self.books.receipts))))

    @invariant()
    def nothing_is_in_sage_twice(self) -> None:  # type: ignore[override]
        if self.tenant is None:
            return
        # By the host's references (the accountant's own receipts may share one, e.g. "BACS").
        ours = {d.number for d in self.books.docs.values()} | set(self.books.payments)
        for kind in (*DOCUMENT_KINDS, *PAYMENT_KINDS):
            counts = Counter(h.reference for h in self._held(kind) if h.reference in ours)
            twice = {ref: n for ref, n in counts.items() if n > 1}
            assert not twice, f"{kind} twice in Sage: {twice}"

    @invariant()
    def nothing_non_exportable_reaches_sage(self) -> None:  # type: ignore[override]
        if self.tenant is None:
            return
        for doc in self.books.docs.values():
            if not doc.ever_exportable:
                assert self._held_one(doc.kind, doc.number) is None, f"{doc.host_id} ({doc.status}) reached Sage"

    # ---------------------------------------------------------------------- after a quiet run

    def check_books(self) -> None:  # type: ignore[override]
        product = self.product
        for doc in self.books.docs.values():
            held = self._held_one(doc.kind, doc.number)
            told = self._told(doc.host_id, doc.changed_at)
            STATS[f"{self.PROVIDER}: documents {'in Sage' if held else 'not in Sage'}"] += 1
            if doc.live:
                if held is None:
                    assert told, f"{doc.host_id} ({doc.status}) is not in Sage and the host was not told why"
                    self._count_reasons(told)
                    continue
                # Export type All: Sage has the host's latest total; New: one the host sent.
                latest = self.export_type == "all"
                expected = [doc.total] if latest else [shape[2] for shape in doc.sent_versions]
                if held.total not in expected:
                    assert told, f"{doc.host_id}: Sage has {held.total}, the host {doc.total}; host not told"
                    # (one with money on it in Sage may be skipped as paid first: any reason will do)
                    if isinstance(product.changes, Refusal) and held.total in [s[2] for s in doc.sent_versions] \
                            and held.outstanding == held.total:
                        assert self._told_saying(doc.host_id, doc.changed_at, product.changes), \
                            f"{doc.host_id} changed after its export: the host was not told why it was not"
            elif doc.voided:
                if held is None:
                    continue
                way = product.voids[doc.kind]
                untouched = self.books.host_allocated(doc.host_id) == ZERO == self.books.sage_allocated(doc.host_id) \
                    and not any(d.invoice_id == doc.host_id for d in self.books.documents("sales_credit_note"))
                if isinstance(way, Refusal):
                    assert self._told_saying(doc.host_id, doc.changed_at, way) or (told and not untouched), \
                        f"{doc.host_id} voided by the host: refused in {product.name} without the declared reason"
                elif untouched:  # nothing paid on it: Sage must show the void the product's way
                    assert False, f"{doc.host_id} voided by the host, nothing paid on it, not {way} in Sage"
                else:
                    assert told, f"{doc.host_id} voided by the host, still live in Sage ({way}), host not told"
            elif doc.ever_exportable and held is not None:
                assert told, f"{doc.host_id} is {doc.status} in the host, live in Sage, host not told"
        for payment in self.books.payments.values():
            held = self._held_one(payment.kind, payment.host_id)
            told = self._told(payment.host_id, payment.changed_at)
            STATS[f"{self.PROVIDER}: payments {'in Sage' if held else 'not in Sage'}"] += 1
            if payment.kind == "customer_refund" and product.refunds is not None:
                assert held is None, f"{payment.host_id}: a refund reached {product.name}, which declares none"
                assert self._told_saying(payment.host_id, payment.changed_at, product.refunds), \
                    f"{payment.host_id}: refund refused without the declared reason"
                continue
            if payment.amount == ZERO:
                assert held is None or told, f"{payment.host_id} moved no money and is a receipt in Sage"
                continue  # a pure offset: the allocations check below
            if held is None:
                assert told, f"{payment.host_id} is not in Sage and the host was not told why"
                self._count_reasons(told)
                continue
            assert held.total == payment.amount or told, \
                f"{payment.host_id}: Sage has {held.total}, the host {payment.amount}; host not told"
        self._allocated_right()
        self._receipts_told()

    def _count_reasons(self, told: list[Any]) -> None:
        """How often each reason was told (printed at the end: what the products refused, and why)."""
        for event in told[-1:]:
            if isinstance(event, dict):
                data = event["data"]
                reasons = data.get("reasons") or [{"message": data.get("reason") or ""}]
                STATS[f"{self.PROVIDER}: told {data.get('kind')} {event['type']}: "
                      f"{str(reasons[0].get('message'))[:70]}"] += 1

    def _allocated_right(self) -> None:
        """What Sage says is outstanding on each exported sales document: its total less the host's
        payments and refunds Sage holds and the accountant's receipts (where nothing was refused)."""
        told_payments = {p.host_id for p in self.books.payments.values()
                         if self._told(p.host_id, 0) or self._held_one(p.kind, p.host_id) is None}
        for doc in self.books.documents(*SALES):
            if not doc.live or doc.invoice_id or self._credited(doc):
                continue  # a credit note's own invoice: each product's arithmetic at allocation time
            held = self._held_one(doc.kind, doc.number)
            if held is None or held.outstanding is None or held.total != doc.total:
                continue
            paying = [p for p in self.books.payments.values() if any(h == doc.host_id for _, h, _ in p.allocations)]
            if any(p.host_id in told_payments and p.amount != ZERO for p in paying) or \
                    any(p.amount == ZERO for p in paying):
                continue  # refused (told) or a pure offset: checked where it is
            expected = doc.total - self.books.host_allocated(doc.host_id) - self.books.sage_allocated(doc.host_id)
            assert held.outstanding == expected, \
                f"{doc.host_id}: Sage says {held.outstanding} outstanding, the books {expected}"

    def _credited(self, invoice: Doc) -> bool:
        return any(d.invoice_id == invoice.host_id for d in self.books.documents("sales_credit_note"))

    def _receipts_told(self) -> None:
        """Each receipt the accountant records reaches the host once (distinct Sage payments per invoice)."""
        received = Counter((e["data"]["payment"]["sage_id"], e["data"]["invoice"]["sage_id"])
                           for e in self.t.delivered("invoice.payment_received"))
        assert all(n == 1 for n in received.values()), f"payments told twice: {received}"
        for host_id in {h for r in self.books.receipts.values() for h, _ in r.allocations}:
            doc = self.books.docs[host_id]
            held = self._held_one(doc.kind, doc.number)
            if held is None:
                continue
            mine = [r for r in self.books.receipts.values() if any(h == host_id for h, _ in r.allocations)]
            told = {p for p, i in received if i == held.sage_id}
            assert len(told) >= len(mine), f"{host_id}: {len(mine)} receipts in Sage, {len(told)} told to the host"

    def _payment_differences(self, payment: Payment, sage: dict[str, Any], *, bank: bool = True) -> list[str]:
        return []  # check_books above reads Sage through the conformance row


def json_text(event: dict[str, Any]) -> str:
    import json

    return json.dumps(event, default=str)


class IntacctBooksMachine(ProductBooksMachine):
    PROVIDER = "sage_intacct"


class Sage200BooksMachine(ProductBooksMachine):
    PROVIDER = "sage200"


MACHINES = {"sage_intacct": IntacctBooksMachine, "sage200": Sage200BooksMachine}
