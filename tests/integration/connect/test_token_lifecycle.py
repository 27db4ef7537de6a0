"""Token lifecycle against the sandbox's OAuth server: single-flight refresh across concurrent
workers, keep-alive of idle tenants, dead grants."""

from __future__ import annotations

import importlib.util
import sys
import threading
from datetime import timedelta

import pytest
from pydantic import SecretStr

from sagebridge.connectors.base import GrantRevoked, NotConnected
from sagebridge.domain.errors import ThrottledError
from sagebridge.domain.settings import Provider
from sagebridge.security.tokens import TokenDecryptionError, TokenSet
from sagebridge.store.records import ConnectionStatus
from sagebridge.sync.products import SageProducts
from tests.integration.connect.conftest import ROOT, TENANT, Context


def connect(world) -> None:
    """Skip the browser: a grant straight from the sandbox, stored as the callback would."""
    now = world.clock.now()
    body = world.sandbox.issue_tokens([world.sandbox.lead_business_id])
    tokens = TokenSet(
        access_token=SecretStr(body["access_token"]), refresh_token=SecretStr(body["refresh_token"]),
        expires_at=now + timedelta(seconds=body["expires_in"]),
        refresh_expires_at=now + timedelta(seconds=body["refresh_token_expires_in"]),
    )
    world.sa.service.store_new_connection(TENANT, tokens, business_id=world.sandbox.lead_business_id,
                                          business_name="Northwind")


def grant_of(world):
    return next(iter(world.sandbox.oauth.grants.values()))


def test_twenty_concurrent_workers_refresh_exactly_once_per_expiry(world):
    connect(world)
    workers = [world.container().client_for(TENANT) for _ in range(20)]  # 20 Lambdas, one tenant
    grant = grant_of(world)
    failures: list[BaseException] = []
    expiries = 4
    for _ in range(expiries):
        world.clock.advance(250)  # inside the 60 s refresh margin of the 300 s access token
        before = grant.refresh_count
        barrier = threading.Barrier(len(workers))

        def work(client) -> None:
            try:
                barrier.wait()
                for _ in range(3):
                    client.get("tax_rates", "GB_STANDARD")
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(c,)) for c in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert grant.refresh_count - before == 1
    assert failures == []
    assert world.sandbox.oauth.token_requests == expiries  # no invalid_grant, no second spend
    assert not grant.revoked and world.sa.service.is_connected(TENANT)


def test_401_after_an_early_expiry_refreshes_once(world):
    connect(world)
    client = world.sa.client_for(TENANT)
    client.get("tax_rates", "GB_STANDARD")
    # Sage kills the access token early (the cache still thinks it is valid): one 401, one refresh.
    grant = grant_of(world)
    for token in list(grant.access_tokens):
        grant.access_tokens[token] = world.clock.now()
    assert client.get("tax_rates", "GB_STANDARD")["id"] == "GB_STANDARD"
    assert grant.refresh_count == 1


