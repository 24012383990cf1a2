"""`Matcher`: runs one pattern over one key's events, with snapshots of its state.

Example
-------
>>> from cep import Matcher, Pattern, conditions as C
>>> p = Pattern.begin("a").where(C.field("k") == "a").followed_by("b").where(C.field("k") == "b")
>>> m = Matcher(p)
>>> m.process({"k": "a"}, 1), m.process({"k": "x"}, 2), m.process({"k": "b"}, 3)
([], [], [{'a': [{'k': 'a'}], 'b': [{'k': 'b'}]}])
"""

from __future__ import annotations

import hashlib
import pickle
import threading
import weakref
from typing import Any, Callable, Optional

from cep.analysis import prefilter as compute_prefilter
from cep.buffer import NODE_PREVIOUS, PM_START_SEQ, PM_START_TS, keyed_node
from cep.compiler import compile_pattern
from cep.errors import BufferStateError, CepError, ConditionError, StateLimitError
from cep.graph import Nfa
from cep.pattern import Pattern
from cep.runtime import NfaRun, lineage_key

__all__ = ["OVERFLOW_POLICIES", "Matcher"]

#: What a matcher does when a key would hold more than `max_partial_matches` partial matches.
OVERFLOW_POLICIES = ("drop_oldest", "drop_newest", "fail")

Match = dict  # stage name -> list of events
Timeout = tuple  # (partial match dict, timeout timestamp)

# 1: timeouts held as materialized dicts; 2: partial matches without ranks; 3: no eviction
# counter; 4: held timeouts one by one with their partial match (all still restorable)
_SNAPSHOT_VERSION = 5


class _Plan:
    """Everything derived from a pattern once and shared by all its matchers (read-only)."""

    def __init__(self, pattern: Pattern, use_prefilter: bool) -> None:
        self.nfa: Nfa = compile_pattern(pattern)
        cond = compute_prefilter(pattern) if use_prefilter else None
        self.prefilter = cond
        self.prefilter_fn: Optional[Callable[..., bool]] = cond.compile() if cond is not None else None
        self.fingerprint = hashlib.sha1(self.nfa.fingerprint().encode()).hexdigest()[:16]


_plans: weakref.WeakKeyDictionary[Pattern, dict] = weakref.WeakKeyDictionary()
_plans_lock = threading.Lock()


def _signature(pattern: Pattern) -> tuple:
    """Identity of everything the builder can change, so a cached plan is never stale."""
    sig = []
    for s in pattern.stages():
        q = s.quantifier
        sig.append(
            (
                id(s),
                s.name,
                id(s.condition),
                id(s.until_condition),
                q.contiguity,
                q.inner,
                frozenset(q.properties),
                s.repeat,
                s.window_ms,
                s.previous_window_ms,
                s.skip_strategy,
                id(s.dedupe_key),
                _signature(s.group) if s.group is not None else None,
            )
        )
    return tuple(sig)


def _plan_for(pattern: Pattern, use_prefilter: bool) -> _Plan:
    sig = (_signature(pattern), use_prefilter)
    with _plans_lock:
        cached = _plans.get(pattern)
        if cached is not None and cached.get("sig") == sig:
            return cached["plan"]
    plan = _Plan(pattern, use_prefilter)
    with _plans_lock:
        _plans[pattern] = {"sig": sig, "plan": plan}
    return plan


