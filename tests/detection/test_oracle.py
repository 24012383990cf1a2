"""The oracle (`simulator.find_paths`) against a literal reading of the alert definition.

`literal_paths` tries every ordered k-tuple of readings per region and checks each clause of the
definition as written; `find_paths` must agree with it on hand-made traps and on generated streams.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

from simulator import find_paths, is_valid_event
from tests.detection.definition import literal_paths, violated_clauses
from tests.detection.streams import (
    PROFILE,
    THRESHOLD,
    burning_streams,
    chain_lengths,
    free_streams,
    numbered,
    reading,
    small_windows,
)

MINUTE = 60_000
BURNING_WINDOWS = st.one_of(st.integers(1, 40), st.just(40))  # periods are 1, 3 or 10 time units


def both(events: list[dict], k: int, window_ms: int, threshold: float = THRESHOLD) -> set:
    """The oracle's answer, after checking that the literal definition gives the same one."""
    oracle = find_paths(events, chain_length=k, window_ms=window_ms, threshold=threshold)
    literal = literal_paths(events, k, window_ms, threshold)
    assert oracle == literal, f"find_paths {sorted(oracle)} != definition {sorted(literal)}"
    return oracle


# ---------------------------------------------------------------- the traps, one by one
def test_an_ignition_naming_itself_never_links_to_itself() -> None:
    # A burning ignition keeps reporting infectedBy == its own id; the original pattern turned that
    # into N1 -> N1 -> ... paths.
    burning_a = [reading("a", t, "a") for t in (0, 1, 2, 3)]
    events = numbered([*burning_a, reading("b", 4, "a"), reading("c", 5, "b")])
    assert both(events, 2, 100) == {("r", ("a", "b")), ("r", ("b", "c"))}
    assert both(events, 3, 100) == {("r", ("a", "b", "c"))}
    assert both(numbered([reading("a", t, "a") for t in range(5)]), 2, 100) == set()


def test_a_null_infected_by_ends_a_chain_but_may_start_one() -> None:
    events = numbered([reading("a", 0, "a"), reading("b", 1, None), reading("c", 2, "b")])
    assert both(events, 2, 100) == {("r", ("b", "c"))}
    assert both(events, 3, 100) == set()


def test_equal_timestamps_do_not_link() -> None:
    assert both(numbered([reading("a", 5, "a"), reading("b", 5, "a")]), 2, 100) == set()
    assert both(numbered([reading("a", 5, "a"), reading("b", 6, "a")]), 2, 100) == {("r", ("a", "b"))}
    # b's reading *before* a's does not link either
    assert both(numbered([reading("b", 4, "a"), reading("a", 5, "a")]), 2, 100) == set()


def test_a_reading_exactly_one_window_after_the_first_is_outside() -> None:
    events = numbered([reading("a", 0, "a"), reading("b", 5 * MINUTE, "a"), reading("c", 10 * MINUTE, "b")])
    assert both(events, 3, 10 * MINUTE) == set()
    assert both(events, 3, 10 * MINUTE + 1) == {("r", ("a", "b", "c"))}
    assert both(events, 2, 5 * MINUTE) == set()
    assert both(events, 2, 5 * MINUTE + 1) == {("r", ("a", "b")), ("r", ("b", "c"))}


def test_a_temperature_exactly_at_the_threshold_is_hot() -> None:
    at = numbered([reading("a", 0, "a", THRESHOLD), reading("b", 1, "a", THRESHOLD)])
    assert both(at, 2, 100) == {("r", ("a", "b"))}
    for cold in (0, 1):  # the first or the last reading just below
        events = [dict(e) for e in at]
        events[cold]["temperature"] = THRESHOLD - 0.01
        assert both(events, 2, 100) == set()


def test_cyclic_claims_give_both_directions_but_no_repeated_node() -> None:
    events = numbered(
        [reading("a", 0, "b"), reading("b", 1, "a"), reading("a", 2, "b"), reading("b", 3, "a")]
    )
    assert both(events, 2, 100) == {("r", ("a", "b")), ("r", ("b", "a"))}
    assert both(events, 3, 100) == set()
    three = numbered([reading("a", 0, "c"), reading("b", 1, "a"), reading("c", 2, "b"), reading("a", 3, "c")])
    assert both(three, 3, 100) == {("r", ("a", "b", "c")), ("r", ("b", "c", "a"))}


def test_a_node_reporting_every_minute_starts_the_window_at_any_of_its_readings() -> None:
    # a burns from minute 0 and reports every minute; b (infected by a) first burns at minute 6.
    a = [reading("a", m * MINUTE, "a") for m in range(10)]
    b = [reading("b", 6 * MINUTE, "a")]
    c = [reading("c", 9 * MINUTE, "b")]
    events = numbered(a + b + c)
    # a@5 .. b@6 .. c@9: 4 minutes
    assert both(events, 3, 4 * MINUTE + 1) == {("r", ("a", "b", "c"))}
    assert both(events, 3, 4 * MINUTE) == set()  # a@6 is not before b@6: a@5 is the latest start
    assert both(events, 2, MINUTE) == set()  # a@5 -> b@6 is the closest pair
    assert both(events, 2, MINUTE + 1) == {("r", ("a", "b"))}
    assert both(events, 2, 3 * MINUTE + 1) == {("r", ("a", "b")), ("r", ("b", "c"))}


