"""Early results under per-key caps that evict (`cep.early.EarlyMatcher` with `max_partial_matches`,
`max_buffered_events` and each `on_overflow` policy), for random monotone patterns and shuffled
arrival with watermarks and snapshot/restores in between.

What is guaranteed when caps evict (docs/bounded-state.md, "Early results under caps"):

- no match is reported twice, early and at the watermark together, also across restores;
- every match reported is a match of the whole stream (a plain, uncapped matcher fed every event);
- the event-time pass sees exactly the kept events: after each watermark the committed matcher's
  snapshot is that of a plain matcher with the same caps fed the events the buffer kept, it reports the
  same timeouts, and every match that matcher finds is reported (early or at the watermark);
- evictions are counted, and equal the plain matcher's and the buffer's; when both counters are
  zero the old guarantee holds exactly: early + final = the event-time result;
- with caps that never evict, the output is exactly that of an uncapped early matcher.
"""

from __future__ import annotations

import pickle
from collections import Counter
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cep import Matcher, Pattern, StateLimitError
from cep import conditions as C
from cep.early import EarlyMatcher
from tests.cep.property.profiles import profile
from tests.cep.property.reference import canonical_from_engine
from tests.cep.property.strategies import build_pattern, event_id, streams
from tests.cep.property.test_early_results import (
    WAYPOINTS,
    arrivals,
    event_time_truth,
    monotone_specs,
)

POLICIES = st.sampled_from(("drop_oldest", "drop_newest"))
PARTIAL_CAPS = st.none() | st.integers(0, 4)
BUFFER_CAPS = st.none() | st.integers(1, 5)


def buffered_kinds(pattern: Any) -> Any:
    """``fn(event, None) -> bool``: whether an event is buffered at all (events the pattern's
    prefilter rejects never are, as documented)."""
    prefilter = Matcher(pattern).prefilter
    return prefilter.compile() if prefilter is not None else (lambda event, ctx: True)


class KeptEvents:
    """The reference for the buffer cap: which arrived events wait for the watermark, and in which
    order the pass takes them, written from the documented rule (not from the code under test)."""

    def __init__(self, cap: Optional[int], policy: str, pattern: Any) -> None:
        self.buffers = buffered_kinds(pattern)
        self.cap = cap
        self.policy = policy
        self.waiting: list = []  # (timestamp, arrival index, event)
        self.evicted = 0
        self.arrivals = 0

    def arrive(self, event: dict) -> None:
        if not self.buffers(event, None):
            return
        self.arrivals += 1
        self.waiting.append((event["ts"], self.arrivals, event))
        if self.cap is None or len(self.waiting) <= self.cap:
            return
        self.evicted += 1
        if self.policy == "drop_newest":
            self.waiting.pop()
        else:
            self.waiting.remove(min(self.waiting, key=lambda w: (w[0], w[1])))

    def due(self, watermark: int) -> list:
        """The kept events at or below `watermark`, in (timestamp, arrival) order; they stop waiting."""
        due = sorted((w for w in self.waiting if w[0] <= watermark), key=lambda w: (w[0], w[1]))
        self.waiting = [w for w in self.waiting if w[0] > watermark]
        return [event for _, _, event in due]


def run_early(pattern: Any, plan: list, end: int, **options: Any) -> tuple[list, list]:
    """(early matches with the arrival index they were reported at, final matches)."""
    options = dict(options, event_id=event_id)
    matcher = EarlyMatcher(pattern, **options)
    early, final = [], []
    arrival = -1
    for kind, value in [*plan, ("watermark", end)]:
        if kind == "event":
            arrival += 1
            early.extend((m, arrival) for m in matcher.process(value, value["ts"]))
        elif kind == "watermark":
            final.extend(matcher.advance_time(value)[0])
        else:
            matcher = EarlyMatcher.restore(pattern, matcher.snapshot(), **options)
    return early, final


def _end(events: list, spec: Any) -> int:
    return (max(e["ts"] for e in events) if events else 0) + (spec.within_ms or 0) + 20


