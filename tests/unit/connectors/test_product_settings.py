"""Each product's own settings (connectors/<product>/settings.py): its environment variables, read
with their defaults when the product is built, a bad one named; its keys of the settings secret,
validated from the secret, a missing one named, no value ever shown; a product no tenant uses
needs none of either."""

from __future__ import annotations

import importlib
import json

import boto3
import pytest
from moto import mock_aws
from pydantic import BaseModel, ValidationError

from sagebridge.connectors.product import ProductSecrets, ProductSettings
from sagebridge.connectors.registry import PRODUCTS, providers, secret_keys
from sagebridge.connectors.sage200.settings import Sage200Secrets, Sage200Settings
from sagebridge.connectors.sage_accounting.settings import SageAccountingSecrets, SageAccountingSettings
from sagebridge.connectors.sage_intacct.settings import SageIntacctSecrets, SageIntacctSettings
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import Provider
from sagebridge.security import secrets as secrets_module
from sagebridge.security.secrets import IntegrationSecrets, required_keys
from sagebridge.settings import Settings, load_settings
from sagebridge.store.aws import AwsClients
from sagebridge.sync.products import SageProducts

CORE = {name: "x" for name in ("TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "TOKEN_KEY_ID", "EXPORT_QUEUE_URL",
                               "DELIVERY_QUEUE_URL", "PAYMENT_POLL_QUEUE_URL", "NOTIFICATION_TOPIC_ARN",
                               "SETTINGS_SECRET_NAME")}
KEY = "k" * 32
SA_KEYS = {"sage_accounting_client_id": "sa-client", "sage_accounting_client_secret": "sa-very-secret"}
S200_KEYS = {"sage200_client_id": "s200-client", "sage200_client_secret": "s200-very-secret",
             "sage200_subscription_key": "s200-sub-key-secret"}
INTACCT_KEYS = {"intacct_sender_id": "sender", "intacct_sender_password": "sender-very-secret"}
REGIONAL_KEYS = {"sage_regional_api_key": "regional-very-secret-key"}
SECRET_VALUES = ("sa-very-secret", "s200-very-secret", "s200-sub-key-secret", "sender-very-secret",
                 "regional-very-secret-key", KEY)
NO_AWS = AwsClients(**{service: object() for service in ("dynamodb", "kms", "sqs", "sns", "secretsmanager")})


def product_models(base: type[ProductSettings] | type[ProductSecrets]) -> dict[Provider, type]:
    """Each registered product's model of `base` kind, from its package's settings module (the
    registry line's package + ".settings"): exactly one each."""
    found = {}
    for provider, line in PRODUCTS.items():
        module = importlib.import_module(line.partition(":")[0].rpartition(".")[0] + ".settings")
        models = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, base) and v is not base]
        assert len(models) == 1, f"{module.__name__} should declare one {base.__name__}, has {models}"
        found[provider] = models[0]
    return found


PRODUCT_SETTINGS = product_models(ProductSettings)
PRODUCT_SECRETS = product_models(ProductSecrets)


def _secrets(**keys: str) -> IntegrationSecrets:
    return IntegrationSecrets.model_validate({"state_signing_key": KEY, **keys})


def _products(environ: dict[str, str], secrets: IntegrationSecrets) -> SageProducts:
    return SageProducts(load_settings({**CORE, **environ}), NO_AWS, secrets=secrets)


# ---- environment


def test_a_product_reads_its_variables_with_the_live_defaults():
    settings = load_settings(CORE)
    accounting = settings.for_product(SageAccountingSettings)
    assert accounting.api_url == "https://api.accounting.sage.com/v3.1"
    assert accounting.token_url == "https://oauth.accounting.sage.com/token"
    assert accounting.requests_per_minute == 200  # paced under Sage's limit unless turned off
    assert settings.for_product(Sage200Settings).requests_per_minute == 100
    assert settings.for_product(Sage200Settings).auth_url == "https://id.sage.com/authorize"
    assert settings.for_product(SageIntacctSettings).endpoint == "https://api.intacct.com/ia/xml/xmlgw.phtml"


