"""The host app sandbox in the local stack (local/sandboxes/stack_entry.py)."""

from __future__ import annotations

from typing import Any

from local.sandboxes.stack_entry import StackEntry


def _build(clock: Any) -> tuple[Any, Any]:
    from local.sandboxes.host_app import HostApp, create_app

    host = HostApp()
    return host, create_app(host)


STACK_ENTRY = StackEntry(build=_build, sage=False)
