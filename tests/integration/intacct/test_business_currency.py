"""Sage Intacct: an entity-scoped login reads its entity's base currency (readByQuery LOCATIONENTITY,
CURRENCY); a company-level login reads the currency its entities share. When Intacct cannot tell
(entities in different currencies, no entities) the tenant setting `business_currency` must decide:
the connect is refused until it is set, and nothing is assumed. Through the export worker's job
handler."""

from __future__ import annotations

import pytest

from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    SageIntacctSandbox,
    SandboxClock,
)
from sagebridge.connectors.sage_intacct.product import IntacctCurrencyUnknown, connect_intacct
from sagebridge.domain import DocumentKind
from sagebridge.host.jobs import ExportJob
from sagebridge.sync.currency import BusinessCurrencies
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job
from tests.integration.export.conftest import Host

from .conftest import START, TENANT, customer, document, tenant_settings

SI = DocumentKind.SALES_INVOICE


def _deps(world) -> WorkerDeps:
    return WorkerDeps(store=world.store, connector_for=world.intacct.connector_for,
                      business_currency_for=BusinessCurrencies().currency_for)


def _entity_reads(world) -> int:
    return sum(b"LOCATIONENTITY" in body for body in world.sent)


def test_an_entity_login_reads_its_base_currency_once(make_world):
    world = make_world(sandbox=SageIntacctSandbox(clock=SandboxClock.frozen_at(START), base_currency="EUR"))
    world.store.tenants.create(TENANT, tenant_settings().model_dump(mode="json"))
    connect_intacct(TENANT, DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD, "100", intacct=world.intacct)
    at_connect = _entity_reads(world)  # the connect checked that Intacct tells the currency
    host = world_host(world)
    host.stage(document(SI, 1, currency="USD", party=customer(1)))
    host.stage(document(SI, 2, currency="EUR", party=customer(2)))
    deps = _deps(world)

    result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), deps)

    assert result is not None and result.counts["skipped"] == 1
    skipped = world.store.synclog.newest(TENANT, kind="sales_invoice", host_id="INV-1").items[0]
    assert skipped.reason_code == "currency_mismatch" and "EUR" in skipped.reason
    assert world.store.ledger.get(TENANT, "sales_invoice", "INV-2").state.value == "exported"
    world.clock.advance(seconds=1)
    handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), deps)
    assert _entity_reads(world) - at_connect == 1  # the second run used the container's cache


def test_a_company_login_takes_the_tenant_setting(make_world):
    world = make_world()  # USD company, login without an entity
    world.add_tenant(business_currency="USD")
    host = world_host(world)
    host.stage(document(SI, 1, party=customer(1)))  # USD

    result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), _deps(world))

    assert result is not None and result.counts["skipped"] == 0
    assert world.store.ledger.get(TENANT, "sales_invoice", "INV-1").state.value == "exported"
    assert _entity_reads(world) == 0  # the setting decides: Intacct is not asked
    assert world.intacct.connector_for(TENANT, world.settings_of()).business_currency() == "USD"


def test_defect_17_a_company_level_login_exports_usd_invoices_without_any_setting(make_world):
    world = make_world()  # a USD company whose two entities keep USD books; login without an entity
    world.add_tenant()  # no business_currency setting
    host = world_host(world)
    host.stage(document(SI, 1, party=customer(1)))  # USD

    result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), _deps(world))

    assert result is not None and result.counts["skipped"] == 0, result.failures
    assert world.store.ledger.get(TENANT, "sales_invoice", "INV-1").state.value == "exported"
    assert world.sandbox.accountant().find("ARINVOICE", "RECORDID", "INV-00001")


def _entities_in_two_currencies(world) -> None:
    acct = world.sandbox.accountant()
    [entity] = acct.find("LOCATIONENTITY", "LOCATIONID", "200")
    acct.update("LOCATIONENTITY", entity["RECORDNO"], CURRENCY="CAD")


def test_defect_17_a_company_login_whose_currency_intacct_cannot_tell_is_refused_until_the_tenant_sets_it(
    make_world,
):
    world = make_world()
    _entities_in_two_currencies(world)
    world.store.tenants.create(TENANT, tenant_settings().model_dump(mode="json"))
    with pytest.raises(IntacctCurrencyUnknown) as refused:
        connect_intacct(TENANT, DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD, intacct=world.intacct)
    message = str(refused.value)
    assert "business_currency" in message and "100: USD" in message and "200: CAD" in message
    assert DEFAULT_PASSWORD not in message
    assert world.store.connections.find(TENANT, "sage_intacct") is None  # nothing kept

    tenant = world.store.tenants.get(TENANT)
    world.store.tenants.update_settings(TENANT, {**tenant.settings, "business_currency": "USD"},
                                        expected_version=tenant.version)
    connect_intacct(TENANT, DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD, intacct=world.intacct)
    host = world_host(world)
    host.stage(document(SI, 1, party=customer(1)))
    result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), _deps(world))
    assert result is not None and result.counts["skipped"] == 0
    assert world.store.ledger.get(TENANT, "sales_invoice", "INV-1").state.value == "exported"


def test_defect_17_an_unknown_currency_stops_the_run_with_the_fix_instead_of_assuming_gbp(make_world):
    world = make_world()
    world.add_tenant()  # connected while the entities agreed
    _entities_in_two_currencies(world)  # then Intacct can no longer tell
    host = world_host(world)
    host.stage(document(SI, 1, party=customer(1)))  # USD

    # A failed run that names the fix (not a job retried into the DLQ).
    result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), _deps(world))
    assert result is not None and result.status.value == "failed"
    assert "business_currency" in world.store.runs.get(TENANT, result.run_id).details["error"]
    assert world.store.ledger.find(TENANT, "sales_invoice", "INV-1") is None  # not skipped as "not GBP"
    assert world.sandbox.accountant().find("ARINVOICE", "RECORDID", "INV-00001") == []


def world_host(world):
    return Host(world.store, tenant=TENANT)
