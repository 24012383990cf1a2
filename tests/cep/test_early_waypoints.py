"""How often the matcher kept ahead leaves a waypoint (a copy of itself) in `cep.early.EarlyResults`.

On a live stream the watermark trails the arrivals, so a pass comes before any waypoint is usable and
drops them all: those copies were wasted, and the interval doubles until a pass uses one. Results are
the same whatever the interval (tests/cep/property/test_early_results.py draws it); this counts copies.
"""

from __future__ import annotations

import pytest

from cep import Matcher, Pattern
from cep import conditions as C
from cep.early import WAYPOINT_EVERY_MAX, EarlyMatcher


def chain() -> Pattern:
    a = Pattern.begin("a").where(C.field("k") == "a")
    return a.followed_by_any("b").where(C.field("k") == "b").within(50)


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list:
    made: list = []
    original = Matcher.copy

    def counting_copy(self: Matcher) -> Matcher:
        made.append(1)
        return original(self)

    monkeypatch.setattr(Matcher, "copy", counting_copy)
    return made


def events(count: int) -> list:
    return [({"id": ts, "k": "ab"[ts % 2]}, ts) for ts in range(1, count + 1)]


def test_a_watermark_trailing_the_arrivals_makes_waypoints_rarer(copies: list) -> None:
    matcher = EarlyMatcher(chain(), waypoint_every=4)
    for event, ts in events(2_000):
        matcher.process(event, ts)
        matcher.advance_time(ts - 100)  # a pass per arrival, 100 ms behind it
    # a fixed interval of 4 would have copied about 500 times; doubling from 4 to the cap (1,024)
    # copies 9 times, then once per 1,024 events (and once when the first arrival builds it)
    assert len(copies) <= 12
    assert matcher.early._every == WAYPOINT_EVERY_MAX


def test_a_pass_that_uses_a_waypoint_brings_the_interval_back(copies: list) -> None:
    matcher = EarlyMatcher(chain(), waypoint_every=4)
    feed = events(400)
    for event, ts in feed[:200]:
        matcher.process(event, ts)
        matcher.advance_time(ts - 100)
    assert matcher.early._every > 4
    for event, ts in feed[200:]:  # now the watermark stays put while events arrive, then catches up
        matcher.process(event, ts)
    matcher.advance_time(390)
    assert matcher.early._every == 4


def test_an_arrival_out_of_order_brings_the_interval_back(copies: list) -> None:
    matcher = EarlyMatcher(chain(), waypoint_every=4)
    for event, ts in events(300):
        matcher.process(event, ts)
        matcher.advance_time(ts - 100)
    assert matcher.early._every > 4
    matcher.process({"id": 10_000, "k": "a"}, 250)  # behind the latest arrival (300), above the watermark
    assert matcher.early.rebuilds == 1 and matcher.early._every == 4
