"""Per-key NFA run: the partial matches of one key and the two verbs that move them.

A partial match is a tuple `(node, start_ts, start_seq)` held in the bucket of the NFA state it
waits in. `node` is the newest entry of its event buffer, a linked list of tuples
`(stage_name, event, ts, seq, previous_node)`; branches that share a prefix share those tuples,
so an event taken once is stored once however many branches hold it (the shared buffer of
SASE/Flink, with the branch structure given by the links instead of Dewey numbers).

`process(event, ts)` follows Flink's NFA: for every partial match it builds the decision graph
(PROCEED edges followed while their conditions hold), applies each enabled TAKE and IGNORE,
and keeps the results; complete matches are emitted in the order of their first event, through
the after-match skip strategy. `advance_time(ts)` drops partial matches older than the window,
reporting them as timeouts (or as matches, for a pattern ending in `not_followed_by`).

Shortcuts keep `process` cheap without changing any result (`use_shortcuts=False` turns them
off, which the tests use to check exactly that):
- a state with a *wake condition* is skipped when the event fails it (its partial matches would
  all IGNORE the event and stay as they are);
- a state with an *index* keeps its partial matches in a dict keyed by the value they wait for
  (`field == C.last(stage, field)`), so only the partial matches the event can extend are tried;
- a plain `followed_by` / `followed_by_any` state updates each partial match with one condition
  call, leaving those that stay where they are.
Partial matches that stay unchanged are never re-inserted, and expiries sit in a heap, so time
passing touches only what expires.
"""

from __future__ import annotations

import heapq
from typing import Any, Callable, Optional

from cep.analysis import index_spec, wake_condition
from cep.conditions import Const, Negate, get_field
from cep.nfa import FINAL, IGNORE, PENDING, PROCEED, STOP, TAKE, Nfa, State

__all__ = ["NfaRun", "materialize", "node_positions"]

Node = tuple  # (stage_name, event, ts, seq, previous_node)
PartialMatch = tuple  # (node, start_ts, start_seq)

_NO_EXPIRY = float("inf")


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
    """What a condition sees: the events accepted so far in this partial match."""

    __slots__ = ("_cache", "node", "ts")

    def __init__(self, node: Optional[Node], ts: int) -> None:
        self.node = node
        self.ts = ts
        self._cache: Optional[dict[str, list]] = None

    def timestamp(self) -> int:
        """The timestamp of the event being examined."""
        return self.ts

    def get_events_for_pattern(self, name: str) -> list:
        """The events accepted so far for stage `name`, oldest first (empty if none)."""
        cache = self._cache
        if cache is None:
            cache = self._cache = materialize(self.node)
        return list(cache.get(name, ()))

    def accepted_events(self) -> list:
        """Every event accepted so far in this partial match, oldest first."""
        out = []
        node = self.node
        while node is not None:
            out.append(node[1])
            node = node[4]
        out.reverse()
        return out

    def last_event(self, name: str) -> Any:
        """The newest event accepted for stage `name`, or None."""
        node = self.node
        while node is not None:
            if node[0] == name:
                return node[1]
            node = node[4]
        return None


