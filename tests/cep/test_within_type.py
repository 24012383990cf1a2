"""`within(..., WithinType.PREVIOUS_AND_CURRENT)` and `ctx.current_processing_time()`.

Expected results are derived from Flink 1.20's source (flink-cep):
- `NFACompiler.createState(stateType, isTake=true)` puts the stage's PREVIOUS_AND_CURRENT window in
  `windowTimes` for the state that takes the stage's event (singleton, NOT_NEXT and PENDING states)
  when the stage has no `times` (a looping/times stage only gets `times(..., window)`'s window);
  ignore states and copies get none. `checkPatternWindowTimes` rejects such a window larger than the
  first-to-last one, and a pattern may end in `notFollowedBy` when its last stage has one.
- `NFA.advanceTime` times a partial match out when `ts - previousTimestamp >= windowTimes[its state]`
  (previousTimestamp: the timestamp of its last event) or `ts - startTimestamp >= windowTime`; the
  timeout timestamp is `previousTimestamp + windowTimes[state]` when the first check holds, else
  `startTimestamp + windowTime`. A timed-out PENDING partial match is a match.
Each case is driven as Flink's CepOperator does: advance time to an event's timestamp, then process it.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import pytest

from cep import MalformedPatternError, Matcher, Pattern, WithinType
from cep import conditions as C
from tests.cep.harness import NfaHarness

P_AND_C = WithinType.PREVIOUS_AND_CURRENT


def kind(k: str) -> Any:
    return C.field("k") == k


def drive(pattern: Pattern, events: list[tuple[int, str]], end: Optional[int] = None) -> tuple[list, list]:
    """(matches as ts lists, timeouts as (ts list, timeout ts)), events given as (ts, kind)."""
    matches, timeouts = NfaHarness(pattern).run([{"k": k, "ts": ts} for ts, k in events], end=end)
    flat = lambda match: sorted(e["ts"] for events in match.values() for e in events)  # noqa: E731
    return [flat(x) for x in matches], [(flat(p), t) for p, t in timeouts]


def abc(within_c: int, first_and_last: Optional[int] = None) -> Pattern:
    p = Pattern.begin("a").where(kind("a")).followed_by("b").where(kind("b"))
    p = p.followed_by("c").where(kind("c")).within(within_c, P_AND_C)
    return p.within(first_and_last) if first_and_last else p


def test_the_window_runs_from_the_previous_event_not_the_first() -> None:
    # only c's state has a window (5 from b's event): a@1 b@4 c@8 spans 7 > 5 and still matches
    assert drive(abc(5), [(1, "a"), (4, "b"), (8, "c")]) == ([[1, 4, 8]], [])
    # the same stream with a first-to-last window of 5 (Flink's default WithinType) times out
    p = Pattern.begin("a").where(kind("a")).followed_by("b").where(kind("b"))
    p = p.followed_by("c").where(kind("c")).within(5)
    assert drive(p, [(1, "a"), (4, "b"), (8, "c")]) == ([], [([1, 4], 6)])


def test_a_gap_too_long_times_out_at_previous_plus_window() -> None:
    # {a1, b4} waits for c from 4: at 10, 10 - 4 >= 5, timeout at 4 + 5 = 9; {a1} waits for b in
    # a state without a window, so it never times out
    assert drive(abc(5), [(1, "a"), (4, "b"), (10, "c")], end=1000) == ([], [([1, 4], 9)])


def test_the_previous_event_timeout_takes_precedence_in_the_reported_timestamp() -> None:
    # {a1, b8}: window 10 (deadline 1 + 10 = 11) and 4 after b@8 (deadline 12); at 20 both checks
    # hold and Flink reports previous + 4 = 12 ({a1} moved on with b: followed_by does not stay)
    assert drive(abc(4, first_and_last=10), [(1, "a"), (8, "b")], end=20) == ([], [([1, 8], 12)])
    # advanced only to 11, the previous-event check (11 - 8 < 4) fails: start + window = 11
    assert drive(abc(4, first_and_last=10), [(1, "a"), (8, "b")], end=11) == ([], [([1, 8], 11)])


def test_each_stage_has_its_own_gap() -> None:
    p = Pattern.begin("a").where(kind("a")).followed_by("b").where(kind("b")).within(3, P_AND_C)
    p = p.followed_by("c").where(kind("c")).within(6, P_AND_C)
    # gaps 3 - 1 = 2 < 3 and 8 - 3 = 5 < 6
    assert drive(p, [(1, "a"), (3, "b"), (8, "c")]) == ([[1, 3, 8]], [])
    # advancing to 9 before c: 9 - 3 >= 6, {a1, b3} timed out at 3 + 6 = 9
    assert drive(p, [(1, "a"), (3, "b"), (9, "c")]) == ([], [([1, 3], 9)])
    # b too late: at 5, 5 - 1 >= 3, {a1} timed out at 1 + 3 = 4
    assert drive(p, [(1, "a"), (5, "b"), (6, "c")]) == ([], [([1], 4)])


def test_final_not_followed_by_is_decided_by_the_previous_event_window() -> None:
    p = Pattern.begin("a").where(kind("a")).not_followed_by("b").where(kind("b")).within(5, P_AND_C)
    # a PENDING state with window 5 from a's event: released as a match at the first advance >= 6
    assert drive(p, [(1, "a"), (3, "x")], end=10) == ([[1]], [])
    assert drive(p, [(1, "a"), (3, "b")], end=10) == ([], [])
    assert drive(p, [(1, "a"), (6, "b")], end=10) == ([[1]], [])  # advanced to 6 before b: too late


def test_a_looping_or_times_stage_ignores_it_as_flink_does() -> None:
    p = Pattern.begin("a").where(kind("a")).followed_by("b").where(kind("b")).one_or_more()
    p = p.within(2, P_AND_C)
    assert drive(p, [(1, "a"), (50, "b"), (100, "b")], end=10**6) == ([[1, 50], [1, 50, 100]], [])
    p = Pattern.begin("a").where(kind("a")).followed_by("b").where(kind("b")).times(2).within(2, P_AND_C)
    assert drive(p, [(1, "a"), (50, "b"), (100, "b")], end=10**6) == ([[1, 50, 100]], [])


def test_rejected_when_larger_than_the_first_to_last_window() -> None:
    p = Pattern.begin("a").followed_by("b").within(10, P_AND_C).within(5)
    with pytest.raises(MalformedPatternError, match="PREVIOUS_AND_CURRENT"):
        Matcher(p)
    Matcher(Pattern.begin("a").followed_by("b").within(5, P_AND_C).within(5))  # equal is fine


def test_dedupe_runs_refuses_it() -> None:
    p = Pattern.begin("a").followed_by_any("b").within(5, P_AND_C).within(10).dedupe_runs(lambda e: e)
    with pytest.raises(MalformedPatternError, match="dedupe_runs"):
        Matcher(p)


def test_within_type_must_be_a_within_type() -> None:
    with pytest.raises(MalformedPatternError, match="WithinType"):
        Pattern.begin("a").within(5, "previous")  # type: ignore[arg-type]


def test_previous_event_windows_survive_a_snapshot() -> None:
    p = abc(5, first_and_last=50)
    m = Matcher(p)
    for ts, k in ((1, "a"), (4, "b")):
        m.advance_time(ts)
        m.process({"k": k, "ts": ts}, ts)
    restored = Matcher.restore(p, m.snapshot())
    assert restored.next_deadline == m.next_deadline == 9
    assert restored.advance_time(9) == m.advance_time(9)
    assert restored.advance_time(9)[1] == []


def test_condition_context_current_processing_time() -> None:
    now = [1_000]
    seen: list = []

    def fresh(event: Any, ctx: Any) -> bool:
        seen.append(ctx.current_processing_time())
        return ctx.current_processing_time() - event["ts"] <= 100

    p = Pattern.begin("a").where(fresh)
    m = Matcher(p, clock=lambda: now[0])
    assert m.process({"ts": 950}, 950) == [{"a": [{"ts": 950}]}]
    now[0] = 2_000
    assert m.process({"ts": 960}, 960) == []  # the same kind of event is stale now
    assert seen == [1_000, 2_000]
    # without a clock it is the wall clock in ms, as Flink's processing-time service
    before = int(time.time() * 1000)
    Matcher(p).process({"ts": 0}, 0)
    assert before <= seen[-1] <= int(time.time() * 1000)
