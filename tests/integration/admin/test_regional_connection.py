"""Sage Business Cloud Accounting (regional API) tenants connect with their Sage login through the
admin API's login-connection: verified with Company/Get before it is kept, the company chosen (the
login's only one, or the one named; several and none named is refused with the list), kept sealed,
never echoed back. A login Sage later refuses is never tried again: the tenant is told to reconnect."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from local.sandboxes import sage_regional as sr
from sagebridge.connectors.base import NotConnected
from sagebridge.connectors.sage_regional.product import build_sage_regional
from sagebridge.connectors.sage_regional.settings import SageRegionalSettings
from sagebridge.domain.settings import Provider
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.store.aws import AwsClients

PATH = "/admin/tenants/downunder/login-connection"


@pytest.fixture
def regional_tenant(world):
    sandbox = sr.SageRegionalSandbox(clock=world.clock)
    world.products.built[Provider.SAGE_REGIONAL] = build_sage_regional(
        world.settings, store=world.store, clients=AwsClients(dynamodb=world.store.table.client, kms=world.kms),
        http=httpx.Client(transport=sandbox.sync_transport(), timeout=10), clock=world.clock.now,
        secrets=IntegrationSecrets(sage_regional_api_key=SecretStr(sr.DEFAULT_API_KEY),
                                   state_signing_key=SecretStr("k" * 64)),
        sleep=lambda s: world.clock.advance(seconds=s),
        product_settings=SageRegionalSettings.model_validate({"SAGE_REGIONAL_AU_URL": sr.API_BASE_URL}))
    answer = world.call("POST", "/admin/tenants", {"tenant_id": "downunder", "settings": {"provider": "sage_regional"}})
    assert answer.status == 201, answer.text
    world.regional_sandbox = sandbox
    return world


def _login(company: str, password: str = sr.DEFAULT_PASSWORD) -> dict[str, str]:
    return {"company_id": company, "user_id": sr.DEFAULT_USERNAME, "user_password": password}


def test_a_login_that_sees_several_companies_is_refused_with_the_list_until_one_is_named(regional_tenant):
    box = regional_tenant.regional_sandbox
    refused = regional_tenant.call("POST", PATH, _login("AU"))
    assert refused.status == 422, refused.text
    for company in box.companies.values():
        assert f"{company.company_id} ({company.name})" in refused.json["message"]
    assert regional_tenant.store.connections.find("downunder", "sage_regional") is None

    chosen = list(box.companies)[1]
    answer = regional_tenant.call("POST", PATH, _login(f"AU:{chosen}"))
    assert answer.status == 200, answer.text
    assert answer.json["state"] == "connected" and sr.DEFAULT_PASSWORD not in answer.text
    record = regional_tenant.store.connections.find("downunder", "sage_regional")
    assert record.business_id == f"AU:{chosen}" and sr.DEFAULT_PASSWORD.encode() not in record.ciphertext


def test_a_wrong_password_is_refused_and_nothing_is_kept(regional_tenant):
    answer = regional_tenant.call("POST", PATH, _login("AU:1", password="wrong"))
    assert answer.status == 422 and "wrong" not in answer.text
    assert regional_tenant.store.connections.find("downunder", "sage_regional") is None


def test_a_region_without_a_known_host_is_refused_naming_the_setting(regional_tenant):
    answer = regional_tenant.call("POST", PATH, _login("NZ"))
    assert answer.status == 422 and "SAGE_REGIONAL_NZ_URL" in answer.json["message"]


def test_a_login_sage_refuses_later_is_not_tried_again_and_the_tenant_is_told_to_reconnect(regional_tenant):
    box = regional_tenant.regional_sandbox
    assert regional_tenant.call("POST", PATH, _login(f"AU:{box.lead_company_id}")).status == 200
    product = regional_tenant.products.product(Provider.SAGE_REGIONAL)
    box.login.password = "changed-in-sage"  # the tenant changed their password in Sage
    with pytest.raises(Exception, match="reconnect"):
        product.connector_for("downunder").list_tax_rates()
    tries = sum(len(t) for t in box.login_guard._failures.values())
    with pytest.raises(NotConnected, match="reconnect"):
        product.connector_for("downunder")  # refused here: Sage is not asked again
    assert sum(len(t) for t in box.login_guard._failures.values()) == tries == 1
    assert regional_tenant.call("GET", "/admin/tenants/downunder/connection").json["state"] != "connected"


def test_a_company_another_tenant_holds_is_refused_until_that_tenant_disconnects(regional_tenant):
    """One set of books, one tenant (as for every product): a second tenant on the same company
    would take the first one's documents for its own."""
    company = f"AU:{regional_tenant.regional_sandbox.lead_company_id}"
    assert regional_tenant.call("POST", PATH, _login(company)).status == 200
    assert regional_tenant.call("POST", "/admin/tenants", {"tenant_id": "downunder-2",
                                                           "settings": {"provider": "sage_regional"}}).status == 201
    second = "/admin/tenants/downunder-2/login-connection"

    refused = regional_tenant.call("POST", second, _login(company))
    assert refused.status == 409 and "already connected to tenant downunder" in refused.json["message"]
    assert regional_tenant.store.connections.find("downunder-2", "sage_regional") is None

    assert regional_tenant.call("DELETE", "/admin/tenants/downunder/connection").status in (200, 204)
    assert regional_tenant.call("POST", second, _login(company)).status == 200
