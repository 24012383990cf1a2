"""Benchmark the pure-Python `cep.Matcher` on the simulator's benchmark stream; prints its figures.

Two workloads, one `Matcher` per region, events fed in timestamp order, only the matching timed
(the stream is generated into memory first):

(a) ``chain``: the original bushfire pattern, ``begin("n1")`` temperature >= 50, then four
    ``followed_by("n2".."n5")`` temperature >= 50 and ``infectedBy`` == node of the previous stage's
    last event, ``within(10 min)``. Run twice: with declarative `cep.conditions` only
    (``C.field(...)``, ``C.last(stage, field)``) and with plain lambdas only. Prints events/s,
    matches and distinct (region, node path)s.
(b) ``stress``: many live partial matches: a hot ``start``, then ``followed_by_any`` a looping
    ``one_or_more()`` stage of hot readings of nodes the start infected, then ``followed_by`` a hot
    reading of the start's node, ``within(5 min)``. Prints events/s, the peak number of live partial
    matches and the number of matches and timeouts.

Time advances as a job's watermarks advance it: every ``DRAIN_EVERY`` events the loop calls
``advance_time`` on every matcher (timed). The matchers are made with
``Matcher(report_timeouts=False)``, as a job without a timeout side output runs them (and as
Flink's NFA runs without a timeout handler): timed-out partial matches are counted by the
matcher (`Matcher.timed_out_partial_matches`, summed at the end), not turned into dicts.
``--report-timeouts`` reports each one as a dict, counted by the loop, as this script did before
2026-12-03 05:00 UTC (the same counts). ``--hold-timeouts`` never calls ``advance_time``, as this
script did before 2026-12-03 01:00 UTC: the matchers then hold every timeout to the end of the
stream (one buffer node each), which a job never does, and Python's full garbage collections over
that growing heap cost most of the stress run (implies ``--report-timeouts``).

Usage::

    python bench/cep_matcher.py                 # full 1M-event stream (SimulationConfig.benchmark())
    python bench/cep_matcher.py --events 100000 # the first 100k events, for a quick run
    python bench/cep_matcher.py --json          # one JSON line instead of the text report
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from cep import Matcher, Pattern
from cep import conditions as C
from jobs.bushfire.config import DetectionConfig
from jobs.bushfire.patterns import ORIGINAL_2018, fire_chain
from simulator import SimulationConfig, simulate

THRESHOLD_C = 50.0
WINDOW_MS = 600_000
CHAIN_NAMES = ("n1", "n2", "n3", "n4", "n5")
STRESS_WINDOW_MS = 300_000
SAMPLE_EVERY = 2_000  # events between two counts of live partial matches (counting is not timed)
DRAIN_EVERY = 2_000  # events between two `advance_time` calls on every matcher (a watermark; timed)


def bushfire_chain(declarative: bool) -> Pattern:
    """The original system's pattern (`ORIGINAL_2018`: followed_by, not deduplicated), keyed by region
    by the caller.

    `declarative` builds every condition from `cep.conditions` (`C.last` for the link to the
    previous stage), which the engine can index and pre-filter; otherwise plain lambdas, opaque
    to the engine.
    """
    detection = DetectionConfig(chain_length=len(CHAIN_NAMES), window_ms=WINDOW_MS, threshold_c=THRESHOLD_C)
    return fire_chain(detection, ORIGINAL_2018.replace(lambdas=not declarative))


def stress_pattern(window_ms: int = STRESS_WINDOW_MS) -> Pattern:
    """Many live partial matches: every hot reading starts a run, which branches on every later hot
    reading of a node it infected (followed_by_any), loops over further ones, and closes on the
    start node's next hot reading."""
    hot = C.field("temperature") >= THRESHOLD_C
    return (
        Pattern.begin("start")
        .where(hot)
        .followed_by_any("spread")
        .where(hot & (C.field("infectedBy") == C.last("start", "node")))
        .one_or_more()
        .followed_by("end")
        .where(hot & (C.field("node") == C.last("start", "node")))
        .within(window_ms)
    )


def load_stream(max_events: int | None) -> list:
    """The benchmark stream (event-time order), or its first `max_events` events."""
    events = simulate(SimulationConfig.benchmark()).events()
    return list(itertools.islice(events, max_events) if max_events else events)


def live_partial_matches(matcher: Matcher) -> int:
    """How many partial matches `matcher` holds (the engine's own count)."""
    return matcher.partial_match_count()


@dataclass
class Run:
    """What one pass over the stream measured."""

    cpu_seconds: float = 0.0  # process time inside the matching loop: robust on a shared machine
    wall_seconds: float = 0.0
    matches: int = 0
    paths: set = field(default_factory=set)  # distinct (region, node path)s, with `path_names`
    timeouts: int = 0
    peak_live_partial_matches: int = 0


