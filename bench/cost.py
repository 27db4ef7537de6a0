"""Figure (e): what 1,000 exported documents cost in AWS, from counts measured here.

The export worker runs a steady-state export (customers mapped, as `bench.pipeline`) with the
deployed DynamoDB client against DynamoDB Local, every request asking for its consumed capacity
(ReturnConsumedCapacity=TOTAL: DynamoDB Local computes it as DynamoDB does, from item sizes), and with
its real delivery outbox over an SQS client that counts the messages it is asked to send. What the
host delivery function does per event (its own DynamoDB reads and write, Lambda's SQS polling) is
not run here: it is added from the code (sagebridge/host/delivery.py) and marked so in the report.

Dollars: PRICES below (list prices, stated with their region and the date they were read). Lambda
duration at production latency is modelled, not timed (this machine's wall clock says nothing about
Lambda's): per document one Sage round trip (a tenant's documents go one after another), the claim's
DynamoDB round trip, and bench.cpu's CPU per document stretched by the vCPU share of the memory size
(docs/performance.md: the memory benchmark shows 256 MB is enough)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from bench.common import TENANT, Figure, quiet_logs, timer
from bench.cpu import lambda_dynamodb_client
from bench.pipeline import steady_world
from sagebridge.host.jobs import ExportJob
from sagebridge.host.outbound import DeliveryOutbox
from sagebridge.store import Store
from sagebridge.store.aws import AwsClients
from sagebridge.store.queues import MessageQueue
from sagebridge.sync.scheduling import WorkerDeps, handle_export_job

# US East (N. Virginia) list prices, read 2026-12-07 (aws.amazon.com/lambda/pricing and the DynamoDB
# and SQS pricing pages as quoted by the sources in docs/performance.md).
PRICES = {
    "lambda_gb_second_arm": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "dynamodb_wru": 0.625 / 1e6,  # on-demand write request unit (since the November 2024 cut)
    "dynamodb_rru": 0.125 / 1e6,  # on-demand read request unit
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB chunk of a request
}
MEMORY_GB = 0.25  # 256 MB: the memory benchmark's peak RSS is about 114 MiB at 20,000 documents
SAGE_SECONDS = 0.3  # one production Sage round trip (issue 20's 150 to 400 ms; its goal uses 300 ms)
# The claims' DynamoDB round trip per document in the region: new documents are claimed ten to a
# TransactWriteItems (about 25 ms), so a tenth of one (the commits run beside the next POSTs).
CLAIM_SECONDS = 0.0025
WORKER_CPU_MS = 4.0  # bench.cpu's figure at one full vCPU; Lambda gives memory / 1,769 MB of one
DOCS_PER_INVOCATION = 500  # a run's continuation job per ~500 documents at 300 ms (300 s timeout, margin)
# Host delivery function per event, from the code: find the delivery record and the tenant (two
# strongly consistent GetItems, 1 RRU each under 4 KB), write the record (1 WRU under 1 KB); Lambda's
# SQS poller receives up to BatchSize 5 per ReceiveMessage and deletes in batches.
DELIVERY_RRU, DELIVERY_WRU, DELIVERY_SQS = 2.0, 1.0, 2 / 5


class CountingSqs:
    """Stands in for the SQS client: counts the requests the worker makes."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def send_message(self, **_: Any) -> dict[str, str]:
        self.calls["SendMessage"] += 1
        return {"MessageId": uuid.uuid4().hex}

    def send_message_batch(self, *, Entries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        self.calls["SendMessageBatch"] += 1
        return {"Successful": [{"Id": e["Id"], "MessageId": uuid.uuid4().hex} for e in Entries], "Failed": []}


class Capacity:
    """Adds ReturnConsumedCapacity=TOTAL to every DynamoDB request and sums what comes back."""

    READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}

    def __init__(self, client: Any) -> None:
        self.units: dict[str, float] = {"rru": 0.0, "wru": 0.0}
        self.requests: Counter[str] = Counter()
        self._transacted = 0  # items of the TransactWriteItems being made
        client.meta.events.register("before-parameter-build.dynamodb", self._ask)
        client.meta.events.register("after-call.dynamodb", self._add)

    def _ask(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        if model.name == "TransactWriteItems":
            self._transacted = len(params.get("TransactItems") or [])

    def _add(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests[model.name] += 1
        if model.name == "TransactWriteItems":
            # DynamoDB Local reports one figure per transaction whatever its size (4 for 3 items or
            # for 12); AWS bills a transactional write 2 WRU per item up to 1 KB (ours are under).
            self.units["wru"] += 2.0 * self._transacted
            return
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            kind = "rru" if model.name in self.READS else "wru"
            self.units[kind] += float(entry.get("CapacityUnits") or 0)


def measure(n: int) -> dict[str, float]:
    world = steady_world(n)
    try:
        client = lambda_dynamodb_client()
        capacity = Capacity(client)
        store = Store(world.store.table.name, client)
        sqs = CountingSqs()
        outbox = DeliveryOutbox(MessageQueue("https://sqs.invalid/123456789012/deliveries", AwsClients(sqs=sqs)),
                                store.deliveries)
        deps = WorkerDeps(store=store, connector_for=lambda _t, _s: world.connector, outbox=outbox)
        sage0 = world.sage_requests
        elapsed = timer()
        result = handle_export_job(ExportJob(tenant_id=TENANT, trigger="admin", requested_by="bench"), deps)
        seconds = elapsed()
        docs = world.sage_requests - sage0 - 1  # less the run's tax-rate read
        assert result is not None
        per = 1000 / max(1, docs)
        return {"docs": docs, "seconds_per_doc": seconds / max(1, docs),  # this machine's, for the record
                "wru": capacity.units["wru"] * per, "rru": capacity.units["rru"] * per,
                "ddb_requests": sum(capacity.requests.values()) * per,
                "sqs": sum(sqs.calls.values()) * per, "sage": (world.sage_requests - sage0) * per}
    finally:
        world.close()


def dollars(m: dict[str, float]) -> dict[str, float]:
    """Per 1,000 documents: the worker's measured counts plus the delivery function's from the code."""
    cpu_seconds = WORKER_CPU_MS / 1000 / min(1.0, MEMORY_GB * 1024 / 1769)
    worker_seconds = 1000 * (SAGE_SECONDS + CLAIM_SECONDS + cpu_seconds)
    delivery_seconds = 1000 * 0.05  # one signed POST to the host app and its record, about 50 ms
    gb_seconds = MEMORY_GB * (worker_seconds + delivery_seconds)
    invocations = 1000 / DOCS_PER_INVOCATION + 1000 / 5  # worker runs + delivery batches (BatchSize 5)
    wru, rru = m["wru"] + 1000 * DELIVERY_WRU, m["rru"] + 1000 * DELIVERY_RRU
    sqs = m["sqs"] + 1000 * DELIVERY_SQS
    return {
        "gb_seconds": gb_seconds, "wru": wru, "rru": rru, "sqs": sqs,
        "lambda": gb_seconds * PRICES["lambda_gb_second_arm"] + invocations * PRICES["lambda_request"],
        "dynamodb": wru * PRICES["dynamodb_wru"] + rru * PRICES["dynamodb_rru"],
        "sqs_dollars": sqs * PRICES["sqs_request"],
    }


def run(n: int = 300) -> list[Figure]:
    quiet_logs()
    m = measure(n)
    d = dollars(m)
    total = d["lambda"] + d["dynamodb"] + d["sqs_dollars"]
    return [
        Figure("cost per 1,000 documents: worker WRU", m["wru"], ">= 0",
               f"RRU {m['rru']:.0f}, {m['ddb_requests']:.0f} DynamoDB requests, {m['sqs']:.0f} SQS sends, "
               f"{m['sage']:.0f} Sage requests; {m['docs']:.0f} documents measured"),
        Figure("cost per 1,000 documents: Lambda GB-s", d["gb_seconds"], ">= 0",
               f"{MEMORY_GB * 1024:.0f} MB; per document {SAGE_SECONDS * 1000:.0f} ms Sage + "
               f"{CLAIM_SECONDS * 1000:.1f} ms claim + {WORKER_CPU_MS:.0f} ms CPU at this memory's vCPU share"),
        Figure("cost per 1,000 documents: USD", total, ">= 0",
               f"Lambda ${d['lambda']:.4f}, DynamoDB ${d['dynamodb']:.4f} ({d['wru']:.0f} WRU, {d['rru']:.0f} RRU "
               f"with deliveries), SQS ${d['sqs_dollars']:.4f} ({d['sqs']:.0f} requests)"),
    ]
