"""Figures 1-3: the export worker against its floor, and what it costs Sage and DynamoDB per document.

Floor: the very Sage payloads the engine would send (taken from a dry run, JSON-encoded up front),
POSTed by a bare httpx loop over the same in-process transport to an identically prepared sandbox.
Worker: `handle_export_job` (lease, tenant, run record, pages, claim, send, commit, log) over the same
kind of world. Floor and worker alternate, best of `repeat` each, so machine noise hits both."""

from __future__ import annotations

import uuid
from typing import Any

from bench.common import (
    TENANT,
    Figure,
    World,
    customer,
    invoice,
    make_world,
    map_customers,
    quiet_logs,
    stage,
    timer,
)
from sagebridge.connectors.sage_accounting.client import dumps
from sagebridge.host.jobs import ExportJob
from sagebridge.sync.export import ExportEngine, ExportRequest
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

CUSTOMERS_PER_INVOICES = 10  # steady state: 200 customers for 2,000 invoices


def steady_world(n: int) -> World:
    world = make_world()
    customers = [customer(i) for i in range(max(1, n // CUSTOMERS_PER_INVOICES))]
    map_customers(world, customers)
    stage(world, [invoice(i, customers[i % len(customers)], embed_party=False) for i in range(n)])
    return world


def first_world(n: int) -> World:
    """Every invoice brings a customer Sage has never seen."""
    world = make_world()
    stage(world, [invoice(i, customer(i), embed_party=True) for i in range(n)])
    return world


def run_worker(world: World) -> tuple[float, int, int, Any]:
    """(seconds, Sage requests, DynamoDB requests, result) of one export job."""
    deps = WorkerDeps(store=world.store, connector_for=lambda _t, _s: world.connector)
    job = ExportJob(tenant_id=TENANT, trigger="admin", requested_by="bench")
    sage0 = world.sage_requests
    world.counter.reset()
    elapsed = timer()
    result = handle_export_job(job, deps)
    seconds = elapsed()
    return seconds, world.sage_requests - sage0, world.counter.total, result


def floor_payloads(world: World) -> list[bytes]:
    """What the engine would POST, from a dry run (setup, not timed)."""
    plan = ExportEngine(store=world.store, connector=world.connector, settings=world.settings).run(
        ExportRequest(tenant_id=TENANT, dry_run=True, triggered_by="operator"))
    out = []
    for p in plan.planned:
        if p.payload is not None and p.kind == "sales_invoice":
            body = dict(p.payload) | {"idempotency_id": uuid.uuid4().hex}
            out.append(dumps({"sales_invoice": body}).encode())
    return out


def run_floor(world: World, payloads: list[bytes]) -> float:
    headers = {"Authorization": f"Bearer {world.token}", "Accept": "application/json",
               "Content-Type": "application/json", "X-Business": world.sandbox.lead_business_id}
    url = "http://sage-accounting.local/v3.1/sales_invoices"
    http = world.http
    elapsed = timer()
    for content in payloads:
        response = http.post(url, content=content, headers=headers)
        assert response.status_code == 201, response.text
        response.json()  # a client reads the answer too
    return elapsed()


def run(n: int = 2000, repeat: int = 3) -> list[Figure]:
    quiet_logs()
    floors, workers = [], []
    sage_steady = ddb_steady = 0.0
    for _ in range(repeat):
        floor_world = steady_world(n)
        payloads = floor_payloads(floor_world)
        assert len(payloads) == n, len(payloads)
        floors.append(run_floor(floor_world, payloads))
        floor_world.close()
        world = steady_world(n)
        seconds, sage, ddb, result = run_worker(world)
        assert result is not None and result.counts["created"] == n, result.counts if result else None
        workers.append(seconds)
        sage_steady, ddb_steady = sage / n, ddb / n
        world.close()
    first = first_world(n)
    _, sage_first, ddb_first, result = run_worker(first)
    assert result is not None and result.counts["created"] == 2 * n, result.counts
    first.close()
    floor, worker = min(floors), min(workers)
    return [
        Figure("pipeline overhead (worker / bare POSTs)", worker / floor, "<= 1.25",
               f"{n} invoices: worker {worker:.2f}s, floor {floor:.2f}s, best of {repeat}"),
        Figure("Sage requests / document, steady", sage_steady, "<= 1.02"),
        Figure("Sage requests / document, first export", sage_first / n, "<= 2.05",
               "every customer new; identify_customer_by=none"),
        Figure("DynamoDB requests / document, steady", ddb_steady, "<= 3"),
        Figure("DynamoDB requests / document, first", ddb_first / n, "<= 3", "customer mapping + log included"),
    ]
