"""The keyed Flink function that runs a `cep.Matcher` per key, with all its state in Flink keyed state.

Event time, as Flink's CepOperator does it except for the timers (step 3; Flink 1.20 sets one per
buffered timestamp and one per new partial match at timestamp + window, see docs/cep-flink.md):

1. An event whose timestamp is at or below the current watermark is late: it goes to the late-data side
   output when one is set, otherwise it is counted in ``numLateRecordsDropped`` and logged.
2. Events the matcher's pre-filter rejects (`Matcher.prefilter`: they cannot change any match or
   timeout) are not buffered at all. Other events are buffered in MapState (timestamp -> events in
   arrival order).
3. Each key keeps one event-time timer, at the earliest of its earliest buffered timestamp and the
   matcher's next deadline (`Matcher.next_deadline`), so timeouts fire even when no further event
   arrives for that key. One timer per key instead of one per timestamp keeps the number of firings,
   and of matcher snapshots, low. Its time is kept in memory only: a key met anew (after a restore)
   may get a second timer while Flink's restored one is pending; that one then fires with nothing due.
   With `pass_every_ms` (`PatternStream.pass_every`) the timer is rounded up to a multiple of it: a
   key's pass then takes every event due in that stretch at once; its results and timeouts are the
   same, up to that much event time later.
4. When the timer fires, the buffered events up to the watermark are fed to the matcher in timestamp
   order (ties in arrival order), time is advanced before each timestamp and finally to the watermark,
   so `within` timeouts fire; then the timer is moved to the key's next wake-up time.
   With `max_buffered_events` (`PatternStream.bounded`), a key holding that many buffered events
   evicts its oldest one (earliest timestamp, first arrived), drops the new one, or raises
   `StateLimitError`, by `on_overflow`; evictions are counted (``evictedBufferedEvents``).
5. The matcher's snapshot is written to ValueState only when it changed, known from a flag per key
   set by what the matcher was asked to do (`cep.flink.state_writes`), as Flink's NFA state carries
   a changed flag: no snapshot is taken to find out. Both states are cleared when the matcher is
   empty and nothing is buffered.

Flink state is the truth at every checkpoint, but it is read only the first time a function instance
meets a key (a restore always starts a new instance); after that the key's matcher and buffer live
in memory and every change is written through. PyFlink's own state cache is emptied at each
bundle, that is at each watermark, and each read it misses is a round trip to the JVM: reading state
per event and per timer cost more than all the matching.

In processing time events are fed as they arrive, stamped with the processing time.

With early results (`PatternStream.early_results()`, monotone patterns only, see `cep.early`) each
arriving event is also run, with the buffered ones, through a matcher kept ahead of the watermark, and
the matches it completes are emitted at once (``ctx.found_early``); the pass at the watermark drops
what it reproduces. The matches emitted early and not yet reproduced are keyed state (`EARLY_STATE`),
so a restored job emits each match once too.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Iterable
from typing import Any, Callable, Optional

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from cep.early import EarlyResults, check_early_results
from cep.errors import StateLimitError
from cep.flink.keyed_memory import KeysInMemory
from cep.flink.match_ids import EventIdFn, default_event_id, match_id
from cep.flink.state_writes import advance_time
from cep.flink.timer_metrics import StepMetricsScope
from cep.matcher import OVERFLOW_POLICIES

log = logging.getLogger(__name__)

MATCHER_STATE = "cep-matcher"
BUFFER_STATE = "cep-buffer"
EARLY_STATE = "cep-early-emitted"
#: How many keys one function instance keeps in memory (their Flink state stays complete).
KEYS_IN_MEMORY = 16384


class MatchContext:
    """What `PatternStream.process` functions see besides the match: key, match id, timestamp.

    The match id is computed when first read: a function that does not need it does not pay for
    hashing every event of every match.
    """

    __slots__ = ("key", "timestamp", "found_early", "_match", "_event_id", "_match_id")

    def __init__(
        self,
        key: Any,
        match: dict,
        timestamp: int,
        event_id: EventIdFn = default_event_id,
        found_early: bool = False,
    ) -> None:
        self.key = key
        self.timestamp = timestamp
        #: True when found on the arrival of its last event (early results), False at the watermark.
        self.found_early = found_early
        self._match = match
        self._event_id = event_id
        self._match_id: Optional[str] = None

    @property
    def match_id(self) -> str:
        if self._match_id is None:
            self._match_id = match_id(self.key, self._match, self._event_id)
        return self._match_id

    def __repr__(self) -> str:
        return f"MatchContext(key={self.key!r}, match_id={self.match_id!r}, timestamp={self.timestamp!r})"


MatchFn = Callable[[dict, MatchContext], Iterable[Any]]
TimeoutFn = Callable[[dict, int], Any]


class _KeyState:
    """One key's state in memory, mirroring Flink state: matcher (whether Flink state holds a snapshot
    of it, and whether it changed since), the time it was advanced to, the buffered events and the
    event-time timer."""

    __slots__ = (
        "stored", "changed", "matcher", "advanced_to", "buffered", "wake_at", "early", "count", "stamps",
        "timed_out_seen",
    )

    def __init__(
        self,
        stored: bool,
        matcher: Any,
        buffered: dict[int, list],
        early: Optional[EarlyResults] = None,
    ) -> None:
        self.stored = stored  # Flink state holds a snapshot of `matcher` (as it was when last written)
        self.changed = False  # `matcher` changed since that snapshot: write it at the next `_save`
        self.matcher = matcher
        self.advanced_to: Optional[int] = None
        self.buffered = buffered
        self.wake_at: Optional[int] = None  # known only for timers set by this instance
        self.early = early  # with early results: matches emitted early, the matcher kept ahead
        # with max_buffered_events: how many events are buffered and a heap of their timestamps (may
        # hold stale ones), kept by `_bound_buffer`; None until it needs them and after each pass
        self.count: Optional[int] = None
        self.stamps: Optional[list[int]] = None
        # with a matcher that counts its timeouts (`report_timeouts=False`): its count when last read
        self.timed_out_seen = getattr(matcher, "timed_out_partial_matches", 0)


class CepFunction(KeyedProcessFunction):
    """Moves events, watermarks and state between Flink and one `Matcher` per key; nothing else.

    Parameters
    ----------
    pattern:
        The `cep.Pattern` to run.
    match_fn:
        ``fn(match, ctx) -> iterable of outputs`` for each match. Like Flink's rich pattern functions,
        it may have ``open(runtime_context)`` and ``close()``, called with the operator's; state it
        creates in `open` is keyed state of the current key when it is called.
    late_tag:
        Side output for late events, or None to count and log them.
    timeout_tag, timeout_fn:
        Side output and ``fn(partial_match, timeout_timestamp) -> output`` for timed-out partial matches.
    processing_time:
        Feed events as they arrive, stamped with the processing time.
    event_id:
        Names an event inside a match id (see `cep.flink.match_ids`).
    early_results:
        Emit each match when its last event arrives (monotone patterns only, see `cep.early`).
    max_partial_matches, max_buffered_events, on_overflow:
        Per-key caps on live partial matches (passed to the matcher) and on events buffered until
        the watermark, and what to do beyond them: ``"drop_oldest"``, ``"drop_newest"`` or
        ``"fail"`` (see `cep.Matcher`). None: unbounded, as Flink.
    pass_every_ms:
        Run a key's event-time pass only when the watermark reaches a multiple of this (event time):
        fewer, larger passes (each writes the matcher's snapshot) for results and timeouts at most
        this much later. None: at each watermark that makes an event due, as Flink.
    """

    #: How often (at most) the ``livePartialMatches`` / ``bufferedEvents`` gauges are recounted.
    GAUGE_REFRESH_S = 1.0

    def __init__(
        self,
        pattern: Any,
        match_fn: MatchFn,
        *,
        late_tag: Optional[OutputTag] = None,
        timeout_tag: Optional[OutputTag] = None,
        timeout_fn: Optional[TimeoutFn] = None,
        processing_time: bool = False,
        event_id: EventIdFn = default_event_id,
        matcher_type: Any = None,
        early_results: bool = False,
        max_partial_matches: Optional[int] = None,
        max_buffered_events: Optional[int] = None,
        on_overflow: str = "drop_oldest",
        pass_every_ms: Optional[int] = None,
    ) -> None:
        if pass_every_ms is not None and (pass_every_ms < 1 or processing_time):
            raise ValueError(f"pass_every_ms must be >= 1 or None, in event time only; got {pass_every_ms}")
        if max_buffered_events is not None and max_buffered_events < 1:
            raise ValueError(f"max_buffered_events must be >= 1 or None, got {max_buffered_events}")
        if on_overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"on_overflow must be one of {OVERFLOW_POLICIES}, got {on_overflow!r}")
        self._caps: dict = {}
        if max_partial_matches is not None:
            self._caps = {"max_partial_matches": max_partial_matches, "on_overflow": on_overflow}
        self._max_buffered = max_buffered_events
        self._on_overflow = on_overflow
        if early_results:
            if processing_time:
                raise ValueError("early results are for event time; in processing time every match is early")
            check_early_results(pattern)
        self._early_results = early_results
        self._pass_every = pass_every_ms
        self._pattern = pattern
        self._match_fn = match_fn
        self._late_tag = late_tag
        self._timeout_tag = timeout_tag
        self._timeout_fn = timeout_fn
        self._processing_time = processing_time
        self._event_id = event_id
        self._matcher_type = matcher_type

    # -- life cycle ---------------------------------------------------------------------------------

    def open(self, runtime_context: RuntimeContext) -> None:
        from cep import Matcher

        if self._matcher_type is None:
            self._matcher_type = Matcher
        # without a timeout side output, timeouts are only counted (the `timeouts` metric): the
        # matcher need not build them (as Flink's NFA without a timeout handler). With early results
        # the matcher kept ahead, a copy of the key's matcher, counts too: a lineage that replaces
        # the key's matcher has counted exactly what a plain matcher fed the same events would
        self._count_timeouts = (
            self._timeout_tag is None
            and isinstance(self._matcher_type, type)
            and issubclass(self._matcher_type, Matcher)
        )
        if self._count_timeouts:
            self._caps = {**self._caps, "report_timeouts": False}
        probe = self._matcher_type(self._pattern, **self._caps)
        # gaps after an event at which its partial matches may time out: the first-to-last
        # window and every PREVIOUS_AND_CURRENT window (measured from a partial match's last event)
        nfa = probe.nfa
        self._timeout_gaps = sorted({w for w in (nfa.window_ms, *getattr(nfa, "state_windows", ())) if w})
        prefilter = getattr(probe, "prefilter", None)
        self._can_matter = prefilter.compile() if prefilter is not None else None
        self._matcher_state = runtime_context.get_state(
            ValueStateDescriptor(MATCHER_STATE, Types.PICKLED_BYTE_ARRAY())
        )
        self._buffer = runtime_context.get_map_state(
            MapStateDescriptor(BUFFER_STATE, Types.LONG(), Types.PICKLED_BYTE_ARRAY())
        )
        self._early_state = (
            runtime_context.get_state(ValueStateDescriptor(EARLY_STATE, Types.PICKLED_BYTE_ARRAY()))
            if self._early_results
            else None
        )
        self._keys: KeysInMemory[_KeyState] = KeysInMemory(KEYS_IN_MEMORY)
        if callable(getattr(self._match_fn, "open", None)):
            self._match_fn.open(runtime_context)
        metrics = runtime_context.get_metrics_group().add_group("cep")
        self._events_in = metrics.counter("eventsIn")
        self._late_events = metrics.counter("lateEvents")
        self._late_dropped = metrics.counter("numLateRecordsDropped")
        self._matches_out = metrics.counter("matches")
        self._timeouts_out = metrics.counter("timeouts")
        self._early_out = metrics.counter("earlyMatches")
        self._rebuilds = metrics.counter("earlyRebuilds")
        self._evicted_partial = metrics.counter("evictedPartialMatches")
        self._evicted_buffered = metrics.counter("evictedBufferedEvents")
        # gauges read values the operator thread refreshes (a reporter may call them from another thread)
        self._gauge_values = {"livePartialMatches": 0, "bufferedEvents": 0}
        self._gauges_at = 0.0
        metrics.gauge("livePartialMatches", lambda: self._gauge_values["livePartialMatches"])
        metrics.gauge("bufferedEvents", lambda: self._gauge_values["bufferedEvents"])
        self._metrics_scope = StepMetricsScope()  # matches are counted in on_timer
        self._dropped = 0

    def close(self) -> None:
        if callable(getattr(self._match_fn, "close", None)):
            self._match_fn.close()

    # -- Flink callbacks ----------------------------------------------------------------------------

    def process_element(self, event: Any, ctx: KeyedProcessFunction.Context):
        yield from self._process_element(event, ctx)
        self._refresh_gauges()

    def _process_element(self, event: Any, ctx: KeyedProcessFunction.Context):
        self._metrics_scope.remember()
        self._events_in.inc()
        timers = ctx.timer_service()
        if self._processing_time:
            if self._matters(event):
                yield from self._feed_now(event, timers.current_processing_time(), ctx)
            return
        timestamp = ctx.timestamp()
        if timestamp is None:
            raise ValueError(
                "CEP.pattern runs in event time and this event has no timestamp: assign timestamps and "
                "watermarks upstream (a WatermarkStrategy or a table rowtime), or call in_processing_time()"
            )
        if timestamp <= timers.current_watermark():
            yield from self._late(event, timestamp, ctx)
            return
        if not self._matters(event):
            return
        state = self._state_of(ctx.get_current_key())
        pending = state.buffered.get(timestamp)
        if pending is None:
            pending = state.buffered[timestamp] = []
            wake = self._wake_time(timestamp)
            if state.wake_at is None or wake < state.wake_at:
                self._move_timer(state, wake, timers)
        pending.append(event)
        self._buffer.put(timestamp, pending)
        kept = self._max_buffered is None or self._bound_buffer(state, timestamp)
        if state.early is not None and kept:
            yield from self._early(ctx.get_current_key(), event, timestamp, state)

    def _bound_buffer(self, state: _KeyState, arrived_at: int) -> bool:
        """Keep at most `max_buffered_events` events buffered for this key (the new one included);
        False when the arriving event is the one dropped."""
        if state.count is None or state.stamps is None:  # recounted once after each pass, not per event
            state.count = sum(len(events) for events in state.buffered.values())
            state.stamps = list(state.buffered)
            heapq.heapify(state.stamps)
        else:
            state.count += 1
            if len(state.buffered[arrived_at]) == 1:
                heapq.heappush(state.stamps, arrived_at)
        count = state.count
        if count <= self._max_buffered:
            return True
        if self._on_overflow == "fail":
            raise StateLimitError(
                f"{count} buffered events for this key exceed max_buffered_events={self._max_buffered} "
                "(the watermark lags behind): raise the cap, fix the watermark, or choose "
                "on_overflow='drop_oldest'/'drop_newest'",
                limit=self._max_buffered,
                count=count,
            )
        if self._on_overflow == "drop_newest":
            timestamp = arrived_at
        else:
            while state.stamps[0] not in state.buffered:  # emptied since it was pushed
                heapq.heappop(state.stamps)
            timestamp = state.stamps[0]
        events = state.buffered[timestamp]
        state.count -= 1
        if self._on_overflow == "drop_newest":
            events.pop()
        else:
            events.pop(0)
        self._evicted_buffered.inc()
        arriving = self._on_overflow == "drop_newest" or (timestamp == arrived_at and not events)
        if state.early is not None and not arriving:  # taken by the ahead matcher: no rebuild (cep.early)
            state.early.on_evicted(timestamp)
        if events:
            self._buffer.put(timestamp, events)
        else:
            del state.buffered[timestamp]
            self._buffer.remove(timestamp)  # the key's timer may now be early: it then finds nothing due
        return not arriving

    def _refresh_gauges(self) -> None:
        """Recount the gauges' values over the keys held in memory, at most every `GAUGE_REFRESH_S`."""
        now = time.monotonic()
        if now - self._gauges_at < self.GAUGE_REFRESH_S:
            return
        self._gauges_at = now
        states = self._keys.values()
        self._gauge_values["livePartialMatches"] = sum(s.matcher.partial_match_count() for s in states)
        self._gauge_values["bufferedEvents"] = sum(len(e) for s in states for e in s.buffered.values())

    def _early(self, key: Any, event: Any, timestamp: int, state: _KeyState):
        """Emit the matches `event` completes among the events arrived so far (early results)."""
        early = state.early
        rebuilds = early.rebuilds
        matches = early.on_arrival(event, timestamp, state.matcher, state.buffered)
        if early.rebuilds != rebuilds:
            self._rebuilds.inc()
        if matches:
            self._early_state.update(early.emitted)
            self._early_out.inc(len(matches))
            yield from self._emit(key, timestamp, matches, (), found_early=True)

    def _matters(self, event: Any) -> bool:
        """False for events the matcher's pre-filter rejects: they would change nothing."""
        return self._can_matter is None or self._can_matter(event, None)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        yield from self._on_timer(timestamp, ctx)
        self._refresh_gauges()

    def _on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        with self._metrics_scope.entered():
            if self._processing_time:
                yield from self._advance_now(timestamp, ctx)
            else:
                yield from self._on_watermark(ctx.timer_service().current_watermark(), ctx)

    # -- event time ---------------------------------------------------------------------------------

    def _on_watermark(self, watermark: int, ctx: KeyedProcessFunction.OnTimerContext):
        key = ctx.get_current_key()
        state = self._state_of(key)
        matcher = state.matcher
        due = sorted(ts for ts in state.buffered if ts <= watermark)
        early = state.early
        final = early.on_final if early is not None else _all
        if due or state.advanced_to != watermark:  # else: a timer left from before a restore
            evicted = getattr(matcher, "evicted_partial_matches", 0)
            had_early = bool(early is not None and early.emitted)
            if due:
                state.changed = True  # buffered events passed the pre-filter: each changes the matcher
            if early is not None:  # start where the matcher kept ahead already was (cep.early)
                matcher, due, owed = self._skip_ahead(state, watermark, due)
                yield from self._emit(key, watermark, [], owed)
            for timestamp in due:
                matches, timeouts = matcher.advance_time(timestamp)
                yield from self._emit(key, timestamp, final(matches), timeouts)
                for event in state.buffered.pop(timestamp):
                    yield from self._emit(key, timestamp, final(matcher.process(event, timestamp)), ())
                self._buffer.remove(timestamp)
            state.count = state.stamps = None  # the buffer shrank: `_bound_buffer` recounts it
            matches, timeouts, changed = advance_time(matcher, watermark)
            state.changed = state.changed or changed
            yield from self._emit(key, watermark, final(matches), timeouts)
            self._count_evictions(matcher, evicted)
            self._count_counted_timeouts(state)
            self._save(state, watermark)
            if had_early:
                early.forget_through(watermark)
                self._save_early(early)
        self._reschedule(state, watermark, ctx.timer_service())

    def _skip_ahead(self, state: _KeyState, watermark: int, due: list) -> tuple[Any, list, list]:
        """With early results: take the committed matcher from the ahead matcher's latest waypoint at
        or below `watermark` and drop the buffered events it has taken; returns (the committed matcher,
        the due timestamps still to replay, timeouts owed by the skipped part)."""
        matcher, start, owed = state.early.committed_through(watermark, state.matcher, state.buffered)
        if matcher is not state.matcher:
            state.matcher = matcher
            state.changed = True
        if start is None:
            return matcher, due, owed
        for timestamp in due:
            if timestamp >= start:
                break
            del state.buffered[timestamp]
            self._buffer.remove(timestamp)
        return matcher, [timestamp for timestamp in due if timestamp >= start], owed

    def _reschedule(self, state: _KeyState, watermark: int, timers: Any) -> None:
        """Keep the key's one timer at its next wake-up: earliest buffered timestamp or matcher deadline."""
        candidates = list(state.buffered)
        deadline = state.matcher.next_deadline
        if deadline is not None:
            candidates.append(max(deadline, watermark + 1))
        if state.wake_at is not None and state.wake_at <= watermark:
            state.wake_at = None  # that timer has fired
        self._move_timer(state, self._wake_time(min(candidates)) if candidates else None, timers)

    def _wake_time(self, due: int) -> int:
        """When the pass for what is due at `due` runs: then, or at the next multiple of `pass_every_ms`."""
        every = self._pass_every
        return due if every is None else -(-due // every) * every

    def _move_timer(self, state: _KeyState, new: Optional[int], timers: Any) -> None:
        if state.wake_at == new:
            return
        if state.wake_at is not None:
            timers.delete_event_time_timer(state.wake_at)
        if new is not None:
            timers.register_event_time_timer(new)
        state.wake_at = new

    def _late(self, event: Any, timestamp: int, ctx: KeyedProcessFunction.Context):
        self._late_events.inc()
        if self._late_tag is not None:
            yield self._late_tag, event
            return
        self._late_dropped.inc()
        self._dropped += 1
        level = logging.WARNING if _is_power_of_ten(self._dropped) else logging.DEBUG
        log.log(
            level,
            "dropped late event (key %r, timestamp %d <= watermark %d; %d dropped so far): "
            "set side_output_late_data(tag) to keep late events",
            ctx.get_current_key(),
            timestamp,
            ctx.timer_service().current_watermark(),
            self._dropped,
        )

    # -- processing time ----------------------------------------------------------------------------

    def _feed_now(self, event: Any, now: int, ctx: KeyedProcessFunction.Context):
        key = ctx.get_current_key()
        state = self._state_of(key)
        yield from self._emit(key, now, *state.matcher.advance_time(now))
        evicted = getattr(state.matcher, "evicted_partial_matches", 0)
        state.changed = True  # the event passed the pre-filter: it changes the matcher
        yield from self._emit(key, now, state.matcher.process(event, now), ())
        self._count_evictions(state.matcher, evicted)
        self._count_counted_timeouts(state)
        self._keep_timeout_timer(state.matcher, now, ctx)
        self._save(state, now)

    def _advance_now(self, now: int, ctx: KeyedProcessFunction.OnTimerContext):
        key = ctx.get_current_key()
        state = self._state_of(key)
        matches, timeouts, changed = advance_time(state.matcher, now)
        state.changed = state.changed or changed
        yield from self._emit(key, now, matches, timeouts)
        self._count_counted_timeouts(state)
        self._save(state, now)

    # -- shared -------------------------------------------------------------------------------------

    def _count_evictions(self, matcher: Any, before: int) -> None:
        evicted = getattr(matcher, "evicted_partial_matches", 0) - before
        if evicted:
            self._evicted_partial.inc(evicted)

    def _count_counted_timeouts(self, state: _KeyState) -> None:
        """Add to the `timeouts` metric what a counting matcher (`report_timeouts=False`) counted
        since the last look (a reporting matcher's timeouts are counted in `_emit`)."""
        if not self._count_timeouts:
            return
        total = state.matcher.timed_out_partial_matches
        if total != state.timed_out_seen:
            self._timeouts_out.inc(total - state.timed_out_seen)
            state.timed_out_seen = total

    def _keep_timeout_timer(self, matcher: Any, timestamp: int, ctx: Any) -> None:
        """Wake up when partial matches started at `timestamp` may time out, events or not."""
        if not self._timeout_gaps or matcher.is_empty():
            return
        for gap in self._timeout_gaps:
            if self._processing_time:
                ctx.timer_service().register_processing_time_timer(timestamp + gap)
            else:
                ctx.timer_service().register_event_time_timer(timestamp + gap)

    def _emit(self, key: Any, timestamp: int, matches: list, timeouts: Iterable, found_early: bool = False):
        for match in matches:
            self._matches_out.inc()
            context = MatchContext(key, match, timestamp, self._event_id, found_early)
            yield from self._match_fn(match, context)
        for partial, timeout_ts in timeouts:
            self._timeouts_out.inc()
            if self._timeout_tag is not None:
                yield self._timeout_tag, self._timeout_fn(partial, timeout_ts)

    def _state_of(self, key: Any) -> _KeyState:
        """The current key's state: from memory, or read from Flink state the first time we meet it
        (a key forgotten from memory loses nothing: every change was written through)."""
        return self._keys.get(key, self._read_state)

    def _read_state(self) -> _KeyState:
        blob = self._matcher_state.value()
        matcher = (
            self._matcher_type(self._pattern, **self._caps)
            if blob is None
            else self._matcher_type.restore(self._pattern, bytes(blob), **self._caps)
        )
        buffered = {timestamp: list(events) for timestamp, events in self._buffer.items()}
        early = None
        if self._early_state is not None:
            early = EarlyResults(self._event_id, self._early_state.value() or {})
        return _KeyState(blob is not None, matcher, buffered, early)

    def _save_early(self, early: EarlyResults) -> None:
        if early.emitted:
            self._early_state.update(early.emitted)
        else:
            self._early_state.clear()

    def _save(self, state: _KeyState, advanced_to: int) -> None:
        """Write the matcher's state if it changed; clear it when there is nothing left to keep."""
        state.advanced_to = advanced_to
        if state.matcher.is_empty() and not state.buffered:
            if state.stored:
                self._matcher_state.clear()
                state.stored = False
            state.changed = False  # a fresh matcher, as a restore without state builds, is the same
            return
        if state.changed:
            self._matcher_state.update(state.matcher.snapshot())
            state.stored = True
            state.changed = False


def _all(matches: list) -> list:
    return matches


def _is_power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1
