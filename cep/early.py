"""Early results: report a match when its last needed event arrives, not when the watermark passes.

An Emberwatch extension (Flink CEP has none). In event time a matcher sees events only once the
watermark guarantees that no earlier one can still come, so every match waits for the watermark.
For **monotone** patterns that wait is not needed: every match found among a subset of the events
(taken in event-time order) is also a match of the whole stream, so a match may be reported as soon
as the events that have arrived contain it, whatever order they arrived in.

The rule (`check_early_results`): a pattern is monotone here when

* every stage after the first is joined by `followed_by_any` (skip till any match). `next` and
  `consecutive` need two events to be neighbours, which a later-arriving event in between breaks;
  `followed_by` takes only the *first* fitting event, which an earlier event arriving late replaces;
* no stage is a negation (`not_next`, `not_followed_by`): a later-arriving event can cancel a match;
* every stage is a single, non-optional stage (no `one_or_more`, `times`, `optional`, `greedy`,
  `until`): their runs and stop conditions depend on the events in between, which is not proved
  monotone here, so they are refused rather than guessed;
* no group stages, and the skip strategy is `no_skip` (the others discard matches depending on other
  matches found, so which matches exist depends on the events around them);
* conditions look only at the event and the match's own earlier events (what `cep` conditions can
  see) and are pure functions of them: a lambda that reads outside state is the caller's risk.

`within` is fine: a window depends only on the match's first and last timestamps.

With such a pattern a matcher fed the events in (timestamp, arrival) order finds, among the events
seen so far, exactly the matches of the whole stream whose events have all been seen. `EarlyResults`
keeps such a matcher *ahead* of the watermark: the committed matcher (fed up to the watermark) plus
the pending events, advanced incrementally while events arrive in timestamp order and rebuilt when
one arrives out of order. Copies it leaves behind now and then (waypoints) let a rebuild start close
to the late event, and let the event-time pass start where the ahead matcher already was instead of
feeding every event a second time. Each match it finds that was not
reported before is reported early and remembered (by its events' ids, with its last timestamp); the
event-time pass at the watermark then drops the matches it reproduces, and a match is forgotten once
the watermark has passed its last event (the pass has reproduced it by then).

With `dedupe_runs(key)` (which keeps one run per key sequence) the ahead matcher and the event-time
pass may pick different, interchangeable matches of the same key sequence: then the *set of key
sequences* of early and final matches together is exactly the event-time one, and a key sequence may
be reported twice (as with `dedupe_runs` alone, a consumer that needs one result per key sequence
dedupes by it).
"""

from __future__ import annotations

import heapq
import pickle
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from cep.aftermatch import NO_SKIP
from cep.errors import BufferStateError, MalformedPatternError, StateLimitError
from cep.matcher import OVERFLOW_POLICIES, Matcher
from cep.pattern import Pattern
from cep.quantifier import Contiguity, Property

__all__ = ["EarlyMatcher", "EarlyResults", "check_early_results", "match_key"]

Match = dict
MatchKey = tuple
EventId = Callable[[Any], Any]
# 1: no evicted-buffered-events counter (still restorable)
_SNAPSHOT_VERSION = 2
#: Events the ahead matcher takes between two of its waypoints (`EarlyResults`): a copy costs about
#: what two or three `process` calls cost with a few hundred partial matches, and a pass or a rebuild
#: replays at most this many events before reaching the events it must see.
WAYPOINT_EVERY = 32
#: How far the interval between waypoints may stretch (`EarlyResults`): while passes keep coming before
#: any waypoint is usable (a live stream, whose watermark trails the arrivals), each pass doubles it.
WAYPOINT_EVERY_MAX = 32 * WAYPOINT_EVERY


