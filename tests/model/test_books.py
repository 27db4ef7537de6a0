"""The books stay right under random sequences of host events, accountant actions and system
events (machine.py). Profiles (SAGEBRIDGE_MODEL_PROFILE):

- bounded (default, `make test`): a fixed, derandomized part plus a small random budget;
- deep (`make test-deep`): long runs, aiming at 20,000+ steps in all.

Sage Accounting runs the full machine; Sage Intacct and Sage 200 run product_machine.py's (the same
host and system rules, Sage read through the conformance rows) with fewer examples in the bounded
profile (SAGEBRIDGE_MODEL_PRODUCT_EXAMPLES) and the deep profile's budget in the deep one.
SAGEBRIDGE_MODEL_PRODUCTS picks the products (e.g. "sage_intacct"; default: all three).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.model.machine import BooksMachine, books_test_case
from tests.model.product_machine import MACHINES

PROFILE = os.environ.get("SAGEBRIDGE_MODEL_PROFILE", "bounded")
_COMMON: dict[str, Any] = {"deadline": None, "database": None, "print_blob": True,
                           "suppress_health_check": list(HealthCheck)}
VERBOSITY = Verbosity.verbose if os.environ.get("SAGEBRIDGE_MODEL_VERBOSE") else Verbosity.normal
FIXED = settings(max_examples=6, stateful_step_count=30, derandomize=True, verbosity=VERBOSITY, **_COMMON)
RANDOM = settings(max_examples=int(os.environ.get("SAGEBRIDGE_MODEL_EXAMPLES", 4 if PROFILE == "bounded" else 400)),
                  stateful_step_count=30 if PROFILE == "bounded" else 60, **_COMMON)
PRODUCT_FIXED = settings(FIXED, max_examples=int(os.environ.get("SAGEBRIDGE_MODEL_PRODUCT_EXAMPLES", 2)))
PRODUCT_RANDOM = settings(RANDOM, max_examples=int(os.environ.get(
    "SAGEBRIDGE_MODEL_PRODUCT_EXAMPLES", 1 if PROFILE == "bounded" else 300)))
CHOSEN = [p.strip() for p in os.environ.get("SAGEBRIDGE_MODEL_PRODUCTS", "sage_accounting,sage_intacct,sage200")
          .split(",") if p.strip()]
OTHER_PRODUCTS = [p for p in MACHINES if p in CHOSEN]
MIN_STEPS = 20  # hypothesis starts with tiny examples; every example here does some work


@pytest.mark.skipif("sage_accounting" not in CHOSEN, reason="SAGEBRIDGE_MODEL_PRODUCTS leaves Sage Accounting out")
def test_books_fixed_seed(system: Any) -> None:
    """The same sequences every run (derandomized): a red here is reproducible as is."""
    books_test_case(system)
    # Shrinking is the deep profile's job: the bounded one must stay quick even when it fails.
    run_state_machine_as_test(BooksMachine, settings=settings(FIXED, phases=[Phase.explicit, Phase.generate]),
                              _min_steps=MIN_STEPS)


@pytest.mark.skipif("sage_accounting" not in CHOSEN, reason="SAGEBRIDGE_MODEL_PRODUCTS leaves Sage Accounting out")
def test_books_random(system: Any) -> None:
    books_test_case(system)
    phases = [Phase.generate, Phase.shrink] if PROFILE == "deep" else [Phase.generate]
    run_state_machine_as_test(BooksMachine, settings=settings(RANDOM, phases=phases), _min_steps=MIN_STEPS)


@pytest.mark.parametrize("provider", OTHER_PRODUCTS)
def test_product_books_fixed_seed(system: Any, provider: str) -> None:
    """Sage Intacct and Sage 200, the same sequences every run."""
    machine = MACHINES[provider]
    machine.system = system
    run_state_machine_as_test(machine, settings=settings(PRODUCT_FIXED, phases=[Phase.explicit, Phase.generate]),
                              _min_steps=MIN_STEPS)


@pytest.mark.parametrize("provider", OTHER_PRODUCTS)
def test_product_books_random(system: Any, provider: str) -> None:
    machine = MACHINES[provider]
    machine.system = system
    phases = [Phase.generate, Phase.shrink] if PROFILE == "deep" else [Phase.generate]
    run_state_machine_as_test(machine, settings=settings(PRODUCT_RANDOM, phases=phases), _min_steps=MIN_STEPS)
