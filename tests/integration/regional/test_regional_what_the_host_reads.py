"""What the host and the accountant read on the regional product: the log names a customer as Sage holds it,
and a refused offset says what to do instead."""

from __future__ import annotations

import pytest

from sagebridge.domain import DocumentKind
from sagebridge.domain.settings import Provider
from tests.conformance.conftest import (  # noqa: F401  (the conformance world's fixtures)
    World,
    customer,
    document,
    kms,
    line,
    payment,
    world,
)

SI, SCN = DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE


@pytest.fixture
def provider() -> Provider:
    return Provider.SAGE_REGIONAL


def test_a_new_customer_is_logged_under_the_name_sage_holds_not_its_contact_person(world: World):  # noqa: F811
    world.add_tenant()
    world.stage(document(world, SI, 1, party=customer(1, company="Harbour Motors Pty Ltd")))
    world.export()

    [made] = world.history("customer", "CUST-1")[:1]
    held = world.sandbox.accountant().get("Customer", int(made.sage_id))
    assert made.outcome.value == "created" and held["Name"] == "Harbour Motors Pty Ltd"
    assert made.number == "Harbour Motors Pty Ltd"  # not "Customer 1 Ltd", the person to contact there


def test_a_payment_offsetting_a_credit_note_is_refused_with_what_to_do_instead(world: World):  # noqa: F811
    world.add_tenant()
    pat = customer(1)
    world.stage(document(world, SI, 1, party=pat, lines=[line("100.00")]))
    world.stage(document(world, SCN, 2, party=pat, lines=[line("10.00")]))
    world.stage(payment(world, "PAY-1", pat, "108.00", ("sales_invoice", "INV-1", "120.00"),
                        ("sales_credit_note", "CN-2", "12.00")))
    world.export()

    [told] = [e["data"] for e in world.events("document.skipped") if e["data"]["host_id"] == "PAY-1"]
    [why] = [r["message"] for r in told["reasons"] if r.get("field") == "allocations[2]"]
    assert "only to sales invoices" in why
    assert "with invoice_id" in why and "net of it" in why and "record the offset in Sage" in why