def run(
    events: Sequence[dict],
    pattern: Pattern,
    sample_every: int = 0,
    drain_every: int = DRAIN_EVERY,
    path_names: Sequence[str] = (),
    report_timeouts: bool = False,
) -> Run:
    """Feed `events` to one `Matcher` per region, in order, timing only the matching.

    With `sample_every`, the live partial matches of all regions are counted every that many
    events, between two timed chunks. With `drain_every`, every matcher's time is advanced to the
    last event's timestamp every that many events (timed), as a watermark would. Matches and
    timeouts are counted (and, with `path_names`, the matches' distinct `(region, node path)`s
    kept), not kept: a job hands them on, and a list of every match dict would grow the heap that
    Python's full garbage collections walk, charging the harness's memory to the matcher.
    Timeouts are counted by the matchers unless `report_timeouts` (then reported and counted here).
    """
    matchers: dict = {}
    result = Run()
    if sample_every and drain_every and sample_every != drain_every:
        raise ValueError("sample_every and drain_every: one chunk size (or 0 for either)")
    step = drain_every or sample_every or len(events) or 1
    for start in range(0, len(events), step):
        chunk = events[start : start + step]
        cpu, wall = time.process_time(), time.perf_counter()
        for event in chunk:
            matcher = matchers.get(event["region"])
            if matcher is None:
                matcher = matchers[event["region"]] = Matcher(pattern, report_timeouts=report_timeouts)
            found = matcher.process(event, event["ts"])
            if found:
                _count(result, found, path_names)
        if drain_every:
            now = chunk[-1]["ts"]
            for matcher in matchers.values():
                found, timeouts = matcher.advance_time(now)
                _count(result, found, path_names)
                result.timeouts += len(timeouts)
        result.cpu_seconds += time.process_time() - cpu
        result.wall_seconds += time.perf_counter() - wall
        if sample_every:
            live = sum(live_partial_matches(m) for m in matchers.values())
            result.peak_live_partial_matches = max(result.peak_live_partial_matches, live)
    if not report_timeouts:
        result.timeouts = sum(m.timed_out_partial_matches for m in matchers.values())
    return result


def _count(result: Run, found: list, path_names: Sequence[str]) -> None:
    result.matches += len(found)
    if path_names:
        result.paths.update(distinct_paths(found, path_names))


def distinct_paths(matches: Iterable[dict], names: Sequence[str]) -> set:
    return {(m[names[0]][0]["region"], tuple(m[n][0]["node"] for n in names)) for m in matches}


def _rates(n_events: int, measured: Run) -> dict:
    return {
        "events_per_s": round(n_events / measured.cpu_seconds),
        "cpu_seconds": round(measured.cpu_seconds, 3),
        "wall_events_per_s": round(n_events / measured.wall_seconds),
    }


def measure(
    max_events: int | None,
    workloads: Sequence[str],
    stress_window_ms: int,
    log: Callable[[str], None],
    drain_every: int = DRAIN_EVERY,
    report_timeouts: bool = False,
) -> dict:
    began = time.perf_counter()
    events = load_stream(max_events)
    figures: dict = {
        "events": len(events),
        "regions": len({e["region"] for e in events}),
        "stream_seconds": round(time.perf_counter() - began, 2),
        "drain_every": drain_every,
        "report_timeouts": report_timeouts,
    }
    log(
        f"stream: {figures['events']:,} events in {figures['regions']} regions "
        f"(generated in {figures['stream_seconds']} s, not timed); events/s = events / CPU seconds "
        "of the matching loop (wall-clock rate in brackets); "
        + (f"time advanced every {drain_every:,} events" if drain_every else "timeouts held, never reported")
        + ("; timeouts reported as dicts" if report_timeouts else "; timeouts counted by the matchers")
    )
    if "chain" in workloads:
        for label, declarative in (("declarative", True), ("lambdas", False)):
            pattern = bushfire_chain(declarative)
            measured = run(
                events,
                pattern,
                drain_every=drain_every,
                path_names=CHAIN_NAMES,
                report_timeouts=report_timeouts,
            )
            f = figures[f"chain_{label}"] = {
                **_rates(len(events), measured),
                "matches": measured.matches,
                "timeouts": measured.timeouts,
                "distinct_paths": len(measured.paths),
            }
            log(
                f"(a) bushfire chain, {label + ':':13} {f['events_per_s']:>9,} events/s "
                f"({f['wall_events_per_s']:,}/s wall; {f['cpu_seconds']} s CPU)  "
                f"matches {f['matches']:,}  distinct paths {f['distinct_paths']:,}  "
                f"timeouts {f['timeouts']:,}"
            )
    if "stress" in workloads:
        measured = run(
            events,
            stress_pattern(stress_window_ms),
            sample_every=SAMPLE_EVERY,
            drain_every=drain_every,
            report_timeouts=report_timeouts,
        )
        f = figures["stress"] = {
            **_rates(len(events), measured),
            "window_ms": stress_window_ms,
            "peak_live_partial_matches": measured.peak_live_partial_matches,
            "matches": measured.matches,
            "timeouts": measured.timeouts,
        }
        log(
            f"(b) stress (followed_by_any + one_or_more, within {stress_window_ms // 1000} s): "
            f"{f['events_per_s']:,} events/s ({f['wall_events_per_s']:,}/s wall; "
            f"{f['cpu_seconds']} s CPU)  peak live partial matches {f['peak_live_partial_matches']:,} "
            f"(counted every {SAMPLE_EVERY:,} events)  matches {f['matches']:,}  timeouts {f['timeouts']:,}"
        )
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help="use only the first N events of the stream (default: all, about 1M)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    parser.add_argument("--only", choices=("chain", "stress"), default=None, help="run one workload")
    parser.add_argument(
        "--stress-window-s",
        type=int,
        default=STRESS_WINDOW_MS // 1000,
        help="window of the stress pattern in seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--hold-timeouts",
        action="store_true",
        help="never call advance_time: the matchers hold every timeout to the end (this script before "
        "2026-12-03 01:00 UTC; implies --report-timeouts)",
    )
    parser.add_argument(
        "--report-timeouts",
        action="store_true",
        help="report every timeout as a dict (a job with a timeout side output) instead of counting it in "
        "the matcher (this script before 2026-12-03 05:00 UTC)",
    )
    args = parser.parse_args(argv)
    workloads = (args.only,) if args.only else ("chain", "stress")
    log = (lambda _line: None) if args.json else print
    drain_every = 0 if args.hold_timeouts else DRAIN_EVERY
    report_timeouts = args.report_timeouts or args.hold_timeouts
    figures = measure(args.events, workloads, args.stress_window_s * 1000, log, drain_every, report_timeouts)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