@pytest.fixture
def keepalive_module(world, monkeypatch):
    path = ROOT / "functions" / "token_keepalive" / "app.py"
    spec = importlib.util.spec_from_file_location("token_keepalive_app_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    products = SageProducts(world.sa.settings, store=world.sa.store, built={Provider.SAGE_ACCOUNTING: world.sa})
    monkeypatch.setattr(module, "dependencies", lambda: products)
    return module


def test_idle_tenant_stays_connected_for_40_days_thanks_to_keepalive(world, keepalive_module):
    connect(world)
    refreshed_days = []
    for day in range(1, 41):
        world.clock.advance(days=1)
        report = keepalive_module.lambda_handler({"source": "schedule", "schedule": "token_keepalive"}, Context())
        assert report["dead"] == 0 and report["failed"] == 0
        if report["refreshed"]:
            refreshed_days.append(day)
    assert refreshed_days == [7, 14, 21, 28, 35]
    assert world.sa.service.is_connected(TENANT)
    assert world.sa.client_for(TENANT).get("tax_rates", "GB_STANDARD")["id"] == "GB_STANDARD"
    assert world.notifications == []


def test_without_keepalive_the_grant_dies_and_the_tenant_is_stopped(world):
    connect(world)
    world.clock.advance(days=32)  # past the 31-day refresh token
    assert not world.sa.service.is_connected(TENANT)  # the scheduler already skips it
    client = world.sa.client_for(TENANT)
    with pytest.raises(GrantRevoked):
        client.get("tax_rates", "GB_STANDARD")
    assert world.sa.service.find(TENANT).status == ConnectionStatus.EXPIRED
    assert len(world.notifications) == 1 and world.notifications[0].tenant_id == TENANT
    with pytest.raises(NotConnected):
        world.sa.client_for(TENANT)


def test_revoked_grant_marks_the_connection_expired_once(world):
    connect(world)
    grant = grant_of(world)
    with world.sandbox.lock:
        world.sandbox.oauth.revoke(world.sandbox.oauth.clients[world.sandbox.client_id], grant.refresh_token)
    world.clock.advance(301)  # the live access token is not revoked (Sage cannot): it has to expire first
    workers = [world.container().client_for(TENANT) for _ in range(5)]
    errors = []
    for w in workers:
        try:
            w.get("tax_rates", "GB_STANDARD")
        except (GrantRevoked, NotConnected) as exc:
            errors.append(type(exc).__name__)
    assert errors[0] == "GrantRevoked" and set(errors[1:]) <= {"NotConnected", "GrantRevoked"}
    assert not world.sa.service.is_connected(TENANT)
    assert len(world.notifications) == 1
    told = world.notifications[0].render()
    assert "no longer accepts the tenant's sign-in" in told  # in words, before Sage's code
    assert f"sagebridge connect-url {TENANT}" in told  # what to do, whatever the host app's screens
    assert "Settings > Sage" not in told
    assert world.sandbox.oauth.token_requests == 1  # a dead grant is not hammered


def test_a_sealed_token_set_opens_only_for_its_own_tenant(world):
    connect(world)
    record = world.sa.service.find(TENANT)
    assert world.sa.service.unseal(TENANT, record.ciphertext).access_token.get_secret_value()
    with pytest.raises(TokenDecryptionError):
        world.sa.service.unseal("other", record.ciphertext)


class FailingSaves:
    """Wraps the store's connection saves: the first `failures` saves raise (DynamoDB throttling,
    then a bare StoreError), the rest go through. `failures=None`: every save fails."""

    def __init__(self, connections, failures: int | None) -> None:
        self._save = connections.save
        self.failures = failures
        self.calls = 0

    def __call__(self, record, *, expected_version):
        self.calls += 1
        if self.failures is None or self.calls <= self.failures:
            raise ThrottledError("connection sage_accounting of tenant acme: ProvisionedThroughputExceededException")
        return self._save(record, expected_version=expected_version)


def test_defect_13_a_rotated_token_whose_save_fails_twice_is_saved_and_the_tenant_stays_connected(
    world, monkeypatch,
):
    connect(world)
    worker = world.container()
    flaky = FailingSaves(worker.store.connections, failures=2)
    monkeypatch.setattr(worker.store.connections, "save", flaky)
    world.clock.advance(250)  # the access token is about to expire: this call rotates the grant
    assert worker.client_for(TENANT).get("tax_rates", "GB_STANDARD")["id"] == "GB_STANDARD"
    assert flaky.calls == 3
    # The next invocation (another container) refreshes with what was saved: Sage accepts it.
    world.clock.advance(300)
    assert world.container().client_for(TENANT).get("tax_rates", "GB_STANDARD")["id"] == "GB_STANDARD"
    assert grant_of(world).refresh_count == 2
    assert world.sa.service.is_connected(TENANT)
    assert world.notifications == []


def test_defect_13_a_rotated_token_that_cannot_be_saved_still_serves_the_invocation_and_is_logged(
    world, monkeypatch, caplog,
):
    connect(world)
    worker = world.container()
    monkeypatch.setattr(worker.store.connections, "save", FailingSaves(worker.store.connections, failures=None))
    backoff: list[float] = []
    monkeypatch.setattr(worker.service, "_sleep", backoff.append)  # the retries' backoff, not waited out
    client = worker.client_for(TENANT)
    world.clock.advance(250)
    assert client.get("tax_rates", "GB_STANDARD")["id"] == "GB_STANDARD"
    # Later in the same invocation the in-memory grant is the live one: it refreshes again, no
    # invalid_grant, the tenant is not declared dead.
    world.clock.advance(300)
    assert client.get("tax_rates", "GB_STANDARD")["id"] == "GB_STANDARD"
    assert grant_of(world).refresh_count == 2
    assert world.sa.service.find(TENANT).status == ConnectionStatus.CONNECTED
    assert world.notifications == []
    assert 5 <= sum(backoff) < 30  # retried for seconds, inside the refresh lock's 30 s
    lost = [r for r in caplog.records if r.getMessage() == "token_refresh_not_saved"]
    assert lost and all(r.levelname == "ERROR" and r.tenant_id == TENANT for r in lost)
    logged = " ".join(str(vars(r)) for r in caplog.records)
    assert grant_of(world).refresh_token not in logged
    assert not any(token in logged for token in grant_of(world).access_tokens)


def test_defect_13_a_save_that_landed_but_whose_answer_was_lost_keeps_the_new_grant(world, monkeypatch):
    connect(world)
    worker = world.container()
    save = worker.store.connections.save
    calls = []

    def lands_then_times_out(record, *, expected_version):
        calls.append(expected_version)
        saved = save(record, expected_version=expected_version)
        if len(calls) == 1:
            raise ThrottledError("connection sage_accounting of tenant acme: RequestLimitExceeded")
        return saved

    monkeypatch.setattr(worker.store.connections, "save", lands_then_times_out)
    world.clock.advance(250)
    assert worker.client_for(TENANT).get("tax_rates", "GB_STANDARD")["id"] == "GB_STANDARD"
    assert len(calls) == 2  # the retry meets its own earlier write and re-reads it
    world.clock.advance(300)
    assert world.container().client_for(TENANT).get("tax_rates", "GB_STANDARD")["id"] == "GB_STANDARD"
    assert world.sa.service.is_connected(TENANT) and world.notifications == []
