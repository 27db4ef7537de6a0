"""Credit notes and offsets on every product: a credit note linked to its invoice (`invoice_id`) is
set against it in Sage exactly once, however many runs follow; a payment that offsets a credit note
against an invoice books only the money that moved. A product that cannot do either says so: the
allocation or the payment ends skipped (or given up) with the product's reason, and the host is told."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.domain import DocumentKind, Provider
from sagebridge.store import LedgerEntry, LedgerState
from sagebridge.sync.export import CREDIT_NOTE_ALLOCATION

from .conftest import TENANT, World, customer, document, line, payment

SI, SCN, PAY = DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.CUSTOMER_PAYMENT
D = Decimal
# Products that declare they cannot set a credit note against an invoice (the refusal branches below
# check their reason); every other product must allocate. None today: Sage Intacct applies credit
# memos through ARPYMT credit lines (docs/mapping.md).
DECLARED_REFUSALS: frozenset[Provider] = frozenset()
# Products that declare they cannot take a payment offsetting credit notes: the regional API v2.0.0
# (issue 17) allocates receipts to invoices only so far, and says so.
DECLARED_OFFSET_REFUSALS: frozenset[Provider] = frozenset({Provider.SAGE_REGIONAL})


def _said_why(world: World, kind: str, host_id: str) -> bool:
    """The record ended skipped or given up, with a reason the host was told."""
    refused = [h for h in world.history(kind, host_id) if h.outcome.value in ("skipped", "failed")]
    told = {e["data"].get("host_id") for e in world.events() if e["type"] in ("document.skipped", "export.failed")}
    return bool(refused) and bool(refused[0].reason) and host_id in told


def test_a_credit_note_linked_to_its_invoice_is_set_against_it_once_or_refused_with_the_reason(world: World):
    world.add_tenant()
    world.stage(document(world, SI, 1, lines=[line("100.00")]))  # 120.00
    world.stage(document(world, SCN, 1, lines=[line("25.00")], invoice_id="INV-1"))  # 30.00

    world.export()
    world.export(include_retries=True)
    world.export(export_type="all", include_retries=True)  # later runs (scheduled, All) never allocate again

    assert world.copies(SI) == {"INV-00001": 1} and world.copies(SCN) == {"CN-00001": 1}
    invoice = world.one(SI, "INV-00001")
    entry: LedgerEntry | None = world.store.ledger.find(TENANT, CREDIT_NOTE_ALLOCATION, "CN-1")
    if invoice.outstanding == D("90.00"):  # allocated, once
        assert entry is not None and entry.state is LedgerState.EXPORTED
        assert world.one(SCN, "CN-00001").outstanding == D("0.00")
        assert any("30.00 allocated against invoice 'INV-1'" in (h.reason or "")
                   for h in world.history("sales_credit_note", "CN-1"))
    else:
        assert world.provider in DECLARED_REFUSALS, f"{world.provider.value} refused to allocate the credit note"
        assert invoice.outstanding == D("120.00")
        assert _said_why(world, "sales_credit_note", "CN-1")
        assert "not_supported" in {h.reason_code for h in world.history("sales_credit_note", "CN-1")}


def test_a_payment_offsetting_a_credit_note_books_only_the_money_that_moved_or_is_refused_with_the_reason(
        world: World):
    world.add_tenant()
    pat = customer(1)
    world.stage(document(world, SI, 1, party=pat, lines=[line("100.00")]))  # 120.00
    world.stage(document(world, SCN, 2, party=pat, lines=[line("10.00")]))  # 12.00
    paid = payment(world, "PAY-1", pat, "108.00", ("sales_invoice", "INV-1", "120.00"),
                   ("sales_credit_note", "CN-2", "12.00"))
    world.stage(paid)

    world.export()
    world.export(include_retries=True)

    reference = world.connector().mapper.payment_reference(paid)
    if world.store.ledger.get(TENANT, "customer_payment", "PAY-1").state is LedgerState.EXPORTED:
        assert world.one(PAY, reference).total == D("108.00")  # the bank sees what moved
        assert world.one(SI, "INV-00001").outstanding == D("0.00")
        assert world.one(SCN, "CN-00002").outstanding == D("0.00")
    else:
        assert world.provider in DECLARED_OFFSET_REFUSALS, f"{world.provider.value} refused the offsetting payment"
        assert world.copies(PAY) == {}
        assert world.one(SI, "INV-00001").outstanding == D("120.00")
        assert _said_why(world, "customer_payment", "PAY-1")
