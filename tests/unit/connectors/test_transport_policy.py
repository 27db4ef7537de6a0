"""The one retry policy (connectors/http.py `Transport`), run against both REST products' clients
through their sandboxes: what goes on the wire and what the caller is told must be the same for
Sage Accounting and Sage 200, because exactly-once rests on it (a write is never sent twice blind).
Each product differs only in what it is told as data: its error body, its headers, its own wait for
a 429 that names none (Sage Accounting 5 s doubling, Sage 200 a whole APIM window)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from local.sandboxes import sage200 as s200
from local.sandboxes import sage_accounting as sacc
from sagebridge.connectors.base import AuthError, RateLimited, SageUnavailable, UncertainWrite
from sagebridge.connectors.pacing import RequestPacer
from sagebridge.connectors.sage200.client import RATE_WINDOW_SECONDS, Sage200Client, odata_string, site_and_company
from sagebridge.connectors.sage_accounting.client import SageAccountingClient
from sagebridge.observability import logger

logger.setLevel("WARNING")


class Wire(httpx.BaseTransport):
    """What the client put on the wire (method, path), in order; the sandbox answers."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        return self.inner.handle_request(request)

    def count(self, method: str, resource: str) -> int:
        return sum(1 for m, p in self.sent if m == method and p.rstrip("/").endswith("/" + resource))


@dataclass
class World:
    sandbox: Any
    client: Any
    wire: Wire
    slept: list[float]
    refreshes: list[str]


@dataclass(frozen=True)
class Product:
    name: str
    make: Callable[..., World]
    write: Callable[[Any], Any]  # creates one customer
    written: Callable[[Any], int]  # how many of that customer Sage holds
    write_resource: str
    read: Callable[[Any], Any]
    read_resource: str
    own_429_wait: float  # its first wait for a 429 without Retry-After (jitter 1.0)


def _world(sandbox: Any, tokens: Callable[[], str], build: Callable[..., Any], **options: Any) -> World:
    wire = Wire(sandbox.sync_transport())
    slept: list[float] = []
    refreshes: list[str] = []
    current = {"token": tokens()}

    def token_provider(*, rejected: str | None = None) -> str:
        if rejected is not None:
            refreshes.append(rejected)
            current["token"] = tokens()
        return current["token"]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        sandbox.clock.advance(seconds=seconds)

    options.setdefault("sleep", sleep)
    client = build(httpx.Client(transport=wire), token_provider=token_provider, jitter=lambda: 1.0, **options)
    return World(sandbox, client, wire, slept, refreshes)


def _accounting(tokens: Callable[[], str] | None = None, **options: Any) -> World:
    sandbox = sacc.SageAccountingSandbox.single_business(clock=sacc.SandboxClock.frozen_at())

    def build(http: httpx.Client, **kw: Any) -> SageAccountingClient:
        return SageAccountingClient(http, business_id=sandbox.lead_business_id, base_url=sacc.API_BASE_URL, **kw)

    return _world(sandbox, tokens or (lambda: sandbox.issue_tokens()["access_token"]), build, **options)


def _sage200(tokens: Callable[[], str] | None = None, **options: Any) -> World:
    sandbox = s200.Sage200Sandbox(clock=s200.SandboxClock.frozen_at("2025-03-03T09:00:00+00:00"))
    site, company = site_and_company(sandbox.business_id)

    def build(http: httpx.Client, **kw: Any) -> Sage200Client:
        return Sage200Client(http, subscription_key=s200.DEFAULT_SUBSCRIPTION_KEY, site_id=site,
                             company_id=company, base_url=s200.API_BASE_URL, **kw)

    return _world(sandbox, tokens or (lambda: sandbox.issue_tokens()["access_token"]), build, **options)


ACCOUNTING = Product(
    "sage_accounting", _accounting,
    write=lambda c: c.create("contacts", {"name": "Lost Answer Ltd", "contact_type_ids": ["CUSTOMER"],
                                          "reference": "LOST01"}),
    written=lambda c: sum(1 for r in c.list("contacts", search="LOST01", attributes="all")
                          if r.get("reference") == "LOST01"),
    write_resource="contacts", read=lambda c: c.list("tax_rates"), read_resource="tax_rates",
    own_429_wait=5.0)
SAGE200 = Product(
    "sage200", _sage200,
    write=lambda c: c.post("customers", {"reference": "C0000001", "name": "Lost Answer Ltd"}),
    written=lambda c: len(c.list("customers", filter=f"reference eq {odata_string('C0000001')}")),
    write_resource="customers", read=lambda c: c.list("tax_codes"), read_resource="tax_codes",
    own_429_wait=RATE_WINDOW_SECONDS)
