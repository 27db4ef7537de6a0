"""The export engine with provider = sage200: customers, sales invoices and credit notes posted with
header totals and analysis summaries that add up exactly, receipts with their allocations, and the
skip reasons Sage 200's posted transactions call for."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sagebridge.connectors.sage200 import mapper
from sagebridge.domain import CustomerPayment, DocumentKind, PartyKind

from ..export.conftest import customer, document, line
from .conftest import TENANT


def _sum(items, key):
    return sum((abs(Decimal(str(i[key]))) for i in items), Decimal("0"))


def test_customers_invoices_and_credit_notes_land_with_summaries_that_add_up(world, host):
    world.add_tenant()
    acme = customer(1, address={"lines": ["1 Mill Lane", "Unit 4"], "city": "Leeds", "postcode": "LS1 4AB"})
    host.stage(acme)
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=acme, total=("393.41", "70.17"), lines=[
        line("120.00", "2", "S", ledger_code="SALES", description="Labour"),
        line("33.33", "3", "S", ledger_code="PARTS", description="Brake pads"),
        line("10.00", "1", "Z", ledger_code="PARTS", description="MOT certificate"),
        line("43.42", "1", "R", ledger_code="NORTH", description="Heating oil"),
    ]))
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 1, party=acme, total=("40.00", "8.00"),
                        lines=[line("40.00", "1", "S", ledger_code="SALES")]))
    result = world.export(kinds=["customer", "sales_invoice", "sales_credit_note"])
    assert result.counts["created"] == 3

    books = world.sandbox.accountant()
    [made] = [c for c in books.customers() if c["name"] == "Customer 1 Ltd"]
    assert made["reference"] == mapper.contact_reference(PartyKind.CUSTOMER, "CUST-1")
    assert made["main_address"]["address_1"] == "1 Mill Lane" and made["main_address"]["postcode"] == "LS1 4AB"

    invoice = books.by_reference("sales_invoice", "INV-00001")
    assert invoice["customer_id"] == made["id"]
    assert Decimal(str(invoice["document_goods_value"])) == Decimal("393.41")
    assert Decimal(str(invoice["document_tax_value"])) == Decimal("70.17")
    # One tax item per tax code, one nominal item per nominal account, each adding up to the header.
    taxes = {i["code"]: (Decimal(str(i["goods_amount"])), Decimal(str(i["tax_amount"])))
             for i in invoice["tax_analysis_items"]}
    assert taxes == {1: (Decimal("339.99"), Decimal("68.00")), 0: (Decimal("10.00"), Decimal("0.00")),
                     5: (Decimal("43.42"), Decimal("2.17"))}
    nominal = {(i["code"], i["cost_centre"], i["department"]): Decimal(str(i["value"]))
               for i in invoice["nominal_analysis_items"]}
    assert nominal == {("4000", "", ""): Decimal("240.00"), ("4010", "", ""): Decimal("109.99"),
                       ("4100", "NTH", "WKS"): Decimal("43.42")}
    assert _sum(invoice["tax_analysis_items"], "goods_amount") == sum(nominal.values()) == Decimal("393.41")

    note = books.by_reference("sales_credit_note", "CN-00001")
    assert Decimal(str(note["document_gross_value"])) == Decimal("-48.00")  # credits are negative on the account

    # The ledger points at the posted transactions; a second run changes nothing.
    assert world.store.ledger.get(TENANT, "sales_invoice", "INV-1").sage_id == str(invoice["id"])
    again = world.export(kinds=["customer", "sales_invoice", "sales_credit_note"])
    assert again.counts["created"] == 0
    assert len(books.posted()) == 2


def test_a_penny_of_rounding_goes_on_the_largest_line(world, host):
    """The host rounded its header tax once (3.34 x 20% = 0.668 -> 0.67) where Sage's per-line rounding
    gives 0.33 + 0.33: the header is the host's, and the tax analysis takes the penny on its largest item."""
    world.add_tenant()
    party = customer(2)
    host.stage(document(DocumentKind.SALES_INVOICE, 2, party=party, total=("14.99", "0.67"), lines=[
        line("1.665", "1", "S", ledger_code="SALES"),   # net 1.67 (half up), tax 0.33
        line("1.665", "1", "S", ledger_code="SALES"),   # 1.67, 0.33
        line("11.65", "1", "E", ledger_code="PARTS"),   # exempt: 11.65, 0.00
    ]))
    world.export()
    invoice = world.sandbox.accountant().by_reference("sales_invoice", "INV-00002")
    items = {i["code"]: i for i in invoice["tax_analysis_items"]}
    assert Decimal(str(items[1]["tax_amount"])) == Decimal("0.67")  # 0.66 + the penny, on the largest tax
    assert _sum(invoice["tax_analysis_items"], "tax_amount") == Decimal("0.67")
    assert _sum(invoice["tax_analysis_items"], "goods_amount") == Decimal("14.99")


