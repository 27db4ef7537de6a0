"""Mapping health through the admin API for a Sage Intacct tenant: the product's own purchase tax
map (intacct.purchase_tax_mappings) is held against the company's TAXDETAILs, and a sales tax
mapping that names a Purchase detail (its documents are skipped) is reported as the wrong type."""

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

TENANT = "zuper-co"
HEALTHY = {
    "provider": "sage_intacct", "tax_mappings": {"S20": "Sales Tax Standard", "Z": "Sales Tax Zero"},
    "default_sales_ledger_account_id": "4000", "default_purchase_ledger_account_id": "5000",
    "receipt_bank_account_id": "BOA-OPS", "intacct": {"purchase_tax_mappings": {"S20": "Purchase Tax Standard"}},
}


@pytest.fixture
def intacct(world):
    sandbox = SageIntacctSandbox(clock=world.clock)
    world.products.built[Provider.SAGE_INTACCT] = build_sage_intacct(
        world.settings, store=world.store, clients=AwsClients(dynamodb=world.store.table.client, kms=world.kms),
        http=httpx.Client(transport=sandbox.sync_transport(), timeout=10), clock=world.clock.now,
        secrets=IntegrationSecrets(intacct_sender_id=DEFAULT_SENDER_ID,
                                   intacct_sender_password=SecretStr(DEFAULT_SENDER_PASSWORD),
                                   state_signing_key=SecretStr("k" * 64)),
        sleep=lambda _s: None)
    answer = world.call("POST", "/admin/tenants", {"tenant_id": TENANT, "settings": HEALTHY})
    assert answer.status == 201, answer.text
    login = {"company_id": DEFAULT_COMPANY, "user_id": DEFAULT_USER, "user_password": DEFAULT_PASSWORD}
    assert world.call("POST", f"/admin/tenants/{TENANT}/login-connection", login).status == 200
    return world


def _health(world, **settings):
    if settings:
        answer = world.call("PATCH", f"/admin/tenants/{TENANT}/settings", {"changes": settings})
        assert answer.status == 200, answer.text
    body = world.call("GET", f"/admin/tenants/{TENANT}/mappings/health").json
    return body, {p["setting"]: p for p in body["problems"]}


def test_the_purchase_tax_map_is_checked_and_named_by_its_setting_path(intacct):
    body, _ = _health(intacct)
    assert body["checked"] is True and body["ok"] is True, body
    assert body["mappings_checked"] == 6  # 2 tax, 2 defaults, the bank account, 1 purchase tax detail

    body, problems = _health(intacct, intacct={"purchase_tax_mappings": {}})
    assert body["ok"] is False and set(problems) == {"intacct.purchase_tax_mappings.S20"}
    assert problems["intacct.purchase_tax_mappings.S20"]["problem"] == "not_set"

    body, problems = _health(intacct, intacct={"purchase_tax_mappings": {"S20": "Sales Tax Standard",
                                                                         "R": "Purchase Tax Gone"}})
    assert {s: p["problem"] for s, p in problems.items()} == {"intacct.purchase_tax_mappings.S20": "not_usable",
                                                             "intacct.purchase_tax_mappings.R": "missing"}
    assert "TAXTYPE Purchase" in problems["intacct.purchase_tax_mappings.S20"]["message"]


def test_a_sales_tax_mapping_naming_a_purchase_detail_is_reported(intacct):
    body, problems = _health(intacct, tax_mappings={"S20": "Purchase Tax Standard", "Z": "Sales Tax Zero"})
    assert body["ok"] is False and set(problems) == {"tax_mappings.S20"}
    assert problems["tax_mappings.S20"]["problem"] == "not_usable"
    assert "purchase tax detail (TAXTYPE Purchase)" in problems["tax_mappings.S20"]["message"]
    # The status page's summary counts it as a mapping problem too.
    status = intacct.call("GET", f"/admin/tenants/{TENANT}/status").json
    assert status["mapping_health"]["ok"] is False


def test_setting_a_sales_tax_mapping_to_a_purchase_detail_is_refused(intacct):
    """PUT /mappings checks what it changes against Sage: a Purchase detail for a sales code is the
    wrong type, refused with the reason, and nothing is saved."""
    answer = intacct.call("PUT", f"/admin/tenants/{TENANT}/mappings",
                          {"tax_mappings": {"S20": "Purchase Tax Standard"}})
    assert answer.status == 422, answer.text
    [problem] = answer.json["problems"]
    assert problem["field"] == "tax_mappings.S20" and "TAXTYPE Purchase" in problem["message"]
    assert intacct.store.tenants.get(TENANT).settings["tax_mappings"]["S20"] == "Sales Tax Standard"
