"""Benchmarks that print ratios measured in one run (`python -m bench [name ...] [--small]`).

Each module has `run(**sizes) -> list[Figure]`; SMALL holds the sizes of the smoke test
(tests/integration/test_bench_smoke.py), which only checks that every benchmark still runs."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

SMALL: dict[str, dict[str, Any]] = {
    "pipeline": {"n": 10, "repeat": 1, "latency_n": 0},
    "throughput": {"per_minute": 20, "docs": 25},
    "polling": {"invoices": 3},
    "coldstart": {"repeat": 1, "only": ("webhooks",)},
    "memory": {"small": 10, "big": 30},
    "intacct": {"customers": 100, "repeat": 1},
    "kinds": {"n": 1, "products": ("sage_intacct",), "kinds": ("purchase_invoice",)},
    "production": {"docs": 4, "first_docs": 16, "timeout": 6.0, "invoices": 4, "receipts": 3, "customers": 2},
    "cpu": {"n": 5, "repeat": 1},
    "coldstart_shipped": {"repeat": 1, "only": ("WebhooksFunction",)},
    "cost": {"n": 5},
    "busy_poll": {"invoices": 4, "receipts": 3, "customers": 2},
    "realtime": {"docs": 3},
}


def load(name: str) -> ModuleType:
    return importlib.import_module(f"bench.{name}")
