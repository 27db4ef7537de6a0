"""The Docker-free stand-ins for AWS: the local HTTP API routes to handlers as API Gateway would, the
SQS pollers feed queue-triggered functions, the schedules fire their targets, and `local.invoke`
runs one function from template.yaml against the running stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def test_stack_uses_the_real_dynamodb_local_engine_with_tables_from_the_template(stack):
    import boto3

    assert stack.outputs["dynamodb"]["engine"] == "DynamoDB Local"
    ddb = boto3.client("dynamodb", endpoint_url=stack.outputs["dynamodb"]["endpoint"], region_name="eu-west-2")
    table = ddb.describe_table(TableName=stack.outputs["resources"]["AppTable"])["Table"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2", "GSI3"}


def test_http_api_routes_to_the_handler_and_answers_404_for_unknown_routes(stack):
    api = stack.outputs["api_url"]
    # An unsigned connect link is refused by the connect handler itself: proof the request got there.
    r = httpx.get(f"{api}/connect/nobody")
    assert r.status_code == 403
    assert "text/html" in r.headers["content-type"]
    assert httpx.get(f"{api}/no/such/route").status_code == 404


def _invoke(args: list[str], state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAGEBRIDGE_LOCAL_STATE": str(state_dir)}
    return subprocess.run([sys.executable, "-m", "local.invoke", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_local_invoke_runs_the_export_scheduler_against_the_stack(stack, state_dir):
    done = _invoke(["ExportSchedulerFunction", "-e", "events/export_scheduler.json"], state_dir)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert isinstance(result, dict)


def test_local_invoke_names_what_is_missing(tmp_path):
    done = _invoke(["ExportSchedulerFunction", "-e", "events/export_scheduler.json"], tmp_path)
    assert done.returncode == 2
    assert "local stack is not running" in done.stderr and "make stack" in done.stderr
    done = _invoke(["NoSuchFunction"], tmp_path)
    assert done.returncode == 2
    assert "NoSuchFunction is not a function of template.yaml" in done.stderr


def test_schedules_fire_their_targets_with_scheduler_context_filled_in(stack):
    schedules = {s.function: s for s in stack.schedules()}
    assert set(schedules) == {"ExportSchedulerFunction", "PaymentPollerFunction", "TokenKeepAliveFunction"}
    results = stack.fire_schedules()
    assert len(results) == 3


def test_the_tenant_portal_is_served_by_route_and_opens_through_a_link(stack):
    """Issue 18: /portal/* reaches the portal function, whose key comes from the stack's settings secret."""
    api = stack.outputs["api_url"]
    assert httpx.post(f"{api}/admin/tenants", json={"tenant_id": "portal-shop"}).status_code in (201, 409)
    made = httpx.post(f"{api}/admin/tenants/portal-shop/portal-links", json={"role": "viewer"}, timeout=60)
    assert made.status_code == 201, made.text
    opened = httpx.get(made.json()["url"], follow_redirects=False, timeout=60)
    assert opened.status_code == 303 and opened.headers["location"] == "/portal/t/portal-shop"
    cookie = opened.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    page = httpx.get(f"{api}/portal/t/portal-shop", cookies={"sb_portal": cookie}, timeout=60)
    assert page.status_code == 200 and "Not connected yet" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert httpx.get(f"{api}/portal/static/portal.css").headers["content-type"].startswith("text/css")
    assert httpx.get(f"{api}/portal/t/portal-shop").status_code == 401  # no cookie, no page
