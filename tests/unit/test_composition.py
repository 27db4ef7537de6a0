"""The composition root (sagebridge.composition): the connect function offers a flow for every
registered product that connects through Sage's sign-in and whose connect credentials are in the
settings secret, always the registry's default product's, never a product that connects by login."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr

from sagebridge import composition
from sagebridge.connections.connect_flow import ConnectFlow
from sagebridge.connectors.registry import DEFAULT_PROVIDER
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import Provider
from sagebridge.security.secrets import IntegrationSecrets
from sagebridge.settings import load_settings
from sagebridge.sync.products import SageProducts

ENV = {name: "x" for name in ("TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "TOKEN_KEY_ID", "EXPORT_QUEUE_URL",
                              "DELIVERY_QUEUE_URL", "PAYMENT_POLL_QUEUE_URL", "NOTIFICATION_TOPIC_ARN",
                              "SETTINGS_SECRET_NAME")}
KEY = SecretStr("k" * 32)


def _flow() -> ConnectFlow:
    return object.__new__(ConnectFlow)  # only routed to here, never run


class Login:
    how_to_connect = "type the login in"

    def connect_login(self, tenant_id: str, login: Any) -> None: ...


@dataclass
class Built:
    """A built product as the connect function sees it: how it connects."""

    connects_by: Any


@dataclass
class Store:
    tenants: Any = None
    connections: Any = field(default_factory=lambda: SimpleNamespace(watch=lambda watcher: None))


def _products(secrets: IntegrationSecrets) -> tuple[SageProducts, dict[Provider, ConnectFlow]]:
    flows = {p: _flow() for p in (Provider.SAGE_ACCOUNTING, Provider.SAGE_200)}
    built: dict[Provider, Any] = {Provider.SAGE_ACCOUNTING: Built(flows[Provider.SAGE_ACCOUNTING]),
                                  Provider.SAGE_200: Built(flows[Provider.SAGE_200]),
                                  Provider.SAGE_INTACCT: Built(Login())}
    products = SageProducts(load_settings(ENV), store=Store(), secrets=secrets, built=built)  # type: ignore[arg-type]
    return products, flows


def test_every_product_that_connects_by_link_with_its_credentials_set_gets_its_flow():
    secrets = IntegrationSecrets(sage_accounting_client_id="sa", sage_accounting_client_secret=SecretStr("sa"),
                                 sage200_client_id="s200", sage200_client_secret=SecretStr("s200"),
                                 intacct_sender_id="sender", intacct_sender_password=SecretStr("pw"),
                                 state_signing_key=KEY)
    products, flows = _products(secrets)
    connect = composition.connect(load_settings(ENV), products=products, clock=lambda: datetime.now(UTC))
    assert connect.flow.flows == {"sage_accounting": flows[Provider.SAGE_ACCOUNTING],
                                  "sage200": flows[Provider.SAGE_200]}  # Intacct connects with a login
    assert connect.flow.provider == DEFAULT_PROVIDER.value == "sage_accounting"


def test_a_product_without_its_connect_credentials_offers_no_flow_but_the_default_always_does():
    secrets = IntegrationSecrets(sage_accounting_client_id="sa", sage_accounting_client_secret=SecretStr("sa"),
                                 sage200_client_id="s200", state_signing_key=KEY)  # no Sage 200 client secret
    products, _ = _products(secrets)
    connect = composition.connect(load_settings(ENV), products=products)
    assert set(connect.flow.flows) == {"sage_accounting"}


def test_the_default_product_missing_its_credentials_is_a_clear_configuration_error():
    products = SageProducts(load_settings(ENV), store=Store(),  # type: ignore[arg-type]
                            secrets=IntegrationSecrets(state_signing_key=KEY))
    with pytest.raises(ConfigurationError, match="sage_accounting_client_id / sage_accounting_client_secret"):
        composition.connect(load_settings(ENV), products=products)


def test_a_product_declares_its_secret_keys_and_one_check_names_the_missing_ones():
    secrets = IntegrationSecrets(sage200_client_id="s200", state_signing_key=KEY)
    assert secrets.missing(("sage200_client_id", "sage200_client_secret", "sage200_subscription_key")) == [
        "sage200_client_secret", "sage200_subscription_key"]
    assert not secrets.has(("sage200_client_id", "sage200_client_secret"))
    with pytest.raises(ConfigurationError, match=r"^the settings secret has no intacct_sender_id / intacct_sender_"):
        secrets.require(("intacct_sender_id", "intacct_sender_password"))


# ---- the startup check: placeholders left in the settings secret (issue 19)


def _logged(caplog: pytest.LogCaptureFixture, message: str) -> dict[str, Any]:
    record = next(r for r in caplog.records if r.getMessage() == message)
    return {k: v for k, v in vars(record).items() if not k.startswith("_")}


def test_connect_keys_still_replace_me_are_named_at_startup_and_the_tenant_gets_our_page(caplog):
    secrets = IntegrationSecrets(sage_accounting_client_id="REPLACE_ME", sage_accounting_client_secret=SecretStr(
                                     "REPLACE_ME"), sage200_client_id="s200", sage200_client_secret=SecretStr("s3cr3t"),
                                 state_signing_key=KEY)
    products, flows = _products(secrets)
    connect = composition.connect(load_settings(ENV), products=products)
    assert connect.flow.unconfigured == {"sage_accounting": ("sage_accounting_client_id",
                                                             "sage_accounting_client_secret")}
    logged = _logged(caplog, "settings_secret_not_filled_in")
    assert logged["levelname"] == "ERROR" and logged["provider"] == "sage_accounting"
    assert logged["placeholder_keys"] == ["sage_accounting_client_id", "sage_accounting_client_secret"]
    assert "s3cr3t" not in caplog.text and "s3cr3t" not in str(logged)
    # A tenant of that product is answered by us, not sent on to Sage's "invalid client" page.
    connect.flow._tenants = SimpleNamespace(find=lambda tenant_id: SimpleNamespace(settings={}))
    flows[Provider.SAGE_ACCOUNTING]._service = SimpleNamespace(provider="sage_accounting")  # type: ignore[attr-defined]
    page = connect.flow.start("acme", {}, redirect_uri="https://api.example/oauth/callback")
    assert page.status == 503 and page.location is None and "not set up yet" in page.title
    refused = _logged(caplog, "connect_not_configured")
    assert refused["tenant_id"] == "acme" and "sage_accounting_client_id" in refused["placeholder_keys"]


def test_filled_in_keys_are_not_placeholders():
    secrets = IntegrationSecrets(sage200_client_id="s200", sage200_client_secret=SecretStr(" REPLACE_ME "),
                                 state_signing_key=KEY)
    assert secrets.placeholders(("sage200_client_id", "sage200_client_secret", "sage200_subscription_key")) == [
        "sage200_client_secret"]