def test_branching_fire_gives_one_path_per_branch() -> None:
    events = numbered([
        reading("a", 0, "a"), reading("b", 1, "a"), reading("c", 1, "a"),
        reading("d", 2, "b"), reading("e", 3, "c"),
    ])
    assert both(events, 3, 100) == {("r", ("a", "b", "d")), ("r", ("a", "c", "e"))}
    assert both(events, 2, 100) == {
        ("r", ("a", "b")), ("r", ("a", "c")), ("r", ("b", "d")), ("r", ("c", "e")),
    }


def test_paths_stay_inside_their_region() -> None:
    events = numbered([reading("a", 0, "a", region="r"), reading("b", 1, "a", region="s")])
    assert both(events, 2, 100) == set()


def test_the_definition_names_each_broken_clause() -> None:
    # The checker itself must be able to fail every clause (else the agreement above means little).
    a, b = reading("a", 0, "a"), reading("b", 10, "a")
    def broken(b: dict, window: int = 100) -> list[str]:
        return violated_clauses([a, b], window, THRESHOLD)

    assert broken(b) == []
    assert broken(dict(b, region="s")) == ["one region"]
    assert broken(dict(b, temperature=1.0)) == ["every temperature >= threshold"]
    assert broken(dict(b, infectedBy=None)) == ["e(i+1).infectedBy == node(ei)"]
    assert broken(dict(b, ts=0)) == ["strictly increasing event time"]
    assert broken(b, window=10) == ["ts(ek) - ts(e1) < window"]
    assert broken(dict(b, node="a")) == ["N1..Nk pairwise distinct"]


# ---------------------------------------------------------------- generated streams
def _shape(paths: set) -> str:
    """How interesting an example was: no path, one, several, or a branching (shared first node)."""
    firsts = [p[1][0] for p in paths]
    if len(set(firsts)) < len(firsts):
        return "branching"
    return {0: "none", 1: "one"}.get(len(paths), "several")


@pytest.mark.parametrize("k", [2, 3, 4])
def test_oracle_matches_the_definition_on_free_streams(k: int) -> None:
    seen: Counter = Counter()

    @settings(settings.get_profile(PROFILE), max_examples=settings.get_profile(PROFILE).max_examples // 2)
    @given(free_streams(), small_windows)
    def check(events: list[dict], window: int) -> None:
        paths = both(events, k, window)
        target(float(len(paths)))
        seen[_shape(paths)] += 1

    check()
    # not vacuous: many examples alert, some of them branching fires
    assert seen["one"] + seen["several"] + seen["branching"] >= 15, seen
    assert seen["branching"] >= (3 if k < 4 else 0), seen


def test_oracle_matches_the_definition_on_burning_streams() -> None:
    seen: Counter = Counter()

    @settings(settings.get_profile(PROFILE))
    @given(burning_streams(max_nodes=4, max_steps=3), chain_lengths, BURNING_WINDOWS)
    def check(events: list[dict], k: int, window: int) -> None:
        paths = both(events, k, window)
        target(float(len(paths)), label=f"paths of {k} nodes")
        seen[_shape(paths)] += 1

    check()
    assert seen["branching"] + seen["several"] >= 5, seen


@settings(settings.get_profile(PROFILE))
@given(free_streams(), chain_lengths, small_windows, st.randoms(use_true_random=False))
def test_oracle_ignores_arrival_order_and_duplicates(events, k, window, rnd) -> None:
    shuffled = events + [dict(e) for e in events[: len(events) // 2]]
    rnd.shuffle(shuffled)
    assert find_paths(shuffled, k, window, THRESHOLD) == find_paths(events, k, window, THRESHOLD)


# ---------------------------------------------------------------- records that are not readings
@pytest.mark.parametrize(
    "spoil",
    [{"lat": "south"}, {"lon": None}, {"event_id": 7}, {"battery": "full"}],
    ids=["lat-south", "lon-null", "event_id-int", "battery-str"],
)
def test_oracle_ignores_records_that_are_not_well_formed_readings(spoil: dict) -> None:
    # Regression (fixed on main in 95de566): a hot record with a bad lat/lon/event_id/battery used
    # to count, though the job's parser dead-letters it.
    good = numbered([reading("a", 0, "a"), reading("b", 1, "a"), reading("c", 2, "b")])
    bad = dict(good[1], **spoil)
    assert not is_valid_event(bad)
    # without b's reading nothing links: a names itself, c names b
    assert find_paths([good[0], bad, good[2]], 2, 100) == set()
    assert find_paths(good, 2, 100) == {("r", ("a", "b")), ("r", ("b", "c"))}