def check_early_results(pattern: Pattern) -> None:
    """Raise `MalformedPatternError` naming the part of `pattern` that makes early results unsound."""
    stages = list(reversed(list(pattern.stages())))
    skip = pattern.skip_strategy
    if skip.kind != NO_SKIP:
        raise MalformedPatternError(
            f"early results need the no_skip strategy, the pattern uses {skip.kind}: it discards matches "
            "depending on other matches found, so a match found early may not exist in event time"
        )
    for i, stage in enumerate(stages):
        where = f"stage {stage.name!r}"
        q = stage.quantifier
        if stage.group is not None:
            raise MalformedPatternError(f"early results do not support group stages ({where})")
        if q.is_negation:
            raise MalformedPatternError(
                f"early results are unsound with the negation {where} ({q.contiguity.value}): "
                "an event arriving later can cancel a match found early"
            )
        if stage.until_condition is not None:
            raise MalformedPatternError(f"early results do not support until() ({where})")
        for prop, verb in (
            (Property.LOOPING, "one_or_more/times_or_more"),
            (Property.TIMES, "times"),
            (Property.OPTIONAL, "optional"),
            (Property.GREEDY, "greedy"),
        ):
            if q.has(prop):
                raise MalformedPatternError(
                    f"early results support single stages only; {where} is {verb}: which events it takes "
                    "depends on the events in between, not proved monotone"
                )
        if i == 0:
            continue
        if q.contiguity is Contiguity.STRICT:
            raise MalformedPatternError(
                f"early results are unsound with next() ({where}): strict contiguity breaks when an "
                "event arriving later falls between; join the stages with followed_by_any"
            )
        if q.contiguity is Contiguity.RELAXED:
            raise MalformedPatternError(
                f"early results are unsound with followed_by() ({where}): it takes only the first "
                "fitting event, which an earlier event arriving later replaces; use followed_by_any"
            )


def _default_event_id(event: Any) -> Any:
    if isinstance(event, Mapping):
        for name in ("event_id", "id"):
            if event.get(name) is not None:
                return event[name]
        return repr(sorted(event.items()))
    return repr(event)


def match_key(match: Mapping[str, Sequence[Any]], event_id: EventId = _default_event_id) -> MatchKey:
    """A match's identity: stage names with the ids of their events (stable across a restore)."""
    return tuple([(name, tuple(map(event_id, events))) for name, events in match.items()])


