"""The compiler: a pattern's stages -> the NFA graph (`cep.graph`) with TAKE / IGNORE / PROCEED edges.

The compiler walks the pattern from its last stage back to the first, as Flink's NFACompiler
does, so the graph (and therefore every match, duplicate and timeout) is the one Flink builds.
Looping stages get a looping state plus a separate "ignore" state, optional stages get an
alternative branch without the PROCEED edge, `not_followed_by` becomes PROCEED edges into a STOP
state (or a PENDING state before the end, when a window is set), and greedy stages guard the
following state's edges with "and not take". `_freeze` then compiles every edge's condition and
hands the graph over as a read-only `Nfa`.

A little over 450 lines for a reason: `_Compiler` is one backward walk whose methods call each
other (stages, loops, groups, negations share the walk's position); split over files, one
algorithm would be read in pieces.
"""

from __future__ import annotations

from typing import Any

from cep.aftermatch import AfterMatchSkipStrategy
from cep.conditions import And, Condition, Const, Negate, Opaque, referenced_stages
from cep.errors import MalformedPatternError
from cep.graph import FINAL, IGNORE, NORMAL, PENDING, PROCEED, STOP, TAKE, Nfa, State, proceeds_to_final
from cep.pattern import END_STATE_NAME, Pattern
from cep.quantifier import Contiguity, Property

__all__ = ["compile_pattern"]

TRUE = Const(True)


def compile_pattern(pattern: Pattern) -> Nfa:
    """Compile the pattern ending with stage `pattern` into a frozen `Nfa`.

    Raises
    ------
    MalformedPatternError
        For what can only be checked on the whole pattern: a skip strategy naming an unknown
        stage, or a pattern ending in `not_followed_by` without `within`.
    """
    if not isinstance(pattern, Pattern):
        raise MalformedPatternError(f"expected a Pattern, got {pattern!r}")
    return _Compiler(pattern).compile()


