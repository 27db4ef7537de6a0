"""One local stack (DynamoDB Local, moto, sandboxes, HTTP API) for the e2e tests, on free ports and
its own state directory so it never collides with a developer's `make stack`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from local import dynamodb_local


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-stack")


@pytest.fixture(scope="session")
def stack(state_dir: Path) -> Iterator[object]:
    os.environ["SAGEBRIDGE_LOCAL_STATE"] = str(state_dir)
    from local import runtime

    runtime.STATE_DIR, runtime.OUTPUTS = state_dir, state_dir / "outputs.json"
    from local.stack import LocalStack

    # Queues are drained by the tests themselves, so what they assert cannot race a background poller.
    running = LocalStack(api_port=dynamodb_local.free_port(), background_pollers=False, quiet=True).start()
    yield running
    running.stop()
