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

Two shortcuts keep `process` cheap without changing any result:
- a state with a *wake condition* is skipped when the event fails it (its partial matches would
  all IGNORE the event and stay as they are);
- a state with an *index* keeps its partial matches in a dict keyed by the value they wait for
  (`field == C.last(stage, field)`), so only the partial matches the event can extend are tried.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from cep.analysis import index_spec, wake_condition
from cep.conditions import get_field
from cep.nfa import FINAL, IGNORE, PENDING, PROCEED, STOP, Nfa, State

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

    __slots__ = ("_cache", "node")

    def __init__(self, node: Optional[Node]) -> None:
        self.node = node
        self._cache: Optional[dict[str, list]] = None

    def get_events_for_pattern(self, name: str) -> list:
        """The events accepted so far for stage `name`, oldest first (empty if none)."""
        cache = self._cache
        if cache is None:
            cache = self._cache = materialize(self.node)
        return list(cache.get(name, ()))

    def last_event(self, name: str) -> Any:
        """The newest event accepted for stage `name`, or None."""
        node = self.node
        while node is not None:
            if node[0] == name:
                return node[1]
            node = node[4]
        return None


class _StateInfo:
    __slots__ = ("index", "is_pending", "state", "wake")

    def __init__(self, state: State, use_shortcuts: bool) -> None:
        self.state = state
        wake = wake_condition(state) if use_shortcuts else None
        self.wake: Optional[Callable[..., bool]] = wake.compile() if wake is not None else None
        self.index = index_spec(state) if use_shortcuts else None
        self.is_pending = state.kind == PENDING


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
        self.next_expiry = _NO_EXPIRY
        self.dedupe_key = nfa.dedupe_key

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

    def clear_state(self) -> None:
        for info in self.live:
            sid = info.state.sid
            self.buckets[sid] = {} if info.index is not None else []
        self.completed = []
        self.next_expiry = _NO_EXPIRY

    def add(self, state: State, pm: PartialMatch) -> None:
        """Put a partial match into its state's bucket (keyed when the state is indexed)."""
        info = self.infos[state.sid]
        bucket = self.buckets[state.sid]
        if self.window:
            expiry = pm[1] + self.window
            if expiry < self.next_expiry:
                self.next_expiry = expiry
        if info.index is None:
            bucket.append(pm)
            return
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

    # ------------------------------------------------------------------ process
    def process(self, event: Any, ts: int) -> list[dict[str, list]]:
        seq = self.seq
        self.seq = seq + 1
        new: list = []
        finals: list = []
        start_info = self.start_info
        if start_info.wake is None or start_info.wake(event, None):
            self._step(start_info.state, None, event, ts, seq, new, finals)
        buckets = self.buckets
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
                    lst = bucket.pop(value, None)
                except TypeError:
                    continue
                if lst is None:
                    continue
                for pm in lst:
                    self._step(info.state, pm, event, ts, seq, new, finals)
            else:
                buckets[sid] = []
                for pm in bucket:
                    self._step(info.state, pm, event, ts, seq, new, finals)
        if new:
            if self.dedupe_key is not None:
                new = self._dedupe(new)
            add = self.add
            for state, pm in new:
                add(state, pm)
        if finals or self.completed:
            return self._emit(finals)
        return []

    def _step(
        self, state: State, pm: Optional[PartialMatch], event: Any, ts: int, seq: int, new: list, finals: list
    ) -> None:
        """Flink's computeNextStates for one partial match (pm None = the start state)."""
        node = pm[0] if pm is not None else None
        ctx = _Context(node)
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
            new.extend(retained)

    def _dedupe(self, new: list) -> list:
        """Emberwatch `dedupe_runs`: drop new partial matches dominated by an interchangeable one."""
        key = self.dedupe_key
        frontier: dict = {}
        for state, pm in self.partial_matches():
            frontier.setdefault((state.sid, _key_sequence(pm[0], key)), []).append(pm)
        kept = []
        for state, pm in new:
            group_key = (state.sid, _key_sequence(pm[0], key))
            group = frontier.setdefault(group_key, [])
            first, last = pm[1], pm[0][2]
            if any(o[1] >= first and o[0][2] <= last for o in group):
                continue
            group.append(pm)
            kept.append((state, pm))
        return kept

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
        skip = self.skip
        survivors = [
            (state, pm)
            for state, pm in self.partial_matches()
            if not skip.should_prune((pm[1], pm[2]), pruning)
        ]
        self.clear_partial_matches()
        for state, pm in survivors:
            self.add(state, pm)
        self.completed = [m for m in self.completed if not skip.should_prune((m[1], m[2]), pruning)]

    def clear_partial_matches(self) -> None:
        for info in self.live:
            self.buckets[info.state.sid] = {} if info.index is not None else []
        self.next_expiry = _NO_EXPIRY

    # ------------------------------------------------------------------ time
    def advance_time(self, ts: int) -> tuple[list[dict[str, list]], list[tuple[dict[str, list], int]]]:
        """Drop partial matches that can no longer complete within the window at time `ts`."""
        if ts < self.next_expiry:
            return [], []
        window = self.window
        timeouts = []
        pending = []
        survivors = []
        for state, pm in self.partial_matches():
            if ts - pm[1] >= window:
                if state.kind == PENDING:
                    pending.append(pm)
                else:
                    timeouts.append((materialize(pm[0]), pm[1] + window))
            else:
                survivors.append((state, pm))
        self.clear_partial_matches()
        for state, pm in survivors:
            self.add(state, pm)
        matches = self._emit(pending) if (pending or self.completed) else []
        return matches, timeouts


class _Unhashable:
    """A bucket key for partial matches waiting for an unhashable value (never looked up)."""


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
