"""The local stack's functions follow the sandboxes' clock.

In the stack the Sage sandboxes share one clock, and `POST /_sandbox/clock` moves it forward. For
what a person wants to watch (a token expiring, the keep-alive refreshing it, Sage 200's 14- and
3-day warnings) Sage Bridge must live at the same time as Sage, as it does in production: so
`datetime.now()` in Sage Bridge's code (the layer and the handlers) returns real time plus how far
the clock was moved. Only `datetime.now`/`utcnow`/`today` are shifted, and only in those modules;
`time.time()` (webhook signatures, which the host app signs at real time), AWS and the sandboxes'
other machinery are untouched.

The modules' `datetime` name is swapped for a subclass whose instance checks are the real class's,
so `isinstance(x, datetime)` keeps holding for every datetime, shifted or not (as freezegun does).
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from datetime import UTC, timedelta, tzinfo
from datetime import datetime as _real_datetime
from typing import Any

PREFIXES = ("sagebridge", "_local_")  # the layer, and the handlers as local.runtime imports them

_lock = threading.Lock()
_offset: Callable[[], timedelta] = timedelta


class _SameAsDatetime(type):
    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, _real_datetime)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, _real_datetime)


class ShiftedDatetime(_real_datetime, metaclass=_SameAsDatetime):
    """`datetime` whose `now()` is the stack's time; what it returns are plain datetimes."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _real_datetime:  # type: ignore[override]
        return _real_datetime.now(tz) + _offset()

    @classmethod
    def utcnow(cls) -> _real_datetime:  # type: ignore[override]
        return _real_datetime.now(UTC).replace(tzinfo=None) + _offset()

    @classmethod
    def today(cls) -> _real_datetime:  # type: ignore[override]
        return cls.now()


def follow(offset: Callable[[], timedelta] | timedelta) -> None:
    """Shift Sage Bridge's `datetime.now()` by `offset` (a clock's `offset` read at each call, or a
    fixed amount, as `python -m local.invoke` reads it from the running stack)."""
    global _offset
    _offset = offset if callable(offset) else (lambda: offset)


def moved() -> bool:
    return bool(_offset())


def load_products() -> None:
    """Import every product's modules now. Sage Bridge imports a product the first time a tenant of
    it is served (connectors/registry.py), which may be in the middle of an invocation, after
    `patch_loaded_modules` ran: loaded first, they are patched like the rest."""
    from sagebridge.connectors.registry import PRODUCTS

    for line in PRODUCTS.values():
        importlib.import_module(line.partition(":")[0])


def patch_loaded_modules() -> None:
    """Give every loaded module of Sage Bridge the shifted `datetime` (cheap; run before each
    invocation, as handlers import more modules as they go)."""
    with _lock:
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith(PREFIXES):
                continue
            namespace: dict[str, Any] = vars(module)
            if namespace.get("datetime") is _real_datetime:
                namespace["datetime"] = ShiftedDatetime


__all__ = ["ShiftedDatetime", "follow", "load_products", "moved", "patch_loaded_modules"]
