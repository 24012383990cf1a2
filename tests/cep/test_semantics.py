"""Flink CEP semantics on small hand-checked streams: contiguity, loops, negation, windows, skips."""

from __future__ import annotations

from collections import Counter

import pytest

from cep import AfterMatchSkipStrategy, Matcher, Pattern
from cep import conditions as C
from tests.cep.harness import NfaHarness
from tests.cep.streams import letters


def is_(letter: str) -> C.Condition:
    return C.field("name") == letter


def words(matches: list) -> Counter:
    """Matches as a multiset of space-joined words in stream order."""
    return Counter(
        " ".join(e["word"] for e in sorted((e for es in m.values() for e in es), key=lambda e: e["ts"]))
        for m in matches
    )


def run(pattern: Pattern, text: str, end: int | None = None) -> tuple[Counter, list]:
    matches, timeouts = NfaHarness(pattern).run(list(letters(text)), end)
    return words(matches), timeouts


# ---------------------------------------------------------------- contiguity
@pytest.mark.parametrize(
    ("verb", "expected"),
    [
        ("next", []),
        ("followed_by", ["a b1"]),
        ("followed_by_any", ["a b1", "a b2"]),
    ],
)
def test_contiguity(verb: str, expected: list) -> None:
    p = getattr(Pattern.begin("a").where(is_("a")), verb)("b").where(is_("b"))
    assert run(p, "a c b1 b2")[0] == Counter(expected)


def test_strict_contiguity_matches_adjacent_events() -> None:
    p = Pattern.begin("a").where(is_("a")).next("b").where(is_("b"))
    assert run(p, "a1 b1 a2 c b2")[0] == Counter(["a1 b1"])


# ---------------------------------------------------------------- loops
def test_one_or_more_relaxed() -> None:
    p = Pattern.begin("a").where(is_("a")).one_or_more().followed_by("b").where(is_("b"))
    assert run(p, "a1 a2 b")[0] == Counter(["a1 b", "a1 a2 b", "a2 b"])


def test_one_or_more_consecutive_stops_at_a_gap() -> None:
    p = Pattern.begin("a").where(is_("a")).one_or_more().consecutive().followed_by("b").where(is_("b"))
    assert run(p, "a1 c a2 b")[0] == Counter(["a1 b", "a2 b"])


def test_one_or_more_with_combinations() -> None:
    p = Pattern.begin("a").where(is_("a")).one_or_more().allow_combinations().followed_by("b").where(is_("b"))
    expected = ["a1 b", "a1 a2 b", "a1 a3 b", "a1 a2 a3 b", "a2 b", "a2 a3 b", "a3 b"]
    assert run(p, "a1 a2 a3 b")[0] == Counter(expected)


def test_times_exact_and_with_combinations() -> None:
    p = Pattern.begin("a").where(is_("a")).times(2).followed_by("b").where(is_("b"))
    assert run(p, "a1 a2 a3 b")[0] == Counter(["a1 a2 b", "a2 a3 b"])
    p = Pattern.begin("a").where(is_("a")).times(2).allow_combinations().followed_by("b").where(is_("b"))
    assert run(p, "a1 a2 a3 b")[0] == Counter(["a1 a2 b", "a1 a3 b", "a2 a3 b"])


def test_until_ends_a_loop() -> None:
    p = Pattern.begin("a").where(is_("a")).one_or_more().until(is_("x")).followed_by("b").where(is_("b"))
    # x closes a1's loop (no "a1 a2 b"), but that run still goes on to b
    assert run(p, "a1 x a2 b")[0] == Counter(["a1 b", "a2 b"])
    assert run(p, "a1 a2 b")[0] == Counter(["a1 b", "a1 a2 b", "a2 b"])


def test_optional_stage_gives_both_paths() -> None:
    p = (
        Pattern.begin("a")
        .where(is_("a"))
        .followed_by("b")
        .where(is_("b"))
        .optional()
        .followed_by("c")
        .where(is_("c"))
    )
    assert run(p, "a c")[0] == Counter(["a c"])
    assert run(p, "a b c")[0] == Counter(["a b c", "a c"])


