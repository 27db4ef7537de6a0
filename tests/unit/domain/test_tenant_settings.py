from __future__ import annotations

import pytest
from pydantic import ValidationError

from sagebridge.domain import (
    DateBasis,
    DocumentKind,
    ExportType,
    PartyKind,
    TenantSettings,
    parse_tenant_settings,
)
from sagebridge.domain.errors import ConfigurationError


def test_a_new_tenant_gets_the_documented_defaults():
    settings = TenantSettings(provider="sage200")
    assert settings.export_interval_minutes == 15
    assert settings.trigger_statuses == {"pending_payment"}
    assert settings.retry_limit == 3
    assert settings.export_type is ExportType.NEW
    assert settings.exports(DocumentKind.CUSTOMER_REFUND) and settings.exports(PartyKind.VENDOR)
    assert not settings.catalog_import.items and not settings.replace_host_tax_types


def test_an_unknown_setting_is_named():
    with pytest.raises(ConfigurationError, match=r"colour: is not a known field"):
        parse_tenant_settings({"provider": "sage_accounting", "colour": "blue"})


def test_a_mapping_to_nothing_names_its_key():
    with pytest.raises(ConfigurationError) as caught:
        parse_tenant_settings({"provider": "sage_accounting", "tax_mappings": {"S": "GB_STANDARD", "T9": "  "}})
    assert "tax_mappings.T9: maps to nothing" in str(caught.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigurationError) as caught:
        parse_tenant_settings({
            "provider": "quickbooks",
            "export_interval_minutes": 0,
            "retry_limit": 99,
            "ledger_mappings": {"4000": ""},
            "notification_email": "not an email",
            "host_callback_url": "ftp://host.example/cb",
        })
    message = str(caught.value)
    for field in ("provider", "export_interval_minutes", "retry_limit", "ledger_mappings.4000",
                  "notification_email", "host_callback_url"):
        assert f"{field}:" in message


def test_unknown_export_kind_is_refused():
    with pytest.raises(ValidationError):
        TenantSettings(provider="sage_accounting", export_kinds={"supplier_payment"})


def test_each_ledger_has_its_own_date_basis():
    settings = TenantSettings(provider="sage_intacct", customer_date_basis="document", vendor_date_basis="posting")
    assert settings.date_basis_for(DocumentKind.SALES_CREDIT_NOTE) is DateBasis.DOCUMENT
    assert settings.date_basis_for(DocumentKind.CUSTOMER_PAYMENT) is DateBasis.DOCUMENT
    assert settings.date_basis_for(DocumentKind.PURCHASE_INVOICE) is DateBasis.POSTING
    assert settings.date_basis_for(PartyKind.VENDOR) is DateBasis.POSTING


def test_trigger_statuses_match_however_the_host_spells_them():
    settings = TenantSettings(provider="sage_accounting", trigger_statuses={"Pending Payment", "sent"})
    assert settings.trigger_statuses == {"pending_payment", "sent"}
    assert settings.is_trigger_status("pending-payment")
    assert not settings.is_trigger_status("draft")


def test_a_line_posts_to_its_mapped_account_else_the_ledgers_default(settings):
    assert settings.ledger_account_for(DocumentKind.SALES_INVOICE, "4000") == "ledger-sales-parts"
    assert settings.ledger_account_for(DocumentKind.SALES_INVOICE, "9999") == "ledger-sales"
    assert settings.ledger_account_for(DocumentKind.PURCHASE_CREDIT_NOTE, None) == "ledger-purchases"


def test_settings_round_trip_through_json():
    settings = TenantSettings(provider="sage_accounting", tax_mappings={"S": "GB_STANDARD"},
                              export_kinds={"sales_invoice", "customer"})
    assert TenantSettings.model_validate_json(settings.model_dump_json()) == settings


def test_defect_01_only_exportable_statuses_export_and_the_setting_is_checked():
    default = TenantSettings(provider="sage_accounting")
    assert default.is_exportable_status("Pending Payment") and default.is_exportable_status("paid")
    for status in ("Draft", "quote", "ESTIMATE", "Cancelled", "canceled"):
        assert not default.is_exportable_status(status)
    own = parse_tenant_settings({"provider": "sage_accounting", "exportable_statuses": ["Approved", "pending-payment"]})
    assert own.is_exportable_status("approved") and not own.is_exportable_status("sent")
    with pytest.raises(ConfigurationError, match=r"trigger_statuses: draft is not an exportable status"):
        parse_tenant_settings({"provider": "sage_accounting", "trigger_statuses": ["Draft"]})
    with pytest.raises(ConfigurationError, match=r"exportable_statuses: "):
        parse_tenant_settings({"provider": "sage_accounting", "exportable_statuses": []})