@profile(400)
@given(
    data=st.data(),
    spec=monotone_specs(),
    events=streams,
    max_partial=PARTIAL_CAPS,
    max_buffered=BUFFER_CAPS,
    policy=POLICIES,
)
def test_evicting_caps_report_nothing_twice_nothing_false_and_pass_the_kept_events(
    data, spec, events, max_partial, max_buffered, policy
):
    plan = data.draw(arrivals(events))
    pattern = build_pattern(spec)
    end = _end(events, spec)
    caps = {"max_partial_matches": max_partial, "on_overflow": policy}
    options = dict(
        caps, event_id=event_id, waypoint_every=data.draw(WAYPOINTS), max_buffered_events=max_buffered
    )
    early = EarlyMatcher(pattern, **options)
    plain = Matcher(pattern, **caps)  # the event-time pass over the kept events, as written
    kept = KeptEvents(max_buffered, policy, pattern)
    reported: list = []
    plain_matches: list = []

    def canon(match: dict) -> tuple:
        return canonical_from_engine(match, spec.names, event_id)

    def canon_timeouts(timeouts: list) -> Counter:
        return Counter((canon(m), ts) for m, ts in timeouts)

    for kind, value in [*plan, ("watermark", end)]:
        if kind == "event":
            reported.extend(early.process(value, value["ts"]))
            kept.arrive(value)
        elif kind == "restore":
            early = EarlyMatcher.restore(pattern, early.snapshot(), **options)
        else:
            expected_timeouts: list = []
            for event in kept.due(value):
                found, timeouts = plain.advance_time(event["ts"])
                plain_matches.extend(found)
                expected_timeouts.extend(timeouts)
                plain_matches.extend(plain.process(event, event["ts"]))
            found, timeouts = plain.advance_time(value)
            plain_matches.extend(found)
            expected_timeouts.extend(timeouts)
            final, timeouts = early.advance_time(value)
            reported.extend(final)
            assert canon_timeouts(timeouts) == canon_timeouts(expected_timeouts)
            # compared unpickled: after a restore, equal strings are no longer one object (pickle memo)
            assert pickle.loads(early.committed.snapshot()) == pickle.loads(plain.snapshot()), (
                "the pass saw exactly the kept events"
            )

    truth = Counter(canon(m) for m in event_time_truth(pattern, plan, end))
    got = Counter(canon(m) for m in reported)
    assert all(n == 1 for n in got.values()), "a match was reported twice"
    assert set(got) <= set(truth), "a match that is not a match of the whole stream"
    assert {canon(m) for m in plain_matches} <= set(got), "a match of the kept events was not reported"
    assert early.evicted_buffered_events == kept.evicted
    assert early.evicted_partial_matches == plain.evicted_partial_matches
    if early.evicted_buffered_events == 0 and early.evicted_partial_matches == 0:
        assert got == truth, "nothing was evicted: early + final is the event-time result"


@profile(200)
@given(data=st.data(), spec=monotone_specs(), events=streams, policy=POLICIES)
def test_caps_that_never_evict_change_nothing(data, spec, events, policy):
    plan = data.draw(arrivals(events))
    pattern = build_pattern(spec)
    end = _end(events, spec)
    waypoint_every = data.draw(WAYPOINTS)
    capped = run_early(
        pattern, plan, end, waypoint_every=waypoint_every,
        max_partial_matches=10_000, max_buffered_events=len(events) + 1, on_overflow=policy,
    )
    assert capped == run_early(pattern, plan, end, waypoint_every=waypoint_every)


@profile(300)
@given(
    data=st.data(),
    spec=monotone_specs(),
    events=streams,
    max_partial=PARTIAL_CAPS,
    max_buffered=BUFFER_CAPS,
)
def test_fail_hands_over_each_match_once_and_refuses_the_event(data, spec, events, max_partial, max_buffered):
    """Under ``fail`` the first cap exceeded raises `StateLimitError`; what was returned until then
    plus the error's matches holds no duplicate and no false match, a refused event leaves the
    matcher as it was, and nothing is counted as evicted."""
    plan = [step for step in data.draw(arrivals(events)) if step[0] != "restore"]
    pattern = build_pattern(spec)
    end = _end(events, spec)
    early = EarlyMatcher(
        pattern, event_id=event_id, waypoint_every=data.draw(WAYPOINTS),
        max_partial_matches=max_partial, max_buffered_events=max_buffered, on_overflow="fail",
    )
    buffers = buffered_kinds(pattern)
    reported: list = []
    failed: Optional[StateLimitError] = None
    for kind, value in [*plan, ("watermark", end)]:
        try:
            if kind == "event":
                before = early.snapshot()
                full = (
                    max_buffered is not None
                    and buffers(value, None)
                    and sum(map(len, early.pending.values())) >= max_buffered
                )
                reported.extend(early.process(value, value["ts"]))
                assert not full, "a full buffer under fail must raise"
            else:
                reported.extend(early.advance_time(value)[0])
        except StateLimitError as exc:
            failed = exc
            reported.extend(exc.matches)
            if kind == "event" and full:
                assert early.snapshot() == before, "the refused event left the matcher as it was"
            break

    def canon(match: dict) -> tuple:
        return canonical_from_engine(match, spec.names, event_id)

    got = Counter(canon(m) for m in reported)
    assert all(n == 1 for n in got.values()), "a match was reported twice"
    assert set(got) <= {canon(m) for m in event_time_truth(pattern, plan, end)}
    assert early.evicted_buffered_events == 0 and early.evicted_partial_matches == 0
    if failed is None:  # no cap was exceeded: the old guarantee
        assert got == Counter(canon(m) for m in event_time_truth(pattern, plan, end))


def test_bad_buffer_options_are_refused():
    pattern = Pattern.begin("a").where(C.field("k") == "a").followed_by_any("b").where(C.field("k") == "b")
    with pytest.raises(ValueError, match="max_buffered_events"):
        EarlyMatcher(pattern, max_buffered_events=0)
    with pytest.raises(ValueError, match="on_overflow"):
        EarlyMatcher(pattern, max_buffered_events=3, on_overflow="drop_random")
