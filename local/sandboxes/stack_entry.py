"""How the local stack runs one sandbox: what to build, the environment that points Sage Bridge's
functions at it, and the integration's credentials at it (the settings secret's keys). Each sandbox
package declares its `STACK_ENTRY` (in its `stack.py`); `SANDBOXES` is the one list the stack walks, so a new product's
sandbox joins the stack with one line here."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The stack's Sage user can open two businesses, and Sage asks for consent, so connecting through the
# stack shows Sage's consent page and then Sage Bridge's business picker, as a real multi-business user sees.
STACK_BUSINESSES = ("Demo Garage Ltd", "Demo Bodyshop Ltd")

# The sandboxes the stack serves, in order ("package": its module declares STACK_ENTRY).
SANDBOXES = ("sage_accounting", "sage_intacct", "sage200", "sage_regional", "host_app")


@dataclass(frozen=True)
class StackEntry:
    build: Callable[[Any], tuple[Any, Any]]  # clock (None: real time) -> (sandbox to drive, ASGI app)
    environment: Callable[[str], Mapping[str, str]] = lambda url: {}  # the sandbox's URL -> function env
    secrets: Mapping[str, str] = field(default_factory=dict)  # settings-secret keys -> sandbox credentials
    sage: bool = True  # a Sage product (served behind the local-only clock and latency controls)


def stack_entry(name: str) -> StackEntry | None:
    """The entry `local.sandboxes.<name>.stack` declares (None: no such sandbox yet)."""
    try:
        module = importlib.import_module(f"local.sandboxes.{name}.stack")
    except ModuleNotFoundError:
        return None
    entry = getattr(module, "STACK_ENTRY", None)
    return entry if isinstance(entry, StackEntry) else None


__all__ = ["SANDBOXES", "STACK_BUSINESSES", "StackEntry", "stack_entry"]
