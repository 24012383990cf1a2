"""Per-key NFA run: the partial matches of one key and the two verbs that move them.

A partial match is a tuple `(node, start_ts, start_seq, rank)` held in the bucket of the NFA state
it waits in (a dict `id(pm) -> pm`, in insertion order, so any partial match is removed in O(1)).
`node` is the newest entry of its event buffer, a linked list of tuples
`(stage_name, event, ts, seq, previous_node)`; branches that share a prefix share those tuples,
so an event taken once is stored once however many branches hold it (the shared buffer of
SASE/Flink, with the branch structure given by the links instead of Dewey numbers).

`process(event, ts)` follows Flink's NFA: for every partial match it builds the decision graph
(PROCEED edges followed while their conditions hold), applies each enabled TAKE and IGNORE,
and keeps the results; complete matches go through the after-match skip strategy.
`advance_time(ts)` drops partial matches older than the window, reporting them as timeouts (or
as matches, for a pattern ending in `not_followed_by`).

Order (docs/engine-order.md): Flink visits its partial matches in the order of their first
event and, among those with the same first event, in the order their ancestors were visited,
each one's successors taking its place in the order they were computed. Every partial match
carries a `rank` (a tuple) that encodes that place, so buckets may be visited in any order:
sorting by `(start_ts, start_seq, rank)` gives Flink's order. Complete matches wait in a
`JavaPriorityQueue`, which gives up matches with the same first event exactly as Flink's
`java.util.PriorityQueue` does.

Shortcuts keep `process` cheap without changing any result (`use_shortcuts=False` turns them
off, which the tests use to check exactly that):
- a state with a *wake condition* is skipped when the event fails it (its partial matches would
  all IGNORE the event and stay as they are);
- a state with an *index* keeps its partial matches in a dict keyed by the value they wait for
  (`field == C.last(stage, field)`), so only the partial matches the event can extend are tried;
- a plain `followed_by` / `followed_by_any` state updates each partial match with one condition
  call, leaving those that stay where they are;
- a condition that answers without reading the partial match (`_Context.used` stays False) is
  asked once per state, not once per partial match (plain lambdas that test the event first).
Partial matches that stay unchanged are never re-inserted, and expiries sit in a queue of
per-start groups (all partial matches of one start expire together, and starts come in time
order), so time passing touches only what expires.
"""

from __future__ import annotations

import bisect
import heapq
import operator
import time
from collections import deque
from typing import Any, Callable, Optional

from cep.analysis import index_spec, wake_condition
from cep.conditions import Const, Negate, get_field
from cep.java_heap import JavaPriorityQueue
from cep.nfa import FINAL, IGNORE, PENDING, PROCEED, STOP, TAKE, Nfa, State

__all__ = ["NfaRun", "lineage_key", "materialize", "node_positions"]

Node = tuple  # (stage_name, event, ts, seq, previous_node)
PartialMatch = tuple  # (node, start_ts, start_seq, rank)
Final = tuple  # (complete partial match, rank of the partial match it came from, successor index)

_NO_EXPIRY = float("inf")


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)

# Ranks. A rank is a tuple of ints ending in 0, compared lexicographically, unique among the
# partial matches of one first event. When a partial match of rank `r` has several successors at
# the event numbered `seq`, the one that stays where it is (an IGNORE back to its own state)
# keeps `r`, so it is never re-inserted; the successors computed before it get
# `r[:-1] + (_before(seq, j), 0)` (just below `r`, above any older such successor), those after
# it (or all of them, when none stays) `r + (_after(seq, j), 0)` (just above `r`, below any
# older such successor). A single successor keeps `r`. So the order of ranks is always Flink's
# visiting order, whatever order the buckets are walked in.
_START_RANK = (0,)
_BIG = 1 << 62  # above any event sequence number
_SPAN = 1 << 20  # above any number of successors of one partial match


def _before(rank: tuple, seq: int, j: int) -> tuple:
    return rank[:-1] + ((seq - _BIG) * _SPAN + j, 0)


def _after(rank: tuple, seq: int, j: int) -> tuple:
    return rank + ((_BIG - seq) * _SPAN + j, 0)


def materialize(node: Optional[Node]) -> dict[str, list]:
    """The match dict of a buffer node: stage name -> its events, in stream order."""
    chain = []
    while node is not None:
        chain.append(node)
        node = node[4]
    out: dict[str, list] = {}
    for n in reversed(chain):
        lst = out.get(n[0])
        if lst is None:
            out[n[0]] = [n[1]]
        else:
            lst.append(n[1])
    return out


