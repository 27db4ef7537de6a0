"""The tenant portal in a real headless Chromium (Debian's, driven by Playwright; never
`playwright install`): every page opened through a portal link at desktop width and at 390 px
(no sideways scrolling), a mapping and a setting changed, a skipped document replayed, a refused
delivery resent; and the walls: tenant A's session cannot read or change tenant B, expired or
tampered links are refused, a change without the CSRF token is refused, a viewer cannot change.

The portal is the real handler (functions/portal/app.py) behind a tiny ASGI app on 127.0.0.1 that
turns each request into an HTTP API v2 event; links come from the real admin API route. The store is
on DynamoDB Local, Sage is the sandbox in process, the host app is the host sandbox behind a relay.
`PORTAL_SCREENSHOTS=docs/images` (make screenshots) writes each page's picture there.

Named to run after the other e2e files: moto's in-process backends are shared with the local stack's
moto server, and `mock_aws` resets them (the stack's keys and secrets with them)."""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from moto import mock_aws

from local import dynamodb_local, template
from local.runtime import LambdaContext
from local.sandboxes.host_app import HostApp
from local.stack import Route, build_http_event, http_response
from sagebridge.admin.models import ExportStart
from sagebridge.admin.portal_links import PortalLinks
from sagebridge.host.outbound import DocumentLink, InvoicePartPaid, enqueue_delivery
from sagebridge.portal.web import Portal
from tests.integration.admin.world import ROOT, AdminWorld, invoice
from tests.integration.host.relay import CALLBACK_URL, SECRET, Relay

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEY = "p" * 48
PAGES = ("overview", "log", "mappings", "settings", "connection", "deliveries")
SHOTS = os.environ.get("PORTAL_SCREENSHOTS")
ROUTE = Route("PortalFunction", "ANY", "/portal/{proxy+}", re.compile("^/portal/(?P<proxy>.+)$"), False)
_names = itertools.count(1)

pytestmark = pytest.mark.e2e


def portal_module() -> ModuleType:
    path = ROOT / "functions" / "portal" / "app.py"
    spec = importlib.util.spec_from_file_location("portal_app_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class PortalApp:
    """ASGI: one request -> one portal handler invocation (in a worker thread, as Lambda would)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        # One request at a time, as one Lambda container serves them; tests start and end quiet (idle).
        self.lock = threading.Lock()
        self.in_flight = 0

    def idle(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.in_flight:
            assert time.monotonic() < deadline, "the portal is still answering"
            time.sleep(0.01)

    def invoke(self, event: dict[str, Any]) -> Any:
        with self.lock:
            return self.module.lambda_handler(event, LambdaContext("PortalFunction", 256, 30))

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
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        match = ROUTE.pattern.match(scope["path"])
        event = build_http_event(ROUTE, scope["method"], scope["path"], scope["query_string"].decode(), headers,
                                 body, match.groupdict() if match else {})
        self.in_flight += 1
        try:
            result = await anyio.to_thread.run_sync(self.invoke, event)
        finally:
            self.in_flight -= 1
        status, out_headers, out_body = http_response(result)
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": out_body})


@pytest.fixture(scope="module")
def world() -> Iterator[AdminWorld]:
    # DynamoDB Local, not moto's: the export engine commits from several threads, which moto's
    # DynamoDB does not survive.
    try:
        engine = dynamodb_local.start()
    except dynamodb_local.DynamoDBLocalUnavailable as exc:
        pytest.fail(f"DynamoDB Local unavailable: {exc}", pytrace=False)
    client = boto3.client("dynamodb", endpoint_url=engine.endpoint_url, region_name="eu-west-2",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    template.create_tables(client, {"AppTable": "app", "IdempotencyTable": "idempotency"})
    try:
        with mock_aws():
            w = AdminWorld(client, "app")
            w.admin.portal_links = PortalLinks(key=lambda: KEY, return_urls=("https://host.example/app",))
            yield w
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def server(world: AdminWorld) -> Iterator[tuple[str, PortalApp]]:
    import uvicorn

    module = portal_module()
    portal = Portal(admin=world.admin, key=lambda: KEY, clock=world.clock.now, frame_ancestors="https://host.example")
    module.dependencies = lambda: portal  # type: ignore[attr-defined]
    port = dynamodb_local.free_port()
    app = PortalApp(module)
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (scripts/install-chromium.sh)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def base(server: tuple[str, PortalApp]) -> Iterator[str]:
    """The portal's address; the test starts and ends with no request in flight, and puts back
    the outbox a test may point at a host sandbox."""
    url, app = server
    before = app.module.dependencies().admin.products.outbox
    app.idle()
    yield url
    app.idle()
    app.module.dependencies().admin.products.outbox = before


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    yield ctx
    ctx.close()


def tenant(world: AdminWorld, **settings: Any) -> str:
    """A connected tenant of its own with one invoice exported and INV-<n>2 skipped (tax code T9 not
    mapped); numbers of its own too, as every tenant here shares the sandbox's one Sage business."""
    n = next(_names)
    tenant_id = f"garage-{n}"
    world.create_tenant(tenant_id, **settings)
    world.connect(tenant_id)
    world.stage(invoice(n * 10 + 1), tenant_id=tenant_id)
    world.stage(invoice(n * 10 + 2, tax="T9"), tenant_id=tenant_id)
    world.admin.start_export(tenant_id, ExportStart(run="now"), caller="test")
    return tenant_id


def skipped(tenant_id: str) -> str:
    return f"INV-{tenant_id.rsplit('-', 1)[1]}2"


def link(world: AdminWorld, base: str, tenant_id: str, role: str = "admin", **extra: Any) -> str:
    answer = world.call("POST", f"/admin/tenants/{tenant_id}/portal-links", {"role": role, **extra})
    assert answer.status == 201, answer.text
    parts = urlsplit(answer.json["url"])
    return f"{base}{parts.path}?{parts.query}"


def watch(page: Any, base: str) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: None if r.url.startswith(base) else problems.append(f"outside: {r.url}"))
    return problems


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide in a {width[1]} px window"


