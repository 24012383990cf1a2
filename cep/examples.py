"""A runnable example: `python -m cep.examples` prints the fire-propagation chains in a tiny stream.

Eleven sensors (`"1"`..`"11"`) report once a minute; a fire starts at sensor 1 and spreads along
1 -> 2 -> 3 -> ... Each burning sensor reports >= 50 degC and the id of the sensor that lit it
(`infectedBy`). The pattern is the bushfire alert: five distinct sensors, each lit by the
previous one, within ten minutes, joined by `followed_by` as in the 2018 system.

The chain comes from the project's one factory, `jobs.bushfire.patterns.fire_chain`, imported when
the example runs: the engine itself (everything else in `cep`) imports nothing of the job.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from cep import Matcher, Pattern

MINUTE = 60_000


def fire_chain(length: int = 5) -> Pattern:
    """Readings of `length` distinct sensors, each lit by the previous one, all within ten minutes."""
    from jobs.bushfire.config import DetectionConfig
    from jobs.bushfire.patterns import ORIGINAL_2018
    from jobs.bushfire.patterns import fire_chain as build

    return build(
        DetectionConfig(chain_length=length, window_ms=10 * MINUTE, threshold_c=50.0),
        ORIGINAL_2018.replace(distinct_nodes=True),
    )


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
