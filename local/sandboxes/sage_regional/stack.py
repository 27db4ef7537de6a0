"""The regional Sage Business Cloud Accounting sandbox in the local stack (local/sandboxes/stack_entry.py):
the product's Australian host points at it (`SAGE_REGIONAL_AU_URL`), and the settings secret's
`sage_regional_api_key` holds the sandbox's integrator key, as a deployment's holds the vendor's.
"""

from __future__ import annotations

from typing import Any

from local.sandboxes.stack_entry import STACK_BUSINESSES, StackEntry

BASE_URL_ENV = "SAGE_REGIONAL_AU_URL"  # the API base, ".../api/2.0.0", as the live hosts are written
# The settings secret's key holding the integrator's API key (a key name, not a secret).
API_KEY_SECRET = "sage_regional_api_key"  # noqa: S105


def _build(clock: Any) -> tuple[Any, Any]:
    from local.sandboxes.sage_regional import SageRegionalSandbox

    sandbox = SageRegionalSandbox(companies=STACK_BUSINESSES, clock=clock)  # one login sees both: a company picker
    return sandbox, sandbox


def _environment(url: str) -> dict[str, str]:
    from local.sandboxes.sage_regional.app import API_PATH

    return {BASE_URL_ENV: f"{url}{API_PATH}"}


def _secrets() -> dict[str, str]:
    from local.sandboxes.sage_regional import DEFAULT_API_KEY

    return {API_KEY_SECRET: DEFAULT_API_KEY}


STACK_ENTRY = StackEntry(build=_build, environment=_environment, secrets=_secrets())
