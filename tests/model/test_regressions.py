"""Failing examples the model found, kept as plain, readable tests (one sequence each) against the
real system on the model suite's wiring. `test_defect_NN_*` are issue 13's numbered defects; while
a defect is still open on this branch (machine.OPEN_DEFECTS) its test is an expected failure, so a
fix that lands turns it into an unexpected pass until the number is taken off the list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.model.machine import open_defect
from tests.model.system import System, Tenant, now_iso


def known_defect(number: int) -> pytest.MarkDecorator:
    return pytest.mark.xfail(open_defect(number), reason=f"issue 13 defect {number} is not fixed on this branch",
                             strict=True)


@pytest.fixture
def tenant(system: System) -> Iterator[Tenant]:
    tenant = system.new_tenant(identify_customer_by="name")
    tenant.connect()
    yield tenant
    system.sandbox.faults.clear()
    tenant.disable()


class Host:
    """The host app's side, event by event, with a clock that moves a second per event."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.n = 0

    def event(self, event_type: str, data: dict[str, Any], *, event_id: str | None = None,
              occurred_at: str | None = None) -> dict[str, Any]:
        self.n += 1
        if occurred_at is None:
            self.tenant.system.clock.advance(seconds=1)
            occurred_at = now_iso(self.tenant.system.clock)
        return {"id": event_id or f"evt_{self.n}", "type": event_type, "occurred_at": occurred_at, "data": data}

    def send(self, event: dict[str, Any]) -> Any:
        return self.tenant.send(event)


def invoice(n: int = 1, *, status: str = "pending_payment", price: str = "100.00", days_back: int = 0,
            today: Any = None, version: int | None = None, **fields: Any) -> dict[str, Any]:
    net = price
    tax = f"{(float(price) * 0.2):.2f}"
    data = {
        "host_id": f"INV-{n}", "number": f"INV-{n:05d}", "party_id": "C1",
        "party": {"host_id": "C1", "name": "Customer C1 Ltd", "email": "ap.c1@example.com", "currency": "GBP"},
        "document_date": (today - timedelta(days=days_back)).isoformat(), "currency": "GBP", "status": status,
        "lines": [{"description": "Labour", "quantity": "1", "unit_price": price, "tax_code": "S"}],
        "totals": {"net": net, "tax": tax, "total": f"{float(net) + float(tax):.2f}"}, **fields,
    }
    if version is not None:
        data["version"] = version
    return data


def sage_invoices(tenant: Tenant) -> dict[str, dict[str, Any]]:
    return {r["reference"]: r for r in tenant.accountant.list("sales_invoices")}


@known_defect(1)
def test_defect_01_a_cancelled_invoice_never_reaches_sage_on_a_scheduled_run(tenant: Tenant) -> None:
    host = Host(tenant)
    reply = host.send(host.event("invoice.upserted", invoice(3, status="cancelled", today=tenant.system.clock.today())))
    assert reply.status == 202 and reply.body["export_queued"] is False
    tenant.scheduled_run()
    assert "INV-00003" not in sage_invoices(tenant)


@known_defect(1)
def test_defect_01_a_draft_invoice_never_reaches_sage_on_a_scheduled_run(tenant: Tenant) -> None:
    host = Host(tenant)
    host.send(host.event("invoice.upserted", invoice(1, status="draft", today=tenant.system.clock.today())))
    tenant.scheduled_run()
    assert "INV-00001" not in sage_invoices(tenant)


@known_defect(3)
def test_defect_03_an_event_id_reused_with_a_different_body_is_refused(tenant: Tenant) -> None:
    host = Host(tenant)
    today = tenant.system.clock.today()
    first = host.event("invoice.upserted", invoice(1, status="cancelled", today=today), event_id="evt_same")
    assert host.send(first).status == 202
    second = host.event("invoice.upserted", invoice(1, status="pending_payment", price="250.00", today=today),
                        event_id="evt_same")
    reply = host.send(second)
    assert reply.status in (409, 422), reply.body
    tenant.run_trigger_jobs()
    tenant.scheduled_run()
    assert sage_invoices(tenant).get("INV-00001", {}).get("total_amount") != 300  # the second body was not stored
