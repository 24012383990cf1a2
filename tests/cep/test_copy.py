"""`Matcher.copy()` is a structural copy: a copy and its original are independent matchers.

A matcher is fed a random prefix of a stream and copied; then the original and the copy are fed
*different* random continuations. Each must report exactly (same matches, same timeouts, same
order) what a fresh matcher fed its whole sequence reports, and end with the same snapshot
bytes; and feeding one must leave the other's snapshot unchanged. The patterns cover what keeps
mutable state in the runtime: random patterns with quantifiers, windows and a skip strategy,
indexed stages (`C.last`), negation (pending states), PREVIOUS_AND_CURRENT windows (the per
partial match expiry heap), `dedupe_runs` (the dedupe frontier) and held-back complete matches.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cep import AfterMatchSkipStrategy, Matcher, Pattern, WithinType
from cep import conditions as C
from tests.cep.property.profiles import profile
from tests.cep.property.strategies import (
    build_pattern,
    event_rows,
    make_events,
    matcher_options,
    pattern_specs,
)

P_AND_C = WithinType.PREVIOUS_AND_CURRENT


def kind(k: str) -> Any:
    return C.field("kind") == k


def _negation_in_the_middle() -> Pattern:
    return Pattern.begin("a").where(kind("a")).not_followed_by("b").where(kind("b")).followed_by(
        "c"
    ).where(kind("c")).within(6)


def _negation_at_the_end() -> Pattern:
    return Pattern.begin("a").where(kind("a")).followed_by_any("b").where(kind("b")).not_followed_by(
        "c"
    ).where(kind("c")).within(5)


def _not_next() -> Pattern:
    return Pattern.begin("a").where(kind("a")).not_next("b").where(kind("b")).followed_by_any(
        "c"
    ).where(kind("c")).within(8)


def _previous_and_current() -> Pattern:
    p = Pattern.begin("a").where(kind("a")).followed_by_any("b").where(kind("b")).one_or_more()
    return p.followed_by("c").where(kind("c")).within(3, P_AND_C).within(9)


def _previous_and_current_negated() -> Pattern:
    return Pattern.begin("a").where(kind("a")).not_followed_by("b").where(kind("b")).within(4, P_AND_C)


def _dedupe_runs() -> Pattern:
    p = Pattern.begin("a").where(kind("a")).followed_by_any("b").where(kind("b") | kind("a"))
    return p.followed_by_any("c").where(kind("c")).within(8).dedupe_runs(lambda e: e["v"])


def _indexed_skip_past_last() -> Pattern:
    p = Pattern.begin("a", skip_strategy=AfterMatchSkipStrategy.skip_past_last_event()).where(kind("a"))
    p = p.followed_by("b").where(kind("b") & (C.field("v") == C.last("a", "v")))
    return p.followed_by("c").where(kind("c")).within(7)


def _indexed_any_skip_to_first() -> Pattern:
    p = Pattern.begin("a", skip_strategy=AfterMatchSkipStrategy.skip_to_first("b")).where(kind("a"))
    p = p.followed_by_any("b").where(C.field("v") == C.last("a", "v")).times(1, 2)
    return p.followed_by_any("c").where(kind("c")).within(6)


def _skip_to_next_no_window() -> Pattern:
    p = Pattern.begin("a", skip_strategy=AfterMatchSkipStrategy.skip_to_next()).where(kind("a"))
    return p.followed_by_any("b").where(kind("b")).one_or_more().followed_by("c").where(kind("c"))


NAMED_PATTERNS: dict[str, Callable[[], Pattern]] = {
    "negation in the middle": _negation_in_the_middle,
    "negation at the end": _negation_at_the_end,
    "not_next": _not_next,
    "PREVIOUS_AND_CURRENT": _previous_and_current,
    "PREVIOUS_AND_CURRENT negated": _previous_and_current_negated,
    "dedupe_runs": _dedupe_runs,
    "indexed, skip_past_last_event": _indexed_skip_past_last,
    "indexed, skip_to_first": _indexed_any_skip_to_first,
    "skip_to_next, no window": _skip_to_next_no_window,
}

rows = st.lists(event_rows, max_size=14)


def feed(matcher: Matcher, events: list, follow_watermark: bool) -> list:
    """Everything the matcher reports for `events`, then for time passing every window, in order."""
    out: list = []
    for event in events:
        if follow_watermark:
            out.append(("time", matcher.advance_time(event["ts"])))
        out.append(("event", matcher.process(event, event["ts"])))
    end = (events[-1]["ts"] if events else 0) + 20
    out.append(("end", matcher.advance_time(end)))
    return out


def feed_prefix(matcher: Matcher, events: list, follow_watermark: bool) -> list:
    """As `feed` without the final jump of time (the matcher keeps its partial matches)."""
    out: list = []
    for event in events:
        if follow_watermark:
            out.append(("time", matcher.advance_time(event["ts"])))
        out.append(("event", matcher.process(event, event["ts"])))
    return out


def check_copy(
    make: Callable[[], Pattern],
    prefix_rows: list,
    rows_a: list,
    rows_b: list,
    follow_watermark: bool,
    options: dict,
) -> None:
    """The copy property for one pattern, prefix and pair of continuations (see the module doc)."""
    full_a = make_events(prefix_rows + rows_a)
    full_b = make_events(prefix_rows + rows_b)
    cut = len(prefix_rows)
    prefix, cont_a, cont_b = full_a[:cut], full_a[cut:], full_b[cut:]

    original = Matcher(make(), **options)
    feed_prefix(original, prefix, follow_watermark)
    before = original.snapshot()
    copied = original.copy()
    assert copied.snapshot() == before
    assert copied.partial_match_count() == original.partial_match_count()
    assert copied.next_deadline == original.next_deadline

    got_a = feed(original, cont_a, follow_watermark)
    assert copied.snapshot() == before, "feeding the original changed the copy"
    after_a = original.snapshot()
    got_b = feed(copied, cont_b, follow_watermark)
    assert original.snapshot() == after_a, "feeding the copy changed the original"

    for full, got, matcher in ((full_a, got_a, original), (full_b, got_b, copied)):
        fresh = Matcher(make(), **options)
        feed_prefix(fresh, full[: len(prefix_rows)], follow_watermark)
        want = feed(fresh, full[len(prefix_rows) :], follow_watermark)
        assert got == want
        assert matcher.snapshot() == fresh.snapshot()
        assert matcher.is_empty() == fresh.is_empty()


@profile(300)
@given(
    spec=pattern_specs(quantifiers=True, skip_strategies=True),
    declarative=st.booleans(),
    options=matcher_options,
    prefix_rows=rows,
    rows_a=rows,
    rows_b=rows,
    follow_watermark=st.booleans(),
)
def test_copy_of_random_patterns_behaves_as_a_fresh_matcher(
    spec, declarative, options, prefix_rows, rows_a, rows_b, follow_watermark
) -> None:
    make = lambda: build_pattern(spec, declarative)  # noqa: E731
    check_copy(make, prefix_rows, rows_a, rows_b, follow_watermark, options)


@pytest.mark.parametrize("name", sorted(NAMED_PATTERNS))
@profile(120)
@given(
    options=matcher_options,
    prefix_rows=rows,
    rows_a=rows,
    rows_b=rows,
    follow_watermark=st.booleans(),
)
def test_copy_of_stateful_features_behaves_as_a_fresh_matcher(
    name, options, prefix_rows, rows_a, rows_b, follow_watermark
) -> None:
    check_copy(NAMED_PATTERNS[name], prefix_rows, rows_a, rows_b, follow_watermark, options)


def test_copy_keeps_held_timeouts_apart() -> None:
    # a@0 times out at 5 while b@7 is processed (no advance_time): the timeout is held, not reported
    pattern = Pattern.begin("a").where(kind("a")).followed_by("c").where(kind("c")).within(5)
    original = Matcher(pattern)
    original.process({"id": 0, "kind": "a", "v": 0, "ts": 0}, 0)
    original.process({"id": 1, "kind": "b", "v": 0, "ts": 7}, 7)
    copied = original.copy()
    _matches, timeouts = original.advance_time(8)
    assert [ts for _m, ts in timeouts] == [5]
    _matches, timeouts = copied.advance_time(8)
    assert [ts for _m, ts in timeouts] == [5], "reporting the original's timeout dropped the copy's"
    assert original.is_empty() and copied.is_empty()


def test_copy_shares_partial_matches_and_events_but_no_container() -> None:
    pattern = _indexed_any_skip_to_first()
    original = Matcher(pattern)
    for i, (k, v) in enumerate([("a", 1), ("a", 2), ("b", 1), ("b", 9)]):
        original.process({"id": i, "kind": k, "v": v, "ts": i}, i)
    copied = original.copy()
    run, other = original._run, copied._run
    assert run.partial_matches() == other.partial_matches()
    assert all(x[1] is y[1] for x, y in zip(run.partial_matches(), other.partial_matches()))
    for mine, theirs in zip(run.buckets, other.buckets):
        assert mine is not theirs
    assert run.expiries is not other.expiries and run.expiry_groups is not other.expiry_groups
    # record lists are only appended to, so sharing them would not change results, but each run
    # would keep (and skip) the other's records for ever
    assert run.expiry_groups and set(run.expiry_groups) == set(other.expiry_groups)
    for start, records in other.expiry_groups.items():
        assert records == run.expiry_groups[start] and records is not run.expiry_groups[start]
    # the queue holds (expiry, start_seq) pairs: every queued start has its records, and no other
    assert list(other.expiries) == list(run.expiries)
    assert sorted(start for _expiry, start in other.expiries) == sorted(other.expiry_groups)
    assert run.completed is not other.completed and run.completed.keys is not other.completed.keys
    assert run.frontier is not other.frontier and run.ctx is not other.ctx


def test_copy_knows_every_attribute_of_the_run_and_the_matcher() -> None:
    # `copy` shares every attribute it does not replace: a new attribute must be sorted into one
    # of these lists (and, when mutable, copied in `NfaRun.copy` / `Matcher.copy`)
    copied_run = {"buckets", "completed", "ctx", "expiries", "expiry_groups", "frontier", "timed_expiries"}
    # ints and an immutable tuple: rebinding never affects the other run
    values_of_run = {"last_key", "next_expiry", "seq", "timed_order", "timed_out", "keep_timeouts"}
    shared_run = {
        "dedupe_key", "infos", "live", "nfa", "share_answers", "skip", "start_info", "start_wake_serves_all",
        "state_windows", "wakeless", "window",
    }
    matcher = Matcher(_previous_and_current())
    assert set(vars(matcher._run)) == copied_run | values_of_run | shared_run
    assert set(vars(matcher)) == {"_expired", "_restored_timeouts", "_run"} | {
        "_options", "_pattern", "_plan", "_prefilter",  # read-only
        "_caps", "max_partial_matches", "on_overflow",  # read-only caps (bounded state)
        "evicted_partial_matches",  # an int: rebinding never affects the other matcher
    }
    copied = matcher.copy()
    for name in copied_run:
        assert getattr(copied._run, name) is not getattr(matcher._run, name), name
    for name in shared_run:
        assert getattr(copied._run, name) is getattr(matcher._run, name), name
