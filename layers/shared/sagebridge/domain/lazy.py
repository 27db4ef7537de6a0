"""Names a package offers but imports on first use, so a function's cold start loads only what it
touches (docs/performance.md, cold start). In the lowest layer so that every package may use it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def imported_on_first_use(module: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `module`: `name` is imported from the module `homes[name]`
    the first time it is asked for, then kept in `module` (never looked up again)."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(import_module(home), name)
        setattr(sys.modules[module], name, value)
        return value

    return __getattr__
