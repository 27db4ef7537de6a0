"""Exactly once on every product, under fire, for every kind it takes: customers, vendors, sales
invoices and credit notes, receipts, refunds, vendor invoices and credit notes. Sage answers 500s
and 503s, 429 storms and 503s on reads, loses answers after committing and answers 5xx after
committing (the chaos profile's faults), and the worker is killed once per kind between Sage's
answer and our commit. Scheduled runs repeat until nothing is left; then Sage holds every record
exactly once (0 duplicates, 0 missing) with the host's totals, the killed workers' documents were
adopted (looked up), not sent again, and the host heard at most once per document. A kind the
product declares it refuses ends skipped with its reason instead.

Then the in-doubt paths one at a time: a document changed while its export was in doubt; a write
Sage committed and answered with an error while its search lags (the resend); a write that never
landed. Each product's own idempotency (or the lack of it) decides how many requests that costs;
what Sage ends up holding is the same on all of them."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from local.sandboxes.chaos import Chaos
from sagebridge.domain import DocumentKind, PartyKind
from sagebridge.domain.kinds import ALL_RECORD_KINDS, RecordKind, record_kind
from sagebridge.store import LedgerState

from .conftest import TENANT, World, customer, document, line, payment, refund, vendor

SI, SCN, PAY = DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.CUSTOMER_PAYMENT
PI, PCN, REFUND = DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE, DocumentKind.CUSTOMER_REFUND
CUSTOMER, VENDOR = PartyKind.CUSTOMER, PartyKind.VENDOR
INVOICES, CREDIT_NOTES, RECEIPTS, REFUNDS, CUSTOMERS = 60, 20, 20, 8, 12
BILLS, BILL_CREDITS, VENDORS = 20, 8, 5
KILL_AT = 3  # each document kind's third Sage answer: the worker dies before the ledger commit
KILLED_PARTIES = {CUSTOMER: "CUST-7", VENDOR: "VEND-3"}  # their create answered, then the worker dies


class WorkerKilled(BaseException):
    """The Lambda died after Sage committed and before our ledger commit. A BaseException, as no
    `except Exception` of ours may survive a dead process (the party kill comes from inside a
    connector call)."""


@dataclass
class Storm:
    """After every Sage write, schedule the next faults, so they land all through the run: each kind's
    creates meet 5xx refusals, answers lost after the commit, 5xx after the commit (the chaos
    profile's faults), 429 storms and 503 reads; at most one fault waits per kind and fault, so a
    kind's documents are not all refused in a row. Each document kind's worker dies once."""

    world: World
    calls: int = 0
    faults: list[Any] = field(default_factory=list)
    killed: list[tuple[str, str]] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    armed: list[tuple[str, Any]] = field(default_factory=list)  # (what, fault)
    _waiting: dict[tuple[str, str], Any] = field(default_factory=dict)

    def arm(self, name: str, kind: RecordKind | None, make: Callable[..., Any], **args: Any) -> None:
        waiting = self._waiting.get((name, str(kind)))
        if waiting is not None and not waiting.exhausted:
            return
        match = self.world.row.write_match(kind) if kind is not None else self.world.row.read_match
        fault = make(**args, **match)
        self._waiting[(name, str(kind))] = fault
        self.faults.append(fault)
        self.armed.append((name, fault))

    def after_sage_call(self, kind: str, host_id: str, remote: Any) -> None:
        self.calls += 1
        f = self.world.faults()
        step = self.calls % 24
        kinds = (SI, SCN, PI, PCN, PAY, REFUND, CUSTOMER, VENDOR)
        if step in (2, 14):  # refused: nothing written
            self.arm("500", kinds[self.calls % 8], f.error, status=500, times=1)
        elif step in (5, 11, 16, 22):  # committed, then the answer lost (a timeout)
            self.arm("lost", kinds[(self.calls // 24 + step) % 8], f.drop_after_commit, times=1)
        elif step in (8, 20):  # committed, then answered 500 or 503
            self.arm("5xx", kinds[(self.calls // 24 + step) % 8], f.error_after_commit,
                     status=503 if step == 8 else 500, times=1)
        elif step == 7:
            self.faults.append(f.rate_limit_storm(times=3, retry_after=0))
        elif step == 17:
            self.arm("503", None, f.error, status=503, times=2)
        self.answers[kind] += 1
        if self.answers[kind] == KILL_AT:
            self.killed.append((kind, host_id))
            raise WorkerKilled(host_id)


def _kill_after_create(world: World, kind: PartyKind, host_id: str, killed: list[tuple[str, str]]) -> None:
    """The worker dies once Sage answered the party's create (its reference is in no earlier request),
    before its mapping is written: the next run must find it, not create a twin. Under the chaos
    profile the create's own answer may be lost (a 5xx or a timeout after the commit) and the party
    is then found by a lookup, in this run or a later one: the worker dies once a read answered with
    the party while it is still unmapped, which is the same moment for what our store holds."""
    assert world.tap is not None
    reference = world.connector().mapper.contact_reference(kind, host_id).encode()

    def seen(request: httpx.Request, response: httpx.Response) -> None:
        if (kind.value, host_id) in killed or response.status_code >= 300:
            return
        created = request.method == "POST" and reference in request.content
        found = request.method == "GET" and reference in response.read() \
            and world.store.mappings.find(TENANT, kind.value, host_id) is None
        if created or found:
            killed.append((kind.value, host_id))
            raise WorkerKilled(host_id)

    world.tap.after.append(seen)


def _amounts(n: int) -> list[dict[str, Any]]:
    return [line(f"{n}.10", tax="S"), line("9.99", "3", tax="R", ledger_code="PARTS")]


def _told(world: World) -> tuple[Counter[tuple[str, str, bool]], Counter[tuple[str, str]]]:
    """What the host was told: export.failed per (kind, host id, will retry), document.skipped per (kind, host id)."""
    failed = Counter((e["data"]["kind"], e["data"]["host_id"], e["data"]["will_retry"])
                     for e in world.events("export.failed"))
    skipped = Counter((e["data"]["kind"], e["data"]["host_id"]) for e in world.events("document.skipped"))
    return failed, skipped


def test_every_kind_exactly_once_through_faults_and_crashes(world):
    """Every kind the product takes (customers, vendors, sales invoices and credit notes, receipts,
    refunds, bills and vendor credit notes) through the storm and a worker killed once per kind:
    Sage holds each exactly once with the host's total (read as the accountant), the host hears no
    more than once per document; a kind the product declares it refuses ends skipped with its reason,
    told once."""
    world.add_tenant(retry_limit=5, export_kinds=sorted(k.value for k in ALL_RECORD_KINDS))
    refused = world.not_exported()
    started = time.perf_counter()
    expected: dict[RecordKind, dict[str, Decimal]] = {k: {} for k in (SI, SCN, PAY, REFUND, PI, PCN)}
    host_ids: dict[RecordKind, list[str]] = {k: [] for k in (*expected, CUSTOMER, VENDOR)}
    mapper = world.connector().mapper
    for n in range(1, CUSTOMERS + 1):
        world.stage(customer(n))
        host_ids[CUSTOMER].append(f"CUST-{n}")
    for n in range(1, VENDORS + 1):
        world.stage(vendor(n))
        host_ids[VENDOR].append(f"VEND-{n}")
    for kind, count, party, lines in (
            (SI, INVOICES, lambda n: customer(n % CUSTOMERS + 1), _amounts),
            (SCN, CREDIT_NOTES, lambda n: customer(n % CUSTOMERS + 1), lambda n: [line(f"{n}.05")]),
            (PI, BILLS, lambda n: vendor(n % VENDORS + 1), lambda n: [line(f"{n}.20"), line("4.99", "2", tax="R")]),
            (PCN, BILL_CREDITS, lambda n: vendor(n % VENDORS + 1), lambda n: [line(f"{n}.15")])):
        for n in range(1, count + 1):
            doc = document(world, kind, n, party=party(n), lines=lines(n))
            world.stage(doc)
            expected[kind][doc.number] = doc.totals.total
            host_ids[kind].append(doc.host_id)
    for n in range(1, RECEIPTS + 1):
        owed = expected[SI][f"INV-{n:05d}"]
        paid = payment(world, f"R-{n}", customer(n % CUSTOMERS + 1), str(owed),
                       ("sales_invoice", f"INV-{n}", str(owed)))
        world.stage(paid)
        expected[PAY][mapper.payment_reference(paid)] = owed
        host_ids[PAY].append(paid.host_id)
    for n in range(1, REFUNDS + 1):  # each credit note's money paid back to the customer
        credit = expected[SCN][f"CN-{n:05d}"]
        back = refund(world, f"RF-{n}", customer(n % CUSTOMERS + 1), str(credit),
                      ("sales_credit_note", f"CN-{n}", str(credit)))
        world.stage(back)
        expected[REFUND][mapper.payment_reference(back)] = credit
        host_ids[REFUND].append(back.host_id)
    declined = {kind: expected.pop(kind) for kind in list(expected) if kind in refused}
    wanted = [(k.value, h) for k, ids in host_ids.items() if k not in refused for h in ids]
    storm = Storm(world)
    for kind, host_id in KILLED_PARTIES.items():
        if kind not in refused:
            _kill_after_create(world, kind, host_id, storm.killed)
    # A party create whose answer is lost: found again by its reference, not created twice.
    storm.faults.append(world.faults().drop_after_commit(times=1, **world.row.write_match(CUSTOMER)))

    runs, crashes = 0, 0
    while runs < 25:
        runs += 1
        try:
            result = world.export(hooks=storm)
        except WorkerKilled:
            crashes += 1
            world.clock.advance(minutes=16)  # the dead worker's claim goes stale: the next run may take it over
            continue
        documents = [world.store.ledger.find(TENANT, kind, host_id) for kind, host_id in wanted
                     if kind not in (CUSTOMER.value, VENDOR.value)]
        # `find`, not `get`: a run that was not killed may still leave a party unmapped. Its create's answer
        # was lost and Sage's search does not show it yet, so on a product without idempotent creates it
        # is failed in doubt (its documents skipped, naming why) until a later run finds it:
        # test_a_party_whose_create_lost_its_answer_is_created_once_and_its_documents_follow.
        parties = [world.store.mappings.find(TENANT, kind, host_id) for kind, host_id in wanted
                   if kind in (CUSTOMER.value, VENDOR.value)]
        if all(e is not None and e.state is LedgerState.EXPORTED for e in documents) and all(parties) \
                and not result.counts["failed"]:
            break
        world.clock.advance(minutes=16)
    world.faults().clear()
    elapsed = time.perf_counter() - started

    fired = sum(f.fired for f in storm.faults)
    report = {}
    for kind, docs in expected.items():
        held = world.copies(kind)
        report[kind.value] = ({r: c for r, c in held.items() if c > 1}, set(docs) - set(held))
    for party_kind in (CUSTOMER, VENDOR):
        if party_kind in refused:
            continue
        held = world.copies(party_kind)
        ours = {mapper.contact_reference(party_kind, h) for h in host_ids[party_kind]}
        report[party_kind.value] = ({r: c for r, c in held.items() if r in ours and c > 1}, ours - set(held))
    print(f"\n{world.provider.value}: {len(wanted)} records, {runs} runs, {crashes} crashes, {fired} faults fired, "
          + ", ".join(f"{k}: {len(d)} duplicates, {len(m)} missing" for k, (d, m) in report.items())
          + "".join(f", {k.value}: declared refusal" for k in declined) + f", {elapsed:.1f} s")
    killed_kinds = {kind for kind, _ in storm.killed}
    assert killed_kinds == {k.value for k in (*expected, CUSTOMER, VENDOR) if k not in refused}, storm.killed
    assert crashes == len(storm.killed)
    assert fired >= 30, "the faults must actually have fired"
    assert {name for name, f in storm.armed if f.fired} == {"500", "lost", "5xx", "503"}
    assert all(not d and not m for d, m in report.values()), report
    for kind, docs in expected.items():  # with the host's totals
        assert {h.reference: h.total for h in world.held(kind) if h.reference in docs} == docs, kind
    settled = {SI: (PAY, RECEIPTS, "INV"), SCN: (REFUND, REFUNDS, "CN")}
    for kind, (money, count, prefix) in settled.items():  # every receipt / refund allocated as asked
        if money in expected:
            owed = {h.reference: h.outstanding for h in world.held(kind)}
            assert {f"{prefix}-{n:05d}": owed[f"{prefix}-{n:05d}"] for n in range(1, count + 1)} == \
                {f"{prefix}-{n:05d}": Decimal("0.00") for n in range(1, count + 1)}, money
    for kind, host_id in storm.killed:  # a document's dead worker's copy was looked up and adopted, not sent again
        if kind not in (CUSTOMER.value, VENDOR.value):
            assert "linked" in [h.outcome.value for h in world.history(kind, host_id)], (kind, host_id)

    failed, skipped = _told(world)  # at most once of each news per document, never given up
    assert not [k for k, n in failed.items() if n > 1 or not k[2]], failed
    assert not [k for k, n in skipped.items() if n > 1], skipped
    for kind in refused.keys() & (set(declined) | {CUSTOMER, VENDOR}):  # declared: skipped, with its reason
        for host_id in host_ids[kind]:
            history = world.history(kind.value, host_id)
            assert history and history[0].outcome.value == "skipped" and refused[kind] in history[0].reason
            if isinstance(kind, DocumentKind):
                assert skipped[(kind.value, host_id)] == 1, (kind, host_id)
    waits = {"party_missing", "allocation_not_exported"}
    for kind, host_id in skipped:  # a taken kind is skipped only while what it names is not in Sage yet
        if record_kind(kind) not in refused:
            assert world.store.ledger.find(TENANT, kind, host_id).state is LedgerState.EXPORTED
            said = {h.reason_code for h in world.history(kind, host_id) if h.outcome.value == "skipped"}
            assert said <= waits, (kind, host_id, said)
    assert elapsed < 120


class KillOnce:
    """The worker dies once, after Sage created the document and before the ledger commit."""

    def __init__(self) -> None:
        self.killed: list[str] = []

    def after_sage_call(self, kind: str, host_id: str, remote: Any) -> None:
        if not self.killed:
            self.killed.append(host_id)
            raise WorkerKilled(host_id)


def _lagging_search(world: World, seconds: int) -> None:
    """The chaos profile without its random faults: only Sage's search lagging its writes."""
    world.sandbox.chaos = world.faults().chaos = Chaos(rate=0, search_lag=timedelta(seconds=seconds),
                                                       clock=world.clock.now)


def _customer_in_sage(world: World) -> None:
    """The customer exported and searchable already, so only the invoice is in doubt."""
    world.stage(customer(1))
    world.export(trigger="admin", kinds=["customer"])


@pytest.mark.parametrize("lag", [0, 60], ids=["search_current", "search_lagging"])
def test_a_document_changed_while_its_export_was_in_doubt_is_not_created_again(world, lag):
    """Found by chaos on Sage Accounting: a changed version goes out under a new idempotency key, so
    a lookup that missed the first copy behind the search lag let the engine send a second one."""
    world.add_tenant()
    _customer_in_sage(world)
    world.clock.advance(minutes=10)
    # The case sets Sage's search itself (current or lagging), whatever the run's sandbox profile: under
    # the chaos profile a "current" search lagged and its random faults kept the worker from being killed.
    _lagging_search(world, seconds=lag)
    fast = {"claim_timeout": timedelta(seconds=20)}  # a dead worker's claim is taken over inside the lag
    world.stage(document(world, SI, 1))  # 120.00
    try:  # a product that reads a post back sees nothing while the search lags: in doubt, not answered
        world.export(hooks=KillOnce(), engine_options=fast)
        assert lag, "the worker should have died"
    except WorkerKilled:
        pass
    world.clock.advance(seconds=25)  # the dead worker's claim goes stale
    world.stage(document(world, SI, 1, lines=[line("150.00")]))  # now 180.00
    first = world.one(SI, "INV-00001")

    world.export(engine_options=fast)  # looked up: found, or (lagging) not trusted yet and not sent
    assert world.copies(SI) == {"INV-00001": 1}
    world.clock.advance(minutes=10)  # past the connector's settle time
    result = world.export(engine_options=fast)

    assert world.copies(SI) == {"INV-00001": 1}
    assert world.row.creates(world.sandbox, SI) == 1
    entry = world.store.ledger.get(TENANT, "sales_invoice", "INV-1")
    assert entry.sage_id == first.sage_id
    history = [h.outcome.value for h in world.history("sales_invoice", "INV-1")]
    assert "linked" in history  # adopted first
    if world.one(SI, "INV-00001").total == Decimal("180.00"):  # the product takes the change
        assert "updated" in history and entry.state is LedgerState.EXPORTED
    else:  # or it says why not (skipped or given up), in words, and keeps Sage's copy
        assert world.one(SI, "INV-00001").total == Decimal("120.00")
        said = [h for h in world.history("sales_invoice", "INV-1") if h.outcome.value in ("skipped", "failed")]
        assert said and said[0].reason and entry.state in (LedgerState.SKIPPED, LedgerState.FAILED)
        assert entry.state is LedgerState.SKIPPED or entry.gave_up
    assert not result.counts["created"]


@pytest.mark.parametrize("kind", [SI, PAY], ids=["invoice", "receipt"])
def test_a_write_committed_then_answered_with_an_error_reaches_sage_once_while_the_search_lags(world, kind):
    """Found by chaos on Sage 200 (no idempotency key): a create answered 503 after its commit was
    sent again, and a lookup that missed behind the search lag let the engine send it once more."""
    world.add_tenant()
    _customer_in_sage(world)
    invoice = document(world, SI, 1)  # 120.00
    receipt = payment(world, "R-1", customer(1), "120.00", ("sales_invoice", "INV-1", "120.00"))
    if kind is PAY:  # the invoice is in Sage and settled first
        world.stage(invoice)
        world.export()
    world.clock.advance(minutes=10)
    _lagging_search(world, seconds=240)  # inside the connector's settle time (5 minutes), as assumed of Sage
    world.stage(invoice if kind is SI else receipt)
    world.faults().error_after_commit(503, times=1, **world.row.write_match(kind))
    reference = invoice.number if kind is SI else world.connector().mapper.payment_reference(receipt)

    world.export()
    world.clock.advance(minutes=2)
    world.export()  # before the settle time: looks, does not send
    assert world.copies(kind) == {reference: 1}
    for _ in range(3):  # settled, and the search shows it: linked, not sent
        world.clock.advance(minutes=4)
        world.export()
        assert world.copies(kind) == {reference: 1}

    assert world.copies(kind) == {reference: 1}
    host_id = "INV-1" if kind is SI else "R-1"
    entry = world.store.ledger.get(TENANT, kind.value, host_id)
    assert entry.state is LedgerState.EXPORTED and entry.sage_id == world.one(kind, reference).sage_id
    assert world.one(kind, reference).total == Decimal("120.00")
    failed = [e["data"] for e in world.events("export.failed")]
    assert all(f["will_retry"] for f in failed)  # in doubt at most: never given up


def test_a_document_posted_but_not_yet_listed_is_not_posted_again(world):
    """Found by chaos on Sage 200: the post's own answer is fine, but reading the posted record back
    lags; a later run must link it, not post it again."""
    world.add_tenant()
    _customer_in_sage(world)
    world.clock.advance(minutes=10)
    _lagging_search(world, seconds=400)
    world.stage(document(world, SI, 1))
    world.export()
    world.clock.advance(minutes=2)
    world.export()
    assert world.copies(SI) == {"INV-00001": 1}
    world.clock.advance(minutes=6)
    world.export()
    assert world.copies(SI) == {"INV-00001": 1}
    assert world.store.ledger.get(TENANT, "sales_invoice", "INV-1").state is LedgerState.EXPORTED


def test_a_write_that_never_landed_is_sent_once_the_search_has_settled(world):
    world.add_tenant()
    _customer_in_sage(world)
    world.clock.advance(minutes=10)
    _lagging_search(world, seconds=60)
    world.stage(document(world, SI, 1))
    world.faults().error(503, times=1, **world.row.write_match(SI))  # refused: nothing written

    for _ in range(4):
        world.export(include_retries=True)
        world.clock.advance(minutes=3)

    assert world.copies(SI) == {"INV-00001": 1}
    assert world.store.ledger.get(TENANT, "sales_invoice", "INV-1").state is LedgerState.EXPORTED


def test_a_party_whose_create_lost_its_answer_is_created_once_and_its_documents_follow(world):
    """Found by chaos on Sage 200 (no idempotency key, a unique account reference): a supplier create
    committed and its answer lost, while Sage's search lagged. The next run, still inside the lag,
    created it again: Sage 200 refused the twin, the lookup missed, and the engine gave the supplier
    up as "refused" (its bills never sent until the host changed it); a product without the unique
    rule held two suppliers. Now the supplier waits in doubt, is looked up before any resend and its
    bill follows: one supplier, one bill on it, the host told why meanwhile and never given up."""
    world.add_tenant()
    world.clock.advance(minutes=10)
    _lagging_search(world, seconds=240)  # inside the connector's settle time (5 minutes), as assumed of Sage
    world.stage(vendor(4))
    world.stage(document(world, PI, 1, party=vendor(4)))
    world.faults().drop_after_commit(times=1, **world.row.write_match(VENDOR))
    reference = world.connector().mapper.contact_reference(VENDOR, "VEND-4")
    resends_safe = world.connector().creates_idempotent

    waiting: list[str] = []  # the supplier's reason while it is in doubt
    # Runs inside the lag, past it, and past the settle time of a bill that went in doubt in its turn.
    for run, minutes in enumerate((0, 2, 3, 6)):
        world.clock.advance(minutes=minutes)
        world.export()
        assert world.copies(VENDOR).get(reference) == 1, run  # never a twin supplier
        supplier = world.store.ledger.find(TENANT, "vendor", "VEND-4")
        bill = world.store.ledger.find(TENANT, "purchase_invoice", "PI-1")
        assert supplier is None or not supplier.gave_up, (run, supplier)  # a party has an entry once it failed
        assert bill is not None and not bill.gave_up, (run, bill)
        if world.store.mappings.find(TENANT, "vendor", "VEND-4") is None:  # not mapped: failed, saying why
            assert supplier is not None and supplier.state is LedgerState.FAILED and supplier.reason, run
            if not resends_safe:  # in doubt: no second create (its reason is checked below)
                assert world.row.creates(world.sandbox, VENDOR) == 1, run
                waiting.append(supplier.reason)
            assert bill.state is LedgerState.SKIPPED and supplier.reason in (bill.reason or ""), bill.reason

    # The host and the status page hear why it waits, and when it is looked for again.
    assert all("looks for it again" in r and reference in r for r in waiting), waiting
    [held] = [h for h in world.held(VENDOR) if h.reference == reference]
    assert world.store.mappings.get(TENANT, "vendor", "VEND-4").sage_id == held.sage_id
    assert world.copies(PI) == {"PI-00001": 1}
    assert world.store.ledger.get(TENANT, "purchase_invoice", "PI-1").state is LedgerState.EXPORTED
    if not resends_safe:
        assert world.row.creates(world.sandbox, VENDOR) == 1  # found by its reference, not created again
    if world.provider.value == "sage200":  # the bill is on that supplier's account
        [posted] = world.sandbox.accountant().purchase_posted("purchase_invoice")
        assert str(posted["supplier_id"]) == held.sage_id
    history = [h.outcome.value for h in world.history("vendor", "VEND-4")]
    assert history[0] in ("created", "linked") and "skipped" not in history
    failed = [e["data"] for e in world.events("export.failed") if e["data"]["host_id"] in ("VEND-4", "PI-1")]
    assert all(f["will_retry"] for f in failed)  # in doubt at most: never given up
