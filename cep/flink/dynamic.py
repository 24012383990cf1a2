"""Dynamic patterns: every active pattern runs for every key, and patterns change while the job runs.

``dynamic_patterns(keyed_stream, updates, fn)`` connects a keyed event stream with a stream of pattern
updates (JSON text, see `parse_update`). Updates travel as Flink broadcast state, so every parallel
instance sees them in the same order, and they are checkpointed and restored with the job.

Semantics
---------
* ``add`` / ``replace`` / ``remove`` name a pattern by id; ``set`` replaces the whole rule set at once
  (patterns whose document is unchanged keep running untouched). Each change of a pattern gives it a
  new revision, never one it had before (see `cep.flink.rules`).
* A new or replaced revision starts empty: the partial matches of the previous revision are dropped
  (lazily, the next time each key is touched), and the new one is fed every event the operator hands
  to the matcher after the update arrived. In event time that includes events already buffered and
  waiting for the watermark, if the pre-filter in force when they arrived let them in.
* An update that cannot be applied (not JSON, an unknown op, a document `cep.serde` rejects, a pattern
  the compiler rejects, or one the upstream filter would starve) goes whole to the error side output,
  as JSON ``{"error", "update"}`` with the raw update, and is logged and counted; the patterns before it
  keep running.
* Matches carry the pattern id (`DynamicMatchContext.pattern_id`, and ``match.pattern_id``); their ids
  are prefixed with it, so two patterns matching the same events give two distinct ids.

Event time is `cep.flink.operator.CepFunction`'s, unchanged: this module composes it with a matcher
that holds one `cep.Matcher` per active pattern (`MultiMatcher`), and a pre-filter that follows the rule
set. Only event time is offered (a processing-time run would need per-pattern timeout timers).

Per-key caps (`max_partial_matches`, `max_buffered_events`, `on_overflow`) are `CepFunction`'s, with
its metrics; the partial-match cap holds per key and pattern (see `cep.flink.multi_matcher`).

Modules: this one is the Flink function (broadcast side: rule updates into broadcast state; keyed
side: handed to `CepFunction`); `cep.flink.rules` the rule set and its updates; `cep.flink.multi_matcher`
one key's matchers.

Pre-filters
-----------
Inside Python, an event is buffered only if the OR of the active patterns' pre-filters
(`cep.analysis.prefilter`) admits it, or always when one of them has none. A filter applied upstream
(e.g. a SQL ``WHERE`` in the JVM) is fixed when the job is built; pass it as `upstream_filter` and an
update whose pattern could need an event the filter drops (its pre-filter is not provably narrower,
see `cep.implication.implies`) is refused instead of silently missing matches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional

from pyflink.common import Types
from pyflink.common.typeinfo import TypeInformation
from pyflink.datastream import DataStream, KeyedStream, OutputTag
from pyflink.datastream.functions import KeyedBroadcastProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor

from cep.conditions import Condition
from cep.flink.match_ids import EventIdFn, default_event_id
from cep.flink.multi_matcher import MultiMatcher, MultiMatcherType, PatternMatch
from cep.flink.operator import CepFunction, MatchContext
from cep.flink.rules import EPOCH_KEY, ActivePattern, RuleSet, UpdateError, parse_update

__all__ = [
    "PATTERNS_STATE",
    "DynamicCepFunction",
    "DynamicMatchContext",
    "MultiMatcher",
    "PatternMatch",
    "RuleSet",
    "dynamic_patterns",
    "parse_update",
]

log = logging.getLogger(__name__)

#: The broadcast state: pattern id -> JSON ``{"revision", "pattern"}``; `EPOCH_KEY` marks it written.
PATTERNS_STATE = MapStateDescriptor("cep-dynamic-patterns", Types.STRING(), Types.STRING())
#: The default side output of refused updates (JSON text with the raw update and the reason).
UPDATE_ERRORS = OutputTag("pattern-update-errors", Types.STRING())


class DynamicMatchContext:
    """What a dynamic match function sees besides the match: pattern id, key, match id, timestamp."""

    __slots__ = ("pattern_id", "meta", "_inner")

    def __init__(self, pattern_id: str, inner: MatchContext, meta: Any = None) -> None:
        self.pattern_id = pattern_id
        self.meta = meta
        self._inner = inner

    @property
    def key(self) -> Any:
        return self._inner.key

    @property
    def timestamp(self) -> int:
        return self._inner.timestamp

    @property
    def match_id(self) -> str:
        """``"<pattern id>:<key>:<digest>"``: stable across replays, distinct per pattern."""
        return f"{self.pattern_id}:{self._inner.match_id}"

    def __repr__(self) -> str:
        return f"DynamicMatchContext(pattern_id={self.pattern_id!r}, key={self.key!r})"


DynamicMatchFn = Callable[[PatternMatch, DynamicMatchContext], Iterable[Any]]


class _TagMatches:
    """Hands `CepFunction`'s matches to the user's function with the pattern id in the context."""

    def __init__(self, fn: DynamicMatchFn, rules: RuleSet) -> None:
        self.fn = fn
        self.rules = rules

    def open(self, runtime_context: RuntimeContext) -> None:
        if callable(getattr(self.fn, "open", None)):
            self.fn.open(runtime_context)

    def close(self) -> None:
        if callable(getattr(self.fn, "close", None)):
            self.fn.close()

    def __call__(self, match: PatternMatch, ctx: MatchContext) -> Iterable[Any]:
        active = self.rules.active.get(match.pattern_id)
        meta = active.meta if active is not None else None
        return self.fn(match, DynamicMatchContext(match.pattern_id, ctx, meta))


class DynamicCepFunction(KeyedBroadcastProcessFunction):
    """Runs every active pattern for every key; updates arrive on the broadcast side.

    Parameters
    ----------
    match_fn:
        ``fn(match, ctx) -> iterable of outputs``; ``ctx.pattern_id`` names the pattern.
    initial:
        Pattern id -> document, active from the first start (ignored after a restore: the
        checkpointed rule set wins); `initial_meta`: pattern id -> its meta.
    upstream_filter:
        The condition events were already filtered by upstream, if any (see the module notes).
    error_tag:
        Side output of refused updates (JSON text ``{"error", "update"}``).
    late_tag, timeout_tag, timeout_fn, event_id:
        As for `CepFunction`; timed-out partial matches are `PatternMatch` objects.
    max_partial_matches, max_buffered_events, on_overflow:
        Per-key caps, as for `CepFunction` (the same metrics); `max_partial_matches` holds for each
        pattern of the key. None: unbounded.
    make_inner:
        Builds the event-time function, ``make_inner(rules, match_fn, **options)``: `CepFunction`
        or a subclass that does more per event before handing it on (the bushfire job checks rows).
    """

    def __init__(
        self,
        match_fn: DynamicMatchFn,
        *,
        initial: Optional[Mapping[str, dict]] = None,
        initial_meta: Optional[Mapping[str, Any]] = None,
        upstream_filter: Optional[Condition] = None,
        error_tag: OutputTag = UPDATE_ERRORS,
        late_tag: Optional[OutputTag] = None,
        timeout_tag: Optional[OutputTag] = None,
        timeout_fn: Optional[Callable[[dict, int], Any]] = None,
        event_id: EventIdFn = default_event_id,
        max_partial_matches: Optional[int] = None,
        max_buffered_events: Optional[int] = None,
        on_overflow: str = "drop_oldest",
        make_inner: Callable[..., CepFunction] = CepFunction,
    ) -> None:
        # refuse bad caps when the job is built (the patterns' matchers are built later, per key)
        MultiMatcher(RuleSet(), max_partial_matches=max_partial_matches, on_overflow=on_overflow)
        self._rules = RuleSet(upstream_filter)
        self._initial = {"op": "set", "patterns": dict(initial or {}), "meta": dict(initial_meta or {})}
        if initial:  # refuse a bad initial rule set when the job is built, not at run time
            RuleSet(upstream_filter).apply(self._initial)
        self._error_tag = error_tag
        self._loaded = False
        self._inner = make_inner(
            self._rules,
            _TagMatches(match_fn, self._rules),
            late_tag=late_tag,
            timeout_tag=timeout_tag,
            timeout_fn=timeout_fn,
            event_id=event_id,
            matcher_type=MultiMatcherType,
            max_partial_matches=max_partial_matches,
            max_buffered_events=max_buffered_events,
            on_overflow=on_overflow,
        )

    def open(self, runtime_context: RuntimeContext) -> None:
        self._inner.open(runtime_context)
        metrics = runtime_context.get_metrics_group().add_group("cep")
        self._updates_applied = metrics.counter("patternUpdatesApplied")
        self._updates_refused = metrics.counter("patternUpdatesRefused")
        metrics.gauge("activePatterns", lambda: len(self._rules.active))

    def close(self) -> None:
        self._inner.close()

    def process_element(self, value: Any, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext):
        if not self._loaded:
            self._load(ctx)
        return self._inner.process_element(value, ctx)

    def on_timer(self, timestamp: int, ctx: KeyedBroadcastProcessFunction.OnTimerContext):
        if not self._loaded:
            self._load(ctx)
        return self._inner.on_timer(timestamp, ctx)

    def process_broadcast_element(self, value: Any, ctx: KeyedBroadcastProcessFunction.Context):
        if not self._loaded:
            self._load(ctx)
        try:
            changes = self._rules.apply(parse_update(value))
        except UpdateError as exc:
            self._updates_refused.inc()
            log.warning(
                "refused pattern update (%s); the active patterns %s keep running",
                exc,
                sorted(self._rules.active),
            )
            raw = value if isinstance(value, str) else repr(value)
            yield self._error_tag, json.dumps({"error": str(exc), "update": raw})
            return
        self._updates_applied.inc()
        self._store(ctx, changes)
        log.info(
            "applied pattern update %s; active patterns now %s", sorted(changes), sorted(self._rules.active)
        )

    def _load(self, ctx: Any) -> None:
        """Take the rule set from broadcast state (a restore), or the initial one on a first start."""
        stored = ctx.get_broadcast_state(PATTERNS_STATE)
        entries = list(stored.items())
        if any(pid == EPOCH_KEY for pid, _ in entries):
            self._rules.load(entries)
        elif self._initial["patterns"]:
            self._rules.apply(self._initial)
        self._loaded = True

    def _store(self, ctx: Any, changes: Mapping[str, Optional[ActivePattern]]) -> None:
        state = ctx.get_broadcast_state(PATTERNS_STATE)
        if not state.contains(EPOCH_KEY):  # first write: the initial patterns become state too
            for pid, active in self._rules.active.items():
                if pid not in changes:
                    state.put(pid, _entry(active))
        for pattern_id, active in changes.items():
            if active is None:
                state.remove(pattern_id)
            else:
                state.put(pattern_id, _entry(active))
        state.put(EPOCH_KEY, str(self._rules.epoch))


def _entry(active: ActivePattern) -> str:
    return json.dumps({"revision": active.revision, "pattern": active.document, "meta": active.meta})


def dynamic_patterns(
    keyed_stream: KeyedStream,
    updates: DataStream,
    match_fn: DynamicMatchFn,
    output_type: Optional[TypeInformation] = None,
    **options: Any,
) -> DataStream:
    """Run every pattern of the update stream over every key of `keyed_stream` (event time).

    `updates` carries JSON text (see `parse_update`); `options` are `DynamicCepFunction`'s. Refused
    updates come out of ``result.get_side_output(error_tag)`` (default `UPDATE_ERRORS`).
    """
    if not isinstance(keyed_stream, KeyedStream):
        raise TypeError(
            f"dynamic_patterns needs a KeyedStream, got {type(keyed_stream).__name__}: "
            "call .key_by(...) first"
        )
    broadcast = updates.broadcast(PATTERNS_STATE)
    function = DynamicCepFunction(match_fn, **options)
    return keyed_stream.connect(broadcast).process(function, output_type)
