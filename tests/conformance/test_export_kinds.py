"""Every kind on every product, or a declared refusal: customers, vendors, customer invoices and credit
notes, customer payments and refunds, vendor invoices and credit notes are staged together and run
through the export worker. Each either reaches Sage once with the host's total, or (when the
product declares it does not take that kind) ends skipped with the product's own reason, told to
the host; never silently missing. A kind the product refuses does not stop the others."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.domain import DocumentKind, PartyKind
from sagebridge.domain.kinds import ALL_RECORD_KINDS
from sagebridge.store import LedgerState

from .conftest import TENANT, World, customer, document, line, payment, refund, vendor

SI, SCN, PI, PCN = (DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.PURCHASE_INVOICE,
                    DocumentKind.PURCHASE_CREDIT_NOTE)


def _stage_one_of_each(world: World) -> dict[object, tuple[str, str, Decimal | None]]:
    """kind -> (host id, the reference Sage files it under, its total)."""
    pat, acme = customer(1), vendor(1)
    inv = document(world, SI, 1, party=pat, lines=[line("100.00")])  # 120.00
    note = document(world, SCN, 1, party=pat, lines=[line("25.00")])  # 30.00
    bill = document(world, PI, 1, party=acme, lines=[line("40.00")])  # 48.00
    bill_note = document(world, PCN, 1, party=acme, lines=[line("10.00")])  # 12.00
    paid = payment(world, "PAY-1", pat, "120.00", ("sales_invoice", "INV-1", "120.00"))
    back = refund(world, "REF-1", pat, "30.00", ("sales_credit_note", "CN-1", "30.00"))
    for record in (pat, acme, inv, note, bill, bill_note, paid, back):
        world.stage(record)
    mapper = world.connector().mapper
    return {
        PartyKind.CUSTOMER: ("CUST-1", mapper.contact_reference(PartyKind.CUSTOMER, "CUST-1"), None),
        PartyKind.VENDOR: ("VEND-1", mapper.contact_reference(PartyKind.VENDOR, "VEND-1"), None),
        SI: ("INV-1", "INV-00001", Decimal("120.00")), SCN: ("CN-1", "CN-00001", Decimal("30.00")),
        PI: ("PI-1", "PI-00001", Decimal("48.00")), PCN: ("PCN-1", "PCN-00001", Decimal("12.00")),
        DocumentKind.CUSTOMER_PAYMENT: ("PAY-1", mapper.payment_reference(paid), Decimal("120.00")),
        DocumentKind.CUSTOMER_REFUND: ("REF-1", mapper.payment_reference(back), Decimal("30.00")),
    }


def test_every_kind_reaches_sage_once_or_is_a_declared_refusal_the_host_is_told(world):
    world.add_tenant(export_kinds=sorted(k.value for k in ALL_RECORD_KINDS))
    staged = _stage_one_of_each(world)
    refused = world.not_exported()

    world.export(trigger="admin", kinds=sorted(k.value for k in ALL_RECORD_KINDS))
    world.export(include_retries=True)  # a second run changes nothing

    told = {e["data"].get("host_id"): e for e in world.events("document.skipped")}
    for kind, (host_id, reference, total) in staged.items():
        entry = world.store.ledger.find(TENANT, kind.value, host_id)
        if kind in refused:
            assert entry is None or entry.state is LedgerState.SKIPPED, (kind, entry)
            history = world.history(kind.value, host_id)
            assert history and all((h.outcome.value, h.reason_code) == ("skipped", "not_supported") for h in history)
            assert refused[kind] in history[0].reason
            if isinstance(kind, DocumentKind):  # a document is told to the host, once
                assert len(history) == 1 and told[host_id]["data"]["reasons"][0]["code"] == "not_supported"
            assert world.copies(kind) == {} or reference not in world.copies(kind)
            continue
        if isinstance(kind, DocumentKind):
            assert entry is not None and entry.state is LedgerState.EXPORTED, (kind, entry and entry.reason)
        assert host_id not in told
        assert world.copies(kind).get(reference) == 1, (kind, world.copies(kind))
        if total is not None:
            assert world.one(kind, reference).total == total, kind
        assert world.store.mappings.get(TENANT, kind.value, host_id).sage_id == world.one(kind, reference).sage_id
