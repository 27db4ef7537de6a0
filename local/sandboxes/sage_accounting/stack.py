"""The Sage Accounting sandbox in the local stack (local/sandboxes/stack_entry.py)."""

from __future__ import annotations

from typing import Any

from local.sandboxes.stack_entry import STACK_BUSINESSES, StackEntry


def _build(clock: Any) -> tuple[Any, Any]:
    from local.sandboxes.sage_accounting import SageAccountingSandbox

    sandbox = SageAccountingSandbox(businesses=STACK_BUSINESSES, clock=clock)
    return sandbox, sandbox


def _environment(url: str) -> dict[str, str]:
    return {"SAGE_ACCOUNTING_API_URL": f"{url}/v3.1",
            "SAGE_ACCOUNTING_AUTH_URL": f"{url}/oauth2/auth/central?filter=apiv3.1",
            "SAGE_ACCOUNTING_TOKEN_URL": f"{url}/token",
            "SAGE_ACCOUNTING_REVOKE_URL": f"{url}/revoke"}


def _secrets() -> dict[str, str]:
    from local.sandboxes.sage_accounting import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    return {"sage_accounting_client_id": DEFAULT_CLIENT_ID, "sage_accounting_client_secret": DEFAULT_CLIENT_SECRET}


STACK_ENTRY = StackEntry(build=_build, environment=_environment, secrets=_secrets())
