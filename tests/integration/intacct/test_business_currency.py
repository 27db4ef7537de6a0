"""Sage Intacct: an entity-scoped login reads its entity's base currency (readByQuery LOCATIONENTITY,
CURRENCY); a company-level login cannot say cheaply, so the tenant setting `business_currency` decides
(GBP, the old assumption, when it is not set). Through the export worker's job handler."""

from __future__ import annotations

from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    SageIntacctSandbox,
    SandboxClock,
)
from sagebridge.domain import DocumentKind
from sagebridge.host.jobs import ExportJob
from sagebridge.sync.currency import BusinessCurrencies
from sagebridge.sync.intacct_wiring import connect_intacct
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
    assert _entity_reads(world) == 1  # the second run used the container's cache


def test_a_company_login_takes_the_tenant_setting(make_world):
    world = make_world()  # USD company, login without an entity
    world.add_tenant(business_currency="USD")
    host = world_host(world)
    host.stage(document(SI, 1, party=customer(1)))  # USD

    result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), _deps(world))

    assert result is not None and result.counts["skipped"] == 0
    assert world.store.ledger.get(TENANT, "sales_invoice", "INV-1").state.value == "exported"
    assert _entity_reads(world) == 0
    assert world.intacct.connector_for(TENANT, world.settings_of()).business_currency() is None


def world_host(world):
    return Host(world.store, tenant=TENANT)
