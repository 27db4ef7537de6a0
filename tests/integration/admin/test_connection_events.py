"""The host hears when the tenant's connection changes (connection.status_changed), whichever
product it is on: connected, expired (grant revoked), connected again, disconnected; once per
change, signed, with the business name and what the tenant does to reconnect."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from local.sandboxes.host_app import HostApp
from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    SageIntacctSandbox,
)
from sagebridge.connectors.base import GrantRevoked
from sagebridge.connectors.sage_intacct.product import build_sage_intacct
from sagebridge.domain.settings import Provider
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.store.aws import AwsClients
from tests.integration.host.relay import CALLBACK_URL, SECRET, Relay, received

from .world import TENANT, AdminWorld


@pytest.fixture
def host_app(world: AdminWorld) -> HostApp:
    host_app = HostApp(secrets=[SECRET])
    world.products.outbox = Relay(world.store, host_app).outbox
    return host_app


def statuses(host_app: HostApp) -> list[tuple[str, str | None]]:
    events = received(host_app, "connection.status_changed")
    return [(e["data"]["status"], e["data"]["previous_status"]) for e in events]


def test_a_sign_in_tenant_s_connection_changes_reach_the_host_once_each(world: AdminWorld, host_app: HostApp):
    world.create_tenant(host_callback_url=CALLBACK_URL)
    world.connect()
    [connected] = received(host_app, "connection.status_changed")
    assert connected["api_version"] == "1.1" and connected["tenant_id"] == TENANT
    business = world.sandbox.business().name
    assert connected["data"]["status"] == "connected" and connected["data"]["business_name"] == business
    assert connected["data"]["provider"] == "sage_accounting" and connected["data"]["reconnect_hint"] is None

    # Token refreshes and a reconnect to the same business change nothing for the host.
    world.advance(hours=2)
    world.sa.service.access_token(TENANT)
    world.connect()
    assert statuses(host_app) == [("connected", None)]

    # Sage revokes the grant (seen twice: told once).
    world.products.product(Provider.SAGE_ACCOUNTING).connection_lost(TENANT, GrantRevoked("invalid_grant"))
    world.products.product(Provider.SAGE_ACCOUNTING).connection_lost(TENANT, GrantRevoked("invalid_grant"))
    expired = received(host_app, "connection.status_changed")[-1]["data"]
    assert expired["status"] == "expired" and expired["previous_status"] == "connected"
    assert "paused" in expired["reason"] and f"sagebridge connect-url {TENANT}" in expired["reconnect_hint"]

    world.connect()  # the tenant reconnects
    answer = world.call("DELETE", f"/admin/tenants/{TENANT}/connection")
    assert answer.status == 200, answer.text
    assert statuses(host_app) == [("connected", None), ("expired", "connected"), ("connected", "expired"),
                                  ("disconnected", "connected")]
    assert all(r.verified for r in host_app.received)
    assert received(host_app, "connection.status_changed")[-1]["data"]["business_name"] == business

    # Found by a review: a connect after a disconnect said previous_status null, as a first connect does.
    world.connect()
    assert statuses(host_app)[-1] == ("connected", "disconnected")


def test_a_login_tenant_connecting_and_disconnecting_is_told_too(world: AdminWorld, host_app: HostApp):
    sandbox = SageIntacctSandbox(clock=world.clock)
    world.products.built[Provider.SAGE_INTACCT] = build_sage_intacct(
        world.settings, store=world.store, clients=AwsClients(dynamodb=world.store.table.client, kms=world.kms),
        http=httpx.Client(transport=sandbox.sync_transport(), timeout=10), clock=world.clock.now,
        secrets=IntegrationSecrets(intacct_sender_id=DEFAULT_SENDER_ID,
                                   intacct_sender_password=SecretStr(DEFAULT_SENDER_PASSWORD),
                                   state_signing_key=SecretStr("k" * 64)),
        sleep=lambda _s: None)
    answer = world.call("POST", "/admin/tenants", {"tenant_id": "zuper-co", "settings": {
        "provider": "sage_intacct", "host_callback_url": CALLBACK_URL}})
    assert answer.status == 201, answer.text
    login = {"company_id": DEFAULT_COMPANY, "user_id": DEFAULT_USER, "user_password": DEFAULT_PASSWORD}
    assert world.call("POST", "/admin/tenants/zuper-co/login-connection", login).status == 200
    assert world.call("DELETE", "/admin/tenants/zuper-co/connection").status == 200
    events = received(host_app, "connection.status_changed")
    assert [(e["tenant_id"], e["data"]["status"]) for e in events] == [("zuper-co", "connected"),
                                                                       ("zuper-co", "disconnected")]
    assert events[1]["data"]["provider"] == "sage_intacct"
    assert "login-connection" in events[1]["data"]["reconnect_hint"] and DEFAULT_PASSWORD not in str(events)
