"""Divergences from Flink's NFA that are known, each with its reason (docs/differential-testing.md).

A divergence the differential test finds must match one of these, else the test fails. Each entry
recognises its divergences from the category and the case (not from a case id), so that random
cases of the same kind are covered and nothing else is. Deviations the engine no longer has are
removed here; their minimal cases stay in cases/fixed.json as regression tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from tests.cep.differential.runner import Divergence


@dataclass(frozen=True)
class KnownDeviation:
    name: str
    reason: str
    applies: Callable[[Divergence], bool]


def _flink_npe_on_missing_target(d: Divergence) -> bool:
    cause = d.flink.get("error", {}).get("cause", "")
    npe = "NullPointerException" in cause and "getTargetState" in cause
    return d.category == "run-error-flink-only" and npe


KNOWN: list[KnownDeviation] = [
    KnownDeviation(
        "flink-npe-greedy-optional-until",
        "Flink's NFA fails with a NullPointerException (a StateTransition without a target state) "
        "on a negation followed by a greedy, optional looping stage with until(), e.g. "
        "begin(a).not_followed_by(b).followed_by(c).one_or_more().until(...).greedy().optional(), "
        "on the first event; a Flink bug this engine does not reproduce (it matches normally).",
        _flink_npe_on_missing_target,
    ),
]


def explain(divergence: Divergence) -> Optional[KnownDeviation]:
    """The known deviation a divergence is, or None when it is new."""
    return next((k for k in KNOWN if k.applies(divergence)), None)