def submit(page: Any, locator: Any) -> None:
    """Click a button or link and wait for the page it leads to."""
    with page.expect_navigation():
        locator.click()


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"portal-{name}.png"), full_page=True)


# ------------------------------------------------------------------------------------ the pages


@pytest.mark.parametrize("width", [1200, 390])
def test_every_page_opens_through_a_link_and_fits(world, base, browser, width):
    tenant_id = tenant(world, host_callback_url=CALLBACK_URL)
    world.products.outbox = Relay(world.store, HostApp(secrets=["mistyped"])).outbox
    enqueue_delivery(world.products.delivery_outbox(), tenant_id, part_paid())
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    page = ctx.new_page()
    problems = watch(page, base)
    opened = page.goto(link(world, base, tenant_id, return_url="https://host.example/app/settings"))
    assert opened is not None and opened.status == 200
    assert "token" not in page.url and page.url.endswith(f"/portal/t/{tenant_id}")  # the token left the URL
    assert page.locator("#headline").inner_text() == "Needs attention"
    assert page.locator("#sentence").inner_text() == "1 document waits for a fix; everything else is in sync."
    assert page.locator("#count-skipped").inner_text() == "1"
    assert page.locator("#chart g.day").count() == 30
    assert page.locator("#back").get_attribute("href") == "https://host.example/app/settings"
    row = page.locator(f'#failures tr[data-host-id="{skipped(tenant_id)}"]')
    assert "Map tax code T9" in row.inner_text() and row.locator("button.replay").count() == 1
    suffix = "" if width > 600 else "-phone"
    tabs = page.evaluate("[...document.querySelectorAll('nav a')].map(a => a.getBoundingClientRect().right)")
    assert max(tabs) <= width, f"a tab is out of sight: {tabs}"  # wrapped, not hidden in a sideways scroll
    axis = page.evaluate("Math.min(...[...document.querySelectorAll('#chart .axis')]"
                         ".map(t => t.getBoundingClientRect().height))")
    assert axis >= 9, f"the chart's axis labels are {axis} px high"
    no_sideways_scroll(page)
    shot(page, f"overview{suffix}")
    for name in PAGES[1:]:
        answer = page.goto(f"{base}/portal/t/{tenant_id}/{name}")
        assert answer is not None and answer.status == 200, name
        assert page.locator(f'nav a[aria-current="page"][href$="/{name}"]').count() == 1
        no_sideways_scroll(page)
        shot(page, f"{name}{suffix}")
    assert "HTTP 401" in page.locator("#deliveries").inner_text()  # the host's answer, on the deliveries page
    ctx.close()
    assert problems == []


