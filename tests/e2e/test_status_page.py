"""The tenant status page in a real headless Chromium (Debian's, driven by Playwright; never
`playwright install`): it renders with no console errors and no outside requests, shows the
connection, the 30-day chart, the failures and the mapping health, and its replay button works.

The page is served by a tiny ASGI app on 127.0.0.1 that turns each request into an HTTP API v2
event (with the IAM context API Gateway would add) for the real admin handler; the store is on
DynamoDB Local, Sage is the sandbox in process. `make browser` (scripts/install-chromium.sh)
installs Chromium; without it this test fails and says so."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import boto3
import pytest
from moto import mock_aws

from local import dynamodb_local, template
from tests.integration.admin.world import ROOT, TENANT, AdminWorld, http_event, invoice

CHROMIUM = "/usr/bin/chromium"
OUTPUT = ROOT / "tests" / "output"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.e2e


class HandlerApp:
    """ASGI: one request -> one admin handler invocation (in a worker thread, as Lambda would)."""

    def __init__(self, world: AdminWorld) -> None:
        self.world = world
        self.requests: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        import anyio

        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query: dict[str, list[str]] = {}
        for k, v in parse_qsl(scope["query_string"].decode()):
            query.setdefault(k, []).append(v)
        self.requests.append(f"{scope['method']} {scope['path']}")
        event = http_event(scope["method"], scope["path"], query=query, raw_body=body.decode() or None)
        answer = await anyio.to_thread.run_sync(self.world.invoke, event)
        headers = [(k.encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.text.encode()})


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    try:
        engine = dynamodb_local.start()
    except dynamodb_local.DynamoDBLocalUnavailable as exc:
        pytest.fail(f"DynamoDB Local unavailable: {exc}", pytrace=False)
    client = boto3.client("dynamodb", endpoint_url=engine.endpoint_url, region_name="eu-west-2",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    template.create_tables(client, {"AppTable": "app", "IdempotencyTable": "idempotency"})
    yield client
    engine.stop()


@pytest.fixture
def world(dynamodb: Any) -> Iterator[AdminWorld]:
    with mock_aws():
        w = AdminWorld(dynamodb, "app")
        w.create_tenant()
        w.connect()
        w.stage(invoice(1))
        w.stage(invoice(2, tax="T9"))  # skipped: T9 is not mapped
        assert w.call("POST", f"/admin/tenants/{TENANT}/exports", {"run": "now"}).status == 200
        # The support person's fix before pressing Replay: map T9.
        assert w.call("PUT", f"/admin/tenants/{TENANT}/mappings", {"tax_mappings": {"T9": "GB_ZERO"}}).status == 200
        w.advance(minutes=5)
        yield w


@pytest.fixture
def server(world: AdminWorld) -> Iterator[tuple[str, HandlerApp]]:
    import uvicorn

    app = HandlerApp(world)
    port = dynamodb_local.free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (scripts/install-chromium.sh)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1200, "height": 1000},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_status_page_renders_and_replays(world, server, browser_page):
    base, app = server
    page = browser_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))

    response = page.goto(f"{base}/admin/tenants/{TENANT}/status.html")
    assert response is not None and response.status == 200
    assert page.title() == f"Sage Bridge: {TENANT} status"
    assert page.locator("#health").inner_text() == "Needs attention"
    assert "connected" in page.locator("#connection").inner_text()
    assert page.locator("#chart rect.exported").count() == 1  # today's bar
    assert page.locator("#chart rect.skipped").count() == 1
    assert page.locator("#chart g.day").count() == 30
    row = page.locator('#failures tr[data-host-id="INV-2"]')
    assert "T9" in row.inner_text()
    assert "All 9 mappings point at live Sage records" in page.locator("#mapping-health").inner_text()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "status_page.png"), full_page=True)

    row.locator("button.replay").click()
    result = row.locator(".result")
    result.filter(has_text="run").wait_for(timeout=15_000)
    assert "succeeded" in result.inner_text(), result.inner_text()
    assert row.locator("button.replay").is_disabled()
    assert f"POST /admin/tenants/{TENANT}/replay" in app.requests
    assert world.store.ledger.get(TENANT, "sales_invoice", "INV-2").state.value == "exported"

    page.reload()
    assert page.locator("#health").inner_text() == "All good"
    assert page.locator("#failures").inner_text() == "No open failures or skips."
    page.screenshot(path=str(OUTPUT / "status_page_after_replay.png"), full_page=True)
    assert problems == [] and outside == []
