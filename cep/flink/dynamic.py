"""Dynamic patterns: every active pattern runs for every key, and patterns change while the job runs.

``dynamic_patterns(keyed_stream, updates, fn)`` connects a keyed event stream with a stream of pattern
updates (JSON text, see `parse_update`). Updates travel as Flink broadcast state, so every parallel
instance sees them in the same order, and they are checkpointed and restored with the job.

Semantics
---------
* ``add`` / ``replace`` / ``remove`` name a pattern by id; ``set`` replaces the whole rule set at once
  (patterns whose document is unchanged keep running untouched). Each change of a pattern bumps its
  revision.
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
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional

from pyflink.common import Types
from pyflink.common.typeinfo import TypeInformation
from pyflink.datastream import DataStream, KeyedStream, OutputTag
from pyflink.datastream.functions import KeyedBroadcastProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor

from cep.analysis import prefilter as derive_prefilter
from cep.conditions import Condition
from cep.errors import CepError
from cep.flink.match_ids import EventIdFn, default_event_id
from cep.flink.operator import CepFunction, MatchContext
from cep.implication import implies
from cep.matcher import Matcher
from cep.pattern import Pattern
from cep.serde import pattern_from_dict

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
EPOCH_KEY = "$epoch"
#: The default side output of refused updates (JSON text with the raw update and the reason).
UPDATE_ERRORS = OutputTag("pattern-update-errors", Types.STRING())

OPS = ("add", "replace", "remove", "set")


class PatternMatch(dict):
    """A match (stage name -> events) that knows which pattern found it."""

    def __init__(self, pattern_id: str, match: Mapping[str, list]) -> None:
        super().__init__(match)
        self.pattern_id = pattern_id

    def __reduce__(self) -> tuple:
        return (PatternMatch, (self.pattern_id, dict(self)))


@dataclass(frozen=True)
class ActivePattern:
    """One running pattern: its id, revision, document and the pattern built from it."""

    pattern_id: str
    revision: int
    document: dict
    pattern: Pattern
    meta: Any = None  # what the update said about the pattern besides its document (e.g. a severity)


class UpdateError(CepError):
    """A pattern update that cannot be applied; the message says why."""


class RuleSet:
    """The active patterns of one function instance, and the pre-filter they imply together."""

    def __init__(self, upstream_filter: Optional[Condition] = None) -> None:
        self.upstream_filter = upstream_filter
        self.active: dict[str, ActivePattern] = {}
        self.epoch = 0  # bumped at every change, so matchers know when to look again
        self._admits: Optional[Callable[..., bool]] = _nothing

    # -- reading ------------------------------------------------------------------------------------

    def admits(self, event: Any, ctx: Any = None) -> bool:
        """Whether some active pattern could use `event` (its pre-filter, ORed over patterns)."""
        return self._admits is None or self._admits(event, ctx)

    def compile(self) -> Callable[..., bool]:
        """The pre-filter protocol `CepFunction` expects: a function that follows later changes."""
        return self.admits

    # -- changing -----------------------------------------------------------------------------------

    def check(self, pattern_id: str, document: Any) -> Pattern:
        """Build and compile a pattern document; `UpdateError` when it cannot run here."""
        if not isinstance(pattern_id, str) or not pattern_id or pattern_id == EPOCH_KEY:
            raise UpdateError(f"a pattern id must be a non-empty string, got {pattern_id!r}")
        try:
            pattern = pattern_from_dict(document)
            matcher = Matcher(pattern)
        except CepError as exc:
            raise UpdateError(f"pattern {pattern_id!r}: {exc}") from exc
        if self.upstream_filter is not None:
            own = matcher.prefilter
            if own is None or not implies(own, self.upstream_filter):
                raise UpdateError(
                    f"pattern {pattern_id!r} could need events the upstream filter "
                    f"{self.upstream_filter.to_sql()} drops (its own pre-filter: "
                    f"{own.to_sql() if own is not None else 'none, it needs every event'}); "
                    "restart the job with a wider upstream filter to run it"
                )
        return pattern

    def apply(self, update: dict) -> dict[str, Optional[ActivePattern]]:
        """Apply a parsed update; returns what changed (id -> new pattern, or None if removed).

        Everything is checked before anything changes: an update is applied whole or not at all.
        """
        op = update["op"]
        changes: dict[str, Optional[ActivePattern]] = {}
        if op == "remove":
            pattern_id = update["id"]
            if pattern_id not in self.active:
                raise UpdateError(f"remove: no active pattern {pattern_id!r} (active: {sorted(self.active)})")
            changes[pattern_id] = None
        elif op in ("add", "replace"):
            pattern_id = update["id"]
            exists = pattern_id in self.active
            if op == "add" and exists:
                raise UpdateError(f"add: pattern {pattern_id!r} is already active; use replace")
            if op == "replace" and not exists:
                raise UpdateError(f"replace: no active pattern {pattern_id!r}; use add")
            pattern = self.check(pattern_id, update["pattern"])
            changes[pattern_id] = self._next(pattern_id, update["pattern"], pattern, update.get("meta"))
        else:  # set
            wanted = update["patterns"]
            metas = update.get("meta") or {}
            built = {pid: self.check(pid, doc) for pid, doc in wanted.items()}
            for pid in self.active:
                if pid not in wanted:
                    changes[pid] = None
            for pid, doc in wanted.items():
                current = self.active.get(pid)
                meta = metas.get(pid)
                if current is None or current.document != doc or current.meta != meta:
                    changes[pid] = self._next(pid, doc, built[pid], meta)
        self._commit(changes)
        return changes

    def load(self, stored: Iterable[tuple[str, str]]) -> None:
        """Restore the rule set from broadcast state entries (id -> JSON ``{"revision", "pattern"}``)."""
        changes: dict[str, Optional[ActivePattern]] = {}
        for pattern_id, text in stored:
            if pattern_id == EPOCH_KEY:
                continue
            entry = json.loads(text)
            pattern = pattern_from_dict(entry["pattern"])
            changes[pattern_id] = ActivePattern(
                pattern_id, entry["revision"], entry["pattern"], pattern, entry.get("meta")
            )
        self._commit(changes)

    def _next(self, pattern_id: str, document: dict, pattern: Pattern, meta: Any = None) -> ActivePattern:
        current = self.active.get(pattern_id)
        revision = 1 if current is None else current.revision + 1
        return ActivePattern(pattern_id, revision, document, pattern, meta)

    def _commit(self, changes: Mapping[str, Optional[ActivePattern]]) -> None:
        for pattern_id, active in changes.items():
            if active is None:
                self.active.pop(pattern_id, None)
            else:
                self.active[pattern_id] = active
        self.epoch += 1
        self._admits = self._combined_prefilter()

    def _combined_prefilter(self) -> Optional[Callable[..., bool]]:
        if not self.active:
            return _nothing
        parts = []
        for active in self.active.values():
            part = derive_prefilter(active.pattern)
            if part is None:
                return None
            parts.append(part.compile())
        if len(parts) == 1:
            return parts[0]
        return lambda event, ctx=None: any(part(event, ctx) for part in parts)


def _nothing(event: Any, ctx: Any = None) -> bool:
    return False


def parse_update(raw: Any) -> dict:
    """Read one update: JSON text (or a dict) of one of these shapes.

    ``{"op": "add" | "replace", "id": ID, "pattern": DOC}``, ``{"op": "remove", "id": ID}``,
    ``{"op": "set", "patterns": {ID: DOC, ...}}``, where DOC is a `cep.serde` pattern document.
    An optional ``"meta"`` (for ``set``: ID -> meta) travels with the pattern to the match function
    (`DynamicMatchContext.meta`), e.g. a rule's severity; a changed meta is a new revision.
    """
    if isinstance(raw, (str, bytes, bytearray)):
        try:
            update = json.loads(raw)
        except ValueError as exc:
            raise UpdateError(f"not a JSON document: {exc}") from exc
    else:
        update = raw
    if not isinstance(update, dict):
        raise UpdateError(f"an update is a JSON object, got {type(update).__name__}")
    op = update.get("op")
    if op not in OPS:
        raise UpdateError(f"$.op: one of {list(OPS)}, got {op!r}")
    needed = {"add": ("id", "pattern"), "replace": ("id", "pattern"), "remove": ("id",), "set": ("patterns",)}
    unknown = sorted(set(update) - {"op", "meta", *needed[op]})
    if unknown:
        raise UpdateError(f"$.{unknown[0]}: unknown field for op {op!r}")
    for name in needed[op]:
        if name not in update:
            raise UpdateError(f"$.{name}: required for op {op!r}")
    if op == "set" and not isinstance(update["patterns"], dict):
        raise UpdateError("$.patterns: an object of pattern id -> pattern document")
    if op == "set" and not isinstance(update.get("meta", {}), dict):
        raise UpdateError("$.meta: an object of pattern id -> anything JSON")
    return update


class MultiMatcher:
    """The matcher protocol `CepFunction` drives, over one `cep.Matcher` per active pattern.

    It looks at the `RuleSet` before each step and follows it: a removed pattern's matcher is dropped,
    a replaced one restarts empty, a new one starts empty.
    """

    def __init__(self, rules: RuleSet) -> None:
        self._rules = rules
        self._epoch = -1
        self._matchers: dict[str, tuple[int, Matcher]] = {}

    # -- what CepFunction reads once, at open ---------------------------------------------------------

    @property
    def prefilter(self) -> RuleSet:
        return self._rules

    @property
    def nfa(self) -> Any:
        return _NoWindow

    # -- the matcher protocol -----------------------------------------------------------------------

    def process(self, event: Any, timestamp: int) -> list:
        self._follow_rules()
        out: list = []
        for pattern_id, (_revision, matcher) in self._matchers.items():
            for match in matcher.process(event, timestamp):
                out.append(PatternMatch(pattern_id, match))
        return out

    def advance_time(self, timestamp: int) -> tuple[list, list]:
        self._follow_rules()
        matches: list = []
        timeouts: list = []
        for pattern_id, (_revision, matcher) in self._matchers.items():
            done, expired = matcher.advance_time(timestamp)
            matches.extend(PatternMatch(pattern_id, m) for m in done)
            timeouts.extend((PatternMatch(pattern_id, p), ts) for p, ts in expired)
        return matches, timeouts

    @property
    def next_deadline(self) -> Optional[int]:
        deadlines = [d for _r, m in self._matchers.values() if (d := m.next_deadline) is not None]
        return min(deadlines) if deadlines else None

    def is_empty(self) -> bool:
        return all(m.is_empty() for _r, m in self._matchers.values())

    def partial_match_count(self) -> int:
        """Live partial matches over every active pattern (for `CepFunction`'s gauge)."""
        return sum(m.partial_match_count() for _r, m in self._matchers.values())

    def snapshot(self) -> bytes:
        """Each pattern's matcher snapshot with its revision; empty matchers are left out."""
        state = {pid: (rev, m.snapshot()) for pid, (rev, m) in self._matchers.items() if not m.is_empty()}
        return pickle.dumps(state, protocol=4)

    @classmethod
    def restore(cls, rules: RuleSet, blob: bytes) -> MultiMatcher:
        """Matchers of the patterns still active at the same revision; the others are dropped."""
        multi = cls(rules)
        multi._follow_rules()
        for pattern_id, (revision, snapshot) in pickle.loads(blob).items():
            active = rules.active.get(pattern_id)
            if active is not None and active.revision == revision:
                multi._matchers[pattern_id] = (revision, Matcher.restore(active.pattern, snapshot))
        return multi

    def _follow_rules(self) -> None:
        rules = self._rules
        if self._epoch == rules.epoch:
            return
        current = {}
        for pattern_id, active in rules.active.items():
            kept = self._matchers.get(pattern_id)
            if kept is not None and kept[0] == active.revision:
                current[pattern_id] = kept
            else:
                current[pattern_id] = (active.revision, Matcher(active.pattern))
        self._matchers = current
        self._epoch = rules.epoch


class _NoWindow:
    """`CepFunction` reads ``nfa.window_ms`` for processing-time timers only, which this never uses."""

    window_ms = 0


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
        make_inner: Callable[..., CepFunction] = CepFunction,
    ) -> None:
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
            matcher_type=_MultiMatcherType,
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


class _MultiMatcherType:
    """`CepFunction`'s ``matcher_type``: its "pattern" is the `RuleSet`."""

    def __new__(cls, rules: RuleSet) -> MultiMatcher:  # type: ignore[misc]
        return MultiMatcher(rules)

    @staticmethod
    def restore(rules: RuleSet, blob: bytes) -> MultiMatcher:
        return MultiMatcher.restore(rules, blob)


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
