"""The keyed Flink function that runs a `cep.Matcher` per key, with all its state in Flink keyed state.

Event time, as Flink's CepOperator does it:

1. An event whose timestamp is at or below the current watermark is late: it goes to the late-data side
   output when one is set, otherwise it is counted in ``numLateRecordsDropped`` and logged.
2. Other events are buffered in MapState (timestamp -> events in arrival order) and an event-time timer
   is registered at their timestamp.
3. When the watermark passes buffered timestamps, a timer fires: the buffered events up to the
   watermark are fed to the matcher in timestamp order (ties in arrival order), time is advanced before
   each timestamp and finally to the watermark, so `within` timeouts fire.
4. While the matcher holds partial matches, a timer at (timestamp + window) is kept for every timestamp
   fed, so timeouts fire even when no further event arrives for that key.
5. The matcher's snapshot is written to ValueState only when it changed; both states are cleared when
   the matcher is empty and nothing is buffered.

In processing time events are fed as they arrive, stamped with the processing time.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Callable, Optional

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from cep.flink.match_ids import EventIdFn, default_event_id, match_id

log = logging.getLogger(__name__)

MATCHER_STATE = "cep-matcher"
BUFFER_STATE = "cep-buffer"
#: How many keys' deserialised matchers one function instance keeps (the state bytes stay the truth).
MATCHER_CACHE_SIZE = 1024


class MatchContext:
    """What `PatternStream.process` functions see besides the match: key, match id, timestamp."""

    __slots__ = ("key", "match_id", "timestamp")

    def __init__(self, key: Any, match_id: str, timestamp: int) -> None:
        self.key = key
        self.match_id = match_id
        self.timestamp = timestamp

    def __repr__(self) -> str:
        return f"MatchContext(key={self.key!r}, match_id={self.match_id!r}, timestamp={self.timestamp!r})"


MatchFn = Callable[[dict, MatchContext], Iterable[Any]]
TimeoutFn = Callable[[dict, int], Any]


class CepFunction(KeyedProcessFunction):
    """Moves events, watermarks and state between Flink and one `Matcher` per key; nothing else.

    Parameters
    ----------
    pattern:
        The `cep.Pattern` to run.
    match_fn:
        ``fn(match, ctx) -> iterable of outputs`` for each match.
    late_tag:
        Side output for late events, or None to count and log them.
    timeout_tag, timeout_fn:
        Side output and ``fn(partial_match, timeout_timestamp) -> output`` for timed-out partial matches.
    processing_time:
        Feed events as they arrive, stamped with the processing time.
    event_id:
        Names an event inside a match id (see `cep.flink.match_ids`).
    """

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
    ) -> None:
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
        if self._matcher_type is None:
            from cep import Matcher

            self._matcher_type = Matcher
        self._window_ms = window_ms(self._pattern)
        self._matcher_state = runtime_context.get_state(
            ValueStateDescriptor(MATCHER_STATE, Types.PRIMITIVE_ARRAY(Types.BYTE()))
        )
        self._buffer = runtime_context.get_map_state(
            MapStateDescriptor(BUFFER_STATE, Types.LONG(), Types.PICKLED_BYTE_ARRAY())
        )
        self._cache: OrderedDict[Any, tuple[bytes, Any]] = OrderedDict()
        metrics = runtime_context.get_metrics_group().add_group("cep")
        self._events_in = metrics.counter("eventsIn")
        self._late_events = metrics.counter("lateEvents")
        self._late_dropped = metrics.counter("numLateRecordsDropped")
        self._matches_out = metrics.counter("matches")
        self._timeouts_out = metrics.counter("timeouts")
        self._dropped = 0

    # -- Flink callbacks ----------------------------------------------------------------------------

    def process_element(self, event: Any, ctx: KeyedProcessFunction.Context):
        self._events_in.inc()
        timers = ctx.timer_service()
        if self._processing_time:
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
        pending = self._buffer.get(timestamp)
        if pending is None:
            pending = []
            timers.register_event_time_timer(timestamp)
        pending.append(event)
        self._buffer.put(timestamp, pending)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        if self._processing_time:
            yield from self._advance_now(timestamp, ctx)
        else:
            yield from self._on_watermark(ctx.timer_service().current_watermark(), ctx)

    # -- event time ---------------------------------------------------------------------------------

    def _on_watermark(self, watermark: int, ctx: KeyedProcessFunction.OnTimerContext):
        key = ctx.get_current_key()
        due = sorted(ts for ts in self._buffer.keys() if ts <= watermark)  # noqa: SIM118 - MapState
        blob, matcher = self._load(key)
        for timestamp in due:
            yield from self._emit(key, timestamp, *matcher.advance_time(timestamp))
            for event in self._buffer.get(timestamp):
                yield from self._emit(key, timestamp, matcher.process(event, timestamp), ())
            self._buffer.remove(timestamp)
            self._keep_timeout_timer(matcher, timestamp, ctx)
        yield from self._emit(key, watermark, *matcher.advance_time(watermark))
        self._save(key, blob, matcher, buffered=not self._buffer.is_empty())

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
        blob, matcher = self._load(key)
        yield from self._emit(key, now, *matcher.advance_time(now))
        yield from self._emit(key, now, matcher.process(event, now), ())
        self._keep_timeout_timer(matcher, now, ctx)
        self._save(key, blob, matcher, buffered=False)

    def _advance_now(self, now: int, ctx: KeyedProcessFunction.OnTimerContext):
        key = ctx.get_current_key()
        blob, matcher = self._load(key)
        yield from self._emit(key, now, *matcher.advance_time(now))
        self._save(key, blob, matcher, buffered=False)

    # -- shared -------------------------------------------------------------------------------------

    def _keep_timeout_timer(self, matcher: Any, timestamp: int, ctx: Any) -> None:
        """Wake up when partial matches started at `timestamp` may time out, events or not."""
        if self._window_ms is None or matcher.is_empty():
            return
        if self._processing_time:
            ctx.timer_service().register_processing_time_timer(timestamp + self._window_ms)
        else:
            ctx.timer_service().register_event_time_timer(timestamp + self._window_ms)

    def _emit(self, key: Any, timestamp: int, matches: list, timeouts: Iterable):
        for match in matches:
            self._matches_out.inc()
            context = MatchContext(key, match_id(key, match, self._event_id), timestamp)
            yield from self._match_fn(match, context)
        for partial, timeout_ts in timeouts:
            self._timeouts_out.inc()
            if self._timeout_tag is not None:
                yield self._timeout_tag, self._timeout_fn(partial, timeout_ts)

    def _load(self, key: Any) -> tuple[Optional[bytes], Any]:
        """The key's matcher: from the cache when its bytes equal the state's, else restored."""
        blob = self._matcher_state.value()
        cached = self._cache.pop(key, None)
        if cached is not None and cached[0] == blob:
            return blob, cached[1]
        if blob is None:
            return None, self._matcher_type(self._pattern)
        return blob, self._matcher_type.restore(self._pattern, bytes(blob))

    def _save(self, key: Any, old_blob: Optional[bytes], matcher: Any, *, buffered: bool) -> None:
        if matcher.is_empty() and not buffered:
            if old_blob is not None:
                self._matcher_state.clear()
            return
        blob = matcher.snapshot()
        if blob != old_blob:
            self._matcher_state.update(blob)
        self._cache[key] = (blob, matcher)
        if len(self._cache) > MATCHER_CACHE_SIZE:
            self._cache.popitem(last=False)


def window_ms(pattern: Any) -> Optional[int]:
    """The pattern's `within` window in ms, or None when it has none (then nothing can time out)."""
    window = getattr(pattern, "window_ms", None)
    if callable(window):
        window = window()
    return None if window is None else int(window)


def _is_power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1
