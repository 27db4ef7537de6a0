"""Exactly once without idempotency keys: 200 invoices, 40 credit notes and 40 receipts (with their
allocations) for 30 customers while Sage 200 answers 500s, 429 storms, 503s on reads and loses answers
after committing, and the worker is killed twice between Sage's answer and the ledger commit. Runs
repeat (as the scheduler would) until nothing is left; then listing the sandbox must show every
document exactly once (0 duplicates, 0 missing) and every receipt allocated exactly as asked."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sagebridge.domain import CustomerPayment, DocumentKind
from sagebridge.store import LedgerState

from ..export.conftest import customer, document, line
from .conftest import TENANT

INVOICES, CREDIT_NOTES, RECEIPTS, CUSTOMERS = 200, 40, 40, 30
KILL_AT = (97, 211)


class WorkerKilled(Exception):
    """The Lambda died after Sage committed and before our ledger commit."""


@dataclass
class Chaos:
    """After every Sage write, schedule the next faults, so they land all through the run."""

    sandbox: Any
    calls: int = 0
    faults: list[Any] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)

    def after_sage_call(self, kind: str, host_id: str, remote: Any) -> None:
        self.calls += 1
        f = self.sandbox.faults
        step = self.calls % 20
        if step == 2:
            self.faults.append(f.error(500, times=1, method="POST", path="/sales_invoices"))
        elif step == 5:
            self.faults.append(f.drop_after_commit(times=1, method="POST", path="/sales_credit_notes"))
        elif step == 7:
            self.faults.append(f.rate_limit_storm(times=3, retry_after=0, method="POST"))
        elif step == 11:
            self.faults.append(f.drop_after_commit(times=1, method="POST", path="/sales_invoices"))
        elif step == 13:
            self.faults.append(f.drop_after_commit(times=1, method="POST", path="/sales_receipts"))
        elif step == 15:
            self.faults.append(f.drop_after_commit(times=1, method="POST", path="/sales_allocations"))
        elif step == 17:
            self.faults.append(f.error(503, times=2, method="GET"))
        elif step == 19:
            self.faults.append(f.error(500, times=1, method="POST", path="/sales_receipts"))
        if self.calls in KILL_AT:
            self.killed.append(host_id)
            raise WorkerKilled(host_id)


def _totals(n: int) -> tuple[str, str]:
    """Sage's per-line arithmetic: n.10 at 20% plus 3 x 9.99 = 29.97 at 5% (1.4985 -> 1.50)."""
    net = Decimal(f"{n}.10")
    tax = (net * Decimal("0.2")).quantize(Decimal("0.01"), ROUND_HALF_UP) + Decimal("1.50")
    return str(net + Decimal("29.97")), str(tax)


def test_280_documents_exactly_once_through_faults_and_crashes(world, host):
    world.add_tenant(retry_limit=5)
    started = time.perf_counter()
    lines = lambda n: [line(f"{n}.10", tax="S"), line("9.99", "3", tax="R", ledger_code="PARTS")]  # noqa: E731
    for n in range(1, INVOICES + 1):
        host.stage(document(DocumentKind.SALES_INVOICE, n, party=customer(n % CUSTOMERS + 1), lines=lines(n),
                            total=_totals(n)))
    for n in range(1, CREDIT_NOTES + 1):
        host.stage(document(DocumentKind.SALES_CREDIT_NOTE, n, party=customer(n % CUSTOMERS + 1),
                            lines=[line("10.00", tax="S")], total=("10.00", "2.00")))
    paid: dict[str, Decimal] = {}
    for n in range(1, RECEIPTS + 1):
        net, tax = _totals(n)
        amount = Decimal(net) + Decimal(tax)
        paid[f"R-{n}"] = amount
        party = customer(n % CUSTOMERS + 1)
        host.stage(CustomerPayment(host_id=f"R-{n}", party_id=party.host_id, party=party,
                                   payment_date=date(2025, 3, 2), amount=amount + Decimal("5.00"), currency="GBP",
                                   allocations=[{"kind": "sales_invoice", "host_id": f"INV-{n}", "amount": amount}]))
    chaos = Chaos(world.sandbox)
    # A customer create whose answer is lost: found again by its reference, not created twice.
    chaos.faults.append(world.sandbox.faults.drop_after_commit(times=1, method="POST", path="/customers"))

    wanted = ([("sales_invoice", f"INV-{n}") for n in range(1, INVOICES + 1)]
              + [("sales_credit_note", f"CN-{n}") for n in range(1, CREDIT_NOTES + 1)]
              + [("customer_payment", f"R-{n}") for n in range(1, RECEIPTS + 1)])
    runs, crashes = 0, 0
    while runs < 12:
        runs += 1
        try:
            result = world.export(strict=False, engine_options={"hooks": chaos})
        except WorkerKilled:
            crashes += 1
            world.clock.advance(minutes=16)  # the dead worker's claim goes stale: the next run may take it over
            continue
        entries = [world.store.ledger.find(TENANT, k, h) for k, h in wanted]
        if all(e is not None and e.state is LedgerState.EXPORTED for e in entries) and not result.counts["failed"]:
            break
        world.clock.advance(minutes=16)
    elapsed = time.perf_counter() - started

    books = world.sandbox.accountant()
    fired = sum(f.fired for f in chaos.faults)
    report = {}
    for kind, prefix, count in (("sales_invoice", "INV", INVOICES), ("sales_credit_note", "CN", CREDIT_NOTES)):
        refs = books.count_by_reference(kind)
        ours = {f"{prefix}-{n:05d}" for n in range(1, count + 1)}
        report[kind] = ({r: c for r, c in refs.items() if c > 1}, ours - set(refs))
        assert set(refs) == ours
    receipts = books.count_by_reference("receipt")
    report["receipt"] = ({r: c for r, c in receipts.items() if c > 1}, set(paid) - set(receipts))
    print(f"\n{len(wanted)} documents, {runs} runs, {crashes} crashes, {fired} faults fired, "
          + ", ".join(f"{k}: {len(d)} duplicates, {len(m)} missing" for k, (d, m) in report.items())
          + f", {elapsed:.1f} s")
    assert crashes == len(KILL_AT)
    assert fired >= 40, "the faults must actually have fired"
    assert all(not d and not m for d, m in report.values())
    # Every receipt allocated exactly once, exactly as asked; its invoice settled in full.
    for reference, amount in paid.items():
        receipt = books.by_reference("receipt", reference)
        assert Decimal(str(receipt["document_allocated_value"])) == -amount
        assert Decimal(str(receipt["document_outstanding_value"])) == Decimal("-5.00")
        invoice = books.by_reference("sales_invoice", f"INV-{int(reference[2:]):05d}")
        assert Decimal(str(invoice["document_outstanding_value"])) == Decimal("0.00")
    customers = Counter(c["reference"] for c in books.customers() if c["name"].startswith("Customer"))
    assert len(customers) == CUSTOMERS and set(customers.values()) == {1}
    # The killed workers' documents were adopted (looked up), not sent again.
    for host_id in chaos.killed:
        kind = "customer_payment" if host_id.startswith("R-") else \
            "sales_credit_note" if host_id.startswith("CN-") else "sales_invoice"
        history = world.store.synclog.newest(TENANT, kind=kind, host_id=host_id).items
        assert history[0].outcome.value == "linked"
    assert elapsed < 120
