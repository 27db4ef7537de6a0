"""Admin API fixtures: the world of world.py on DynamoDB Local, with moto for KMS and Secrets Manager."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from tests.integration.admin.world import AdminWorld


@pytest.fixture
def world(dynamodb_client: Any, app_table: str) -> Iterator[AdminWorld]:
    with mock_aws():
        yield AdminWorld(dynamodb_client, app_table)


@pytest.fixture
def tenant(world: AdminWorld) -> AdminWorld:
    """A tenant `acme`, connected to the sandbox's business, with mappings to its seeded records."""
    world.create_tenant()
    world.connect()
    return world
