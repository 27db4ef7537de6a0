"""From Sage back to the host: an accountant records payments and refunds in Sage, the poller runs
again and again over overlapping windows, and the host app receives each piece of news exactly once
with the outstanding amount Sage shows."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.domain import CustomerPayment, DocumentKind
from sagebridge.domain.settings import IdentifyCustomerBy
from sagebridge.store.records import ConnectionStatus
from sagebridge.sync.payments import PAYMENTS_STREAM
from tests.integration.export.conftest import document, line

from .conftest import TENANT

D = Decimal
SI, SCN = DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE


def sage_id(world, kind: str, host_id: str) -> str:
    return world.store.mappings.get(TENANT, kind, host_id).sage_id


def news(world) -> list[tuple]:
    """What the host was told, in words: (type, document host id, amount, outstanding)."""
    out = []
    for event in world.events():
        data, kind = event["data"], event["type"]
        if kind == "invoice.payment_received":
            out.append((kind, data["invoice"]["host_id"], D(data["allocated_amount"]), D(data["outstanding_amount"])))
        elif kind in ("invoice.paid", "invoice.part_paid"):
            out.append((kind, data["invoice"]["host_id"], D(data["total_amount"]), D(data["outstanding_amount"])))
        elif kind == "credit_note.refunded":
            out.append((kind, data["credit_note"]["host_id"], D(data["refund"]["amount"]),
                        D(data["outstanding_amount"])))
        elif kind == "invoice.payment_reversed":
            out.append((kind, data["invoice"]["host_id"], D(data["reversed_amount"]), D(data["outstanding_amount"])))
    return out


def assert_exactly_once(world) -> None:
    ids = world.host_app.delivered_ids()
    assert len(ids) == len(set(ids)), "the host received an event twice"


def test_full_partial_split_payments_and_a_refund_reach_the_host_exactly_once(world, host):
    world.add_tenant(TENANT)
    for n in (1, 2, 3, 4):
        host.stage(document(SI, n))  # 100 + 20 VAT = 120.00 each
    host.stage(document(SCN, 1, total=("50.00", "10.00"), lines=[line("50.00")]))
    # A payment the host recorded itself and we exported: it comes back naming the host's id.
    host.stage(CustomerPayment(host_id="PAY-9", party_id="CUST-1", payment_date="2025-03-02", amount="20.00",
                               currency="GBP", allocations=[{"kind": "sales_invoice", "host_id": "INV-4",
                                                             "amount": "20.00"}]))
    world.export()
    inv = {n: sage_id(world, "sales_invoice", f"INV-{n}") for n in (1, 2, 3, 4)}
    cn1 = sage_id(world, "sales_credit_note", "CN-1")
    acct = world.sandbox.accountant()
    ids = world.sandbox.ids

    world.poll()
    world.deliver_all()
    assert news(world) == [("invoice.payment_received", "INV-4", D("20.00"), D("100.00")),
                           ("invoice.part_paid", "INV-4", D("120.00"), D("100.00"))]
    assert world.events("invoice.payment_received")[0]["data"]["payment"]["host_id"] == "PAY-9"

    # The accountant, in Sage: INV-1 paid in full, INV-2 part paid, and an invoice typed straight into
    # Sage (never the host's) paid too.
    world.clock.advance(minutes=3)
    acct.record_customer_payment(inv[1])
    acct.record_customer_payment(inv[2], "50.00", reference="BACS 1")
    own = acct.create("sales_invoices", {
        "contact_id": ids["ACME001"], "date": "2025-03-03",
        "invoice_lines": [{"description": "Typed in Sage", "ledger_account_id": ids["4000"], "quantity": 1,
                           "unit_price": "10.00", "tax_rate_id": "GB_ZERO"}]})
    acct.record_customer_payment(own["id"])
    for _ in range(3):  # overlapping windows: the same payments are read again and again
        world.poll(advance_minutes=1.5)
        world.deliver_all()

    # Then the rest of INV-2, one receipt split over INV-3 (all) and INV-4 (part), and CN-1 refunded.
    world.clock.advance(minutes=2)
    acct.record_customer_payment(inv[2], "70.00", reference="BACS 2")
    acct.create("contact_payments", {
        "transaction_type_id": "CUSTOMER_RECEIPT", "contact_id": acct.get("sales_invoices", inv[3])["contact"]["id"],
        "bank_account_id": ids["bank"], "date": "2025-03-03", "total_amount": "180.00", "reference": "SPLIT",
        "allocated_artefacts": [{"artefact_id": inv[3], "amount": "120.00"},
                                {"artefact_id": inv[4], "amount": "60.00"}]})
    acct.refund_customer(cn1)
    for minutes in (1, 2, 0.5, 4, 15, 15):
        world.poll(advance_minutes=minutes)
        world.deliver_all()

    assert news(world)[2:] == [
        ("invoice.payment_received", "INV-1", D("120.00"), D("0.00")),
        ("invoice.paid", "INV-1", D("120.00"), D("0")),
        ("invoice.payment_received", "INV-2", D("50.00"), D("70.00")),
        ("invoice.part_paid", "INV-2", D("120.00"), D("70.00")),
        ("invoice.payment_received", "INV-2", D("70.00"), D("0.00")),
        ("invoice.paid", "INV-2", D("120.00"), D("0")),
        ("invoice.payment_received", "INV-3", D("120.00"), D("0.00")),
        ("invoice.paid", "INV-3", D("120.00"), D("0")),
        ("invoice.payment_received", "INV-4", D("60.00"), D("40.00")),
        ("invoice.part_paid", "INV-4", D("120.00"), D("40.00")),
        ("credit_note.refunded", "CN-1", D("60.00"), D("0.00")),
    ]
    assert_exactly_once(world)
    split = [e for e in world.events("invoice.payment_received") if e["data"]["payment"]["reference"] == "SPLIT"]
    assert {e["data"]["payment"]["amount"] for e in split} == {"180.00"}
    assert len({e["data"]["payment"]["sage_id"] for e in split}) == 1
    # Every message was handed to delivery twice; the duplicates were acknowledged, not sent.
    assert len(world.host_app.received) == len(world.events())
    assert sum(r.payments_delivered for rep in world.reports for t in rep.tenants if (r := t.payments)) == 7


def test_several_receipts_in_one_window_and_a_deleted_or_changed_payment(world, host):
    world.add_tenant(TENANT)
    host.stage(document(SI, 1))
    world.export()
    inv1 = sage_id(world, "sales_invoice", "INV-1")
    acct = world.sandbox.accountant()
    world.poll()

    world.clock.advance(minutes=1)
    first = acct.record_customer_payment(inv1, "50.00")
    world.clock.advance(seconds=20)
    second = acct.record_customer_payment(inv1, "30.00")
    world.poll(advance_minutes=1)
    world.deliver_all()
    # Both in one window: each event has the outstanding amount just after its own receipt.
    assert news(world) == [("invoice.payment_received", "INV-1", D("50.00"), D("70.00")),
                           ("invoice.part_paid", "INV-1", D("120.00"), D("70.00")),
                           ("invoice.payment_received", "INV-1", D("30.00"), D("40.00")),
                           ("invoice.part_paid", "INV-1", D("120.00"), D("40.00"))]

    world.clock.advance(minutes=2)
    acct.delete_payment(first["id"])
    for minutes in (1, 1, 3, 15):
        world.poll(advance_minutes=minutes)
        world.deliver_all()
    assert news(world)[4:] == [("invoice.payment_reversed", "INV-1", D("50.00"), D("90.00"))]
    reversal = world.events("invoice.payment_reversed")[0]["data"]
    assert reversal["payment_sage_id"] == first["id"] and reversal["reason"] == "deleted"

    # The accountant edits the other receipt down to 20.00: the 30.00 is reversed, the 20.00 received.
    world.clock.advance(minutes=1)
    acct.update("contact_payments", second["id"], {"total_amount": "20.00",
                                                    "allocated_artefacts": [{"artefact_id": inv1, "amount": "20.00"}]})
    for minutes in (1, 2, 15):
        world.poll(advance_minutes=minutes)
        world.deliver_all()
    assert news(world)[5:] == [("invoice.payment_reversed", "INV-1", D("30.00"), D("100.00")),
                               ("invoice.payment_received", "INV-1", D("20.00"), D("100.00")),
                               ("invoice.part_paid", "INV-1", D("120.00"), D("100.00"))]
    assert world.events("invoice.payment_reversed")[1]["data"]["reason"] == "changed"
    assert_exactly_once(world)


def test_the_cursor_moves_only_once_the_window_is_queued(world, host):
    world.add_tenant(TENANT)
    host.stage(document(SI, 1))
    world.export()
    world.poll()
    cursor = world.store.cursors.get(TENANT, PAYMENTS_STREAM)
    assert cursor is not None and cursor.position.startswith("2025-03-03T09:00")

    world.clock.advance(minutes=10)
    world.sandbox.accountant().record_customer_payment(sage_id(world, "sales_invoice", "INV-1"))
    world.queue.fail_next = 1  # SQS refuses the first event of the window
    report = world.poll(advance_minutes=5)
    assert report.tenants[0].outcome == "failed"
    assert world.store.cursors.get(TENANT, PAYMENTS_STREAM).position == cursor.position

    world.clock.advance(hours=2)  # long after: the window still starts at the last successful poll
    report = world.poll()
    assert report.tenants[0].outcome == "polled" and report.payments_delivered == 1
    assert world.store.cursors.get(TENANT, PAYMENTS_STREAM).position.startswith("2025-03-03T11:15")
    world.deliver_all()
    assert [e["type"] for e in world.events()] == ["invoice.payment_received", "invoice.paid"]


def test_tenants_are_polled_independently_and_a_dead_grant_expires_the_connection(world, host):
    other_business = list(world.sandbox.businesses)[1]
    world.add_tenant("bolt", business_id=other_business)
    world.add_tenant(TENANT)
    world.store.tenants.create("dune", {"provider": "sage_accounting"})  # never connected
    host.stage(document(SI, 1))
    world.export()
    world.poll()
    grant = next(g for g in world.sandbox.oauth.grants.values() if g.business_ids == (other_business,))
    with world.sandbox.lock:
        world.sandbox.oauth.revoke(world.sandbox.oauth.clients[world.sandbox.client_id], grant.refresh_token)
    world.sandbox.accountant().record_customer_payment(sage_id(world, "sales_invoice", "INV-1"))

    report = world.poll(advance_minutes=15)
    outcomes = {t.tenant_id: t.outcome for t in report.tenants}
    assert outcomes == {"acme": "polled", "bolt": "expired", "dune": "not_connected"}
    assert world.sage.service.find("bolt").status == ConnectionStatus.EXPIRED
    world.deliver_all()
    assert [e["type"] for e in world.events()] == ["invoice.payment_received", "invoice.paid"]
    assert {t.tenant_id: t.outcome for t in world.poll(advance_minutes=15).tenants}["bolt"] == "not_connected"


def test_money_on_history_linked_after_the_poll_passed_it_reaches_the_host_once(world, host):
    """Going live: the accountant typed invoices into Sage by hand and recorded receipts on them; the
    poller has long passed those receipts (the invoices were not the host's yet). When the host's
    history arrives and the export links the invoices, the next poll tells the host what is paid."""
    world.add_tenant(TENANT, identify_customer_by=IdentifyCustomerBy.EMAIL)
    acct, ids = world.sandbox.accountant(), world.sandbox.ids
    contact = acct.create("contacts", {"name": "Customer 1 Ltd", "email": "ap1@customer.example",
                                       "contact_type_ids": ["CUSTOMER"]})
    by_hand = {}
    for n in (1, 2):
        by_hand[n] = acct.create("sales_invoices", {
            "contact_id": contact["id"], "date": "2025-03-01", "reference": f"INV-{n:05d}",
            "invoice_lines": [{"description": "Labour", "ledger_account_id": ids["4000"], "quantity": 1,
                               "unit_price": "100.00", "tax_rate_id": "GB_STANDARD", "tax_amount": "20.00"}]})
    paid = acct.record_customer_payment(by_hand[1]["id"])
    part = acct.record_customer_payment(by_hand[2]["id"], "50.00", reference="BACS 1")
    world.poll()
    world.poll(advance_minutes=30)  # both receipts are well behind the cursor now
    world.deliver_all()
    assert world.events() == []

    host.stage(document(SI, 1))
    host.stage(document(SI, 2))
    result = world.export()
    assert result.counts["created"] == 0 and result.counts["linked"] == 3  # the customer and both invoices
    world.poll(advance_minutes=5)
    world.deliver_all()

    assert sorted(news(world)) == [("invoice.paid", "INV-1", D("120.00"), D("0.00")),
                                   ("invoice.part_paid", "INV-2", D("120.00"), D("70.00")),
                                   ("invoice.payment_received", "INV-1", D("120.00"), D("0.00")),
                                   ("invoice.payment_received", "INV-2", D("50.00"), D("70.00"))]
    told = {e["data"]["invoice"]["host_id"]: e["data"]["payment"]["sage_id"]
            for e in world.events("invoice.payment_received")}
    assert told == {"INV-1": paid["id"], "INV-2": part["id"]}

    # Told once: later polls, overlapping the one that told it, neither repeat it nor read the invoices again.
    before = len(world.events())
    for _ in range(2):
        report = world.poll(advance_minutes=1)
        world.deliver_all()
        assert report.tenants[0].payments.documents_read == 0
    assert len(world.events()) == before
    assert_exactly_once(world)
