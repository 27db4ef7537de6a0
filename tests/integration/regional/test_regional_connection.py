"""The regional product's connection end to end, on the conformance world (DynamoDB Local, KMS, the
regional sandbox on a virtual clock): a refused login is tried once and the tenant is told to reconnect;
the integrator's API key and the region hosts are checked with errors an operator can act on; and an
invoice exported at Pending Payment goes part paid, then Paid, as receipts are allocated later in Sage,
each news once, with "last successful poll" on the status."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from pydantic import SecretStr

from sagebridge.admin.mappings import check_mappings
from sagebridge.admin.status import connection_view, last_successful_poll
from sagebridge.connectors.base import Login
from sagebridge.connectors.sage_regional.product import RegionalLoginRefused, build_sage_regional
from sagebridge.connectors.sage_regional.settings import SageRegionalSettings
from sagebridge.domain import DocumentKind
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import Provider
from sagebridge.security.secrets import IntegrationSecrets
from tests.conformance.conftest import (  # noqa: F401  (the conformance world's fixtures)
    TENANT,
    World,
    customer,
    document,
    kms,
    line,
    world,
)
from tests.conformance.products import ENVIRONMENT

SI = DocumentKind.SALES_INVOICE
D = Decimal


@pytest.fixture
def provider() -> Provider:
    return Provider.SAGE_REGIONAL


def _view(world: World) -> object:  # noqa: F811
    return connection_view(world.store.connections.find(TENANT, "sage_regional"), "sage_regional", world.clock.now())


def test_a_refused_login_is_sent_once_never_again_and_the_status_says_to_reconnect(world: World):  # noqa: F811
    world.add_tenant()
    world.stage(document(world, SI, 1, party=customer(1)))
    login = world.sandbox.login
    login.password = "changed-in-sage"  # the Sage user's password was changed in Sage after connecting
    sent = world.sandbox.request_count()

    first = world.poll()
    assert first.outcome == "expired" and "reconnect" in (first.error or "")
    assert len(world.sandbox.login_guard._failures[login.username.lower()]) == 1  # one refused login reached Sage
    view = _view(world)
    assert view.state == "expired" and "connects again" in view.summary  # type: ignore[attr-defined]

    # Neither the poller nor the export worker tries the login again (20 failures lock it for a day).
    assert world.poll(advance_minutes=10).outcome == "not_connected"
    world.export()
    assert len(world.sandbox.login_guard._failures[login.username.lower()]) == 1 and world.held(SI) == []
    assert world.sandbox.request_count() == sent  # the refused login is not counted as authorised traffic

    login.password = "regional-password-2"
    world.products.product(Provider.SAGE_REGIONAL).connect_login(  # type: ignore[attr-defined]
        TENANT, replace(world.row.login, password=SecretStr("regional-password-2")))
    world.export()
    assert world.copies(SI) == {"INV-00001": 1}


def test_a_login_refused_during_an_export_stops_the_run_and_no_later_run_or_poll_tries_it(
        world: World):  # noqa: F811
    world.add_tenant()
    for n in (1, 2):
        world.stage(document(world, SI, n, party=customer(n)))
    login = world.sandbox.login
    login.password = "changed-in-sage"

    world.export()
    failures = world.sandbox.login_guard._failures[login.username.lower()]
    assert len(failures) == 1 and world.held(SI) == []  # the run stopped at the first refusal
    assert _view(world).state == "expired"  # type: ignore[attr-defined]
    later = world.export()
    run = world.store.runs.get(TENANT, later.run_id)
    assert run.status.value == "failed" and "reconnect with the current login" in run.details["error"]
    assert world.poll(advance_minutes=10).outcome == "not_connected"
    assert len(failures) == 1


def test_without_the_api_key_the_product_says_which_secret_key_to_fill(world: World):  # noqa: F811
    bare = IntegrationSecrets(state_signing_key=SecretStr("k" * 64))
    with pytest.raises(ConfigurationError) as refused:
        build_sage_regional(world.products.settings, store=world.store, clients=world.products.clients,
                            http=world.http, secrets=bare)
    assert "the settings secret has no sage_regional_api_key" in str(refused.value)
    assert "tenants cannot connect until it is there" in str(refused.value)


def test_an_unknown_region_and_a_region_without_a_host_are_refused_before_any_request(world: World):  # noqa: F811
    world.add_tenant(connect=False)
    product = world.products.product(Provider.SAGE_REGIONAL)
    sent = world.sandbox.request_count()
    with pytest.raises(RegionalLoginRefused, match="'UK' is not a region; give company_id as one of AU, NZ, ZA, ASIA"):
        product.connect_login(TENANT, replace(world.row.login, company_id="UK:1"))  # type: ignore[attr-defined]
    with pytest.raises(RegionalLoginRefused, match=r"no API host is configured for region NZ .* SAGE_REGIONAL_NZ_URL"):
        product.connect_login(TENANT, replace(world.row.login, company_id="NZ"))  # type: ignore[attr-defined]
    assert world.sandbox.request_count() == sent and world.store.connections.find(TENANT, "sage_regional") is None

    # A deployment that knows New Zealand's host sets it: the knob, not a code change.
    product.product_settings = SageRegionalSettings.model_validate(  # type: ignore[attr-defined]
        {**ENVIRONMENT, "SAGE_REGIONAL_NZ_URL": ENVIRONMENT["SAGE_REGIONAL_AU_URL"]})
    product.connect_login(TENANT, Login("NZ:1", world.row.login.user_id, world.row.login.password))  # type: ignore
    assert world.store.connections.get(TENANT, "sage_regional").business_id == "NZ:1"


def test_receipts_allocated_later_in_sage_move_the_invoice_to_part_paid_then_paid_once(world: World):  # noqa: F811
    world.add_tenant()
    world.stage(document(world, SI, 1, party=customer(1), lines=[line("100.00")]))  # 120.00 at Pending Payment
    world.export()
    assert last_successful_poll(world.store, TENANT) is None
    world.poll()
    polled = last_successful_poll(world.store, TENANT)
    assert polled is not None

    books = world.sandbox.accountant()
    invoice = books.by_external_reference("TaxInvoice", world.one(SI, "INV-00001").reference)
    world.clock.advance(minutes=1)
    books.record_receipt(invoice["ID"], D("50.00"))
    for _ in range(2):  # overlapping windows read the receipt again: told once
        world.poll(advance_minutes=5)
    [part] = world.events("invoice.part_paid")
    assert D(str(part["data"]["outstanding_amount"])) == D("70.00")

    # The rest arrives as a receipt keyed in unallocated; the accountant allocates it a poll later.
    world.clock.advance(minutes=1)
    with world.sandbox.lock:
        rest, _ = world.sandbox.books().save("CustomerReceipt", {
            "CustomerId": invoice["CustomerId"], "Date": world.clock.now().date().isoformat(), "Total": D("70.00"),
            "BankAccountId": world.sandbox.ids["bank"], "Reference": "EFT rest", "PaymentMethod": 4})
    world.poll(advance_minutes=5)
    assert world.events("invoice.paid") == []
    world.clock.advance(minutes=30)
    books.allocate(rest["ID"], invoice["ID"], D("70.00"))
    for _ in range(2):
        world.poll(advance_minutes=5)
    [paid] = world.events("invoice.paid")
    assert paid["data"]["invoice"]["host_id"] == "INV-1"
    assert len(world.events("invoice.part_paid")) == 1 and len(world.events("invoice.payment_received")) == 2
    assert last_successful_poll(world.store, TENANT) > polled  # type: ignore[operator]


def test_mapping_health_finds_a_tax_type_switched_off_a_bank_gone_and_a_ledger_map_on_a_bank_account(
        world: World):  # noqa: F811
    world.add_tenant()
    books = world.sandbox.accountant()
    assert check_mappings(world.settings_of(), world.connector()).ok  # the row's maps all hold
    linked = books.add("Account", Name="Cheque account (bank)", Active=True, AccountType=4)
    world.store.tenants.update_settings(TENANT, {**world.store.tenants.get(TENANT).settings, "ledger_mappings": {
        "SALES": str(world.sandbox.ids["account_sales"]), "PARTS": str(linked["ID"])}},
        expected_version=world.store.tenants.get(TENANT).version)
    books.change("TaxType", world.sandbox.ids["tax_5"], Active=False)
    with world.sandbox.lock:
        del world.sandbox.books().records["BankAccount"][world.sandbox.ids["bank"]]

    health = check_mappings(world.settings_of(), world.connector())
    found = {p.setting: p.problem for p in health.problems}
    assert found == {"tax_mappings.R": "inactive", "receipt_bank_account_id": "missing",
                     "ledger_mappings.PARTS": "not_usable"}
    [wrong] = [p for p in health.problems if p.setting == "ledger_mappings.PARTS"]
    assert "a bank or system account" in wrong.message
