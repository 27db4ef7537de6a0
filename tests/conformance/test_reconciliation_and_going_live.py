"""The books as a bookkeeper checks them, on every product.

Reconciliation: the report's Sage figures are the ones Sage holds (read back as the accountant sees
them), kind by kind, and a change the accountant makes in Sage shows as a difference. Going live: a
tenant whose documents are already in its Sage business (exported by an earlier installation)
adopts them: nothing is created twice, each is linked, and only what is new is sent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sagebridge.domain import DocumentKind
from sagebridge.store import LedgerState
from sagebridge.sync.reconcile import reconcile

from .conftest import TENANT, World, customer, document, line, payment

SI, SCN, PAY = DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.CUSTOMER_PAYMENT
D = Decimal


def _books(world: World, tenant_id: str = TENANT) -> dict[DocumentKind, dict[str, Decimal]]:
    """Two invoices, a credit note and a receipt, staged for the tenant: kind -> reference -> total."""
    pat = customer(1)
    paid = payment(world, "PAY-1", pat, "120.00", ("sales_invoice", "INV-1", "120.00"))
    for record in (document(world, SI, 1, party=pat, lines=[line("100.00")]),  # 120.00
                   document(world, SI, 2, party=pat, lines=[line("50.00")]),  # 60.00
                   document(world, SCN, 1, party=pat, lines=[line("40.00")]),  # 48.00
                   paid):
        world.stage(record, tenant_id=tenant_id)
    return {SI: {"INV-00001": D("120.00"), "INV-00002": D("60.00")}, SCN: {"CN-00001": D("48.00")},
            PAY: {world.connector(tenant_id).mapper.payment_reference(paid): D("120.00")}}


def test_the_reconciliation_report_gives_the_totals_sage_holds(world: World):
    world.add_tenant()
    expected = _books(world)
    world.export()

    def report():
        return reconcile(world.store, world.connector(), world.settings_of(), TENANT,
                         window_from=date(2025, 3, 1), window_to=date(2025, 3, 31),
                         kinds=[k.value for k in expected])

    clean = report()
    in_sage = {kind: sum((h.total for h in world.held(kind) if h.reference in refs), D("0"))
               for kind, refs in expected.items()}
    got = {DocumentKind(k.kind): (k.host_count, k.host_total, k.sage_count, k.sage_total) for k in clean.kinds}
    assert got == {kind: (len(refs), sum(refs.values()), len(refs), in_sage[kind]) for kind, refs in expected.items()}
    assert in_sage == {kind: sum(refs.values()) for kind, refs in expected.items()}
    assert clean.balanced and clean.differences == []


def test_going_live_adopts_what_is_already_in_sage_and_sends_only_what_is_new(world: World):
    world.add_tenant("before")  # an earlier installation kept these books
    expected = _books(world, "before")
    world.export("before")
    creates = {kind: world.row.creates(world.sandbox, kind) for kind in expected}

    # Going live on the same Sage business once the earlier installation is disconnected (one
    # business, one tenant); its customers are Sage's already, found by their email.
    world.disconnect("before")
    world.add_tenant(identify_customer_by="email")
    _books(world)
    world.stage(document(world, SI, 3, lines=[line("10.00")]))  # new since: 12.00
    result = world.export()

    assert result.counts["created"] == 1, result.counts  # only INV-3
    assert world.copies(SI) == {"INV-00001": 1, "INV-00002": 1, "INV-00003": 1}
    for kind, refs in expected.items():
        if kind is not SI:
            assert world.copies(kind) == dict.fromkeys(refs, 1), kind
    assert world.row.creates(world.sandbox, SI) == creates[SI] + 1
    for kind, host_id in (("sales_invoice", "INV-1"), ("sales_credit_note", "CN-1"), ("customer_payment", "PAY-1")):
        entry = world.store.ledger.get(TENANT, kind, host_id)
        assert entry.state is LedgerState.EXPORTED and entry.sage_id == \
            world.store.ledger.get("before", kind, host_id).sage_id
        assert world.history(kind, host_id)[0].outcome.value == "linked"


def test_an_offset_payment_reconciles_as_the_money_that_moved(world: World):
    """A payment of 0 that sets a credit note against an invoice moved no money: whatever record the
    product keeps for it in Sage, reconciliation compares the money (0 on both sides), so the period
    balances; a product that refuses the offset shows it as not exported, with its reason."""
    world.add_tenant()
    pat = customer(1)
    world.stage(document(world, SI, 1, party=pat, lines=[line("10.00")]))  # 12.00
    world.stage(document(world, SCN, 1, party=pat, lines=[line("10.00")]))  # 12.00
    world.stage(payment(world, "PAY-O1", pat, "0", ("sales_invoice", "INV-1", "12.00"),
                        ("sales_credit_note", "CN-1", "12.00")))
    world.export()

    report = reconcile(world.store, world.connector(), world.settings_of(), TENANT,
                       window_from=date(2025, 3, 1), window_to=date(2025, 3, 31),
                       kinds=[SI.value, SCN.value, PAY.value])

    paid = {k.kind: k for k in report.kinds}[PAY.value]
    assert (paid.host_total, paid.sage_total) == (D("0"), D("0"))
    if world.store.ledger.get(TENANT, "customer_payment", "PAY-O1").state is LedgerState.EXPORTED:
        assert report.differences == [] and report.balanced, [d.message for d in report.differences]
        assert paid.host_count == paid.sage_count == 1
    else:
        assert [(d.problem, d.host_id) for d in report.differences] == [("not_exported", "PAY-O1")]


def test_kinds_the_product_never_takes_are_marked_in_the_report_not_an_error(world: World):
    """The report covers every kind; one the product never takes (`not_exported(connector)`) is
    marked with the product's reason, its host documents counted, Sage not read for it, and it does
    not unbalance the period, also when asked for on its own."""
    world.add_tenant()
    _books(world)
    world.stage(document(world, DocumentKind.PURCHASE_INVOICE, 1, lines=[line("10.00")]))  # 12.00
    world.export()
    never = {k: why for k, why in world.not_exported().items() if isinstance(k, DocumentKind)}

    def report(kinds: list[str] | None = None):
        return reconcile(world.store, world.connector(), world.settings_of(), TENANT,
                         window_from=date(2025, 3, 1), window_to=date(2025, 3, 31), kinds=kinds)

    every = report()
    rows = {DocumentKind(k.kind): k for k in every.kinds}
    assert set(rows) == set(DocumentKind)
    assert {k: r.not_exported for k, r in rows.items() if r.not_exported} == never
    assert every.balanced, [d.message for d in every.differences]
    assert not {d.kind for d in every.differences} & {k.value for k in never}
    if DocumentKind.PURCHASE_INVOICE in never:  # counted on the host's side, to enter in Sage by hand
        assert (rows[DocumentKind.PURCHASE_INVOICE].host_count,
                rows[DocumentKind.PURCHASE_INVOICE].host_total) == (1, D("12.00"))
    for kind, why in never.items():
        [alone] = report([kind.value]).kinds
        assert (alone.kind, alone.not_exported, alone.sage_count) == (kind.value, why, 0)
