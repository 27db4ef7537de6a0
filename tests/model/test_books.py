"""The books stay right under random sequences of host events, accountant actions and system
events (machine.py). Profiles (SAGEBRIDGE_MODEL_PROFILE):

- bounded (default, `make test`): a fixed, derandomized part plus a small random budget;
- deep (`make test-deep`): long runs, aiming at 20,000+ steps in all.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.model.machine import BooksMachine, books_test_case

PROFILE = os.environ.get("SAGEBRIDGE_MODEL_PROFILE", "bounded")
_COMMON: dict[str, Any] = {"deadline": None, "database": None, "print_blob": True,
                           "suppress_health_check": list(HealthCheck)}
VERBOSITY = Verbosity.verbose if os.environ.get("SAGEBRIDGE_MODEL_VERBOSE") else Verbosity.normal
FIXED = settings(max_examples=6, stateful_step_count=30, derandomize=True, verbosity=VERBOSITY, **_COMMON)
RANDOM = settings(max_examples=int(os.environ.get("SAGEBRIDGE_MODEL_EXAMPLES", 4 if PROFILE == "bounded" else 400)),
                  stateful_step_count=30 if PROFILE == "bounded" else 60, **_COMMON)
MIN_STEPS = 20  # hypothesis starts with tiny examples; every example here does some work


def test_books_fixed_seed(system: Any) -> None:
    """The same sequences every run (derandomized): a red here is reproducible as is."""
    books_test_case(system)
    # Shrinking is the deep profile's job: the bounded one must stay quick even when it fails.
    run_state_machine_as_test(BooksMachine, settings=settings(FIXED, phases=[Phase.explicit, Phase.generate]),
                              _min_steps=MIN_STEPS)


def test_books_random(system: Any) -> None:
    books_test_case(system)
    phases = [Phase.generate, Phase.shrink] if PROFILE == "deep" else [Phase.generate]
    run_state_machine_as_test(BooksMachine, settings=settings(RANDOM, phases=phases), _min_steps=MIN_STEPS)
