"""Identify an existing Sage customer before creating one (settings.identify_customer_by): a Sage
Accounting contact with the customer's email or name is linked, not duplicated; a supplier with the
same email or name is not a customer and is left alone."""

from __future__ import annotations

import pytest

from sagebridge.domain import Customer, DocumentKind, TenantSettings

from .conftest import TENANT, customer, document


def _identify_by(settings: TenantSettings, how: str) -> TenantSettings:
    return TenantSettings.model_validate({**settings.model_dump(), "identify_customer_by": how})


def _contacts_named(acme, name: str) -> list[dict]:
    return [c for c in acme.list("contacts") if c["name"] == name]


@pytest.mark.parametrize("how", ["email", "name"])
def test_defect_08_a_supplier_with_that_email_or_name_is_not_linked(export, host, sandbox, store, settings, how):
    acme = sandbox.accountant()
    supplier = acme.create("contacts", {"name": "Customer 1 Ltd", "contact_type_ids": ["VENDOR"],
                                        "main_contact_person": {"name": "Accounts",
                                                                "email": "ap1@customer.example"}})
    host.stage(document(DocumentKind.SALES_INVOICE, 1, party=customer(1)))

    result = export(settings_=_identify_by(settings, how))

    assert result.counts["failed"] == 0 and result.counts["skipped"] == 0, result.failures
    made = store.mappings.get(TENANT, "customer", "CUST-1").sage_id
    assert made != supplier["id"]
    created = acme.get("contacts", made)
    assert [t["id"] for t in created["contact_types"]] == ["CUSTOMER"]
    assert len(_contacts_named(acme, "Customer 1 Ltd")) == 2  # the supplier and the new customer
    assert acme.list("sales_invoices")[0]["contact"]["id"] == made


def test_a_customer_with_a_company_is_filed_under_the_company_with_the_person_as_its_contact(
        export, host, sandbox, store):
    """Found by a front-door review: "Priya Shah" of "Shah Haulage Ltd" became a Sage contact named
    Priya Shah whose contact person was "Shah Haulage Ltd", so the company's invoices sat under a person."""
    acme = sandbox.accountant()
    priya = Customer(host_id="CUST-7", name="Priya Shah", company="Shah Haulage Ltd",
                     email="priya@shah-haulage.example")
    host.stage(document(DocumentKind.SALES_INVOICE, 7, party=priya))

    result = export()

    assert result.counts["failed"] == 0 and result.counts["skipped"] == 0, result.failures
    made = acme.get("contacts", store.mappings.get(TENANT, "customer", priya.host_id).sage_id)
    assert made["name"] == "Shah Haulage Ltd"
    assert made["main_contact_person"]["name"] == "Priya Shah"
    assert made["main_contact_person"]["email"] == "priya@shah-haulage.example"


@pytest.mark.parametrize("sage_name", ["Shah Haulage Ltd", "Priya Shah"])
def test_identify_by_name_finds_the_company_or_the_person_as_contacts_were_named_before(
        export, host, sandbox, store, settings, sage_name):
    acme = sandbox.accountant()
    existing = acme.create("contacts", {"name": sage_name, "contact_type_ids": ["CUSTOMER"]})
    priya = Customer(host_id="CUST-7", name="Priya Shah", company="Shah Haulage Ltd")
    host.stage(document(DocumentKind.SALES_INVOICE, 7, party=priya))

    export(settings_=_identify_by(settings, "name"))

    assert sandbox.created_count("contacts") == 0
    assert store.mappings.get(TENANT, "customer", priya.host_id).sage_id == existing["id"]
