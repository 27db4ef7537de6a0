"""Voids on the regional API v2.0.0, as the host and the accountant see them: a voided receipt is deleted
in Sage (its invoice owes again, the host told once); a voided tax invoice, which the API cannot void, is
counted voided once the accountant credits it in full in Sage, as the first refusal told them to."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sagebridge.domain import DocumentKind
from sagebridge.domain.settings import Provider
from sagebridge.store import LedgerState
from tests.conformance.conftest import (  # noqa: F401  (the conformance world's fixtures)
    TENANT,
    World,
    customer,
    document,
    kms,
    line,
    payment,
    world,
)

SI, SCN, PAY = DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.CUSTOMER_PAYMENT


@pytest.fixture
def provider() -> Provider:
    return Provider.SAGE_REGIONAL


def _told(on: World, host_id: str) -> list[dict]:
    return [e for e in on.events() if e["data"].get("host_id") == host_id
            and e["type"] in ("document.skipped", "document.exported", "export.failed")]


def test_a_voided_payment_is_deleted_in_sage_so_the_invoice_owes_again_and_the_host_hears_it_once(
        world: World):  # noqa: F811
    world.add_tenant()
    world.stage(document(world, SI, 1, party=customer(1)))  # 120.00
    paid = payment(world, "PAY-1", customer(1), "50.00", ("sales_invoice", "INV-1", "50.00"))
    world.stage(paid)
    world.export()
    assert world.one(SI, "INV-00001").outstanding == Decimal("70.00")
    told_before = len(_told(world, "PAY-1"))

    world.stage(paid, voided=True)
    world.export()
    world.export()  # nothing more to do, nothing more told

    assert world.held(PAY) == []  # the receipt is gone from Sage: the customer is not credited twice
    assert world.one(SI, "INV-00001").outstanding == Decimal("120.00")
    [last] = world.history("customer_payment", "PAY-1")[:1]
    assert last.outcome.value == "updated" and "deleted in Sage" in last.reason
    told = _told(world, "PAY-1")[told_before:]
    assert [e["type"] for e in told] == ["document.exported"] and told[0]["data"]["outcome"] == "voided"
    assert "customer return" not in " ".join(h.reason or "" for h in world.history("customer_payment", "PAY-1"))


def test_a_voided_invoice_credited_in_full_in_sage_is_counted_voided_once(world: World):  # noqa: F811
    world.add_tenant()
    invoice = document(world, SI, 104, party=customer(1))  # 120.00
    world.stage(invoice)
    world.stage(document(world, SCN, 7, party=customer(1)))  # the accountant's return, 120.00, not yet allocated
    world.export()

    world.stage(invoice, voided=True)
    world.export()
    [refused] = [e["data"] for e in _told(world, "INV-104") if e["type"] == "document.skipped"]
    advice = refused["reasons"][0]["message"]
    assert "credit it in full in Sage" in advice and "counts it voided" in advice

    # The accountant does what it says: the return set against the invoice, nothing owing.
    books = world.sandbox.accountant()
    books.allocate(world.one(SCN, "CN-00007").sage_id, world.one(SI, "INV-00104").sage_id)
    assert world.one(SI, "INV-00104").outstanding == Decimal("0.00")
    world.export()
    world.export()

    entry = world.store.ledger.get(TENANT, "sales_invoice", "INV-104")
    assert entry.state is LedgerState.EXPORTED
    told = _told(world, "INV-104")
    assert [e["type"] for e in told].count("document.skipped") == 1  # one advice, never a contradicting one
    assert sum(1 for e in told if e["type"] == "document.exported" and e["data"]["outcome"] == "voided") == 1
    assert world.store.mappings.get(TENANT, "sales_invoice", "INV-104").extra.get("voided")


def test_a_voided_invoice_paid_by_a_receipt_is_not_counted_voided(world: World):  # noqa: F811
    world.add_tenant()
    invoice = document(world, SI, 1, party=customer(1))
    world.stage(invoice)
    world.export()
    books = world.sandbox.accountant()
    books.record_receipt(world.one(SI, "INV-00001").sage_id)  # real money: not a credit

    world.stage(invoice, voided=True)
    world.export()

    entry = world.store.ledger.get(TENANT, "sales_invoice", "INV-1")
    assert entry.state is LedgerState.SKIPPED
    assert not world.store.mappings.get(TENANT, "sales_invoice", "INV-1").extra.get("voided")


def test_a_changed_part_paid_invoice_is_told_a_way_out_that_works_here_not_a_void(world: World):  # noqa: F811
    world.add_tenant()
    world.stage(document(world, SI, 1, party=customer(1)))  # 120.00
    world.export()
    world.sandbox.accountant().record_receipt(world.one(SI, "INV-00001").sage_id, "20.00")

    world.stage(document(world, SI, 1, party=customer(1), lines=[line("90.00")]))  # changed in the host
    world.export(export_type="all")

    [refused] = [e["data"] for e in _told(world, "INV-1") if e["type"] == "document.skipped"]
    advice = refused["reasons"][0]["message"]
    assert refused["reasons"][0]["code"] == "already_paid_in_sage" and "20.00 paid" in advice
    assert "void it in the host app" not in advice  # voids of invoices change nothing in Sage here
    assert "credit note against it" in advice
    assert world.one(SI, "INV-00001").total == Decimal("120.00")


def test_a_voided_invoice_with_a_receipt_against_it_is_told_how_to_get_it_counted_voided(world: World):  # noqa: F811
    world.add_tenant()
    invoice = document(world, SI, 1, party=customer(1))  # 120.00
    world.stage(invoice)
    world.export()
    world.sandbox.accountant().record_receipt(world.one(SI, "INV-00001").sage_id, "20.00")

    world.stage(invoice, voided=True)
    world.export()
    world.export()

    [refused] = [e["data"] for e in _told(world, "INV-1") if e["type"] == "document.skipped"]
    advice = refused["reasons"][0]["message"]
    assert "remove the payment in Sage first" in advice and "credit the rest in Sage" in advice
    assert "Sage Bridge counts it voided" in advice
