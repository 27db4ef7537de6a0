"""`make demo`: the main job end to end on the local stack, no AWS account and no Docker.

A garage-management app (the host sandbox) gets a tenant, the tenant links its Sage business
through OAuth, the app sends signed webhooks, Sage Bridge exports every kind of document to Sage
(the Sage Accounting sandbox) exactly once, the accountant records payments in Sage, and the
payments come back to the app as signed deliveries. Each step goes through the same doors a real
deployment has: the HTTP API, EventBridge schedules, SQS queues and the Lambda handlers.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from local import dynamodb_local
from local.stack import LocalStack

TENANT = "demo-garage"
INTACCT_TENANT = "demo-field-service"
SAGE200_TENANT = "demo-motors"
REGIONAL_TENANT = "demo-loc8-au"  # a Loc8-style field-service tenant in Australia (the regional API)
BUSINESS = "Demo Garage Ltd"  # of the two the stack's Sage user can open, the one the demo links


class _Page(HTMLParser):
    """The forms (action, fields, submit buttons) and links of an HTML page, as a browser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.links: list[tuple[str, str]] = []  # (text, href)
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                               "fields": {}, "buttons": []})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))
        elif tag == "a":
            self._href, self._text = a.get("href", ""), []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append(("".join(self._text).strip(), self._href))
            self._href = None


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def sign_in_to_sage(link: str, *, business: str, decision: str = "allow",
                    seen: list[str] | None = None) -> httpx.Response:
    """Open a connect link as a person in a browser would: press Allow (or Deny) on Sage's consent
    page by submitting the page's own form, then, on Sage Bridge's business picker, follow the link
    whose label starts with `business`. Returns the last page; `seen` collects the pages' titles."""
    browser = httpx.Client(follow_redirects=True, timeout=60)
    page = browser.get(link)
    for _ in range(4):  # consent, picker, result: a real Sage may add steps, the sandbox does not
        title = re.search(r"<title>(.*?)</title>", page.text, re.S)
        if seen is not None:
            seen.append(html.unescape(title.group(1)).strip() if title else str(page.url))
        found = parse_page(page.text)
        consent = next((f for f in found.forms if ("decision", decision) in f["buttons"]), None)
        if consent is not None:
            target = urljoin(str(page.url), consent["action"])
            page = browser.post(target, data={**consent["fields"], "decision": decision})
            continue
        choice = next((href for text, href in found.links if text.startswith(business)), None)
        if choice is not None and "pick=" in choice:
            page = browser.get(urljoin(str(page.url), choice))
            continue
        return page
    return page


def say(step: str) -> None:
    print(f"\n== {step}")


def show(line: str) -> None:
    print(f"   {line}")


