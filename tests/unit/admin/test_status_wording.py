"""What the status says about a connection ending and about mappings, in words that point at the fix
(found by trying the local stack as an operator would)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sagebridge.admin.mappings import MappingHealth
from sagebridge.admin.status import DeliveryBacklog, _judge, connection_view
from sagebridge.store.records import ConnectionRecord
from sagebridge.sync.mapping_health import MappingProblem

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def _connection(*, ends_in: timedelta, refreshed_ago: timedelta) -> ConnectionRecord:
    return ConnectionRecord(tenant_id="acme", provider="sage200", ciphertext=b"x", business_name="Acme Ltd",
                            refresh_expires_at=NOW + ends_in, last_refreshed_at=NOW - refreshed_ago)


def test_a_sign_in_that_ends_although_it_was_just_refreshed_says_only_connecting_again_helps():
    view = connection_view(_connection(ends_in=timedelta(days=2, hours=1), refreshed_ago=timedelta(hours=3)),
                           "sage200", NOW)
    assert view.state == "expiring"
    assert "cannot be extended" in view.summary and "connect link" in view.summary
    assert "keep-alive" not in view.summary


def test_a_sign_in_ending_because_nobody_refreshed_it_blames_the_keep_alive():
    view = connection_view(_connection(ends_in=timedelta(days=3), refreshed_ago=timedelta(days=28)),
                           "sage_accounting", NOW)
    assert view.state == "expiring" and "keep-alive is not refreshing it" in view.summary


def test_settings_that_are_not_set_are_not_called_gone_records():
    health = MappingHealth(checked=True, ok=False, problems=[
        MappingProblem(setting="default_sales_ledger_account_id", problem="not_set", message="not set"),
        MappingProblem(setting="receipt_bank_account_id", problem="not_set", message="not set"),
        MappingProblem(setting="tax_mappings.S", sage_id="T9", problem="missing", message="gone"),
    ])
    connected = connection_view(_connection(ends_in=timedelta(days=60), refreshed_ago=timedelta(days=1)),
                                "sage_accounting", NOW)
    health_word, problems = _judge(True, connected, [], False, DeliveryBacklog(), health)
    assert health_word == "attention"
    assert "2 setting(s) that documents need are not set (see the mapping health)" in problems
    assert any(p.startswith("1 mapping(s) point at Sage records that are gone") for p in problems)
