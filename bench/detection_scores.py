"""Detection scores: the job's pattern through the pure-Python `cep.Matcher` against the simulator's truth.

For a handful of scenario families (the benchmark preset scaled down, grid and random-geometric
topologies, faults off and on, chain length 4/5/6 with window 5/10/20 min) this prints, per scenario,
the distinct paths the truth has, how many the detector found, missed and falsely raised, how many
raw matches it emitted (the duplicates the job's alert de-duplication absorbs), and the time taken.
The detector works like the job: usable readings only (well-formed, each `event_id` once), one
Matcher per region, fed in event-time order.

Late readings: the job's watermark trails the largest event time seen by `--out-of-orderness`
(default 5 s, the job's default) and CEP drops readings at or below it. The `late` column counts the
hot readings that would be late if the watermark followed every record (the worst case: Flink
emits watermarks periodically, so a fast replay loses fewer), and `late-missed` the truth paths the
detector then misses. The truth itself counts every usable reading, late or not.

    python bench/detection_scores.py                    # 12 scaled-down scenarios (30k events each)
    python bench/detection_scores.py --regions 3 --minutes 40 --only grid
    python bench/detection_scores.py --full             # the 1M-event benchmark preset, k=5, 10 min
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere in the checkout

from cep import Matcher
from jobs.bushfire.config import DetectionConfig
from jobs.bushfire.patterns import fire_chain, stage_names
from simulator import (
    FaultConfig,
    SimulationConfig,
    TopologyKind,
    find_paths,
    is_valid_event,
    simulate,
)

MINUTE = 60_000
# Every fault the simulator knows, at the demo preset's rates (delays up to 30 s, clocks off by up to 20 s).
FAULTS = SimulationConfig.demo().faults
# (chain length, window): the detection settings every family is scored with.
DETECTIONS = ((4, 5 * MINUTE), (5, 10 * MINUTE), (6, 20 * MINUTE))


@dataclass(frozen=True)
class Family:
    """A kind of stream: topology and faults (size comes from the command line)."""

    name: str
    topology: TopologyKind
    faults: bool


FAMILIES = (
    Family("grid", TopologyKind.GRID, faults=False),
    Family("grid+faults", TopologyKind.GRID, faults=True),
    Family("random", TopologyKind.RANDOM, faults=False),
    Family("random+faults", TopologyKind.RANDOM, faults=True),
)


@dataclass
class Score:
    """One scenario's outcome."""

    scenario: str
    events: int
    hot: int
    chain_length: int
    window_ms: int
    truth: int
    found: int
    missed: int
    false: int
    matches: int
    detect_s: float
    truth_s: float
    late: int = 0
    late_missed: int = 0

    @property
    def events_per_s(self) -> float:
        return self.events / self.detect_s if self.detect_s else float("inf")


def family_config(family: Family, args: argparse.Namespace) -> SimulationConfig:
    """The benchmark preset, scaled down to `args` and switched to the family's topology/faults."""
    base = SimulationConfig.benchmark(seed=args.seed)
    topology = dataclasses.replace(
        base.topology,
        kind=family.topology,
        regions=args.regions,
        nodes_per_region=args.nodes_per_region,
        grid_cols=None,
    )
    return base.replace(
        topology=topology, minutes=args.minutes, faults=FAULTS if family.faults else FaultConfig()
    )


def usable_readings(delivered: Iterable) -> Iterator[dict]:
    """Well-formed readings, each event_id once (first arrival): what the job's parser passes on."""
    seen: set[str] = set()
    for record in delivered:
        if is_valid_event(record) and record["event_id"] not in seen:
            seen.add(record["event_id"])
            yield record


def on_time(arrival_order: Iterable[dict], out_of_orderness_ms: int, threshold: float) -> tuple[list, int]:
    """(readings not late, hot readings late) with a watermark that follows every record (worst case)."""
    watermark = float("-inf")
    kept, late = [], 0
    for event in arrival_order:
        if event["ts"] <= watermark:
            late += event["temperature"] >= threshold
            continue
        kept.append(event)
        watermark = max(watermark, event["ts"] - out_of_orderness_ms)
    return kept, late


def detect(events_in_time_order: Iterable[dict], detection: DetectionConfig) -> tuple[set, int, int]:
    """(distinct (region, path) found, raw matches emitted, events fed), one Matcher per region."""
    pattern = fire_chain(detection)
    names = stage_names(detection.chain_length)
    matchers: dict[str, Matcher] = {}
    found: set = set()
    matches = fed = 0
    for event in events_in_time_order:
        fed += 1
        region = event["region"]
        matcher = matchers.get(region)
        if matcher is None:
            matcher = matchers[region] = Matcher(pattern)
        for match in matcher.process(event, event["ts"]):
            matches += 1
            found.add((region, tuple(match[name][0]["node"] for name in names)))
    return found, matches, fed