class _Compiler:
    def __init__(self, last: Pattern) -> None:
        self.last = last
        self.current = last
        self.following: Pattern | None = None
        self.group: Pattern | None = None
        self.first_of_loop: dict[int, bool] = {}
        self.states: list[State] = []
        self.stop_states: dict[str, State] = {}
        self.greedy_copies: dict[int, State] = {}
        self.window: int | None = None
        self.state_windows: dict[int, int] = {}  # state id -> PREVIOUS_AND_CURRENT window

    # ------------------------------------------------------------------ driver
    def compile(self) -> Nfa:
        last = self.last
        names = _names(last)
        skip = _first(last).skip_strategy
        if skip.pattern_name is not None and skip.pattern_name not in _top_names(last):
            raise MalformedPatternError(
                f"the skip strategy names {skip.pattern_name!r}, which is not a stage of this pattern "
                f"(stages: {sorted(_top_names(last))})"
            )
        for stage in _all_stages(last):
            for cond in (stage.condition, stage.until_condition):
                unknown = sorted(referenced_stages(cond) - set(names)) if cond is not None else []
                if unknown:
                    raise MalformedPatternError(
                        f"a condition of stage {stage.name!r} uses C.last({unknown[0]!r}, ...), but the "
                        f"pattern has no such stage (stages: {list(names)})"
                    )
        end = self._state(END_STATE_NAME, FINAL)
        self.window = last.window_ms
        sink = self._middle_states(end)
        start = self._convert(sink)
        start.is_start = True
        ends_negated = last.quantifier.contiguity is Contiguity.NOT_FOLLOW
        if ends_negated and not (self.window or last.previous_window_ms):
            # as Flink: the pattern's window (the smallest `within` of any stage) is enough. With
            # it only on an earlier stage, Flink builds no PENDING state for the final negation
            # (`_middle_states` knew only the last stage's window then), and neither do we.
            raise MalformedPatternError(
                f"the pattern ends with not_followed_by({last.name!r}) but has no window: "
                "call .within(...) so the absence can be decided, or end with a positive stage"
            )
        if self.window and any(w > self.window for w in self.state_windows.values()):
            raise MalformedPatternError(
                "a within(..., WithinType.PREVIOUS_AND_CURRENT) window is larger than the pattern's "
                f"first-to-last window ({self.window} ms): make it smaller or drop one of them"
            )
        dedupe = next((s.dedupe_key for s in last.stages() if s.dedupe_key is not None), None)
        if dedupe is not None and not self.window:
            raise MalformedPatternError(
                "dedupe_runs() needs a window: add .within(...) so that runs expire and state stays bounded"
            )
        if dedupe is not None and self.state_windows:
            raise MalformedPatternError(
                "dedupe_runs() cannot be combined with within(..., WithinType.PREVIOUS_AND_CURRENT)"
            )
        windows = tuple(self.state_windows.get(s.sid, 0) for s in self.states) if self.state_windows else ()
        contiguous = all(stage.group is None for stage in _all_stages(last))
        return _freeze(self.states, start, self.window or 0, skip, names, dedupe, windows, contiguous)

    # ------------------------------------------------------------------ states
    def _state(self, name: str, kind: str) -> State:
        state = State(len(self.states), name, kind)
        self.states.append(state)
        return state

    def _take_state(self, stage: Pattern, kind: str) -> State:
        """A state that takes `stage`'s event: where Flink attaches a PREVIOUS_AND_CURRENT window.

        Flink does so only for a stage without `times` (a quantified stage's window comes from
        `times(..., window)`, which this API does not have), and never to copies of a state.
        """
        state = self._state(stage.name, kind)
        if stage.repeat is None and stage.previous_window_ms:
            self.state_windows[state.sid] = stage.previous_window_ms
        return state

    def _stop_state(self, cond: Condition, name: str) -> State:
        stop = self.stop_states.get(name)
        if stop is None:
            stop = self._state(name, STOP)
            stop.add(TAKE, None, cond)
            self.stop_states[name] = stop
        return stop

    def _middle_states(self, sink: State) -> State:
        while self.current.previous is not None:
            cur = self.current
            contiguity = cur.quantifier.contiguity
            if contiguity is Contiguity.NOT_FOLLOW:
                if (self.window or cur.previous_window_ms) and sink.kind == FINAL:
                    pending = self._take_state(cur, PENDING)
                    not_cond = self._take_cond(cur)
                    stop = self._stop_state(not_cond, cur.name)
                    pending.add(PROCEED, stop, not_cond)
                    pending.add(IGNORE, None, Negate(not_cond))
                    sink = pending
                # otherwise it becomes PROCEED-to-STOP edges on the states before it
            elif contiguity is Contiguity.NOT_NEXT:
                not_next = self._take_state(cur, NORMAL)
                not_cond = self._take_cond(cur)
                stop = self._stop_state(not_cond, cur.name)
                if sink.kind == FINAL:
                    not_next.add(IGNORE, sink, Negate(not_cond))
                else:
                    not_next.add(PROCEED, sink, Negate(not_cond))
                not_next.add(PROCEED, stop, not_cond)
                sink = not_next
            else:
                sink = self._convert(sink)
            self.following = cur
            self.current = cur.previous
            w = self.current.window_ms
            if w is not None and (self.window is None or w < self.window):
                self.window = w
        return sink

    def _convert(self, sink: State) -> State:
        cur = self.current
        q = cur.quantifier
        if q.has(Property.LOOPING):
            self._set_first_of_loop(False)
            looping = self._looping(self._copy_without_nots(sink))
            self._set_first_of_loop(True)
            last = self._times(looping, sink, cur.repeat)
        elif q.has(Property.TIMES):
            last = self._times(sink, sink, cur.repeat)
        else:
            last = self._singleton(
                sink, sink, self._take_cond(cur), self._ignore_cond(cur), q.has(Property.OPTIONAL)
            )
        self._add_stop_states(last)
        return last

    def _times(self, sink: State, proceed: State, times: Any) -> State:
        cur = self.current
        last = sink
        self._set_first_of_loop(False)
        until = cur.until_condition
        inner_ignore = _extend_until(self._inner_ignore_cond(cur), until, False)
        take = _extend_until(self._take_cond(cur), until, True)
        if cur.quantifier.has(Property.GREEDY) and times.low != times.high:
            if until is not None:
                self.greedy_copies[id(sink)] = self._copy(sink)
            _guard_greedy(sink, take)
        for _ in range(times.low, times.high):
            last = self._singleton(last, proceed, take, inner_ignore, True)
            self._add_stop_to_looping(last)
        for _ in range(times.low - 1):
            last = self._singleton(last, None, take, inner_ignore, False)
            self._add_stop_to_looping(last)
        self._set_first_of_loop(True)
        return self._singleton(
            last, proceed, take, self._ignore_cond(cur), cur.quantifier.has(Property.OPTIONAL)
        )

    def _singleton(
        self,
        sink: State,
        proceed: State | None,
        take: Condition | None,
        ignore: Condition | None,
        optional: bool,
    ) -> State:
        cur = self.current
        if cur.group is not None:
            return self._group_states(cur, sink, proceed, optional)
        state = self._take_state(cur, NORMAL)
        target = self._copy_without_nots(sink)
        state.add(TAKE, target, take if take is not None else TRUE)
        proceed_cond = self._true_cond()
        if optional and proceed is not None:
            if cur.quantifier.has(Property.GREEDY):
                until = cur.until_condition
                if until is not None and id(proceed) in self.greedy_copies:
                    state.add(PROCEED, self.greedy_copies[id(proceed)], And((proceed_cond, until)))
                state.add(
                    PROCEED,
                    proceed,
                    And((proceed_cond, Negate(until))) if until is not None else proceed_cond,
                )
            else:
                state.add(PROCEED, proceed, proceed_cond)
        if ignore is not None:
            if optional or self._is_head_of_optional_group(cur):
                ignore_state = self._state(cur.name, NORMAL)
                ignore_state.add(TAKE, target, take if take is not None else TRUE)
                ignore_state.add(IGNORE, None, ignore)
                self._add_stop_states(ignore_state)
            else:
                ignore_state = state
            state.add(IGNORE, ignore_state, ignore)
        return state

    def _looping(self, sink: State) -> State:
        cur = self.current
        if cur.group is not None:
            return self._looping_group_states(cur, sink)
        until = cur.until_condition
        ignore = _extend_until(self._inner_ignore_cond(cur), until, False)
        take = _extend_until(self._take_cond(cur), until, True)
        proceed_cond = self._true_cond()
        looping = self._state(cur.name, NORMAL)
        if cur.quantifier.has(Property.GREEDY):
            if until is not None:
                copy = self._copy(sink)
                looping.add(PROCEED, copy, And((proceed_cond, until)))
                self.greedy_copies[id(sink)] = copy
            looping.add(
                PROCEED, sink, And((proceed_cond, Negate(until))) if until is not None else proceed_cond
            )
            _guard_greedy(sink, self._take_cond(cur))
        else:
            looping.add(PROCEED, sink, proceed_cond)
        looping.add(TAKE, None, take if take is not None else TRUE)
        self._add_stop_to_looping(looping)
        if ignore is not None:
            ignore_state = self._state(cur.name, NORMAL)
            ignore_state.add(TAKE, looping, take if take is not None else TRUE)
            ignore_state.add(IGNORE, None, ignore)
            looping.add(IGNORE, ignore_state, ignore)
            self._add_stop_to_looping(ignore_state)
        return looping

    def _group_states(self, group: Pattern, sink: State, proceed: State | None, optional: bool) -> State:
        proceed_cond = self._true_cond()
        saved = (self.current, self.following, self.group)
        self.group = group
        self.current = group.group  # type: ignore[assignment]
        last = self._middle_states(sink)
        last = self._convert(last)
        if optional and proceed is not None:
            last.add(PROCEED, proceed, proceed_cond)
        self.current, self.following, self.group = saved
        return last

    def _looping_group_states(self, group: Pattern, sink: State) -> State:
        proceed_cond = self._true_cond()
        saved = (self.current, self.following, self.group)
        dummy = self._state(group.name, NORMAL)
        self.group = group
        self.current = group.group  # type: ignore[assignment]
        last = self._middle_states(dummy)
        last = self._convert(last)
        last.add(PROCEED, sink, proceed_cond)
        dummy.add(PROCEED, last, proceed_cond)
        self.current, self.following, self.group = saved
        return last

    # ------------------------------------------------------------------ copies
    def _copy(self, state: State) -> State:
        copy = self._state(state.name, state.kind)
        for e in state.edges:
            copy.add(e.action, copy if e.target is state else e.target, e.spec)
        return copy

    def _copy_without_nots(self, sink: State) -> State:
        nots = self._current_not_conditions()
        if not nots or not self.current.quantifier.has(Property.OPTIONAL):
            return sink
        not_names = {name for _, name in nots}
        copy = self._state(sink.name, sink.kind)
        for e in sink.edges:
            if e.action == PROCEED:
                target = e.target
                if target.kind == STOP:
                    if target.name in not_names:
                        continue
                else:
                    target = self._copy_without_nots(target)
                copy.add(e.action, target, e.spec)
            else:
                copy.add(e.action, copy if e.target is sink else e.target, e.spec)
        return copy

    # ------------------------------------------------------------------ negations
    def _current_not_conditions(self) -> list[tuple[Condition, str]]:
        found = []
        p = self.current
        while p.previous is not None and (
            p.previous.quantifier.has(Property.OPTIONAL)
            or p.previous.quantifier.contiguity is Contiguity.NOT_FOLLOW
        ):
            p = p.previous
            if p.quantifier.contiguity is Contiguity.NOT_FOLLOW:
                found.append((self._take_cond(p), p.name))
        return found

    def _add_stop_states(self, state: State) -> None:
        for cond, name in self._current_not_conditions():
            state.add(PROCEED, self._stop_state(cond, name), cond)

    def _add_stop_to_looping(self, state: State) -> None:
        f = self.following
        if f is not None and f.quantifier.contiguity is Contiguity.NOT_FOLLOW:
            cond = self._take_cond(f)
            state.add(PROCEED, self._stop_state(cond, f.name), cond)

    # ------------------------------------------------------------------ groups
    def _set_first_of_loop(self, value: bool) -> None:
        if self.current.group is not None:
            self.first_of_loop[id(self.current)] = value

    def _is_first_of_loop(self) -> bool:
        return self.first_of_loop.get(id(self.group), True)

    def _head_of_group(self, p: Pattern) -> bool:
        return self.group is not None and p.previous is None

    def _is_head_of_optional_group(self, p: Pattern) -> bool:
        return (
            self._head_of_group(p)
            and self._is_first_of_loop()
            and self.group.quantifier.has(Property.OPTIONAL)  # type: ignore[union-attr]
        )

    # ------------------------------------------------------------------ conditions
    def _group_until(self) -> Condition | None:
        return self.group.until_condition if self.group is not None else None

    def _take_cond(self, p: Pattern) -> Condition:
        cond = p.condition if p.condition is not None else TRUE
        return _extend_until(cond, self._group_until(), True)  # type: ignore[return-value]

    def _true_cond(self) -> Condition:
        return _extend_until(TRUE, self._group_until(), True)  # type: ignore[return-value]

    def _ignore_for(self, contiguity: Contiguity, p: Pattern) -> Condition | None:
        if contiguity is Contiguity.STRICT:
            cond = None
        elif contiguity is Contiguity.RELAXED:
            cond = Negate(p.condition if p.condition is not None else TRUE)
        elif contiguity is Contiguity.NONDETERMINISTIC:
            cond = TRUE
        else:  # negations never reach here
            cond = None
        return _extend_until(cond, self._group_until(), False)

    def _inner_ignore_cond(self, p: Pattern) -> Condition | None:
        contiguity = p.quantifier.inner
        if self._head_of_group(p):
            contiguity = self.group.quantifier.inner  # type: ignore[union-attr]
        return self._ignore_for(contiguity, p)

    def _ignore_cond(self, p: Pattern) -> Condition | None:
        contiguity = p.quantifier.contiguity
        if self._head_of_group(p):
            g = self.group.quantifier  # type: ignore[union-attr]
            contiguity = g.contiguity if self._is_first_of_loop() else g.inner
        return self._ignore_for(contiguity, p)


