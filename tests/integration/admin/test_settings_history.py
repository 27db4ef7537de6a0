"""Settings changes are versioned and audit-logged (who, when, each field's old and new value, never a
secret), listed newest first by GET .../settings/history, and a change naming a stale version is refused."""

from __future__ import annotations

from tests.integration.admin.world import IAM, TENANT

ADMIN = f"admin-api:{IAM['userArn']}"


def history(world, **query):
    answer = world.call("GET", f"/admin/tenants/{TENANT}/settings/history", query=query or None)
    assert answer.status == 200, answer.text
    return answer.json


def test_each_change_is_a_version_that_says_who_changed_what_from_what_to_what(world):
    world.create_tenant(export_type="all")
    answer = world.call("PATCH", f"/admin/tenants/{TENANT}/settings",
                        {"changes": {"customer_date_basis": "document", "export_type": None,
                                     "failure_emails": ["books@acme.example"]}, "expected_version": 1})
    assert answer.status == 200 and answer.json["version"] == 2, answer.text
    world.advance(minutes=5)
    assert world.call("PATCH", f"/admin/tenants/{TENANT}/settings", {"changes": {"retry_limit": 5}}).status == 200
    h = history(world)
    assert h["current_version"] == 3 and [v["version"] for v in h["versions"]] == [3, 2]
    newest, first = h["versions"]
    assert newest["actor"] == ADMIN and newest["changes"] == [{"field": "retry_limit", "old": None, "new": 5}]
    assert first["actor"] == ADMIN and first["changed_at"].startswith("2025-03-03T09:00")
    assert first["changes"] == [
        {"field": "customer_date_basis", "old": None, "new": "document"},
        {"field": "export_type", "old": "all", "new": None},
        {"field": "failure_emails", "old": None, "new": ["books@acme.example"]},
    ]
    assert newest["changed_at"].startswith("2025-03-03T09:05")


def test_a_change_naming_a_stale_version_is_refused_and_leaves_no_trace(world):
    """Two editors read version 1; the second to save is told to read again, not overwriting the first."""
    world.create_tenant()
    first = world.call("PATCH", f"/admin/tenants/{TENANT}/settings",
                       {"changes": {"retry_limit": 2}, "expected_version": 1})
    second = world.call("PATCH", f"/admin/tenants/{TENANT}/settings",
                        {"changes": {"retry_limit": 7}, "expected_version": 1})
    assert first.status == 200 and second.status == 409
    assert "expected_version 2" in second.json["message"]
    assert world.store.tenants.get(TENANT).settings["retry_limit"] == 2
    assert [v["version"] for v in history(world)["versions"]] == [2]


def test_bad_settings_are_refused_per_field_and_are_not_versioned(world):
    world.create_tenant()
    bad = world.call("PATCH", f"/admin/tenants/{TENANT}/settings",
                     {"changes": {"failure_emails": ["books@acme.example", "not an address"], "retry_limit": 99}})
    assert bad.status == 422, bad.text
    assert {p["field"] for p in bad.json["problems"]} == {"failure_emails.1", "retry_limit"}
    twice = world.call("PATCH", f"/admin/tenants/{TENANT}/settings",
                       {"changes": {"failure_emails": ["a@acme.example", "A@acme.example"]}})
    assert twice.status == 422 and twice.json["problems"][0]["field"] == "failure_emails"
    assert "listed twice" in twice.json["problems"][0]["message"]
    assert world.store.tenants.get(TENANT).version == 1 and history(world)["versions"] == []


def test_resetting_a_name_that_is_not_a_setting_is_refused_not_reported_as_done(world):
    world.create_tenant()
    typo = world.call("PATCH", f"/admin/tenants/{TENANT}/settings", {"changes": {"retry_limimt": None}})
    assert typo.status == 422, typo.text
    assert typo.json["problems"] == [{"field": "retry_limimt", "message": "is not a known setting"}]
    assert world.store.tenants.get(TENANT).version == 1


def test_the_history_never_holds_a_secret(world):
    world.create_tenant()
    url = "https://user:pa55@hooks.acme.example/sage?token=s3cret"
    assert world.call("PATCH", f"/admin/tenants/{TENANT}/settings",
                      {"changes": {"host_callback_url": url}}).status == 200
    text = world.call("GET", f"/admin/tenants/{TENANT}/settings/history").text
    assert "s3cret" not in text and "pa55" not in text
    [change] = history(world)["versions"][0]["changes"]
    assert change == {"field": "host_callback_url", "old": None,
                      "new": "https://(hidden)@hooks.acme.example/sage?(hidden)"}


def test_mapping_changes_are_versioned_code_by_code(tenant):
    answer = tenant.call("PUT", f"/admin/tenants/{TENANT}/mappings",
                         {"tax_mappings": {"E": "GB_EXEMPT"}, "check_in_sage": False})
    assert answer.status == 200, answer.text
    [v] = history(tenant)["versions"]
    assert v["actor"] == ADMIN and v["changes"] == [{"field": "tax_mappings.E", "old": None, "new": "GB_EXEMPT"}]


def test_notification_email_is_moved_into_failure_emails_by_the_next_save(world):
    """It was accepted and never used: it now gets the failure digest, and the next save moves it."""
    world.create_tenant(notification_email="ops@acme.example")
    answer = world.call("PATCH", f"/admin/tenants/{TENANT}/settings", {"changes": {"retry_limit": 2}})
    assert answer.status == 200, answer.text
    assert "notification_email" not in answer.json["settings"]
    assert answer.json["settings"]["failure_emails"] == ["ops@acme.example"]
    [v] = history(world)["versions"]
    assert "notification_email moved into failure_emails" in v["note"]
    assert {"field": "notification_email", "old": "ops@acme.example", "new": None} in v["changes"]


def test_a_tenant_created_through_the_api_starts_its_history(world):
    created = world.call("POST", "/admin/tenants", {"tenant_id": TENANT, "settings": world.tenant_settings()})
    assert created.status == 201, created.text
    [v] = history(world)["versions"]
    assert v["version"] == 1 and v["actor"] == ADMIN and v["note"] == "tenant created"
    assert {"field": "provider", "old": None, "new": "sage_accounting"} in v["changes"]
    assert world.call("GET", "/admin/tenants/ghost/settings/history").status == 404


def test_the_history_pages(world):
    world.create_tenant()
    for n in range(3):
        assert world.call("PATCH", f"/admin/tenants/{TENANT}/settings", {"changes": {"retry_limit": n}}).status == 200
    page = history(world, limit=2)
    assert [v["version"] for v in page["versions"]] == [4, 3] and page["next_token"]
    rest = history(world, limit=2, next_token=page["next_token"])
    assert [v["version"] for v in rest["versions"]] == [2] and rest["next_token"] is None
