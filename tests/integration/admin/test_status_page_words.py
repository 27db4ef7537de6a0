"""The status page in words a person reads right (issue 18): a never-connected tenant is "Not connected
yet" with Connect, not "Broken" with Reconnect; no Replay beside a reason a replay cannot fix;
"1 minute ago"; an unknown tenant is a page, not raw JSON."""

from __future__ import annotations

from datetime import timedelta

from sagebridge.admin.status_page import _when

from .world import TENANT, AdminWorld, invoice


def test_a_never_connected_tenant_is_not_connected_yet(world: AdminWorld):
    world.create_tenant()
    page = world.call("GET", f"/admin/tenants/{TENANT}/status.html")
    assert page.status == 200
    assert "Not connected yet" in page.text and ">Broken<" not in page.text
    assert "Connect to Sage" in page.text and "Reconnect to Sage" not in page.text


def test_no_replay_beside_a_reason_replay_cannot_fix(world: AdminWorld):
    world.create_tenant()
    world.connect()
    world.stage(invoice(1, total=("90.00", "18.00")))  # the host's totals disagree with its lines
    world.stage(invoice(2, tax="T9"))  # a mapping to add, then a replay
    assert world.call("POST", f"/admin/tenants/{TENANT}/exports", {"run": "now"}).status == 200
    page = world.call("GET", f"/admin/tenants/{TENANT}/status.html").text
    row = lambda host_id: page.split(f'data-host-id="{host_id}"')[1].split("</tr>")[0]  # noqa: E731
    assert "differs from" in row("INV-1") and "class=replay" not in row("INV-1")
    assert "Correct the document in your app" in row("INV-1")
    assert "class=replay" in row("INV-2")


def test_times_and_unknown_tenants(world: AdminWorld):
    now = world.clock.now()
    assert ">1 minute ago<" in _when(now - timedelta(seconds=65), now)
    answer = world.call("GET", "/admin/tenants/nobody/status.html")
    assert answer.status == 404 and answer.headers["content-type"].startswith("text/html")
    assert "nobody" in answer.text and not answer.text.lstrip().startswith("{")
