from __future__ import annotations

import pytest

from sagebridge.domain.errors import ConfigurationError
from sagebridge.settings import load_settings
from sagebridge.store import Store

pytestmark = pytest.mark.integration

ENV = {
    "IDEMPOTENCY_TABLE_NAME": "idem", "TOKEN_KEY_ID": "k", "EXPORT_QUEUE_URL": "q",
    "DELIVERY_QUEUE_URL": "q", "NOTIFICATION_TOPIC_ARN": "t", "SETTINGS_SECRET_NAME": "s",
    "PAYMENT_POLL_QUEUE_URL": "q",
}


def test_from_settings_creates_its_client_lazily_from_the_environment(aws_env, app_table):
    store = Store.from_settings(load_settings({**ENV, "TABLE_NAME": app_table}))
    assert store.table._client is None  # nothing created yet
    store.tenants.create("acme", {})
    assert store.tenants.get("acme").tenant_id == "acme"


def test_a_missing_table_is_a_configuration_error(dynamodb_client):
    with pytest.raises(ConfigurationError):
        Store("no-such-table", dynamodb_client).tenants.find("acme")
