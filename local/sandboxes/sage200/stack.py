"""The Sage 200 sandbox in the local stack (local/sandboxes/stack_entry.py)."""

from __future__ import annotations

from typing import Any

from local.sandboxes.stack_entry import STACK_BUSINESSES, StackEntry


def _build(clock: Any) -> tuple[Any, Any]:
    from local.sandboxes.sage200 import Sage200Sandbox

    sandbox = Sage200Sandbox(companies=STACK_BUSINESSES, clock=clock)  # consent page, then the company picker
    return sandbox, sandbox


def _environment(url: str) -> dict[str, str]:
    from local.sandboxes.sage200.app import API_PATH  # the live path, served under the sandbox's host

    return {"SAGE200_API_URL": f"{url}{API_PATH}", "SAGE200_AUTH_URL": f"{url}/authorize",
            "SAGE200_TOKEN_URL": f"{url}/oauth/token"}


def _secrets() -> dict[str, str]:
    from local.sandboxes import sage200

    return {"sage200_client_id": sage200.DEFAULT_CLIENT_ID, "sage200_client_secret": sage200.DEFAULT_CLIENT_SECRET,
            "sage200_subscription_key": sage200.DEFAULT_SUBSCRIPTION_KEY}


STACK_ENTRY = StackEntry(build=_build, environment=_environment, secrets=_secrets())
