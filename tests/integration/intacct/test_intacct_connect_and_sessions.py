"""Connecting a tenant (the login is verified before it is saved, then sealed with KMS), session
reuse at the endpoint getAPISession names, a new login when the session expires, and at most two
requests in flight per company."""

from __future__ import annotations

import threading
import time

import pytest

from local.sandboxes.sage_intacct import (
    DEFAULT_COMPANY,
    DEFAULT_PASSWORD,
    DEFAULT_SENDER_ID,
    DEFAULT_USER,
    ENDPOINT,
    SESSION_PATH,
    SageIntacctSandbox,
    SandboxClock,
)
from sagebridge.connectors.base import AuthError, NotConnected
from sagebridge.connectors.sage_intacct.client import CompanyGates
from sagebridge.connectors.sage_intacct.product import IntacctLoginRefused, connect_intacct

from .conftest import START, TENANT, tenant_settings


def test_a_verified_login_is_saved_sealed_and_a_refused_one_is_not(world):
    world.store.tenants.create(TENANT, tenant_settings().model_dump(mode="json"))
    with pytest.raises(IntacctLoginRefused) as refused:
        connect_intacct(TENANT, DEFAULT_COMPANY, DEFAULT_USER, "wrong-password", intacct=world.intacct)
    assert refused.value.data_code == "XL03000006" and "wrong-password" not in str(refused.value)
    assert "company ID, user ID or password is not correct" in str(refused.value)
    assert world.store.connections.find(TENANT, "sage_intacct") is None
    with pytest.raises(NotConnected):
        world.intacct.connector_for(TENANT)

    connection = connect_intacct(TENANT, DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD, entity_id="100",
                                 intacct=world.intacct)
    assert (connection.company_id, connection.user_id, connection.entity_id) == (DEFAULT_COMPANY, DEFAULT_USER, "100")
    record = world.store.connections.find(TENANT, "sage_intacct")
    assert record.business_id == DEFAULT_COMPANY and DEFAULT_PASSWORD.encode() not in record.ciphertext
    assert world.intacct.credentials(TENANT).user_password == DEFAULT_PASSWORD
    assert "ws-password" not in repr(world.intacct.credentials(TENANT))
    assert world.intacct.disconnect(TENANT) and world.store.connections.find(TENANT, "sage_intacct") is None


def test_a_company_that_has_not_authorised_our_sender_id_refuses_the_connect_with_what_to_do(world):
    world.store.tenants.create(TENANT, tenant_settings().model_dump(mode="json"))
    accountant = world.sandbox.accountant()
    accountant.remove_sender_authorisation(DEFAULT_SENDER_ID)
    with pytest.raises(IntacctLoginRefused) as refused:
        connect_intacct(TENANT, DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD, intacct=world.intacct)
    said = str(refused.value)
    assert refused.value.data_code == "XL03000006"
    assert f"sender ID {DEFAULT_SENDER_ID!r}" in said and "Web Services authorizations" in said
    assert "company admin" in said and DEFAULT_PASSWORD not in said
    assert world.store.connections.find(TENANT, "sage_intacct") is None  # "login verified" did not pass

    accountant.authorise_sender(DEFAULT_SENDER_ID)  # the admin adds it: connecting now works
    connect_intacct(TENANT, DEFAULT_COMPANY, DEFAULT_USER, DEFAULT_PASSWORD, intacct=world.intacct)
    connector = world.connector()
    assert connector.find_contacts(reference="ACME")

    accountant.remove_sender_authorisation(DEFAULT_SENDER_ID)  # removed while a session is live
    with pytest.raises(AuthError) as later:
        connector.find_contacts(reference="ACME")
    assert f"sender ID {DEFAULT_SENDER_ID!r}" in str(later.value)


def test_one_session_is_reused_at_its_endpoint_and_renewed_when_it_expires(world):
    world.add_tenant()
    logins_at_connect = world.sandbox.request_count("getAPISession")
    reads_at_connect = world.sandbox.request_count("readByQuery", path=SESSION_PATH)  # its base currency
    connector = world.connector()
    for _ in range(5):
        connector.find_contacts(reference="ACME")
    assert world.sandbox.request_count("getAPISession") == logins_at_connect  # the connect's session
    assert world.sandbox.request_count("readByQuery", path=SESSION_PATH) == reads_at_connect + 5
    assert world.sandbox.request_count("readByQuery", path="/ia/xml/xmlgw.phtml") == 0

    world.sandbox.expire_sessions()
    assert [c.id for c in connector.find_contacts(reference="ACME")] == ["ACME"]
    assert world.sandbox.request_count("getAPISession") == logins_at_connect + 1  # one new login

    world.clock.advance(hours=2)  # the session times out on the sandbox's clock
    assert connector.find_contacts(reference="GLOBEX")
    assert world.sandbox.request_count("getAPISession") == logins_at_connect + 2


def test_at_most_two_requests_per_company_are_in_flight(make_world):
    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at(START))
    world = make_world(sandbox=sandbox, gates=CompanyGates(2))
    world.add_tenant()
    connector = world.connector()
    sandbox.faults.latency(0.05, times=None, path="readByQuery")
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(3):
                connector.find_contacts(reference="ACME")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sandbox.peak_in_flight[DEFAULT_COMPANY] == 2
    assert sum(1 for *_, status in sandbox.request_log if status == 429) == 0


@pytest.mark.limit_refusals_expected  # the client's own gate is opened wide on purpose
def test_the_gateway_s_429_is_retried_when_the_client_is_not_held_back(make_world):
    sandbox = SageIntacctSandbox(clock=SandboxClock.frozen_at(START))
    # More than Intacct allows, with real (short) backoff between the retries of a GW-0010.
    world = make_world(sandbox=sandbox, gates=CompanyGates(10), sleep=time.sleep, jitter=lambda: 1.0,
                       backoff_base=0.05, max_attempts=8)
    world.add_tenant()
    connector = world.connector()
    sandbox.faults.latency(0.05, times=None, path="readByQuery")
    results: list[int] = []

    def read() -> None:
        results.append(len(connector.find_contacts(reference="ACME")))

    threads = [threading.Thread(target=read) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [1] * 5  # every reader got its answer in the end
    assert sum(1 for *_, status in sandbox.request_log if status == 429) >= 1  # GW-0010 was answered
    assert sandbox.peak_in_flight[DEFAULT_COMPANY] <= 2


def test_the_default_endpoint_setting_is_the_live_gateway():
    from sagebridge.connectors.sage_intacct.settings import SageIntacctSettings

    assert SageIntacctSettings().endpoint == "https://api.intacct.com/ia/xml/xmlgw.phtml"
    assert ENDPOINT.endswith("/ia/xml/xmlgw.phtml")
