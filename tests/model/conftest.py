"""The model suite's fixtures: the integration suite's DynamoDB Local (the same session fixtures),
one app table and idempotency table for the whole module (each hypothesis example uses a tenant of
its own), KMS from moto for the token cipher, and the real system wired over them (system.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import template
from sagebridge.observability import logger
from tests.integration.conftest import dynamodb_client, dynamodb_endpoint  # noqa: F401 - the shared engine
from tests.model.machine import STATES, STATS
from tests.model.product_machine import CHAOS_FIRED
from tests.model.system import System, build_system

logger.setLevel("WARNING")  # one INFO line per Sage request drowns the output
CHAOS: dict[str, int] = {}  # the chaos profile's random faults that fired (SAGEBRIDGE_SANDBOX_PROFILE=chaos)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/model/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def system(dynamodb_client: Any, dynamodb_endpoint: str) -> Iterator[System]:  # noqa: F811
    names = {"AppTable": "model-app", "IdempotencyTable": "model-idempotency"}
    # The engine is shared with the integration and conformance suites, which may have made more
    # tables than one list_tables page holds: ask for this one by name.
    try:
        dynamodb_client.describe_table(TableName=names["AppTable"])
    except dynamodb_client.exceptions.ResourceNotFoundException:
        template.create_tables(dynamodb_client, names)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        mp.setenv("POWERTOOLS_METRICS_DISABLED", "true")
        mp.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
        # DynamoDB stays on DynamoDB Local; KMS (the token cipher) is moto's.
        with mock_aws(config={"core": {"passthrough": {"services": ["dynamodb"]}}}):
            kms = boto3.client("kms", region_name="eu-west-2")
            key_id = kms.create_key()["KeyMetadata"]["KeyId"]
            wiring = build_system(dynamodb_client=dynamodb_client, kms=kms, key_id=key_id,
                                  app_table=names["AppTable"], idempotency_table=names["IdempotencyTable"])
            yield wiring.system
            # (older code, run through SAGEBRIDGE_MODEL_CODE_ROOT, has no chaos profile)
            chaos = getattr(wiring.system.sandbox, "chaos", None)
            if chaos is not None:
                for kind, n in chaos.fired.items():
                    CHAOS[kind] = CHAOS.get(kind, 0) + n
            for kind, n in CHAOS_FIRED.items():  # the other products' sandboxes, one per example
                CHAOS[kind] = CHAOS.get(kind, 0) + n
            CHAOS_FIRED.clear()
            wiring.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if STATS["examples"]:
        terminalreporter.write_line(
            f"model suite: {STATS['examples']} examples, {STATS['steps']} steps, {STATS['events']} host events, "
            f"{STATS['runs']} export runs, {STATS['settles']} quiet-run checks, "
            f"{len(STATES)} distinct states checked")
        products = sorted((k, n) for k, n in STATS.items() if ":" in k)
        if products:
            terminalreporter.write_line("other products, at quiet runs: " + ", ".join(f"{k} {n}" for k, n in products))
    if CHAOS:
        terminalreporter.write_line(
            "chaos profile: writes committed then answered " + ", ".join(
                f"{'lost (timeout)' if kind == 'timeout' else kind}: {n}" for kind, n in sorted(CHAOS.items())))