class EarlyResults:
    """The early-results bookkeeping of one key, next to its committed matcher and pending events.

    The owner keeps the committed matcher (fed in timestamp order up to the watermark) and the
    pending events (timestamp -> events in arrival order, all above the watermark); it calls
    `on_arrival` after adding an event to the pending ones, `committed_through` before the event-time
    pass, `on_final` with the matches of the pass and `forget_through` after it. `emitted` (match key ->
    last timestamp) is the state to checkpoint; the ahead matcher and its waypoints are rebuilt when
    needed.

    Waypoints keep the matching work at about one `process` per event. The ahead matcher leaves a
    copy of itself every `waypoint_every` events (at a timestamp boundary): a waypoint at `t` is the
    committed matcher fed every pending event before `t`, exactly what the event-time pass would make
    of it. So the pass starts from the latest waypoint at or below the watermark and replays only the
    events after it (`committed_through`), and an event arriving out of order rebuilds the ahead
    matcher from the latest waypoint at or before its timestamp rather than from the committed
    matcher. A copy costs about what a few `process` calls cost, hence one every few dozen events.
    A pass drops the waypoints above its watermark (they hold timeouts it took), so on a live stream,
    whose watermark trails the arrivals, a pass usually comes before any waypoint is usable: after
    each pass that found waypoints but none it could use, the interval doubles (up to
    `WAYPOINT_EVERY_MAX`), and a pass that uses one, or an arrival out of order (whose rebuild starts
    at the latest waypoint before it), sets it back to `waypoint_every`.

    When the owner evicts a pending event the ahead matcher has taken (a `max_buffered_events` cap
    under ``drop_oldest``), it calls `on_evicted`: the ahead matcher and the waypoints after that
    event keep its effects, so they are *tainted*. A tainted matcher still only finds matches of the
    stream (the evicted event did happen), so it keeps reporting early, and rebuilds may start from
    tainted waypoints; but it is never handed to the event-time pass, which replays the kept events
    from the committed matcher instead. So the committed matcher is always exactly a plain matcher fed
    the kept events, and an eviction costs no rebuild: each later reading is still one `process` of
    the ahead matcher (plus one in the pass that replays it).
    """

    def __init__(
        self,
        event_id: EventId = _default_event_id,
        emitted: Optional[dict] = None,
        waypoint_every: int = WAYPOINT_EVERY,
    ) -> None:
        if waypoint_every < 1:
            raise ValueError(f"waypoint_every must be >= 1, got {waypoint_every}")
        self.event_id = event_id
        self.waypoint_every = waypoint_every
        # the interval in use: doubled after each pass that found no waypoint it could use, back to
        # `waypoint_every` after one that did (waypoints only speed passes and rebuilds up)
        self._every = waypoint_every
        self.emitted: dict[MatchKey, int] = dict(emitted or {})
        self._ahead: Optional[Matcher] = None
        self._ahead_ts: Optional[int] = None  # timestamp of the last event the ahead matcher took
        # (t, matcher fed every pending event before t), t ascending, all taken by the ahead matcher
        self._waypoints: list[tuple[int, Matcher]] = []
        # the first `_clean` waypoints saw no evicted event (the tainted ones come after them)
        self._clean = 0
        self._ahead_tainted = False  # the ahead matcher took an event evicted since (see `on_evicted`)
        self._since_waypoint = 0
        # timeouts taken from the ahead matcher after the last pass's watermark, not reported yet
        self._owed: list = []
        self.rebuilds = 0  # how often an event arrived out of order (for metrics and tests)

    def on_arrival(
        self, event: Any, timestamp: int, committed: Matcher, pending: Mapping[int, list]
    ) -> list[Match]:
        """The matches not reported before among committed + pending, `event` being the newest arrival
        (already the last of ``pending[timestamp]``)."""
        if self._ahead is None or self._ahead_ts is None:  # the first arrival, or after a restore
            return self._rebuild(timestamp, committed, pending)
        if timestamp >= self._ahead_ts:
            return self._take(event, timestamp)
        self.rebuilds += 1
        self._every = self.waypoint_every  # arrivals out of order: rebuilds start at waypoints
        return self._rebuild(timestamp, committed, pending)

    def _take(self, event: Any, timestamp: int) -> list[Match]:
        """Feed the ahead matcher the next event in (timestamp, arrival) order."""
        ahead, last = self._ahead, self._ahead_ts
        assert ahead is not None
        if self._since_waypoint >= self._every and last is not None and timestamp > last:
            self._waypoints.append((timestamp, ahead.copy()))
            if not self._ahead_tainted:  # then every earlier waypoint is clean too
                self._clean = len(self._waypoints)
            self._since_waypoint = 0
        self._since_waypoint += 1
        self._ahead_ts = timestamp
        try:
            found = ahead.process(event, timestamp)
        except StateLimitError as exc:  # on_overflow="fail": hand over what it completed, once
            exc.matches = self._new(exc.matches, timestamp)
            raise
        return self._new(found, timestamp)

    def _rebuild(self, arrived_at: int, committed: Matcher, pending: Mapping[int, list]) -> list[Match]:
        """Rebuild the ahead matcher from the latest waypoint an event at `arrived_at` leaves intact (or
        from the committed matcher) and the pending events after it."""
        kept = [waypoint for waypoint in self._waypoints if waypoint[0] <= arrived_at]
        self._waypoints = kept
        self._clean = min(self._clean, len(kept))
        start, base = kept[-1] if kept else (None, committed)
        if not kept:  # from the committed matcher: it times out again what was owed
            self._owed = []
        self._ahead_tainted = len(kept) > self._clean  # a tainted waypoint taints what is built on it
        self._ahead, self._ahead_ts, self._since_waypoint = base.copy(), start, 0
        found: list[Match] = []
        try:
            for timestamp in sorted(pending):
                if start is None or timestamp >= start:
                    for event in pending[timestamp]:
                        found.extend(self._take(event, timestamp))
        except StateLimitError as exc:  # the ahead matcher missed the rest: the next arrival rebuilds
            exc.matches = found + exc.matches
            self.drop_ahead()
            raise
        return found

    def on_evicted(self, timestamp: int) -> None:
        """The owner removed a pending event at `timestamp` that the ahead matcher has taken (a buffer
        cap evicting the oldest event; not for an arriving event refused before `on_arrival`).

        Nothing is rebuilt: the ahead matcher and the waypoints after `timestamp` keep the event's
        effects and stay in use for early results, but are no longer handed to the event-time pass
        (`committed_through`), which replays the kept events from the committed matcher instead.
        O(1) amortized: tainted waypoints come after the clean ones."""
        if self._ahead is None:
            return
        self._ahead_tainted = True
        while self._clean and self._waypoints[self._clean - 1][0] > timestamp:
            self._clean -= 1

    def committed_through(
        self, watermark: int, committed: Matcher, pending: Mapping[int, list]
    ) -> tuple[Matcher, Optional[int], list]:
        """Where the event-time pass up to `watermark` can start: ``(matcher, start, timeouts)``, the
        matcher being `committed` fed every pending event before `start` (the pass skips those and
        replays the rest; `start` is None when nothing can be skipped), and `timeouts` the timeouts
        of the skipped part that the matcher no longer holds (report them with the pass's own).

        The returned matcher becomes the owner's committed matcher; what it stood in for must not be
        used again. Matches of the skipped events were all reported on their arrival.

        Timeouts: a matcher only hands over its timed-out partial matches at `advance_time`, which
        the ahead matcher never gets, so it would hold every timeout of its life (and copy them into
        each waypoint). Each pass therefore takes them from it: those up to `watermark` the pass
        reports itself, the later ones are owed until a pass skips past them. Waypoints taken before
        that are dropped (they still hold what was taken).
        """
        ahead, last = self._ahead, self._ahead_ts
        tainted = self._ahead_tainted
        owed: list = []
        if ahead is not None and last is not None and last <= watermark and not tainted:
            # every pending event is due and the ahead matcher took them all: it is the pass's result
            owed, self._owed = self._owed, []
            self.drop_ahead()
            return ahead, last + 1, owed
        usable = [i for i, (start, _) in enumerate(self._waypoints[: self._clean]) if start <= watermark + 1]
        if usable:
            self._every = self.waypoint_every
        elif self._waypoints:  # each copy was wasted: take fewer until a pass finds one it can use
            self._every = min(2 * self._every, max(WAYPOINT_EVERY_MAX, self.waypoint_every))
        if usable:
            start, matcher = self._waypoints[usable[-1]]
            owed, self._owed = self._owed, []
        else:  # the pass replays from the committed matcher: it times out what was owed up to here
            start, matcher = None, committed
            self._owed = [timeout for timeout in self._owed if timeout[1] > watermark]
        if ahead is not None and last is not None:
            if tainted and last <= watermark:  # the pass replaces it; the next arrival starts anew
                self.drop_ahead()
                return matcher, start, owed
            _, taken = ahead.advance_time(last)  # expires nothing new: it has processed `last`
            if not tainted:  # a tainted lineage is never handed to a pass: its timeouts are not owed
                self._owed.extend(timeout for timeout in taken if timeout[1] > watermark)
        self._waypoints = []
        self._clean = 0
        return matcher, start, owed

    def _new(self, matches: list[Match], timestamp: int) -> list[Match]:
        if not matches:
            return matches
        fresh = []
        for match in matches:
            key = match_key(match, self.event_id)
            if key not in self.emitted:
                self.emitted[key] = timestamp
                fresh.append(match)
        return fresh

    def on_final(self, matches: list[Match]) -> list[Match]:
        """The event-time pass's `matches` minus those reported early (each dropped once)."""
        if not matches or not self.emitted:
            return matches
        kept = []
        for match in matches:
            if self.emitted.pop(match_key(match, self.event_id), None) is None:
                kept.append(match)
        return kept

    def forget_through(self, watermark: int) -> bool:
        """Forget matches whose last event is at or below `watermark`; True when any was forgotten."""
        stale = [key for key, last in self.emitted.items() if last <= watermark]
        for key in stale:
            del self.emitted[key]
        return bool(stale)

    def drop_ahead(self) -> None:
        """Forget the ahead matcher and its waypoints (e.g. after a restore, or when the owner dropped a
        pending event): the next arrival rebuilds it from the committed matcher."""
        self._ahead = self._ahead_ts = None
        self._waypoints = []
        self._clean = 0
        self._ahead_tainted = False
        self._owed = []


