"""What a condition sees while the run examines a partial match: `Context`.

Apart from the run because it is the API conditions are written against (Flink's
`IterativeCondition.Context`), while the run is free to change how it stores partial matches.
The accessors walk buffer nodes (`cep.buffer`); they run inside conditions, once per partial
match, so they read the node fields by literal index: `node[0]` is `NODE_STAGE`, `node[1]`
`NODE_EVENT`, `node[4]` `NODE_PREVIOUS`.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from cep.buffer import Node
from cep.condition_codegen import get_field

__all__ = ["Context", "wall_clock_ms"]


def wall_clock_ms() -> int:
    """The wall clock in ms: the default processing-time clock, as Flink's."""
    return int(time.time() * 1000)


class Context:
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
        clock: Callable[[], int] = wall_clock_ms,
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

    def any_accepted(self, field: str, value: Any) -> bool:
        """Whether an event accepted so far has `field` equal to `value` (`C.unseen`): the buffer
        walked newest first, without building the list `accepted_events` returns."""
        self.used = True
        node = self.node
        while node is not None:
            event = node[1]
            if (event.get(field) if type(event) is dict else get_field(event, field)) == value:
                return True
            node = node[4]
        return False

    def last_event(self, name: str) -> Any:
        """The newest event accepted for stage `name`, or None."""
        self.used = True
        node = self.node
        while node is not None:
            if node[0] == name:
                return node[1]
            node = node[4]
        return None