def test_security_headers_and_the_session_cookie(world, base):
    tenant_id = tenant(world)
    opened = httpx.get(link(world, base, tenant_id), follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/portal/t/{tenant_id}"
    cookie = opened.headers["set-cookie"]
    for part in ("sb_portal=", "Path=/portal", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age=3600"):
        assert part in cookie
    page = httpx.get(f"{base}/portal/t/{tenant_id}", cookies={"sb_portal": cookie.split(";")[0].split("=", 1)[1]})
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'none'" in csp and "frame-ancestors https://host.example" in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text


# ------------------------------------------------------------------------------------ changes


def test_change_a_mapping_then_replay_the_skipped_document(world, base, context):
    tenant_id = tenant(world)
    page = context.new_page()
    page.goto(link(world, base, tenant_id))
    submit(page, page.locator(f'#failures tr[data-host-id="{skipped(tenant_id)}"] a', has_text="Map it"))
    assert page.locator("#new-tax-code").input_value() == "T9"  # the fix link fills in the code
    page.locator("#new-tax-sage").select_option("GB_ZERO")
    submit(page, page.locator("#save-mappings"))
    assert page.locator("#notice").inner_text().startswith("Mappings saved")
    assert world.store.tenants.get(tenant_id).settings["tax_mappings"]["T9"] == "GB_ZERO"

    page.goto(f"{base}/portal/t/{tenant_id}/log?number={skipped(tenant_id)}&outcome=skipped")
    assert page.locator("#entries tbody tr").count() == 1
    submit(page, page.locator(f'#entries tr[data-host-id="{skipped(tenant_id)}"] button.replay'))
    assert "succeeded" in page.locator("#notice").inner_text()
    assert world.store.ledger.get(tenant_id, "sales_invoice", skipped(tenant_id)).state.value == "exported"
    page.goto(f"{base}/portal/t/{tenant_id}")
    assert page.locator("#headline").inner_text() == "All good"


def test_a_mapping_sage_refuses_names_its_field_and_saves_nothing(world, base, context):
    tenant_id = tenant(world)
    world.set_tax_rate_visible("GB_LOWER", False)
    try:
        page = context.new_page()
        page.goto(link(world, base, tenant_id, return_url=None))
        page.goto(f"{base}/portal/t/{tenant_id}/mappings?tax_code=T9")
        page.locator("#new-tax-sage").select_option("GB_LOWER")
        answer_text = ""
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.locator("#save-mappings").click()
        assert answer.value.status == 422
        answer_text = page.locator("p.error").first.inner_text()
        assert answer_text, "the refused mapping names its problem"
        assert "T9" not in world.store.tenants.get(tenant_id).settings["tax_mappings"]
    finally:
        world.set_tax_rate_visible("GB_LOWER", True)


def test_change_settings_with_per_field_errors(world, base, context):
    tenant_id = tenant(world)
    page = context.new_page()
    page.goto(link(world, base, tenant_id))
    page.goto(f"{base}/portal/t/{tenant_id}/settings")
    page.locator("#trigger_statuses").fill("pending_payment, draft")  # draft never exports by default
    emails = page.locator("#failure_emails").count() == 1  # the failure digest's list (issue 18)
    if emails:
        page.locator("#failure_emails").fill("accounts@garage.example\nnot-an-address")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator("#save-settings").click()
    assert answer.value.status == 422
    assert "draft is not an exportable status" in page.locator("#error-trigger_statuses").inner_text()
    if emails:
        assert "not an email address" in page.locator("#error-failure_emails").inner_text()
        page.locator("#failure_emails").fill("accounts@garage.example")
    before = world.store.tenants.get(tenant_id)
    assert "customer_date_basis" not in before.settings  # nothing was saved

    page.locator("#trigger_statuses").fill("pending_payment")
    page.locator("#customer_date_basis").select_option("document")
    page.locator('input[name=export_kinds][value="purchase_invoice"]').uncheck()
    submit(page, page.locator("#save-settings"))
    assert page.locator("#notice").inner_text() == "Settings saved."
    saved = world.store.tenants.get(tenant_id)
    assert saved.version == before.version + 1 and saved.settings["customer_date_basis"] == "document"
    assert "purchase_invoice" not in saved.settings["export_kinds"]
    assert saved.settings["tax_mappings"]["S"] == "GB_STANDARD"  # the rest is kept
    if emails:
        assert saved.settings["failure_emails"] == ["accounts@garage.example"]


def part_paid() -> InvoicePartPaid:
    return InvoicePartPaid(invoice=DocumentLink(kind="sales_invoice", host_id="INV-1", sage_id="s-1", number="INV-1"),
                           total_amount=Decimal("120.00"), outstanding_amount=Decimal("70.00"))


def test_resend_a_delivery_the_host_refused(world, base, context):
    tenant_id = tenant(world, host_callback_url=CALLBACK_URL)
    host_app = HostApp(secrets=["a-secret-the-host-mistyped"])
    world.products.outbox = Relay(world.store, host_app).outbox
    queued = enqueue_delivery(world.products.delivery_outbox(), tenant_id, part_paid())
    page = context.new_page()
    page.goto(link(world, base, tenant_id))
    page.goto(f"{base}/portal/t/{tenant_id}/deliveries?state=failed")
    row = page.locator(f'#deliveries tr[data-event-id="{queued.event_id}"]')
    assert "HTTP 401" in row.locator(".answer").inner_text()
    host_app.secrets = [SECRET]  # the host fixes its secret
    submit(page, row.locator("button.resend"))
    assert page.locator("#notice").inner_text() == "Queued to be sent to your app again."
    assert host_app.delivered_ids() == [queued.event_id]
    assert page.locator(f'#deliveries tr[data-event-id="{queued.event_id}"]').get_attribute("data-state") == \
        "delivered"


# ------------------------------------------------------------------------------------ the walls


def csrf_of(page: Any) -> str:
    value = page.locator("input[name=csrf]").first.get_attribute("value")
    assert value
    return str(value)


def test_tenant_a_cannot_read_or_change_tenant_b(world, base, context):
    a, b = tenant(world), tenant(world)
    page = context.new_page()
    page.goto(link(world, base, a))
    page.goto(f"{base}/portal/t/{a}/settings")
    token = csrf_of(page)
    for name in ("", "/log", "/mappings", "/settings", "/deliveries", "/consent"):
        answer = page.goto(f"{base}/portal/t/{b}{name}")
        assert answer is not None and answer.status == 404, name
        assert b not in page.content().replace(f"/portal/t/{b}", "")
    before = world.store.tenants.get(b).version
    changed = context.request.post(f"{base}/portal/t/{b}/settings",
                                   form={"csrf": token, "customer_date_basis": "document", "version": str(before)})
    assert changed.status == 404
    replayed = context.request.post(f"{base}/portal/t/{b}/replay", form={"csrf": token})
    assert replayed.status == 404
    assert world.store.tenants.get(b).version == before
    assert world.store.ledger.get(b, "sales_invoice", skipped(b)).state.value == "skipped"


def test_expired_and_tampered_links_are_refused(world, base, context):
    tenant_id = tenant(world)
    page = context.new_page()
    good = link(world, base, tenant_id, minutes=1)
    payload, _mac = good.split("token=")[1].split(".")
    tampered = good.replace(payload, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1])
    answer = page.goto(tampered)
    assert answer is not None and answer.status == 403
    assert page.locator("h1").inner_text() == "This link is not valid"
    world.advance(minutes=2)
    answer = page.goto(good)
    assert answer is not None and answer.status == 403
    assert page.locator("h1").inner_text() == "This link has expired"
    assert context.cookies() == []
    # Nor does a link's token pass for a session cookie.
    context.add_cookies([{"name": "sb_portal", "value": good.split("token=")[1], "url": base + "/portal"}])
    assert page.goto(f"{base}/portal/t/{tenant_id}").status == 401  # type: ignore[union-attr]


def test_a_change_without_the_csrf_token_is_refused(world, base, context):
    tenant_id = tenant(world)
    page = context.new_page()
    page.goto(link(world, base, tenant_id))
    before = world.store.tenants.get(tenant_id).version
    answer = context.request.post(f"{base}/portal/t/{tenant_id}/settings", form={"customer_date_basis": "document"})
    assert answer.status == 403 and "This change was refused" in answer.text()
    wrong = context.request.post(f"{base}/portal/t/{tenant_id}/replay", form={"csrf": "forged"})
    assert wrong.status == 403
    assert world.store.tenants.get(tenant_id).version == before
    assert world.store.ledger.get(tenant_id, "sales_invoice", skipped(tenant_id)).state.value == "skipped"


def test_a_viewer_sees_but_cannot_change(world, base, context):
    tenant_id = tenant(world)
    page = context.new_page()
    page.goto(link(world, base, tenant_id, role="viewer"))
    assert page.locator("#role").inner_text() == "Read only"
    assert page.locator("button.replay").count() == 0
    page.goto(f"{base}/portal/t/{tenant_id}/settings")
    assert page.locator("#save-settings").count() == 0
    token = csrf_of(page)
    answer = context.request.post(f"{base}/portal/t/{tenant_id}/replay", form={"csrf": token})
    assert answer.status == 403 and "You can look but not change" in answer.text()
    assert context.request.get(f"{base}/portal/t/{tenant_id}/consent").status == 403
    assert world.store.ledger.get(tenant_id, "sales_invoice", skipped(tenant_id)).state.value == "skipped"
