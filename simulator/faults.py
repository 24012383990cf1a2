"""Delivery and sensor faults applied to the event-time stream, yielding records in arrival order.

Per sensor (chosen once, by rate): a skewed clock (a constant offset added to `ts`) or a stuck
temperature (from a random moment on, the sensor repeats its last reading). Per reading, in this
order: spike (a reading of a node that is not burning turns hot, `infectedBy` stays null), drop,
malformed (the reading is replaced by garbled JSON, a record missing a field, or one with a wrong
type), delay (arrives up to `max_delay_ms` after it was sent), duplicate (sent again, same
`event_id`, with its own delay). A reading is "sent" at its true time; arrival order is send time
plus delay, so out-of-order arrival is bounded by `max_delay_ms`.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator

import orjson

from simulator.config import SimulationConfig
from simulator.network import Network

MALFORMED_KINDS = ("garbled", "missing_field", "wrong_type")
_DROPPABLE_FIELDS = ("event_id", "node", "region", "ts", "temperature", "infectedBy")
_WRONG_TYPES = {
    "ts": "yesterday",
    "temperature": "hot",
    "node": 42,
    "region": None,
    "infectedBy": 7,
    "lat": "south",
}


def malformed_payload(event: dict, rng: random.Random) -> bytes:
    """A bad record built from a reading: garbled JSON, a missing field, or a wrong type (one line)."""
    kind = rng.choice(MALFORMED_KINDS)
    if kind == "garbled":
        good = orjson.dumps(event)
        cut = rng.randrange(1, len(good) - 1)
        return good[:cut] + rng.choice((b"", b"\xff\xfe", b"}}", b"\x00"))
    bad = dict(event)
    if kind == "missing_field":
        del bad[rng.choice(_DROPPABLE_FIELDS)]
    else:
        name = rng.choice(sorted(_WRONG_TYPES))
        bad[name] = _WRONG_TYPES[name]
    return orjson.dumps(bad)


def apply_faults(
    events: Iterator[dict], config: SimulationConfig, network: Network
) -> Iterator[dict | bytes]:
    """Yield `events` as delivered under `config.faults` (unchanged when no fault is on)."""
    faults = config.faults
    if not faults.any:
        yield from events
        return
    rng = random.Random(f"faults-{config.seed}")
    end_ms = config.start_ms + config.steps * config.interval_ms
    skew: dict[str, int] = {}
    stuck_from: dict[str, int] = {}
    for node in network.nodes:  # per-sensor faults, drawn in node order
        if rng.random() < faults.skew_rate:
            skew[node.id] = rng.choice((-1, 1)) * rng.randint(1, max(1, faults.max_skew_ms))
        if rng.random() < faults.stuck_rate:
            stuck_from[node.id] = rng.randrange(config.start_ms, end_ms)
    stuck_value: dict[str, float] = {}
    pending: list[tuple[int, int, dict | bytes]] = []  # (arrival ms, sequence, record)
    seq = 0

    def delay() -> int:
        return rng.randint(1, faults.max_delay_ms) if rng.random() < faults.delay_rate else 0

    for ev in events:
        sent = ev["ts"]
        while pending and pending[0][0] <= sent:
            yield heapq.heappop(pending)[2]
        node = ev["node"]
        if node in stuck_from and sent >= stuck_from[node]:
            ev["temperature"] = stuck_value.setdefault(node, ev["temperature"])
        if ev["infectedBy"] is None and faults.spike_rate and rng.random() < faults.spike_rate:
            ev["temperature"] = round(rng.uniform(55.0, 120.0), 2)
        if node in skew:
            ev["ts"] = sent + skew[node]
        if faults.drop_rate and rng.random() < faults.drop_rate:
            continue
        record: dict | bytes = ev
        if faults.malformed_rate and rng.random() < faults.malformed_rate:
            record = malformed_payload(ev, rng)
        copies = [record]
        if faults.duplicate_rate and rng.random() < faults.duplicate_rate:
            copies.append(dict(record) if isinstance(record, dict) else record)
        for rec in copies:
            seq += 1
            heapq.heappush(pending, (sent + delay(), seq, rec))
    while pending:
        yield heapq.heappop(pending)[2]
