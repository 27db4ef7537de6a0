"""A Sage 200 sign-in that cannot be extended: the host hears it is ending (14 and 3 days before,
once each, with the days left), then that it expired: connection.status_changed, signed, through
the same door every product uses (the store's connection watchers wired by SageProducts)."""

from __future__ import annotations

from local.sandboxes.host_app import HostApp
from sagebridge.domain.settings import Provider
from sagebridge.store.aws import AwsClients
from sagebridge.sync.products import SageProducts
from tests.integration.host.relay import SECRET, Relay, received

from .conftest import TENANT, sage200_settings


def test_the_host_hears_the_sign_in_is_ending_then_that_it_expired(world, app_table, kms):
    host_app = HostApp(secrets=[SECRET])
    SageProducts(sage200_settings(app_table, kms[1]), AwsClients(kms=kms[0]), store=world.store,
                 built={Provider.SAGE_200: world.sage}, outbox=Relay(world.store, host_app).outbox)
    world.add_tenant()
    world.clock.advance(days=76)  # 14 days left
    for _ in range(3):  # the keep-alive runs daily: one warning per threshold
        world.sage.service.keep_alive_all([TENANT])
        world.clock.advance(days=1)
    world.clock.advance(days=8)  # 3 days left
    world.sage.service.keep_alive_all([TENANT])
    world.clock.advance(days=4)  # past the end
    world.sage.service.keep_alive_all([TENANT])
    world.sage.service.keep_alive_all([TENANT])

    events = [e["data"] for e in received(host_app, "connection.status_changed")]
    assert [(e["status"], e["days_left"]) for e in events] == [
        ("connected", None), ("expiring", 14), ("expiring", 3), ("expired", None)]
    assert events[1]["business_name"] == "Northwind (Sandbox site)" and "14 days" in events[1]["reason"]
    assert f"sagebridge connect-url {TENANT}" in events[1]["reconnect_hint"]
    assert events[3]["previous_status"] == "connected"
    assert all(r.verified for r in host_app.received)
