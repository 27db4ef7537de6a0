"""Every product files a customer under the business the host names (`company`), with the person
(`name`) as its contact; without a company, under the name."""

from __future__ import annotations

import pytest

from sagebridge.connectors.sage200 import mapper as sage200
from sagebridge.connectors.sage_accounting import mapper as sage_accounting
from sagebridge.connectors.sage_intacct import export_mapper as intacct
from sagebridge.domain import Customer


def _names(product: str, party: Customer) -> tuple[str, str | None]:
    """(the account's name, its contact person's name) in the product's body."""
    if product == "sage_intacct":
        body = intacct.contact_body(party, business_currency="GBP")
        contact, customer = (f["fields"] for f in body["functions"])
        return customer["CUSTOMER"]["NAME"], contact["CONTACT"]["PRINTAS"]
    if product == "sage200":
        body = sage200.contact_body(party, business_currency="GBP")
        return body["name"], (body.get("contacts") or [{}])[0].get("first_name")
    body = sage_accounting.contact_body(party, business_currency="GBP")
    return body["name"], (body.get("main_contact_person") or {}).get("name")


@pytest.mark.parametrize("product", ["sage_accounting", "sage200", "sage_intacct"])
def test_the_company_is_the_account_and_the_person_its_contact(product):
    with_email = Customer(host_id="C7", name="Priya Shah", company="Shah Haulage Ltd", email="priya@shah.example")
    assert _names(product, with_email) == ("Shah Haulage Ltd", "Priya Shah")
    # No way to reach the person: still filed under the company (Intacct used to file it under the person).
    assert _names(product, Customer(host_id="C8", name="Priya Shah", company="Shah Haulage Ltd"))[0] == \
        "Shah Haulage Ltd"
    assert _names(product, Customer(host_id="C9", name="Kim's Cafe", email="kim@cafe.example")) == \
        ("Kim's Cafe", "Kim's Cafe")
