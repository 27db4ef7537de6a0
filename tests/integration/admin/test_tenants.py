"""Tenants through the admin API: create, read, list, settings (validated), enable/disable, delete;
and the API's guard: no IAM authoriser context, no answer."""

from __future__ import annotations

import json

import pytest

from tests.integration.admin.world import TENANT, http_event


def test_every_route_refuses_a_request_without_iam_authorisation(world):
    world.create_tenant()
    for method, path in [("GET", "/admin/tenants"), ("POST", "/admin/tenants"), ("GET", f"/admin/tenants/{TENANT}"),
                         ("DELETE", f"/admin/tenants/{TENANT}"), ("GET", f"/admin/tenants/{TENANT}/status.html"),
                         ("POST", f"/admin/tenants/{TENANT}/replay"), ("GET", "/admin/openapi.json")]:
        answer = world.invoke(http_event(method, path, body={}, iam=None))
        assert answer.status == 403, (method, path, answer.text)
        assert "IAM" in answer.json["message"]
    assert world.store.tenants.find(TENANT) is not None  # the refused DELETE did nothing


def test_an_empty_iam_context_is_refused_too(world):
    answer = world.invoke(http_event("GET", "/admin/tenants", iam={}))
    assert answer.status == 403


def test_create_a_tenant_returns_its_webhook_secret_once(world):
    answer = world.call("POST", "/admin/tenants", {"tenant_id": "northwind", "settings": world.tenant_settings()})
    assert answer.status == 201, answer.text
    body = answer.json
    assert body["tenant_id"] == "northwind" and body["version"] == 1 and body["enabled"] is True
    assert body["webhook_secret"].startswith("whsec_")
    stored = world.secretsmanager.get_secret_value(SecretId="sage-bridge-test/tenants/northwind/webhook")
    assert json.loads(stored["SecretString"]) == {"current": body["webhook_secret"]}
    again = world.call("GET", "/admin/tenants/northwind")
    assert again.status == 200 and again.json["webhook_secret"] is None
    assert again.json["settings"]["tax_mappings"]["S"] == "GB_STANDARD"


def test_creating_a_tenant_twice_is_a_conflict(world):
    assert world.call("POST", "/admin/tenants", {"tenant_id": "dup"}).status == 201
    answer = world.call("POST", "/admin/tenants", {"tenant_id": "dup"})
    assert answer.status == 409 and "already" in answer.json["message"]


def test_create_refuses_bad_settings_naming_every_field(world):
    answer = world.call("POST", "/admin/tenants", {"tenant_id": "bad", "settings": {
        "provider": "sage_accounting", "export_interval_minutes": 1, "colour": "blue", "tax_mappings": {"S": " "},
    }})
    assert answer.status == 422
    fields = {p["field"]: p["message"] for p in answer.json["problems"]}
    assert set(fields) == {"export_interval_minutes", "colour", "tax_mappings.S"}
    assert fields["colour"] == "is not a known setting"
    assert "maps to nothing" in fields["tax_mappings.S"]
    assert world.store.tenants.find("bad") is None


@pytest.mark.parametrize("body, field", [
    ({"tenant_id": "has space"}, "tenant_id"),
    ({"tenant_id": "x", "unknown": 1}, "unknown"),
    ({}, "tenant_id"),
])
def test_create_refuses_a_malformed_request(world, body, field):
    answer = world.call("POST", "/admin/tenants", body)
    assert answer.status == 422, answer.text
    assert field in [p["field"] for p in answer.json["problems"]]


def test_a_body_that_is_not_json_is_refused(world):
    answer = world.invoke(http_event("POST", "/admin/tenants", raw_body="{not json"))
    assert answer.status == 422


def test_list_tenants(world):
    for name in ("b-tenant", "a-tenant"):
        world.create_tenant(name)
    answer = world.call("GET", "/admin/tenants", query={"limit": 1})
    assert answer.status == 200
    assert [t["tenant_id"] for t in answer.json["tenants"]] == ["a-tenant"]
    rest = world.call("GET", "/admin/tenants", query={"next_token": answer.json["next_token"]})
    assert [t["tenant_id"] for t in rest.json["tenants"]] == ["b-tenant"]
    assert world.call("GET", "/admin/tenants", query={"limit": 0}).status == 422


def test_an_unknown_tenant_is_404(world):
    for method, path in [("GET", "/admin/tenants/ghost"), ("DELETE", "/admin/tenants/ghost"),
                         ("GET", "/admin/tenants/ghost/status"), ("GET", "/admin/tenants/ghost/connection"),
                         ("GET", "/admin/tenants/ghost/log"), ("GET", "/admin/tenants/ghost/runs")]:
        answer = world.call(method, path)
        assert answer.status == 404, (method, path, answer.text)
        assert "ghost" in answer.json["message"]


def test_replace_settings_with_optimistic_locking(world):
    world.create_tenant()
    new = world.tenant_settings(export_interval_minutes=30)
    answer = world.call("PUT", f"/admin/tenants/{TENANT}/settings", {"settings": new, "expected_version": 1})
    assert answer.status == 200 and answer.json["version"] == 2
    assert answer.json["settings"]["export_interval_minutes"] == 30
    stale = world.call("PUT", f"/admin/tenants/{TENANT}/settings", {"settings": new, "expected_version": 1})
    # Front-door review: it said "tenant acme: ConditionalCheckFailedException".
    assert stale.status == 409 and "ConditionalCheck" not in stale.text
    assert stale.json["message"] == (f"tenant {TENANT}: the settings changed since version 1 was read (they are at "
                                     "version 2 now); read them again and send the change with expected_version 2")


