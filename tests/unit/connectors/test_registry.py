"""The product registry (sagebridge.connectors.registry): every provider has one line, and a product
is imported only when a tenant of it is served, so a cold start loads the products its tenants use.

Import checks run in a fresh interpreter: this test process has imported everything already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sagebridge.connectors import registry
from sagebridge.connectors.registry import PRODUCTS, product_builder, providers
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import Provider

# Each product's own modules: its wiring (the registry line's module) and its connector package.
CONNECTOR_PACKAGE = {
    Provider.SAGE_ACCOUNTING: "sagebridge.connectors.sage_accounting",
    Provider.SAGE_INTACCT: "sagebridge.connectors.sage_intacct",
    Provider.SAGE_200: "sagebridge.connectors.sage200",
    Provider.SAGE_REGIONAL: "sagebridge.connectors.sage_regional",
}
# Imported by the engines whatever the tenant's product: none any more (the engines name no product).
ENGINES_STILL_IMPORT: set[str] = set()


def wiring_module(provider: Provider) -> str:
    return PRODUCTS[provider].partition(":")[0]


BUILD_ONE = """
    import json, sys
    from pydantic import SecretStr
    from sagebridge.domain.settings import Provider
    from sagebridge.security.secrets import IntegrationSecrets
    from sagebridge.settings import load_settings
    from sagebridge.store.aws import AwsClients
    from sagebridge.sync.products import SageProducts, is_product

    before = sorted(m for m in sys.modules if m.startswith("sagebridge."))
    env = {{name: "x" for name in ("TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "TOKEN_KEY_ID", "EXPORT_QUEUE_URL",
            "DELIVERY_QUEUE_URL", "PAYMENT_POLL_QUEUE_URL", "NOTIFICATION_TOPIC_ARN", "SETTINGS_SECRET_NAME")}}
    every_credential = IntegrationSecrets(
        sage_accounting_client_id="sa", sage_accounting_client_secret=SecretStr("sa"),
        sage200_client_id="s200", sage200_client_secret=SecretStr("s200"), sage200_subscription_key=SecretStr("key"),
        intacct_sender_id="sender", intacct_sender_password=SecretStr("sender"),
        sage_regional_api_key=SecretStr("regional"), state_signing_key=SecretStr("k" * 32))
    no_aws = AwsClients(**{{service: object() for service in ("dynamodb", "kms", "sqs", "sns", "secretsmanager")}})
    products = SageProducts(load_settings(env), no_aws, secrets=every_credential)
    product = products.product(Provider({provider!r}))
    after = sorted(m for m in sys.modules if m.startswith("sagebridge."))
    print(json.dumps({{"before": before, "after": after, "is_product": is_product(product),
                      "again_same": products.product(Provider({provider!r})) is product}}))
"""


@pytest.fixture(scope="module")
def built_alone() -> dict[Provider, dict[str, object]]:
    """Each product built in a fresh interpreter of its own (this test's import path), the three at
    once: what it had imported before and after, and what it built."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    running = {p: subprocess.Popen([sys.executable, "-c", textwrap.dedent(BUILD_ONE.format(provider=p.value))],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for p in Provider}
    results = {}
    for provider, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results[provider] = json.loads(out.strip().splitlines()[-1])
    return results


def test_every_provider_has_exactly_one_registry_line():
    assert set(PRODUCTS) == set(Provider)
    assert providers() == tuple(PRODUCTS)
    assert len(set(PRODUCTS.values())) == len(PRODUCTS)  # no two providers share a builder


def modules_of(product: Provider, loaded: set[str]) -> set[str]:
    """The loaded modules of `product`'s own, less those the engines still import for everyone."""
    package = CONNECTOR_PACKAGE[product]
    own = {m for m in loaded if m == wiring_module(product) or m == package or m.startswith(package + ".")}
    return {m for m in own if not any(m == e or m.startswith(e + ".") for e in ENGINES_STILL_IMPORT)}


@pytest.mark.parametrize("provider", list(Provider), ids=lambda p: p.value)
def test_building_a_product_imports_it_and_none_of_the_others(provider, built_alone):
    result = built_alone[provider]
    before, after = set(result["before"]), set(result["after"])  # type: ignore[call-overload]
    assert result["is_product"] and result["again_same"]  # it offers Product; built once, then kept
    # The door (SageProducts) alone imports no product (but the engines' leftover, ENGINES_STILL_IMPORT) ...
    assert not {m for p in Provider for m in modules_of(p, before)}
    # ... building one imports its own modules, and none of the others'.
    assert wiring_module(provider) in after and CONNECTOR_PACKAGE[provider] in after
    for other in Provider:
        if other is not provider:
            assert not modules_of(other, after), f"{provider.value} imported {sorted(modules_of(other, after))}"


def test_a_registry_line_naming_no_builder_is_a_clear_configuration_error(monkeypatch):
    monkeypatch.setattr(registry, "PRODUCTS", {Provider.SAGE_200: "sagebridge.domain.errors:build_nothing"})
    with pytest.raises(ConfigurationError, match=r"sagebridge\.domain\.errors:build_nothing .*sage200"):
        product_builder(Provider.SAGE_200)
    with pytest.raises(ConfigurationError, match="no Sage product is registered for provider 'sage_intacct'"):
        product_builder(Provider.SAGE_INTACCT)
