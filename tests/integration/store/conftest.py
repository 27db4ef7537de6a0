from __future__ import annotations

from typing import Any

import pytest

from sagebridge.store import Store


@pytest.fixture
def store(app_table: str, dynamodb_client: Any, clock: Any) -> Store:
    return Store(app_table, dynamodb_client, clock=clock)
