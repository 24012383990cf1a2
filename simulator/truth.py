"""Ground truth: the alert definition (docs/job.md, "The alert definition") as a plain search over readings.

A path N1 -> ... -> Nk (per region) is alerted when readings e1..ek exist with every temperature
>= threshold, e(i+1).infectedBy == node(ei), strictly increasing ts, ts(ek) - ts(e1) < window and
N1..Nk pairwise distinct (so a node "infected by itself", an ignition, never forms a link).

The search: for every hot reading e1, a depth-first search follows the hot readings whose
`infectedBy` is the current node (indexed by (region, infectedBy) -> node -> sorted timestamps).
For a fixed e1, taking the *earliest* qualifying reading of each next node loses nothing: every
later constraint is "a later timestamp" or "before ts(e1) + window", and an earlier choice satisfies
whatever a later one does. So each step is one bisect, and the search stays exact.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping

from simulator.config import DEFAULT_CHAIN_LENGTH, DEFAULT_THRESHOLD_C, DEFAULT_WINDOW_MS
from simulator.events import is_valid_event

Path = tuple[str, tuple[str, ...]]  # (region, (n1, ..., nk))


def find_paths(
    events: Iterable[Mapping],
    chain_length: int = DEFAULT_CHAIN_LENGTH,
    window_ms: int = DEFAULT_WINDOW_MS,
    threshold: float = DEFAULT_THRESHOLD_C,
) -> set[Path]:
    """Every distinct alerted path in `events` (well-formed readings, any order, duplicates allowed).

    Parameters
    ----------
    events : iterable of readings; anything that is not a well-formed reading by the event schema
        (`simulator.is_valid_event`: malformed bytes, missing fields, wrong types) is ignored, as the
        job's parser dead-letters it
    chain_length : number of nodes in a path (k)
    window_ms : ts(ek) - ts(e1) must be strictly below this
    threshold : every reading of the path must be >= this

    Returns
    -------
    set of (region, (n1, ..., nk))

    Example
    -------
    >>> ev = [{"event_id": f"e{i}", "node": n, "region": "r", "ts": i, "temperature": 60.0,
    ...        "infectedBy": b, "lat": -33.0, "lon": 151.0}
    ...       for i, (n, b) in enumerate([("a", "a"), ("b", "a"), ("c", "b")])]
    >>> sorted(find_paths(ev, chain_length=3))
    [('r', ('a', 'b', 'c'))]
    """
    if chain_length < 1:
        raise ValueError("chain_length must be at least 1")
    starts: dict[tuple[str, str], list[int]] = {}  # (region, node) -> ts of its hot readings
    children: dict[tuple[str, str], dict[str, list[int]]] = {}  # (region, infectedBy) -> node -> ts
    for ev in events:
        # Cheap test first (most readings are cool); only hot candidates get the full validation.
        temp = ev.get("temperature") if isinstance(ev, dict) else None
        if type(temp) not in (float, int) or temp < threshold or not is_valid_event(ev):
            continue
        region, node, ts = ev["region"], ev["node"], ev["ts"]
        starts.setdefault((region, node), []).append(ts)
        by = ev["infectedBy"]
        if by is not None and by != node:
            children.setdefault((region, by), {}).setdefault(node, []).append(ts)
    for ts_list in starts.values():
        ts_list.sort()
    for kids in children.values():
        for ts_list in kids.values():
            ts_list.sort()

    found: set[Path] = set()

    def extend(region: str, path: list[str], last_ts: int, deadline: int) -> None:
        if len(path) == chain_length:
            found.add((region, tuple(path)))
            return
        for node, ts_list in children.get((region, path[-1]), {}).items():
            if node in path:
                continue
            i = bisect_right(ts_list, last_ts)  # earliest reading strictly after the previous one
            if i < len(ts_list) and ts_list[i] < deadline:
                path.append(node)
                extend(region, path, ts_list[i], deadline)
                path.pop()

    for (region, node), ts_list in starts.items():
        if chain_length > 1 and (region, node) not in children:
            continue  # infected nobody: cannot start a longer path
        for ts in ts_list:
            extend(region, [node], ts, ts + window_ms)
    return found


def paths_to_json(paths: Iterable[Path]) -> list[dict]:
    """Sorted, JSON-ready form of a path set: [{"region": ..., "path": [...]}, ...]."""
    return [{"region": region, "path": list(nodes)} for region, nodes in sorted(paths)]
