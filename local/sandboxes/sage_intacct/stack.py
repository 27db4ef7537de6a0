"""The Sage Intacct sandbox in the local stack (local/sandboxes/stack_entry.py)."""

from __future__ import annotations

from typing import Any

from local.sandboxes.stack_entry import StackEntry


def _build(clock: Any) -> tuple[Any, Any]:
    from local.sandboxes.sage_intacct import SageIntacctSandbox

    sandbox = SageIntacctSandbox(clock=clock)
    return sandbox, sandbox


def _secrets() -> dict[str, str]:
    from local.sandboxes.sage_intacct import DEFAULT_SENDER_ID, DEFAULT_SENDER_PASSWORD

    return {"intacct_sender_id": DEFAULT_SENDER_ID, "intacct_sender_password": DEFAULT_SENDER_PASSWORD}


STACK_ENTRY = StackEntry(build=_build, environment=lambda url: {"SAGE_INTACCT_ENDPOINT": f"{url}/ia/xml/xmlgw.phtml"},
                         secrets=_secrets())
