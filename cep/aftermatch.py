"""After-match skip strategies: which partial matches to discard once a match is emitted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from cep.errors import CepError

__all__ = ["AfterMatchSkipStrategy"]

# An event's position in the stream: (timestamp, feed sequence number).
EventPos = tuple


@dataclass(frozen=True)
class AfterMatchSkipStrategy:
    """Flink's AfterMatchSkipStrategy; build one with the static constructors.

    Partial matches are identified by their first event; after a match is emitted, the strategy
    names a "pruning" event and discards partial (and pending complete) matches that started
    before it (or at it, for `skip_to_next` and `skip_past_last_event`).
    """

    kind: str = "no_skip"
    pattern_name: Optional[str] = None
    throw_on_miss: bool = False

    @staticmethod
    def no_skip() -> AfterMatchSkipStrategy:
        """Keep every partial match: all possible matches are emitted."""
        return AfterMatchSkipStrategy("no_skip")

    @staticmethod
    def skip_to_next() -> AfterMatchSkipStrategy:
        """Discard partial matches that started with the match's first event (or before it)."""
        return AfterMatchSkipStrategy("skip_to_next")

    @staticmethod
    def skip_past_last_event() -> AfterMatchSkipStrategy:
        """Discard partial matches that started at or before the match's last event."""
        return AfterMatchSkipStrategy("skip_past_last_event")

    @staticmethod
    def skip_to_first(name: str) -> AfterMatchSkipStrategy:
        """Discard partial matches that started before the first event matched to `name`."""
        return AfterMatchSkipStrategy("skip_to_first", name)

    @staticmethod
    def skip_to_last(name: str) -> AfterMatchSkipStrategy:
        """Discard partial matches that started before the last event matched to `name`."""
        return AfterMatchSkipStrategy("skip_to_last", name)

    def throw_exception_on_miss(self) -> AfterMatchSkipStrategy:
        """For skip_to_first/last: raise when the match has no event for the named pattern."""
        if self.pattern_name is None:
            raise CepError("throw_exception_on_miss() applies only to skip_to_first/skip_to_last")
        return AfterMatchSkipStrategy(self.kind, self.pattern_name, True)

    @property
    def is_skip(self) -> bool:
        return self.kind != "no_skip"

    def pruning_pos(self, match: dict[str, list[EventPos]]) -> EventPos | None:
        """The event position that decides what to discard after `match` (names -> positions)."""
        if self.kind == "no_skip":
            return None
        everything = [p for positions in match.values() for p in positions]
        if self.kind == "skip_to_next":
            return min(everything)
        if self.kind == "skip_past_last_event":
            return max(everything)
        positions = match.get(self.pattern_name or "", [])
        if not positions:
            if self.throw_on_miss:
                raise CepError(f"could not skip to {self.pattern_name!r}: no such element in the match")
            return None
        pos = positions[0] if self.kind == "skip_to_first" else positions[-1]
        if self.throw_on_miss and pos == min(everything):
            raise CepError("could not skip to the first element of a match (it would loop forever)")
        return pos

    def should_prune(self, start: EventPos, pruning: EventPos) -> bool:
        """Whether a partial match starting at `start` is discarded for pruning position `pruning`."""
        if self.kind in ("skip_to_next", "skip_past_last_event"):
            return start <= pruning
        return start < pruning