class _StateInfo:
    __slots__ = ("index", "is_pending", "simple", "state", "wake")

    def __init__(self, state: State, use_shortcuts: bool) -> None:
        self.state = state
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

    def __init__(self, nfa: Nfa, use_shortcuts: bool = True) -> None:
        self.nfa = nfa
        self.window = nfa.window_ms
        self.skip = nfa.skip
        self.infos = _infos_for(nfa, use_shortcuts)
        self.start_info = self.infos[nfa.start.sid]
        self.live = [i for i in self.infos if not i.state.is_start and i.state.kind not in (FINAL, STOP)]
        self.buckets: list[Any] = [({} if i.index is not None else []) for i in self.infos]
        self.completed: list[PartialMatch] = []  # complete matches held back by a skip strategy
        self.seq = 0
        # (expiry_ts, tiebreak, state id, bucket key, partial match), one entry per insertion;
        # entries of partial matches that moved on are skipped when they come up
        self.expiries: list = []
        self.tiebreak = 0
        self.next_expiry = _NO_EXPIRY
        self.dedupe_key = nfa.dedupe_key
        # dedupe_runs: (state id, key sequence) -> [(first_ts, last_ts, partial match, bucket key)];
        # entries of partial matches that moved on are dropped lazily or when they expire
        self.frontier: dict = {}

    # ------------------------------------------------------------------ inspection
    def partial_matches(self) -> list[tuple[State, PartialMatch]]:
        out = []
        for info in self.live:
            bucket = self.buckets[info.state.sid]
            if info.index is not None:
                for lst in bucket.values():
                    out.extend((info.state, pm) for pm in lst)
            else:
                out.extend((info.state, pm) for pm in bucket)
        return out

    def is_empty(self) -> bool:
        if self.completed:
            return False
        return all(not self.buckets[info.state.sid] for info in self.live)

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
            bucket.append(pm)
            key = None
        else:
            key = self._add_indexed(info, bucket, pm)
        if self.window:
            self._track_expiry(state.sid, key, pm)
        if key_sequence is not None:
            entry = (pm[1], pm[0][2], pm, key)
            self.frontier.setdefault((state.sid, key_sequence), []).append(entry)

    def _add_indexed(self, info: _StateInfo, bucket: dict, pm: PartialMatch) -> Any:
        _field, stage, ref_field = info.index
        node = pm[0]
        key = None
        while node is not None:
            if node[0] == stage:
                key = get_field(node[1], ref_field)
                break
            node = node[4]
        try:
            lst = bucket.get(key)
        except TypeError:  # unhashable value: it can never equal a looked-up key... keep it apart
            key = _Unhashable()
            lst = None
        if lst is None:
            bucket[key] = [pm]
        else:
            lst.append(pm)
        return key

    def _track_expiry(self, sid: int, key: Any, pm: PartialMatch) -> None:
        expiry = pm[1] + self.window
        self.tiebreak += 1
        heapq.heappush(self.expiries, (expiry, self.tiebreak, sid, key, pm))
        if expiry < self.next_expiry:
            self.next_expiry = expiry

    # ------------------------------------------------------------------ process
    def process(self, event: Any, ts: int) -> list[dict[str, list]]:
        """Flink's NFA.process for one event. All conditions run before any state changes, so
        an exception from a condition leaves the partial matches as they were."""
        seq = self.seq
        new: list = []
        finals: list = []
        start_info = self.start_info
        if start_info.wake is None or start_info.wake(event, None):
            self._step(start_info.state, None, event, ts, seq, new, finals, None)
        buckets = self.buckets
        updates = []  # (container, key, partial matches that stay): applied at the end
        for info in self.live:
            sid = info.state.sid
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
                    lst = bucket.get(value)
                except TypeError:
                    continue
                if lst is None:
                    continue
                container, key, pms = bucket, value, lst
            else:
                container, key, pms = buckets, sid, bucket
            if info.simple is not None:
                kept = self._step_simple(info, pms, event, ts, seq, new, finals)
            else:
                kept = []
                for pm in pms:
                    self._step(info.state, pm, event, ts, seq, new, finals, kept)
            updates.append((container, key, kept, index is not None))
        dedupe_keys: list = [None] * len(new)
        if new and self.dedupe_key is not None:
            dedupe_keys = [_key_sequence(pm[0], self.dedupe_key) for _state, pm in new]
        self.seq = seq + 1
        for container, key, kept, indexed in updates:
            if kept or not indexed:
                container[key] = kept
            else:
                del container[key]
        if new:
            add = self.add
            for (state, pm), key_sequence in zip(new, dedupe_keys):
                add(state, pm, key_sequence)
        if finals or self.completed:
            return self._emit(finals)
        return []

    def _step_simple(
        self, info: _StateInfo, pms: list, event: Any, ts: int, seq: int, new: list, finals: list
    ) -> list:
        """`_step` for a simple state (see `_simple_transition`); returns the partial matches that stay."""
        cond, target, keeps_on_take = info.simple
        name = info.state.name
        to_final = target.kind == FINAL
        reaches_final = target.reaches_final
        ctx = _Context(None, ts)
        kept = []
        for pm in pms:
            node = pm[0]
            ctx.node = node
            ctx._cache = None
            if cond is None or cond(event, ctx):
                npm = ((name, event, ts, seq, node), pm[1], pm[2])
                if to_final:
                    finals.append(npm)
                else:
                    new.append((target, npm))
                    if reaches_final and _final_after_proceed(target, event, ctx):
                        finals.append(npm)
                if keeps_on_take:
                    kept.append(pm)
            else:
                kept.append(pm)
        return kept

    def _step(
        self,
        state: State,
        pm: Optional[PartialMatch],
        event: Any,
        ts: int,
        seq: int,
        new: list,
        finals: list,
        kept: Optional[list],
    ) -> None:
        """Flink's computeNextStates for one partial match (pm None = the start state).

        Results go to `finals` (complete), `kept` (the same partial match, still in `state`:
        it stays in its bucket) or `new` (to be inserted after the event).
        """
        node = pm[0] if pm is not None else None
        ctx = _Context(node, ts)
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
        if not enabled:
            return
        is_start = pm is None
        retained = []
        discard = False
        for e in enabled:
            if e.action == IGNORE:
                if is_start:
                    continue
                results = ((e.target, pm),)
            else:
                taken = (e.source.name, event, ts, seq, node)
                npm = (taken, ts, seq) if is_start else (taken, pm[1], pm[2])
                target = e.target
                if target.reaches_final and _final_after_proceed(target, event, ctx):
                    results = ((target, npm), (None, npm))
                else:
                    results = ((target, npm),)
            for target, rpm in results:
                kind = target.kind if target is not None else FINAL
                if kind == FINAL:
                    finals.append(rpm)
                elif kind == STOP:
                    discard = True
                else:
                    retained.append((target, rpm))
        if not discard:
            for target, rpm in retained:
                if rpm is pm and target is state and kept is not None:
                    kept.append(pm)
                else:
                    new.append((target, rpm))

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
        lst = bucket if self.infos[state.sid].index is None else bucket.get(key)
        return lst is not None and any(x is pm for x in lst)

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
    def _emit(self, finals: list) -> list[dict[str, list]]:
        """Flink's processMatchesAccordingToSkipStrategy: emit in order of the first event."""
        skip = self.skip
        if not skip.is_skip:
            finals.sort(key=_start_key)
            return [materialize(m[0]) for m in finals]
        completed = self.completed
        completed.extend(finals)
        completed.sort(key=_start_key)
        out = []
        while completed:
            match = completed[0]
            earliest = self._earliest_partial_start()
            if earliest is not None and earliest < (match[1], match[2]):
                break
            completed.pop(0)
            pruning = skip.pruning_pos(node_positions(match[0]))
            if pruning is not None:
                self._prune(pruning)
                completed = self.completed
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
                self.buckets[sid] = [pm for pm in bucket if not skip.should_prune((pm[1], pm[2]), pruning)]
                continue
            for key in list(bucket):
                lst = [pm for pm in bucket[key] if not skip.should_prune((pm[1], pm[2]), pruning)]
                if lst:
                    bucket[key] = lst
                else:
                    del bucket[key]
        self.completed = [m for m in self.completed if not skip.should_prune((m[1], m[2]), pruning)]

    # ------------------------------------------------------------------ time
    def advance_time(self, ts: int) -> tuple[list[dict[str, list]], list[tuple[dict[str, list], int]]]:
        """Drop partial matches that can no longer complete within the window at time `ts`.

        A partial match that started at `s` times out once `ts - s >= window`. Expiries sit in
        a heap, so this costs nothing until the earliest one is due, and then only the expired
        partial matches are touched.
        """
        if ts < self.next_expiry:
            return [], []
        window = self.window
        heap = self.expiries
        buckets = self.buckets
        infos = self.infos
        timeouts: list = []
        expired: list = []
        pending: list = []
        while heap and heap[0][0] <= ts:
            _expiry, _n, sid, key, pm = heapq.heappop(heap)
            if self.dedupe_key is not None:
                self._forget(sid, pm)
            bucket = buckets[sid]
            lst = bucket if infos[sid].index is None else bucket.get(key)
            if not lst:
                continue
            for i, other in enumerate(lst):
                if other is pm:
                    del lst[i]
                    break
            else:
                continue  # it moved on (or was pruned) before expiring
            if infos[sid].index is not None and not lst:
                del bucket[key]
            if infos[sid].is_pending:
                pending.append(pm)
            else:
                expired.append(pm)
        self.next_expiry = heap[0][0] if heap else _NO_EXPIRY
        if expired:
            expired.sort(key=_lineage_key)  # a deterministic order, the same after a restore
            timeouts = [(materialize(pm[0]), pm[1] + window) for pm in expired]
        matches = self._emit(pending) if (pending or self.completed) else []
        return matches, timeouts


class _Unhashable:
    """A bucket key for partial matches waiting for an unhashable value (never looked up)."""


def _lineage_key(pm: PartialMatch) -> tuple:
    """Start position, then the positions of all its events: orders partial matches totally."""
    seqs = []
    node = pm[0]
    while node is not None:
        seqs.append(node[3])
        node = node[4]
    seqs.reverse()
    return (pm[1], pm[2], seqs)


def _start_key(pm: PartialMatch) -> tuple:
    return (pm[1], pm[2])


def _key_sequence(node: Optional[Node], key: Callable[[Any], Any]) -> tuple:
    out = []
    while node is not None:
        out.append((node[0], key(node[1])))
        node = node[4]
    return tuple(out)


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