def score(scenario: str, sim, readings, detection: DetectionConfig, hot: int) -> Score:
    """Time the detector over `readings` (a list, or a callable giving a fresh iterator) and the truth."""
    start = time.perf_counter()
    found, matches, fed = detect(readings() if callable(readings) else readings, detection)
    detect_s = time.perf_counter() - start
    start = time.perf_counter()
    if callable(readings):
        truth = sim.truth(detection.chain_length, detection.window_ms, detection.threshold_c)
    else:
        truth = find_paths(readings, detection.chain_length, detection.window_ms, detection.threshold_c)
    truth_s = time.perf_counter() - start
    return Score(
        scenario, fed, hot, detection.chain_length, detection.window_ms, len(truth), len(found & truth),
        len(truth - found), len(found - truth), matches, detect_s, truth_s,
    )


def scaled_scores(args: argparse.Namespace) -> Iterator[Score]:
    for family in FAMILIES:
        if args.only and family.name not in args.only:
            continue
        sim = simulate(family_config(family, args))
        threshold = sim.config.temperature.threshold_c
        arrival = list(usable_readings(sim.delivered()))
        readings = sorted(arrival, key=lambda e: e["ts"])  # stable: ties in arrival order
        hot = sum(1 for e in readings if e["temperature"] >= threshold)
        kept, late = on_time(arrival, args.out_of_orderness_ms, threshold)
        kept.sort(key=lambda e: e["ts"])
        for k, window in DETECTIONS:
            detection = DetectionConfig(chain_length=k, window_ms=window)
            result = score(family.name, sim, readings, detection, hot)
            result.late = late
            if late:
                truth = find_paths(readings, k, window, threshold)
                result.late_missed = len(truth - detect(kept, detection)[0])
            yield result


def full_score(args: argparse.Namespace) -> Iterator[Score]:
    """The 1M-event benchmark preset, streamed: it has no faults and `events()` is in event-time order.

    The stream is generated on the fly (a million dicts would not fit the machine's share of memory),
    so generating it is timed first on its own and subtracted from the detection pass.
    """
    sim = simulate(SimulationConfig.benchmark(seed=args.seed))
    threshold = sim.config.temperature.threshold_c
    start = time.perf_counter()
    hot = sum(1 for event in sim.events() if event["temperature"] >= threshold)
    generate_s = time.perf_counter() - start
    result = score("benchmark (full)", sim, sim.events, DetectionConfig(), hot)
    print(f"(generating the stream took {generate_s:.2f} s, not counted in detect s; "
          f"detection pass with generation: {result.detect_s:.2f} s)")
    result.detect_s = max(result.detect_s - generate_s, 1e-9)
    yield result


COLUMNS = (
    ("scenario", 16, "{:<16}"), ("events", 9, "{:>9,}"), ("hot", 7, "{:>7,}"), ("k", 2, "{:>2}"),
    ("window", 6, "{:>6}"), ("truth", 6, "{:>6}"), ("found", 6, "{:>6}"), ("missed", 6, "{:>6}"),
    ("false", 6, "{:>6}"), ("matches", 8, "{:>8}"), ("detect s", 8, "{:>8.2f}"), ("events/s", 9, "{:>9,.0f}"),
    ("truth s", 7, "{:>7.2f}"), ("late", 5, "{:>5}"), ("late-missed", 11, "{:>11}"),
)


def row(s: Score) -> str:
    values = (
        s.scenario, s.events, s.hot, s.chain_length, f"{s.window_ms // MINUTE}min", s.truth, s.found,
        s.missed, s.false, s.matches, s.detect_s, s.events_per_s, s.truth_s, s.late, s.late_missed,
    )
    return " ".join(fmt.format(v) for (_name, _width, fmt), v in zip(COLUMNS, values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--full", action="store_true",
        help="score the 1M-event benchmark preset (100 regions x 100 sensors, 100 min, k=5, 10 min) instead")
    add("--regions", type=int, default=5, help="regions per scaled-down stream (default 5)")
    add("--nodes-per-region", type=int, default=100, help="sensors per region (default 100)")
    add("--minutes", type=int, default=60, help="minutes of readings (default 60)")
    add("--out-of-orderness-ms", type=int, default=5_000,
        help="the job's watermark lag, for the late columns (default 5000, the job's default)")
    add("--seed", type=int, default=2018, help="simulation seed (default 2018, the benchmark's)")
    add("--only", nargs="*", choices=[f.name for f in FAMILIES], help="run only these families")
    args = parser.parse_args(argv)

    header = [f"{name:>{width}}" if i else f"{name:<{width}}" for i, (name, width, _f) in enumerate(COLUMNS)]
    print(" ".join(header))
    scores = []
    for s in full_score(args) if args.full else scaled_scores(args):
        scores.append(s)
        print(row(s), flush=True)
    truth = sum(s.truth for s in scores)
    found = sum(s.found for s in scores)
    missed = sum(s.missed for s in scores)
    false = sum(s.false for s in scores)
    seconds = sum(s.detect_s for s in scores)
    print(f"total: {len(scores)} scenarios, truth {truth} paths, found {found}, missed {missed}, "
          f"false {false}, detection {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