class Matcher:
    """Flink CEP's NFA for one key: feed events in timestamp order, advance time, read matches.

    Parameters
    ----------
    pattern
        The last stage of the pattern (what the builder chain returns).
    use_prefilter
        Apply `cep.analysis.prefilter(pattern)` at the top of `process` (default True): events
        that provably cannot change any match or timeout are rejected in O(1).
    use_shortcuts
        Let the runtime skip states an event cannot wake and look up indexed partial matches
        (default True). Both switches only exist to test that they change nothing.
    clock
        What a condition's `ctx.current_processing_time()` returns (ms): by default the wall
        clock, as Flink's processing-time service; give a function to control it (tests,
        replays).
    max_partial_matches
        Cap on this key's live partial matches (None: unbounded, as Flink). Checked after each
        event; what goes over the cap is handled by `on_overflow`.
    on_overflow
        ``"drop_oldest"`` (default: evict the partial matches with the earliest first event, then
        rank), ``"drop_newest"`` (evict the latest ones) or ``"fail"`` (raise `StateLimitError`,
        which carries the event's matches; the state keeps the event's effects). Evictions are
        counted in `evicted_partial_matches`.
    report_timeouts
        False: timed-out partial matches are only counted (`timed_out_partial_matches`), never
        kept or turned into dicts, and `advance_time` returns no timeouts; as Flink's NFA when
        the pattern function does not handle timeouts. Matches are the same either way.

    Notes
    -----
    `process(event, ts)` first advances time to `ts` when partial matches may have expired
    (Flink's operator always does so before processing an event): matches completed by time
    passing are returned with the event's matches, and timed-out partial matches are kept for
    the next `advance_time` call. They are kept as references to their buffer nodes (shared with
    the other partial matches, each event stored once, in snapshots too), grouped by start and
    timeout, and turned into dicts only when `advance_time` reports them, so a caller that calls
    it rarely holds about one list slot per timed-out partial match.
    """

    def __init__(
        self,
        pattern: Pattern,
        *,
        use_prefilter: bool = True,
        use_shortcuts: bool = True,
        clock: Optional[Callable[[], int]] = None,
        max_partial_matches: Optional[int] = None,
        on_overflow: str = "drop_oldest",
        report_timeouts: bool = True,
    ) -> None:
        if max_partial_matches is not None and max_partial_matches < 0:
            raise ValueError(f"max_partial_matches must be >= 0 or None, got {max_partial_matches}")
        if on_overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"on_overflow must be one of {OVERFLOW_POLICIES}, got {on_overflow!r}")
        self.max_partial_matches = max_partial_matches
        self.on_overflow = on_overflow
        #: partial matches dropped by the `max_partial_matches` cap, over the key's life (snapshotted)
        self.evicted_partial_matches = 0
        self._pattern = pattern
        self._plan = _plan_for(pattern, use_prefilter)
        if clock is None:
            self._run = NfaRun(self._plan.nfa, use_shortcuts=use_shortcuts)
        else:
            self._run = NfaRun(self._plan.nfa, use_shortcuts=use_shortcuts, clock=clock)
        self._prefilter = self._plan.prefilter_fn
        self._run.keep_timeouts = report_timeouts
        # timed out in `process`, not yet reported: `cep.expiry.TimeoutGroup`s (buffer nodes)
        self._expired: list = []
        self._restored_timeouts: list[Timeout] = []  # from a version-1 snapshot
        self._options = (use_prefilter, use_shortcuts, report_timeouts)
        self._caps = {"max_partial_matches": max_partial_matches, "on_overflow": on_overflow}

    @property
    def nfa(self) -> Nfa:
        """The compiled, read-only automaton (shared by matchers of the same pattern)."""
        return self._plan.nfa

    @property
    def window_ms(self) -> int:
        """The pattern's window (the smallest `within` of its stages); 0 when it has none."""
        return self._plan.nfa.window_ms

    @property
    def next_deadline(self) -> Optional[int]:
        """The earliest time at which `advance_time` can produce a timeout or a match, or None.

        Useful to register a single timer (e.g. in processing-time mode); it may be early (the
        partial match may have moved on), never late.
        """
        deadline = self._run.next_expiry
        return None if deadline == float("inf") else int(deadline)

    @property
    def timed_out_partial_matches(self) -> int:
        """Partial matches that timed out since this matcher was made or restored (reported or
        not; not part of snapshots): with ``report_timeouts=False``, the only trace they leave."""
        return self._run.timed_out

    @property
    def prefilter(self) -> Any:
        """The declarative prefilter applied in `process`, or None."""
        return self._plan.prefilter

    def process(self, event: Any, timestamp: int) -> list[Match]:
        """Feed one event; returns the matches it completes (stage name -> events, in order)."""
        prefilter = self._prefilter
        if prefilter is not None and not prefilter(event, None):
            return []
        run = self._run
        matches: list[Match] = []
        if timestamp >= run.next_expiry:
            matches, expired = run.expire(timestamp)
            if expired:
                self._expired.extend(expired)
        try:
            got = run.process(event, timestamp)
        except CepError:
            raise
        except Exception as exc:
            raise ConditionError(
                f"a condition raised {type(exc).__name__}: {exc} on the event {event!r:.300}; "
                "the event was not applied and the matcher state is unchanged"
            ) from exc
        out = matches + got if matches else got
        if self.max_partial_matches is not None:
            self._enforce_cap(out)
        return out

    def _enforce_cap(self, matches: list[Match]) -> None:
        """Apply `on_overflow` when more than `max_partial_matches` partial matches are alive."""
        cap = self.max_partial_matches
        count = self._run.partial_match_count()
        if count <= cap:  # type: ignore[operator]
            return
        if self.on_overflow == "fail":
            raise StateLimitError(
                f"{count} live partial matches for this key exceed max_partial_matches={cap}; "
                "tighten the pattern (within, followed_by instead of followed_by_any) or choose "
                "on_overflow='drop_oldest'/'drop_newest'",
                limit=cap,  # type: ignore[arg-type]
                count=count,
                matches=matches,
            )
        newest = self.on_overflow == "drop_newest"
        self.evicted_partial_matches += self._run.evict(count - cap, newest)  # type: ignore[operator]

    def advance_time(self, timestamp: int) -> tuple[list[Match], list[Timeout]]:
        """Declare that no event older than `timestamp` will come; returns (matches, timeouts).

        Timeouts are `(partial_match_dict, timeout_timestamp)` for partial matches whose window
        ended; matches are those of patterns ending in `not_followed_by` whose window passed.
        """
        run = self._run
        matches, expired = run.expire(timestamp)
        if not run.keep_timeouts:  # nothing to report (held ones only from a restored snapshot)
            self._expired = []
            self._restored_timeouts = []
            return matches, []
        if self._expired:
            expired = self._expired + expired
            self._expired = []
        timeouts = run.timeouts_of(expired)
        if self._restored_timeouts:
            timeouts = self._restored_timeouts + timeouts
            self._restored_timeouts = []
        return matches, timeouts

    def is_empty(self) -> bool:
        """True when no partial match, held-back match or unreported timeout is kept."""
        return self._run.is_empty() and not self._expired and not self._restored_timeouts

    def partial_match_count(self) -> int:
        """How many partial matches are alive (for monitoring and tests)."""
        return self._run.partial_match_count()

    def copy(self) -> Matcher:
        """An independent matcher in the same state, made without serializing anything.

        Used by `cep.early` to rebuild the matcher it runs ahead of the watermark, so it must be
        cheap with hundreds of partial matches: the runtime copies only its mutable containers
        and shares the immutable partial matches and buffer nodes (`NfaRun.copy`). Events are
        shared, not copied (the matcher never changes them). Feeding the copy and the original
        different events afterwards gives each exactly what a fresh matcher fed the same whole
        sequence gives.
        """
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)  # pattern, compiled plan, prefilter, options: read-only
        other._run = self._run.copy()
        other._expired = self._expired[:]  # timeout groups: never changed once made
        # match dicts from a version-1 snapshot are handed to the caller later: one copy each
        other._restored_timeouts = [
            ({stage: list(events) for stage, events in match.items()}, ts)
            for match, ts in self._restored_timeouts
        ]
        return other

    def copy_via_snapshot(self) -> Matcher:
        """The former `copy`: a round trip through `snapshot`/`restore` (kept to compare with
        `copy` in tests and in bench/matcher_copy.py)."""
        use_prefilter, use_shortcuts, report_timeouts = self._options
        return Matcher.restore(
            self._pattern,
            self.snapshot(),
            use_prefilter=use_prefilter,
            use_shortcuts=use_shortcuts,
            report_timeouts=report_timeouts,
            **self._caps,
        )

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> bytes:
        """Serialize the per-key state: buffers, partial matches, counters; no pattern or conditions.

        Every event appears once, however many partial matches hold it.
        """
        run = self._run
        events: list = []
        event_ids: dict[int, int] = {}
        names: list = []
        name_ids: dict[str, int] = {}
        nodes: list = []
        node_ids: dict[int, int] = {}

        def node_index(node: Any) -> int:
            if node is None:
                return -1
            chain = []
            while node is not None and id(node) not in node_ids:
                chain.append(node)
                node = node[NODE_PREVIOUS]
            for n in reversed(chain):
                stage, ev, ts, seq, prev = n[:5]  # a buffer node's fields (`cep.buffer`), keys aside
                ei = event_ids.get(id(ev))
                if ei is None:
                    ei = event_ids[id(ev)] = len(events)
                    events.append(ev)
                ni = name_ids.get(stage)
                if ni is None:
                    ni = name_ids[stage] = len(names)
                    names.append(stage)
                node_ids[id(n)] = len(nodes) // 5
                nodes.extend((ni, ei, ts, seq, -1 if prev is None else node_ids[id(prev)]))
            return node_ids[id(chain[0])] if chain else node_ids[id(node)]

        # a partial match's fields (`cep.buffer`): node, start_ts, start_seq, rank
        pms: list = []
        for state, (node, start_ts, start_seq, rank) in run.partial_matches():
            pms.extend((state.sid, node_index(node), start_ts, start_seq, rank))
        completed: list = []
        for node, start_ts, start_seq, rank in run.completed:  # heap-array order: re-offering rebuilds it
            completed.extend((node_index(node), start_ts, start_seq, rank))
        expired: list = []  # per group: timeout, start_ts, start_seq, count, node indexes
        for timeout, start_ts, start_seq, group_nodes in self._expired:
            expired.extend((timeout, start_ts, start_seq, len(group_nodes)))
            expired.extend([node_index(node) for node in group_nodes])
        payload = (
            _SNAPSHOT_VERSION,
            self._plan.fingerprint,
            run.seq,
            names,
            events,
            nodes,
            pms,
            completed,
            expired,
            self._restored_timeouts,
            self.evicted_partial_matches,
        )
        return pickle.dumps(payload, protocol=4)

    @classmethod
    def restore(cls, pattern: Pattern, blob: bytes, **options: Any) -> Matcher:
        """A matcher for `pattern` that continues exactly where the snapshotted one was."""
        try:
            payload = pickle.loads(blob)
            version = payload[0]
            evicted = 0
            if version == 1:
                _v, fingerprint, seq, names, events, nodes, pms, completed, timeouts = payload
                expired: list = []
            elif version < 4:
                _v, fingerprint, seq, names, events, nodes, pms, completed, expired, timeouts = payload
            else:
                _v, fingerprint, seq, names, events, nodes, pms, completed, expired, timeouts, evicted = (
                    payload
                )
        except Exception as exc:
            raise BufferStateError(f"not a cep matcher snapshot: {exc}") from exc
        if version not in (1, 2, 3, 4, _SNAPSHOT_VERSION):
            raise BufferStateError(
                f"snapshot version {version} is not supported (expected {_SNAPSHOT_VERSION})"
            )
        matcher = cls(pattern, **options)
        if fingerprint != matcher._plan.fingerprint:
            raise BufferStateError(
                "the snapshot was taken with a different pattern (its compiled graph differs); "
                "restore it with the pattern it was taken with"
            )
        built: list = []
        key = matcher._run.dedupe_key
        for i in range(0, len(nodes), 5):
            ni, ei, ts, sq, prev = nodes[i : i + 5]
            previous = None if prev < 0 else built[prev]
            if key is None:
                built.append((names[ni], events[ei], ts, sq, previous))
            else:
                built.append(keyed_node(names[ni], events[ei], ts, sq, previous, key))
        run = matcher._run
        states = matcher._plan.nfa.states
        width = 5 if version >= 3 else 4
        restored = []
        for i in range(0, len(pms), width):
            sid, nodei, start_ts, start_seq = pms[i : i + 4]
            rank = pms[i + 4] if version >= 3 else None
            restored.append((states[sid], (None if nodei < 0 else built[nodei], start_ts, start_seq, rank)))
        if version < 3:
            restored = _ranked(restored)
        for state, pm in restored:
            run.add(state, pm)
        for pm in _unflatten(completed, built, version):
            run.completed.offer((pm[PM_START_TS], pm[PM_START_SEQ]), pm)
        run.seq = seq
        matcher._expired = _timeout_groups(expired, built, version, matcher.window_ms)
        matcher._restored_timeouts = list(timeouts)
        matcher.evicted_partial_matches = evicted
        return matcher


