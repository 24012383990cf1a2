"""Benchmark `Matcher.copy()`: the structural copy against the former snapshot/restore round trip.

`cep.early` copies the committed matcher whenever an event arrives out of timestamp order
(docs/latency.md), so the copy's cost with hundreds of live partial matches is on the alert path.
The matcher runs the job's alert pattern (`jobs.bushfire.patterns.fire_chain`, ALERT variant) on
random hot readings of one region until it holds at least N partial matches; then both copies are
timed (best and median of `--repeat` runs) and checked to give the same snapshot.

Usage::

    python bench/matcher_copy.py                  # N = 100, 600, 2000
    python bench/matcher_copy.py --partials 600 --repeat 50
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from cep import Matcher
from jobs.bushfire.patterns import fire_chain

NODES = 200


def matcher_holding(partials: int, seed: int = 7) -> Matcher:
    """A matcher of the alert pattern fed hot readings (1 s apart) until it holds `partials`."""
    rng = random.Random(seed)
    matcher = Matcher(fire_chain())
    ts = 0
    while matcher.partial_match_count() < partials:
        ts += 1000
        node = rng.randrange(NODES)
        reading = {
            "node": f"s{node}",
            "infectedBy": f"s{rng.randrange(NODES)}",
            "temperature": 60.0 + rng.random() * 40,
            "ts": ts,
            "region": "r0",
        }
        matcher.process(reading, ts)
    return matcher


def time_copy(copy, repeat: int) -> tuple[float, float]:
    """(best, median) wall time of `copy()` in ms over `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        copy()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partials", type=int, nargs="*", default=[100, 600, 2000])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    for n in args.partials:
        matcher = matcher_holding(n)
        assert matcher.copy().snapshot() == matcher.copy_via_snapshot().snapshot() == matcher.snapshot()
        pickle_best, pickle_median = time_copy(matcher.copy_via_snapshot, args.repeat)
        struct_best, struct_median = time_copy(matcher.copy, args.repeat)
        print(
            f"matcher_copy partials={matcher.partial_match_count()} "
            f"snapshot/restore: best {pickle_best:.2f} ms median {pickle_median:.2f} ms | "
            f"structural: best {struct_best:.3f} ms median {struct_median:.3f} ms | "
            f"speed-up (median) x{pickle_median / struct_median:.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