def node_positions(node: Optional[Node]) -> dict[str, list]:
    """Stage name -> positions `(ts, seq)` of its events, in stream order."""
    out: dict[str, list] = {}
    chain = []
    while node is not None:
        chain.append(node)
        node = node[4]
    for n in reversed(chain):
        out.setdefault(n[0], []).append((n[2], n[3]))
    return out


class _Context:
    """What a condition sees: the events accepted so far in this partial match.

    One context is reused for every partial match a state examines (only `node` changes), and
    every accessor walks the partial match's own buffer nodes, so a condition that never asks
    costs nothing and one that asks pays for that stage only.

    Every accessor that depends on the partial match (or on the clock) sets `used`. The run
    clears it before a condition call: a condition that returned without setting it decided
    from the event alone, so its answer holds for every partial match of that state and the
    others need not be asked (conditions are functions of the event and the context, as in
    Flink; one that keeps its own mutable state would see fewer calls).
    """

    __slots__ = ("clock", "contiguous", "node", "ts", "used")

    def __init__(
        self,
        node: Optional[Node],
        ts: int,
        clock: Callable[[], int] = _wall_clock_ms,
        contiguous: bool = False,
    ) -> None:
        self.node = node
        self.ts = ts
        self.clock = clock
        self.used = False
        self.contiguous = contiguous  # `Nfa.contiguous_stages`: a stage's events are adjacent

    def timestamp(self) -> int:
        """The timestamp of the event being examined."""
        return self.ts

    def current_processing_time(self) -> int:
        """The current processing time in ms (Flink's `Context.currentProcessingTime()`).

        The matcher's clock: by default the wall clock, as Flink's processing-time service.
        """
        self.used = True
        return self.clock()

    def get_events_for_pattern(self, name: str) -> tuple:
        """The events accepted so far for stage `name`, oldest first (empty if none).

        A read-only sequence (a tuple, like the `Iterable` Flink's `getEventsForPattern`
        returns): index it, iterate it or copy it with `list(...)`; it is built from the stage's
        own buffer nodes only, without copying the rest of the partial match.
        """
        self.used = True
        node = self.node
        while node is not None and node[0] != name:
            node = node[4]
        if node is None:
            return ()
        first = node[1]
        node = node[4]
        if self.contiguous and (node is None or node[0] != name):
            return (first,)  # the usual case: one event, nothing more to walk
        found = [first]
        if self.contiguous:
            while node is not None and node[0] == name:
                found.append(node[1])
                node = node[4]
        else:
            while node is not None:
                if node[0] == name:
                    found.append(node[1])
                node = node[4]
        if len(found) > 1:
            found.reverse()
        return tuple(found)

    def accepted_events(self) -> list:
        """Every event accepted so far in this partial match, oldest first."""
        self.used = True
        out = []
        node = self.node
        while node is not None:
            out.append(node[1])
            node = node[4]
        out.reverse()
        return out

    def last_event(self, name: str) -> Any:
        """The newest event accepted for stage `name`, or None."""
        self.used = True
        node = self.node
        while node is not None:
            if node[0] == name:
                return node[1]
            node = node[4]
        return None


class _StateInfo:
    __slots__ = ("index", "is_pending", "only_take", "sid", "simple", "state", "wake")

    def __init__(self, state: State, use_shortcuts: bool) -> None:
        self.state = state
        self.sid = state.sid
        # the state's one edge when it is a TAKE (a start state's usual shape): no decision graph
        edges = state.edges
        self.only_take = edges[0] if len(edges) == 1 and edges[0].action == TAKE else None
        wake = wake_condition(state) if use_shortcuts else None
        self.wake: Optional[Callable[..., bool]] = wake.compile() if wake is not None else None
        self.index = index_spec(state) if use_shortcuts else None
        self.is_pending = state.kind == PENDING
        self.simple = _simple_transition(state) if use_shortcuts else None


def _simple_transition(state: State) -> Optional[tuple]:
    """`(take_cond, target, keeps_on_take)` for the common relaxed / any singleton state.

    Such a state has exactly a TAKE to another state and a self-IGNORE that is either the
    negated TAKE condition (`followed_by`: the partial match moves on) or always true
    (`followed_by_any`: it also stays). Its partial matches can then be updated with one
    condition call each, and the ones that stay need not be re-inserted.
    """
    if state.is_start or len(state.edges) != 2:
        return None
    take, ignore = state.edges
    if take.action != TAKE or ignore.action != IGNORE or ignore.target is not state:
        return None
    if take.target is state or take.target.kind == STOP:
        return None
    spec = ignore.spec
    if isinstance(spec, Const) and spec.value:
        return (take.cond, take.target, True)
    if isinstance(spec, Negate) and spec.item is take.spec:
        return (take.cond, take.target, False)
    return None


