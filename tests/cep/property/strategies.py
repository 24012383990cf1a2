"""Hypothesis strategies for small patterns and streams, and the bridge from a spec to `cep.Pattern`.

Events are dicts ``{"id", "kind", "v", "ts"}`` over a three-letter alphabet so that random
conditions overlap often; timestamps grow by 0-3 ms so that ties and windows both matter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.cep.property.reference import (
    ANY,
    CONTIGUITIES,
    NO_SKIP,
    RELAXED,
    SKIP_PAST_LAST_EVENT,
    STRICT,
    PatternSpec,
    Stage,
    canonical_from_engine,
)

KINDS = ("a", "b", "c")
MAX_EVENTS = 12
MAX_SLOTS = 6


@dataclass(frozen=True)
class Cond:
    """``event["kind"] in kinds and event["v"] >= min_v``; its repr is valid Python for regressions."""

    kinds: frozenset
    min_v: int = 0

    def __call__(self, event: dict) -> bool:
        return event["kind"] in self.kinds and event["v"] >= self.min_v

    def __repr__(self) -> str:
        return f"Cond(frozenset({sorted(self.kinds)!r}), {self.min_v})"


def event_id(event: dict) -> int:
    return event["id"]


def make_events(rows: Sequence[tuple]) -> list:
    """Events from ``(kind, v, ts_step)`` rows: ids 0.., timestamps the running sum of the steps."""
    events, ts = [], 0
    for i, (kind, v, step) in enumerate(rows):
        ts += step
        events.append({"id": i, "kind": kind, "v": v, "ts": ts})
    return events


conditions = st.builds(
    Cond,
    st.frozensets(st.sampled_from(KINDS), min_size=1, max_size=2),
    st.sampled_from((0, 0, 1)),
)
event_rows = st.tuples(st.sampled_from(KINDS), st.integers(0, 2), st.integers(0, 3))
streams = st.lists(event_rows, max_size=MAX_EVENTS).map(make_events)


@st.composite
def stages(draw: Any, index: int, quantifiers: bool) -> Stage:
    times = draw(st.sampled_from((1, 1, 1, 2, 3))) if quantifiers else 1
    return Stage(
        name=f"n{index + 1}",
        condition=draw(conditions),
        contiguity=draw(st.sampled_from(CONTIGUITIES)) if index else RELAXED,
        times=times,
        inner=draw(st.sampled_from(CONTIGUITIES)) if times > 1 else RELAXED,
        optional=bool(index) and quantifiers and draw(st.booleans()),
    )


@st.composite
def pattern_specs(
    draw: Any, quantifiers: bool = False, skip_strategies: bool = False, require_window: bool = False
) -> PatternSpec:
    """Patterns of 1-4 stages; with `quantifiers`, ``times(n)`` and ``optional()`` stages too."""
    n = draw(st.integers(1, 4))
    drawn = []
    for i in range(n):
        stage = draw(stages(i, quantifiers))
        if sum(s.times for s in drawn) + stage.times > MAX_SLOTS:
            break
        drawn.append(stage)
    within = draw(st.integers(1, 8)) if require_window else draw(st.none() | st.integers(1, 8))
    skip = NO_SKIP
    if skip_strategies and within is not None and draw(st.booleans()):
        drawn = [_deterministic(s, first=(i == 0)) for i, s in enumerate(drawn)]
        skip = SKIP_PAST_LAST_EVENT
    return PatternSpec(tuple(drawn), within_ms=within, skip=skip)


def _deterministic(stage: Stage, first: bool) -> Stage:
    """The same stage without `any` contiguity or optional (the skip_past_last_event subset)."""
    return Stage(
        stage.name,
        stage.condition,
        STRICT if stage.contiguity == ANY and not first else stage.contiguity,
        stage.times,
        STRICT if stage.inner == ANY else stage.inner,
        False,
    )


def engine_condition(cond: Cond, declarative: bool) -> Any:
    """The condition as a `cep.conditions` expression or as a plain lambda."""
    if not declarative:
        return lambda e: e["kind"] in cond.kinds and e["v"] >= cond.min_v
    from cep import conditions as C

    kinds = sorted(cond.kinds)
    expr = C.field("kind") == kinds[0]
    for kind in kinds[1:]:
        expr = expr | (C.field("kind") == kind)
    return expr & (C.field("v") >= cond.min_v) if cond.min_v else expr


def build_pattern(spec: PatternSpec, declarative: bool = True) -> Any:
    """The engine's `Pattern` for a spec, built with the public builder verbs."""
    from cep import AfterMatchSkipStrategy, Pattern

    skip = (
        AfterMatchSkipStrategy.skip_past_last_event()
        if spec.skip == SKIP_PAST_LAST_EVENT
        else AfterMatchSkipStrategy.no_skip()
    )
    verbs = {STRICT: "next", RELAXED: "followed_by", ANY: "followed_by_any"}
    pattern = None
    for i, stage in enumerate(spec.stages):
        if i == 0:
            pattern = Pattern.begin(stage.name, skip_strategy=skip)
        else:
            pattern = getattr(pattern, verbs[stage.contiguity])(stage.name)
        pattern = pattern.where(engine_condition(stage.condition, declarative))
        if stage.times > 1:
            pattern = pattern.times(stage.times)
            if stage.inner == STRICT:
                pattern = pattern.consecutive()
            elif stage.inner == ANY:
                pattern = pattern.allow_combinations()
        if stage.optional:
            pattern = pattern.optional()
    if spec.within_ms is not None:
        pattern = pattern.within(spec.within_ms)
    return pattern


def end_of_stream_ms(spec: PatternSpec, events: Sequence[dict]) -> int:
    """A time at which every partial match of the stream has left its window."""
    last = events[-1]["ts"] if events else 0
    return last + (spec.within_ms or 0) + 1


#: The engine's switches for its optimisations (`Matcher(pattern, **options)`), which must change nothing.
matcher_options = st.fixed_dictionaries({"use_prefilter": st.booleans(), "use_shortcuts": st.booleans()})


def run_engine(
    spec: PatternSpec, events: Sequence[dict], declarative: bool = True, options: dict | None = None
) -> Counter:
    """Feed the stream to a fresh `Matcher`, then advance time past every window; all matches."""
    return run_engine_with_timeouts(spec, events, declarative, options)[0]


def run_engine_with_timeouts(
    spec: PatternSpec, events: Sequence[dict], declarative: bool = True, options: dict | None = None
) -> tuple:
    """As `run_engine`, also returning the timeouts as ``(canonical partial match, ts)``."""
    from tests.cep.harness import NfaHarness

    harness = NfaHarness(build_pattern(spec, declarative), watermark_follows_events=False, **(options or {}))
    matches, timeouts = harness.run(events, end=end_of_stream_ms(spec, events))
    found = Counter(canonical_from_engine(match, spec.names, event_id) for match in matches)
    timed_out = Counter((canonical_from_engine(m, spec.names, event_id), ts) for m, ts in timeouts)
    return found, timed_out
