"""Exactly once under fire: 500 invoices for 50 customers while Sage answers 500s, 429 storms and
timeouts after committing, and the worker is killed twice between Sage's answer and the ledger
commit. Runs repeat (as the scheduler would) until nothing is left; then the sandbox must hold every
invoice exactly once: 0 duplicates, 0 missing."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sagebridge.domain import DocumentKind
from sagebridge.store import LedgerState

from .conftest import TENANT, customer, document, line

DOCS, CUSTOMERS = 500, 50
KILL_AT = (137, 311)


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
        if step == 3:
            self.faults.append(f.error(500, times=1, method="POST", path="/sales_invoices"))
        elif step == 8:
            self.faults.append(f.rate_limit_storm(times=3, retry_after=0, method="POST"))
        elif step == 13:
            self.faults.append(f.drop_after_commit(times=1, method="POST", path="/sales_invoices"))
        elif step == 17:
            self.faults.append(f.error(503, times=2, method="GET"))
        if self.calls in KILL_AT:
            self.killed.append(host_id)
            raise WorkerKilled(host_id)


def test_500_documents_exactly_once_through_faults_and_crashes(export, host, sandbox, store, clock):
    started = time.perf_counter()
    for n in range(1, DOCS + 1):
        party = customer(n % CUSTOMERS + 1)
        host.stage(document(DocumentKind.SALES_INVOICE, n, party=party,
                            lines=[line(f"{n}.10", tax="S"), line("9.99", "3", tax="R")], total=_totals(n)))
    chaos = Chaos(sandbox)
    # A contact create whose answer is lost: found again by its reference, not created twice.
    chaos.faults.append(sandbox.faults.drop_after_commit(times=1, method="POST", path="/contacts"))

    runs, crashes = 0, 0
    while runs < 10:
        runs += 1
        try:
            result = export(engine_options={"hooks": chaos})
        except WorkerKilled:
            crashes += 1
            clock.advance(minutes=16)  # the dead worker's claim goes stale: the next run may take it over
            continue
        entries = [store.ledger.find(TENANT, "sales_invoice", f"INV-{n}") for n in range(1, DOCS + 1)]
        if all(e is not None and e.state is LedgerState.EXPORTED for e in entries) and not result.counts["failed"]:
            break
        clock.advance(minutes=16)
    elapsed = time.perf_counter() - started

    acme = sandbox.accountant()
    refs = Counter(r for r in acme.count_by_reference("sales_invoices").elements())
    ours = {f"INV-{n:05d}" for n in range(1, DOCS + 1)}
    duplicates = {r: c for r, c in refs.items() if c > 1}
    missing = ours - set(refs)
    fired = sum(f.fired for f in chaos.faults)
    print(f"\n{DOCS} docs, {runs} runs, {crashes} crashes, {fired} faults fired, "
          f"{len(duplicates)} duplicates, {len(missing)} missing, {elapsed:.1f} s")
    assert crashes == len(KILL_AT)
    assert fired >= 60, "the faults must actually have fired"
    assert not duplicates and not missing
    assert set(refs) == ours
    contacts = Counter(c["reference"] for c in acme.list("contacts") if c["name"].startswith("Customer"))
    assert len(contacts) == CUSTOMERS and set(contacts.values()) == {1}
    # Every invoice's ledger entry points at the one Sage invoice with its reference, amounts intact.
    by_ref = {i["reference"]: i for i in acme.list("sales_invoices")}
    for n in (1, 137, 311, 500):
        entry = store.ledger.get(TENANT, "sales_invoice", f"INV-{n}")
        assert entry.sage_id == by_ref[f"INV-{n:05d}"]["id"]
    # The killed workers' documents were adopted (looked up), not sent again.
    for host_id in chaos.killed:
        history = store.synclog.newest(TENANT, kind="sales_invoice", host_id=host_id).items
        assert history[0].outcome.value == "linked"
    assert elapsed < 60


def _totals(n: int) -> tuple[str, str]:
    """Sage's arithmetic: n.10 at 20% plus 3 x 9.99 = 29.97 at 5% (1.4985 -> 1.50), per line."""
    net = Decimal(f"{n}.10")
    tax = (net * Decimal("0.2")).quantize(Decimal("0.01"), ROUND_HALF_UP) + Decimal("1.50")
    return str(net + Decimal("29.97")), str(tax)