def _infos_for(nfa: Nfa, use_shortcuts: bool) -> list[_StateInfo]:
    """Per-state analysis, computed once per compiled NFA and shared by every key's run."""
    cache = nfa.__dict__.setdefault("_runtime_infos", {})
    infos = cache.get(use_shortcuts)
    if infos is None:
        infos = cache[use_shortcuts] = [_StateInfo(s, use_shortcuts) for s in nfa.states]
    return infos


class NfaRun:
    """The mutable per-key state of one compiled `Nfa`, with `process` and `advance_time`."""

    def __init__(
        self, nfa: Nfa, use_shortcuts: bool = True, clock: Callable[[], int] = _wall_clock_ms
    ) -> None:
        self.nfa = nfa
        self.ctx = _Context(None, 0, clock, nfa.contiguous_stages)
        self.window = nfa.window_ms
        # WithinType.PREVIOUS_AND_CURRENT windows per state id; with any, expiries are kept per
        # partial match in `timed_expiries`, a heap of (expiry, order, state id, key, pm)
        self.state_windows = nfa.state_windows
        self.timed_expiries: list = []
        self.timed_order = 0
        self.skip = nfa.skip
        self.infos = _infos_for(nfa, use_shortcuts)
        # share one state's condition answers among its partial matches when no condition
        # looked at the partial match (see `_Context`); a shortcut like the others
        self.share_answers = use_shortcuts
        self.start_info = self.infos[nfa.start.sid]
        self.live = [i for i in self.infos if not i.state.is_start and i.state.kind not in (FINAL, STOP)]
        # per state: {id(pm): pm}, or {awaited value: {id(pm): pm}} for an indexed state
        self.buckets: list[dict] = [{} for _ in self.infos]
        # complete matches not yet emitted (held back by a skip strategy), Flink's heap exactly
        self.completed = JavaPriorityQueue()
        self.seq = 0
        # (expiry_ts, start_seq, records), in expiry order: one group per start, whose records
        # `(state id, bucket key, partial match)` are its insertions; records of partial matches
        # that moved on are skipped when the group expires
        self.expiries: deque = deque()
        self.expiry_groups: dict[int, list] = {}  # start_seq -> its group's records
        self.next_expiry = _NO_EXPIRY
        self.dedupe_key = nfa.dedupe_key
        # dedupe_runs: (state id, key sequence) -> [(first_ts, last_ts, partial match, bucket key)];
        # entries of partial matches that moved on are dropped lazily or when they expire
        self.frontier: dict = {}
        # the bucket key `_add_indexed` computed last, with what it was computed from (immutable)
        self.last_key: tuple = (None, None, None, None)

    def copy(self) -> NfaRun:
        """An independent run in the same state, sharing everything immutable.

        Partial matches, buffer nodes, ranks and bucket keys are immutable tuples (or values),
        so both runs share them; only the containers that `process`, `add` and `expire` change
        are copied: the buckets (and their per-key groups), the expiry queues and groups, the
        dedupe frontier and the complete-match heap. Buckets stay keyed by `id(pm)`, which is
        right for both runs because they hold the very same partial match objects. The
        compiled NFA, its per-state analysis and the clock are shared read-only. A new mutable
        attribute must be copied here too (tests/cep/test_copy.py lists them all).
        """
        other = NfaRun.__new__(NfaRun)
        other.__dict__.update(self.__dict__)  # the read-only parts; mutable ones replaced below
        other.ctx = _Context(None, 0, self.ctx.clock, self.ctx.contiguous)
        buckets = []
        for info, bucket in zip(self.infos, self.buckets):
            if info.index is None:
                buckets.append(dict(bucket))
            else:
                buckets.append({key: dict(group) for key, group in bucket.items()})
        other.buckets = buckets
        other.completed = self.completed.copy()
        other.timed_expiries = self.timed_expiries[:]  # a heap of tuples: a copied list stays a heap
        groups = {start_seq: records[:] for start_seq, records in self.expiry_groups.items()}
        # each queued group's record list must be the copied one its `expiry_groups` entry holds
        other.expiry_groups = groups
        other.expiries = deque((expiry, start, groups[start]) for expiry, start, _records in self.expiries)
        other.frontier = {key: entries[:] for key, entries in self.frontier.items()}
        return other

    # ------------------------------------------------------------------ inspection
    def partial_matches(self) -> list[tuple[State, PartialMatch]]:
        out = []
        for info in self.live:
            bucket = self.buckets[info.state.sid]
            if info.index is not None:
                for group in bucket.values():
                    out.extend((info.state, pm) for pm in group.values())
            else:
                out.extend((info.state, pm) for pm in bucket.values())
        return out

    def is_empty(self) -> bool:
        if self.completed:
            return False
        return all(not self.buckets[info.state.sid] for info in self.live)

    def partial_match_count(self) -> int:
        """How many partial matches are alive, without listing them (cheap enough per event)."""
        total = 0
        for info in self.live:
            bucket = self.buckets[info.state.sid]
            if info.index is not None:
                total += sum(len(group) for group in bucket.values())
            else:
                total += len(bucket)
        return total

    def evict(self, count: int, newest: bool) -> int:
        """Drop `count` partial matches: the oldest (earliest first event, then rank) or the newest.

        Used by a matcher's `max_partial_matches` cap. Expiry records of evicted partial matches
        are skipped when they come due, as for partial matches that moved on. Returns how many
        were dropped.
        """
        if count <= 0:
            return 0
        located = []  # (visit key, state id, bucket key, pm)
        for info in self.live:
            sid = info.state.sid
            bucket = self.buckets[sid]
            if info.index is not None:
                for key, group in bucket.items():
                    located.extend((_pm_visit_key(pm), sid, key, pm) for pm in group.values())
            else:
                located.extend((_pm_visit_key(pm), sid, None, pm) for pm in bucket.values())
        pick = heapq.nlargest if newest else heapq.nsmallest
        victims = pick(count, located, key=_first)
        for _order, sid, key, pm in victims:
            self._take_out(sid, key, pm)
            if self.dedupe_key is not None:
                self._forget(sid, pm)
        return len(victims)

    def add(self, state: State, pm: PartialMatch, key_sequence: Optional[tuple] = None) -> None:
        """Put a partial match into its state's bucket (keyed when the state is indexed)."""
        info = self.infos[state.sid]
        bucket = self.buckets[state.sid]
        if self.dedupe_key is not None:
            if key_sequence is None:
                key_sequence = _key_sequence(pm[0], self.dedupe_key)
            if self._dominated(state, pm, key_sequence):
                return
        if info.index is None:
            bucket[id(pm)] = pm
            key = None
        else:
            key = self._add_indexed(info, bucket, pm)
        if self.state_windows:
            self._track_timed_expiry(state.sid, key, pm)
        elif self.window:
            self._track_expiry(state.sid, key, pm)
        if key_sequence is not None:
            entry = (pm[1], pm[0][2], pm, key)
            self.frontier.setdefault((state.sid, key_sequence), []).append(entry)

    def _add_indexed(self, info: _StateInfo, bucket: dict, pm: PartialMatch) -> Any:
        _field, stage, ref_field = info.index
        head = pm[0]
        last = self.last_key  # (buffer node, stage, field, key): a partial match's branches
        if last[0] is head and head is not None and last[1] == stage and last[2] == ref_field:
            key = last[3]  # share its node and are often added one after the other
        else:
            node = head
            key = None
            while node is not None:
                if node[0] == stage:
                    key = get_field(node[1], ref_field)
                    break
                node = node[4]
            self.last_key = (head, stage, ref_field, key)
        try:
            group = bucket.get(key)
        except TypeError:  # unhashable value: it can never equal a looked-up key... keep it apart
            key = _Unhashable()
            group = None
        if group is None:
            bucket[key] = {id(pm): pm}
        else:
            group[id(pm)] = pm
        return key

    def _track_expiry(self, sid: int, key: Any, pm: PartialMatch) -> None:
        records = self.expiry_groups.get(pm[2])
        if records is None:
            records = self.expiry_groups[pm[2]] = []
            group = (pm[1] + self.window, pm[2], records)
            queue = self.expiries
            if not queue or queue[-1][:2] < group[:2]:
                queue.append(group)  # the usual case: a start newer than every other
            else:
                bisect.insort(queue, group)  # e.g. partial matches re-added by a restore
            if group[0] < self.next_expiry:
                self.next_expiry = group[0]
        records.append((sid, key, pm))

    def _track_timed_expiry(self, sid: int, key: Any, pm: PartialMatch) -> None:
        """When `pm` times out: its first-to-last window or its state's window after its last event."""
        expiry = pm[1] + self.window if self.window else _NO_EXPIRY
        gap = self.state_windows[sid]
        if gap and pm[0] is not None and pm[0][2] + gap < expiry:
            expiry = pm[0][2] + gap
        if expiry == _NO_EXPIRY:
            return
        self.timed_order += 1
        heapq.heappush(self.timed_expiries, (expiry, self.timed_order, sid, key, pm))
        if expiry < self.next_expiry:
            self.next_expiry = expiry

    # ------------------------------------------------------------------ process
    def process(self, event: Any, ts: int) -> list[dict[str, list]]:
        """Flink's NFA.process for one event. All conditions run before any state changes, so
        an exception from a condition leaves the partial matches as they were."""
        seq = self.seq
        new: list = []
        finals: list[Final] = []
        ctx = self.ctx  # one context for every partial match an event meets
        ctx.ts = ts
        start_info = self.start_info
        if start_info.wake is None or start_info.wake(event, None):
            ctx.node = None
            take = start_info.only_take
            if take is None:
                enabled = _enabled_edges(start_info.state, event, ctx)
            else:
                enabled = [take] if take.cond is None or take.cond(event, ctx) else None
            if enabled:
                self._step(start_info.state, None, enabled, event, ts, seq, new, finals, None, ctx)
        buckets = self.buckets
        updates = []  # (container, key, group, what changed, indexed): applied at the end
        for info in self.live:
            sid = info.sid
            bucket = buckets[sid]
            if not bucket:
                continue
            wake = info.wake
            if wake is not None and not wake(event, None):
                continue
            index = info.index
            if index is not None:
                value = get_field(event, index[0])
                if value is None:
                    continue
                try:
                    group = bucket.get(value)
                except TypeError:
                    continue
                if group is None:
                    continue
                container, key = bucket, value
            else:
                container, key, group = buckets, sid, bucket
            if info.simple is not None:
                moved = self._step_simple(info, group, event, ts, seq, new, finals, ctx)
                if moved:
                    updates.append((container, key, group, moved, index is not None))
                # else every partial match stays where it is: nothing to update
            else:
                kept: list = []
                state = info.state
                shared = None  # the enabled edges, when they do not depend on the partial match
                for pm in group.values():
                    if shared is None:
                        ctx.node = pm[0]
                        ctx.used = False
                        enabled = _enabled_edges(state, event, ctx)
                        if not ctx.used and self.share_answers:
                            shared = enabled
                            if _only_stays(enabled, state):
                                break  # every partial match ignores the event and stays as it is
                    else:
                        enabled = shared
                    self._step(state, pm, enabled, event, ts, seq, new, finals, kept, ctx)
                else:
                    shared = None
                if shared is not None:
                    continue  # all stay (the loop above stopped at the first one)
                if len(kept) != len(group):
                    updates.append((container, key, group, {id(pm): pm for pm in kept}, index is not None))
        dedupe_keys = None  # computed before any change: the key function may raise
        if new and self.dedupe_key is not None:
            dedupe_keys = [_key_sequence(pm[0], self.dedupe_key) for _state, pm in new]
        self.seq = seq + 1
        for container, key, group, change, indexed in updates:
            if isinstance(change, dict):  # the partial matches that stay, in order
                group = container[key] = change
            else:  # the partial matches that moved on
                for pm in change:
                    del group[id(pm)]
            if indexed and not group:
                del container[key]
        if new:
            add = self.add
            if dedupe_keys is None:
                for state, pm in new:
                    add(state, pm)
            else:
                for (state, pm), key_sequence in zip(new, dedupe_keys):
                    add(state, pm, key_sequence)
        if finals or self.completed.keys:  # (the list itself: no __bool__ call per event)
            return self._emit(finals)
        return []

    def _step_simple(
        self,
        info: _StateInfo,
        group: dict,
        event: Any,
        ts: int,
        seq: int,
        new: list,
        finals: list,
        ctx: _Context,
    ) -> Optional[list]:
        """`_step` for a simple state (see `_simple_transition`).

        Returns the partial matches that moved on (to be removed from `group`), or None when
        they all stay (the common case of an event that extends none of them): then the only
        work per partial match is the condition call itself.
        """
        cond, _target, keeps_on_take = info.simple
        hits = None
        if cond is not None:
            pms = iter(group.values())
            for pm in pms:  # the first one: was the answer decided by the event alone?
                ctx.node = pm[0]
                ctx.used = False
                if cond(event, ctx):
                    if ctx.used:
                        hits = [pm]
                        self._take_simple(info, pm, event, ts, seq, new, finals, ctx)
                        break
                    cond = None  # every partial match here takes the event: no more calls
                elif not ctx.used:
                    return None  # none of them can take the event: all stay as they are
                break
            if cond is not None:
                for pm in pms:
                    ctx.node = pm[0]
                    if cond(event, ctx):
                        if hits is None:
                            hits = []
                        hits.append(pm)
                        self._take_simple(info, pm, event, ts, seq, new, finals, ctx)
                return None if keeps_on_take else hits
        hits = list(group.values())
        for pm in hits:
            ctx.node = pm[0]
            self._take_simple(info, pm, event, ts, seq, new, finals, ctx)
        return None if keeps_on_take else hits

    def _take_simple(
        self,
        info: _StateInfo,
        pm: PartialMatch,
        event: Any,
        ts: int,
        seq: int,
        new: list,
        finals: list,
        ctx: _Context,
    ) -> None:
        """The TAKE of a simple state for one partial match (`ctx.node` is its node).

        Successors in Flink's order: the taken one, the complete one if the target can proceed
        to the end, and (for `followed_by_any`) the partial match itself, which stays.
        """
        _cond, target, keeps_on_take = info.simple
        rank = pm[3]
        taken = (info.state.name, event, ts, seq, pm[0])
        if target.kind == FINAL:
            finals.append(((taken, pm[1], pm[2], rank), rank, 0))
            return
        npm = (taken, pm[1], pm[2], _before(rank, seq, 0) if keeps_on_take else rank)
        new.append((target, npm))
        if target.reaches_final and _final_after_proceed(target, event, ctx):
            finals.append((npm, rank, 1))

    def _step(
        self,
        state: State,
        pm: Optional[PartialMatch],
        enabled: list,
        event: Any,
        ts: int,
        seq: int,
        new: list,
        finals: list,
        kept: Optional[list],
        ctx: _Context,
    ) -> None:
        """Flink's computeNextStates for one partial match (pm None = the start state), given
        the TAKE and IGNORE edges its decision graph enables (`_enabled_edges`).

        Results go to `finals` (complete), `kept` (the same partial match, still in `state`:
        it stays in its bucket) or `new` (to be inserted after the event).
        """
        if not enabled:
            return
        node = pm[0] if pm is not None else None
        ctx.node = node
        is_start = pm is None
        if is_start:
            rank, start_ts, start_seq = _START_RANK, ts, seq
        else:
            rank, start_ts, start_seq = pm[3], pm[1], pm[2]
        # successors in Flink's order, numbered by `i`: each enabled edge's, then (after a TAKE)
        # the complete match if its target can proceed to the end
        retained = []
        stay = -1  # index in `retained` of the partial match itself, staying in `state`
        discard = False
        i = 0
        for e in enabled:
            target = e.target
            took = e.action != IGNORE
            if took:
                n = (e.source.name, event, ts, seq, node)
            elif is_start:
                continue
            else:
                n = node
            kind = target.kind
            if kind == FINAL:
                finals.append(((n, start_ts, start_seq, rank), rank, i))
            elif kind == STOP:
                discard = True
            else:
                if stay < 0 and n is node and target is state and kept is not None:
                    stay = len(retained)
                retained.append((target, n))
            i += 1
            if took and target.reaches_final and _final_after_proceed(target, event, ctx):
                finals.append(((n, start_ts, start_seq, rank), rank, i))
                i += 1
        if discard:
            return  # a STOP state discards the path; its complete matches are kept, as in Flink
        for j, (target, n) in enumerate(retained):
            if j == stay:
                kept.append(pm)  # type: ignore[union-attr]
                continue
            if j == 0 and stay < 0:
                r = rank  # the parent leaves: its first successor takes its place
            elif stay < 0 or j > stay:
                r = _after(rank, seq, j)
            else:
                r = _before(rank, seq, j)
            new.append((target, (n, start_ts, start_seq, r)))

    def _dominated(self, state: State, pm: PartialMatch, key_sequence: tuple) -> bool:
        """Emberwatch `dedupe_runs`: is `pm` dominated by an interchangeable live partial match?

        Interchangeable: same state and equal `(stage, key)` sequences. Dominated: the other one
        started later-or-equal and took its last event earlier-or-equal, so it can be extended
        by everything `pm` can, within a window that ends no earlier.
        """
        group = self.frontier.get((state.sid, key_sequence))
        if not group:
            return False
        first, last = pm[1], pm[0][2]
        for i in range(len(group) - 1, -1, -1):
            entry = group[i]
            if entry[0] >= first and entry[1] <= last:
                if self._is_live(state, entry[2], entry[3]):
                    return True
                del group[i]  # it moved on: forget it
        return False

    def _is_live(self, state: State, pm: PartialMatch, key: Any) -> bool:
        bucket = self.buckets[state.sid]
        group = bucket if self.infos[state.sid].index is None else bucket.get(key)
        return group is not None and group.get(id(pm)) is pm

    def _forget(self, sid: int, pm: PartialMatch) -> None:
        """Drop a partial match's dedupe entry (it expired, or moved on long ago)."""
        group = self.frontier.get((sid, _key_sequence(pm[0], self.dedupe_key)))
        if group is None:
            return
        for i, entry in enumerate(group):
            if entry[2] is pm:
                del group[i]
                break
        if not group:
            del self.frontier[(sid, _key_sequence(pm[0], self.dedupe_key))]

    # ------------------------------------------------------------------ matches
    def _emit(self, finals: list[Final]) -> list[dict[str, list]]:
        """Flink's processMatchesAccordingToSkipStrategy.

        The new complete matches join the queue in the order Flink visits the partial matches
        they came from; then the queue gives up matches while none is held back by an earlier
        partial match (only under a skip strategy), each one pruning what its strategy discards.
        """
        completed = self.completed
        skip = self.skip
        if len(finals) == 1 and not completed.keys and not skip.is_skip:
            return [materialize(finals[0][0][0])]  # alone in the queue: released at once
        if len(finals) > 1:
            finals.sort(key=_visit_key)
        for f in finals:
            pm = f[0]
            completed.offer((pm[1], pm[2]), pm)
        out = []
        if not skip.is_skip:
            while completed.keys:
                out.append(materialize(completed.poll()[0]))
            return out
        while completed.keys:
            earliest = self._earliest_partial_start()
            if earliest is not None and earliest < completed.peek_key():
                break
            match = completed.poll()
            pruning = skip.pruning_pos(node_positions(match[0]))
            if pruning is not None:
                self._prune(pruning)
            out.append(materialize(match[0]))
        return out

    def _earliest_partial_start(self) -> Optional[tuple]:
        best = None
        for _state, pm in self.partial_matches():
            key = (pm[1], pm[2])
            if best is None or key < best:
                best = key
        return best

    def _prune(self, pruning: tuple) -> None:
        """Drop partial and held-back complete matches the skip strategy discards."""
        skip = self.skip
        for info in self.live:
            sid = info.state.sid
            bucket = self.buckets[sid]
            if info.index is None:
                self.buckets[sid] = _unpruned(bucket, skip, pruning)
                continue
            for key in list(bucket):
                group = _unpruned(bucket[key], skip, pruning)
                if group:
                    bucket[key] = group
                else:
                    del bucket[key]
        self.completed.remove_if(lambda m: skip.should_prune((m[1], m[2]), pruning))

    # ------------------------------------------------------------------ time
    def advance_time(self, ts: int) -> tuple[list[dict[str, list]], list[tuple[dict[str, list], int]]]:
        """`expire(ts)` with the timed-out partial matches as `(match dict, timeout_ts)`."""
        matches, expired = self.expire(ts)
        return matches, self.timeouts_of(expired)

    def timeouts_of(self, expired: list[tuple[PartialMatch, int]]) -> list[tuple[dict[str, list], int]]:
        """The `(partial match dict, timeout_ts)` pairs of what `expire` returned
        (in Flink's order: `expire` sorts them as Flink visits them)."""
        return [(materialize(pm[0]), timeout) for pm, timeout in expired]

    def expire(self, ts: int) -> tuple[list[dict[str, list]], list[tuple[PartialMatch, int]]]:
        """Drop partial matches that can no longer complete within the window at time `ts`.

        A partial match that started at `s` times out once `ts - s >= window`. Expiries sit in
        a heap, so this costs nothing until the earliest one is due, and then only the expired
        partial matches are touched (each removed from its bucket in O(1)). Returns the matches
        this completes and the timed-out partial matches themselves with their timeout
        timestamps, in the order Flink visits them (not materialized: `timeouts_of` does that
        when they are reported).
        """
        if ts < self.next_expiry:
            return [], []
        expired: list = []  # (partial match, timeout timestamp)
        pending: list = []
        if self.state_windows:
            self._expire_timed(ts, expired, pending)
            if len(expired) > 1:
                expired.sort(key=lambda e: _pm_visit_key(e[0]))
        else:
            self._expire_groups(ts, expired, pending)  # already in Flink's order
        matches = self._emit([(pm, pm[3], 0) for pm in pending]) if (pending or self.completed) else []
        return matches, expired

    def _expire_groups(self, ts: int, expired: list, pending: list) -> None:
        """`expire` with first-to-last windows only: whole per-start groups expire at once."""
        queue = self.expiries
        groups = self.expiry_groups
        dedupe = self.dedupe_key is not None
        window = self.window
        buckets = self.buckets
        infos = self.infos
        while queue and queue[0][0] <= ts:
            _expiry, start_seq, records = queue.popleft()
            del groups[start_seq]
            # groups come in the order of their first event; within one, by rank
            timed_out = []
            for sid, key, pm in records:
                if dedupe:
                    self._forget(sid, pm)
                bucket = buckets[sid]  # `_take_out`, inlined: this loop is hot
                indexed = infos[sid].index is not None
                group = bucket.get(key) if indexed else bucket
                if group is None or group.get(id(pm)) is not pm:
                    continue  # it moved on (or was pruned) before expiring
                del group[id(pm)]
                if indexed and not group:
                    del bucket[key]
                if infos[sid].is_pending:
                    pending.append(pm)
                else:
                    timed_out.append(pm)
            if timed_out:
                if len(timed_out) > 1:
                    timed_out.sort(key=_rank_of)
                timeout = timed_out[0][1] + window
                expired.extend([(pm, timeout) for pm in timed_out])
        self.next_expiry = queue[0][0] if queue else _NO_EXPIRY

    def _expire_timed(self, ts: int, expired: list, pending: list) -> None:
        """`expire` with PREVIOUS_AND_CURRENT windows: Flink's two timeout checks per partial match.

        A partial match times out when `ts - previous >= its state's window` (previous: the
        timestamp of its last event) or `ts - start >= window`; its timeout timestamp is then
        `previous + state window` if the first check holds, else `start + window`.
        """
        heap = self.timed_expiries
        window = self.window
        while heap and heap[0][0] <= ts:
            _expiry, _order, sid, key, pm = heapq.heappop(heap)
            if not self._take_out(sid, key, pm):
                continue  # it moved on (or was pruned) before expiring
            if self.infos[sid].is_pending:
                pending.append(pm)
                continue
            gap = self.state_windows[sid]
            if gap and pm[0] is not None and ts - pm[0][2] >= gap:
                expired.append((pm, pm[0][2] + gap))
            else:
                expired.append((pm, pm[1] + window))
        self.next_expiry = heap[0][0] if heap else _NO_EXPIRY

    def _take_out(self, sid: int, key: Any, pm: PartialMatch) -> bool:
        """Remove `pm` from its bucket; False when it is not there any more."""
        bucket = self.buckets[sid]
        indexed = self.infos[sid].index is not None
        group = bucket.get(key) if indexed else bucket
        if group is None or group.get(id(pm)) is not pm:
            return False
        del group[id(pm)]
        if indexed and not group:
            del bucket[key]
        return True


