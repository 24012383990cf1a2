"""`cep.early`: which patterns get early results, and how an early matcher reports and restores."""

from __future__ import annotations

import pytest

from cep import AfterMatchSkipStrategy, MalformedPatternError, Pattern
from cep import conditions as C
from cep.early import EarlyMatcher, check_early_results


def kind(k: str) -> C.Condition:
    return C.field("k") == k


def two_stages(join: str = "followed_by_any", **begin: object) -> Pattern:
    first = Pattern.begin("a", **begin).where(kind("a"))
    return getattr(first, join)("b").where(kind("b"))


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: two_stages("next"), "next() (stage 'b')"),
        (lambda: two_stages("followed_by"), "followed_by() (stage 'b')"),
        (lambda: two_stages().one_or_more(), "stage 'b' is one_or_more"),
        (lambda: two_stages().times(2), "stage 'b' is times"),
        (lambda: two_stages().optional(), "stage 'b' is optional"),
        (lambda: two_stages().one_or_more().until(kind("c")), "until() (stage 'b')"),
        (
            lambda: Pattern.begin("a").where(kind("a")).not_followed_by("x").where(kind("x"))
            .followed_by_any("b").where(kind("b")),
            "negation stage 'x'",
        ),
        (
            lambda: two_stages(skip_strategy=AfterMatchSkipStrategy.skip_past_last_event()),
            "skip_past_last_event",
        ),
    ],
)
def test_unsound_patterns_are_refused_naming_the_part(build, named):
    with pytest.raises(MalformedPatternError, match=named.replace("(", r"\(").replace(")", r"\)")):
        check_early_results(build())
    with pytest.raises(MalformedPatternError):
        EarlyMatcher(build())


def test_monotone_chains_are_accepted():
    pattern = two_stages().followed_by_any("c").where(kind("c")).within(10)
    check_early_results(pattern)  # no error


def test_a_shuffled_match_is_reported_on_its_last_arrival_and_not_again_at_the_watermark():
    pattern = two_stages().followed_by_any("c").where(kind("c"))
    matcher = EarlyMatcher(pattern)
    assert matcher.process({"id": 3, "k": "c"}, 30) == []
    assert matcher.process({"id": 1, "k": "a"}, 10) == []
    found = matcher.process({"id": 2, "k": "b"}, 20)  # out of order: the ahead matcher is rebuilt
    assert [[e["id"] for e in m[s]] for m in found for s in ("a", "b", "c")] == [[1], [2], [3]]
    assert matcher.early.rebuilds >= 1
    assert matcher.advance_time(100) == ([], [])
    assert matcher.early.emitted == {}, "forgotten once the watermark passed the match"


def test_restore_keeps_what_was_reported_early():
    pattern = two_stages()
    matcher = EarlyMatcher(pattern)
    matcher.process({"id": 1, "k": "a"}, 10)
    assert len(matcher.process({"id": 2, "k": "b"}, 20)) == 1
    restored = EarlyMatcher.restore(pattern, matcher.snapshot())
    assert restored.process({"id": 3, "k": "x"}, 25) == []  # the rebuild finds a->b again, reports nothing
    assert restored.advance_time(50) == ([], [])
    assert len(restored.process({"id": 4, "k": "b"}, 60)) == 1  # a fresh b still matches the committed a


def test_late_events_are_refused():
    matcher = EarlyMatcher(two_stages())
    matcher.advance_time(100)
    with pytest.raises(ValueError, match="at or below the watermark"):
        matcher.process({"id": 1, "k": "a"}, 100)
