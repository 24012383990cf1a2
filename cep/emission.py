"""Complete matches: Flink's processMatchesAccordingToSkipStrategy for a run.

`EmissionMixin` is one part of `cep.runtime.NfaRun` (it reads the run's buckets and its queue of
complete matches), kept apart because what happens after a match (the order matches leave in,
and what an after-match skip strategy prunes) is its own layer over the run's steps.
"""

from __future__ import annotations

from typing import Any, Optional

from cep.buffer import PM_START_SEQ, PM_START_TS, Final, PartialMatch, materialize, node_positions, visit_key

__all__ = ["EmissionMixin"]


class EmissionMixin:
    """The match verbs of `NfaRun` (attributes are the run's: see `NfaRun.__init__`)."""

    # the run's attributes this part uses (set by `NfaRun.__init__`)
    buckets: list
    live: list
    skip: Any
    completed: Any

    def _emit(self, finals: list[Final]) -> list[dict[str, list]]:
        """Flink's processMatchesAccordingToSkipStrategy.

        The new complete matches join the queue in the order Flink visits the partial matches
        they came from; then the queue gives up matches while none is held back by an earlier
        partial match (only under a skip strategy), each one pruning what its strategy discards.
        """
        completed = self.completed
        skip = self.skip
        if len(finals) == 1 and not completed.keys and not skip.is_skip:
            return [materialize(finals[0][0][0])]  # alone in the queue: released at once
        if len(finals) > 1:
            finals.sort(key=visit_key)
        for f in finals:
            pm = f[0]
            completed.offer((pm[1], pm[2]), pm)
        out = []
        if not skip.is_skip:
            while completed.keys:
                out.append(materialize(completed.poll()[0]))
            return out
        while completed.keys:
            earliest = self._earliest_partial_start()
            if earliest is not None and earliest < completed.peek_key():
                break
            match = completed.poll()
            pruning = skip.pruning_pos(node_positions(match[0]))
            if pruning is not None:
                self._prune(pruning)
            out.append(materialize(match[0]))
        return out

    def _earliest_partial_start(self) -> Optional[tuple]:
        best = None
        for _state, pm in self.partial_matches():
            key = (pm[PM_START_TS], pm[PM_START_SEQ])
            if best is None or key < best:
                best = key
        return best

    def _prune(self, pruning: tuple) -> None:
        """Drop partial and held-back complete matches the skip strategy discards."""
        skip = self.skip
        for info in self.live:
            sid = info.state.sid
            bucket = self.buckets[sid]
            if info.index is None:
                self.buckets[sid] = _unpruned(bucket, skip, pruning)
                continue
            for key in list(bucket):
                group = _unpruned(bucket[key], skip, pruning)
                if group:
                    bucket[key] = group
                else:
                    del bucket[key]
        self.completed.remove_if(lambda m: skip.should_prune((m[1], m[2]), pruning))


def _unpruned(group: dict, skip: Any, pruning: tuple) -> dict:
    def pruned(pm: PartialMatch) -> bool:
        return skip.should_prune((pm[PM_START_TS], pm[PM_START_SEQ]), pruning)

    return {k: pm for k, pm in group.items() if not pruned(pm)}
