"""Small deterministic event streams and patterns for the cep unit tests."""

from __future__ import annotations

import random
from collections.abc import Iterator

from cep import Pattern
from jobs.bushfire.config import DetectionConfig
from jobs.bushfire.patterns import ORIGINAL_2018, Chaining, fire_chain

MINUTE = 60_000


def fire_stream(side: int = 4, minutes: int = 40, seed: int = 7, spread: float = 0.15) -> list[dict]:
    """One region of `side` x `side` sensors reporting every minute while a fire spreads.

    Burning sensors report >= 50 degC with `infectedBy` naming the neighbour that lit them
    (their own id for an ignition); the others report cool readings. Several sensors reporting
    every minute give many overlapping, branching chains.
    """
    rnd = random.Random(seed)
    lit: dict[int, tuple[int, int]] = {}
    for _ in range(2):
        n = rnd.randrange(side * side)
        lit[n] = (rnd.randrange(minutes // 3), n)
    events = []
    for minute in range(minutes):
        for n, (start, _src) in list(lit.items()):
            if start > minute:
                continue
            x, y = divmod(n, side)
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                nx, ny = x + dx, y + dy
                nn = nx * side + ny
                if 0 <= nx < side and 0 <= ny < side and nn not in lit and rnd.random() < spread:
                    lit[nn] = (minute + 1, n)
        for n in range(side * side):
            fire = lit.get(n)
            hot = fire is not None and fire[0] <= minute
            events.append(
                {
                    "event_id": f"n{n}-{minute}",
                    "node": f"n{n}",
                    "ts": minute * MINUTE + n * 100,
                    "temperature": 55.0 + rnd.random() * 20 if hot else 20.0 + rnd.random() * 10,
                    "infectedBy": f"n{fire[1]}" if hot else None,
                }
            )
    events.sort(key=lambda e: e["ts"])
    return events


def chain_pattern(
    length: int = 3, any_: bool = False, window_ms: int = 6 * MINUTE, lambdas: bool = False
) -> Pattern:
    """The project's fire chain (`jobs.bushfire.patterns.fire_chain`) as the 2018 system wrote it:
    hot, linked to the previous node by `infectedBy` only, no dedupe; `any_` joins the stages with
    `followed_by_any`, `lambdas` writes the conditions as plain functions (opaque to the engine)."""
    chaining = Chaining.FOLLOWED_BY_ANY if any_ else Chaining.FOLLOWED_BY
    return fire_chain(
        DetectionConfig(chain_length=length, window_ms=window_ms),
        ORIGINAL_2018.replace(chaining=chaining, lambdas=lambdas),
    )


def ids(match: dict) -> tuple:
    """A match (or timed-out partial match) as (stage, event id) pairs in stage order."""
    return tuple((name, e["event_id"]) for name, events in match.items() for e in events)


def node_path(match: dict) -> tuple:
    return tuple(e["node"] for events in match.values() for e in events)


def letters(text: str, start_ts: int = 1) -> Iterator[dict]:
    """Events named by letters/words: 'a b c' -> {'name': 'a', 'event_id': 'a@1', 'ts': 1}, ..."""
    for i, word in enumerate(text.split()):
        yield {"name": word[0], "event_id": f"{word}@{start_ts + i}", "ts": start_ts + i, "word": word}
