"""`CepFunction(pass_every_ms=...)` (`PatternStream.pass_every`): a key's event-time pass runs only
when the watermark reaches a multiple of it. Driven with in-memory Flink state (`tests.flink.stand_ins`)
and timers fired as Flink fires them (every registered timer at or below the new watermark, in order):
the same matches and timeouts as without it, from fewer passes and fewer matcher writes."""

from __future__ import annotations

import random

import pytest

from cep import Pattern
from cep import conditions as C
from cep.flink.operator import CepFunction
from tests.flink.stand_ins import Runtime, feed_with_lagging_watermark

TIMEOUT_TAG = "timeouts"  # a stand-in: the function only yields it with each timeout


def chain() -> Pattern:
    a = Pattern.begin("a").where(C.field("k") == "a")
    return (
        a.followed_by_any("b")
        .where(C.field("k") == "b")
        .followed_by_any("c")
        .where(C.field("k") == "c")
        .within(40)
    )


def arrivals(seed: int, count: int = 600) -> list[dict]:
    """Events at ts 1..count, shuffled within stretches of 20 (out of order, never late at lag 30)."""
    rng = random.Random(seed)
    events = [{"id": ts, "k": rng.choice("abcx"), "ts": ts} for ts in range(1, count + 1)]
    shuffled: list[dict] = []
    for start in range(0, count, 20):
        stretch = events[start : start + 20]
        rng.shuffle(stretch)
        shuffled.extend(stretch)
    return shuffled


def run(events: list[dict], early: bool, pass_every_ms: int | None) -> tuple[list, Runtime, list[int]]:
    """Outputs of a function fed `events` with the watermark 30 behind the latest timestamp, then past
    everything; and the times its timers fired at."""
    function = CepFunction(
        chain(), lambda match, ctx: [("match", match)], timeout_tag=TIMEOUT_TAG,
        timeout_fn=lambda partial, ts: (partial, ts), early_results=early, pass_every_ms=pass_every_ms,
    )  # fmt: skip
    runtime = Runtime()
    function.open(runtime)
    out, fired = feed_with_lagging_watermark(function, events, lag=30, end=10_000)
    return out, runtime, fired


def as_set(out: list) -> tuple[list, list]:
    """Matches and timeouts as sorted lists of (stage, event ids), timeouts with their timestamps."""

    def ids(partial: dict) -> list:
        return sorted((stage, [e["id"] for e in events]) for stage, events in partial.items())

    matches = sorted(repr(ids(item)) for tag, item in out if tag == "match")
    timeouts = sorted(repr((ids(item[0]), item[1])) for tag, item in out if tag == TIMEOUT_TAG)
    return matches, timeouts


@pytest.mark.parametrize("early", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_matches_and_timeouts_from_fewer_passes(early: bool, seed: int) -> None:
    events = arrivals(seed)
    flink_like, every_watermark, fired_each = run(events, early, None)
    coarse, every_100, fired_coarse = run(events, early, 100)
    assert as_set(coarse) == as_set(flink_like)
    assert as_set(flink_like)[0] and as_set(flink_like)[1]  # the stream has both
    assert all(ts % 100 == 0 for ts in fired_coarse)
    assert len(fired_coarse) * 5 < len(fired_each)
    assert every_100.value.updates * 3 < every_watermark.value.updates


def test_it_is_refused_in_processing_time_and_below_one() -> None:
    with pytest.raises(ValueError, match="event time only"):
        CepFunction(chain(), lambda m, c: [m], processing_time=True, pass_every_ms=10)
    with pytest.raises(ValueError, match=">= 1"):
        CepFunction(chain(), lambda m, c: [m], pass_every_ms=0)
