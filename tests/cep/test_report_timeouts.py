"""`Matcher(report_timeouts=False)`: timed-out partial matches are counted, not kept or reported.

Flink's NFA only collects timed-out partial matches when the pattern function handles them; a
matcher told not to report them must still give exactly the same matches, and count exactly
the timeouts a reporting matcher reports.
"""

from __future__ import annotations

import random

import pytest

from cep import Matcher
from tests.cep.harness import NfaHarness
from tests.cep.streams import ids
from tests.cep.test_copy import _previous_and_current, _previous_and_current_negated
from tests.cep.test_shortcuts import random_pattern, random_stream


def _both(pattern, events, end: int = 1000, **options) -> tuple[NfaHarness, NfaHarness]:
    reporting = NfaHarness(pattern, **options)
    counting = NfaHarness(pattern, report_timeouts=False, **options)
    reporting.run(events, end=end)
    counting.run(events, end=end)
    return reporting, counting


def _check(reporting: NfaHarness, counting: NfaHarness) -> None:
    assert [ids(m) for m in counting.matches] == [ids(m) for m in reporting.matches]
    assert counting.timeouts == []
    assert counting.matcher.timed_out_partial_matches == len(reporting.timeouts)
    assert reporting.matcher.timed_out_partial_matches == len(reporting.timeouts)
    assert counting.matcher.partial_match_count() == reporting.matcher.partial_match_count()


@pytest.mark.parametrize("seed", range(60))
def test_counting_timeouts_changes_no_match(seed: int) -> None:
    rnd = random.Random(40_000 + seed)
    pattern = random_pattern(rnd)
    for _ in range(2):
        _check(*_both(pattern, random_stream(rnd, 40)))


@pytest.mark.parametrize("make", [_previous_and_current, _previous_and_current_negated])
def test_counting_timeouts_with_previous_and_current_windows(make) -> None:
    reported = 0
    for seed in range(10):
        rnd = random.Random(50_000 + seed)
        events = [{"kind": rnd.choice("abcx"), "event_id": str(i), "ts": i // 2} for i in range(40)]
        reporting, counting = _both(make(), events)
        _check(reporting, counting)
        reported += len(reporting.timeouts) + len(reporting.matches)
    assert reported  # not a vacuous comparison


def test_timeouts_expired_during_process_are_counted_not_held() -> None:
    """`process` expires what is due before the event; a counting matcher keeps nothing of it."""
    pattern = random_pattern(random.Random(3))
    stream = random_stream(random.Random(4), 60)
    # events only, no watermark: timeouts happen inside `process`
    reporting = NfaHarness(pattern, watermark_follows_events=False)
    counting = NfaHarness(pattern, watermark_follows_events=False, report_timeouts=False)
    reporting.feed_all(stream)
    counting.feed_all(stream)
    held = reporting.matcher.advance_time(stream[-1]["ts"])[1]
    assert counting.matcher._expired == []
    assert counting.matcher.advance_time(stream[-1]["ts"]) == ([], [])
    assert counting.matcher.timed_out_partial_matches == len(held) > 0


def test_the_option_survives_copy_and_restore() -> None:
    pattern = _previous_and_current()
    m = Matcher(pattern, report_timeouts=False)
    for ts, name in enumerate("aabbxxxxxxxxxxxx"):
        m.process({"kind": name, "ts": ts}, ts)
    restored = Matcher.restore(pattern, m.snapshot(), report_timeouts=False)
    for other in (m.copy(), m.copy_via_snapshot(), restored):
        assert other.advance_time(100) == ([], [])
    assert m.advance_time(100) == ([], [])
    assert m.timed_out_partial_matches > 0
