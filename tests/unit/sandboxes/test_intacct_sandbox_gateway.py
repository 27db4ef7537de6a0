"""The Intacct sandbox's gateway limits: about two requests in flight per company, beyond that HTTP
429 with GW-0010 (no Retry-After), recorded as a crossed concurrency limit; what was refused did
not run."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from defusedxml import ElementTree

from local.sandboxes import limits
from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_SENDER_PASSWORD,
    DEFAULT_USER,
    ENDPOINT,
    SageIntacctSandbox,
    SandboxClock,
)
from sagebridge.connectors.sage_intacct.xml import Function, Login, element, request_document, sub


def _create_item(n: int) -> bytes:
    body = element("create")
    it = sub(body, "ITEM")
    sub(it, "ITEMID", f"LIMIT-{n}")
    sub(it, "NAME", f"Limit {n}")
    return request_document(sender_id=DEFAULT_SENDER_ID, sender_password=DEFAULT_SENDER_PASSWORD,
                            control_id=f"c{n}", functions=[Function(f"item-{n}", body)],
                            login=Login(DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD), unique=True)


@pytest.mark.limit_refusals_expected
def test_a_third_request_in_flight_for_a_company_is_refused_with_gw_0010_and_runs_nothing():
    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    sandbox.faults.latency(0.3, times=None, path="create")

    async def send_three() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=sandbox.transport()) as http:
            return list(await asyncio.gather(*(http.post(ENDPOINT, content=_create_item(n)) for n in range(3))))

    answers = asyncio.run(send_three())
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 1 and sum(a.status_code == 200 for a in answers) == 2
    assert "retry-after" not in refused[0].headers  # Intacct documents none for GW-0010
    body = ElementTree.fromstring(refused[0].content)
    assert body.findtext("control/status") == "failure" and body.find("operation") is None
    assert body.findtext("errormessage/error/errorno") == "GW-0010"
    assert sandbox.created_count("ITEM") == 2  # the refused create did not run
    crossed = limits.take()
    assert [(r.sandbox, r.limit) for r in crossed] == [("sage_intacct", limits.CONCURRENCY)]


def test_a_failed_transaction_keeps_nothing_and_the_client_reports_the_function_that_failed():
    from sagebridge.connectors.base import RecordInvalid
    from sagebridge.connectors.sage_intacct.client import (
        CompanyGates,
        IntacctClient,
        IntacctCredentials,
        SessionCache,
    )
    from sagebridge.connectors.sage_intacct.connector import IntacctConnector

    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    transport = sandbox.sync_transport()
    with httpx.Client(transport=transport) as http:
        client = IntacctClient(http, IntacctCredentials(DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD, DEFAULT_COMPANY,
                                                        DEFAULT_USER, DEFAULT_PASSWORD),
                               endpoint=ENDPOINT, sessions=SessionCache(), gates=CompanyGates(), sleep=lambda s: None)
        contacts_before = sandbox.accountant().count("CONTACT")
        # CONTACT then CUSTOMER in one transaction; the customer ID ACME is taken, so the contact goes too.
        with pytest.raises(RecordInvalid) as refused:
            IntacctConnector(client).create_contact(_customer_with_id("ACME", "Jane Doe"), idempotency_key="k1")
    transport.close()
    assert refused.value.data_code == "BL34000061" and str(refused.value).startswith("BL34000061")
    assert "XL03000009" in str(refused.value)  # the contact was rolled back with it
    assert sandbox.accountant().count("CONTACT") == contacts_before


def _customer_with_id(customer_id: str, name: str) -> dict[str, object]:
    """The Intacct mapper's CONTACT + CUSTOMER body, under a CUSTOMERID of the test's choosing."""
    from sagebridge.connectors.sage_intacct import export_mapper
    from sagebridge.domain import Customer

    body = export_mapper.contact_body(Customer(host_id="jane", name=name), business_currency="USD")
    body["functions"][1]["fields"]["CUSTOMER"]["CUSTOMERID"] = body["reference"] = customer_id
    return body
