"""The re-delivery dedupe: which event ids a region has seen within the last `ttl_ms` of event time.

The ids live in a keyed MapState (event_id -> ts), one entry per id, and in memory per region (oldest
first, read from Flink state once per function instance). A new id costs one map entry written and
the ids it pushes out of the TTL one entry removed each. A whole dict in a ValueState instead would be
re-encoded and shipped to the JVM for every region a bundle touched: with an hour of ids per region
(6,000 at one reading a minute from 100 nodes) that was about a millisecond per region per bundle,
which at 20,000 readings/s across 1,200 regions was more than the job's whole CPU.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from pyflink.common import Types
from pyflink.datastream import RuntimeContext
from pyflink.datastream.state import MapStateDescriptor

from cep.flink.keyed_memory import KeysInMemory

#: The MapState's name (its values: event time in ms). Jobs from before it kept "seen-ids", a ValueState
#: holding one dict: a job restored from such a checkpoint starts with no ids remembered.
SEEN_STATE = "seen-event-ids"


class SeenEventIds:
    """Answers "first time this event id is seen in this region?", keyed state of the current key."""

    def __init__(self, runtime_context: RuntimeContext, ttl_ms: int) -> None:
        descriptor = MapStateDescriptor(SEEN_STATE, Types.STRING(), Types.LONG())
        self._state = runtime_context.get_map_state(descriptor)
        self._ttl_ms = ttl_ms
        self._memory: KeysInMemory[dict[str, int]] = KeysInMemory()

    def first_time(self, region: Any, event_id: str, ts: int) -> bool:
        """Remember `event_id` (seen at event time `ts`) unless it is already remembered; then forget the
        ids older than `ts - ttl_ms` (insertion order follows event time closely enough)."""
        ids = self._memory.get(region, self._load)
        if event_id in ids:
            return False
        ids[event_id] = ts
        self._state.put(event_id, ts)
        horizon = ts - self._ttl_ms
        while ids:
            oldest = next(iter(ids))
            if ids[oldest] >= horizon:
                break
            del ids[oldest]
            self._state.remove(oldest)
        return True

    def _load(self) -> dict[str, int]:
        """The current key's ids from Flink state, oldest first (MapState has no order of its own)."""
        return dict(sorted(self._state.items(), key=itemgetter(1)))
