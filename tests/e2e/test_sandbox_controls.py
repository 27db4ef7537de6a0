"""What a person can try in the running local stack, done here over HTTP only: connect through Sage's
consent page and Sage Bridge's business picker (the stack's Sage user has two businesses), move the
sandboxes' clock with their control endpoint and watch tokens expire and be refreshed, and see the
Sage 200 sign-in warnings 14 and 3 days before the grant ends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.demo import sign_in_to_sage
from local.sandboxes.host_app import WebhookSender
from local.sandboxes.host_app.fixtures import example_event
from local.stack import STACK_BUSINESSES

pytestmark = pytest.mark.e2e

SECOND = STACK_BUSINESSES[1]


class Operator:
    """The admin API as an operator uses it (the stack signs every caller in as the operator)."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.api = httpx.Client(base_url=stack.outputs["api_url"], timeout=60)

    def __call__(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.api.request(method, f"/admin/tenants{path}", **kwargs)
        assert answer.status_code < 400, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json()

    def create_tenant(self, tenant_id: str, provider: str = "sage_accounting") -> str:
        callback = f"{self.stack.outputs['sandboxes']['host_app']}/callback"
        created = self.api.post("/admin/tenants", json={"tenant_id": tenant_id, "settings": {
            "provider": provider, "host_callback_url": callback, "trigger_statuses": ["pending_payment"]}})
        assert created.status_code == 201, created.text
        return str(created.json()["webhook_secret"])


@pytest.fixture(scope="module")
def operator(stack: Any) -> Operator:
    return Operator(stack)


def test_connecting_shows_sages_consent_page_then_the_business_picker_and_links_the_chosen_business(
        stack, operator):
    secret = operator.create_tenant("picker-garage")
    link = operator("GET", "/picker-garage/connect-url")["url"]
    pages: list[str] = []
    page = sign_in_to_sage(link, business=SECOND, seen=pages)
    assert pages == ["Sage - Allow access", "Choose your Sage business", "Link to Sage established successfully"]
    assert SECOND in page.text
    connection = operator("GET", "/picker-garage/connection")
    assert connection["state"] == "connected" and connection["business_name"] == SECOND

    # The tenant's documents land in the business it picked, not the user's first one.
    rates = operator("GET", "/picker-garage/sage/tax-rates")
    accounts = operator("GET", "/picker-garage/sage/ledger-accounts")
    standard = next(r for r in rates if r["name"].lower().startswith("standard"))
    sales = next(a for a in accounts if a.get("code") == "4000")
    operator("PATCH", "/picker-garage/settings", json={"changes": {
        "tax_mappings": {"S20": standard["id"]}, "default_sales_ledger_account_id": sales["id"]}})
    sender = WebhookSender("picker-garage", secret, base_url=stack.outputs["api_url"])
    assert sender.send(example_event("customer.upserted")).status == 202
    assert sender.send(example_event("invoice.upserted")).status == 202  # pending_payment: exported at once
    stack.drain_queues()
    log = operator("GET", "/picker-garage/log", params={"kind": "sales_invoice"})["entries"]
    assert [(e["host_id"], e["outcome"]) for e in log] == [("INV-1001", "created")]
    sage = stack.sandboxes["sage_accounting"]
    chosen = next(b.id for b in sage.businesses.values() if b.name == SECOND)
    assert sage.business(chosen).collections["sales_invoices"].get(log[0]["sage_id"]) is not None


def test_denying_on_sages_consent_page_connects_nothing(operator):
    operator.create_tenant("denied-garage")
    link = operator("GET", "/denied-garage/connect-url")["url"]
    pages: list[str] = []
    page = sign_in_to_sage(link, business=SECOND, decision="deny", seen=pages)
    assert pages == ["Sage - Allow access", "Sage was not connected"]
    assert "You chose not to give access to Sage" in page.text
    assert operator("GET", "/denied-garage/connection")["state"] == "not_connected"
