"""What the settings history records of a change: each field's old and new value, mappings code by
code, nothing that could be a secret; and the move of notification_email into failure_emails."""

from __future__ import annotations

from sagebridge.admin.settings_changes import field_changes, move_legacy_email
from sagebridge.store.settings_history import FieldChange


def test_only_what_changed_in_name_order_and_mappings_code_by_code():
    old = {"provider": "sage_accounting", "retry_limit": 3, "tax_mappings": {"S": "GB_STANDARD", "R": "GB_LOWER"}}
    new = {"provider": "sage_accounting", "export_type": "all",
           "tax_mappings": {"S": "GB_STANDARD", "R": "GB_REDUCED", "Z": "GB_ZERO"}}
    assert field_changes(old, new) == [
        FieldChange("export_type", None, "all"),
        FieldChange("retry_limit", 3, None),
        FieldChange("tax_mappings.R", "GB_LOWER", "GB_REDUCED"),
        FieldChange("tax_mappings.Z", None, "GB_ZERO"),
    ]


def test_secrets_are_masked_by_name_and_in_urls():
    changes = field_changes({}, {"intacct": {"api_key": "k-123"}, "signing_secret": "whsec_x",
                                 "host_callback_url": "https://u:p@h.example:8443/in?sig=abc"})
    shown = {c.field: c.new for c in changes}
    assert shown == {"intacct.api_key": "(hidden)", "signing_secret": "(hidden)",
                     "host_callback_url": "https://(hidden)@h.example:8443/in?(hidden)"}
    assert field_changes({}, {"host_callback_url": "https://h.example/in"})[0].new == "https://h.example/in"


def test_notification_email_moves_into_failure_emails_once():
    settings = {"notification_email": "Ops@acme.example", "failure_emails": ["ops@acme.example"]}
    assert move_legacy_email(settings).startswith("notification_email moved into failure_emails")
    assert settings == {"failure_emails": ["ops@acme.example"]}  # the same address is not listed twice
    settings = {"notification_email": "ops@acme.example"}
    move_legacy_email(settings)
    assert settings == {"failure_emails": ["ops@acme.example"]}
    assert move_legacy_email(settings) is None