def test_iterative_condition_sees_earlier_events() -> None:
    p = (
        Pattern.begin("a")
        .where(is_("a"))
        .one_or_more()
        .followed_by("b")
        .where(lambda e, ctx: len(ctx.get_events_for_pattern("a")) >= 2 and e["name"] == "b")
    )
    assert run(p, "a1 a2 b")[0] == Counter(["a1 a2 b"])


# ---------------------------------------------------------------- negation
def test_not_next() -> None:
    p = Pattern.begin("a").where(is_("a")).not_next("b").where(is_("b")).followed_by("c").where(is_("c"))
    assert run(p, "a b c")[0] == Counter()
    assert run(p, "a x b c")[0] == Counter(["a c"])


def test_not_followed_by_in_the_middle() -> None:
    p = (
        Pattern.begin("a")
        .where(is_("a"))
        .not_followed_by("b")
        .where(is_("b"))
        .followed_by("c")
        .where(is_("c"))
    )
    assert run(p, "a x b c")[0] == Counter()
    assert run(p, "a c b")[0] == Counter(["a c"])


def test_not_followed_by_at_the_end_matches_when_the_window_passes() -> None:
    p = Pattern.begin("a").where(is_("a")).not_followed_by("b").where(is_("b")).within(10)
    m = Matcher(p)
    assert m.process({"name": "a", "word": "a", "ts": 1}, 1) == []
    assert m.advance_time(10) == ([], [])  # 10 - 1 < 10: b could still come
    matches, timeouts = m.advance_time(11)
    assert matches == [{"a": [{"name": "a", "word": "a", "ts": 1}]}] and timeouts == []
    m = Matcher(p)
    m.process({"name": "a", "word": "a", "ts": 1}, 1)
    m.process({"name": "b", "word": "b", "ts": 5}, 5)
    assert m.advance_time(100) == ([], [])
    assert m.is_empty()


# ---------------------------------------------------------------- windows and timeouts
def test_within_and_timeouts() -> None:
    p = Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b")).within(5)
    m = Matcher(p)
    a = {"name": "a", "word": "a", "ts": 1}
    assert m.process(a, 1) == []
    assert m.advance_time(5) == ([], [])
    matches, timeouts = m.advance_time(6)  # 6 - 1 >= 5: the partial match {a} timed out at 6
    assert matches == [] and timeouts == [({"a": [a]}, 6)]
    assert m.process({"name": "b", "word": "b", "ts": 6}, 6) == []
    assert m.is_empty()


def test_match_just_inside_the_window() -> None:
    p = Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b")).within(5)
    m = Matcher(p)
    m.process({"name": "a", "word": "a"}, 1)
    assert len(m.process({"name": "b", "word": "b"}, 5)) == 1


def test_process_advances_time_itself_and_keeps_the_timeouts() -> None:
    p = Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b")).within(5)
    m = Matcher(p)
    m.process({"name": "a"}, 1)
    assert m.process({"name": "b"}, 6) == []  # too late, even without advance_time
    assert not m.is_empty()  # the timeout is kept until reported
    matches, timeouts = m.advance_time(6)
    assert timeouts == [({"a": [{"name": "a"}]}, 6)]
    assert m.is_empty()


def test_timeouts_report_every_partial_match() -> None:
    p = (
        Pattern.begin("a")
        .where(is_("a"))
        .followed_by_any("b")
        .where(is_("b"))
        .followed_by("c")
        .where(is_("c"))
        .within(100)
    )
    _, timeouts = run(p, "a b1 b2", end=1000)
    assert Counter(tuple(e["word"] for es in t.values() for e in es) for t, _ in timeouts) == Counter(
        [("a",), ("a", "b1"), ("a", "b2")]
    )
    assert {ts for _, ts in timeouts} == {101}


