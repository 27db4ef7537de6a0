"""Intacct tenants connect with their own login through the admin API (no OAuth): the login is
verified with Intacct before it is kept, kept encrypted, and never echoed back."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    SageIntacctSandbox,
)
from sagebridge.connectors.sage_intacct.product import build_sage_intacct
from sagebridge.domain.settings import Provider
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.store.aws import AwsClients


@pytest.fixture
def intacct_tenant(world):
    sandbox = SageIntacctSandbox(clock=world.clock)
    world.products.built[Provider.SAGE_INTACCT] = build_sage_intacct(
        world.settings, store=world.store, clients=AwsClients(dynamodb=world.store.table.client, kms=world.kms),
        http=httpx.Client(transport=sandbox.sync_transport(), timeout=10), clock=world.clock.now,
        secrets=IntegrationSecrets(intacct_sender_id=DEFAULT_SENDER_ID,
                                   intacct_sender_password=SecretStr(DEFAULT_SENDER_PASSWORD),
                                   state_signing_key=SecretStr("k" * 64)),
        sleep=lambda _s: None)
    answer = world.call("POST", "/admin/tenants", {"tenant_id": "zuper-co", "settings": {"provider": "sage_intacct"}})
    assert answer.status == 201, answer.text
    world.intacct_sandbox = sandbox
    return world


def test_a_login_tenant_not_yet_connected_is_told_to_send_its_login_not_a_connect_link(intacct_tenant):
    """Second front-door review: an Intacct tenant's status said to send a connect link."""
    view = intacct_tenant.call("GET", "/admin/tenants/zuper-co/connection").json
    assert view["state"] == "not_connected" and "login-connection" in view["summary"]
    assert "connect link" not in view["summary"]


# login-connection serves every product that takes a login; intacct-connection is its first name.
@pytest.mark.parametrize("route", ["login-connection", "intacct-connection"])
def test_a_verified_intacct_login_connects_the_tenant(intacct_tenant, route):
    login = {"company_id": DEFAULT_COMPANY, "user_id": DEFAULT_USER, "user_password": DEFAULT_PASSWORD}
    answer = intacct_tenant.call("POST", f"/admin/tenants/zuper-co/{route}", login)
    assert answer.status == 200, answer.text
    assert answer.json["state"] == "connected" and answer.json["provider"] == "sage_intacct"
    assert DEFAULT_PASSWORD not in answer.text
    assert intacct_tenant.call("GET", "/admin/tenants/zuper-co/connection").json["state"] == "connected"
    record = intacct_tenant.store.connections.find("zuper-co", "sage_intacct")
    assert DEFAULT_PASSWORD.encode() not in record.ciphertext  # only ciphertext is kept


def test_a_wrong_password_is_refused_with_intacct_s_reason_and_nothing_is_kept(intacct_tenant):
    answer = intacct_tenant.call("POST", "/admin/tenants/zuper-co/intacct-connection",
                                 {"company_id": DEFAULT_COMPANY, "user_id": DEFAULT_USER, "user_password": "wrong"})
    assert answer.status == 422 and "wrong" not in answer.text  # the person's input to fix, not a 502
    assert answer.json["hint"].startswith("check the login details")
    assert intacct_tenant.store.connections.find("zuper-co", "sage_intacct") is None


def test_missing_fields_are_named(intacct_tenant):
    answer = intacct_tenant.call("POST", "/admin/tenants/zuper-co/intacct-connection", {"company_id": "X"})
    assert answer.status == 422
    assert {p["field"] for p in answer.json["problems"]} >= {"user_id", "user_password"}


def test_an_oauth_tenant_cannot_connect_with_a_login(tenant):
    answer = tenant.call("POST", "/admin/tenants/acme/login-connection",
                         {"company_id": "C", "user_id": "U", "user_password": "P"})
    assert answer.status == 422 and "send the tenant a connect link" in answer.json["message"]


def test_an_intacct_tenant_asking_for_a_connect_link_is_told_to_connect_with_its_login(intacct_tenant):
    # The product declares how it connects (a login), so the admin API refuses the OAuth link with
    # the product's own instructions instead of sending the operator to a sign-in that cannot work.
    answer = intacct_tenant.call("GET", "/admin/tenants/zuper-co/connect-url")
    assert answer.status == 422, answer.text
    assert "company and user credentials" in answer.json["message"]
    assert "/login-connection" in answer.json["message"]


def test_defect_17_a_login_whose_base_currency_intacct_cannot_tell_is_refused_with_the_fix(intacct_tenant):
    acct = intacct_tenant.intacct_sandbox.accountant()
    [entity] = acct.find("LOCATIONENTITY", "LOCATIONID", "200")
    acct.update("LOCATIONENTITY", entity["RECORDNO"], CURRENCY="CAD")  # USD and CAD entities
    login = {"company_id": DEFAULT_COMPANY, "user_id": DEFAULT_USER, "user_password": DEFAULT_PASSWORD}
    path = "/admin/tenants/zuper-co/intacct-connection"
    answer = intacct_tenant.call("POST", path, login)
    assert answer.status == 422, answer.text
    assert "business_currency" in answer.json["message"] and "CAD" in answer.json["message"]
    assert DEFAULT_PASSWORD not in answer.text
    assert intacct_tenant.store.connections.find("zuper-co", "sage_intacct") is None

    assert intacct_tenant.call("PATCH", "/admin/tenants/zuper-co/settings",
                               {"changes": {"business_currency": "USD"}}).status == 200
    assert intacct_tenant.call("POST", path, login).status == 200
    # An entity-scoped login names its own currency: no setting needed.
    answer = intacct_tenant.call("POST", path, {**login, "entity_id": "200"})
    assert answer.status == 200, answer.text


def test_a_company_another_tenant_holds_is_refused_until_that_tenant_disconnects(intacct_tenant):
    """Two tenants on one set of books take each other's documents for their own (going live
    adopts by number, then one changes or voids the other's). The second login is refused."""
    login = {"company_id": DEFAULT_COMPANY, "user_id": DEFAULT_USER, "user_password": DEFAULT_PASSWORD}
    assert intacct_tenant.call("POST", "/admin/tenants/zuper-co/login-connection", login).status == 200
    assert intacct_tenant.call("POST", "/admin/tenants", {"tenant_id": "zuper-two",
                                                          "settings": {"provider": "sage_intacct"}}).status == 201

    refused = intacct_tenant.call("POST", "/admin/tenants/zuper-two/login-connection", login)
    assert refused.status == 409 and "already connected to tenant zuper-co" in refused.json["message"]
    assert intacct_tenant.store.connections.find("zuper-two", "sage_intacct") is None

    assert intacct_tenant.call("DELETE", "/admin/tenants/zuper-co/connection").status in (200, 204)
    assert intacct_tenant.call("POST", "/admin/tenants/zuper-two/login-connection", login).status == 200
