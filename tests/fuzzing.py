"""What the property-based (Hypothesis) tests share: how many examples, which seed, and their settings.

CI runs a small configuration (a smoke run, no timing assertions); ``make bench-fuzz`` the full one::

    ONDUTY_FUZZ_EXAMPLES=10000 pytest -s tests/integration/test_fuzz_bridge.py

``ONDUTY_FUZZ_SEED`` replays a run: every run prints its seed, and a failure prints it again with the
smallest example Hypothesis shrank it to. Hypothesis keeps no database here (``database=None``): an
example it found belongs in the test file as a regression case, not in a cache one machine holds.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import note as hypothesis_note
from hypothesis import seed as hypothesis_seed
from hypothesis.control import currently_in_test_context

F = TypeVar("F", bound=Callable[..., Any])


def examples(default: int) -> int:
    """``ONDUTY_FUZZ_EXAMPLES`` (the full runs), else ``default`` (CI's smoke run)."""
    given = os.environ.get("ONDUTY_FUZZ_EXAMPLES", "").strip()
    return int(given) if given else default


def run_seed() -> int:
    """``ONDUTY_FUZZ_SEED`` to replay a run, else a fresh one (printed, so any run can be replayed)."""
    given = os.environ.get("ONDUTY_FUZZ_SEED", "").strip()
    return int(given) if given else random.SystemRandom().randrange(2**32)


def fuzzed(count: int, seed: int) -> Callable[[F], F]:
    """Hypothesis' settings for a test against real processes: no deadline (a busy API server is slow, not
    wrong), no example database, a fixed seed, and the blob that reproduces a failure printed with it."""

    def wrap(test: F) -> F:
        configured = settings(
            max_examples=count,
            deadline=None,
            database=None,
            print_blob=True,
            # Each example is a real HTTP request (or API call); generation is never the slow part, and
            # the big bodies are built from a drawn size, not drawn byte by byte.
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
        )(test)
        return hypothesis_seed(seed)(configured)

    return wrap


def note(text: str) -> None:
    """Hypothesis' ``note`` (printed with a failing example), and nothing where a regression test runs alone."""
    if currently_in_test_context():
        hypothesis_note(text)
