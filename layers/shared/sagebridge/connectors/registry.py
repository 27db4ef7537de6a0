"""Which Sage product serves each provider: one line per product, "module:builder".

A product's module is imported the first time a tenant of it is served, and only then, so a cold
start imports the products its tenants use and nothing else (and needs no credentials of the
others in its settings secret). The builder is called as
`build(settings, *, store, clients, http, secrets)` and returns the product's wiring, which
implements `Product` (connectors/product.py); `SageProducts` (sync/products.py) checks it does.
Next to its builder the module declares `SECRET_KEYS` (connectors.product.SecretKeys, made in the
product's settings module from its secret model): which keys of the settings secret it needs, read
before anything is built (the connect function offers a product's connect flow only when its connect
keys are there).

Adding a product: one line here, its product module, its `Provider` value.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType

from sagebridge.connectors.product import SecretKeys
from sagebridge.domain.errors import ConfigurationError
from sagebridge.domain.settings import Provider

PRODUCTS: Mapping[Provider, str] = MappingProxyType({
    Provider.SAGE_ACCOUNTING: "sagebridge.connectors.sage_accounting.product:build_sage_accounting",
    Provider.SAGE_INTACCT: "sagebridge.connectors.sage_intacct.product:build_sage_intacct",
    Provider.SAGE_200: "sagebridge.connectors.sage200.product:build_sage200",
    Provider.SAGE_REGIONAL: "sagebridge.connectors.sage_regional.product:build_sage_regional",
})

# The product a tenant connects to when its settings name none (and whose connect flow is always
# offered: the deployment's settings secret must hold its credentials).
DEFAULT_PROVIDER: Provider = Provider.SAGE_ACCOUNTING


def providers() -> tuple[Provider, ...]:
    """Every registered provider, in registry order (the order runs over all products take)."""
    return tuple(PRODUCTS)


def product_builder(provider: Provider) -> Callable[..., object]:
    """The builder of `provider`'s product, its module imported now (the first time only: Python
    keeps it). What it builds is checked against `Product` by the caller, which knows the types
    the engines use for the poll."""
    line = _line(provider)
    module_name, _, name = line.partition(":")
    build = getattr(importlib.import_module(module_name), name, None)
    if not callable(build):
        raise ConfigurationError(f"the registry names {line} for {provider.value}, and there is no such builder")
    return build


def secret_keys(provider: Provider) -> SecretKeys:
    """The settings-secret keys `provider`'s product declares (its module imported now)."""
    module_name = _line(provider).partition(":")[0]
    keys = getattr(importlib.import_module(module_name), "SECRET_KEYS", None)
    if not isinstance(keys, SecretKeys):
        raise ConfigurationError(f"{module_name} declares no SECRET_KEYS for {provider.value}")
    return keys


def _line(provider: Provider) -> str:
    line = PRODUCTS.get(provider)
    if line is None:
        raise ConfigurationError(f"no Sage product is registered for provider {provider.value!r}")
    return line


__all__ = ["DEFAULT_PROVIDER", "PRODUCTS", "product_builder", "providers", "secret_keys"]
