"""Voids and refunds on every product. A host document voided after it reached Sage is taken back
the product's way (voided, reversed or deleted there, as the accountant sees it), or skipped with
the product's reason, told to the host once; never left live in Sage without a word, and never
sent twice. A paid document is not voided: the host hears it is paid. A refund recorded for a
credit note reaches Sage once, through a lost answer, and settles the credit note; or it is the
product's declared refusal."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.domain import DocumentKind
from sagebridge.domain.kinds import RecordKind
from sagebridge.store import LedgerState

from .conftest import TENANT, World, customer, document, line, payment, refund, vendor

SI, SCN, PI, PCN = (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
                    DocumentKind.PURCHASE_CREDIT_NOTE)
PAY, REFUND = DocumentKind.CUSTOMER_PAYMENT, DocumentKind.CUSTOMER_REFUND
ALL_DOCUMENTS = [SI.value, SCN.value, PI.value, PCN.value, PAY.value, REFUND.value]


def _export_until_settled(world: World, records: list[tuple[str, str]],
                          settled: tuple[LedgerState, ...] = (LedgerState.EXPORTED,)) -> None:
    """One run in the realistic profile; under chaos, runs until each of `records` is settled (a
    write in doubt waits out the connector's settle time)."""
    for _ in range(6):
        world.export()
        entries = [world.store.ledger.find(TENANT, kind, host_id) for kind, host_id in records]
        if all(e is not None and e.state in settled for e in entries):
            return
        world.clock.advance(minutes=6)


def _stage_all(world: World) -> dict[RecordKind, tuple[object, str]]:
    """One record of each kind to void (kind -> (record, host id)), and the documents the payments
    settle (INV-2, CN-2), which stay."""
    pat, acme = customer(1), vendor(1)
    docs = {SI: document(world, SI, 1, party=pat), SCN: document(world, SCN, 1, party=pat, lines=[line("25.00")]),
            PI: document(world, PI, 1, party=acme, lines=[line("40.00")]),
            PCN: document(world, PCN, 1, party=acme, lines=[line("10.00")])}
    settled = [document(world, SI, 2, party=pat), document(world, SCN, 2, party=pat, lines=[line("5.00")])]
    docs[PAY] = payment(world, "PAY-1", pat, "120.00", ("sales_invoice", "INV-2", "120.00"))
    docs[REFUND] = refund(world, "REF-1", pat, "6.00", ("sales_credit_note", "CN-2", "6.00"))
    for record in (*settled, *docs.values()):
        world.stage(record)
    return {kind: (record, record.host_id) for kind, record in docs.items()}


def test_a_voided_document_of_each_kind_is_taken_back_in_sage_or_skipped_with_the_reason(world):
    world.add_tenant(export_kinds=ALL_DOCUMENTS)
    refused = world.not_exported()
    staged = {kind: v for kind, v in _stage_all(world).items() if kind not in refused}
    records = [(kind.value, host_id) for kind, (_, host_id) in staged.items()]
    _export_until_settled(world, [*records, ("sales_invoice", "INV-2"), ("sales_credit_note", "CN-2")])
    sage_ids = {kind: world.store.ledger.get(TENANT, kind.value, host_id).sage_id
                for kind, (_, host_id) in staged.items()}
    assert all(sage_ids.values()) and all(world.row.live(world.sandbox, k, i) for k, i in sage_ids.items())
    failed_before = len(world.events("export.failed"))
    skipped_before = len(world.events("document.skipped"))

    for record, _ in staged.values():
        world.stage(record, voided=True)  # voided in the host app
    _export_until_settled(world, records, (LedgerState.EXPORTED, LedgerState.SKIPPED))
    told = len(world.events())
    again = world.export()  # a second run takes nothing back twice and tells the host nothing new
    assert not again.counts["updated"] and not again.counts["failed"] and len(world.events()) == told

    skipped = [e["data"] for e in world.events("document.skipped")[skipped_before:]]
    outcomes = {}
    for kind, (_, host_id) in staged.items():
        entry = world.store.ledger.get(TENANT, kind.value, host_id)
        last = world.history(kind.value, host_id)[0]
        live = world.row.live(world.sandbox, kind, sage_ids[kind])
        told = [s for s in skipped if (s["kind"], s["host_id"]) == (kind.value, host_id)]
        if entry.state is LedgerState.EXPORTED:  # taken back in Sage, the product's way
            assert last.outcome.value == "updated" and ("voided in Sage" in last.reason or
                                                        "deleted in Sage" in last.reason), (kind, last.reason)
            assert not live, f"{kind.value}: the log says {last.reason!r} but Sage still holds it live"
            assert not told
            assert world.store.mappings.get(TENANT, kind.value, host_id).extra.get("voided")
            outcomes[kind.value] = last.reason
        else:  # or left as it is, and the host told why and what to do, once
            assert entry.state is LedgerState.SKIPPED, (kind, entry.state, entry.reason)
            assert last.outcome.value == "skipped" and last.reason, kind
            # It was exported: what is not carried out is the void, and the reason must not say otherwise.
            assert "is not exported" not in last.reason and "voided in the host app" in last.reason, last.reason
            assert live and len(told) == 1 and told[0]["reasons"][0]["message"] == last.reason, (kind, told)
            outcomes[kind.value] = f"skipped: {last.reason}"
    assert not [e for e in world.events("export.failed")[failed_before:] if not e["data"]["will_retry"]]
    if PAY in staged and not world.row.live(world.sandbox, PAY, sage_ids[PAY]):
        assert world.one(SI, "INV-00002").outstanding == Decimal("120.00")  # the receipt's money is owed again
    print(f"\n{world.provider.value}: " + "; ".join(f"{k}: {v}" for k, v in outcomes.items()))


def test_a_voided_document_that_is_paid_in_sage_is_not_voided_and_the_host_hears_it_is_paid(world):
    world.add_tenant()
    invoice = document(world, SI, 1)  # 120.00
    world.stage(invoice)
    world.stage(payment(world, "PAY-1", customer(1), "50.00", ("sales_invoice", "INV-1", "50.00")))
    _export_until_settled(world, [("sales_invoice", "INV-1"), ("customer_payment", "PAY-1")])
    assert world.one(SI, "INV-00001").outstanding == Decimal("70.00")

    world.stage(invoice, voided=True)
    _export_until_settled(world, [("sales_invoice", "INV-1")], (LedgerState.SKIPPED,))
    world.export(include_retries=True)

    entry = world.store.ledger.get(TENANT, "sales_invoice", "INV-1")
    assert entry.state is LedgerState.SKIPPED
    [told] = [e["data"] for e in world.events("document.skipped") if e["data"]["host_id"] == "INV-1"]
    assert told["reasons"][0]["code"] == "already_paid_in_sage"
    assert "50.00 paid or allocated against it in Sage" in told["reasons"][0]["message"]
    assert "remove the payment in Sage first" in told["reasons"][0]["message"]
    assert world.row.live(world.sandbox, SI, entry.sage_id) and world.copies(SI) == {"INV-00001": 1}


def test_a_refund_for_a_credit_note_reaches_sage_once_through_a_lost_answer(world):
    world.add_tenant()
    refused = world.not_exported()
    note = document(world, SCN, 1, lines=[line("25.00")])  # 30.00
    back = refund(world, "REF-1", customer(1), "30.00", ("sales_credit_note", "CN-1", "30.00"))
    world.stage(note)
    _export_until_settled(world, [("sales_credit_note", "CN-1")])
    world.stage(back)
    world.faults().drop_after_commit(times=1, **world.row.write_match(REFUND))  # committed, the answer lost

    for _ in range(5):  # past the connector's settle time: looked up, linked, never sent twice
        world.export()
        world.clock.advance(minutes=4)
    world.poll(advance_minutes=1)
    world.poll(advance_minutes=30)

    entry = world.store.ledger.find(TENANT, "customer_refund", "REF-1")
    history = world.history("customer_refund", "REF-1")
    if REFUND in refused:  # the declared refusal: skipped with the product's reason, told once, nothing sent
        assert entry is None or entry.state is LedgerState.SKIPPED
        assert history and refused[REFUND] in history[0].reason
        assert [e["data"]["host_id"] for e in world.events("document.skipped")] == ["REF-1"]
        assert world.row.creates(world.sandbox, REFUND) == 0
        return
    reference = world.connector().mapper.payment_reference(back)
    assert world.copies(REFUND) == {reference: 1}
    assert world.one(REFUND, reference).total == Decimal("30.00")
    assert world.one(SCN, "CN-00001").outstanding == Decimal("0.00")
    assert entry.state is LedgerState.EXPORTED and entry.sage_id == world.one(REFUND, reference).sage_id
    told = [e["data"] for e in world.events("export.failed") if e["data"]["host_id"] == "REF-1"]
    assert len(told) <= 1 and all(t["will_retry"] for t in told), told  # in doubt at most, once
    assert not world.events("document.skipped")
    refunded = world.events("credit_note.refunded")  # our own refund is not told back as news from Sage
    assert len(refunded) <= 1, refunded
