"""A runnable example: `python -m cep.examples` prints the fire-propagation chains in a tiny stream.

Eleven sensors (`"1"`..`"11"`) report once a minute; a fire starts at sensor 1 and spreads along
1 -> 2 -> 3 -> ... Each burning sensor reports >= 50 degC and the id of the sensor that lit it
(`infectedBy`). The pattern is the bushfire alert: five distinct sensors, each lit by the
previous one, within ten minutes.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from cep import Matcher, Pattern
from cep import conditions as C

MINUTE = 60_000


def fire_chain(length: int = 5, window_ms: int = 10 * MINUTE, threshold: float = 50.0) -> Pattern:
    """Readings of `length` sensors, each lit by the previous one, all within `window_ms`."""
    hot = C.field("temperature") >= threshold
    pattern = Pattern.begin("n1").where(hot)
    for i in range(2, length + 1):
        previous = C.last(f"n{i - 1}", "node")
        lit_by_previous = (C.field("infectedBy") == previous) & (C.field("node") != previous)
        pattern = pattern.followed_by(f"n{i}").where(hot & lit_by_previous)
    return pattern.within(window_ms)


def tiny_fire(sensors: int = 11, minutes: int = 10) -> Iterator[dict[str, Any]]:
    """Sensor i catches fire at minute i - 1, lit by sensor i - 1 (sensor 1 is the ignition)."""
    for minute in range(minutes):
        for i in range(1, sensors + 1):
            burning = i - 1 <= minute
            yield {
                "node": str(i),
                "region": "blog",
                "ts": minute * MINUTE + i * 1000,
                "temperature": 80.0 if burning else 21.0,
                "infectedBy": (str(i - 1) if i > 1 else "1") if burning else None,
            }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=5, help="sensors per chain (default 5)")
    args = parser.parse_args(argv)
    matcher = Matcher(fire_chain(args.length))
    print(f"pattern: {args.length} sensors, each lit by the previous one, within 10 min")
    print(f"prefilter pushed to SQL: WHERE {matcher.prefilter.to_sql()}")
    count = 0
    seen: set[tuple[str, ...]] = set()
    for event in tiny_fire():
        for match in matcher.process(event, event["ts"]):
            count += 1
            path = tuple(events[0]["node"] for events in match.values())
            if path in seen:
                continue  # followed_by re-detects a path every minute while it burns
            seen.add(path)
            first = match["n1"][0]["ts"] // 1000
            last = match[f"n{args.length}"][0]["ts"] // 1000
            print(f"new chain: {' -> '.join(path)}  (readings at t={first}s .. {last}s)")
    _, timeouts = matcher.advance_time(10**12)
    print(f"{count} matches, {len(seen)} distinct chains; {len(timeouts)} partial chains timed out")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
