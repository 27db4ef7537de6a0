"""Connections (connect link, status, disconnect) and mappings (Sage lists, set, health)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sagebridge.store import ConnectionStatus
from tests.integration.admin.world import PUBLIC_API_URL, TENANT


def test_connect_url_is_a_signed_link_the_connect_flow_accepts(world):
    world.create_tenant()
    answer = world.call("GET", f"/admin/tenants/{TENANT}/connect-url")
    assert answer.status == 200, answer.text
    url = urlsplit(answer.json["url"])
    assert f"{url.scheme}://{url.netloc}" == PUBLIC_API_URL and url.path == f"/connect/{TENANT}"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert world.sa.flow._link_ok(TENANT, query)
    assert not world.sa.flow._link_ok("someone-else", query)
    assert answer.json["expires_at"].startswith("2025-03-03T09:15")  # 15 minutes


def test_defect_14_the_admin_api_hands_out_single_use_links_and_marks_business_changes(world):
    world.create_tenant()
    plain = world.call("GET", f"/admin/tenants/{TENANT}/connect-url")
    change = world.call("GET", f"/admin/tenants/{TENANT}/connect-url", query={"allow_business_change": "true"})
    assert plain.status == change.status == 200, change.text
    links = [{k: v[0] for k, v in parse_qs(urlsplit(a.json["url"]).query).items()} for a in (plain, change)]
    assert links[0]["link"] != links[1]["link"]  # every link is its own single-use link
    assert "change" not in links[0] and links[1]["change"] == "1"
    forged = {**links[0], "change": "1"}  # an ordinary link cannot be turned into a business change
    assert world.sa.flow._link_ok(TENANT, links[1]) and not world.sa.flow._link_ok(TENANT, forged)
    redirect = f"{PUBLIC_API_URL}/oauth/callback"
    assert world.sa.flow.start(TENANT, links[0], redirect_uri=redirect).status == 302
    again = world.sa.flow.start(TENANT, links[0], redirect_uri=redirect)
    assert again.status == 403 and again.kind == "link_used"


def test_connection_states(world):
    world.create_tenant()
    path = f"/admin/tenants/{TENANT}/connection"
    assert world.call("GET", path).json["state"] == "not_connected"
    world.connect()
    body = world.call("GET", path).json
    assert body["state"] == "connected" and body["business_name"] == world.sandbox.business().name
    assert body["expires_in_days"] >= 28 and body["last_refreshed_at"].startswith("2025-03-03T09:00")
    world.advance(days=26)  # the keep-alive did not run: the grant nears its end
    body = world.call("GET", path).json
    assert body["state"] == "expiring" and "expiring in" in body["summary"]
    record = world.sa.service.find(TENANT)
    world.store.connections.save(record.__class__(**{**{f: getattr(record, f) for f in record.__slots__},
                                                     "status": ConnectionStatus.REVOKED}),
                                 expected_version=record.version)
    assert world.call("GET", path).json["state"] == "revoked"


def test_an_expired_grant_says_expired(tenant):
    tenant.advance(days=40)
    body = tenant.call("GET", f"/admin/tenants/{TENANT}/connection").json
    assert body["state"] == "expired" and body["expires_in_days"] == 0


def test_disconnect(tenant):
    answer = tenant.call("DELETE", f"/admin/tenants/{TENANT}/connection")
    assert answer.status == 200 and answer.json == {"disconnected": True}
    assert tenant.sa.service.find(TENANT) is None
    assert tenant.call("DELETE", f"/admin/tenants/{TENANT}/connection").json == {"disconnected": False}


def test_list_sage_tax_rates_ledger_and_bank_accounts(tenant):
    rates = tenant.call("GET", f"/admin/tenants/{TENANT}/sage/tax-rates")
    assert rates.status == 200, rates.text
    by_id = {r["id"]: r for r in rates.json}
    assert by_id["GB_STANDARD"]["code"] == "20.00" and by_id["GB_STANDARD"]["active"] is True
    ledgers = tenant.call("GET", f"/admin/tenants/{TENANT}/sage/ledger-accounts").json
    assert {"4000", "5000", "7200"} <= {a["code"] for a in ledgers}
    banks = tenant.call("GET", f"/admin/tenants/{TENANT}/sage/bank-accounts").json
    assert [b["id"] for b in banks] == [tenant.ids["bank"]]
    assert tenant.call("GET", f"/admin/tenants/{TENANT}/sage/contacts").status == 422


def test_sage_lists_need_a_connection(world):
    world.create_tenant()
    answer = world.call("GET", f"/admin/tenants/{TENANT}/sage/tax-rates")
    assert answer.status == 409 and "connect" in answer.json["hint"]


def test_read_and_set_mappings(tenant):
    path = f"/admin/tenants/{TENANT}/mappings"
    assert tenant.call("GET", path).json["tax_mappings"] == {"S": "GB_STANDARD", "R": "GB_LOWER", "Z": "GB_ZERO"}
    answer = tenant.call("PUT", path, {"tax_mappings": {"E": "GB_EXEMPT", "Z": None},
                                       "ledger_mappings": {"FUEL": tenant.ids["7200"]}})
    assert answer.status == 200, answer.text
    body = answer.json
    assert body["mappings"]["tax_mappings"] == {"S": "GB_STANDARD", "R": "GB_LOWER", "E": "GB_EXEMPT"}
    assert body["mappings"]["ledger_mappings"]["FUEL"] == tenant.ids["7200"]
    assert body["version"] == 2 and body["health"]["ok"] is True
    replaced = tenant.call("PUT", path, {"tax_mappings": {"S": "GB_STANDARD"}, "replace": True}).json
    assert replaced["mappings"]["tax_mappings"] == {"S": "GB_STANDARD"}


def test_set_mappings_refuses_ids_that_are_not_live_in_sage(tenant):
    tenant.set_tax_rate_visible("GB_LOWER", False)
    answer = tenant.call("PUT", f"/admin/tenants/{TENANT}/mappings",
                         {"tax_mappings": {"X": "GB_NOPE", "L": "GB_LOWER"}, "receipt_bank_account_id": "no-bank"})
    assert answer.status == 422, answer.text
    problems = {p["field"]: p["message"] for p in answer.json["problems"]}
    assert set(problems) == {"tax_mappings.X", "tax_mappings.L", "receipt_bank_account_id"}
    assert "not in Sage" in problems["tax_mappings.X"] and "inactive" in problems["tax_mappings.L"]
    assert tenant.store.tenants.get(TENANT).version == 1
    # An operator who knows better (the rate is about to be created) can skip the check.
    skipped = tenant.call("PUT", f"/admin/tenants/{TENANT}/mappings",
                          {"tax_mappings": {"X": "GB_NOPE"}, "check_in_sage": False})
    assert skipped.status == 200 and skipped.json["health"]["checked"] is False


def test_set_mappings_refuses_an_empty_sage_id(tenant):
    answer = tenant.call("PUT", f"/admin/tenants/{TENANT}/mappings", {"tax_mappings": {"S": ""}})
    assert answer.status == 422 and answer.json["problems"][0]["field"] == "tax_mappings.S"


def test_mapping_health_reports_gone_and_inactive_records(tenant):
    path = f"/admin/tenants/{TENANT}/mappings/health"
    healthy = tenant.call("GET", path).json
    assert healthy == {"checked": True, "ok": True, "reason": None, "mappings_checked": 8, "problems": []}
    tenant.set_tax_rate_visible("GB_LOWER", False)
    settings = tenant.store.tenants.get(TENANT).settings
    tenant.store.tenants.update_settings(TENANT, {**settings, "ledger_mappings": {"OLD": "gone-account"}},
                                         expected_version=1)
    body = tenant.call("GET", path).json
    assert body["ok"] is False
    found = {(p["setting"], p["problem"]) for p in body["problems"]}
    assert found == {("tax_mappings.R", "inactive"), ("ledger_mappings.OLD", "missing")}


def test_mapping_health_without_a_connection_says_why(world):
    world.create_tenant()
    body = world.call("GET", f"/admin/tenants/{TENANT}/mappings/health").json
    assert body["checked"] is False and "no live Sage Accounting connection" in body["reason"]
