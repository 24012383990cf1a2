"""Early results with a buffered-events cap that evicts: the work per reading stays bounded (no
rebuild of the matcher kept ahead on each eviction), in `cep.early.EarlyMatcher` and in
`cep.flink.operator.CepFunction`; what an evicted event changes, on small examples; old snapshots.

Work is counted as condition calls (the conditions count them), not timed: the per-reading time is
measured by bench/early_caps.py.
"""

from __future__ import annotations

import pickle
import random
from typing import Any

import pytest

from cep import Pattern
from cep import conditions as C
from cep.early import EarlyMatcher
from cep.flink.operator import CepFunction
from tests.flink.stand_ins import Ctx, Runtime, Timers


def counting_chain(calls: list, within_ms: int = 3) -> Pattern:
    """``a -> followed_by_any b within within_ms``, each condition call appended to `calls`."""

    def kind(wanted: str) -> Any:
        return lambda event: calls.append(1) is None and event["k"] == wanted

    return (
        Pattern.begin("a").where(kind("a")).followed_by_any("b").where(kind("b")).within(within_ms)
    )


def stream(count: int) -> list:
    return [{"id": ts, "k": "abx"[ts % 3], "ts": ts} for ts in range(1, count + 1)]


def calls_per_reading(feed: Any, events: list, calls: list) -> list:
    per_reading = []
    for event in events:
        before = len(calls)
        feed(event)
        per_reading.append(len(calls) - before)
    return per_reading


def test_evictions_do_not_make_each_reading_replay_the_buffer():
    # the watermark never moves: once 40 events wait, every reading evicts the oldest one
    calls: list = []
    matcher = EarlyMatcher(counting_chain(calls), max_buffered_events=40, waypoint_every=8)
    per_reading = calls_per_reading(lambda e: matcher.process(e, e["ts"]), stream(400), calls)
    assert matcher.evicted_buffered_events == 360
    # a reading costs what it cost before the cap was reached, not a replay of the 40 kept events
    assert max(per_reading[40:]) <= max(per_reading[:40]) <= 6
    assert matcher.early.rebuilds == 0


def test_evictions_in_the_operator_do_not_replay_the_buffer_per_reading():
    calls: list = []
    function = CepFunction(
        counting_chain(calls), lambda match, ctx: [match], early_results=True, max_buffered_events=40
    )
    runtime = Runtime()
    function.open(runtime)
    ctx = Ctx(Timers())
    found: list = []

    def feed(event: dict) -> None:
        ctx.ts = event["ts"]
        found.extend(function.process_element(event, ctx))

    per_reading = calls_per_reading(feed, stream(400), calls)
    assert runtime.counters["evictedBufferedEvents"].count == 360
    assert max(per_reading[40:]) <= max(per_reading[:40]) <= 6
    # every a-b pair within 3 ms (b one ms after each a) was found early, each once
    assert len(found) == len({(m["a"][0]["id"], m["b"][0]["id"]) for m in found}) == 133


def test_a_match_found_before_its_event_was_evicted_is_reported_once():
    p = Pattern.begin("a").where(C.field("k") == "a").followed_by_any("b").where(C.field("k") == "b")
    m = EarlyMatcher(p, max_buffered_events=2, event_id=lambda e: e["id"])
    assert m.process({"id": 1, "k": "a"}, 10) == []
    assert [x["b"][0]["id"] for x in m.process({"id": 2, "k": "b"}, 20)] == [2]
    # the third event evicts a@10: a and the later b still match, early, from the matcher kept ahead
    assert [x["b"][0]["id"] for x in m.process({"id": 3, "k": "b"}, 30)] == [3]
    assert m.evicted_buffered_events == 1
    # the pass never saw a@10: it finds nothing, reports nothing twice, and forgets what was early
    assert m.advance_time(100) == ([], [])
    assert m.early.emitted == {}
    assert m.committed.is_empty()  # fed b@20 and b@30 only: nothing live