def test_replace_settings_refuses_bad_ones(world):
    world.create_tenant()
    answer = world.call("PUT", f"/admin/tenants/{TENANT}/settings",
                        {"settings": {"provider": "sage_9000", "retry_limit": 99}, "expected_version": 1})
    assert answer.status == 422
    assert {p["field"] for p in answer.json["problems"]} == {"provider", "retry_limit"}
    assert world.store.tenants.get(TENANT).version == 1


def test_change_some_settings_and_put_one_back_to_its_default(world):
    world.create_tenant(export_type="all")
    answer = world.call("PATCH", f"/admin/tenants/{TENANT}/settings",
                        {"changes": {"customer_date_basis": "document", "export_type": None}})
    assert answer.status == 200, answer.text
    settings = answer.json["settings"]
    assert settings["customer_date_basis"] == "document" and "export_type" not in settings
    bad = world.call("PATCH", f"/admin/tenants/{TENANT}/settings", {"changes": {"notification_email": "nope"}})
    assert bad.status == 422 and bad.json["problems"][0]["field"] == "notification_email"
    stale = world.call("PATCH", f"/admin/tenants/{TENANT}/settings",
                       {"changes": {"retry_limit": 2}, "expected_version": 1})
    assert stale.status == 409


def test_a_connected_tenant_is_not_moved_to_another_product_until_it_is_disconnected(tenant):
    """Front-door review: the provider changed silently, leaving the connection and the old product's
    mappings behind."""
    moved = tenant.call("PATCH", f"/admin/tenants/{TENANT}/settings", {"changes": {"provider": "sage200"}})
    assert moved.status == 409 and "disconnect it first" in moved.json["message"]
    assert tenant.store.tenants.get(TENANT).settings["provider"] == "sage_accounting"
    assert tenant.call("DELETE", f"/admin/tenants/{TENANT}/connection").status == 200
    moved = tenant.call("PATCH", f"/admin/tenants/{TENANT}/settings", {"changes": {"provider": "sage200"}})
    assert moved.status == 200 and moved.json["settings"]["provider"] == "sage200"


def test_disable_and_enable(world):
    world.create_tenant()
    answer = world.call("POST", f"/admin/tenants/{TENANT}/disable")
    assert answer.status == 200 and answer.json["enabled"] is False
    assert world.store.tenants.get(TENANT).enabled is False
    assert world.call("POST", f"/admin/tenants/{TENANT}/enable").json["enabled"] is True


def test_rotate_the_webhook_secret_keeps_the_old_one_as_previous(world):
    created = world.call("POST", "/admin/tenants", {"tenant_id": "rot"}).json["webhook_secret"]
    answer = world.call("POST", "/admin/tenants/rot/webhook-secret")
    assert answer.status == 200
    stored = json.loads(world.secretsmanager.get_secret_value(
        SecretId="sage-bridge-test/tenants/rot/webhook")["SecretString"])
    assert stored == {"current": answer.json["webhook_secret"], "previous": created}


def test_delete_a_tenant_with_its_data_connection_and_secret(tenant):
    world = tenant
    world.call("POST", "/admin/tenants", {"tenant_id": "other"})
    world.store.mappings.put(TENANT, "sales_invoice", "INV-1", "sage-1")
    world.secretsmanager.create_secret(Name="sage-bridge-test/tenants/acme/webhook", SecretString="x")
    answer = world.call("DELETE", f"/admin/tenants/{TENANT}")
    assert answer.status == 200, answer.text
    body = answer.json
    assert body["disconnected"] is True and body["webhook_secret_deleted"] is True and body["items_deleted"] >= 2
    assert world.store.tenants.find(TENANT) is None
    assert world.store.mappings.find(TENANT, "sales_invoice", "INV-1") is None
    assert world.sa.service.find(TENANT) is None
    assert world.store.tenants.find("other") is not None
    assert world.call("GET", f"/admin/tenants/{TENANT}").status == 404


def test_unknown_route_is_404(world):
    assert world.call("GET", "/admin/nothing-here").status == 404


def test_the_sample_events_are_answered(world):
    """events/admin_*.json (for `python -m local.invoke` and the docs) stay valid requests."""
    from tests.integration.admin.world import ROOT

    created = world.invoke(json.loads((ROOT / "events" / "admin_create_tenant.json").read_text()))
    assert created.status == 201, created.text
    world.connect("demo")
    expected = {"admin_export_dry_run": 200, "admin_status": 200, "admin_status_page": 200, "admin_replay": 200,
                "admin_log": 200, "admin_unsigned": 403}
    for name, status in expected.items():
        answer = world.invoke(json.loads((ROOT / "events" / f"{name}.json").read_text()))
        assert answer.status == status, (name, answer.text)


def test_review_exportable_statuses_must_keep_the_default_trigger_status(world):
    world.create_tenant()
    answer = world.call("PATCH", f"/admin/tenants/{TENANT}/settings",
                        {"changes": {"exportable_statuses": ["approved"]}})
    assert answer.status == 422, answer.text
    [problem] = answer.json["problems"]
    assert "trigger_statuses" in problem["field"] + problem["message"]
    assert "exportable_statuses" in problem["field"] + problem["message"]
    assert "pending_payment" in problem["message"]
    assert world.store.tenants.get(TENANT).version == 1
    both = world.call("PATCH", f"/admin/tenants/{TENANT}/settings",
                      {"changes": {"exportable_statuses": ["approved"], "trigger_statuses": ["approved"]}})
    assert both.status == 200, both.text
