"""With the deployed default, a 429 from Sage stops the regional company for an hour: the run stops
and says until when, runs within the hour send Sage nothing (not even a read), and the first run after
it exports everything, each document once."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from sagebridge.admin.mappings import MappingHealth
from sagebridge.admin.status import connection_view, tenant_status
from sagebridge.connectors.sage_regional.settings import SageRegionalSettings
from sagebridge.domain import DocumentKind
from sagebridge.domain.settings import Provider
from tests.conformance.conftest import (  # noqa: F401  (the conformance world's fixtures)
    TENANT,
    World,
    customer,
    document,
    kms,
    world,
)
from tests.conformance.products import ENVIRONMENT

SI = DocumentKind.SALES_INVOICE


@pytest.fixture
def provider() -> Provider:
    return Provider.SAGE_REGIONAL


@pytest.mark.limit_refusals_expected
def test_a_429_stops_the_company_for_an_hour_and_the_next_run_after_it_exports_once(world: World):  # noqa: F811
    product = world.products.product(Provider.SAGE_REGIONAL)
    live = {k: v for k, v in ENVIRONMENT.items() if k != "SAGE_REGIONAL_BLOCK_SECONDS"}
    product.product_settings = SageRegionalSettings.model_validate(live)  # type: ignore[attr-defined]
    assert product.product_settings.block_seconds == 3600  # type: ignore[attr-defined]  # the deployed default
    world.add_tenant()
    for n in (1, 2, 3):
        world.stage(document(world, SI, n, party=customer(1)))
    world.faults().rate_limit_storm(times=1, method="POST", path="/TaxInvoice/Save")

    stopped = world.export()
    assert stopped.status.value == "failed" and world.held(SI) == []
    [told] = world.history("sales_invoice", "INV-1")  # what the sync log and the host are told
    assert "for an hour" in (told.reason or "") and "sends it nothing until 2025-03-03 10:00 UTC" in told.reason
    sent = world.sandbox.request_count()
    world.clock.advance(minutes=30)
    world.export()  # inside the hour: nothing reaches Sage
    assert world.sandbox.request_count() == sent and world.held(SI) == []

    world.clock.advance(minutes=31)
    world.export()
    assert world.copies(SI) == {"INV-00001": 1, "INV-00002": 1, "INV-00003": 1}


@pytest.mark.limit_refusals_expected
def test_a_block_is_kept_on_the_connection_so_a_new_container_sends_nothing_until_it_ends(world: World):  # noqa: F811
    """The hour is stored, not held by one container: a fresh product (another Lambda container) in the
    next run and the next poll sends Sage 0 requests before the time, the tenant's status says until when
    and why, and after it the run exports each document once."""
    product = world.products.product(Provider.SAGE_REGIONAL)
    live = {k: v for k, v in ENVIRONMENT.items() if k != "SAGE_REGIONAL_BLOCK_SECONDS"}
    product.product_settings = SageRegionalSettings.model_validate(live)  # type: ignore[attr-defined]
    world.add_tenant()
    for n in (1, 2):
        world.stage(document(world, SI, n, party=customer(1)))
    world.faults().rate_limit_storm(times=1, method="POST", path="/TaxInvoice/Save")
    world.export()
    assert world.held(SI) == []

    # Another container: nothing of the first one's gate, only what the store holds.
    world.products.built[Provider.SAGE_REGIONAL] = replace(product, _gates={}, _opened={},  # type: ignore[type-var]
                                                           _lock=threading.Lock())
    view = connection_view(world.store.connections.find(TENANT, "sage_regional"), "sage_regional", world.clock.now())
    assert view.state == "connected" and view.paused_until is not None
    assert ("Sage has blocked requests for this company until 10:00 UTC: the regional API blocks a caller for an "
            "hour after 100 requests a minute; Sage Bridge will resume by itself") in view.summary
    status = tenant_status(world.store, TENANT, connection=view, now=world.clock.now(),
                           mapping_health=MappingHealth(checked=False, ok=False, mappings_checked=0))
    assert status.health == "attention" and view.summary in status.problems
    sent = world.sandbox.request_count()
    world.clock.advance(minutes=20)
    world.export()
    polled = world.poll()  # the poll job is done, not handed back to its queue to end in the DLQ
    assert polled.outcome == "skipped" and "until 10:00 UTC" in (polled.error or "")
    assert world.sandbox.request_count() == sent and world.held(SI) == []

    world.clock.advance(minutes=41)
    world.export()
    assert world.copies(SI) == {"INV-00001": 1, "INV-00002": 1}
    after = connection_view(world.store.connections.find(TENANT, "sage_regional"), "sage_regional", world.clock.now())
    assert after.paused_until is None and "blocked" not in after.summary