def test_drop_newest_refuses_the_arriving_event_and_keeps_the_rest():
    p = Pattern.begin("a").where(C.field("k") == "a").followed_by_any("b").where(C.field("k") == "b")
    m = EarlyMatcher(p, max_buffered_events=1, on_overflow="drop_newest", event_id=lambda e: e["id"])
    m.process({"id": 1, "k": "a"}, 10)
    assert m.process({"id": 2, "k": "b"}, 20) == []  # refused: it would have completed a match
    assert m.evicted_buffered_events == 1
    assert [x["b"][0]["id"] for x in m.process({"id": 3, "k": "b"}, 30)] == []  # refused too
    assert m.advance_time(100) == ([], [])
    assert m.evicted_buffered_events == 2


def test_counters_survive_a_restore_and_a_version_1_snapshot_still_restores():
    p = Pattern.begin("a").where(C.field("k") == "a").followed_by_any("b").where(C.field("k") == "b")
    m = EarlyMatcher(p, max_buffered_events=1, max_partial_matches=1)
    for ts, kind in enumerate("aab", 1):
        m.process({"id": ts, "k": kind}, ts)
    m.advance_time(2)
    restored = EarlyMatcher.restore(p, m.snapshot(), max_buffered_events=1, max_partial_matches=1)
    assert restored.evicted_buffered_events == m.evicted_buffered_events == 2
    assert restored.evicted_partial_matches == m.evicted_partial_matches
    old = pickle.dumps((1, m.committed.snapshot(), dict(m.pending), {}, m.watermark), protocol=4)
    from_v1 = EarlyMatcher.restore(p, old)
    assert from_v1.evicted_buffered_events == 0 and from_v1.pending == m.pending


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_the_operator_keeps_exactly_the_events_the_rule_keeps_across_watermarks(policy):
    """The operator's buffer count and oldest-timestamp heap (kept per event, recounted after each
    pass) evict exactly what the documented rule evicts, with shuffled arrival and moving watermarks."""
    rng = random.Random(5)
    events = [{"id": ts, "k": rng.choice("ab"), "ts": ts} for ts in range(1, 301)]
    for start in range(0, 300, 6):
        block = events[start : start + 6]
        rng.shuffle(block)
        events[start : start + 6] = block
    events_by_id = {e["id"]: e for e in events}
    function = CepFunction(
        counting_chain([], within_ms=5), lambda match, ctx: [match], early_results=True,
        max_buffered_events=15, on_overflow=policy,
    )
    runtime = Runtime()
    function.open(runtime)
    timers = Timers()
    ctx = Ctx(timers)
    waiting: list = []  # the rule: (ts, arrival); over the cap drop the earliest (ts, arrival) or the new one
    emitted: list = []
    for arrival, event in enumerate(events):
        ctx.ts = event["ts"]
        emitted.extend(function.process_element(event, ctx))
        waiting.append((event["ts"], arrival))
        if len(waiting) > 15:
            waiting.remove(waiting[-1] if policy == "drop_newest" else min(waiting))
        if arrival % 20 == 19:
            timers.watermark = max(e["ts"] for e in events[: arrival + 1]) - 12
            for due in sorted(t for t in timers.registered if t <= timers.watermark):
                timers.registered.remove(due)
                emitted.extend(function.on_timer(due, ctx))
            waiting = [w for w in waiting if w[0] > timers.watermark]
        kept = sorted((ts, e["id"]) for ts, es in runtime.map.items() for e in es)
        assert kept == sorted((ts, events[i]["id"]) for ts, i in waiting)
    assert runtime.counters["evictedBufferedEvents"].count > 50
    # early and at the watermark together: no match twice, each a real a-then-b pair within the window
    pairs = [(m["a"][0]["id"], m["b"][0]["id"]) for m in emitted]
    assert len(pairs) == len(set(pairs)) > 0
    assert all(events_by_id[a]["k"] == "a" and events_by_id[b]["k"] == "b" for a, b in pairs)
    assert all(0 < b - a < 5 for a, b in pairs)  # ids are timestamps
