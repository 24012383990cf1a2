"""The prefilter: when it is offered, and that dropping what it rejects never changes a result."""

from __future__ import annotations

import random

import pytest

from cep import Matcher, Pattern
from cep import conditions as C
from cep.analysis import prefilter
from tests.cep.harness import NfaHarness
from tests.cep.streams import chain_pattern, fire_stream, ids


def is_(letter: str) -> C.Condition:
    return C.field("name") == letter


def test_chain_prefilter_is_the_shared_temperature_test() -> None:
    cond = prefilter(chain_pattern(5))
    assert cond is not None
    assert cond.to_sql() == "`temperature` >= 50.0"  # the job's threshold, a float


def test_prefilter_ors_distinct_stage_parts() -> None:
    p = Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b") & (lambda e: True))
    assert prefilter(p).to_sql() == "(`name` = 'a' OR `name` = 'b')"


@pytest.mark.parametrize(
    ("label", "pattern"),
    [
        ("strict next", Pattern.begin("a").where(is_("a")).next("b").where(is_("b"))),
        ("consecutive", Pattern.begin("a").where(is_("a")).times(2).consecutive()),
        (
            "not_next",
            Pattern.begin("a").where(is_("a")).not_next("b").where(is_("b")).followed_by("c").where(is_("c")),
        ),
        (
            "not_followed_by",
            Pattern.begin("a").where(is_("a")).not_followed_by("b").where(is_("b")).within(5),
        ),
        ("until", Pattern.begin("a").where(is_("a")).one_or_more().until(is_("x"))),
        ("looping", Pattern.begin("a").where(is_("a")).one_or_more()),
        ("optional", Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b")).optional()),
        ("lambda only", Pattern.begin("a").where(lambda e: e["name"] == "a")),
        ("no condition", Pattern.begin("a").followed_by("b").where(is_("b"))),
        ("group", Pattern.begin("a").where(is_("a")).followed_by(Pattern.begin("b").where(is_("b")))),
    ],
)
def test_prefilter_is_none_when_not_provably_safe(label: str, pattern: Pattern) -> None:
    assert prefilter(pattern) is None, label


def _letter_stream(seed: int, n: int = 60) -> list[dict]:
    rnd = random.Random(seed)
    return [
        {"name": rnd.choice("abcxyz"), "v": rnd.randrange(4), "event_id": str(i), "ts": i // 2}
        for i in range(n)
    ]


SAFE_PATTERNS = {
    "relaxed chain": lambda: (
        Pattern.begin("a")
        .where(is_("a"))
        .followed_by("b")
        .where(is_("b") & (C.field("v") > 0))
        .followed_by("c")
        .where(is_("c"))
        .within(8)
    ),
    "any chain": lambda: (
        Pattern.begin("a")
        .where(is_("a"))
        .followed_by_any("b")
        .where(is_("b"))
        .followed_by_any("c")
        .where(is_("c") | is_("x"))
        .within(10)
    ),
    "iterative": lambda: (
        Pattern.begin("a")
        .where(is_("a"))
        .followed_by_any("b")
        .where(is_("b") & (lambda e, ctx: e["v"] >= ctx.get_events_for_pattern("a")[-1]["v"]))
        .within(6)
    ),
}


@pytest.mark.parametrize("name", sorted(SAFE_PATTERNS))
def test_prefilter_never_changes_matches_or_timeouts(name: str) -> None:
    pattern = SAFE_PATTERNS[name]()
    assert prefilter(pattern) is not None
    for seed in range(25):
        events = _letter_stream(seed)
        with_filter = NfaHarness(pattern).run(events, end=1000)
        without = NfaHarness(pattern, use_prefilter=False, use_shortcuts=False).run(events, end=1000)
        assert [ids(m) for m in with_filter[0]] == [ids(m) for m in without[0]]
        assert sorted((ids(t), ts) for t, ts in with_filter[1]) == sorted(
            (ids(t), ts) for t, ts in without[1]
        )


@pytest.mark.parametrize("any_", [False, True])
def test_indexed_and_lambda_chains_agree_on_a_fire_stream(any_: bool) -> None:
    events = fire_stream(side=4, minutes=30)
    fast = NfaHarness(chain_pattern(3, any_=any_)).run(events, end=10**9)
    slow = NfaHarness(chain_pattern(3, any_=any_, lambdas=True)).run(events, end=10**9)
    assert fast[0], "the stream should produce chains"
    assert sorted(ids(m) for m in fast[0]) == sorted(ids(m) for m in slow[0])
    assert sorted((ids(t), ts) for t, ts in fast[1]) == sorted((ids(t), ts) for t, ts in slow[1])


def test_matcher_applies_the_prefilter() -> None:
    m = Matcher(chain_pattern(3))
    assert m.prefilter is not None
    assert Matcher(chain_pattern(3, lambdas=True)).prefilter is None