class Demo:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.api = httpx.Client(base_url=stack.outputs["api_url"], timeout=60)
        self.sage = stack.sandboxes["sage_accounting"]
        self.host = stack.sandboxes["host_app"]

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.api.request(method, f"/admin/tenants{path}", **kwargs)
        if response.status_code >= 400:
            raise SystemExit(f"admin API {method} {path} answered {response.status_code}: {response.text}")
        return response.json()

    # -- the steps --------------------------------------------------------------------------------
    def local_stack(self) -> None:
        out = self.stack.outputs
        say("Local stack")
        show(f"HTTP API {out['api_url']} (routes from template.yaml), DynamoDB: {self.stack.dynamodb_engine}")
        for name, url in out["sandboxes"].items():
            show(f"sandbox {name:<16} {url}")

    def create_tenant(self) -> None:
        say("Operator creates the tenant (POST /admin/tenants)")
        created = self.api.post("/admin/tenants", json={"tenant_id": TENANT, "settings": {
            "provider": "sage_accounting",
            "host_callback_url": f"{self.stack.outputs['sandboxes']['host_app']}/callback",
            "trigger_statuses": ["pending_payment"],
        }})
        if created.status_code == 409:
            show("tenant exists already (a previous demo on this stack)")
            return
        if created.status_code != 201:
            raise SystemExit(f"admin API POST /admin/tenants answered {created.status_code}: {created.text}")
        secret = created.json()["webhook_secret"]
        self.host.secrets = [secret]  # the host app stores the secret it was handed once
        show(f"tenant {TENANT!r} created; its webhook secret went to the host app")

    def connect(self) -> None:
        say("Tenant admin links their Sage business (OAuth through the Sage sandbox)")
        link = self.admin("GET", f"/{TENANT}/connect-url")["url"]
        show(f"connect link: {link.split('?')[0]}?expires=...&sig=...")
        pages: list[str] = []
        page = sign_in_to_sage(link, business=BUSINESS, seen=pages)
        show("browser: " + " -> ".join(f"{t!r}" for t in pages))
        title = "Link to Sage established successfully"
        if title not in page.text:
            raise SystemExit(f"the connect flow did not succeed: {page.status_code} {page.text[:300]}")
        connection = self.admin("GET", f"/{TENANT}/connection")
        show(f"page says: {title!r}; connection: {connection['summary']} ({connection.get('business_name')})")

    def map_codes(self) -> None:
        say("Operator maps host tax and ledger codes to the Sage business (admin API)")
        rates = self.admin("GET", f"/{TENANT}/sage/tax-rates")
        accounts = self.admin("GET", f"/{TENANT}/sage/ledger-accounts")
        banks = self.admin("GET", f"/{TENANT}/sage/bank-accounts")
        standard = next(r for r in rates if r["name"].lower().startswith("standard"))
        sales = next(a for a in accounts if a.get("code") == "4000")
        purchases = next(a for a in accounts if a.get("code") == "5000")
        self.admin("PATCH", f"/{TENANT}/settings", json={"changes": {
            "tax_mappings": {"S20": standard["id"]},
            "default_sales_ledger_account_id": sales["id"],
            "default_purchase_ledger_account_id": purchases["id"],
            "receipt_bank_account_id": banks[0]["id"],
        }})
        show(f"S20 -> {standard['name']} ({standard.get('code')}%); sales -> 4000, purchases -> 5000, "
             f"receipts -> {banks[0]['name']}")
        health = self.admin("GET", f"/{TENANT}/mappings/health")
        show(f"mapping health: {'ok' if health['ok'] else health['problems']} "
             f"({health['mappings_checked']} mappings checked against Sage)")

    def send_webhooks(self) -> None:
        from local.sandboxes.host_app import WebhookSender
        from local.sandboxes.host_app.fixtures import example_event

        say("Host app sends signed webhooks (POST /webhooks/{tenant})")
        sender = WebhookSender(TENANT, self.host.secrets, base_url=self.stack.outputs["api_url"])
        events = [
            example_event("customer.upserted"),
            example_event("customer.upserted", event_id="evt_c2", host_id="CUST-1002", name="Grace Hopper",
                          company="Compilers Ltd", email="grace@example.com"),
            example_event("vendor.upserted"),
            # Sent: exportable, waits for the schedule; pending_payment: exported at once (trigger
            # status). A draft would never be exported (not an exportable status).
            example_event("invoice.upserted", event_id="evt_i1", status="sent"),
            example_event("invoice.upserted", event_id="evt_i2", host_id="INV-1002", number="INV-1002",
                          party_id="CUST-1002", reference="Job 5522"),
            example_event("invoice.upserted", event_id="evt_i3", host_id="INV-1003", number="INV-1003",
                          party_id="CUST-1002", reference="Job 5523", status="sent",
                          lines=[{"description": "Diagnostics", "quantity": "1", "unit_price": "50.00",
                                  "tax_code": "T9"}],
                          totals={"net": "50.00", "tax": "10.00", "total": "60.00"}),
            example_event("credit_note.upserted", status="sent"),
            example_event("purchase_invoice.upserted"),
            example_event("purchase_credit_note.upserted"),
            example_event("payment.recorded"),
            example_event("refund.recorded"),
        ]
        replies = Counter()
        for event in events:
            reply = sender.send(event)
            replies[reply.status] += 1
            if reply.status != 202:
                show(f"{event['id']}: {reply.status} {reply.body}")
        duplicate = sender.send(events[0])
        show(f"{len(events)} events: " + ", ".join(f"{n} x {code}" for code, n in sorted(replies.items()))
             + f"; a duplicate delivery of {events[0]['id']} -> {duplicate.status} (processed once)")
        handled = self.stack.drain_queues()
        show(f"INV-1002 reached 'pending_payment' -> export job queued and run at once ({handled} queue messages)")
        self.print_log(limit=3)

    def scheduled_export(self) -> None:
        say("EventBridge Scheduler fires the export (ExportSchedulerFunction -> SQS -> ExportWorkerFunction)")
        schedule = next(s for s in self.stack.schedules() if s.function == "ExportSchedulerFunction")
        result = self.stack.fire(schedule)
        show(f"scheduler: {json.dumps(result, default=str)[:200]}")
        self.stack.drain_queues()
        self.print_log(limit=20)
        show("Sage now holds: " + ", ".join(
            f"{n} {collection}" for collection in ("contacts", "sales_invoices", "sales_credit_notes",
                                                   "purchase_invoices", "purchase_credit_notes", "contact_payments")
            if (n := self.sage.created_count(collection))))

    def export_again(self) -> None:
        say("The schedule fires again: nothing new, nothing re-sent")
        before = sum(self.sage.created_count(c) for c in ("sales_invoices", "contacts", "contact_payments"))
        self.stack.fire(next(s for s in self.stack.schedules() if s.function == "ExportSchedulerFunction"))
        self.stack.drain_queues()
        after = sum(self.sage.created_count(c) for c in ("sales_invoices", "contacts", "contact_payments"))
        show(f"records created in Sage by this run: {after - before}")

    def payments_back(self) -> None:
        say("The accountant records payments in Sage; the payment poller brings them back to the host app "
            "(PaymentPollerFunction -> SQS job per tenant -> PaymentPollWorkerFunction)")
        log = self.admin("GET", f"/{TENANT}/log", params={"kind": "sales_invoice", "outcome": "created"})
        exported = {e["host_id"]: e["sage_id"] for e in log["entries"] if e.get("sage_id")}
        accountant = self.sage.accountant()
        if "INV-1002" in exported:
            accountant.record_customer_payment(exported["INV-1002"], "50.00", reference="BACS part")
            show("INV-1002: part payment of 50.00 recorded in Sage")
        delivered_before = len(self.host.delivered())
        schedule = next(s for s in self.stack.schedules() if s.function == "PaymentPollerFunction")
        self.stack.fire(schedule)
        self.stack.drain_queues()
        self.stack.fire(schedule)  # overlapping window: nothing is delivered twice
        self.stack.drain_queues()
        for received in self.host.delivered()[delivered_before:]:
            data = (received.event or {}).get("data", {})
            document = data.get("invoice") or data.get("credit_note") or {}
            money = data.get("payment") or data.get("refund") or {}
            detail = " ".join(f"{k}={v}" for k, v in (("document", document.get("host_id")),
                                                      ("amount", money.get("amount")),
                                                      ("outstanding", data.get("outstanding_amount"))) if v)
            show(f"host app received {received.event_type:<26} {detail}")

    def other_products(self) -> None:
        """The same doors with the other two products: Sage Intacct and Sage 200."""
        from local.sandboxes import sage_intacct as si
        from local.sandboxes.host_app import WebhookSender
        from local.sandboxes.host_app.fixtures import example_event

        callback = f"{self.stack.outputs['sandboxes']['host_app']}/callback"
        intacct = self.stack.sandboxes["sage_intacct"]
        sage200 = self.stack.sandboxes["sage200"]
        scenes = [
            (INTACCT_TENANT, "Sage Intacct", {
                "provider": "sage_intacct", "host_callback_url": callback,
                "tax_mappings": {"S20": "Sales Tax Standard"}, "default_sales_ledger_account_id": "4000",
                "default_purchase_ledger_account_id": "5000", "receipt_bank_account_id": "BOA-OPS",
                # Input VAT on bills goes to the purchase tax detail (its own GL account), not the sales one.
                "intacct": {"purchase_tax_mappings": {"S20": "Purchase Tax Standard"}}}),
            (SAGE200_TENANT, "Sage 200", {
                "provider": "sage200", "host_callback_url": callback,
                "tax_mappings": {"S20": sage200.ids["T1"]}, "default_sales_ledger_account_id": "4000",
                "default_purchase_ledger_account_id": "5000", "receipt_bank_account_id": sage200.ids["bank"]}),
        ]
        for tenant_id, product, settings in scenes:
            say(f"{product}: a tenant on {product} gets the same export and payments back")
            created = self.api.post("/admin/tenants", json={"tenant_id": tenant_id, "settings": settings})
            if created.status_code != 201:
                raise SystemExit(f"admin API POST /admin/tenants answered {created.status_code}: {created.text}")
            secret = created.json()["webhook_secret"]
            self.host.secrets.append(secret)
            if product == "Sage Intacct":
                login = {"company_id": si.DEFAULT_COMPANY, "user_id": si.DEFAULT_USER,
                         "user_password": si.DEFAULT_PASSWORD}
                connection = self.admin("POST", f"/{tenant_id}/intacct-connection", json=login)
                show(f"Intacct login verified with the gateway and kept encrypted: {connection['summary']}")
            else:
                link = self.admin("GET", f"/{tenant_id}/connect-url")["url"]
                page = sign_in_to_sage(link, business=BUSINESS)
                assert "Link to Sage established successfully" in page.text, page.text[:300]
                connection = self.admin("GET", f"/{tenant_id}/connection")
                show(f"Sage ID sign-in through the same connect link: {connection['summary']}")
            sender = WebhookSender(tenant_id, secret, base_url=self.stack.outputs["api_url"])
            # Sage Bridge reads the business's base currency from Sage: the Intacct demo company trades in USD.
            currency = "USD" if product == "Sage Intacct" else "GBP"
            for event in (example_event("customer.upserted", currency=currency),
                          example_event("invoice.upserted", currency=currency),
                          example_event("credit_note.upserted", currency=currency),
                          example_event("vendor.upserted", currency=currency),
                          example_event("purchase_invoice.upserted", currency=currency),
                          example_event("refund.recorded", currency=currency)):
                assert sender.send(event).status == 202, event["type"]
            self.stack.drain_queues()  # the invoice and credit note reached a trigger status: exported at once
            # The purchase side and the refund (not at a trigger status) now, as the next scheduled run would.
            self.admin("POST", f"/{tenant_id}/exports",
                       json={"run": "now", "kinds": ["vendor", "purchase_invoice", "customer_refund"]})
            log = self.admin("GET", f"/{tenant_id}/log")["entries"]
            show("exported: " + ", ".join(f"{e['kind']} {e['host_id']} {e['outcome']}"
                                          + (f" ({e['reason']})" if e["outcome"] in ("skipped", "failed") else "")
                                          for e in log))
            invoice = next(e["sage_id"] for e in log if e["kind"] == "sales_invoice")
            if product == "Sage Intacct":
                intacct.accountant().record_payment(invoice, "50.00")
            else:
                sage200.accountant().record_receipt(invoice, "50.00")
            before = len(self.host.delivered())
            self.stack.fire(next(s for s in self.stack.schedules() if s.function == "PaymentPollerFunction"))
            self.stack.drain_queues()
            for received in self.host.delivered()[before:]:
                data = (received.event or {}).get("data", {})
                document = data.get("invoice") or data.get("credit_note") or data.get("document") or data
                reasons = "; ".join(r["message"] for r in data.get("reasons", []))  # document.skipped
                detail = (f"outstanding={data['outstanding_amount']}" if "outstanding_amount" in data
                          else f"{data['outcome']} as Sage id {data['sage_id']}" if "sage_id" in data else reasons)
                show(f"host app received {received.event_type:<26} {document.get('kind')} {document.get('host_id')} "
                     f"{detail}")

    def regional(self) -> None:
        """Loc8's flow on the regional API (AU): a draft stays home, Pending Payment goes at once, the
        accountant's receipt in Sage comes back as Paid."""
        from local.sandboxes import sage_regional as sr
        from local.sandboxes.host_app import WebhookSender
        from local.sandboxes.host_app.fixtures import example_event

        say("Sage Business Cloud Accounting (Australia, regional API v2.0.0): a Loc8-style field-service tenant")
        regional = self.stack.sandboxes["sage_regional"]
        books = regional.accountant()
        created = self.api.post("/admin/tenants", json={"tenant_id": REGIONAL_TENANT, "settings": {
            "provider": "sage_regional", "host_callback_url": f"{self.stack.outputs['sandboxes']['host_app']}/callback",
            "trigger_statuses": ["pending_payment"], "tax_mappings": {"GST": str(books.ids["tax_standard"])},
            "default_sales_ledger_account_id": str(books.ids["account_sales"]),
            "default_purchase_ledger_account_id": str(books.ids["account_purchases"]),
            "receipt_bank_account_id": str(books.ids["bank"])}})
        if created.status_code != 201:
            raise SystemExit(f"admin API POST /admin/tenants answered {created.status_code}: {created.text}")
        secret = created.json()["webhook_secret"]
        self.host.secrets.append(secret)
        login = {"company_id": "AU", "user_id": sr.DEFAULT_USERNAME, "user_password": sr.DEFAULT_PASSWORD}
        picker = self.api.post(f"/admin/tenants/{REGIONAL_TENANT}/login-connection", json=login)
        show(f"login sent with region AU only -> {picker.status_code}: {picker.json()['message']}")
        login["company_id"] = f"AU:{books.company_id}"
        connection = self.admin("POST", f"/{REGIONAL_TENANT}/login-connection", json=login)
        show(f"company {login['company_id']}: login verified with Company/Get and kept encrypted: "
             f"{connection['summary']}")

        sender = WebhookSender(REGIONAL_TENANT, secret, base_url=self.stack.outputs["api_url"])
        gst = [{"description": "Site call-out", "quantity": "1", "unit_price": "65.00", "tax_code": "GST"},
               {"description": "Smoke alarm", "quantity": "2", "unit_price": "17.50", "tax_code": "GST"}]
        totals = {"net": "100.00", "tax": "10.00", "total": "110.00"}
        address = {"lines": ["1 George St"], "city": "Sydney", "postcode": "2000", "country_code": "AU"}
        for event in (example_event("customer.upserted", event_id="evt_au_c1", currency="AUD", address=address),
                      example_event("invoice.upserted", event_id="evt_au_i1", host_id="JOB-2001", number="JOB-2001",
                                    status="draft", currency="AUD", lines=gst, totals=totals),
                      example_event("invoice.upserted", event_id="evt_au_i2", host_id="JOB-2002", number="JOB-2002",
                                    status="pending_payment", currency="AUD", lines=gst, totals=totals)):
            assert sender.send(event).status == 202, event["type"]
        self.stack.drain_queues()
        log = self.admin("GET", f"/{REGIONAL_TENANT}/log")["entries"]
        show("exported at once: " + ", ".join(f"{e['kind']} {e['host_id']} {e['outcome']} (Sage ID {e['sage_id']})"
                                              for e in log if e.get("sage_id")))
        held = {r["ExternalReference"]: r for r in books.list("TaxInvoice")}
        show(f"JOB-2001 (draft) not exported: Sage holds {len(held)} tax invoice(s); "
             + ", ".join(f"{r['DocumentNumber']} total {r['Total']} due {r['AmountDue']}" for r in held.values()))

        invoice = next(e["sage_id"] for e in log if e["kind"] == "sales_invoice" and e["host_id"] == "JOB-2002")
        receipt = books.record_receipt(int(invoice), reference="EFT Loc8")
        show(f"the accountant records receipt {receipt['ID']} of {receipt['Total']} in Sage, allocated to it")
        before = len(self.host.delivered())
        self.stack.fire(next(s for s in self.stack.schedules() if s.function == "PaymentPollerFunction"))
        self.stack.drain_queues()
        for received in self.host.delivered()[before:]:
            data = (received.event or {}).get("data", {})
            document = data.get("invoice") or {}
            if document.get("host_id") != "JOB-2002":
                continue
            detail = f"outstanding={data['outstanding_amount']}" if "outstanding_amount" in data else ""
            show(f"host app received {received.event_type:<26} {document.get('kind')} JOB-2002 {detail}")
        status = self.admin("GET", f"/{REGIONAL_TENANT}/status")
        show(f"status: {status['health']}; {status['connection']['summary']}; last successful poll "
             f"{status['last_successful_poll']}; Sage served {regional.request_count()} API requests, "
             f"{books.throttled()} over its limit")

    def status(self) -> None:
        say("Tenant status through the operators' CLI (sagebridge status)")
        cli = Path(sys.executable).with_name("sagebridge")
        for tenant_id in (TENANT, INTACCT_TENANT, SAGE200_TENANT):
            done = subprocess.run([str(cli), "--api-url", self.stack.outputs["api_url"], "status", tenant_id],
                                  capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "100"})
            print("   $ sagebridge status " + tenant_id + f"   (exit {done.returncode})")
            print("   " + done.stdout.strip().replace("\n", "\n   "))
        show(f"status page: {self.stack.outputs['api_url']}/admin/tenants/{TENANT}/status.html")

    def print_log(self, limit: int) -> None:
        log = self.admin("GET", f"/{TENANT}/log", params={"limit": limit})
        for entry in log["entries"]:
            settled = entry["outcome"] in ("created", "linked")
            why = f" - {entry['reason']}" if entry.get("reason") and not settled else ""
            show(f"  {entry['outcome']:<9} {entry['kind']:<22} {entry['host_id']:<10} "
                 f"{(entry.get('sage_id') or '')[:12]:<12}{why}")


