"""After-match skip strategies: which partial matches to discard once a match is emitted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from cep.errors import CepError

__all__ = [
    "NO_SKIP", "SKIP_KINDS", "SKIP_PAST_LAST_EVENT", "SKIP_TO_FIRST", "SKIP_TO_LAST", "SKIP_TO_NEXT",
    "AfterMatchSkipStrategy",
]

# The strategy kinds: named strings (also the `kind` of a serialized pattern's `skip`, so their
# values are part of the format).
NO_SKIP = "no_skip"
SKIP_TO_NEXT = "skip_to_next"
SKIP_PAST_LAST_EVENT = "skip_past_last_event"
SKIP_TO_FIRST = "skip_to_first"
SKIP_TO_LAST = "skip_to_last"
SKIP_KINDS = (NO_SKIP, SKIP_TO_NEXT, SKIP_PAST_LAST_EVENT, SKIP_TO_FIRST, SKIP_TO_LAST)
_PRUNE_AT_PRUNING = (SKIP_TO_NEXT, SKIP_PAST_LAST_EVENT)  # also discard what starts at the pruning event

# An event's position in the stream: (timestamp, feed sequence number).
EventPos = tuple


@dataclass(frozen=True)
class AfterMatchSkipStrategy:
    """Flink's AfterMatchSkipStrategy; build one with the static constructors.

    Partial matches are identified by their first event; after a match is emitted, the strategy
    names a "pruning" event and discards partial (and pending complete) matches that started
    before it (or at it, for `skip_to_next` and `skip_past_last_event`).
    """

    kind: str = NO_SKIP
    pattern_name: Optional[str] = None
    throw_on_miss: bool = False

    @staticmethod
    def no_skip() -> AfterMatchSkipStrategy:
        """Keep every partial match: all possible matches are emitted."""
        return AfterMatchSkipStrategy(NO_SKIP)

    @staticmethod
    def skip_to_next() -> AfterMatchSkipStrategy:
        """Discard partial matches that started with the match's first event (or before it)."""
        return AfterMatchSkipStrategy(SKIP_TO_NEXT)

    @staticmethod
    def skip_past_last_event() -> AfterMatchSkipStrategy:
        """Discard partial matches that started at or before the match's last event."""
        return AfterMatchSkipStrategy(SKIP_PAST_LAST_EVENT)

    @staticmethod
    def skip_to_first(name: str) -> AfterMatchSkipStrategy:
        """Discard partial matches that started before the first event matched to `name`."""
        return AfterMatchSkipStrategy(SKIP_TO_FIRST, name)

    @staticmethod
    def skip_to_last(name: str) -> AfterMatchSkipStrategy:
        """Discard partial matches that started before the last event matched to `name`."""
        return AfterMatchSkipStrategy(SKIP_TO_LAST, name)

    def throw_exception_on_miss(self) -> AfterMatchSkipStrategy:
        """For skip_to_first/last: raise when the match has no event for the named pattern."""
        if self.pattern_name is None:
            raise CepError("throw_exception_on_miss() applies only to skip_to_first/skip_to_last")
        return AfterMatchSkipStrategy(self.kind, self.pattern_name, True)

    @property
    def is_skip(self) -> bool:
        return self.kind != NO_SKIP

    def pruning_pos(self, match: dict[str, list[EventPos]]) -> EventPos | None:
        """The event position that decides what to discard after `match` (names -> positions)."""
        if self.kind == NO_SKIP:
            return None
        everything = [p for positions in match.values() for p in positions]
        if self.kind == SKIP_TO_NEXT:
            return min(everything)
        if self.kind == SKIP_PAST_LAST_EVENT:
            return max(everything)
        positions = match.get(self.pattern_name or "", [])
        if not positions:
            if self.throw_on_miss:
                raise CepError(f"could not skip to {self.pattern_name!r}: no such element in the match")
            return None
        pos = positions[0] if self.kind == SKIP_TO_FIRST else positions[-1]
        if self.throw_on_miss and pos == min(everything):
            raise CepError("could not skip to the first element of a match (it would loop forever)")
        return pos

    def should_prune(self, start: EventPos, pruning: EventPos) -> bool:
        """Whether a partial match starting at `start` is discarded for pruning position `pruning`."""
        if self.kind in _PRUNE_AT_PRUNING:
            return start <= pruning
        return start < pruning
