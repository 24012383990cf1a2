"""Windows and timeouts of a run: when partial matches expire, and what expiring reports.

`ExpiryMixin` is one part of `cep.runtime.NfaRun` (it reads and writes the run's buckets and
expiry queues), kept apart because time passing is its own concern: `process` only records
each insertion (`_track_expiry` / `_track_timed_expiry`), and `expire` drops what is due.

What expiring reports is kept small, because a caller may hold it for long (a `Matcher` keeps
the timeouts of `process` until `advance_time` reports them): timed-out partial matches come
in groups `(timeout_ts, start_ts, start_seq, nodes)`, the buffer nodes of one start's partial
matches already in Flink's order, so no tuple per partial match outlives the expiry (the
garbage collector's full passes visit every container that stays alive, and over a long
stream of unreported timeouts those passes were most of the stress benchmark's time). Each
expiry record is three slots of its group's flat list, not a tuple, for the same reason.

Expiries sit in a queue of per-start groups (all partial matches of one start expire together,
and starts come in time order), or, with PREVIOUS_AND_CURRENT windows, in a heap per partial
match, so time passing touches only what expires.
"""

from __future__ import annotations

import bisect
import heapq
from typing import Any

from cep.buffer import PM_NODE, PM_START_SEQ, PM_START_TS, PartialMatch, materialize, pm_visit_key, rank_of

__all__ = ["NO_EXPIRY", "ExpiryMixin", "TimeoutGroup"]

NO_EXPIRY = float("inf")

#: timed-out partial matches of one start with one timeout: (timeout_ts, start_ts, start_seq,
#: [buffer node, ...] in Flink's order)
TimeoutGroup = tuple