def portal_until_interrupted(stack: LocalStack) -> None:
    """The demo tenant's portal link (docs/portal.md); with a person at a terminal, the stack stays
    up for it until Ctrl-C. In CI (CI=true, or no terminal) the link is printed and the demo ends."""
    say("The tenant's own portal (what the host app links its users to)")
    answer = httpx.post(f"{stack.outputs['api_url']}/admin/tenants/{TENANT}/portal-links", timeout=60,
                        json={"role": "admin", "minutes": 60})
    answer.raise_for_status()
    show(f"portal link (admin; opens once, within 60 minutes): {answer.json()['url']}")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") or not sys.stdin.isatty():
        return
    show("the stack stays up for the portal: press Ctrl-C to stop")
    try:
        while True:
            stack.drain_queues()  # what the portal queues (export now, resend) runs as the workers would
            time.sleep(1)
    except KeyboardInterrupt:
        print()


def _terminated(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__)
    parser.add_argument("--port", type=int, default=3000, help="HTTP API port (a free one if 3000 is taken)")
    parser.add_argument("--verbose", action="store_true", help="show the functions' JSON logs and metric lines")
    args = parser.parse_args(argv)
    port = args.port
    try:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
    except OSError:
        port = dynamodb_local.free_port()
        print(f"port {args.port} is taken; the demo's API listens on {port}")
    stack = LocalStack(api_port=port, background_pollers=False, quiet=not args.verbose)
    signal.signal(signal.SIGTERM, _terminated)  # stop the stack (DynamoDB Local's java) on SIGTERM as on Ctrl-C
    try:
        stack.start()
    except (dynamodb_local.DynamoDBLocalUnavailable, FileNotFoundError, RuntimeError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    try:
        demo = Demo(stack)
        for step in (demo.local_stack, demo.create_tenant, demo.connect, demo.map_codes, demo.send_webhooks,
                     demo.scheduled_export, demo.export_again, demo.payments_back, demo.other_products, demo.regional,
                     demo.status):
            step()
        portal_until_interrupted(stack)
    finally:
        stack.stop()
    print("\nDemo finished.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
