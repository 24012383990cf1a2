"""In-memory stand-ins for what Flink hands a keyed function (state, timers, metric group, context),
one key at a time, to drive `CepFunction` and `DynamicCepFunction` directly in unit tests.

They count what the function asks of them (state writes, timers), which a mini-cluster cannot show.
A second function opened on the same `Runtime` sees the state the first one wrote, as after a
restore from a checkpoint.
"""

from __future__ import annotations

from typing import Any


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n


class Value:
    """ValueState, counting writes."""

    def __init__(self) -> None:
        self.v = None
        self.updates = 0
        self.clears = 0

    def value(self):
        return self.v

    def update(self, v) -> None:
        self.v = v
        self.updates += 1

    def clear(self) -> None:
        self.v = None
        self.clears += 1


class Map(dict):
    """MapState (also broadcast state)."""

    def put(self, k, v) -> None:
        self[k] = list(v) if isinstance(v, list) else v

    def remove(self, k) -> None:
        self.pop(k, None)  # as in Flink, removing a missing key does nothing

    def contains(self, k) -> bool:
        return k in self


class Runtime:
    """RuntimeContext and metric group of one key: one ValueState and one MapState per name."""

    def __init__(self) -> None:
        self.counters: dict[str, Counter] = {}
        self.gauges: dict = {}
        self.values: dict[str, Value] = {}
        self.maps: dict[str, Map] = {}

    @property
    def map(self) -> Map:
        """The buffer's MapState (`cep.flink.operator.BUFFER_STATE`)."""
        return self.maps.setdefault("cep-buffer", Map())

    @property
    def value(self) -> Value:
        """The matcher's ValueState (`cep.flink.operator.MATCHER_STATE`)."""
        return self.values.setdefault("cep-matcher", Value())

    def get_state(self, descriptor):
        return self.values.setdefault(descriptor.name, Value())

    def get_map_state(self, descriptor):
        return self.maps.setdefault(descriptor.name, Map())

    def get_metrics_group(self):
        return self

    def add_group(self, name):
        assert name == "cep"
        return self

    def counter(self, name):
        return self.counters.setdefault(name, Counter())

    def gauge(self, name, read) -> None:
        self.gauges[name] = read


class Timers:
    def __init__(self) -> None:
        self.watermark = -(2**63)
        self.registered: list[int] = []

    def current_watermark(self) -> int:
        return self.watermark

    def register_event_time_timer(self, ts: int) -> None:
        self.registered.append(ts)

    def delete_event_time_timer(self, ts: int) -> None:
        if ts in self.registered:  # as in Flink, deleting a timer that is not there does nothing
            self.registered.remove(ts)


class Ctx:
    """The context of `process_element` and `on_timer` (and the broadcast side's), key ``"k"``."""

    def __init__(self, timers: Timers, broadcast: Any = None) -> None:
        self.timers = timers
        self.ts = 0
        self.broadcast = broadcast if broadcast is not None else Map()

    def timer_service(self):
        return self.timers

    def timestamp(self) -> int:
        return self.ts

    def get_current_key(self) -> str:
        return "k"

    def get_broadcast_state(self, descriptor):
        return self.broadcast


def feed_with_lagging_watermark(
    function: Any, events: list[dict], lag: int, end: int
) -> tuple[list, list[int]]:
    """Feed an opened keyed function `events` (each at its ``ts``) with the watermark `lag` behind the
    latest timestamp, then at `end`, firing timers as Flink fires them (every registered timer at or
    below the new watermark, in order); returns its outputs and the times its timers fired at."""
    timers = Timers()
    ctx = Ctx(timers)
    out: list = []
    fired: list[int] = []

    def advance(watermark: int) -> None:
        timers.watermark = watermark
        while timers.registered and min(timers.registered) <= watermark:
            due = min(timers.registered)
            timers.registered.remove(due)
            fired.append(due)
            out.extend(function.on_timer(due, ctx))

    latest = 0
    for event in events:
        ctx.ts = event["ts"]
        out.extend(function.process_element(event, ctx))
        latest = max(latest, event["ts"])
        if latest - lag > timers.watermark:
            advance(latest - lag)
    advance(end)
    return out, fired