# ---------------------------------------------------------------- skip strategies
@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (AfterMatchSkipStrategy.no_skip(), ["a1 b1", "a2 b1"]),
        (AfterMatchSkipStrategy.skip_to_next(), ["a1 b1", "a2 b1"]),
        (AfterMatchSkipStrategy.skip_past_last_event(), ["a1 b1"]),
        (AfterMatchSkipStrategy.skip_to_first("b"), ["a1 b1"]),
        (AfterMatchSkipStrategy.skip_to_first("a"), ["a1 b1", "a2 b1"]),
        (AfterMatchSkipStrategy.skip_to_last("b"), ["a1 b1"]),
    ],
)
def test_skip_strategies_followed_by(strategy: AfterMatchSkipStrategy, expected: list) -> None:
    p = Pattern.begin("a", skip_strategy=strategy).where(is_("a")).followed_by("b").where(is_("b"))
    assert run(p, "a1 a2 b1 b2")[0] == Counter(expected)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (AfterMatchSkipStrategy.no_skip(), ["a1 b1", "a1 b2", "a2 b1", "a2 b2"]),
        (AfterMatchSkipStrategy.skip_to_next(), ["a1 b1", "a2 b1"]),
        (AfterMatchSkipStrategy.skip_past_last_event(), ["a1 b1"]),
    ],
)
def test_skip_strategies_followed_by_any(strategy: AfterMatchSkipStrategy, expected: list) -> None:
    p = Pattern.begin("a", skip_strategy=strategy).where(is_("a")).followed_by_any("b").where(is_("b"))
    assert run(p, "a1 a2 b1 b2")[0] == Counter(expected)


def test_skip_to_first_can_be_told_to_raise_on_a_missing_stage() -> None:
    strategy = AfterMatchSkipStrategy.skip_to_first("b").throw_exception_on_miss()
    p = (
        Pattern.begin("a", skip_strategy=strategy)
        .where(is_("a"))
        .followed_by("b")
        .where(is_("b"))
        .optional()
        .followed_by("c")
        .where(is_("c"))
    )
    with pytest.raises(Exception, match="could not skip"):
        run(p, "a c")


def test_subtype() -> None:
    class Reading(dict):
        pass

    p = Pattern.begin("a").subtype(Reading).where(C.field("v") > 1)
    m = Matcher(p)
    assert m.process({"v": 5}, 1) == []
    assert m.process(Reading(v=5), 2) == [{"a": [Reading(v=5)]}]


def test_a_raising_condition_leaves_the_matcher_unchanged() -> None:
    from cep import ConditionError

    p = (
        Pattern.begin("a")
        .where(is_("a"))
        .followed_by_any("b")
        .where(lambda e: 1 / e["v"] > 0)
        .followed_by("c")
        .where(is_("c"))
    )
    good = [{"name": "a", "v": 1}, {"name": "b", "v": 1}, {"name": "b", "v": 2}]
    bad = {"name": "b", "v": 0}
    clean, dirty = Matcher(p), Matcher(p)
    for i, e in enumerate(good):
        clean.process(e, i)
        dirty.process(e, i)
    with pytest.raises(ConditionError, match="ZeroDivisionError"):
        dirty.process(bad, 3)
    last = {"name": "c", "v": 1}
    assert dirty.process(last, 4) == clean.process(last, 4)
    assert dirty.snapshot() == clean.snapshot()


def test_condition_context_gives_the_event_timestamp() -> None:
    p = Pattern.begin("a").where(lambda e, ctx: ctx.timestamp() % 2 == 0)
    m = Matcher(p)
    assert m.process({"n": 1}, 3) == []
    assert m.process({"n": 2}, 4) == [{"a": [{"n": 2}]}]


def test_window_and_next_deadline() -> None:
    p = Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b")).within(5)
    m = Matcher(p)
    assert m.window_ms == 5 and m.next_deadline is None
    m.process({"name": "a"}, 10)
    assert m.next_deadline == 15
    m.advance_time(15)
    assert m.next_deadline is None and m.is_empty()


def test_negation_before_an_optional_stage() -> None:
    """Taking the optional stage ends the negation before it (Flink's documented example)."""
    p = (
        Pattern.begin("a")
        .where(is_("a"))
        .not_followed_by("b")
        .where(is_("b"))
        .followed_by_any("c")
        .where(is_("c"))
        .optional()
        .followed_by_any("d")
        .where(is_("d"))
    )
    assert run(p, "a c b d")[0] == Counter(["a c d"])
    assert run(p, "a b d")[0] == Counter()
    assert run(p, "a c d")[0] == Counter(["a d", "a c d"])
