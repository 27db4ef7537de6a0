"""Integration fixtures: AWS's DynamoDB Local engine (java -jar, in memory, random port), started once
per session, with the app tables created from template.yaml's own definitions so they cannot drift."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local import dynamodb_local, template

REGION = "eu-west-2"
_table_numbers = itertools.count()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test here talks to DynamoDB Local over loopback.
    for item in items:
        if "tests/integration/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def dynamodb_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    # One engine per session, also when tests/conformance (which imports these fixtures) runs too.
    shared: list[Any] | None = getattr(request.config, "_sagebridge_dynamodb_local", None)
    if shared is None:
        if not template.TEMPLATE.exists():
            pytest.fail(f"{template.TEMPLATE} is missing: the tables are built from it", pytrace=False)
        try:
            engine = dynamodb_local.start()
        except dynamodb_local.DynamoDBLocalUnavailable as exc:
            # Fail, never skip: CI must not go green without the store's tests (`make tools` installs it).
            pytest.fail(f"DynamoDB Local unavailable: {exc}", pytrace=False)
        shared = [engine, 0]
        request.config._sagebridge_dynamodb_local = shared  # type: ignore[attr-defined]
    shared[1] += 1
    try:
        yield shared[0].endpoint_url
    finally:
        shared[1] -= 1
        if not shared[1]:
            shared[0].stop()


@pytest.fixture(scope="session")
def dynamodb_client(dynamodb_endpoint: str) -> Any:
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=dynamodb_endpoint, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",  # dummy creds
        config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32),
    )


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, dynamodb_endpoint: str) -> str:
    """boto3's own environment pointed at DynamoDB Local, for code that creates its own client."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    return dynamodb_endpoint


@pytest.fixture
def app_table(dynamodb_client: Any) -> str:
    """A fresh, empty app table (and idempotency table) per test: cheap in memory, no leaks between tests."""
    n = next(_table_numbers)
    names = {"AppTable": f"app-{n}", "IdempotencyTable": f"idempotency-{n}"}
    template.create_tables(dynamodb_client, names)
    return names["AppTable"]


class FakeClock:
    """An injectable clock: aware UTC, moved by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
