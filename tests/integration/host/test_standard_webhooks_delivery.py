"""A tenant whose host_signature_scheme is `standard-webhooks` gets deliveries a Standard Webhooks
library verifies (the `standardwebhooks` package's own verifier, with the secret in its `whsec_`
form); the default tenant still gets Sage-Bridge-Signature. Through the real host_delivery handler."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from sagebridge.host.outbound import enqueue_delivery
from sagebridge.security.signing import SIGNATURE_HEADER, standard_webhooks_secret, verify
from tests.integration.host.conftest import SECRET, TENANT, Env, load_handler_module
from tests.integration.host.test_host_delivery import outbox, part_paid, pump


class StandardWebhooksHost:
    """A host app that checks deliveries as the Standard Webhooks libraries do: 401 when they do not verify."""

    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)
        self.received: list[tuple[int, dict[str, str], Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = dict(request.headers)
        try:
            event = self.webhook.verify(request.content, headers)
        except WebhookVerificationError as exc:
            self.received.append((401, headers, str(exc)))
            return httpx.Response(401, json={"error": str(exc)})
        self.received.append((200, headers, event))
        return httpx.Response(200)


@pytest.fixture
def delivery_to(env: Env) -> Any:
    def wire(host: Any) -> Any:
        module = load_handler_module("host_delivery")
        deps = module.dependencies()
        deps.http = httpx.Client(transport=httpx.MockTransport(host))
        deps.jitter = lambda: 1.0
        return module
    return wire


def test_a_standard_webhooks_tenant_s_delivery_verifies_with_the_standardwebhooks_library(env: Env, delivery_to):
    env.create_tenant(host_signature_scheme="standard-webhooks")
    host = StandardWebhooksHost(standard_webhooks_secret(SECRET))
    module = delivery_to(host)
    queued = enqueue_delivery(outbox(env), TENANT, part_paid())
    assert pump(env, module) == [{"batchItemFailures": []}]
    [(status, headers, event)] = host.received
    assert status == 200, event
    assert event["id"] == queued.event_id and event["type"] == "invoice.part_paid"
    assert headers["webhook-id"] == queued.event_id == headers["idempotency-key"]
    assert headers["webhook-signature"].startswith("v1,") and SIGNATURE_HEADER.lower() not in headers


def test_a_standard_webhooks_delivery_does_not_verify_with_another_secret(env: Env, delivery_to):
    env.create_tenant(host_signature_scheme="standard-webhooks")
    host = StandardWebhooksHost(standard_webhooks_secret("whsec_someone_else_s_secret"))
    module = delivery_to(host)
    enqueue_delivery(outbox(env), TENANT, part_paid())
    pump(env, module)
    assert [status for status, _, _ in host.received] == [401]  # a 4xx: refused, not retried


def test_the_default_scheme_is_still_sage_bridge_signature(env: Env, delivery_to):
    env.create_tenant()
    seen: list[httpx.Request] = []
    module = delivery_to(lambda request: seen.append(request) or httpx.Response(200))
    enqueue_delivery(outbox(env), TENANT, part_paid())
    pump(env, module)
    [request] = seen
    assert "webhook-signature" not in request.headers
    verify(request.content, request.headers[SIGNATURE_HEADER], [SECRET])
    assert json.loads(request.content)["type"] == "invoice.part_paid"


def test_an_unknown_scheme_is_refused_naming_the_choices(env: Env) -> None:
    from sagebridge.domain.errors import ConfigurationError
    from sagebridge.domain.settings import parse_tenant_settings

    with pytest.raises(ConfigurationError) as refused:
        parse_tenant_settings({"provider": "sage_accounting", "host_signature_scheme": "svix"})
    assert "host_signature_scheme" in str(refused.value) and "standard-webhooks" in str(refused.value)


def test_the_sandbox_host_app_takes_standard_webhooks_deliveries_too(env: Env, delivery_to, host_app) -> None:
    """So `make demo` works with a tenant switched to standard-webhooks."""
    from starlette.testclient import TestClient

    from local.sandboxes.host_app import create_app

    env.create_tenant(host_signature_scheme="standard-webhooks")
    module = delivery_to(lambda request: httpx.Response(500))
    module.dependencies().http = TestClient(create_app(host_app))
    queued = enqueue_delivery(outbox(env), TENANT, part_paid())
    pump(env, module)
    assert host_app.delivered_ids() == [queued.event_id]
    host_app.secrets = ["whsec_someone_else_s_secret"]
    enqueue_delivery(outbox(env), TENANT, part_paid("1.00"))
    pump(env, module)
    assert [r.status for r in host_app.received] == [200, 401]
