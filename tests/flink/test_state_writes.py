"""A key's matcher is written to Flink state when it changed, and only then (`cep.flink.state_writes`).

1. The changed flag is sound: on random patterns and streams, whenever `state_writes.advance_time`
   says nothing changed, the matcher's snapshot is byte for byte what it was.
2. `CepFunction`, driven directly with in-memory Flink state (`tests.flink.stand_ins`): a change is
   written and a function restored from that state continues from it; a timer that changes nothing
   takes no snapshot and writes nothing.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cep import Matcher, Pattern, WithinType
from cep import conditions as C
from cep.flink import state_writes
from cep.flink.operator import CepFunction
from tests.cep.property.profiles import profile
from tests.cep.property.strategies import KINDS, build_pattern, pattern_specs
from tests.cep.test_bounded import multiplying
from tests.flink.stand_ins import Ctx, Runtime, Timers


def _kind(k: str):
    return C.field("kind") == k


def _ends_in_absence() -> Pattern:
    """``not_followed_by`` last: a partial match completes when its window passes (no event)."""
    return Pattern.begin("a").where(_kind("a")).not_followed_by("c").where(_kind("c")).within(4)


def _gap_windows() -> Pattern:
    """A PREVIOUS_AND_CURRENT window: partial matches expire by the gap since their last event."""
    return (
        Pattern.begin("a")
        .where(_kind("a"))
        .followed_by("b")
        .where(_kind("b"))
        .within(2, WithinType.PREVIOUS_AND_CURRENT)
        .followed_by("c")
        .where(_kind("c"))
        .within(6)
    )


def _multiplying_kinds() -> Pattern:
    return (
        Pattern.begin("a")
        .where(_kind("a"))
        .followed_by_any("b")
        .where(_kind("b"))
        .one_or_more()
        .followed_by("c")
        .where(_kind("c"))
        .within(5)
    )


#: (kind, v, time step before the event, how far to advance time after it or None)
steps = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 2), st.integers(0, 3), st.none() | st.integers(0, 6)),
    max_size=14,
)


def _check_flag(matcher: Matcher, rows: list) -> None:
    now = 0
    for i, (kind, v, step, advance) in enumerate(rows):
        now += step
        matcher.process({"id": i, "kind": kind, "v": v}, now)
        if advance is None:
            continue
        now += advance
        before = matcher.snapshot()
        _matches, _timeouts, changed = state_writes.advance_time(matcher, now)
        assert changed or matcher.snapshot() == before, f"unflagged change at {now} after row {i}"
    before = matcher.snapshot()
    _matches, _timeouts, changed = state_writes.advance_time(matcher, now + 100)
    assert changed or matcher.snapshot() == before


@profile(max_examples=150)
@given(spec=pattern_specs(quantifiers=True, skip_strategies=True, require_window=True), rows=steps)
def test_the_flag_is_set_whenever_advancing_time_changes_the_snapshot(spec, rows):
    _check_flag(Matcher(build_pattern(spec)), rows)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Matcher(_ends_in_absence()),
        lambda: Matcher(_gap_windows()),
        lambda: Matcher(_multiplying_kinds(), max_partial_matches=3),
        lambda: Matcher(_multiplying_kinds(), max_partial_matches=3, on_overflow="drop_newest"),
    ],
    ids=["not_followed_by-last", "previous-and-current", "capped-oldest", "capped-newest"],
)
@profile(max_examples=60)
@given(rows=steps)
def test_the_flag_is_sound_for_absence_gap_windows_and_caps(make, rows):
    _check_flag(make(), rows)


def test_the_flag_is_not_set_when_nothing_was_due():
    matcher = Matcher(_ends_in_absence())
    matcher.process({"kind": "a"}, 1)
    assert state_writes.advance_time(matcher, 2) == ([], [], False)  # before the deadline (5)
    matches, _timeouts, changed = state_writes.advance_time(matcher, 5)
    assert changed and len(matches) == 1  # the window passed with no c: a match, and the state changed


# -- CepFunction, with in-memory Flink state ---------------------------------------------------------


def _pair(window: int = 1_000) -> Pattern:
    return (
        Pattern.begin("a")
        .where(C.field("k") == "a")
        .followed_by("b")
        .where(C.field("k") == "b")
        .within(window)
    )


def _open(pattern: Pattern, runtime: Runtime) -> CepFunction:
    function = CepFunction(pattern, lambda match, ctx: [match])
    function.open(runtime)
    return function


def _event(function: CepFunction, ctx: Ctx, kind: str, ts: int) -> list:
    ctx.ts = ts
    return list(function.process_element({"k": kind}, ctx))


def _watermark(function: CepFunction, ctx: Ctx, watermark: int) -> list:
    ctx.timers.watermark = watermark
    return list(function.on_timer(watermark, ctx))


class _SnapshotSpy:
    """Counts `Matcher.snapshot` calls (the pickling the changed flag saves)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = Matcher.snapshot

        def counted(matcher: Matcher) -> bytes:
            self.calls += 1
            return original(matcher)

        monkeypatch.setattr(Matcher, "snapshot", counted)


