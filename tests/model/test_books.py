"""The books stay right under random sequences of host events, accountant actions and system
events (machine.py). Profiles (SAGEBRIDGE_MODEL_PROFILE):

- bounded (default, `make test`): a fixed, derandomized part plus a small random budget;
- deep (`make test-deep`): long runs, aiming at 20,000+ steps in all.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, settings

from tests.model.machine import books_test_case

PROFILE = os.environ.get("SAGEBRIDGE_MODEL_PROFILE", "bounded")
_COMMON: dict[str, Any] = {"deadline": None, "database": None, "print_blob": True,
                           "suppress_health_check": list(HealthCheck)}
VERBOSITY = Verbosity.verbose if os.environ.get("SAGEBRIDGE_MODEL_VERBOSE") else Verbosity.normal
FIXED = settings(max_examples=6, stateful_step_count=30, derandomize=True, verbosity=VERBOSITY, **_COMMON)
RANDOM = settings(max_examples=int(os.environ.get("SAGEBRIDGE_MODEL_EXAMPLES", 4 if PROFILE == "bounded" else 400)),
                  stateful_step_count=30 if PROFILE == "bounded" else 60, **_COMMON)
if os.environ.get("SAGEBRIDGE_MODEL_SEED"):
    RANDOM = settings(RANDOM, derandomize=False)


def test_books_fixed_seed(system: Any) -> None:
    """The same sequences every run: a red here is reproducible as is."""
    case = books_test_case(system)
    case.settings = settings(FIXED, phases=[Phase.explicit, Phase.generate])  # shrinking: the deep profile
    case("runTest").runTest()


def test_books_random(system: Any) -> None:
    case = books_test_case(system)
    phases = [Phase.generate, Phase.shrink] if PROFILE == "deep" else [Phase.generate]
    case.settings = settings(RANDOM, phases=phases)
    case("runTest").runTest()
