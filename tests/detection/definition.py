"""The alert definition (docs/job.md) read literally: as a check on one tuple of readings,
and the set of alerted paths as every k-tuple of readings per region that passes it.

Deliberately naive (all ordered k-tuples, no indexing, no pruning) so that it is obviously right;
it is only used on streams of a dozen readings.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

Path = tuple[str, tuple[str, ...]]  # (region, (n1, ..., nk))


def violated_clauses(readings: Sequence[Mapping], window_ms: int, threshold: float) -> list[str]:
    """The clauses of the alert definition that the tuple e1..ek breaks (empty: it is an alert)."""
    k = len(readings)
    nodes = [e["node"] for e in readings]
    broken = []
    if len({e["region"] for e in readings}) != 1:
        broken.append("one region")
    if not all(e["temperature"] >= threshold for e in readings):
        broken.append("every temperature >= threshold")
    if not all(readings[i + 1]["infectedBy"] == nodes[i] for i in range(k - 1)):
        broken.append("e(i+1).infectedBy == node(ei)")
    if not all(readings[i]["ts"] < readings[i + 1]["ts"] for i in range(k - 1)):
        broken.append("strictly increasing event time")
    if not readings[-1]["ts"] - readings[0]["ts"] < window_ms:
        broken.append("ts(ek) - ts(e1) < window")
    if len(set(nodes)) != k:
        broken.append("N1..Nk pairwise distinct")
    return broken


def is_alert(readings: Sequence[Mapping], window_ms: int, threshold: float) -> bool:
    """Same clauses as `violated_clauses`, stopping at the first broken one (the enumeration's hot loop)."""
    k = len(readings)
    return (
        all(e["region"] == readings[0]["region"] for e in readings)
        and all(e["temperature"] >= threshold for e in readings)
        and all(readings[i + 1]["infectedBy"] == readings[i]["node"] for i in range(k - 1))
        and all(readings[i]["ts"] < readings[i + 1]["ts"] for i in range(k - 1))
        and readings[-1]["ts"] - readings[0]["ts"] < window_ms
        and len({e["node"] for e in readings}) == k
    )


def literal_paths(
    events: Iterable[Mapping], chain_length: int, window_ms: int, threshold: float
) -> set[Path]:
    """Every (region, path) for which some ordered k-tuple of the region's readings is an alert."""
    by_region: dict[str, list[Mapping]] = defaultdict(list)
    for event in events:
        by_region[event["region"]].append(event)
    found: set[Path] = set()
    for region, readings in by_region.items():
        for combo in itertools.permutations(readings, chain_length):
            if is_alert(combo, window_ms, threshold):
                found.add((region, tuple(e["node"] for e in combo)))
    return found