def _timeout_groups(flat: list, built: list, version: int, window: int) -> list:
    """The held timeouts (`cep.expiry.TimeoutGroup`s) of a snapshot's flat list."""
    node_of = lambda i: None if i < 0 else built[i]  # noqa: E731
    if version >= 5:
        groups = []
        i = 0
        while i < len(flat):
            timeout, start_ts, start_seq, count = flat[i : i + 4]
            groups.append((timeout, start_ts, start_seq, [node_of(n) for n in flat[i + 4 : i + 4 + count]]))
            i += 4 + count
        return groups
    if version >= 3:  # one (node, start_ts, start_seq, rank, timeout) per timeout, in report order
        return [
            (flat[i + 4], flat[i + 1], flat[i + 2], [node_of(flat[i])]) for i in range(0, len(flat), 5)
        ]
    # before version 3 every timeout was at start + window
    return [
        (pm[PM_START_TS] + window, pm[PM_START_TS], pm[PM_START_SEQ], [pm[0]])
        for pm in _unflatten(flat, built, version)
    ]


def _unflatten(flat: list, built: list, version: int) -> list:
    """Partial matches from a snapshot's flat `(node index, start_ts, start_seq[, rank])` tuples."""
    width = 4 if version >= 3 else 3
    return [
        (
            None if flat[i] < 0 else built[flat[i]],
            flat[i + 1],
            flat[i + 2],
            flat[i + 3] if version >= 3 else (i // width, 0),
        )
        for i in range(0, len(flat), width)
    ]


def _ranked(restored: list) -> list:
    """Ranks for partial matches of a snapshot taken before ranks existed (version < 3).

    Their order among partial matches with the same first event is not known any more; the
    order of their events is used instead (exact whenever they differ by the events taken).
    """
    restored = sorted(restored, key=lambda sp: lineage_key(sp[1]))
    return [(state, pm[:3] + ((i, 0),)) for i, (state, pm) in enumerate(restored)]
