"""Hypothesis settings for this folder, applied per test so other suites keep their own.

By default runs are derandomized and use no example database, so CI and every developer see the
same examples. ``CEP_PROPERTY_EXPLORE=1`` switches to random exploration (with the local
database) to hunt for new counterexamples; paste any you find as explicit regression tests.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXPLORE = os.environ.get("CEP_PROPERTY_EXPLORE") == "1"


def profile(max_examples: int, **overrides: object) -> settings:
    """Settings for one test: reproducible unless exploring, never timed (the machine is shared)."""
    return settings(
        max_examples=max_examples * (10 if EXPLORE else 1),
        derandomize=not EXPLORE,
        database=settings.default.database if EXPLORE else None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
        **overrides,
    )