def _extend_until(cond: Condition | None, until: Condition | None, is_take: bool) -> Condition | None:
    if until is not None and cond is not None:
        return And((Negate(until), cond))
    if until is not None and is_take:
        return Negate(until)
    return cond


def _guard_greedy(state: State, take: Condition) -> None:
    for e in state.edges:
        e.spec = And((e.spec, Negate(take)))


def _all_stages(last: Pattern) -> list[Pattern]:
    out: list[Pattern] = []
    for s in last.stages():
        out.append(s)
        if s.group is not None:
            out.extend(_all_stages(s.group))
    return out


def _first(last: Pattern) -> Pattern:
    return list(last.stages())[-1]


def _top_names(last: Pattern) -> set[str]:
    return {s.name for s in last.stages()}


def _names(last: Pattern) -> tuple[str, ...]:
    out: list[str] = []
    for s in reversed(list(last.stages())):
        out.extend(_names(s.group) if s.group is not None else [s.name])
    return tuple(out)


def _simplify(spec: Condition) -> Condition:
    if isinstance(spec, And):
        items = [i for i in spec.items if not (isinstance(i, Const) and i.value)]
        if len(items) == len(spec.items):
            return spec
        if not items:
            return TRUE
        return items[0] if len(items) == 1 else And(items)
    return spec


def _freeze(
    states: list[State],
    start: State,
    window_ms: int,
    skip: AfterMatchSkipStrategy,
    names: tuple[str, ...],
    dedupe_key: Any,
    state_windows: tuple[int, ...] = (),
    contiguous_stages: bool = False,
) -> Nfa:
    for s in states:
        for e in s.edges:
            e.spec = _simplify(e.spec)
            is_true = isinstance(e.spec, Const) and e.spec.value
            if is_true:
                e.cond = None
            elif isinstance(e.spec, Opaque) and e.spec.arity == 2:
                e.cond = e.spec.fn  # a user's (event, ctx) callable needs no wrapper
            else:
                e.cond = e.spec.compile()
        s.edges = tuple(s.edges)
    for s in states:
        s.reaches_final = proceeds_to_final(s)
    return Nfa(tuple(states), start, window_ms, skip, names, dedupe_key, state_windows, contiguous_stages)