def test_a_changed_matcher_is_written_and_a_restored_function_continues_from_it():
    runtime, ctx = Runtime(), Ctx(Timers())
    function = _open(multiplying(), runtime)
    _event(function, ctx, "a", 1)
    _event(function, ctx, "b", 2)
    assert _watermark(function, ctx, 2) == []
    assert runtime.value.updates == 1
    _event(function, ctx, "b", 3)
    _watermark(function, ctx, 3)  # one more b: the partial matches forked, so it is written again
    assert runtime.value.updates == 2
    restored = _open(multiplying(), runtime)  # a new instance on the same state: as after a restore
    _event(restored, ctx, "c", 4)
    matches = _watermark(restored, ctx, 4)
    assert sorted(len(m["b"]) for m in matches) == [1, 1, 2]  # b2, b3 and b2 b3: all restored


def test_time_that_only_expires_partial_matches_is_written_too():
    runtime, ctx = Runtime(), Ctx(Timers())
    function = _open(_pair(window=10), runtime)
    _event(function, ctx, "a", 1)
    _event(function, ctx, "a", 8)
    _watermark(function, ctx, 8)
    written = runtime.value.updates
    _watermark(function, ctx, 11)  # a@1's window ended: no event, but the state changed
    assert runtime.value.updates == written + 1
    restored = _open(_pair(window=10), runtime)
    _event(restored, ctx, "b", 12)
    matches = _watermark(restored, ctx, 12)
    assert [m["a"][0] for m in matches] == [{"k": "a"}] and len(matches) == 1  # only a@8 was left


def test_a_timer_that_changes_nothing_takes_no_snapshot_and_writes_nothing(monkeypatch):
    runtime, ctx = Runtime(), Ctx(Timers())
    function = _open(_pair(window=10), runtime)
    _event(function, ctx, "a", 1)
    _event(function, ctx, "b", 2)  # completes a@1 (its expiry record stays queued until 11)
    _event(function, ctx, "a", 5)  # keeps the key's matcher non-empty
    assert len(_watermark(function, ctx, 5)) == 1
    written = runtime.value.updates
    spy = _SnapshotSpy(monkeypatch)
    assert _watermark(function, ctx, 11) == []  # a@1's deadline: it moved on, nothing expires
    assert (spy.calls, runtime.value.updates) == (0, written)
    assert _watermark(function, ctx, 15) == []  # a@5 expires: that is a change
    assert runtime.value.clears == 1  # ... and the key is empty now: its state is cleared


def test_processing_time_writes_on_each_event_and_not_on_a_timer_with_nothing_due():
    runtime, ctx = Runtime(), Ctx(Timers())
    function = CepFunction(_pair(window=10), lambda match, ctx: [match], processing_time=True)
    function.open(runtime)
    ctx.timers.current_processing_time = lambda: 1
    ctx.timers.register_processing_time_timer = lambda ts: None
    list(function.process_element({"k": "a"}, ctx))
    assert runtime.value.updates == 1
    list(function.on_timer(5, ctx))  # before a@1's window ends
    assert runtime.value.updates == 1
