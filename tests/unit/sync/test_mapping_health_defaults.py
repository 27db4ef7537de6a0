"""The health check's "not set" findings follow what the tenant's product can take: a default only
an unsupported kind would use is not reported missing (found by the Intacct demo tenant, whose
health went red for a purchase ledger account Intacct never gets)."""

from __future__ import annotations

from sagebridge.domain.kinds import DocumentKind
from sagebridge.domain.settings import parse_tenant_settings
from sagebridge.sync.mapping_health import mapping_problems

PURCHASES = frozenset({DocumentKind.PURCHASE_INVOICE, DocumentKind.PURCHASE_CREDIT_NOTE})


def _settings():
    return parse_tenant_settings({"provider": "sage_intacct", "default_sales_ledger_account_id": "4000",
                                  "receipt_bank_account_id": "BOA-OPS"})


def test_a_default_only_unsupported_kinds_need_is_not_reported_missing():
    assert mapping_problems(_settings(), {}, unsupported=PURCHASES) == []


def test_the_same_default_is_reported_where_the_product_takes_purchases():
    [problem] = mapping_problems(_settings(), {})
    assert (problem.setting, problem.problem) == ("default_purchase_ledger_account_id", "not_set")
    assert "skipped" in problem.message
