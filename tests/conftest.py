"""Suite-wide rules: unit tests run with sockets disabled (pytest-socket); everything else may use
loopback only (DynamoDB Local, the local stack)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_socket
from hypothesis import settings

from local.sandboxes import limits

# Property tests check results, not speed (speed is measured in bench/): a loaded CI machine made a
# 200 ms per-example deadline fail a correct money property.
settings.register_profile("sagebridge", deadline=None)
settings.load_profile("sagebridge")


def _one_moto_dynamodb_call_at_a_time() -> None:
    """moto's in-memory DynamoDB is not thread-safe (a TransactWriteItems deep-copies tables while
    another thread writes: "dictionary changed size during iteration"), and the export worker
    settles its commits on a writer thread (write-behind). Real DynamoDB and DynamoDB Local serve
    concurrent calls, so the tests that use moto serialise its calls rather than the engine."""
    import threading

    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    unlocked = DynamoHandler.call_action

    def call_action(self):  # type: ignore[no-untyped-def]
        with lock:
            return unlocked(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


_one_moto_dynamodb_call_at_a_time()

UNIT = Path(__file__).parent / "unit"
# fastest feedback first; whole-system runs last
SUITE_ORDER = ("unit", "contract", "integration", "conformance", "model", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def suite(item: pytest.Item) -> int:
        path = Path(str(item.fspath))  # clients/python/tests (outside tests/) runs after every suite
        parts = path.relative_to(Path(__file__).parent).parts if path.is_relative_to(Path(__file__).parent) else ()
        return SUITE_ORDER.index(parts[0]) if parts and parts[0] in SUITE_ORDER else len(SUITE_ORDER)

    items.sort(key=suite)  # stable: keeps file and definition order inside a suite


@pytest.fixture(autouse=True)
def _sockets_by_suite(request: pytest.FixtureRequest):
    if Path(str(request.node.fspath)).is_relative_to(UNIT):
        pytest_socket.disable_socket(allow_unix_socket=True)
    else:
        pytest_socket.socket_allow_hosts(["127.0.0.1", "localhost", "::1"], allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch):
    """Dummy credentials and a fixed region so no test can ever reach a real AWS account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(autouse=True)
def _no_limit_crossed(request: pytest.FixtureRequest):
    """A client that makes a sandbox refuse a request for crossing a documented limit (page size, rate,
    concurrency) fails the test: in production that refusal costs a retry or a blocked minute."""
    limits.take()
    yield
    crossed = limits.take()
    if crossed and request.node.get_closest_marker("limit_refusals_expected") is None:
        pytest.fail("a client crossed a documented Sage limit:\n" + "\n".join(f"  {r}" for r in crossed))
