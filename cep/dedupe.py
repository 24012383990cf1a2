"""Emberwatch's `dedupe_runs` extension (not in Flink): drop a partial match that an
interchangeable live one dominates.

`DedupeMixin` is one part of `cep.runtime.NfaRun` (it reads the run's buckets and keeps its
`frontier`), kept apart so the Flink-semantics run reads without it: the run calls it only when
the pattern set `dedupe_key`.
"""

from __future__ import annotations

from typing import Any

from cep.buffer import PartialMatch, key_sequence_of
from cep.graph import State

__all__ = ["DedupeMixin"]


class DedupeMixin:
    """The `dedupe_runs` verbs of `NfaRun` (attributes are the run's: see `NfaRun.__init__`)."""

    # the run's attributes this part uses (set by `NfaRun.__init__`)
    buckets: list
    infos: list
    dedupe_key: Any
    # (state id, key sequence) -> [(first_ts, last_ts, partial match, bucket key)]; entries of
    # partial matches that moved on are dropped lazily or when they expire
    frontier: dict

    def _dominated(self, state: State, pm: PartialMatch, key_sequence: tuple) -> bool:
        """Emberwatch `dedupe_runs`: is `pm` dominated by an interchangeable live partial match?

        Interchangeable: same state and equal `(stage, key)` sequences. Dominated: the other one
        started later-or-equal and took its last event earlier-or-equal, so it can be extended
        by everything `pm` can, within a window that ends no earlier.
        """
        group = self.frontier.get((state.sid, key_sequence))
        if not group:
            return False
        first, last = pm[1], pm[0][2]
        for i in range(len(group) - 1, -1, -1):
            entry = group[i]
            if entry[0] >= first and entry[1] <= last:
                if self._is_live(state, entry[2], entry[3]):
                    return True
                del group[i]  # it moved on: forget it
        return False

    def _is_live(self, state: State, pm: PartialMatch, key: Any) -> bool:
        bucket = self.buckets[state.sid]
        group = bucket if self.infos[state.sid].index is None else bucket.get(key)
        return group is not None and group.get(id(pm)) is pm

    def _forget(self, sid: int, pm: PartialMatch) -> None:
        """Drop a partial match's dedupe entry (it expired, or moved on long ago)."""
        entry_key = (sid, key_sequence_of(pm[0]))
        group = self.frontier.get(entry_key)
        if group is None:
            return
        for i, entry in enumerate(group):
            if entry[2] is pm:
                del group[i]
                break
        if not group:
            del self.frontier[entry_key]
