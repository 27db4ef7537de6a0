"""Every refusal a sandbox gives for a request that crossed a documented limit (page size, rate,
concurrency), recorded in one place so the test suite can fail any test whose client crossed one.

A real Sage answers such a request with an error the integration then has to recover from (a 429 that
costs a minute, a page that has to be asked again); our clients are meant never to provoke one. The
sandboxes still answer as Sage does; ``record`` only remembers it. ``tests/conftest.py`` fails a test
that leaves a refusal behind unless it is marked ``limit_refusals_expected`` (tests of the refusal
itself and of the client's recovery).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

# The limits a refusal can be for (FIDELITY.md names the documented figure of each).
PAGE_SIZE = "page_size"
RATE = "rate"
CONCURRENCY = "concurrency"
LIMITS = (PAGE_SIZE, RATE, CONCURRENCY)


@dataclass(frozen=True)
class LimitRefusal:
    sandbox: str  # "sage_accounting", "sage200", "sage_intacct"
    limit: str  # one of LIMITS
    detail: str  # what was asked and what the limit is, for the failure message

    def __str__(self) -> str:
        return f"{self.sandbox}: {self.limit} limit: {self.detail}"


_refusals: list[LimitRefusal] = []
_lock = threading.Lock()


def record(sandbox: str, limit: str, detail: str) -> None:
    if limit not in LIMITS:
        raise ValueError(f"limit must be one of {LIMITS}")
    with _lock:
        _refusals.append(LimitRefusal(sandbox, limit, detail))


def take() -> list[LimitRefusal]:
    """The refusals recorded since the last take (and forget them)."""
    with _lock:
        taken = list(_refusals)
        _refusals.clear()
    return taken


__all__ = ["CONCURRENCY", "LIMITS", "PAGE_SIZE", "RATE", "LimitRefusal", "record", "take"]
