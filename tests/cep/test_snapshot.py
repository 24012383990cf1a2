"""Snapshots: a restored matcher continues exactly as an uninterrupted one; blobs stay compact."""

from __future__ import annotations

import pickle

import pytest

from cep import BufferStateError, Matcher, Pattern
from cep import conditions as C
from tests.cep.conformance_cases import (
    EMISSION_ORDER_PATH,
    WITHIN_PREVIOUS_PATH,
    build_pattern,
    build_skip,
    ids_of,
    load_cases,
    make_event,
)
from tests.cep.harness import NfaHarness
from tests.cep.streams import chain_pattern, fire_stream, ids

CASES = load_cases()
ALL_CASES = CASES + load_cases(EMISSION_ORDER_PATH) + load_cases(WITHIN_PREVIOUS_PATH)


def _replay(case: dict, cut: int | None) -> tuple[list, list]:
    """Run a case; when `cut` is set, snapshot after that many events and continue on a restored copy."""
    harness = NfaHarness(build_pattern(case["pattern"], build_skip(case["skip"])))
    for i, raw in enumerate(case["events"]):
        if i == cut:
            harness.restore()
        harness.feed(make_event(raw), raw["ts"])
    matches, timeouts = harness.run([], end=case.get("advance_to"))
    return [ids_of(m) for m in matches], [(ids_of(t), ts) for t, ts in timeouts]


@pytest.mark.parametrize("case", ALL_CASES, ids=[c["id"] for c in ALL_CASES])
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
    expected, expected_timeouts = NfaHarness(pattern).run(events, end=10**9)
    for cut in (len(events) // 3, len(events) // 2, 2 * len(events) // 3):
        harness = NfaHarness(pattern).feed_all(events[:cut]).restore()
        got, got_timeouts = harness.run(events[cut:], end=10**9)
        assert [ids(x) for x in got] == [ids(x) for x in expected]
        assert [(ids(t), ts) for t, ts in got_timeouts] == [(ids(t), ts) for t, ts in expected_timeouts]


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


def _held_timeouts_matcher() -> tuple:
    """A matcher whose `process` timed out partial matches that no `advance_time` reported yet."""
    p = (
        Pattern.begin("a")
        .where(lambda e: e["k"] == "a")
        .followed_by("b")
        .where(lambda e: e["k"] == "b")
        .within(5)
    )
    m = Matcher(p)
    for ts, k in ((1, "a"), (2, "a"), (9, "x"), (10, "a")):
        assert m.process({"k": k, "ts": ts}, ts) == []
    return p, m


def test_timeouts_held_by_process_survive_a_snapshot() -> None:
    p, m = _held_timeouts_matcher()
    restored = Matcher.restore(p, m.snapshot())
    expected = ([], [({"a": [{"k": "a", "ts": 1}]}, 6), ({"a": [{"k": "a", "ts": 2}]}, 7)])
    assert m.advance_time(9) == expected
    assert restored.advance_time(9) == expected
    assert m.advance_time(9) == ([], [])  # reported once


def _held_one_by_one(expired: list) -> list:
    """Version 5's held timeouts (groups: timeout, start_ts, start_seq, count, node indexes) as
    version 4 stored them: `node, start_ts, start_seq, rank, timeout` per timeout, in report
    order (the rank is not read back: the list order is the report order)."""
    flat, i = [], 0
    while i < len(expired):
        timeout, start_ts, start_seq, count = expired[i : i + 4]
        for j, node in enumerate(expired[i + 4 : i + 4 + count]):
            flat.extend((node, start_ts, start_seq, (j, 0), timeout))
        i += 4 + count
    return flat


def _as_version_4(payload: tuple) -> tuple:
    return (4, *payload[1:8], _held_one_by_one(payload[8]), *payload[9:])


def _without_ranks(payload: tuple) -> tuple:
    """A current payload as version 2 wrote it: partial matches without their rank, timeouts
    one by one without their rank and timestamp."""
    pms, completed = payload[6:8]
    expired = _held_one_by_one(payload[8])
    drop = lambda flat, width, n: [x for i, x in enumerate(flat) if i % width < width - n]  # noqa: E731
    return (2, *payload[1:6], drop(pms, 5, 1), drop(completed, 4, 1), drop(expired, 5, 2), payload[9])


def test_version_4_snapshot_with_timeouts_held_one_by_one_still_restores() -> None:
    p, m = _held_timeouts_matcher()
    v4 = pickle.dumps(_as_version_4(pickle.loads(m.snapshot())), protocol=4)
    restored = Matcher.restore(p, v4)
    expected = ([], [({"a": [{"k": "a", "ts": 1}]}, 6), ({"a": [{"k": "a", "ts": 2}]}, 7)])
    assert restored.advance_time(9) == expected
    assert restored.advance_time(100) == ([], [({"a": [{"k": "a", "ts": 10}]}, 15)])


def test_version_1_snapshot_with_materialized_timeouts_still_restores() -> None:
    p, m = _held_timeouts_matcher()
    v2 = _without_ranks(pickle.loads(m.snapshot()))
    held = Matcher.restore(p, m.snapshot()).advance_time(9)[1]
    v1 = (1, *v2[1:8], held)  # version 1 stored the timeouts as (dict, timeout_ts) pairs
    restored = Matcher.restore(p, pickle.dumps(v1, protocol=4))
    assert not restored.is_empty()
    assert restored.advance_time(9) == ([], held)
    assert restored.advance_time(100) == ([], [({"a": [{"k": "a", "ts": 10}]}, 15)])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_version_2_snapshot_without_ranks_still_restores(case: dict) -> None:
    """Partial matches restored without ranks get them from the order of their events."""
    pattern = build_pattern(case["pattern"], build_skip(case["skip"]))
    m = Matcher(pattern)
    for raw in case["events"][: len(case["events"]) // 2]:
        m.advance_time(raw["ts"])
        m.process(make_event(raw), raw["ts"])
    v2 = pickle.dumps(_without_ranks(pickle.loads(m.snapshot())), protocol=4)
    restored = Matcher.restore(pattern, v2)
    assert restored.partial_match_count() == m.partial_match_count()
    for raw in case["events"][len(case["events"]) // 2 :]:
        for matcher in (m, restored):
            matcher.advance_time(raw["ts"])
        got = restored.process(make_event(raw), raw["ts"])
        assert sorted(map(ids_of, got)) == sorted(map(ids_of, m.process(make_event(raw), raw["ts"])))


def test_restored_partial_matches_expire_in_start_order_whatever_their_state() -> None:
    p = (
        Pattern.begin("a")
        .where(C.field("k") == "a")
        .followed_by("b")
        .where((C.field("k") == "b") & (C.field("v") == C.last("a", "v")))
        .followed_by("c")
        .where(C.field("k") == "c")
        .within(10)
    )
    m = Matcher(p)
    a1, a2, b3 = {"k": "a", "v": 1}, {"k": "a", "v": 2}, {"k": "b", "v": 2}
    for ts, event in ((1, a1), (2, a2), (3, b3)):  # {a1} waits for b, {a2, b3} (newer) for c
        m.process(event, ts)
    restored = Matcher.restore(p, m.snapshot())
    for matcher in (m, restored):
        assert matcher.next_deadline == 11
        assert matcher.advance_time(11) == ([], [({"a": [a1]}, 11)])
        assert matcher.next_deadline == 12
        assert matcher.advance_time(12) == ([], [({"a": [a2], "b": [b3]}, 12)])
        assert matcher.is_empty()
