"""Small reading streams for the detection tests: hand-made readings and Hypothesis strategies.

Two shapes of stream:

* `free_streams`: a handful of arbitrary readings over at most five nodes, rich in the traps of the
  alert definition (ignitions naming themselves, null `infectedBy`, equal timestamps, temperatures
  exactly at the threshold, cyclic `infectedBy` claims, nodes infected by two different nodes);
* `burning_streams`: nodes that report periodically, catch fire from a parent (or ignite, naming
  themselves), burn for a while and cool down, with the odd spike, as the simulator's sensors do;
  so the same node re-reports while burning, and one node can infect several.

Examples use node ids `a`..`e`, regions `r` and `s`, small integer timestamps and small windows, so
that window boundaries and ties are hit often.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Optional

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

THRESHOLD = 50.0
NODES = ("a", "b", "c", "d", "e")
REGIONS = ("r", "s")
# Hot ones first (Hypothesis favours early choices and shrinks towards them): well above, exactly
# at the threshold; then just below it and ambient.
TEMPERATURES = (64.5, THRESHOLD, THRESHOLD - 0.01, 21.0)

settings.register_profile(
    "detection-ci", derandomize=True, deadline=None, max_examples=250,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "detection-explore", derandomize=False, deadline=None, max_examples=2_000,
    suppress_health_check=[HealthCheck.too_slow],
)
# Derandomized (a fixed set of examples) unless EMBERWATCH_HYPOTHESIS=explore.
PROFILE = "detection-explore" if os.environ.get("EMBERWATCH_HYPOTHESIS") == "explore" else "detection-ci"


def reading(
    node: str, ts: int, by: Optional[str], temp: float = 64.5, region: str = "r", event_id: str = ""
) -> dict:
    """One well-formed reading (`lat`/`lon` are irrelevant to detection and fixed)."""
    return {
        "event_id": event_id or f"{node}@{ts}",
        "node": node,
        "region": region,
        "ts": ts,
        "temperature": temp,
        "infectedBy": by,
        "lat": -33.7,
        "lon": 150.3,
    }


def numbered(events: Sequence[dict]) -> list[dict]:
    """The same readings with unique `event_id`s (the position in the stream)."""
    return [dict(e, event_id=f"e{i}") for i, e in enumerate(events)]


def _infector(draw: st.DrawFn, nodes: Sequence[str], i: int, candidates: Sequence[str] = ()) -> str:
    """Who node i claims as infector: mostly one of `candidates` (or an earlier node), else anyone."""
    earlier = list(candidates) or list(nodes[:i])
    kind = draw(st.sampled_from(["earlier"] * 4 + ["self", "any"] if earlier else ["self", "any"]))
    if kind == "earlier":
        return draw(st.sampled_from(earlier))
    return nodes[i] if kind == "self" else draw(st.sampled_from(nodes))  # "any": cycles are allowed


def _claim(draw: st.DrawFn, node: str, usual: Optional[str], nodes: Sequence[str]) -> Optional[str]:
    """An infectedBy value: mostly `usual`, sometimes null, the node itself, or any node."""
    kind = draw(st.sampled_from(["usual"] * 6 + ["none", "self", "any"]))
    if kind == "usual":
        return usual
    if kind == "none":
        return None
    return node if kind == "self" else draw(st.sampled_from(nodes))


# Ways to spoil (or nearly spoil) one reading of a planted chain: the traps of the definition.
TRAPS = ("at-threshold", "just-below", "null-claim", "self-claim", "any-claim", "same-ts", "earlier-ts",
         "other-region", "repeat-node")


def _spoil(draw: st.DrawFn, events: list[dict], i: int, nodes: Sequence[str]) -> None:
    trap = draw(st.sampled_from(TRAPS))
    event = events[i]
    if trap == "at-threshold":
        event["temperature"] = THRESHOLD
    elif trap == "just-below":
        event["temperature"] = THRESHOLD - 0.01
    elif trap == "null-claim":
        event["infectedBy"] = None
    elif trap == "self-claim":
        event["infectedBy"] = event["node"]
    elif trap == "any-claim":
        event["infectedBy"] = draw(st.sampled_from(nodes))
    elif trap == "same-ts" and i > 0:
        event["ts"] = events[i - 1]["ts"]
    elif trap == "earlier-ts":
        event["ts"] = max(0, event["ts"] - draw(st.integers(1, 3)))
    elif trap == "other-region":
        event["region"] = REGIONS[1] if event["region"] == REGIONS[0] else REGIONS[0]
    elif trap == "repeat-node" and i > 0:
        event["node"] = draw(st.sampled_from([e["node"] for e in events[:i]]))  # a cycle: a -> b -> a


@st.composite
def free_streams(draw: st.DrawFn, max_readings: int = 12, max_ts: int = 24) -> list[dict]:
    """Planted chains, a few of their readings spoiled by a trap, plus arbitrary readings, shuffled.

    A planted chain walks distinct nodes with increasing timestamps, each reading hot and naming the
    previous node (the first names itself, nobody, or anyone). Traps then put a temperature exactly
    at or just below the threshold, replace a claim by null/self/any node, repeat a timestamp, move
    a reading to the other region or make the walk revisit a node. Arbitrary readings claim
    anything at any time. Long chains, branching (two walks from one node) and near misses are all
    common; arrival order is shuffled (the detector sorts, the oracle must not care).
    """
    nodes = NODES[: draw(st.sampled_from([5, 4, 3, 2]))]
    regions = draw(st.sampled_from([REGIONS[:1], REGIONS]))
    events: list[dict] = []
    first_nodes: list[str] = []
    for _ in range(draw(st.sampled_from([2, 1, 3, 0]))):
        length = draw(st.sampled_from([len(nodes), 2, 3, 4, 5]))
        if first_nodes and draw(st.sampled_from([True, False])):  # branch off an earlier walk's first node
            first = draw(st.sampled_from(first_nodes))
            walk = [first] + draw(st.permutations([n for n in nodes if n != first]))
        else:
            walk = draw(st.permutations(nodes))
        walk = walk[: min(length, len(nodes))]
        first_nodes.append(walk[0])
        ts = draw(st.integers(0, max_ts // 2))
        region = draw(st.sampled_from(regions))
        claim: Optional[str] = draw(st.sampled_from([walk[0], None, *nodes]))
        chain = []
        for node in walk:
            chain.append(reading(node, min(ts, max_ts), claim, 64.5, region))
            ts += draw(st.sampled_from([1, 2, 3, 5]))
            claim = node
        for _ in range(draw(st.integers(0, 2))):
            _spoil(draw, chain, draw(st.integers(0, len(chain) - 1)), nodes)
        events.extend(chain)
    for _ in range(draw(st.integers(0, max_readings // 2))):
        node = draw(st.sampled_from(nodes))
        events.append(
            reading(
                node,
                draw(st.integers(0, max_ts)),
                _claim(draw, node, draw(st.sampled_from(nodes)), nodes),
                draw(st.sampled_from(TEMPERATURES)),
                draw(st.sampled_from(regions)),
            )
        )
    events = draw(st.permutations(events))[:max_readings]
    return numbered(events)


@st.composite
def burning_streams(draw: st.DrawFn, max_nodes: int = 5, max_steps: int = 8) -> list[dict]:
    """Periodic reports of a small burning network, in event-time order (ties in node order).

    Each node may catch fire from an earlier burning node (or ignite, naming itself, or claim any
    node), burns for some steps and then reads cool while still naming its infector; a node that
    is not burning may spike (a hot reading with a null infectedBy).
    """
    nodes = NODES[: draw(st.integers(2, max_nodes))]
    steps = draw(st.integers(1, max_steps))
    period = draw(st.sampled_from([1, 3, 10]))
    offsets = {node: draw(st.integers(0, period - 1)) for node in nodes}
    region_of = {node: draw(st.sampled_from(REGIONS[:1] * 4 + REGIONS[1:])) for node in nodes}
    fires: dict[str, tuple[str, int, int]] = {}  # node -> (infector, first burning step, burning steps)
    for i, node in enumerate(nodes):
        if draw(st.integers(0, 4)) == 0:
            continue  # never burns
        infector = _infector(draw, nodes, i, candidates=list(fires))
        earliest = fires[infector][1] + 1 if infector in fires and infector != node else 0
        start = min(steps - 1, earliest + draw(st.integers(0, 2)))
        fires[node] = (infector, start, draw(st.integers(1, steps)))
    events = []
    for step in range(steps):
        for node in nodes:
            by, temp = None, 21.0
            if node in fires:
                infector, start, burn = fires[node]
                if start <= step < start + burn:
                    by, temp = infector, draw(st.sampled_from(TEMPERATURES[:2]))
                elif step >= start + burn:
                    by, temp = infector, THRESHOLD - 1.0  # burnt out: reads cool, still names its infector
            if by is None and draw(st.integers(0, 15)) == 0:
                temp = 90.0  # a spike
            events.append(reading(node, step * period + offsets[node], by, temp, region_of[node]))
    events.sort(key=lambda e: e["ts"])
    return numbered(events)


chain_lengths = st.integers(2, 4)
# Windows from 1 to 25 time units, the wide ones more often (long chains need them).
small_windows = st.one_of(st.integers(1, 25), st.sampled_from([12, 20, 25]))
