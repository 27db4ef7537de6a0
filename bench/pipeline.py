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
from sagebridge.sync.export import EXPORT_CURSOR, ExportEngine, ExportRequest
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

CUSTOMERS_PER_INVOICES = 10  # steady state: 200 customers for 2,000 invoices
# The live API answers a create in a few hundred ms; the in-process sandbox in about 3. The second
# overhead figure puts a conservative 50 ms back so the ratio says something about production too.
SAGE_LATENCY = 0.05


def steady_world(n: int, *, latency: float = 0.0) -> World:
    """A tenant already live (export cursor set, so no going-live listing) whose customers are
    already in Sage and mapped; `latency`: seconds the sandbox waits before each answer."""
    world = make_world()
    customers = [customer(i) for i in range(max(1, n // CUSTOMERS_PER_INVOICES))]
    map_customers(world, customers)
    stage(world, (invoice(i, customers[i % len(customers)], embed_party=False) for i in range(n)))
    world.store.cursors.set(TENANT, EXPORT_CURSOR, "2025-03-01T00:00:00+00:00")
    if latency:
        world.sandbox.faults.latency(latency)
    return world


def first_world(n: int) -> World:
    """Every invoice brings a customer Sage has never seen."""
    world = make_world()
    stage(world, (invoice(i, customer(i), embed_party=True) for i in range(n)))
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


def store_floor(world: World, n: int) -> float:
    """The DynamoDB writes exactly-once cannot do without (DESIGN.md): per document one conditional
    update (the claim) and one three-item transaction (ledger, mapping, log line), built up front and
    sent by a bare boto3 loop. Not the goal's floor; it says how much of the gap is DynamoDB Local."""
    table, client = world.store.table.name, world.client
    claims, commits = [], []
    for i in range(n):
        key = {"pk": {"S": f"TENANT#{TENANT}"}, "sk": {"S": f"LEDGER#sales_invoice#F-{i}"}}
        claims.append({"TableName": table, "Key": key, "UpdateExpression": "SET #s = :f, claim_id = :c",
                       "ConditionExpression": "attribute_not_exists(pk) OR #s = :p",
                       "ExpressionAttributeNames": {"#s": "state"},
                       "ExpressionAttributeValues": {":f": {"S": "in_flight"}, ":p": {"S": "pending"},
                                                     ":c": {"S": uuid.uuid4().hex}}})
        commits.append([
            {"Update": {"TableName": table, "Key": key, "UpdateExpression": "SET #s = :e, sage_id = :i",
                        "ConditionExpression": "#s = :f", "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":e": {"S": "exported"}, ":f": {"S": "in_flight"},
                                                      ":i": {"S": uuid.uuid4().hex}}}},
            {"Put": {"TableName": table, "Item": {"pk": key["pk"], "sk": {"S": f"MAP#sales_invoice#F-{i}"},
                                                  "sage_id": {"S": uuid.uuid4().hex}}}},
            {"Put": {"TableName": table, "Item": {"pk": key["pk"], "sk": {"S": f"LOG#bench#{i:08d}"},
                                                  "reason": {"S": "created in Sage (reference INV-x)"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    elapsed = timer()
    for claim, commit in zip(claims, commits, strict=True):
        client.update_item(**claim)
        client.transact_write_items(TransactItems=commit)
    return elapsed()


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


def overhead(n: int, repeat: int, latency: float = 0.0) -> tuple[float, float, float, float]:
    """(worker s, floor s, store floor s, Sage requests / doc, DynamoDB requests / doc), best of `repeat`."""
    floors, workers, stores = [], [], []
    sage_steady = ddb_steady = 0.0
    for _ in range(repeat):
        floor_world = steady_world(n, latency=latency)
        payloads = floor_payloads(floor_world)
        assert len(payloads) == n, len(payloads)
        floors.append(run_floor(floor_world, payloads))
        stores.append(store_floor(floor_world, n))
        floor_world.close()
        world = steady_world(n, latency=latency)
        seconds, sage, ddb, result = run_worker(world)
        assert result is not None and result.counts["created"] == n, result.counts if result else None
        workers.append(seconds)
        sage_steady, ddb_steady = sage / n, ddb / n
        world.close()
    return min(workers), min(floors), min(stores), sage_steady, ddb_steady


def run(n: int = 2000, repeat: int = 3, latency_n: int = 100) -> list[Figure]:
    quiet_logs()
    worker, floor, writes, sage_steady, ddb_steady = overhead(n, repeat)
    slow_worker, slow_floor = (overhead(latency_n, 1, latency=SAGE_LATENCY)[:2] if latency_n else (1.0, 1.0))
    first = first_world(n)
    _, sage_first, ddb_first, result = run_worker(first)
    assert result is not None and result.counts["created"] == 2 * n, result.counts
    first.close()
    return [
        Figure("pipeline overhead (worker / bare POSTs)", worker / floor, "<= 1.25",
               f"{n} invoices: worker {worker:.2f}s, floor {floor:.2f}s, best of {repeat}; "
               f"+{(worker - floor) / n * 1000:.1f} ms/doc"),
        Figure("  worker / (bare POSTs + bare store writes)", worker / (floor + writes), "<= 1.25",
               f"store floor {writes:.2f}s: one claim + one 3-item commit per document"),
        Figure(f"  same, Sage answering in {SAGE_LATENCY * 1000:.0f} ms", slow_worker / slow_floor, "<= 1.25",
               f"{latency_n} invoices: worker {slow_worker:.2f}s, floor {slow_floor:.2f}s"),
        Figure("Sage requests / document, steady", sage_steady, "<= 1.02"),
        Figure("Sage requests / document, first export", sage_first / n, "<= 2.05",
               "every customer new; identify_customer_by=none"),
        Figure("DynamoDB requests / document, steady", ddb_steady, "<= 3"),
        Figure("DynamoDB requests / document, first", ddb_first / n, "<= 3", "customer mapping + log included"),
    ]
