"""`CepFunction`'s bounded-state metrics, driven directly with in-memory stand-ins for Flink's
state, timers and metric group (one key): what the ``cep`` group's counters and gauges read."""

from __future__ import annotations

import pytest

from cep import StateLimitError
from cep.flink.operator import CepFunction
from tests.cep.test_bounded import multiplying
from tests.flink.stand_ins import Ctx, Runtime, Timers


def _function(**bounds) -> tuple[CepFunction, Runtime, Ctx]:
    function = CepFunction(multiplying(), lambda match, ctx: [match], **bounds)
    function.GAUGE_REFRESH_S = 0.0  # recount after every call (default: at most once a second)
    runtime = Runtime()
    function.open(runtime)
    return function, runtime, Ctx(Timers())


def _feed(function: CepFunction, ctx: Ctx, kinds: str) -> list:
    out = []
    for i, kind in enumerate(kinds):
        ctx.ts = i + 1
        out.extend(function.process_element({"k": kind}, ctx))
    return out


def test_buffered_events_gauge_and_evictions():
    function, runtime, ctx = _function(max_buffered_events=3)
    _feed(function, ctx, "abbbbb")
    assert runtime.gauges["bufferedEvents"]() == 3
    assert runtime.counters["evictedBufferedEvents"].count == 3
    assert sum(len(v) for v in runtime.map.values()) == 3  # Flink state holds only what is kept


def test_partial_match_gauge_and_evictions_after_the_watermark():
    function, runtime, ctx = _function(max_partial_matches=4)
    _feed(function, ctx, "abbbb")
    assert runtime.gauges["livePartialMatches"]() == 0  # all still buffered
    ctx.timers.watermark = 10
    list(function.on_timer(10, ctx))
    assert runtime.gauges["livePartialMatches"]() == 4
    assert runtime.gauges["bufferedEvents"]() == 0
    assert runtime.counters["evictedPartialMatches"].count > 0


def test_a_key_with_nothing_live_clears_its_state():
    function, runtime, ctx = _function(max_partial_matches=4)
    _feed(function, ctx, "abbbb")
    ctx.timers.watermark = 10
    list(function.on_timer(10, ctx))
    assert runtime.value.value() is not None
    ctx.timers.watermark = 5_000  # past the 1 s window: every partial match timed out
    list(function.on_timer(5_000, ctx))
    assert runtime.value.value() is None and not runtime.map
    assert runtime.gauges["livePartialMatches"]() == 0


def test_fail_policy_on_the_buffer_raises():
    function, runtime, ctx = _function(max_buffered_events=2, on_overflow="fail")
    with pytest.raises(StateLimitError):
        _feed(function, ctx, "abb")
