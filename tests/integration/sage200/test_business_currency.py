"""Sage 200: the company's base currency is the `currencies` row flagged `is_base_currency` (its ISO
code expanded inline), read once per tenant per hour; a EUR company skips a GBP invoice and exports a
EUR one through the export worker's job handler."""

from __future__ import annotations

from sagebridge.domain import DocumentKind
from sagebridge.host.jobs import ExportJob
from sagebridge.sync.currency import BusinessCurrencies
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

from ..export.conftest import customer, document
from .conftest import TENANT

SI = DocumentKind.SALES_INVOICE


class Ticks:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_eur_company_skips_gbp_and_exports_eur_reading_sage_once_an_hour(world, host):
    world.sandbox.books().set_base_currency("EUR")
    world.add_tenant()
    ticks = Ticks()
    deps = WorkerDeps(store=world.store, connector_for=lambda tenant, _s: world.sage.connector_for(tenant),
                      business_currency_for=BusinessCurrencies(clock=ticks).currency_for)
    host.stage(document(SI, 1, currency="GBP", party=customer(1)))
    host.stage(document(SI, 2, currency="EUR", party=customer(2)))

    result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), deps)

    assert result is not None and result.counts["skipped"] == 1
    skipped = world.store.synclog.newest(TENANT, kind="sales_invoice", host_id="INV-1").items[0]
    assert skipped.reason_code == "currency_mismatch" and "EUR" in skipped.reason
    assert world.store.ledger.get(TENANT, "sales_invoice", "INV-2").state.value == "exported"
    assert world.sandbox.requests[("GET", "currencies")] == 1

    ticks.now += 1800
    world.clock.advance(seconds=1)
    handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), deps)
    assert world.sandbox.requests[("GET", "currencies")] == 1  # cached
    ticks.now += 3600
    world.clock.advance(seconds=1)
    handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin"), deps)
    assert world.sandbox.requests[("GET", "currencies")] == 2  # an hour on: asked again


def test_the_sandbox_default_is_gbp_and_the_answer_is_one_request(world):
    world.add_tenant()
    connector = world.sage.connector_for(TENANT)
    assert connector.business_currency() == "GBP"
    assert world.sandbox.requests[("GET", "currencies")] == 1
    assert world.sandbox.requests[("GET", "currency_iso_codes")] == 0  # expanded inline
