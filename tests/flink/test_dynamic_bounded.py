"""`DynamicCepFunction`'s per-key caps, metrics and state, driven directly with in-memory Flink state,
timers, broadcast state and metric group (`tests.flink.stand_ins`, one key)."""

from __future__ import annotations

import json

import pytest

from cep import Matcher, StateLimitError
from cep import conditions as C
from cep.flink.dynamic import DynamicCepFunction
from cep.pattern import Pattern
from cep.serde import pattern_to_dict
from tests.cep.test_bounded import multiplying
from tests.flink.stand_ins import Ctx, Runtime, Timers

MANY = pattern_to_dict(multiplying())  # a, any b's, c within 1 s: partial matches multiply
PAIR = pattern_to_dict(
    Pattern.begin("x").where(C.field("k") == "a").followed_by("y").where(C.field("k") == "d").within(1_000)
)


def _function(initial: dict, runtime: Runtime, **options) -> DynamicCepFunction:
    function = DynamicCepFunction(
        lambda match, ctx: [(ctx.pattern_id, {stage: [e["k"] for e in es] for stage, es in match.items()})],
        initial=initial,
        **options,
    )
    function._inner.GAUGE_REFRESH_S = 0.0  # recount after every call (default: at most once a second)
    function.open(runtime)
    return function


def _feed(function: DynamicCepFunction, ctx: Ctx, kinds: str, start: int = 1) -> list:
    out = []
    for i, kind in enumerate(kinds):
        ctx.ts = start + i
        out.extend(function.process_element({"k": kind}, ctx))
    return out


def _watermark(function: DynamicCepFunction, ctx: Ctx, watermark: int) -> list:
    ctx.timers.watermark = watermark
    return list(function.on_timer(watermark, ctx))


def _capped(events: list[tuple[str, int]], cap: int) -> tuple[int, int]:
    """(evictions, matches) of a capped `Matcher` fed the same events (kind, timestamp)."""
    matcher = Matcher(multiplying(), max_partial_matches=cap)
    found = sum(len(matcher.process({"k": kind}, ts)) for kind, ts in events)
    return matcher.evicted_partial_matches, found


def test_the_partial_match_cap_holds_per_pattern_and_evictions_are_counted():
    runtime, ctx = Runtime(), Ctx(Timers())
    function = _function({"many": MANY, "pair": PAIR}, runtime, max_partial_matches=4)
    _feed(function, ctx, "abbbb")
    _watermark(function, ctx, 10)
    # many: capped at 4 (of 1 + 2 + 4 + 8 + 16 forks); pair: its one partial match (a) untouched
    assert runtime.gauges["livePartialMatches"]() == 4 + 1
    events = [(kind, ts) for ts, kind in enumerate("abbbb", start=1)]
    assert runtime.counters["evictedPartialMatches"].count == _capped(events, 4)[0] > 0
    _evicted, found = _capped([*events, ("c", 11)], 4)
    matches = _feed(function, ctx, "cd", start=11) + _watermark(function, ctx, 20)
    assert sorted(pid for pid, _m in matches) == ["many"] * found + ["pair"]


def test_the_buffer_cap_and_its_gauge():
    runtime, ctx = Runtime(), Ctx(Timers())
    function = _function({"many": MANY}, runtime, max_buffered_events=3)
    _feed(function, ctx, "abbbbb")
    assert runtime.gauges["bufferedEvents"]() == 3
    assert runtime.counters["evictedBufferedEvents"].count == 3
    assert sum(len(v) for v in runtime.map.values()) == 3  # Flink state holds only what is kept


def test_fail_carries_the_matches_of_every_pattern_for_the_offending_event():
    runtime, ctx = Runtime(), Ctx(Timers())
    dd = pattern_to_dict(Pattern.begin("x").where(C.field("k") == "b"))  # every b is a match
    function = _function({"many": MANY, "bs": dd}, runtime, max_partial_matches=2, on_overflow="fail")
    _feed(function, ctx, "abb")  # "many": 1, 2, then 4 partial matches: the second b overflows
    ctx.timers.watermark = 10
    with pytest.raises(StateLimitError) as info:
        list(function.on_timer(10, ctx))
    assert (info.value.limit, info.value.count) == (2, 4)
    # "bs" was fed the offending b too, and its match travels with the error
    assert [(m.pattern_id, m["x"]) for m in info.value.matches] == [("bs", [{"k": "b"}])]


def test_a_key_with_nothing_live_holds_no_state():
    runtime, ctx = Runtime(), Ctx(Timers())
    function = _function({"many": MANY, "pair": PAIR}, runtime, max_partial_matches=4)
    _feed(function, ctx, "abbbb")
    _watermark(function, ctx, 10)
    assert runtime.value.value() is not None
    _watermark(function, ctx, 5_000)  # past the 1 s window of both patterns: all timed out
    assert runtime.value.value() is None and not runtime.map
    assert runtime.gauges["livePartialMatches"]() == 0


def test_removing_the_only_pattern_with_state_clears_the_key():
    runtime, ctx = Runtime(), Ctx(Timers())
    function = _function({"many": MANY, "pair": PAIR}, runtime)
    _feed(function, ctx, "ab")
    _watermark(function, ctx, 10)
    list(function.process_broadcast_element(json.dumps({"op": "remove", "id": "many"}), ctx))
    list(function.process_broadcast_element(json.dumps({"op": "remove", "id": "pair"}), ctx))
    assert runtime.value.value() is not None
    _watermark(function, ctx, 11)  # the key's next timer follows the rules: nothing is left
    assert runtime.value.value() is None


def test_an_unchanged_key_is_not_rewritten_and_a_restore_continues_from_what_was():
    runtime, ctx = Runtime(), Ctx(Timers())
    function = _function({"many": MANY, "pair": PAIR}, runtime)
    _feed(function, ctx, "ab")
    _watermark(function, ctx, 10)
    written = runtime.value.updates
    _watermark(function, ctx, 20)  # no event, nothing expires (windows end at 1001)
    assert runtime.value.updates == written
    restored = _function({"many": MANY, "pair": PAIR}, runtime)
    matches = _feed(restored, ctx, "cd", start=21) + _watermark(restored, ctx, 30)
    assert sorted(matches, key=repr) == [
        ("many", {"a": ["a"], "b": ["b"], "c": ["c"]}),
        ("pair", {"x": ["a"], "y": ["d"]}),
    ]


def test_bad_caps_are_refused_when_the_job_is_built():
    with pytest.raises(ValueError, match="on_overflow"):
        DynamicCepFunction(lambda m, c: [], max_partial_matches=3, on_overflow="drop_all")
    with pytest.raises(ValueError, match="max_partial_matches"):
        DynamicCepFunction(lambda m, c: [], max_partial_matches=-1)
    with pytest.raises(ValueError, match="max_buffered_events"):
        DynamicCepFunction(lambda m, c: [], max_buffered_events=0)
