import pytest

from sagebridge.domain.errors import ConfigurationError
from sagebridge.settings import load_settings

COMPLETE = {
    "TABLE_NAME": "app",
    "IDEMPOTENCY_TABLE_NAME": "idem",
    "TOKEN_KEY_ID": "alias/tokens",
    "EXPORT_QUEUE_URL": "https://sqs/export",
    "DELIVERY_QUEUE_URL": "https://sqs/delivery",
    "PAYMENT_POLL_QUEUE_URL": "https://sqs/payment-poll",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-2:1:topic",
    "SETTINGS_SECRET_NAME": "sagebridge/dev/settings",
}


def test_complete_environment_gives_settings_with_live_sage_defaults():
    settings = load_settings(COMPLETE)
    assert settings.table_name == "app"
    assert settings.export_interval_minutes == 15
    assert settings.connect_link_ttl_minutes == 15


def test_missing_variables_are_named_in_one_message():
    env = {k: v for k, v in COMPLETE.items() if k not in ("TABLE_NAME", "TOKEN_KEY_ID")}
    with pytest.raises(ConfigurationError) as err:
        load_settings(env)
    assert "TABLE_NAME is not set" in str(err.value)
    assert "TOKEN_KEY_ID is not set" in str(err.value)


def test_bad_value_is_named_with_the_reason():
    with pytest.raises(ConfigurationError, match="EXPORT_INTERVAL_MINUTES"):
        load_settings({**COMPLETE, "EXPORT_INTERVAL_MINUTES": "0"})
