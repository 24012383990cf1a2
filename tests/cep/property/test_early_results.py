"""Early results (`cep.early`) are exact: for monotone patterns and any arrival order above the watermark,
the early matches plus the event-time pass's matches are the event-time matches, each once, and every
match is reported when its last-arriving event arrives, also across snapshot/restore.

The event-time truth is a plain `Matcher` fed the events in (timestamp, arrival) order: ties keep
their arrival order in the event-time pass too. Every test draws how often the ahead matcher leaves
a waypoint (`waypoint_every`, 1 = at every new timestamp), since the event-time pass and the rebuilds
start from them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.cep.harness import NfaHarness
from tests.cep.property.profiles import profile
from tests.cep.property.reference import ANY, NO_SKIP, RELAXED, PatternSpec, Stage, canonical_from_engine
from tests.cep.property.strategies import build_pattern, conditions, event_id, streams
from tests.cep.property.test_dedupe_runs import bushfire_streams, fire_chain


@st.composite
def monotone_specs(draw: Any) -> PatternSpec:
    """1-4 single stages joined by followed_by_any, no_skip, with or without a window."""
    n = draw(st.integers(1, 4))
    stages = tuple(
        Stage(name=f"n{i + 1}", condition=draw(conditions), contiguity=ANY if i else RELAXED)
        for i in range(n)
    )
    return PatternSpec(stages, within_ms=draw(st.none() | st.integers(1, 8)), skip=NO_SKIP)


@st.composite
def arrivals(draw: Any, events: list) -> list:
    """A plan: the events in a drawn arrival order, each step optionally followed by a watermark as
    high as correctness allows or lower, and optionally by a snapshot/restore of the matcher."""
    order = draw(st.permutations(events))
    plan = []
    watermark = None
    for i, event in enumerate(order):
        plan.append(("event", event))
        remaining = [e["ts"] for e in order[i + 1 :]]
        bound = (min(remaining) - 1) if remaining else event["ts"] + 10
        low = -1 if watermark is None else watermark
        if bound > low and draw(st.booleans()):
            watermark = draw(st.integers(low + 1, bound))
            plan.append(("watermark", watermark))
        if draw(st.integers(0, 4)) == 0:
            plan.append(("restore", None))
    return plan


def event_time_truth(pattern: Any, plan: list, end: int) -> list:
    """All matches of a plain matcher fed in (timestamp, arrival) order."""
    arrived = [step[1] for step in plan if step[0] == "event"]
    ordered = sorted(enumerate(arrived), key=lambda pair: (pair[1]["ts"], pair[0]))
    return NfaHarness(pattern, watermark_follows_events=False).run((e for _, e in ordered), end=end)[0]


#: `EarlyMatcher(waypoint_every=...)` values to draw from: every new timestamp, sparse, the default.
WAYPOINTS = st.sampled_from((1, 2, 3, 32))


def run_early(pattern: Any, plan: list, end: int, waypoint_every: int = 32) -> tuple[list, list]:
    """(early matches with the arrival index they were reported at, final matches)."""
    from cep.early import EarlyMatcher

    harness = NfaHarness(
        pattern, watermark_follows_events=False, matcher_class=EarlyMatcher, event_id=event_id,
        waypoint_every=waypoint_every,
    )
    early, final = [], []
    arrival = -1
    for kind, value in plan:
        if kind == "event":
            arrival += 1
            early.extend((m, arrival) for m in harness.feed(value))
        elif kind == "watermark":
            final.extend(harness.advance_to(value))
        else:
            harness.restore()
    final.extend(harness.advance_to(end))
    return early, final


@profile(400)
@given(data=st.data(), spec=monotone_specs(), events=streams)
def test_early_plus_final_is_the_event_time_result(data, spec, events):
    plan = data.draw(arrivals(events))
    pattern = build_pattern(spec)
    end = (max(e["ts"] for e in events) if events else 0) + (spec.within_ms or 0) + 20
    early, final = run_early(pattern, plan, end, data.draw(WAYPOINTS))

    def canon(match: dict) -> tuple:
        return canonical_from_engine(match, spec.names, event_id)

    truth = Counter(canon(m) for m in event_time_truth(pattern, plan, end))
    assert Counter(canon(m) for m, _ in early) + Counter(canon(m) for m in final) == truth
    arrived_at = {step[1]["id"]: i for i, step in enumerate(s for s in plan if s[0] == "event")}
    for match, reported_at in early:
        last_needed = max(arrived_at[e["id"]] for events_ in match.values() for e in events_)
        assert reported_at == last_needed, "an early match is reported when its last event arrives"
    assert final == [], "every match of a monotone pattern is found early"


def node_path(match: dict, names: list) -> tuple:
    return tuple(match[n][0]["node"] for n in names)


@profile(200)
@given(
    data=st.data(),
    events=bushfire_streams(),
    length=st.sampled_from((2, 3, 4)),
    within_ms=st.sampled_from((25, 40, 1000)),
)
def test_early_fire_chains_with_dedupe_runs_find_exactly_the_paths(data, events, length, within_ms):
    # ties (readings of one tick) are common here, so arrival order within a tick matters too
    plan = data.draw(arrivals(events))
    pattern, names = fire_chain(length, within_ms, dedupe=True, declarative=True)
    plain, _ = fire_chain(length, within_ms, dedupe=False, declarative=True)
    end = (max(e["ts"] for e in events) if events else 0) + within_ms + 20
    early, final = run_early(pattern, plan, end, data.draw(WAYPOINTS))
    truth = {node_path(m, names) for m in event_time_truth(plain, plan, end)}
    found_early = {node_path(m, names) for m, _ in early}
    assert found_early | {node_path(m, names) for m in final} == truth
    assert found_early == truth, "every path is found early"


@profile(300)
@given(data=st.data(), spec=monotone_specs(), events=streams)
def test_each_pass_leaves_the_event_time_state_and_reports_its_timeouts(data, spec, events):
    """Whether the pass replays events or starts from a waypoint, after each watermark the committed
    matcher is byte for byte a plain matcher fed the same events and watermarks, and the pass reports
    the same timeouts (the same partial matches, the same timeout timestamps)."""
    from cep import Matcher
    from cep.early import EarlyMatcher

    plan = [step for step in data.draw(arrivals(events)) if step[0] != "restore"]
    pattern = build_pattern(spec)
    early = EarlyMatcher(pattern, event_id=event_id, waypoint_every=data.draw(WAYPOINTS))
    plain = Matcher(pattern)
    arrived: list = []

    def canon(timeouts: list) -> Counter:
        return Counter((canonical_from_engine(m, spec.names, event_id), ts) for m, ts in timeouts)

    end = (max(e["ts"] for e in events) if events else 0) + (spec.within_ms or 0) + 20
    for kind, value in [*plan, ("watermark", end)]:
        if kind == "event":
            early.process(value, value["ts"])
            arrived.append(value)
            continue
        due = sorted((e for e in arrived if e["ts"] <= value), key=lambda e: e["ts"])  # stable: arrival
        arrived = [e for e in arrived if e["ts"] > value]
        expected: list = []
        for e in due:
            expected.extend(plain.advance_time(e["ts"])[1])
            plain.process(e, e["ts"])
        expected.extend(plain.advance_time(value)[1])
        _, timeouts = early.advance_time(value)
        assert canon(timeouts) == canon(expected)
        assert early.committed.snapshot() == plain.snapshot()
