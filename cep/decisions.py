"""Per-state analysis and the decision graph: which edges an event enables in a state.

Read-only over the compiled graph (`cep.graph`): `StateInfo` caches, once per compiled NFA, what
the run's shortcuts need to know about each state (its wake condition, its index, whether it is
a plain `followed_by` state); `enabled_edges` and `final_after_proceed` follow PROCEED edges as
Flink's NFA does. The run (`cep.runtime`) decides what to do with the enabled edges.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from cep.analysis import index_residual, index_spec, wake_condition
from cep.conditions import Const, Negate
from cep.context import Context
from cep.graph import FINAL, IGNORE, PENDING, PROCEED, STOP, TAKE, Nfa, State

__all__ = ["StateInfo", "enabled_edges", "final_after_proceed", "infos_for", "only_stays"]


class StateInfo:
    """What the run's shortcuts know about one state (see `cep.runtime`)."""

    __slots__ = (
        "index", "index_take", "is_pending", "only_take", "sid", "simple", "state", "wake", "wake_key",
    )

    def __init__(self, state: State, use_shortcuts: bool) -> None:
        self.state = state
        self.sid = state.sid
        # the state's one edge when it is a TAKE (a start state's usual shape): no decision graph
        edges = state.edges
        self.only_take = edges[0] if len(edges) == 1 and edges[0].action == TAKE else None
        wake = wake_condition(state) if use_shortcuts else None
        self.wake: Optional[Callable[..., bool]] = wake.compile() if wake is not None else None
        # what the wake condition is (declarative, so its repr says it): equal keys, equal answers
        self.wake_key: Optional[str] = repr(wake) if wake is not None else None
        self.index = index_spec(state) if use_shortcuts else None
        self.is_pending = state.kind == PENDING
        self.simple = simple_transition(state) if use_shortcuts else None
        # a simple indexed state's TAKE condition without the index's equality (`index_residual`):
        # asked of the partial matches found under the event's value, often once for all of them
        self.index_take: Optional[Callable[..., bool]] = None
        if self.index is not None and self.simple is not None and state.edges[0].spec is not None:
            self.index_take = index_residual(state.edges[0].spec, self.index).compile()


def simple_transition(state: State) -> Optional[tuple]:
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


def infos_for(nfa: Nfa, use_shortcuts: bool) -> list[StateInfo]:
    """Per-state analysis, computed once per compiled NFA and shared by every key's run."""
    cache = nfa.__dict__.setdefault("_runtime_infos", {})
    infos = cache.get(use_shortcuts)
    if infos is None:
        infos = cache[use_shortcuts] = [StateInfo(s, use_shortcuts) for s in nfa.states]
    return infos


def only_stays(enabled: list, state: State) -> bool:
    """Whether the enabled edges are just `state`'s IGNORE back to itself."""
    return len(enabled) == 1 and enabled[0].action == IGNORE and enabled[0].target is state


def enabled_edges(state: State, event: Any, ctx: Context) -> list:
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


def final_after_proceed(state: State, event: Any, ctx: Context) -> bool:
    stack = [state]
    while stack:
        s = stack.pop()
        for e in s.edges:
            if e.action == PROCEED and (e.cond is None or e.cond(event, ctx)):
                if e.target.kind == FINAL:
                    return True
                stack.append(e.target)
    return False
