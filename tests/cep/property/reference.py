"""A brute-force reference matcher for a precisely defined subset of Flink CEP patterns.

It exists to check `cep.Matcher` by enumeration, so it is written to be obviously correct rather
than fast: it lists every candidate tuple of event positions and keeps those that satisfy the
definition below, word for word. It is *not* an automaton.

The subset
----------
A pattern is a list of stages ``S_1 .. S_k`` (``1 <= k``). Stage ``i`` has

- a name and a condition ``c_i`` on a single event (no context, no iteration);
- a contiguity to the previous stage (ignored for ``S_1``): ``strict`` (``next``), ``relaxed``
  (``followed_by``) or ``any`` (``followed_by_any``);
- a count ``n_i >= 1`` (``times(n_i)`` when ``n_i > 1``) and, when ``n_i > 1``, an inner contiguity
  between its own events: ``strict`` (``consecutive()``), ``relaxed`` (the default) or ``any``
  (``allow_combinations()``);
- a flag ``optional`` (``optional()``), never on ``S_1``.

The pattern may have a window ``within(w)`` and uses ``no_skip`` or ``skip_past_last_event``.

Expand the stages into *slots*: stage ``i`` gives ``n_i`` consecutive slots, all with condition
``c_i``; the first of them has the stage's contiguity, the others its inner contiguity. Choose a
set of present stages (every non-optional stage, any subset of the optional ones) and keep the
slots of present stages: ``s_1 .. s_m``.

Given a stream ``e_0 .. e_{N-1}`` (fed in timestamp order, ties in feed order), a **match** is such
a choice together with positions ``p_1 < p_2 < ... < p_m`` such that

1. every ``e_{p_j}`` satisfies the condition of ``s_j``;
2. for ``j >= 2``, depending on the contiguity of ``s_j``:
   ``strict``: ``p_j == p_{j-1} + 1``; ``relaxed``: no event strictly between ``p_{j-1}`` and
   ``p_j`` satisfies the condition of ``s_j`` (``e_{p_j}`` is the *first* one after ``p_{j-1}``);
   ``any``: no further constraint;
3. with a window ``w``: ``ts(e_{p_m}) - ts(e_{p_1}) < w``.

A skipped optional stage imposes nothing: the next present slot keeps its own contiguity, now
relative to the previous *present* slot. (This is Flink's compiled behaviour: an optional stage
may be skipped only at the first event after the previous stage, where the run proceeds into the
next stage and applies that stage's own contiguity; checked against Flink's own results in
``test_reference_vs_flink.py``.)

``no_skip`` emits every match once, so the result is the multiset of all matches. For
``skip_past_last_event`` the subset is further restricted to patterns with no ``any`` contiguity
and no optional stage (then each start position has at most one match, so Flink's emission order
is fully determined), and the stream is assumed to end with no partial match left that started
before a completed one (the property tests always use a window and advance time past it at the
end; Flink holds a completed match back while an earlier-started partial match lives).
Flink emits completed matches in order of their first event and, after emitting a match, drops
every partial or completed match whose first event is at or before the emitted match's last event.
So the result is: repeatedly take the match with the smallest first position among those left,
then discard every match whose first position ``<=`` its last position.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

STRICT = "strict"
RELAXED = "relaxed"
ANY = "any"
CONTIGUITIES = (STRICT, RELAXED, ANY)

NO_SKIP = "no_skip"
SKIP_PAST_LAST_EVENT = "skip_past_last_event"

Predicate = Callable[[Any], bool]
#: A match in canonical form: ((stage name, (event id, ...)), ...) in stage order, present stages only.
CanonicalMatch = tuple


@dataclass(frozen=True)
class Stage:
    """One stage of a pattern in the subset (see the module docstring)."""

    name: str
    condition: Predicate
    contiguity: str = RELAXED
    times: int = 1
    inner: str = RELAXED
    optional: bool = False


@dataclass(frozen=True)
class PatternSpec:
    """A pattern in the subset: stages, an optional window in ms, and a skip strategy."""

    stages: tuple
    within_ms: Optional[int] = None
    skip: str = NO_SKIP
    names: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(s.name for s in self.stages))
        if not self.stages:
            raise ValueError("a pattern needs at least one stage")
        if self.skip not in (NO_SKIP, SKIP_PAST_LAST_EVENT):
            raise ValueError(f"skip strategy {self.skip!r} is outside the subset")
        if self.stages[0].optional:
            raise ValueError("the first stage cannot be optional in this subset")
        if self.skip == SKIP_PAST_LAST_EVENT:
            uses_any = any(
                s.contiguity == ANY or (s.times > 1 and s.inner == ANY) for s in self.stages[1:]
            ) or (self.stages[0].times > 1 and self.stages[0].inner == ANY)
            if uses_any or any(s.optional for s in self.stages):
                raise ValueError("skip_past_last_event is defined here only without `any` and optional")


@dataclass(frozen=True)
class _Slot:
    stage: str
    condition: Predicate
    contiguity: str


def _slots(stages: Sequence[Stage]) -> list:
    slots = []
    for stage in stages:
        for k in range(stage.times):
            slots.append(_Slot(stage.name, stage.condition, stage.contiguity if k == 0 else stage.inner))
    return slots


def _is_match(
    slots: Sequence[_Slot],
    positions: Sequence[int],
    events: Sequence,
    timestamps: Sequence[int],
    within_ms: Optional[int],
) -> bool:
    """Rules 1-3 of the module docstring, checked literally."""
    for slot, pos in zip(slots, positions):
        if not slot.condition(events[pos]):
            return False
    for j in range(1, len(slots)):
        prev, cur, slot = positions[j - 1], positions[j], slots[j]
        if slot.contiguity == STRICT and cur != prev + 1:
            return False
        if slot.contiguity == RELAXED and any(slot.condition(events[q]) for q in range(prev + 1, cur)):
            return False
    return within_ms is None or timestamps[positions[-1]] - timestamps[positions[0]] < within_ms


def all_matches(
    spec: PatternSpec, events: Sequence, timestamps: Sequence[int], event_id: Callable[[Any], Any]
) -> list:
    """Every match (rules 1-3) as ``(first position, last position, canonical match)``, in no set order."""
    optional_idx = [i for i, s in enumerate(spec.stages) if s.optional]
    found = []
    for present_optional in itertools.product((False, True), repeat=len(optional_idx)):
        present = [not s.optional for s in spec.stages]
        for i, flag in zip(optional_idx, present_optional):
            present[i] = flag
        slots = _slots([s for s, keep in zip(spec.stages, present) if keep])
        for positions in itertools.combinations(range(len(events)), len(slots)):
            if _is_match(slots, positions, events, timestamps, spec.within_ms):
                found.append((positions[0], positions[-1], _canonical(slots, positions, events, event_id)))
    return found


def _canonical(
    slots: Sequence[_Slot], positions: Sequence[int], events: Sequence, event_id: Callable[[Any], Any]
) -> CanonicalMatch:
    grouped: dict = {}
    for slot, pos in zip(slots, positions):
        grouped.setdefault(slot.stage, []).append(event_id(events[pos]))
    return tuple((name, tuple(ids)) for name, ids in grouped.items())


def reference_matches(
    spec: PatternSpec, events: Sequence, timestamps: Sequence[int], event_id: Callable[[Any], Any]
) -> Counter:
    """The multiset of canonical matches the pattern must emit on this stream."""
    found = all_matches(spec, events, timestamps, event_id)
    if spec.skip == NO_SKIP:
        return Counter(m for _, _, m in found)
    left = sorted(found, key=lambda f: f[0])
    emitted: Counter = Counter()
    while left:
        first, last, match = left[0]
        emitted[match] += 1
        left = [f for f in left if f[0] > last]
    return emitted


def canonical_from_engine(
    match: dict, names: Sequence[str], event_id: Callable[[Any], Any]
) -> CanonicalMatch:
    """Turn a `Matcher` match (``{name: [events]}``) into the reference's canonical form."""
    unknown = set(match) - set(names)
    if unknown:
        raise AssertionError(f"match names {sorted(unknown)} are not stages of the pattern {list(names)}")
    return tuple((name, tuple(event_id(e) for e in match[name])) for name in names if match.get(name))
