"""find_paths implements the alert definition: hand-made cases, and agreement with a brute force."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import find_paths

_ids = itertools.count()


def ev(node, ts, by=None, temp=60.0, region="r"):
    """A well-formed reading (find_paths ignores anything the event schema rejects)."""
    return {"event_id": f"e{next(_ids)}", "node": node, "region": region, "ts": ts, "temperature": temp,
            "infectedBy": by, "lat": -33.0, "lon": 151.0}


def brute_force(events, k, window, threshold):
    """Literal reading of the definition: every k-tuple of readings, checked clause by clause."""
    hot = [e for e in events if e["temperature"] >= threshold]
    found = set()
    for combo in itertools.permutations(hot, k):
        nodes = [e["node"] for e in combo]
        if len({e["region"] for e in combo}) != 1 or len(set(nodes)) != k:
            continue
        if any(combo[i + 1]["ts"] <= combo[i]["ts"] for i in range(k - 1)):
            continue
        if any(combo[i + 1]["infectedBy"] != nodes[i] for i in range(k - 1)):
            continue
        if combo[-1]["ts"] - combo[0]["ts"] >= window:
            continue
        found.add((combo[0]["region"], tuple(nodes)))
    return found


def test_a_chain_is_one_path():
    events = [ev("a", 0, "a"), ev("b", 10, "a"), ev("c", 20, "b")]
    assert find_paths(events, chain_length=3, window_ms=100) == {("r", ("a", "b", "c"))}


def test_branching_fire_gives_one_path_per_branch():
    events = [ev("a", 0, "a"), ev("b", 10, "a"), ev("c", 11, "a"), ev("d", 20, "b"), ev("e", 21, "c")]
    assert find_paths(events, chain_length=3, window_ms=100) == {
        ("r", ("a", "b", "d")),
        ("r", ("a", "c", "e")),
    }


def test_self_infection_of_an_ignition_is_not_a_link():
    # The trap of the original pattern: a burning ignition node keeps reporting infectedBy == itself.
    events = [ev("a", t, "a") for t in (0, 10, 20, 30)] + [ev("b", 40, "a"), ev("c", 50, "b")]
    paths = find_paths(events, chain_length=3, window_ms=1000)
    assert paths == {("r", ("a", "b", "c"))}
    assert not any(p[1][0] == p[1][1] for p in paths)


def test_window_is_strict():
    events = [ev("a", 0, "a"), ev("b", 50, "a"), ev("c", 100, "b")]
    assert find_paths(events, chain_length=3, window_ms=100) == set()
    assert find_paths(events, chain_length=3, window_ms=101) == {("r", ("a", "b", "c"))}


def test_later_start_reading_can_fit_the_window():
    # a's first hot reading is too early, but its later reading at 60 makes the window.
    events = [ev("a", 0, "a"), ev("a", 60, "a"), ev("b", 70, "a"), ev("c", 150, "b")]
    assert find_paths(events, chain_length=3, window_ms=100) == {("r", ("a", "b", "c"))}


def test_timestamps_must_strictly_increase():
    events = [ev("a", 10, "a"), ev("b", 10, "a"), ev("c", 20, "b")]
    assert find_paths(events, chain_length=3, window_ms=100) == set()


def test_cold_readings_and_null_infected_by_break_a_chain():
    events = [ev("a", 0, "a"), ev("b", 10, "a", temp=49.99), ev("c", 20, "b")]
    assert find_paths(events, chain_length=3, window_ms=100) == set()
    spike = [ev("a", 0, "a"), ev("b", 10, None, temp=90.0), ev("c", 20, "b")]
    assert find_paths(spike, chain_length=3, window_ms=100) == set()


def test_nodes_must_be_distinct_even_in_a_cycle():
    events = [ev("a", 0, "b"), ev("b", 10, "a"), ev("a", 20, "b"), ev("b", 30, "a")]
    assert find_paths(events, chain_length=3, window_ms=100) == set()
    assert find_paths(events, chain_length=2, window_ms=100) == {("r", ("a", "b")), ("r", ("b", "a"))}


def test_regions_are_separate():
    events = [ev("a", 0, "a", region="x"), ev("b", 10, "a", region="y")]
    assert find_paths(events, chain_length=2, window_ms=100) == set()


def test_threshold_is_inclusive():
    events = [ev("a", 0, "a", temp=50.0), ev("b", 10, "a", temp=50.0)]
    assert find_paths(events, chain_length=2, window_ms=100, threshold=50.0) == {("r", ("a", "b"))}


def test_records_that_are_not_readings_are_ignored():
    events = [ev("a", 0, "a"), b'{"node": "b", "ts"', {"node": "b", "ts": "10", "temperature": 60.0,
              "region": "r", "infectedBy": "a"}, {"node": "b", "region": "r", "ts": 10, "temperature": 60.0},
              ev("b", 20, "a"), {**ev("c", 30, "b"), "temperature": "hot"}]
    assert find_paths(events, chain_length=2, window_ms=100) == {("r", ("a", "b"))}


_nodes = st.sampled_from("abcde")
_reading = st.builds(
    ev,
    _nodes,
    st.integers(0, 40),
    st.one_of(st.none(), _nodes),
    st.sampled_from([40.0, 50.0, 70.0]),
    st.sampled_from(["r", "s"]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_reading, max_size=9), st.integers(1, 4), st.integers(1, 45))
def test_agrees_with_brute_force(events, k, window):
    assert find_paths(events, chain_length=k, window_ms=window) == brute_force(events, k, window, 50.0)
