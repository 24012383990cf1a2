"""The bushfire pattern (docs/job.md, "The alert definition") as a plain function returning a `cep.Pattern`.

A path N1 -> ... -> Nk is a chain of hot readings where each reading names the previous one's node in
`infectedBy`, nodes are pairwise distinct, event time strictly increases and the last reading is less
than the window after the first. Every distinct path is wanted, branching fires included, so stages
are joined with `followed_by_any` (skip till any match: every fitting reading branches a run).

A burning node reports every minute, so runs multiply; `dedupe_runs(key=node)` (an Emberwatch
extension, not Flink) keeps one run per node sequence unless another is not dominated, which is
exact here because every condition depends only on the nodes and on the first and last timestamps.
"""

from __future__ import annotations

import operator

from cep import AfterMatchSkipStrategy, Pattern
from cep import conditions as C
from jobs.bushfire.config import DetectionConfig


def stage_name(i: int) -> str:
    """Name of the i-th stage (1-based): ``n1`` ... ``nk``."""
    return f"n{i}"


#: The run key for `dedupe_runs`: which sensor a reading comes from (a C-level getter: it is hot).
node_of = operator.itemgetter("node")


def links_to_previous(stage: int) -> C.Condition:
    """Condition of stage `stage` > 1: extends the chain built so far by exactly one new node.

    * ``infectedBy`` is the previous stage's node (an ignition reports its own id, which can never
      equal a previous, distinct node, so it only starts chains);
    * event time strictly increases;
    * the node is not already on the path.

    Declarative (`C.last` references), so the engine compiles it and indexes partial matches by the
    previous node instead of testing every one; the window is the pattern's `within`.
    """
    previous = stage_name(stage - 1)
    return (
        (C.field("infectedBy") == C.last(previous, "node"))
        & (C.field("ts") > C.last(previous, "ts"))
        & C.unseen("node")
    )


def hot(threshold_c: float) -> C.Condition:
    """Declarative, so `cep.analysis.prefilter` can push it into the JVM as a SQL ``WHERE``."""
    return C.field("temperature") >= threshold_c


def fire_chain(detection: DetectionConfig) -> Pattern:
    """Every distinct fire path of `detection.chain_length` nodes within `detection.window_ms`."""
    is_hot = hot(detection.threshold_c)
    pattern = Pattern.begin(stage_name(1), skip_strategy=AfterMatchSkipStrategy.no_skip()).where(is_hot)
    for i in range(2, detection.chain_length + 1):
        pattern = (
            pattern.followed_by_any(stage_name(i)).where(is_hot & links_to_previous(i))
        )
    return pattern.within(detection.window_ms).dedupe_runs(node_of)


def stage_names(chain_length: int) -> list[str]:
    """The pattern's stage names, first node first."""
    return [stage_name(i) for i in range(1, chain_length + 1)]
