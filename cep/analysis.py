"""Static analysis of patterns and compiled NFAs: what events can matter, and to which states.

- `prefilter(pattern)`: one declarative condition every event that can change a match or a
  timeout must satisfy (an Emberwatch extension; Flink has no such thing).
- `wake_condition(state)`: events failing it leave a partial match in that state unchanged.
- `index_spec(state)`: the equality `field == C.last(stage, field)` a state's partial matches
  wait on, so the matcher can look them up by the event's value instead of trying them all.

Every result here is conservative: None means "cannot prove anything, look at every event".
"""

from __future__ import annotations

from typing import Optional

from cep.conditions import And, Compare, Condition, Const, Negate, Or, Ref
from cep.graph import FINAL, IGNORE, PROCEED, STOP, TAKE, State
from cep.pattern import Pattern
from cep.quantifier import Contiguity, Property

__all__ = ["IndexSpec", "index_residual", "index_spec", "prefilter", "wake_condition"]

IndexSpec = tuple  # (event field, referenced stage name, referenced field)


def prefilter(pattern: Pattern) -> Optional[Condition]:
    """A condition every event that could change a match or a timeout satisfies, or None.

    The result is the OR, over all stages, of each stage condition's declarative necessary part
    (the field comparisons ANDed into it; lambdas, `C.last(...)` references and `subtype` are
    dropped from conjunctions). Dropping every event that fails it never changes any match or
    timeout, because such an event fails every stage condition, and in the patterns accepted
    here an event that fails every condition only makes partial matches skip it (relaxed or
    non-deterministic contiguity), which leaves them exactly as they were.

    Returns None, meaning "no event may be dropped", exactly when the pattern has any of:

    - a stage after the first added with `next` (strict contiguity), or `consecutive()`: a
      dropped event would no longer break the match;
    - a negation (`not_next` / `not_followed_by`): the dropped event might be the forbidden one;
    - `until(...)`, or an optional, looping or times stage (`optional`, `one_or_more`,
      `times`, `times_or_more`): in Flink's NFA an event failing every condition still forks
      such partial matches, which changes the number of timeouts reported;
    - a group stage;
    - a stage with no condition, or whose condition has no declarative necessary part (e.g. it
      is only a lambda, a `C.last(...)` comparison or a `subtype`), or whose part is always true.
    """
    parts: list[Condition] = []
    stages = list(pattern.stages())
    for i, stage in enumerate(stages):
        q = stage.quantifier
        is_first = i == len(stages) - 1
        if stage.group is not None or q.is_negation or stage.until_condition is not None:
            return None
        if not q.has(Property.SINGLE) or q.has(Property.OPTIONAL):
            return None
        if q.contiguity is Contiguity.STRICT and not is_first:
            return None
        if stage.condition is None:
            return None
        part = stage.condition.necessary()
        if part is None:
            return None
        parts.append(part)
    parts.reverse()
    if any(isinstance(p, Const) and p.value for p in parts):
        return None
    return _any_of(parts)


def _any_of(parts: list[Condition]) -> Condition:
    """OR of the parts, each distinct part once (stages often share their declarative part)."""
    unique: dict[str, Condition] = {}
    for part in parts:
        unique.setdefault(repr(part), part)
    items = list(unique.values())
    return items[0] if len(items) == 1 else Or(items)


def _reachable_edges(state: State) -> list:
    """Edges the decision graph of `state` may use (PROCEED followed regardless of conditions)."""
    out = []
    seen = {state.sid}
    stack = [state]
    while stack:
        s = stack.pop()
        for e in s.edges:
            if e.action == PROCEED:
                if e.target.sid not in seen:
                    seen.add(e.target.sid)
                    stack.append(e.target)
            else:
                out.append(e)
    return out


def wake_condition(state: State) -> Optional[Condition]:
    """A declarative condition: events failing it leave a partial match in `state` unchanged.

    Such an event enables no TAKE edge and no IGNORE edge other than the state's own
    self-IGNORE, so the partial match stays as it is. None when no such condition is known.
    """
    if state.kind in (FINAL, STOP):
        return None
    if not state.is_start and not _has_total_self_ignore(state):
        return None  # a failing event would end the partial match, not leave it unchanged
    parts: list[Condition] = []
    for e in _reachable_edges(state):
        if e.action == IGNORE and e.target is state and e.source is state:
            continue
        if e.action == IGNORE and state.is_start:
            continue
        if e.action not in (TAKE, IGNORE):
            continue
        part = e.spec.necessary()
        if part is None:
            return None
        parts.append(part)
    if not parts:
        return None
    return _any_of(parts)


def _has_total_self_ignore(state: State) -> bool:
    """Whether the state's self-IGNORE is enabled whenever none of its TAKE edges is."""
    takes = [e.spec for e in state.edges if e.action == TAKE]
    for e in state.edges:
        if e.action == IGNORE and e.target is state:
            spec = e.spec
            if isinstance(spec, Const) and spec.value:
                return True
            if isinstance(spec, Negate) and any(spec.item is t for t in takes):
                return True
    return False


def _ref_equalities(cond: Condition) -> set:
    items = cond.items if isinstance(cond, And) else (cond,)
    found = set()
    for item in items:
        if isinstance(item, Compare) and item.op == "==" and isinstance(item.value, Ref):
            found.add((item.name, item.value.pattern, item.value.name))
    return found


def index_residual(cond: Condition, index: IndexSpec) -> Condition:
    """`cond` without the equality `index` names (`index_spec`): what is left to ask of a partial
    match found under the event's value, since that equality holds for all of them.

    Only when the looked-up value equals itself: a bucket lookup also finds a key by identity,
    so a value such as NaN, which `==` never matches, must still go through `cond`.
    """
    items = cond.items if isinstance(cond, And) else (cond,)
    rest = [i for i in items if not (isinstance(i, Compare) and i.op == "==" and isinstance(i.value, Ref)
                                      and (i.name, i.value.pattern, i.value.name) == index)]
    if len(rest) == len(items):
        raise ValueError(f"{cond!r} has no equality {index!r}")
    if not rest:
        return Const(True)
    return rest[0] if len(rest) == 1 else And(rest)


def index_spec(state: State) -> Optional[IndexSpec]:
    """The `(field, stage, ref_field)` equality every TAKE of `state` requires, if any.

    Only for non-start states whose only other enabled edge is the self-IGNORE: a partial match
    whose key (ref_field of the last event of `stage`) differs from the event's `field` can then
    neither take nor leave, so it need not be looked at.
    """
    if state.is_start or state.kind in (FINAL, STOP) or not _has_total_self_ignore(state):
        return None
    common: Optional[set] = None
    for e in _reachable_edges(state):
        if e.action == IGNORE and e.target is state and e.source is state:
            continue
        if e.action != TAKE:
            return None
        eqs = _ref_equalities(e.spec)
        common = eqs if common is None else common & eqs
        if not common:
            return None
    if not common:
        return None
    # a state that PROCEEDs elsewhere could change without taking: be conservative
    if any(e.action == PROCEED for e in state.edges):
        return None
    return sorted(common)[0]
