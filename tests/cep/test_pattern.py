"""Builder validation: each invalid pattern raises MalformedPatternError saying what to change."""

from __future__ import annotations

import datetime

import pytest

from cep import AfterMatchSkipStrategy, CepError, MalformedPatternError, Matcher, Pattern
from cep import conditions as C


def test_duplicate_name_is_rejected_in_the_call_that_adds_it() -> None:
    p = Pattern.begin("a").followed_by("b")
    with pytest.raises(MalformedPatternError, match="duplicate pattern name 'a'"):
        p.followed_by("a")


def test_duplicate_name_inside_a_group_is_rejected() -> None:
    with pytest.raises(MalformedPatternError, match="duplicate"):
        Pattern.begin("a").followed_by(Pattern.begin("b").next("a"))


def test_reserved_and_empty_names_are_rejected() -> None:
    with pytest.raises(MalformedPatternError, match="reserved"):
        Pattern.begin("$endState$")
    with pytest.raises(MalformedPatternError, match="non-empty"):
        Pattern.begin("")


@pytest.mark.parametrize("verb", ["not_next", "not_followed_by"])
def test_negation_after_an_optional_stage_is_rejected(verb: str) -> None:
    p = Pattern.begin("a").followed_by("b").optional()
    with pytest.raises(MalformedPatternError, match="optional"):
        getattr(p, verb)("c")


@pytest.mark.parametrize("quantifier", ["optional", "one_or_more", "greedy"])
def test_negated_stage_cannot_be_quantified(quantifier: str) -> None:
    p = Pattern.begin("a").not_followed_by("b")
    with pytest.raises(MalformedPatternError, match="not"):
        getattr(p, quantifier)()


def test_negated_stage_cannot_repeat() -> None:
    with pytest.raises(MalformedPatternError, match="negated"):
        Pattern.begin("a").not_next("b").times(2)


def test_not_followed_by_last_needs_a_window() -> None:
    p = Pattern.begin("a").not_followed_by("b")
    with pytest.raises(MalformedPatternError, match="within"):
        Matcher(p)
    Matcher(Pattern.begin("a").not_followed_by("b").within(10))  # accepted with a window


def test_quantifier_applied_twice_is_rejected() -> None:
    p = Pattern.begin("a").one_or_more()
    for call in (lambda: p.one_or_more(), lambda: p.times(2), lambda: p.times_or_more(3)):
        with pytest.raises(MalformedPatternError, match="already has a quantifier"):
            call()


def test_optional_twice_is_rejected() -> None:
    with pytest.raises(MalformedPatternError, match="already applied"):
        Pattern.begin("a").optional().optional()


@pytest.mark.parametrize("verb", ["greedy", "consecutive", "allow_combinations"])
def test_loop_options_need_a_looping_stage(verb: str) -> None:
    with pytest.raises(MalformedPatternError, match="looping or times"):
        getattr(Pattern.begin("a"), verb)()


def test_consecutive_and_combinations_exclude_each_other() -> None:
    with pytest.raises(MalformedPatternError, match="not both"):
        Pattern.begin("a").one_or_more().consecutive().allow_combinations()
    with pytest.raises(MalformedPatternError, match="not both"):
        Pattern.begin("a").one_or_more().allow_combinations().consecutive()
    with pytest.raises(MalformedPatternError, match="allow_combinations"):
        Pattern.begin("a").one_or_more().allow_combinations().greedy()


def test_optional_right_after_greedy_is_rejected() -> None:
    p = Pattern.begin("a").one_or_more().greedy().followed_by("b")
    with pytest.raises(MalformedPatternError, match="greedy"):
        p.optional()


