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
the pending events, advanced incrementally while events arrive in timestamp order and rebuilt from
a copy of the committed matcher when one arrives out of order. Each match it finds that was not
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

import pickle
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from cep.errors import BufferStateError, MalformedPatternError
from cep.matcher import Matcher
from cep.pattern import Pattern
from cep.quantifier import Contiguity, Property

__all__ = ["EarlyMatcher", "EarlyResults", "check_early_results", "match_key"]

Match = dict
MatchKey = tuple
EventId = Callable[[Any], Any]
_SNAPSHOT_VERSION = 1


def check_early_results(pattern: Pattern) -> None:
    """Raise `MalformedPatternError` naming the part of `pattern` that makes early results unsound."""
    stages = list(reversed(list(pattern.stages())))
    skip = pattern.skip_strategy
    if skip.kind != "no_skip":
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
    return tuple((name, tuple(event_id(e) for e in events)) for name, events in match.items())


class EarlyResults:
    """The early-results bookkeeping of one key, next to its committed matcher and pending events.

    The owner keeps the committed matcher (fed in timestamp order up to the watermark) and the
    pending events (timestamp -> events in arrival order, all above the watermark); it calls
    `on_arrival` after adding an event to the pending ones, `on_final` with the matches of the
    event-time pass and `forget_through` after the pass. `emitted` (match key -> last timestamp) is
    the state to checkpoint; the ahead matcher is rebuilt when needed.
    """

    def __init__(self, event_id: EventId = _default_event_id, emitted: Optional[dict] = None) -> None:
        self.event_id = event_id
        self.emitted: dict[MatchKey, int] = dict(emitted or {})
        self._ahead: Optional[Matcher] = None
        self._ahead_ts: Optional[int] = None  # timestamp of the last event the ahead matcher took
        self.rebuilds = 0  # how often an event arrived out of order (for metrics and tests)

    def on_arrival(
        self, event: Any, timestamp: int, committed: Matcher, pending: Mapping[int, list]
    ) -> list[Match]:
        """The matches not reported before among committed + pending, `event` being the newest arrival
        (already the last of ``pending[timestamp]``)."""
        ahead = self._ahead
        if ahead is not None and self._ahead_ts is not None and timestamp >= self._ahead_ts:
            self._ahead_ts = timestamp
            return self._new(ahead.process(event, timestamp), timestamp)
        return self._rebuild(committed, pending)

    def _rebuild(self, committed: Matcher, pending: Mapping[int, list]) -> list[Match]:
        self.rebuilds += 1
        ahead = committed.copy()
        found: list[Match] = []
        last = None
        for timestamp in sorted(pending):
            for event in pending[timestamp]:
                found.extend(self._new(ahead.process(event, timestamp), timestamp))
            last = timestamp
        self._ahead, self._ahead_ts = ahead, last
        return found

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
        """Forget the ahead matcher (e.g. after a restore): the next arrival rebuilds it."""
        self._ahead = self._ahead_ts = None


class EarlyMatcher:
    """A `Matcher` in early-results mode: `process` returns matches as soon as their events have
    arrived (any order above the watermark), `advance_time` (the watermark) returns only those not
    returned early, and the timeouts.

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

    def __init__(self, pattern: Pattern, *, event_id: EventId = _default_event_id, **options: Any) -> None:
        check_early_results(pattern)
        self._pattern = pattern
        self._options = options
        self.committed = Matcher(pattern, **options)
        self.pending: dict[int, list] = {}
        self.early = EarlyResults(event_id)
        self.watermark: Optional[int] = None
        prefilter = self.committed.prefilter
        self._keep = prefilter.compile() if prefilter is not None else None

    def process(self, event: Any, timestamp: int) -> list[Match]:
        """Add an event above the watermark; returns the matches found early because of it."""
        if self.watermark is not None and timestamp <= self.watermark:
            raise ValueError(
                f"event at {timestamp} is at or below the watermark {self.watermark}: late events "
                "cannot be matched in event time (send them elsewhere)"
            )
        if self._keep is not None and not self._keep(event, None):
            return []
        self.pending.setdefault(timestamp, []).append(event)
        return self.early.on_arrival(event, timestamp, self.committed, self.pending)

    def advance_time(self, watermark: int) -> tuple[list[Match], list]:
        """Run the event-time pass up to `watermark`: (matches not reported early, timeouts)."""
        matches: list[Match] = []
        timeouts: list = []
        committed = self.committed
        for timestamp in sorted(ts for ts in self.pending if ts <= watermark):
            done, expired = committed.advance_time(timestamp)
            matches.extend(done)
            timeouts.extend(expired)
            for event in self.pending.pop(timestamp):
                matches.extend(committed.process(event, timestamp))
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
        payload = (_SNAPSHOT_VERSION, committed, self.pending, self.early.emitted, self.watermark)
        return pickle.dumps(payload, protocol=4)

    @classmethod
    def restore(
        cls, pattern: Pattern, blob: bytes, *, event_id: EventId = _default_event_id, **options: Any
    ) -> EarlyMatcher:
        try:
            version, committed, pending, emitted, watermark = pickle.loads(blob)
        except Exception as exc:
            raise BufferStateError(f"not an early-matcher snapshot: {exc}") from exc
        if version != _SNAPSHOT_VERSION:
            raise BufferStateError(f"early-matcher snapshot version {version} is not supported")
        matcher = cls(pattern, event_id=event_id, **options)
        matcher.committed = Matcher.restore(pattern, committed, **options)
        matcher.pending = pending
        matcher.early = EarlyResults(event_id, emitted)
        matcher.watermark = watermark
        return matcher
