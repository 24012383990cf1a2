"""Per-key NFA run (Flink semantics): the partial matches of one key and the verbs that move them.

The engine's layers: the compiled graph (`cep.graph`, built by `cep.compiler`), the per-state
analysis and decision graph (`cep.decisions`), the shared buffer (`cep.buffer`: buffer nodes and
partial matches, ranks), what conditions see (`cep.context`), and this run, with its complete
matches and skip strategy (`cep.emission`), its time verbs (`cep.expiry`) and Emberwatch's
`dedupe_runs` extension (`cep.dedupe`) as separate parts of `NfaRun`.

Over 450 lines for a reason: `process` and its `_step*` helpers are one hot loop, split into
methods only where a call per partial match is already paid; cutting it further would cost
speed or spread one algorithm over several files.

A partial match `(node, start_ts, start_seq, rank)` (`cep.buffer`) is held in the bucket of the
NFA state it waits in (a dict `id(pm) -> pm`, in insertion order, so any partial match is removed
in O(1)). The hot loops here read its fields and those of buffer nodes by literal index (a
module constant would cost a global lookup per read): `pm[0]` is `PM_NODE`, `pm[1]`
`PM_START_TS`, `pm[2]` `PM_START_SEQ`, `pm[3]` `PM_RANK`; `node[2]` is `NODE_TS`.

`process(event, ts)` follows Flink's NFA: for every partial match it builds the decision graph
(PROCEED edges followed while their conditions hold), applies each enabled TAKE and IGNORE,
and keeps the results; complete matches go through the after-match skip strategy.
`advance_time(ts)` (`cep.expiry`) drops partial matches older than the window, reporting them as
timeouts (or as matches, for a pattern ending in `not_followed_by`).

Order (docs/engine-order.md): Flink visits its partial matches in the order of their first
event and, among those with the same first event, in the order their ancestors were visited,
each one's successors taking its place in the order they were computed. Every partial match
carries a `rank` (a tuple, `cep.buffer`) that encodes that place, so buckets may be visited in
any order: sorting by `(start_ts, start_seq, rank)` gives Flink's order. Complete matches wait in
a `JavaPriorityQueue`, which gives up matches with the same first event exactly as Flink's
`java.util.PriorityQueue` does.

Shortcuts keep `process` cheap without changing any result (`use_shortcuts=False` turns them
off, which the tests use to check exactly that):
- a state with a *wake condition* is skipped when the event fails it (its partial matches would
  all IGNORE the event and stay as they are);
- a state with an *index* keeps its partial matches in a dict keyed by the value they wait for
  (`field == C.last(stage, field)`), so only the partial matches the event can extend are tried;
- a plain `followed_by` / `followed_by_any` state updates each partial match with one condition
  call, leaving those that stay where they are;
- a condition that answers without reading the partial match (`Context.used` stays False) is
  asked once per state, not once per partial match (plain lambdas that test the event first).
Partial matches that stay unchanged are never re-inserted, and expiries sit in a queue of
per-start groups (all partial matches of one start expire together, and starts come in time
order), so time passing touches only what expires.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any, Callable, Optional

from cep.buffer import (
    START_RANK,
    Final,
    Node,
    PartialMatch,
    after,
    after_suffix,
    before,
    before_suffix,
    key_sequence_of,
    keyed_node,
    lineage_key,
    materialize,
    node_positions,
    pm_visit_key,
)
from cep.condition_codegen import get_field
from cep.context import Context, wall_clock_ms
from cep.decisions import StateInfo, enabled_edges, final_after_proceed, infos_for, only_stays
from cep.dedupe import DedupeMixin
from cep.emission import EmissionMixin
from cep.expiry import NO_EXPIRY, ExpiryMixin
from cep.graph import FINAL, IGNORE, STOP, Nfa, State
from cep.java_heap import JavaPriorityQueue

# `lineage_key`, `materialize`, `node_positions` and `Node` live in `cep.buffer`; re-exported here
# for the callers that import them from the run
__all__ = ["Node", "NfaRun", "lineage_key", "materialize", "node_positions"]


class NfaRun(EmissionMixin, ExpiryMixin, DedupeMixin):
    """The mutable per-key state of one compiled `Nfa`, with `process` and `advance_time`."""

    def __init__(
        self, nfa: Nfa, use_shortcuts: bool = True, clock: Callable[[], int] = wall_clock_ms
    ) -> None:
        self.nfa = nfa
        self.ctx = Context(None, 0, clock, nfa.contiguous_stages)
        self.window = nfa.window_ms
        # WithinType.PREVIOUS_AND_CURRENT windows per state id; with any, expiries are kept per
        # partial match in `timed_expiries`, a heap of (expiry, order, state id, key, pm)
        self.state_windows = nfa.state_windows
        self.timed_expiries: list = []
        self.timed_order = 0
        self.skip = nfa.skip
        self.infos = infos_for(nfa, use_shortcuts)
        # share one state's condition answers among its partial matches when no condition
        # looked at the partial match (see `Context`); a shortcut like the others
        self.share_answers = use_shortcuts
        self.start_info = self.infos[nfa.start.sid]
        self.live = [i for i in self.infos if not i.state.is_start and i.state.kind not in (FINAL, STOP)]
        # the live states an event must visit although it failed the start's wake condition
        # (used when that answer serves every waking state, below)
        self.wakeless = [i for i in self.live if i.wake is None]
        # every waking state wakes on the start state's condition (e.g. each stage starts with the
        # same `hot` test): its answer, asked once per event, serves them all
        wake_keys = {i.wake_key for i in self.live if i.wake is not None}
        self.start_wake_serves_all = self.start_info.wake is not None and wake_keys <= {
            self.start_info.wake_key
        }
        # per state: {id(pm): pm}, or {awaited value: {id(pm): pm}} for an indexed state
        self.buckets: list[dict] = [{} for _ in self.infos]
        # complete matches not yet emitted (held back by a skip strategy), Flink's heap exactly
        self.completed = JavaPriorityQueue()
        self.seq = 0
        # (expiry_ts, start_seq), in expiry order: one group per start, whose records `state id,
        # bucket key, partial match` (three slots each of a flat list, in `expiry_groups`) are its
        # insertions; records of partial matches that moved on are skipped when the group expires.
        # The queue holds only immutable pairs, so `copy` copies it at C speed.
        self.expiries: deque = deque()
        self.expiry_groups: dict[int, list] = {}  # start_seq -> its group's records
        self.next_expiry = NO_EXPIRY
        self.dedupe_key = nfa.dedupe_key
        # dedupe_runs: (state id, key sequence) -> [(first_ts, last_ts, partial match, bucket key)];
        # entries of partial matches that moved on are dropped lazily or when they expire
        self.frontier: dict = {}
        # the bucket key `_add_indexed` computed last, with what it was computed from (immutable)
        self.last_key: tuple = (None, None, None, None)
        # whether `expire` returns the timed-out partial matches (else it only counts them, as
        # Flink's NFA without a timeout handler); `Matcher(report_timeouts=...)` sets it
        self.keep_timeouts = True
        self.timed_out = 0  # partial matches that timed out since this run was made

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
        other.ctx = Context(None, 0, self.ctx.clock, self.ctx.contiguous)
        buckets = []
        for info, bucket in zip(self.infos, self.buckets):
            if info.index is None:
                buckets.append(dict(bucket))
            else:
                buckets.append({key: dict(group) for key, group in bucket.items()})
        other.buckets = buckets
        other.completed = self.completed.copy()
        other.timed_expiries = self.timed_expiries[:]  # a heap of tuples: a copied list stays a heap
        other.expiry_groups = {start_seq: records[:] for start_seq, records in self.expiry_groups.items()}
        other.expiries = self.expiries.copy()  # (expiry, start_seq) pairs: immutable
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
                    located.extend((pm_visit_key(pm), sid, key, pm) for pm in group.values())
            else:
                located.extend((pm_visit_key(pm), sid, None, pm) for pm in bucket.values())
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
                key_sequence = key_sequence_of(pm[0])
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

    def _add_new(self, new: list) -> None:
        """`add` for each `(state, pm)` of `new`, inlined for the usual run: no `dedupe_runs`, no
        PREVIOUS_AND_CURRENT windows. Successors of one start usually come one after the other,
        so the expiry records of the last start are kept at hand."""
        infos = self.infos
        buckets = self.buckets
        window = self.window
        groups = self.expiry_groups
        records_of = None  # the start (start_seq) whose expiry records `records` is
        records: list = []
        for state, pm in new:
            sid = state.sid
            info = infos[sid]
            if info.index is None:
                buckets[sid][id(pm)] = pm
                key = None
            else:
                key = self._add_indexed(info, buckets[sid], pm)
            if window:
                if pm[2] != records_of:  # pm[2]: PM_START_SEQ
                    got = groups.get(pm[2])
                    if got is None:
                        self._track_expiry(sid, key, pm)  # the start's first record: a new group
                        continue
                    records, records_of = got, pm[2]
                records += sid, key, pm  # as `_track_expiry` does

    def _add_indexed(self, info: StateInfo, bucket: dict, pm: PartialMatch) -> Any:
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
        woken = start_info.wake is None or start_info.wake(event, None)
        if woken:
            ctx.node = None
            take = start_info.only_take
            if take is None:
                enabled = enabled_edges(start_info.state, event, ctx)
            else:
                enabled = [take] if take.cond is None or take.cond(event, ctx) else None
            if enabled:
                self._step(start_info.state, None, enabled, event, ts, seq, new, finals, None, ctx)
        buckets = self.buckets
        updates = []  # (container, key, group, what changed, indexed): applied at the end
        shared_wake = self.start_wake_serves_all
        # an event that fails the start's wake condition wakes no state that shares it
        for info in self.live if woken or not shared_wake else self.wakeless:
            sid = info.sid
            bucket = buckets[sid]
            if not bucket:
                continue
            wake = info.wake
            if wake is not None and not (woken if shared_wake else wake(event, None)):
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
                cond = info.simple[0]
                if index is not None and value == value:
                    # the index's equality holds for the whole group (not for a NaN found by identity)
                    cond = info.index_take
                first = True  # the first partial match's answer
                if cond is not None:  # ask the first one: was the answer decided by the event alone?
                    ctx.node = next(iter(group.values()))[0]
                    ctx.used = False
                    first = cond(event, ctx)
                    if not ctx.used:
                        if not first:
                            continue  # none of them can take the event: all stay as they are
                        cond = None  # every partial match here takes the event: no more calls
                moved = self._step_simple(info, cond, first, group, event, ts, seq, new, finals, ctx)
                if moved:
                    updates.append((container, key, group, moved, index is not None))
                # else every partial match stays where it is: nothing to update
            else:
                kept: list = []
                state = info.state
                pms = iter(group.values())
                pm = next(pms)
                ctx.node = pm[0]
                ctx.used = False
                enabled = enabled_edges(state, event, ctx)
                if not ctx.used and self.share_answers:
                    # decided by the event alone: the same edges for every partial match here
                    if only_stays(enabled, state):
                        continue  # every partial match ignores the event and stays as it is
                    plan = _fork_plan(enabled, state, seq)
                    if plan is not None:
                        _fork(group.values(), plan, new, kept)
                    else:
                        for pm in group.values():
                            self._step(state, pm, enabled, event, ts, seq, new, finals, kept, ctx)
                else:
                    self._step(state, pm, enabled, event, ts, seq, new, finals, kept, ctx)
                    for pm in pms:
                        ctx.node = pm[0]
                        enabled = enabled_edges(state, event, ctx)
                        self._step(state, pm, enabled, event, ts, seq, new, finals, kept, ctx)
                if len(kept) != len(group):
                    updates.append((container, key, group, {id(pm): pm for pm in kept}, index is not None))
        dedupe_keys = None  # computed before any change: the key function may raise
        if new and self.dedupe_key is not None:
            dedupe_keys = [key_sequence_of(pm[0]) for _state, pm in new]
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
            if dedupe_keys is None and not self.state_windows:
                self._add_new(new)
            elif dedupe_keys is None:
                for state, pm in new:
                    self.add(state, pm)
            else:
                for (state, pm), key_sequence in zip(new, dedupe_keys):
                    self.add(state, pm, key_sequence)
        if finals or self.completed.keys:  # (the list itself: no __bool__ call per event)
            return self._emit(finals)
        return []

    def _step_simple(
        self,
        info: StateInfo,
        cond: Optional[Callable[..., bool]],
        first: bool,
        group: dict,
        event: Any,
        ts: int,
        seq: int,
        new: list,
        finals: list,
        ctx: Context,
    ) -> Optional[list]:
        """`_step` for a simple state (see `cep.decisions.simple_transition`), whose TAKE
        condition for these partial matches is `cond` (None: always true), which `process`
        already asked of the first one (`first`, its answer: an answer that read the partial
        match, else `process` settled the state itself or made `cond` None).

        Returns the partial matches that moved on (to be removed from `group`), or None when
        they all stay: then the only work per partial match is the condition call itself.
        """
        _cond, _target, keeps_on_take = info.simple
        hits = None
        if cond is not None:
            pms = iter(group.values())
            pm = next(pms)
            if first:
                hits = [pm]
                ctx.node = pm[0]
                self._take_simple(info, pm, event, ts, seq, new, finals, ctx)
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
        info: StateInfo,
        pm: PartialMatch,
        event: Any,
        ts: int,
        seq: int,
        new: list,
        finals: list,
        ctx: Context,
    ) -> None:
        """The TAKE of a simple state for one partial match (`ctx.node` is its node).

        Successors in Flink's order: the taken one, the complete one if the target can proceed
        to the end, and (for `followed_by_any`) the partial match itself, which stays.
        """
        _cond, target, keeps_on_take = info.simple
        rank = pm[3]
        if self.dedupe_key is None:
            taken = (info.state.name, event, ts, seq, pm[0])
        else:
            taken = keyed_node(info.state.name, event, ts, seq, pm[0], self.dedupe_key)
        if target.kind == FINAL:
            finals.append(((taken, pm[1], pm[2], rank), rank, 0))
            return
        npm = (taken, pm[1], pm[2], before(rank, seq, 0) if keeps_on_take else rank)
        new.append((target, npm))
        if target.reaches_final and final_after_proceed(target, event, ctx):
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
        ctx: Context,
    ) -> None:
        """Flink's computeNextStates for one partial match (pm None = the start state), given
        the TAKE and IGNORE edges its decision graph enables (`enabled_edges`).

        Results go to `finals` (complete), `kept` (the same partial match, still in `state`:
        it stays in its bucket) or `new` (to be inserted after the event).
        """
        if not enabled:
            return
        node = pm[0] if pm is not None else None
        ctx.node = node
        is_start = pm is None
        if is_start:
            rank, start_ts, start_seq = START_RANK, ts, seq
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
                if self.dedupe_key is None:
                    n = (e.source.name, event, ts, seq, node)
                else:
                    n = keyed_node(e.source.name, event, ts, seq, node, self.dedupe_key)
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
            if took and target.reaches_final and final_after_proceed(target, event, ctx):
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
                r = after(rank, seq, j)
            else:
                r = before(rank, seq, j)
            new.append((target, (n, start_ts, start_seq, r)))


# how a successor of `_fork_plan` relates to its partial match `pm` (rank `r`)
_STAYS = 0  # it is `pm`, staying in its state (kept, never re-inserted)
_REPLACES = 1  # it is `pm` itself in another state: the parent leaves, its first successor keeps `r`
_AFTER = 2  # a copy ranked `r + suffix` (`cep.buffer.after`)
_BEFORE = 3  # a copy ranked `r[:-1] + suffix` (`cep.buffer.before`)


def _fork_plan(enabled: list, state: State, seq: int) -> Optional[list]:
    """`[(target, how, rank suffix), ...]`: what `NfaRun._step` does with any partial match of
    `state` given `enabled`, when every enabled edge is an IGNORE into a waiting state (e.g. a
    looping stage that proceeds to the next one: the partial match moves or stays, and forks).
    None for any other edges (a TAKE builds a node per partial match: `_step` does that).

    The same successors, in the same order and with the same ranks as `_step` computes them,
    so a shared answer (`Context.used`) costs no `_step` call per partial match.
    """
    stay = -1
    for j, e in enumerate(enabled):
        if e.action != IGNORE or e.target.kind in (FINAL, STOP):
            return None
        if stay < 0 and e.target is state:
            stay = j
    plan = []
    for j, e in enumerate(enabled):
        if j == stay:
            plan.append((state, _STAYS, None))
        elif j == 0 and stay < 0:
            plan.append((e.target, _REPLACES, None))
        elif stay < 0 or j > stay:
            plan.append((e.target, _AFTER, after_suffix(seq, j)))
        else:
            plan.append((e.target, _BEFORE, before_suffix(seq, j)))
    return plan


def _fork(pms: Any, plan: list, new: list, kept: list) -> None:
    """Apply a `_fork_plan` to every partial match of `pms` (into `new` and `kept`)."""
    append = new.append
    for pm in pms:
        for target, how, suffix in plan:
            if how == _AFTER:
                append((target, (pm[0], pm[1], pm[2], pm[3] + suffix)))
            elif how == _STAYS:
                kept.append(pm)
            elif how == _REPLACES:
                append((target, pm))  # equal to the `(node, start_ts, start_seq, rank)` `_step` builds
            else:
                append((target, (pm[0], pm[1], pm[2], pm[3][:-1] + suffix)))


class _Unhashable:
    """A bucket key for partial matches waiting for an unhashable value (never looked up)."""


def _first(item: tuple) -> Any:
    return item[0]