class EarlyMatcher:
    """A `Matcher` in early-results mode: `process` returns matches as soon as their events have
    arrived (any order above the watermark), `advance_time` (the watermark) returns only those not
    returned early, and the timeouts.

    Bounded state (see docs/bounded-state.md): `max_partial_matches` and `on_overflow` go to the
    matchers (the committed one and the one kept ahead); `max_buffered_events` caps the events
    waiting above the watermark, as `cep.flink`'s operator does: over it, ``drop_oldest`` evicts the
    pending event with the earliest timestamp (first arrived among equal ones; that may be the
    arriving one), ``drop_newest`` refuses the arriving event, ``fail`` raises `StateLimitError` and
    keeps nothing of it. Evictions are counted (`evicted_buffered_events`, `evicted_partial_matches`).
    Under eviction no match is reported twice and every match reported is a match of the whole
    stream; a path that needed an evicted event or partial match may be missed, and is missed only
    when one of the two counters is above zero.

    Example
    -------
    >>> from cep import Pattern, conditions as C
    >>> p = Pattern.begin("a").where(C.field("k") == "a").followed_by_any("b").where(C.field("k") == "b")
    >>> m = EarlyMatcher(p)
    >>> m.process({"id": 2, "k": "b"}, 20)  # arrives first, event time later
    []
    >>> [sorted(x) for x in m.process({"id": 1, "k": "a"}, 10)]  # completes the match: reported now
    [['a', 'b']]
    >>> m.advance_time(30)  # the event-time pass finds it again and reports nothing new
    ([], [])
    """

    def __init__(
        self,
        pattern: Pattern,
        *,
        event_id: EventId = _default_event_id,
        waypoint_every: int = WAYPOINT_EVERY,
        max_buffered_events: Optional[int] = None,
        **options: Any,
    ) -> None:
        check_early_results(pattern)
        if max_buffered_events is not None and max_buffered_events < 1:
            raise ValueError(f"max_buffered_events must be >= 1 or None, got {max_buffered_events}")
        on_overflow = options.get("on_overflow", "drop_oldest")
        if on_overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"on_overflow must be one of {OVERFLOW_POLICIES}, got {on_overflow!r}")
        self._pattern = pattern
        self._options = options
        self.max_buffered_events = max_buffered_events
        self.on_overflow = on_overflow
        #: pending events dropped by the `max_buffered_events` cap, over the key's life (snapshotted)
        self.evicted_buffered_events = 0
        self.committed = Matcher(pattern, **options)
        self.pending: dict[int, list] = {}
        self._pending_count = 0
        self._pending_heap: list[int] = []  # the pending timestamps (and stale ones), for drop_oldest
        self.early = EarlyResults(event_id, waypoint_every=waypoint_every)
        self.watermark: Optional[int] = None
        prefilter = self.committed.prefilter
        self._keep = prefilter.compile() if prefilter is not None else None

    @property
    def evicted_partial_matches(self) -> int:
        """Partial matches the cap dropped from the event-time (committed) matcher's line of states
        (the matcher kept ahead repeats them before its states are handed to the pass)."""
        return self.committed.evicted_partial_matches

    def partial_match_count(self) -> int:
        """The committed matcher's live partial matches (the one kept ahead holds at most the cap)."""
        return self.committed.partial_match_count()

    def process(self, event: Any, timestamp: int) -> list[Match]:
        """Add an event above the watermark; returns the matches found early because of it."""
        if self.watermark is not None and timestamp <= self.watermark:
            raise ValueError(
                f"event at {timestamp} is at or below the watermark {self.watermark}: late events "
                "cannot be matched in event time (send them elsewhere)"
            )
        if self._keep is not None and not self._keep(event, None):
            return []
        cap = self.max_buffered_events
        if cap is not None and self._pending_count >= cap and not self._make_room(timestamp, cap):
            return []  # the arriving event was the one dropped
        events = self.pending.get(timestamp)
        if events is None:
            events = self.pending[timestamp] = []
            heapq.heappush(self._pending_heap, timestamp)
        events.append(event)
        self._pending_count += 1
        return self.early.on_arrival(event, timestamp, self.committed, self.pending)

    def _make_room(self, arriving_at: int, cap: int) -> bool:
        """Apply `on_overflow` to a full buffer; False when the arriving event is the one dropped."""
        if self.on_overflow == "fail":
            raise StateLimitError(
                f"{self._pending_count + 1} pending events exceed max_buffered_events={cap} (the "
                "watermark lags behind): raise the cap, advance the watermark, or choose "
                "on_overflow='drop_oldest'/'drop_newest'; the event was not added",
                limit=cap,
                count=self._pending_count + 1,
            )
        self.evicted_buffered_events += 1
        if self.on_overflow == "drop_newest":
            return False
        heap = self._pending_heap
        while heap[0] not in self.pending:  # timestamps the pass has emptied
            heapq.heappop(heap)
        oldest = heap[0]
        if arriving_at < oldest:  # the arriving event is the oldest one
            return False
        events = self.pending[oldest]
        events.pop(0)
        self._pending_count -= 1
        if not events:
            del self.pending[oldest]
            heapq.heappop(heap)
        self.early.on_evicted(oldest)
        return True

    def advance_time(self, watermark: int) -> tuple[list[Match], list]:
        """Run the event-time pass up to `watermark`: (matches not reported early, timeouts)."""
        matches: list[Match] = []
        timeouts: list = []
        committed, start, owed = self.early.committed_through(watermark, self.committed, self.pending)
        self.committed = committed
        timeouts.extend(owed)
        try:
            for timestamp in sorted(ts for ts in self.pending if ts <= watermark):
                events = self.pending.pop(timestamp)
                self._pending_count -= len(events)
                if start is not None and timestamp < start:  # the committed matcher has taken them
                    continue
                done, expired = committed.advance_time(timestamp)
                matches.extend(done)
                timeouts.extend(expired)
                for event in events:
                    matches.extend(committed.process(event, timestamp))
        except StateLimitError as exc:  # on_overflow="fail": restore from a snapshot to go on
            exc.matches = self.early.on_final(matches + exc.matches)
            raise
        done, expired = committed.advance_time(watermark)
        matches.extend(done)
        timeouts.extend(expired)
        self.watermark = watermark if self.watermark is None else max(self.watermark, watermark)
        final = self.early.on_final(matches)
        self.early.forget_through(watermark)
        return final, timeouts

    def snapshot(self) -> bytes:
        """The committed matcher's snapshot, the pending events and the matches reported early."""
        committed = self.committed.snapshot()
        payload = (
            _SNAPSHOT_VERSION,
            committed,
            self.pending,
            self.early.emitted,
            self.watermark,
            self.evicted_buffered_events,
        )
        return pickle.dumps(payload, protocol=4)

    @classmethod
    def restore(
        cls,
        pattern: Pattern,
        blob: bytes,
        *,
        event_id: EventId = _default_event_id,
        waypoint_every: int = WAYPOINT_EVERY,
        max_buffered_events: Optional[int] = None,
        **options: Any,
    ) -> EarlyMatcher:
        """An early matcher that continues where the snapshotted one was (caps are options: pass
        them again)."""
        try:
            payload = pickle.loads(blob)
            version = payload[0]
            evicted = 0
            if version == 1:
                _v, committed, pending, emitted, watermark = payload
            else:
                _v, committed, pending, emitted, watermark, evicted = payload
        except Exception as exc:
            raise BufferStateError(f"not an early-matcher snapshot: {exc}") from exc
        if version not in (1, _SNAPSHOT_VERSION):
            raise BufferStateError(f"early-matcher snapshot version {version} is not supported")
        matcher = cls(
            pattern,
            event_id=event_id,
            waypoint_every=waypoint_every,
            max_buffered_events=max_buffered_events,
            **options,
        )
        matcher.committed = Matcher.restore(pattern, committed, **options)
        matcher.pending = pending
        matcher._pending_count = sum(len(events) for events in pending.values())
        matcher._pending_heap = sorted(pending)
        matcher.evicted_buffered_events = evicted
        matcher.early = EarlyResults(event_id, emitted, waypoint_every)
        matcher.watermark = watermark
        return matcher
