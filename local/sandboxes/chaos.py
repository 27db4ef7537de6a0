"""The sandboxes' profiles: ``realistic`` (the default) and ``chaos``, what real systems do at their worst.

One setting switches it on for every sandbox a process builds: ``SAGEBRIDGE_SANDBOX_PROFILE=chaos``
(read by each sandbox's constructor, or pass ``profile="chaos"``). Under chaos:

- a write (a POST/PUT/DELETE; for Intacct a request with a write function) is, at random with
  ``SAGEBRIDGE_CHAOS_RATE`` (default 0.2), committed and then answered 500, answered 503 or never
  answered (a read timeout), in equal shares. Faults a test adds itself take precedence;
- a record created through the API is missing from list, search and filter queries for
  ``SAGEBRIDGE_CHAOS_SEARCH_LAG_SECONDS`` (default 60) on the sandbox's clock, while a GET by its id
  finds it at once (so a frozen test clock keeps it hidden until the test moves the clock on);
- Sage Accounting remembers an ``idempotency_id`` only for the stricter window of
  ``SAGEBRIDGE_CHAOS_IDEMPOTENCY_HOURS`` (default 24) instead of the 7 days third parties describe,
  and only on the resources Sage lists as idempotent.

The random faults come from a generator per business (or company) seeded with
``SAGEBRIDGE_CHAOS_SEED`` (default 0) and the business's place in the order businesses first wrote
(not its random id), so the same sequence of requests meets the same faults.
``sandbox.chaos.paused = True`` stops the random faults (a quiet run); the search lag stays.
Sources and status of each behaviour: FIDELITY.md, "The chaos profile".
"""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .sage_accounting.faults import Fault

PROFILE_ENV = "SAGEBRIDGE_SANDBOX_PROFILE"
RATE_ENV = "SAGEBRIDGE_CHAOS_RATE"
SEARCH_LAG_ENV = "SAGEBRIDGE_CHAOS_SEARCH_LAG_SECONDS"
IDEMPOTENCY_ENV = "SAGEBRIDGE_CHAOS_IDEMPOTENCY_HOURS"
SEED_ENV = "SAGEBRIDGE_CHAOS_SEED"
PROFILES = ("realistic", "chaos")
AFTER_COMMIT = ("500", "503", "timeout")


def profile_name(profile: str | None = None) -> str:
    """The profile asked for (the argument, else the environment), checked."""
    name = (profile or os.environ.get(PROFILE_ENV) or "realistic").strip().lower()
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_ENV} must be one of {', '.join(PROFILES)}, got {name!r}")
    return name


def _number(env: str, default: float) -> float:
    raw = os.environ.get(env)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{env} must be a number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{env} must not be negative, got {raw!r}")
    return value


@dataclass(eq=False)
class Chaos:
    """What the chaos profile turns on in one sandbox (see the module docstring)."""

    rate: float = 0.2
    search_lag: dt.timedelta = dt.timedelta(seconds=60)
    idempotency_window: dt.timedelta = dt.timedelta(hours=24)
    seed: int = 0
    paused: bool = False
    # The clock the search lag runs on: the sandbox's by default; a harness whose sandbox clock
    # stands still while its own moves (tests/integration/export) sets its own here.
    clock: Callable[[], dt.datetime] | None = None
    fired: Counter[str] = field(default_factory=Counter)
    _rngs: dict[str, random.Random] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # (scope, collection, id) -> when it was created: hidden from queries until search_lag has passed.
    _recent: dict[tuple[str, str, str], dt.datetime] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"{RATE_ENV} must be between 0 and 1, got {self.rate}")

    @classmethod
    def from_env(cls) -> Chaos:
        return cls(
            rate=_number(RATE_ENV, 0.2),
            search_lag=dt.timedelta(seconds=_number(SEARCH_LAG_ENV, 60)),
            idempotency_window=dt.timedelta(hours=_number(IDEMPOTENCY_ENV, 24)),
            seed=int(_number(SEED_ENV, 0)),
        )

    # -- after-commit faults ----------------------------------------------------------------------

    def after_commit_fault(self, write: bool, scope: str | None) -> Fault | None:
        """For a write, at random: a fault that lets the write commit and then loses or spoils the answer."""
        if self.paused or not write or self.rate <= 0:
            return None
        with self._lock:
            key = scope or ""
            rng = self._rngs.get(key)
            if rng is None:
                rng = self._rngs[key] = random.Random(f"{self.seed}:{len(self._rngs)}")
            if rng.random() >= self.rate:
                return None
            kind = rng.choice(AFTER_COMMIT)
            self.fired[kind] += 1
        fault = Fault("drop_after_commit") if kind == "timeout" else Fault("error_after_commit", status=int(kind))
        fault.fire()
        return fault

    # -- search lag ---------------------------------------------------------------------------------

    def created(self, scope: str, collection: str, record_id: Any, at: dt.datetime) -> None:
        """A record was created through the API: queries miss it until the lag has passed."""
        if self.search_lag > dt.timedelta(0):
            with self._lock:
                self._recent[(scope, collection, str(record_id))] = self.clock() if self.clock else at

    def hidden(self, scope: str, collection: str, now: dt.datetime) -> set[str]:
        """The ids of `collection` that queries do not see yet (forgetting those whose lag is over)."""
        if not self._recent:
            return set()
        settled = (self.clock() if self.clock else now) - self.search_lag
        with self._lock:
            for key in [k for k, at in self._recent.items() if at <= settled]:
                del self._recent[key]
            return {k[2] for k in self._recent if k[0] == scope and k[1] == collection}


def for_sandbox(profile: str | None = None) -> Chaos | None:
    """The chaos a sandbox built now runs with: None under the realistic profile."""
    return Chaos.from_env() if profile_name(profile) == "chaos" else None


__all__ = ["PROFILES", "PROFILE_ENV", "Chaos", "for_sandbox", "profile_name"]