def _virtual_pacer() -> tuple[dict[str, float], RequestPacer]:
    """A pacer on its own virtual clock: it moves only when the pacer itself makes a request wait."""
    clock = {"t": 0.0}
    return clock, RequestPacer(6000, clock=lambda: clock["t"], sleep=lambda s: clock.__setitem__("t", clock["t"] + s))


PRODUCTS = pytest.mark.parametrize("product", [ACCOUNTING, SAGE200], ids=lambda p: p.name)


@PRODUCTS
@pytest.mark.parametrize("answer", ["500", "503", "lost"])
def test_a_write_answered_5xx_or_lost_after_the_commit_is_uncertain_and_sent_once(product: Product, answer: str):
    world = product.make()
    faults = world.sandbox.faults
    if answer == "lost":
        faults.drop_after_commit(method="POST", path="/" + product.write_resource)
    else:
        faults.error_after_commit(int(answer), method="POST", path="/" + product.write_resource)
    with pytest.raises(UncertainWrite):
        product.write(world.client)
    assert world.wire.count("POST", product.write_resource) == 1  # never resent blind
    assert world.slept == []
    assert product.written(world.client) == 1  # it was committed: the caller must look before resending


@PRODUCTS
def test_a_read_answered_5xx_is_retried_with_backoff(product: Product):
    world = product.make(backoff_base=1.0)
    world.sandbox.faults.error(503, times=1, method="GET")
    world.sandbox.faults.error(500, times=1, method="GET")
    assert product.read(world.client)
    assert world.wire.count("GET", product.read_resource) == 3
    assert world.slept == [1.0, 2.0]  # full jitter (1.0 here) of 1 s, 2 s


@PRODUCTS
def test_a_read_still_failing_after_the_last_attempt_is_unavailable(product: Product):
    world = product.make(max_attempts=3)
    world.sandbox.faults.error(500, times=10, method="GET")
    with pytest.raises(SageUnavailable):
        product.read(world.client)
    assert world.wire.count("GET", product.read_resource) == 3


@PRODUCTS
def test_a_write_refused_429_with_retry_after_waits_that_long_and_is_sent_again(product: Product):
    world = product.make()
    world.sandbox.faults.rate_limit_storm(times=1, retry_after=7, method="POST", path="/" + product.write_resource)
    product.write(world.client)
    assert world.slept == [7.0]
    assert world.wire.count("POST", product.write_resource) == 2  # a 429 is a clean refusal
    assert product.written(world.client) == 1


@PRODUCTS
def test_a_429_without_retry_after_waits_the_products_own_time(product: Product):
    world = product.make()
    world.sandbox.faults.rate_limit_storm(times=1, retry_after=None, method="GET")
    assert product.read(world.client)
    assert world.slept == [product.own_429_wait]


@PRODUCTS
def test_a_honoured_429_holds_every_request_sharing_the_pacer(product: Product):
    clock, pacer = _virtual_pacer()
    world = product.make(pacer=pacer)
    world.sandbox.faults.rate_limit_storm(times=1, retry_after=7, method="GET")
    product.read(world.client)
    assert clock["t"] >= 7  # the next request waited on the pacer too, not just on this client's sleep


@PRODUCTS
def test_a_429_asking_for_longer_than_the_client_may_wait_is_rate_limited_not_slept(product: Product):
    clock, pacer = _virtual_pacer()
    world = product.make(pacer=pacer)
    world.sandbox.faults.rate_limit_storm(times=1, retry_after=600, method="GET")
    with pytest.raises(RateLimited) as err:
        product.read(world.client)
    assert err.value.retry_after == 600
    assert world.slept == [] and world.wire.count("GET", product.read_resource) == 1
    product.read(world.client)  # the job is rescheduled; the container's other calls are not held 10 min
    assert clock["t"] == 0.0


@PRODUCTS
def test_an_expired_token_is_refreshed_once_and_the_request_repeated(product: Product):
    world = product.make()
    stale = world.client._token()
    world.sandbox.clock.advance(seconds=3600)  # past both products' access token lifetimes
    product.write(world.client)
    assert world.refreshes == [stale]
    assert world.wire.count("POST", product.write_resource) == 2  # a 401 processed nothing
    assert product.written(world.client) == 1


@PRODUCTS
def test_a_token_refused_again_after_the_refresh_is_an_auth_error_not_a_loop(product: Product):
    world = product.make(tokens=lambda: "not-a-token")  # a refresh that Sage does not take either
    with pytest.raises(AuthError):
        product.read(world.client)
    assert world.wire.count("GET", product.read_resource) == 2
    assert len(world.refreshes) == 1