class _Unhashable:
    """A bucket key for partial matches waiting for an unhashable value (never looked up)."""


def _visit_key(final: Final) -> tuple:
    """Where Flink meets a complete match: its first event, then its parent's rank and index."""
    pm = final[0]
    return (pm[1], pm[2], final[1], final[2])


_rank_of = operator.itemgetter(3)  # a partial match's rank


def _pm_visit_key(pm: PartialMatch) -> tuple:
    return (pm[1], pm[2], pm[3])


def _first(item: tuple) -> Any:
    return item[0]


def lineage_key(pm: PartialMatch) -> tuple:
    """Start position, then the positions of all its events: orders partial matches totally
    (used to give ranks to partial matches restored from a snapshot that had none)."""
    seqs = []
    node = pm[0]
    while node is not None:
        seqs.append(node[3])
        node = node[4]
    seqs.reverse()
    return (pm[1], pm[2], seqs)


def _unpruned(group: dict, skip: Any, pruning: tuple) -> dict:
    return {k: pm for k, pm in group.items() if not skip.should_prune((pm[1], pm[2]), pruning)}


def _key_sequence(node: Optional[Node], key: Callable[[Any], Any]) -> tuple:
    out = []
    while node is not None:
        out.append((node[0], key(node[1])))
        node = node[4]
    return tuple(out)


def _only_stays(enabled: list, state: State) -> bool:
    """Whether the enabled edges are just `state`'s IGNORE back to itself."""
    return len(enabled) == 1 and enabled[0].action == IGNORE and enabled[0].target is state


def _enabled_edges(state: State, event: Any, ctx: _Context) -> list:
    """The TAKE and IGNORE edges of `state`'s decision graph that the event enables, in Flink's
    order (PROCEED edges followed while their conditions hold, last pushed first)."""
    enabled = []
    stack = [state]
    while stack:
        s = stack.pop()
        for e in s.edges:
            c = e.cond
            if c is None or c(event, ctx):
                if e.action == PROCEED:
                    stack.append(e.target)
                else:
                    enabled.append(e)
    return enabled


def _final_after_proceed(state: State, event: Any, ctx: _Context) -> bool:
    stack = [state]
    while stack:
        s = stack.pop()
        for e in s.edges:
            if e.action == PROCEED and (e.cond is None or e.cond(event, ctx)):
                if e.target.kind == FINAL:
                    return True
                stack.append(e.target)
    return False
