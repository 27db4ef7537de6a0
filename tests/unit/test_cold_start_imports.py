"""A function's cold start imports only what that function uses (docs/performance.md, cold start).

Each function's app.py is imported in a fresh interpreter, as Lambda does, and what it loaded is
checked against the packages it must not load at import time: a module-level import of another
function's code (the admin API, the portal, the webhooks' idempotency, the products' graph in a
scheduler) turns its row red. Nothing here is timed: bench/coldstart_shipped.py measures the cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"

OTHER_FUNCTIONS = ("sagebridge.admin", "sagebridge.portal", "jinja2",  # the admin API's and the portal's
                   "aws_lambda_powertools.utilities.idempotency", "sagebridge.host.webhooks")  # the webhooks'
# Powertools' batch utility loads its ~40 pydantic parser models when pydantic is imported before it.
EVERYONE = ("aws_lambda_powertools.utilities.parser",)
PRODUCTS = ("sagebridge.sync.products", "sagebridge.connections", "sagebridge.connectors.oauth", "httpx")
# The document and payment models (and the engines that read them): a function that never reads a
# document loads the run and sync-log types without them (sagebridge.domain re-exports on first use).
DOCUMENTS = ("sagebridge.domain.documents", "sagebridge.domain.payments", "sagebridge.domain.validation")
ENGINE = ("sagebridge.sync.export.run", "sagebridge.host.outbound")
NOT_AT_IMPORT: dict[str, tuple[str, ...]] = {
    "admin_api": ("sagebridge.portal", "jinja2", "aws_lambda_powertools.utilities.idempotency",
                  "sagebridge.host.webhooks"),
    "connect": (*OTHER_FUNCTIONS, *DOCUMENTS, "sagebridge.sync.export", "sagebridge.sync.payments"),
    "export_scheduler": (*OTHER_FUNCTIONS, *PRODUCTS, *DOCUMENTS, *ENGINE, "boto3", "sagebridge.host.delivery"),
    "export_worker": (*OTHER_FUNCTIONS, *DOCUMENTS, *ENGINE, "sagebridge.host.delivery", "sagebridge.sync.payments",
                      "sagebridge.sync.catalog"),  # the engine and the products are built by its first job
    "host_delivery": (*OTHER_FUNCTIONS, *DOCUMENTS, "sagebridge.sync", "sagebridge.connections",
                      "sagebridge.connectors.oauth"),
    "payment_poll_worker": (*OTHER_FUNCTIONS, *DOCUMENTS, "sagebridge.host.delivery"),
    "payment_poller": (*OTHER_FUNCTIONS, *PRODUCTS, *DOCUMENTS, "boto3", "sagebridge.sync.scheduling",
                       "sagebridge.sync.export"),
    "portal": ("aws_lambda_powertools.utilities.idempotency", "sagebridge.host.webhooks"),
    "token_keepalive": (*OTHER_FUNCTIONS, *DOCUMENTS, "sagebridge.host.delivery"),
    "webhooks": ("sagebridge.admin", "sagebridge.portal", "jinja2", *PRODUCTS, "sagebridge.sync"),
}
PROBE = "import json, sys\nimport app\nprint(json.dumps(sorted(sys.modules)))"


def test_every_function_has_its_row():
    assert set(NOT_AT_IMPORT) == {p.name for p in FUNCTIONS.iterdir() if (p / "app.py").is_file()}


def _loaded_by_import(function: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(FUNCTIONS / function), str(ROOT / "layers" / "shared")])
    env["POWERTOOLS_TRACE_DISABLED"] = "true"
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=FUNCTIONS / function, env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("function", sorted(NOT_AT_IMPORT))
def test_a_cold_start_imports_only_what_its_function_uses(function: str):
    loaded = _loaded_by_import(function)
    assert "app" in loaded
    unwanted = {package: sorted(m for m in loaded if m == package or m.startswith(package + "."))[:3]
                for package in (*EVERYONE, *NOT_AT_IMPORT[function])}
    assert {package: first for package, first in unwanted.items() if first} == {}
