"""The NFA graph: states, edges, and the compiled, read-only `Nfa` of one pattern.

Edge actions (Flink's `StateTransitionAction`), named int constants compared in the run's hot
loops (an `IntEnum` member costs an attribute lookup and a slower comparison there):

- TAKE consumes the event into the partial match and moves to the target state;
- IGNORE skips the event and moves to the target (often the state itself);
- PROCEED is an epsilon move, followed while the event is being examined.

State kinds, named string constants (the strings are part of the graph's fingerprint, which
snapshots store, so they stay as they are): NORMAL, FINAL (a complete match), STOP (a
`not_followed_by` that discards the path) and PENDING (a final `not_followed_by` that completes
when the window closes). `cep.compiler` builds the graph from a pattern; once built it is frozen:
states and edges are read-only and per-key data lives in the run (`cep.runtime`).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Callable, Optional

from cep.aftermatch import AfterMatchSkipStrategy
from cep.conditions import Condition

__all__ = [
    "ACTION_NAMES", "FINAL", "IGNORE", "NORMAL", "PENDING", "PROCEED", "STOP", "TAKE",
    "Edge", "Nfa", "State", "proceeds_to_final",
]

# edge actions
TAKE, IGNORE, PROCEED = 0, 1, 2
ACTION_NAMES = {TAKE: "TAKE", IGNORE: "IGNORE", PROCEED: "PROCEED"}

# state kinds
NORMAL, FINAL, STOP, PENDING = "normal", "final", "stop", "pending"


class Edge:
    """One transition. `cond` is the compiled callable (None = always), `spec` its description."""

    __slots__ = ("action", "cond", "source", "spec", "target")

    def __init__(self, action: int, source: State, target: State, spec: Condition) -> None:
        self.action = action
        self.source = source
        self.target = target
        self.spec = spec
        self.cond: Optional[Callable[[Any, Any], bool]] = None

    def __repr__(self) -> str:
        return f"{ACTION_NAMES[self.action]}({self.source.sid}->{self.target.sid}, {self.spec!r})"


class State:
    """A node of the graph. `name` is the pattern stage name recorded for events taken here."""

    __slots__ = ("edges", "is_start", "kind", "name", "reaches_final", "sid")

    def __init__(self, sid: int, name: str, kind: str) -> None:
        self.sid = sid
        self.name = name
        self.kind = kind
        self.is_start = False
        self.edges: Any = []
        self.reaches_final = False  # a PROCEED path (ignoring conditions) leads to a FINAL state

    def add(self, action: int, target: State | None, spec: Condition) -> None:
        self.edges.append(Edge(action, self, target if target is not None else self, spec))

    def __repr__(self) -> str:
        start = " start" if self.is_start else ""
        return f"State({self.sid} {self.name!r} {self.kind}{start})"


class Nfa:
    """The compiled, read-only automaton of one pattern."""

    def __init__(
        self,
        states: tuple[State, ...],
        start: State,
        window_ms: int,
        skip: AfterMatchSkipStrategy,
        names: tuple[str, ...],
        dedupe_key: Optional[Callable[[Any], Hashable]],
        state_windows: tuple[int, ...] = (),
        contiguous_stages: bool = False,
    ) -> None:
        self.states = states
        self.start = start
        self.window_ms = window_ms
        # per state id: the WithinType.PREVIOUS_AND_CURRENT window of a partial match waiting
        # there, measured from its last event (0: none); empty when the pattern has none
        self.state_windows = state_windows
        self.skip = skip
        self.names = names
        self.dedupe_key = dedupe_key
        # no group stage: a partial match's events of one stage are always next to each other
        # in its buffer (stages only move forward), so a walk may stop after them
        self.contiguous_stages = contiguous_stages

    def fingerprint(self) -> str:
        """A short description of the graph's shape, stored in snapshots to catch pattern changes."""
        parts = []
        for s in self.states:
            edges = ",".join(f"{e.action}>{e.target.sid}:{e.spec!r}" for e in s.edges)
            parts.append(f"{s.sid}:{s.name}:{s.kind}:{int(s.is_start)}[{edges}]")
        windows = f"p{list(self.state_windows)};" if any(self.state_windows) else ""
        return f"w{self.window_ms};{windows}" + ";".join(parts)

    def describe(self) -> str:
        """Readable dump of the graph, for debugging."""
        return "\n".join(f"{s!r}: " + ", ".join(repr(e) for e in s.edges) for s in self.states)



def proceeds_to_final(state: State) -> bool:
    """Whether a PROCEED path (ignoring conditions) leads from `state` to a FINAL state."""
    seen = set()
    stack = [state]
    while stack:
        s = stack.pop()
        for e in s.edges:
            if e.action == PROCEED and e.target.sid not in seen:
                if e.target.kind == FINAL:
                    return True
                seen.add(e.target.sid)
                stack.append(e.target)
    return False
