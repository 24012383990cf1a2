"""Per-key caps on live partial matches (`Matcher(max_partial_matches=..., on_overflow=...)`)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep import Matcher, Pattern, StateLimitError
from cep import conditions as C


def multiplying(window: int = 1_000) -> Pattern:
    """a, then any b's (followed_by_any + one_or_more), then c: partial matches multiply."""
    return (
        Pattern.begin("a")
        .where(C.field("k") == "a")
        .followed_by_any("b")
        .where(C.field("k") == "b")
        .one_or_more()
        .followed_by("c")
        .where(C.field("k") == "c")
        .within(window)
    )


def feed(matcher: Matcher, kinds: str, start: int = 0) -> list:
    out = []
    for i, k in enumerate(kinds):
        out.extend(matcher.process({"k": k, "i": start + i}, start + i))
    return out


def first_events(matcher: Matcher) -> list[int]:
    return sorted(pm[1] for _state, pm in matcher._run.partial_matches())


def test_uncapped_grows_past_the_cap():
    m = Matcher(multiplying())
    feed(m, "abbbbb")
    assert m.partial_match_count() > 8
    assert m.evicted_partial_matches == 0


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_cap_is_enforced_and_evictions_counted(policy):
    uncapped = Matcher(multiplying())
    feed(uncapped, "abbbbbab")
    total = uncapped.partial_match_count()
    assert total > 8
    m = Matcher(multiplying(), max_partial_matches=8, on_overflow=policy)
    evicted = 0
    for i, k in enumerate("abbbbbab"):
        # the same state without the cap tells how many partial matches this event makes
        free = Matcher.restore(m._pattern, m.snapshot())
        free.process({"k": k, "i": i}, i)
        m.process({"k": k, "i": i}, i)
        assert m.partial_match_count() == min(8, free.partial_match_count())
        evicted += max(0, free.partial_match_count() - 8)
        assert m.evicted_partial_matches == evicted
    assert m.partial_match_count() == 8


def test_drop_oldest_keeps_the_latest_starts():
    m = Matcher(multiplying(), max_partial_matches=3, on_overflow="drop_oldest")
    feed(m, "abbbab")  # the second 'a' (ts 4) starts partial matches newer than the first's
    starts = first_events(m)
    assert len(starts) == 3
    assert 4 in starts  # the newest start survives
    assert starts == sorted(starts)[-3:]


def test_drop_newest_keeps_the_earliest_starts():
    m = Matcher(multiplying(), max_partial_matches=3, on_overflow="drop_newest")
    feed(m, "abbbab")
    starts = first_events(m)
    assert len(starts) == 3
    assert 4 not in starts  # the second 'a' and its partial matches are dropped first
    assert set(starts) == {0}


def test_drop_newest_still_finds_the_oldest_match():
    m = Matcher(multiplying(), max_partial_matches=2, on_overflow="drop_newest")
    matches = feed(m, "abbbc")
    assert matches, "the earliest partial matches survive and complete"
    assert all(match["a"][0]["i"] == 0 for match in matches)


def test_fail_policy_raises_with_the_matches():
    m = Matcher(multiplying(), max_partial_matches=2, on_overflow="fail")
    feed(m, "ab")
    with pytest.raises(StateLimitError) as info:
        feed(m, "bbbb", start=2)
    assert info.value.limit == 2
    assert info.value.count > 2
    assert isinstance(info.value.matches, list)
    assert m.evicted_partial_matches == 0


def test_bad_options_are_rejected():
    with pytest.raises(ValueError):
        Matcher(multiplying(), max_partial_matches=-1)
    with pytest.raises(ValueError):
        Matcher(multiplying(), max_partial_matches=3, on_overflow="drop_random")


def test_snapshot_restore_keeps_counter_and_cap():
    m = Matcher(multiplying(), max_partial_matches=4)
    feed(m, "abbbb")
    evicted = m.evicted_partial_matches
    assert evicted > 0
    pattern = m._pattern
    restored = Matcher.restore(pattern, m.snapshot(), max_partial_matches=4)
    assert restored.evicted_partial_matches == evicted
    assert first_events(restored) == first_events(m)
    feed(m, "bbab", start=5)
    feed(restored, "bbab", start=5)
    assert restored.partial_match_count() == 4
    assert restored.evicted_partial_matches == m.evicted_partial_matches > evicted
    copy = m.copy()
    assert copy.max_partial_matches == 4 and copy.evicted_partial_matches == m.evicted_partial_matches


def test_key_with_nothing_live_holds_no_state():
    m = Matcher(multiplying(window=10), max_partial_matches=4)
    feed(m, "abbbbc")
    assert not m.is_empty()
    m.advance_time(1_000)  # every partial match timed out
    assert m.is_empty()
    assert m.partial_match_count() == 0
    assert m._run.expiries == type(m._run.expiries)() and not m._run.expiry_groups
    assert all(not bucket for bucket in m._run.buckets)


@settings(max_examples=60, deadline=None)
@given(
    kinds=st.lists(st.sampled_from("abcx"), max_size=40),
    gaps=st.lists(st.integers(0, 4), min_size=40, max_size=40),
    window=st.integers(3, 30),
)
def test_cap_never_hit_changes_nothing(kinds, gaps, window):
    pattern = multiplying(window)
    plain = Matcher(pattern)
    capped = Matcher(pattern, max_partial_matches=10**9, on_overflow="fail")
    ts = 0
    for kind, gap in zip(kinds, gaps):
        ts += gap
        event = {"k": kind, "ts": ts}
        assert capped.process(event, ts) == plain.process(event, ts)
    assert capped.advance_time(ts + window) == plain.advance_time(ts + window)
    assert capped.evicted_partial_matches == 0
