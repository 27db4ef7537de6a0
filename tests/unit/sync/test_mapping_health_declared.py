"""The mapping health check holds a product's own settings maps against Sage as the product declares
them (`Connector.checked_mappings`): Intacct's purchase tax details (intacct.purchase_tax_mappings),
and that a sales tax mapping names a Sale detail, not a Purchase one whose documents are skipped."""

from __future__ import annotations

from decimal import Decimal

from sagebridge.connectors.base import RemoteRecord
from sagebridge.connectors.sage200.client import Sage200Connector
from sagebridge.connectors.sage_accounting.client import SageAccountingConnector
from sagebridge.connectors.sage_intacct.connector import IntacctConnector
from sagebridge.domain.kinds import DocumentKind
from sagebridge.domain.settings import parse_tenant_settings
from sagebridge.sync.mapping_health import declared_ids, mapping_problems

DECLARED = IntacctConnector.checked_mappings
SALES = frozenset({DocumentKind.SALES_INVOICE, DocumentKind.SALES_CREDIT_NOTE, DocumentKind.CUSTOMER_PAYMENT,
                   DocumentKind.CUSTOMER_REFUND})


def _detail(detail_id: str, tax_type: str, percentage: str, *, visible: bool = True) -> RemoteRecord:
    return RemoteRecord(id=detail_id, data={"id": detail_id, "name": detail_id, "percentage": Decimal(percentage),
                                            "tax_type": tax_type, "is_visible": visible})


TAX_DETAILS = {r.id: r for r in (
    _detail("Sales Tax Standard", "Sale", "20"), _detail("Sales Tax Zero", "Sale", "0"),
    _detail("Purchase Tax Standard", "Purchase", "20"), _detail("Purchase Old", "Purchase", "20", visible=False),
    RemoteRecord(id="NO_TAX", data={"id": "NO_TAX", "name": "No tax", "percentage": Decimal("0")}))}


def _settings(tax: dict[str, str], purchase: dict[str, str]):
    return parse_tenant_settings({"provider": "sage_intacct", "tax_mappings": tax,
                                  "default_sales_ledger_account_id": "4000",
                                  "default_purchase_ledger_account_id": "5000", "receipt_bank_account_id": "BOA",
                                  "intacct": {"purchase_tax_mappings": purchase}})


def _found(settings, **kwargs):
    problems = mapping_problems(settings, {"tax_rate": TAX_DETAILS}, declared=DECLARED, **kwargs)
    return {(p.setting, p.problem) for p in problems}


def test_a_healthy_purchase_tax_map_reports_nothing_and_a_zero_rated_code_needs_no_purchase_detail():
    settings = _settings({"S": "Sales Tax Standard", "Z": "Sales Tax Zero", "N": "NO_TAX"},
                         {"S": "Purchase Tax Standard"})
    assert _found(settings) == set()
    assert list(declared_ids(settings, DECLARED)) == [
        ("intacct.purchase_tax_mappings.S", "Purchase Tax Standard", "tax_rate")]


def test_a_taxed_code_without_a_purchase_detail_is_reported_by_its_setting_path():
    settings = _settings({"S20": "Sales Tax Standard"}, {})
    problems = mapping_problems(settings, {"tax_rate": TAX_DETAILS}, declared=DECLARED)
    [problem] = problems
    assert (problem.setting, problem.problem) == ("intacct.purchase_tax_mappings.S20", "not_set")
    assert "purchase invoices" in problem.message and "'S20'" in problem.message
    # A tenant that exports no purchase documents does not need it.
    assert _found(settings.model_copy(update={"export_kinds": SALES})) == set()


def test_purchase_details_gone_inactive_or_of_the_sales_type_are_reported():
    settings = _settings({"S": "Sales Tax Standard"},
                         {"S": "Sales Tax Standard", "R": "Purchase Old", "X": "nope"})
    assert _found(settings) == {("intacct.purchase_tax_mappings.S", "not_usable"),
                                ("intacct.purchase_tax_mappings.R", "inactive"),
                                ("intacct.purchase_tax_mappings.X", "missing")}
    [wrong] = [p for p in mapping_problems(settings, {"tax_rate": TAX_DETAILS}, declared=DECLARED)
               if p.setting == "intacct.purchase_tax_mappings.S"]
    assert "TAXTYPE Sale" in wrong.message and "skipped" in wrong.message


def test_a_sales_tax_mapping_pointing_at_a_purchase_detail_is_the_wrong_type():
    settings = _settings({"S": "Purchase Tax Standard"}, {"S": "Purchase Tax Standard"})
    problems = mapping_problems(settings, {"tax_rate": TAX_DETAILS}, declared=DECLARED)
    [problem] = problems
    assert (problem.setting, problem.problem) == ("tax_mappings.S", "not_usable")
    assert "purchase tax detail (TAXTYPE Purchase)" in problem.message
    # Without the product's declaration the shared check sees an active tax rate: healthy.
    assert mapping_problems(settings, {"tax_rate": TAX_DETAILS}) == []


def test_the_other_products_declare_nothing_beyond_the_shared_maps():
    assert SageAccountingConnector.checked_mappings == () and Sage200Connector.checked_mappings == ()
