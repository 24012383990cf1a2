"""Snapshots: a restored matcher continues exactly as an uninterrupted one; blobs stay compact."""

from __future__ import annotations

import pickle

import pytest

from cep import BufferStateError, Matcher, Pattern
from cep import conditions as C
from tests.cep.conformance_cases import build_pattern, build_skip, ids_of, load_cases, make_event
from tests.cep.streams import chain_pattern, drive, fire_stream, ids

CASES = load_cases()


def _replay(case: dict, cut: int | None) -> tuple[list, list]:
    """Run a case; when `cut` is set, snapshot after that many events and continue on a restored copy."""
    pattern = build_pattern(case["pattern"], build_skip(case["skip"]))
    matcher = Matcher(pattern)
    matches: list = []
    timeouts: list = []
    for i, raw in enumerate(case["events"]):
        if i == cut:
            matcher = Matcher.restore(pattern, matcher.snapshot())
        got, timed_out = matcher.advance_time(raw["ts"])
        matches += got
        timeouts += timed_out
        matches += matcher.process(make_event(raw), raw["ts"])
    if "advance_to" in case:
        got, timed_out = matcher.advance_time(case["advance_to"])
        matches += got
        timeouts += timed_out
    return [ids_of(m) for m in matches], [(ids_of(t), ts) for t, ts in timeouts]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_restore_anywhere_in_a_flink_scenario_changes_nothing(case: dict) -> None:
    uninterrupted = _replay(case, None)
    for cut in range(1, len(case["events"])):
        assert _replay(case, cut) == uninterrupted, f"restored after {cut} events"


@pytest.mark.parametrize("any_", [False, True])
def test_restore_mid_stream_on_a_fire_stream(any_: bool) -> None:
    events = fire_stream(side=4, minutes=30)
    pattern = chain_pattern(3, any_=any_)
    if any_:
        pattern = pattern.dedupe_runs(lambda e: e["node"])
    expected, expected_timeouts = drive(Matcher(pattern), events, end=10**9)
    for cut in (len(events) // 3, len(events) // 2, 2 * len(events) // 3):
        m = Matcher(pattern)
        first, first_to = drive(m, events[:cut])
        restored = Matcher.restore(pattern, m.snapshot())
        rest, rest_to = drive(restored, events[cut:], end=10**9)
        assert [ids(x) for x in first + rest] == [ids(x) for x in expected]
        assert [(ids(t), ts) for t, ts in first_to + rest_to] == [(ids(t), ts) for t, ts in expected_timeouts]


def test_snapshot_holds_each_event_once_and_no_pattern() -> None:
    pattern = (
        Pattern.begin("a")
        .where(C.field("kind") == "a")
        .followed_by_any("b")
        .where(lambda e: e["kind"] == "b")
        .followed_by_any("c")
        .where(C.field("kind") == "c")
    )
    m = Matcher(pattern)
    events = [{"kind": "a", "n": 0}] + [{"kind": "b", "n": i} for i in range(1, 30)]
    for i, e in enumerate(events):
        m.process(e, i)
    assert m.partial_match_count() == 30  # {a} and {a, b_i} for each b
    payload = pickle.loads(m.snapshot())
    stored_events = payload[4]
    assert len(stored_events) == len(events)  # a is shared by all 30 partial matches, stored once
    assert b"<lambda>" not in m.snapshot() and b"cep.conditions" not in m.snapshot()


def test_restore_rejects_a_different_pattern_and_garbage() -> None:
    p1 = Pattern.begin("a").followed_by("b")
    p2 = Pattern.begin("a").followed_by_any("b")
    blob = Matcher(p1).snapshot()
    with pytest.raises(BufferStateError, match="different pattern"):
        Matcher.restore(p2, blob)
    with pytest.raises(BufferStateError, match="not a cep matcher snapshot"):
        Matcher.restore(p1, b"not a snapshot")


def test_empty_after_restore_of_an_empty_matcher() -> None:
    p = Pattern.begin("a").where(C.field("k") == 1).followed_by("b")
    restored = Matcher.restore(p, Matcher(p).snapshot())
    assert restored.is_empty()
