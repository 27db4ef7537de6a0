"""Connect-flow and token-lifecycle fixtures: the Sage Accounting sandbox in process (sync ASGI
transport), the store on DynamoDB Local, KMS from moto, one clock for Sage and for us."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import httpx
import pytest
from moto import mock_aws
from pydantic import SecretStr

from local.sandboxes.sage_accounting.app import (
    API_BASE_URL,
    AUTHORIZE_URL,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    REVOKE_URL,
    TOKEN_URL,
    SageAccountingSandbox,
)
from local.sandboxes.sage_accounting.clock import SandboxClock
from sagebridge.connectors.sage_accounting.product import SageAccounting, build_sage_accounting
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.settings import load_settings
from sagebridge.store.aws import AwsClients
from sagebridge.store.store import Store

ROOT = Path(__file__).resolve().parents[3]
API_DOMAIN = "abc123.execute-api.eu-west-2.amazonaws.com"
TENANT = "acme"


@pytest.fixture
def sage_clock() -> SandboxClock:
    return SandboxClock.frozen_at("2025-03-03T09:00:00+00:00")


@pytest.fixture
def kms() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("kms", region_name="eu-west-2")
        yield client, client.create_key()["KeyMetadata"]["KeyId"]


@pytest.fixture
def secrets() -> IntegrationSecrets:
    return IntegrationSecrets(
        sage_accounting_client_id=DEFAULT_CLIENT_ID,
        sage_accounting_client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
        state_signing_key=SecretStr("k" * 64),
    )


@pytest.fixture
def settings(app_table: str, kms: tuple[Any, str]):
    return load_settings({
        "TABLE_NAME": app_table, "IDEMPOTENCY_TABLE_NAME": "idem", "TOKEN_KEY_ID": kms[1],
        "EXPORT_QUEUE_URL": "q", "DELIVERY_QUEUE_URL": "q", "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-2:1:t",
        "PAYMENT_POLL_QUEUE_URL": "q",
        "SETTINGS_SECRET_NAME": "sagebridge/settings", "SAGE_ACCOUNTING_API_URL": API_BASE_URL,
        "SAGE_ACCOUNTING_AUTH_URL": AUTHORIZE_URL, "SAGE_ACCOUNTING_TOKEN_URL": TOKEN_URL,
        "SAGE_ACCOUNTING_REVOKE_URL": REVOKE_URL,
    })


class World:
    """Everything a test needs, and a way to build more 'Lambdas' (containers) on the same state."""

    def __init__(self, sandbox, settings, dynamodb_client, kms, secrets, clock) -> None:
        self.sandbox, self.settings, self.clock, self.secrets = sandbox, settings, clock, secrets
        self._dynamodb, self._kms = dynamodb_client, kms
        self.notifications: list[Any] = []
        self.http = httpx.Client(transport=sandbox.sync_transport(), base_url="http://sage-accounting.local")
        self.sa = self.container()

    def container(self) -> SageAccounting:
        """A fresh container: own caches and lock owner, shared table, KMS and Sage."""
        clients = AwsClients(dynamodb=self._dynamodb, kms=self._kms)
        store = Store(self.settings.table_name, self._dynamodb, clock=self.clock.now)
        return build_sage_accounting(
            self.settings, store=store, clients=clients, http=self.http, secrets=self.secrets,
            clock=self.clock.now, sleep=lambda s: None, notify=self.notifications.append,
        )


@pytest.fixture
def make_world(dynamodb_client, settings, kms, secrets, sage_clock):
    def make(**sandbox_kwargs: Any) -> World:
        sandbox = SageAccountingSandbox(clock=sage_clock, **sandbox_kwargs)
        world = World(sandbox, settings, dynamodb_client, kms[0], secrets, sage_clock)
        world.sa.store.tenants.create(TENANT, {"provider": "sage_accounting"})
        return world

    return make


@pytest.fixture
def world(make_world) -> World:
    return make_world(businesses=("Northwind Garage Services Ltd",))


# ---- the connect function, invoked with API Gateway HTTP API (v2) events

@pytest.fixture(scope="session")
def connect_module():
    path = ROOT / "functions" / "connect" / "app.py"
    spec = importlib.util.spec_from_file_location("connect_app_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Context:
    function_name = "connect"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:connect"
    aws_request_id = "req-1"


def http_event(path: str, query: dict[str, str] | None = None, *, route: str | None = None,
               cookies: list[str] | None = None) -> dict[str, Any]:
    query = query or {}
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": f"GET {route or path}", "rawPath": path,
        "rawQueryString": urlencode(query), "queryStringParameters": query or None,
        "headers": {"host": API_DOMAIN, "accept": "text/html"}, "isBase64Encoded": False,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": API_DOMAIN, "domainPrefix": "abc123",
            "stage": "$default", "requestId": "r1", "routeKey": f"GET {route or path}",
            "time": "03/Mar/2025:09:00:00 +0000",
            "timeEpoch": 1741000000000,
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9",
                     "userAgent": "pytest"},
        },
    }
    if cookies:
        event["cookies"] = cookies
    return event


class Browser:
    """Drives the connect function and the sandbox's consent page like a tenant admin would, with a
    cookie jar like a browser's: a cookie comes back on the paths it was set for, until cleared."""

    def __init__(self, world: World, module) -> None:
        self.world, self.module = world, module
        self.jar: dict[str, tuple[str, str]] = {}  # name -> (value, path)

    def call(self, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        route = "/connect/{tenant_id}" if path.startswith("/connect/") else path
        sent = [f"{name}={value}" for name, (value, scope) in self.jar.items()
                if path == scope or path.startswith(scope.rstrip("/") + "/")]
        answer = self.module.lambda_handler(http_event(path, query, route=route, cookies=sent), Context())
        for header in answer.get("cookies") or []:
            first, *attributes = [part.strip() for part in header.split(";")]
            name, _, value = first.partition("=")
            flags = dict(a.partition("=")[::2] for a in attributes)
            if flags.get("Max-Age") == "0" or not value:
                self.jar.pop(name, None)
            else:
                self.jar[name] = (value, flags.get("Path") or "/")
        return answer

    def other(self) -> Browser:
        """Another person's browser: the same app, an empty cookie jar."""
        return Browser(self.world, self.module)

    def link(self, tenant_id: str = TENANT, **kwargs: Any) -> dict[str, str]:
        """The query of a fresh connect link, as the admin API hands it out."""
        link = self.world.sa.flow.connect_link(f"https://{API_DOMAIN}", tenant_id, **kwargs)
        return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}

    def start(self, tenant_id: str = TENANT, *, signed: bool = True, link: dict[str, str] | None = None
              ) -> dict[str, Any]:
        query: dict[str, str] = {}
        if link is not None:
            query = link
        elif signed:
            query = self.link(tenant_id)
        return self.call(f"/connect/{tenant_id}", query)

    def consent(self, authorize_location: str, decision: str = "allow") -> dict[str, str]:
        """Show Sage's consent page and answer it; returns the query Sage redirects back with."""
        page = self.world.http.get(authorize_location)
        assert page.status_code == 200, page.text
        params = {k: v[0] for k, v in parse_qs(urlsplit(authorize_location).query).items()}
        answer = self.world.http.post("/oauth2/auth/central", data={**params, "decision": decision})
        assert answer.status_code == 302, answer.text
        back = urlsplit(answer.headers["location"])
        assert back.path == "/oauth/callback"
        return {k: v[0] for k, v in parse_qs(back.query).items()}

    def callback(self, query: dict[str, str]) -> dict[str, Any]:
        return self.call("/oauth/callback", query)


@pytest.fixture
def browser(world, connect_module, monkeypatch) -> Browser:
    monkeypatch.setattr(connect_module, "dependencies", lambda: world.sa)
    return Browser(world, connect_module)


@pytest.fixture
def browser_for(connect_module, monkeypatch):
    def make(world: World) -> Browser:
        monkeypatch.setattr(connect_module, "dependencies", lambda: world.sa)
        return Browser(world, connect_module)

    return make