def test_a_product_reads_the_variables_a_deployment_sets():
    settings = load_settings({**CORE, "SAGE200_API_URL": "http://127.0.0.1:3301/v1",
                              "SAGE200_REQUESTS_PER_MINUTE": "0", "SAGE_INTACCT_ENDPOINT": "http://i/gw"})
    assert settings.for_product(Sage200Settings).api_url == "http://127.0.0.1:3301/v1"
    assert settings.for_product(Sage200Settings).requests_per_minute == 0
    assert settings.for_product(SageIntacctSettings).endpoint == "http://i/gw"
    products = _products({"SAGE200_REQUESTS_PER_MINUTE": "30"}, _secrets(**S200_KEYS))
    assert products.product(Provider.SAGE_200).limits.requests_per_minute == 30  # what the client paces to


def test_every_registered_product_has_its_own_settings_and_secret_models():
    assert set(PRODUCT_SETTINGS) == set(providers()) == set(PRODUCT_SECRETS)
    assert PRODUCT_SETTINGS[Provider.SAGE_200] is Sage200Settings
    assert PRODUCT_SECRETS[Provider.SAGE_INTACCT] is SageIntacctSecrets
    for provider, model in PRODUCT_SECRETS.items():
        assert secret_keys(provider).required == required_keys(model)  # the registry reads what the model needs


def test_a_bad_variable_is_named_when_its_product_is_built_before_anything_is_sent():
    products = _products({"SAGE200_REQUESTS_PER_MINUTE": "-5"}, _secrets(**SA_KEYS, **S200_KEYS))
    with pytest.raises(ConfigurationError, match=r"^environment: SAGE200_REQUESTS_PER_MINUTE .*greater than"):
        products.product(Provider.SAGE_200)
    products.product(Provider.SAGE_ACCOUNTING)  # another product is not held back by it
    with pytest.raises(ConfigurationError, match="SAGE_ACCOUNTING_REQUESTS_PER_MINUTE"):
        load_settings({**CORE, "SAGE_ACCOUNTING_REQUESTS_PER_MINUTE": "lots"}).for_product(SageAccountingSettings)


def test_the_environment_kept_for_the_products_is_not_shown_and_holds_no_aws_credentials():
    settings = load_settings({**CORE, "AWS_SECRET_ACCESS_KEY": "aws-secret", "SAGE200_API_URL": "http://s200"})
    assert "aws-secret" not in repr(settings) and "aws-secret" not in json.dumps(settings.model_dump())
    assert "AWS_SECRET_ACCESS_KEY" not in settings._environ
    assert settings.model_copy(update={"stage": "test"}).for_product(Sage200Settings).api_url == "http://s200"
    direct = Settings.model_validate({**CORE, "SAGE200_API_URL": "http://s200"})  # not through load_settings
    assert direct.for_product(Sage200Settings).api_url == "http://s200"
    assert not any(name.startswith(("sage", "intacct")) for name in Settings.model_fields)  # product-neutral


# ---- the settings secret


def test_a_product_takes_its_keys_from_the_settings_secret():
    secrets = _secrets(**SA_KEYS, **S200_KEYS, **INTACCT_KEYS)
    s200 = secrets.for_product(Sage200Secrets)
    assert s200.client_id == "s200-client"
    assert s200.client_secret.get_secret_value() == "s200-very-secret"
    assert s200.subscription_key.get_secret_value() == "s200-sub-key-secret"
    assert secrets.for_product(SageIntacctSecrets).sender_password.get_secret_value() == "sender-very-secret"
    assert secrets.for_product(SageAccountingSecrets).client_id == "sa-client"