def test_until_needs_a_looping_stage_and_only_once() -> None:
    with pytest.raises(MalformedPatternError, match="looping"):
        Pattern.begin("a").until(C.field("x") == 1)
    p = Pattern.begin("a").one_or_more().until(C.field("x") == 1)
    with pytest.raises(MalformedPatternError, match="already has an until"):
        p.until(C.field("x") == 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p.times(0), "n > 0"),
        (lambda p: p.times(-1, 2), ">= 0"),
        (lambda p: p.times(3, 2), "upper bound"),
        (lambda p: p.times(0, 0), "both be 0"),
        (lambda p: p.times_or_more(0), "n > 0"),
    ],
)
def test_bad_repetition_counts_are_rejected(call, message: str) -> None:
    with pytest.raises(MalformedPatternError, match=message):
        call(Pattern.begin("a"))


def test_group_stage_takes_no_condition() -> None:
    g = Pattern.begin("a").followed_by(Pattern.begin("b").next("c"))
    with pytest.raises(MalformedPatternError, match="group"):
        g.where(C.true())
    with pytest.raises(MalformedPatternError, match="group"):
        g.or_where(C.true())
    with pytest.raises(MalformedPatternError, match="group"):
        g.subtype(dict)
    with pytest.raises(MalformedPatternError, match="group"):
        g.one_or_more().greedy()


def test_skip_strategy_naming_an_unknown_stage_is_rejected_at_compile_time() -> None:
    p = Pattern.begin("a", skip_strategy=AfterMatchSkipStrategy.skip_to_first("zzz")).followed_by("b")
    with pytest.raises(MalformedPatternError, match="zzz"):
        Matcher(p)


def test_within_accepts_ms_and_timedelta_and_rejects_nonsense() -> None:
    assert Pattern.begin("a").within(1500).window_ms == 1500
    assert Pattern.begin("a").within(datetime.timedelta(minutes=10)).window_ms == 600_000
    with pytest.raises(MalformedPatternError, match="positive"):
        Pattern.begin("a").within(0)
    with pytest.raises(MalformedPatternError, match="timedelta"):
        Pattern.begin("a").within("10m")  # type: ignore[arg-type]


def test_begin_rejects_a_non_strategy() -> None:
    with pytest.raises(MalformedPatternError, match="AfterMatchSkipStrategy"):
        Pattern.begin("a", skip_strategy="no_skip")  # type: ignore[arg-type]


def test_malformed_pattern_error_is_a_cep_error() -> None:
    assert issubclass(MalformedPatternError, CepError)
    assert issubclass(MalformedPatternError, ValueError)


def test_condition_arity_is_detected() -> None:
    seen = []
    p = (
        Pattern.begin("a")
        .where(lambda e: e["name"] == "a")
        .followed_by("b")
        .where(lambda e, ctx: seen.append(len(ctx.get_events_for_pattern("a"))) or e["name"] == "b")
    )
    m = Matcher(p)
    m.process({"name": "a"}, 1)
    assert m.process({"name": "b"}, 2) == [{"a": [{"name": "a"}], "b": [{"name": "b"}]}]
    assert seen == [1]


def test_final_negation_accepts_a_window_on_an_earlier_stage_as_flink() -> None:
    """Flink accepts the pattern (its window is the smallest of any stage's) but builds no pending
    state for the final negation, so a match is released at once even if a `b` follows (the
    differential case `fixed-window-not-last-negation-dropped` checks this against Flink's NFA)."""
    p = (
        Pattern.begin("a")
        .where(C.field("name") == "a")
        .within(5)
        .not_followed_by("b")
        .where(C.field("name") == "b")
    )
    m = Matcher(p)
    assert m.window_ms == 5
    assert m.process({"name": "a"}, 1) == [{"a": [{"name": "a"}]}]
    assert m.process({"name": "b"}, 2) == []
    assert m.advance_time(30) == ([], [])
    with pytest.raises(MalformedPatternError, match="within"):
        Matcher(Pattern.begin("a").not_followed_by("b"))  # no window anywhere: still rejected


def test_reference_to_an_unknown_stage_is_rejected() -> None:
    p = Pattern.begin("a").followed_by("b").where(C.field("x") == C.last("nope", "y"))
    with pytest.raises(MalformedPatternError, match="nope"):
        Matcher(p)
