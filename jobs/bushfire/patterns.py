"""The fire chain (docs/job.md, "The alert definition"): the one factory of the project's pattern.

A path N1 -> ... -> Nk is a chain of hot readings where each reading names the previous one's node in
`infectedBy`; the job also wants nodes pairwise distinct, event time strictly increasing and the last
reading less than the window after the first. Every distinct path is wanted, branching fires
included, so the job joins stages with `followed_by_any` (skip till any match: every fitting reading
branches a run).

A burning node reports every minute, so runs multiply; `dedupe_runs(key=node)` (an Emberwatch
extension, not Flink) keeps one run per node sequence unless another is not dominated, which is
exact here because every condition depends only on the nodes and on the first and last timestamps.

The job, the benchmarks, the tests and `python -m cep.examples` all build the chain here. What they
vary on purpose is a `ChainVariant`: `ALERT` is the job's; `ORIGINAL_2018` is the pattern of the
system Emberwatch replaces (`followed_by`, only the `infectedBy` link, no dedupe), which the
matcher benchmark measures; `lambdas=True` writes the same conditions as plain functions, opaque to
the engine (no pre-filter, no index), to measure and test that path.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional

from cep import AfterMatchSkipStrategy, Pattern
from cep import conditions as C
from jobs.bushfire.config import DetectionConfig


class Chaining(Enum):
    """How each stage follows the previous one."""

    FOLLOWED_BY = "followed_by"  # relaxed contiguity: a run takes the first fitting reading
    FOLLOWED_BY_ANY = "followed_by_any"  # every fitting reading branches a run: every path


@dataclass(frozen=True)
class ChainVariant:
    """The deliberate differences between the chains the project builds.

    Attributes
    ----------
    chaining : `Chaining` between stages.
    distinct_nodes : no node twice on a path (`C.unseen("node")`).
    strictly_later : each reading strictly after the previous stage's.
    dedupe_runs : one run per node sequence (`Pattern.dedupe_runs`; needs ``FOLLOWED_BY_ANY`` to be
        exact, see the module docstring).
    lambdas : conditions as plain Python functions instead of `cep.conditions`.
    """

    chaining: Chaining = Chaining.FOLLOWED_BY_ANY
    distinct_nodes: bool = True
    strictly_later: bool = True
    dedupe_runs: bool = True
    lambdas: bool = False

    def replace(self, **changes: Any) -> ChainVariant:
        return dataclasses.replace(self, **changes)


#: The job's alert definition: every distinct path, each once.
ALERT = ChainVariant()
#: The 2018 system's pattern: `followed_by`, linked by `infectedBy` only, every run reported.
ORIGINAL_2018 = ChainVariant(
    chaining=Chaining.FOLLOWED_BY, distinct_nodes=False, strictly_later=False, dedupe_runs=False
)


def stage_name(i: int) -> str:
    """Name of the i-th stage (1-based): ``n1`` ... ``nk``."""
    return f"n{i}"


def stage_names(chain_length: int) -> list[str]:
    """The pattern's stage names, first node first."""
    return [stage_name(i) for i in range(1, chain_length + 1)]


#: The run key for `dedupe_runs`: which sensor a reading comes from (a C-level getter: it is hot).
node_of = operator.itemgetter("node")


def hot(threshold_c: float) -> C.Condition:
    """Declarative, so `cep.analysis.prefilter` can push it into the JVM as a SQL ``WHERE``."""
    return C.field("temperature") >= threshold_c


def links_to_previous(stage: int, variant: ChainVariant = ALERT) -> C.Condition:
    """Condition of stage `stage` > 1: the reading extends the chain built so far by one node.

    * ``infectedBy`` is the previous stage's node (an ignition reports its own id, which can never
      equal a previous, distinct node, so it only starts chains);
    * event time strictly increases (`variant.strictly_later`);
    * the node is not already on the path (`variant.distinct_nodes`).

    Declarative (`C.last` references), so the engine compiles it and indexes partial matches by the
    previous node instead of testing every one; the window is the pattern's `within`.
    """
    previous = stage_name(stage - 1)
    link = C.field("infectedBy") == C.last(previous, "node")
    if variant.strictly_later:
        link = link & (C.field("ts") > C.last(previous, "ts"))
    if variant.distinct_nodes:
        link = link & C.unseen("node")
    return link


def _hot_and_linked_function(stage: int, threshold_c: float, variant: ChainVariant) -> Any:
    """`hot & links_to_previous(stage)` as one plain function of (event, ctx)."""
    previous = stage_name(stage - 1)
    earlier = tuple(stage_names(stage - 1))
    later, distinct = variant.strictly_later, variant.distinct_nodes

    def hot_and_linked(event: dict, ctx: Any) -> bool:
        if event["temperature"] < threshold_c:
            return False
        last = ctx.get_events_for_pattern(previous)[-1]
        if event["infectedBy"] != last["node"] or (later and event["ts"] <= last["ts"]):
            return False
        return not distinct or all(
            event["node"] != ctx.get_events_for_pattern(name)[-1]["node"] for name in earlier
        )

    return hot_and_linked


def fire_chain(detection: Optional[DetectionConfig] = None, variant: ChainVariant = ALERT) -> Pattern:
    """Fire paths of `detection.chain_length` nodes within `detection.window_ms` (defaults: the job's).

    Parameters
    ----------
    detection : chain length, window and threshold; the job's defaults when None.
    variant : what else differs (`ALERT`, the job's, by default; see `ChainVariant`).
    """
    detection = detection or DetectionConfig()
    threshold_c = detection.threshold_c
    is_hot = hot(threshold_c)
    if variant.lambdas:
        first: Any = lambda event: event["temperature"] >= threshold_c  # noqa: E731
    else:
        first = is_hot
    pattern = Pattern.begin(stage_name(1), skip_strategy=AfterMatchSkipStrategy.no_skip()).where(first)
    for i in range(2, detection.chain_length + 1):
        stage = (
            pattern.followed_by_any(stage_name(i))
            if variant.chaining is Chaining.FOLLOWED_BY_ANY
            else pattern.followed_by(stage_name(i))
        )
        if variant.lambdas:
            pattern = stage.where(_hot_and_linked_function(i, threshold_c, variant))
        else:
            pattern = stage.where(is_hot & links_to_previous(i, variant))
    pattern = pattern.within(detection.window_ms)
    return pattern.dedupe_runs(node_of) if variant.dedupe_runs else pattern