def test_missing_keys_are_named_never_a_value():
    secrets = _secrets(sage200_client_id="s200-client", sage200_client_secret="")  # empty counts as missing
    with pytest.raises(ConfigurationError) as err:
        secrets.for_product(Sage200Secrets)
    assert str(err.value) == "the settings secret has no sage200_client_secret / sage200_subscription_key"
    products = _products({}, secrets)
    with pytest.raises(ConfigurationError, match="sage200_client_secret / sage200_subscription_key"):
        products.product(Provider.SAGE_200)


def test_no_secret_value_is_in_repr_str_or_an_error():
    secrets = _secrets(**SA_KEYS, **S200_KEYS, **INTACCT_KEYS, **REGIONAL_KEYS)
    shown = [repr(secrets), str(secrets), json.dumps(secrets.model_dump(mode="json"))]
    for model in PRODUCT_SECRETS.values():
        mine = secrets.for_product(model)
        shown += [repr(mine), str(mine), json.dumps(mine.model_dump(mode="json"))]
    bad = IntegrationSecrets.model_validate({"state_signing_key": KEY, "sage200_client_id": ["s200-very-secret"],
                                             "sage200_client_secret": "s200-very-secret",
                                             "sage200_subscription_key": "s200-sub-key-secret"})
    with pytest.raises(ConfigurationError) as err:
        bad.for_product(Sage200Secrets)
    assert "sage200_client_id" in str(err.value)
    shown.append(str(err.value))
    with pytest.raises(ValidationError) as short:  # get_integration_secrets names the key from it
        IntegrationSecrets.model_validate({"state_signing_key": "s200-very-secret", **SA_KEYS})
    shown.append(str(short.value))
    for text in shown:
        assert not any(value in text for value in SECRET_VALUES), text
    mine = secrets.for_product(SageAccountingSecrets)
    assert repr(mine) == str(mine) == "SageAccountingSecrets(client_id, client_secret)"  # names only, ids too


def test_keys_come_from_secrets_manager_as_stored():
    secrets_module.clear_cache()
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="eu-west-2")
        sm.create_secret(Name="sb/settings", SecretString=json.dumps({"state_signing_key": KEY, **INTACCT_KEYS}))
        secrets = secrets_module.get_integration_secrets("sb/settings", boto3_client=sm)
        assert secrets.for_product(SageIntacctSecrets).sender_id == "sender"
        with pytest.raises(ConfigurationError, match="sage_accounting_client_id / sage_accounting_client_secret"):
            secrets.for_product(SageAccountingSecrets)
    secrets_module.clear_cache()


# ---- a product no tenant uses


@pytest.mark.parametrize("used", list(Provider))
def test_a_product_not_used_needs_none_of_its_keys_or_variables(used: Provider):
    keys = {Provider.SAGE_ACCOUNTING: SA_KEYS, Provider.SAGE_200: S200_KEYS, Provider.SAGE_INTACCT: INTACCT_KEYS,
            Provider.SAGE_REGIONAL: REGIONAL_KEYS}
    bad_elsewhere = {name: "not a number" for provider, name in (
        (Provider.SAGE_ACCOUNTING, "SAGE_ACCOUNTING_REQUESTS_PER_MINUTE"),
        (Provider.SAGE_200, "SAGE200_REQUESTS_PER_MINUTE")) if provider is not used}
    products = _products(bad_elsewhere, _secrets(**keys[used]))  # only the used product's keys
    assert products.product(used).secret_keys.required == required_keys(PRODUCT_SECRETS[used])
    for other in set(Provider) - {used}:
        with pytest.raises(ConfigurationError, match=r"the settings secret has no|environment: "):
            products.product(other)


class _Example(BaseModel):
    needed: str
    optional: str = ""


def test_required_keys_are_the_fields_without_a_default():
    assert required_keys(_Example) == ("needed",)
    assert required_keys(Sage200Secrets) == ("sage200_client_id", "sage200_client_secret", "sage200_subscription_key")