class ExpiryMixin:
    """The time verbs of `NfaRun` (attributes are the run's: see `NfaRun.__init__`)."""

    # the run's attributes this part uses (set by `NfaRun.__init__`)
    buckets: list
    infos: list
    window: int
    state_windows: Any
    expiries: Any
    expiry_groups: dict
    timed_expiries: list
    timed_order: int
    next_expiry: float
    dedupe_key: Any
    completed: Any
    keep_timeouts: bool
    timed_out: int

    def _track_expiry(self, sid: int, key: Any, pm: PartialMatch) -> None:
        records = self.expiry_groups.get(pm[2])
        if records is None:
            records = self.expiry_groups[pm[2]] = []
            group = (pm[1] + self.window, pm[2])  # its records: `expiry_groups[start_seq]`
            queue = self.expiries
            if not queue or queue[-1] < group:
                queue.append(group)  # the usual case: a start newer than every other
            else:
                bisect.insort(queue, group)  # e.g. partial matches re-added by a restore
            if group[0] < self.next_expiry:
                self.next_expiry = group[0]
        records += sid, key, pm  # flat: no tuple per record stays alive

    def _track_timed_expiry(self, sid: int, key: Any, pm: PartialMatch) -> None:
        """When `pm` times out: its first-to-last window or its state's window after its last event."""
        expiry = pm[1] + self.window if self.window else NO_EXPIRY
        gap = self.state_windows[sid]
        if gap and pm[0] is not None and pm[0][2] + gap < expiry:
            expiry = pm[0][2] + gap
        if expiry == NO_EXPIRY:
            return
        self.timed_order += 1
        heapq.heappush(self.timed_expiries, (expiry, self.timed_order, sid, key, pm))
        if expiry < self.next_expiry:
            self.next_expiry = expiry

    def advance_time(self, ts: int) -> tuple[list[dict[str, list]], list[tuple[dict[str, list], int]]]:
        """`expire(ts)` with the timed-out partial matches as `(match dict, timeout_ts)`."""
        matches, expired = self.expire(ts)
        return matches, self.timeouts_of(expired)

    def timeouts_of(self, expired: list[TimeoutGroup]) -> list[tuple[dict[str, list], int]]:
        """The `(partial match dict, timeout_ts)` pairs of the groups `expire` returned
        (in Flink's order: `expire` sorts them as Flink visits them)."""
        return [(materialize(node), group[0]) for group in expired for node in group[3]]

    def expire(self, ts: int) -> tuple[list[dict[str, list]], list[TimeoutGroup]]:
        """Drop partial matches that can no longer complete within the window at time `ts`.

        A partial match that started at `s` times out once `ts - s >= window`. Expiries sit in
        a heap, so this costs nothing until the earliest one is due, and then only the expired
        partial matches are touched (each removed from its bucket in O(1)). Returns the matches
        this completes and the timed-out partial matches as `TimeoutGroup`s, in the order Flink
        visits them (not materialized: `timeouts_of` does that when they are reported); with
        `keep_timeouts` off, no timed-out partial match (only their count, `timed_out`).
        """
        if ts < self.next_expiry:
            return [], []
        expired: list = []  # TimeoutGroups
        pending: list = []
        if self.state_windows:
            timed: list = []  # (partial match, timeout timestamp)
            self._expire_timed(ts, timed, pending)
            self.timed_out += len(timed)
            if not self.keep_timeouts:
                timed = []
            if len(timed) > 1:
                timed.sort(key=lambda e: pm_visit_key(e[0]))
            expired = [
                (timeout, pm[PM_START_TS], pm[PM_START_SEQ], [pm[PM_NODE]]) for pm, timeout in timed
            ]
        else:
            self._expire_groups(ts, expired, pending)  # already in Flink's order
        matches = self._emit([(pm, pm[3], 0) for pm in pending]) if (pending or self.completed) else []
        return matches, expired

    def _expire_groups(self, ts: int, expired: list, pending: list) -> None:
        """`expire` with first-to-last windows only: whole per-start groups expire at once."""
        queue = self.expiries
        groups = self.expiry_groups
        dedupe = self.dedupe_key is not None
        window = self.window
        buckets = self.buckets
        infos = self.infos
        keep = self.keep_timeouts
        dropped = 0  # timed out, not kept (`keep_timeouts` off)
        while queue and queue[0][0] <= ts:
            _expiry, start_seq = queue.popleft()
            records = groups.pop(start_seq)
            # groups come in the order of their first event; within one, by rank
            timed_out = []
            slots = iter(records)
            for sid, key, pm in zip(slots, slots, slots):
                if dedupe:
                    self._forget(sid, pm)
                bucket = buckets[sid]  # `_take_out`, inlined: this loop is hot
                indexed = infos[sid].index is not None
                group = bucket.get(key) if indexed else bucket
                if group is None or group.get(id(pm)) is not pm:
                    continue  # it moved on (or was pruned) before expiring
                del group[id(pm)]
                if indexed and not group:
                    del bucket[key]
                if infos[sid].is_pending:
                    pending.append(pm)
                elif keep:
                    timed_out.append(pm)
                else:
                    dropped += 1
            if timed_out:
                self.timed_out += len(timed_out)
                if len(timed_out) > 1:
                    timed_out.sort(key=rank_of)
                start_ts = timed_out[0][1]
                expired.append((start_ts + window, start_ts, start_seq, [pm[0] for pm in timed_out]))
        self.timed_out += dropped
        self.next_expiry = queue[0][0] if queue else NO_EXPIRY

    def _expire_timed(self, ts: int, expired: list, pending: list) -> None:
        """`expire` with PREVIOUS_AND_CURRENT windows: Flink's two timeout checks per partial match.

        A partial match times out when `ts - previous >= its state's window` (previous: the
        timestamp of its last event) or `ts - start >= window`; its timeout timestamp is then
        `previous + state window` if the first check holds, else `start + window`.
        """
        heap = self.timed_expiries
        window = self.window
        while heap and heap[0][0] <= ts:
            _expiry, _order, sid, key, pm = heapq.heappop(heap)
            if not self._take_out(sid, key, pm):
                continue  # it moved on (or was pruned) before expiring
            if self.infos[sid].is_pending:
                pending.append(pm)
                continue
            gap = self.state_windows[sid]
            if gap and pm[0] is not None and ts - pm[0][2] >= gap:
                expired.append((pm, pm[0][2] + gap))
            else:
                expired.append((pm, pm[1] + window))
        self.next_expiry = heap[0][0] if heap else NO_EXPIRY

    def _take_out(self, sid: int, key: Any, pm: PartialMatch) -> bool:
        """Remove `pm` from its bucket; False when it is not there any more."""
        bucket = self.buckets[sid]
        indexed = self.infos[sid].index is not None
        group = bucket.get(key) if indexed else bucket
        if group is None or group.get(id(pm)) is not pm:
            return False
        del group[id(pm)]
        if indexed and not group:
            del bucket[key]
        return True