def test_receipts_post_and_allocate_and_changes_are_skipped_with_a_reason(world, host):
    world.add_tenant()
    party = customer(3)
    host.stage(document(DocumentKind.SALES_INVOICE, 3, party=party, total=("100.00", "20.00")))
    host.stage(CustomerPayment(host_id="PAY-3", party_id=party.host_id, payment_date=date(2025, 3, 2),
                               amount=Decimal("150.00"), currency="GBP", allocations=[
                                   {"kind": "sales_invoice", "host_id": "INV-3", "amount": "120.00"}]))
    world.export()
    books = world.sandbox.accountant()
    invoice = books.by_reference("sales_invoice", "INV-00003")
    receipt = books.by_reference("receipt", "PAY-3")
    assert Decimal(str(invoice["document_outstanding_value"])) == Decimal("0.00")
    assert Decimal(str(receipt["document_gross_value"])) == Decimal("-150.00")
    assert Decimal(str(receipt["document_outstanding_value"])) == Decimal("-30.00")  # 30 stays on account

    # Posted transactions cannot change: a changed invoice is skipped with the reason, nothing posted.
    host.stage(document(DocumentKind.SALES_INVOICE, 3, party=party, total=("110.00", "22.00"),
                        lines=[line("110.00")]))
    changed = world.export(strict=False, export_type="all")
    assert changed.counts["skipped"] == 1
    [entry] = world.store.synclog.newest(TENANT, kind="sales_invoice", host_id="INV-3").items[:1]
    assert entry.outcome.value == "skipped" and "paid" in entry.reason
    assert len(books.posted("sales_invoice")) == 1

    # An unpaid one is just as final, and the reason says so in Sage 200's terms (front-door review:
    # it spoke of a VAT-reconciled document, as Sage Accounting's would).
    host.stage(document(DocumentKind.SALES_INVOICE, 4, party=party, total=("50.00", "10.00"), lines=[line("50.00")]))
    world.export()
    host.stage(document(DocumentKind.SALES_INVOICE, 4, party=party, total=("60.00", "12.00"), lines=[line("60.00")]))
    world.export(strict=False, export_type="all")  # INV-3 is skipped again too (still paid)
    [entry] = world.store.synclog.newest(TENANT, kind="sales_invoice", host_id="INV-4").items[:1]
    assert entry.reason_code == "locked_in_sage" and "posted in Sage 200" in entry.reason
    assert "VAT-reconciled" not in entry.reason and "post a credit note" in entry.reason


def test_defect_15_reconciliation_reads_sage_200_totals_of_exported_documents(world, host):
    from sagebridge.sync.reconcile import reconcile

    world.add_tenant()
    party = customer(5)
    host.stage(party)
    host.stage(document(DocumentKind.SALES_INVOICE, 5, party=party, total=("100.00", "20.00")))
    host.stage(document(DocumentKind.SALES_INVOICE, 6, party=party, total=("50.00", "10.00"),
                        lines=[line("50.00")]))
    host.stage(document(DocumentKind.SALES_CREDIT_NOTE, 5, party=party, total=("40.00", "8.00"),
                        lines=[line("40.00")]))
    host.stage(CustomerPayment(host_id="PAY-5", party_id=party.host_id, payment_date=date(2025, 3, 2),
                               amount=Decimal("120.00"), currency="GBP", allocations=[
                                   {"kind": "sales_invoice", "host_id": "INV-5", "amount": "120.00"}]))
    world.export()

    def report():
        return reconcile(world.store, world.sage.connector_for(TENANT), world.settings_of(), TENANT,
                         window_from=date(2025, 3, 1), window_to=date(2025, 3, 31),
                         kinds=["sales_invoice", "sales_credit_note", "customer_payment"])

    clean = report()
    totals = {k.kind: (k.host_count, k.host_total, k.sage_count, k.sage_total) for k in clean.kinds}
    assert totals == {
        "sales_invoice": (2, Decimal("180.00"), 2, Decimal("180.00")),
        "sales_credit_note": (1, Decimal("48.00"), 1, Decimal("48.00")),
        "customer_payment": (1, Decimal("120.00"), 1, Decimal("120.00")),
    }
    assert clean.balanced and clean.differences == []

    # The accountant edits an invoice in Sage 200: the report shows Sage's own figure.
    invoice = world.sandbox.accountant().by_reference("sales_invoice", "INV-00006")
    world.sandbox.accountant().change("sales_posted_transactions", invoice["id"], document_gross_value="65.00")
    [differs] = report().differences
    assert differs.problem == "total_differs" and differs.host_id == "INV-6"
    assert (differs.host_total, differs.sage_total) == (Decimal("60.00"), Decimal("65.00"))


def test_a_large_export_stays_under_sage_200s_rate_limit(world, host):
    """More requests than API Management allows in a minute: the container's pacer spreads them, so
    none is throttled (the suite fails a test that provokes a 429) and the run takes Sage's time."""
    world.add_tenant()
    acme = customer(1)
    host.stage(acme)
    for n in range(1, 61):
        host.stage(document(DocumentKind.SALES_INVOICE, n, party=acme, total=("100.00", "20.00"),
                            lines=[line("100.00", "1", "S", ledger_code="SALES")]))
    started = world.clock.now()
    before = world.sandbox.request_count()
    result = world.export(kinds=["customer", "sales_invoice"])
    assert result.counts["created"] == 61
    assert world.sandbox.request_count() - before > world.sandbox.rate_limiter.per_minute
    assert (world.clock.now() - started).total_seconds() >= 60


def test_the_tax_rates_an_operator_maps_show_their_percentage(world):
    """`GET .../sage/tax-rates` lists each rate with its percentage as the code (a reviewer saw null
    for every Sage 200 rate, so nobody could tell which one is 20%)."""
    from sagebridge.admin.mappings import sage_refs

    world.add_tenant()
    rates = sage_refs(world.sage.connector_for(TENANT).list_tax_rates(), code_field="percentage")
    assert rates and all(r.code is not None for r in rates)
    assert any(Decimal(r.code) == Decimal("20") for r in rates)
