"""The business (base) currency comes from Sage (GET /financial_settings), per tenant, cached an hour
per container, and the tenant setting `business_currency` overrides it. A EUR business skips a GBP
invoice as `currency_mismatch` and exports a EUR one, through the export worker's Lambda handler."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.sandboxes.sage_accounting import SageAccountingSandbox, SandboxClock
from sagebridge.domain import DocumentKind
from sagebridge.store import Store
from sagebridge.sync.currency import BusinessCurrencies
from sagebridge.sync.scheduling import WorkerDeps

from .conftest import START, TENANT, customer, document
from .test_scheduling import ROOT, _load_handler, add_tenant

SI = DocumentKind.SALES_INVOICE


@pytest.fixture
def sandbox() -> Iterator[SageAccountingSandbox]:
    yield SageAccountingSandbox.single_business(clock=SandboxClock.frozen_at(START), base_currency="EUR")


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def worker(store: Store, connector: Any, ticks: Ticks) -> WorkerDeps:
    """The deployed wiring's shape: the tenant's connector, and its base currency read from Sage
    through the container's cache (SageProducts.business_currency_for delegates to it)."""
    currencies = BusinessCurrencies(clock=ticks)
    return WorkerDeps(store=store, connector_for=lambda _tenant, _settings: connector,
                      business_currency_for=currencies.currency_for)


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "export-worker", 512, "req-1"
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:export-worker"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def run_worker(monkeypatch: pytest.MonkeyPatch, deps: WorkerDeps, *jobs: dict[str, Any]) -> dict[str, Any]:
    app = _load_handler("export_worker")
    monkeypatch.setattr(app, "dependencies", lambda: deps)
    template = json.loads((ROOT / "events" / "export_worker.json").read_text())["Records"][0]
    records = []
    for n, job in enumerate(jobs):
        record = copy.deepcopy(template)
        record["messageId"] = f"msg-{n}"
        record["body"] = json.dumps(job)
        records.append(record)
    return app.lambda_handler({"Records": records}, Context())


def settings_of(store: Store) -> Any:
    from sagebridge.domain.settings import parse_tenant_settings

    return parse_tenant_settings(store.tenants.get(TENANT).settings)


def test_one_financial_settings_request_per_tenant_per_hour(store, settings, host, sandbox, worker, ticks,
                                                           monkeypatch):
    add_tenant(store, TENANT, settings)
    job = {"tenant_id": TENANT, "trigger": "admin"}
    for _ in range(3):
        run_worker(monkeypatch, worker, job)
        ticks.now += 600
    assert sandbox.request_count(path="/financial_settings") == 1  # 3 runs in 20 minutes
    ticks.now += 3600
    run_worker(monkeypatch, worker, job)
    assert sandbox.request_count(path="/financial_settings") == 2  # an hour on: asked again


def test_the_tenant_setting_overrides_sage_and_costs_no_request(store, settings, host, sandbox, worker,
                                                               monkeypatch):
    # The setting says GBP (wrongly, here): the GBP invoice is exported as far as the currency check
    # goes, and Sage refuses it (the business has no GBP) -- the setting is what decided.
    add_tenant(store, TENANT, settings.model_copy(update={"business_currency": "GBP"}))
    assert settings_of(store).business_currency == "GBP"
    host.stage(document(SI, 2, currency="EUR", party=customer(2)))

    run_worker(monkeypatch, worker, {"tenant_id": TENANT, "trigger": "admin"})

    entry = store.synclog.newest(TENANT, kind="sales_invoice", host_id="INV-2").items[0]
    assert entry.reason_code == "currency_mismatch" and "GBP" in entry.reason
    assert sandbox.request_count(path="/financial_settings") == 0


def test_the_export_worker_wires_the_cached_business_currency(monkeypatch):
    app = _load_handler("export_worker")

    class Products:
        store = object()

        def __init__(self, *_args: Any) -> None:
            pass

        def connector_for(self, *_args: Any) -> Any: ...

        def business_currency_for(self, *_args: Any) -> str:
            return "EUR"

        def delivery_outbox(self) -> Any:
            return None

    from sagebridge import composition  # the handler's graph is built there

    monkeypatch.setattr(composition, "get_settings", lambda: type("S", (), {
        "notification_topic_arn": "arn", "failure_digest_topic_arn": "",
        "export_queue_url": "q",  # the queue: a paused run's continuation
        "export_stop_margin_seconds": 60.0, "export_stop_margin_share": 0.2})())
    monkeypatch.setattr(composition, "AwsClients", lambda: None)
    monkeypatch.setattr(composition, "SageProducts", Products)
    monkeypatch.setattr(composition, "Notifier", lambda *_a: type("N", (), {"publish": None})())
    deps = app.dependencies.__wrapped__()
    assert deps.business_currency_for is not None and deps.business_currency_for("t", None) == "EUR"
    assert deps.jobs is not None and deps.stop_margin_seconds == 60.0
