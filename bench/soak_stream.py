"""The soak benchmark's input: a faulty simulated network, generated in feed-sized files ahead of the feed.

`soak_config` sizes the network so that the feed rate and a chosen event-time speed-up agree, with the
ignition rate of the 1M benchmark stream (`SimulationConfig.benchmark()`) held over the run (the hot
share still grows as fires spread: 0.5 % at first, 3.4 % at its peak on the 10-minute stream).
`produce` runs in its own process while the feed runs: it simulates in arrival order, writes batches of
exactly `per_batch` lines (``00000001.jsonl``, ...) into a staging folder at most `lead_batches` ahead
of what the feeder has taken, and keeps the hot, well-formed lines aside. When the last batch is
written it computes the ground truth over exactly those lines (the simulator's `find_paths`, the same
search its `truth()` runs) and writes ``truth.json`` and ``meta.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from simulator import FaultConfig, SimulationConfig, TopologyConfig, encode, find_paths, simulate
from simulator.config import BENCHMARK_FIRE, DEFAULT_THRESHOLD_C

NODES_PER_REGION = 100
FAULTS = FaultConfig(
    delay_rate=0.02, max_delay_ms=20_000, drop_rate=0.005, duplicate_rate=0.01, spike_rate=0.005,
    stuck_rate=0.01, malformed_rate=0.005,
)  # fmt: skip


def benchmark_ignitions_per_region_hour() -> float:
    """Ignitions per region per event-hour in the benchmark stream, while it ignites fires (0.233)."""
    bench = SimulationConfig.benchmark()
    return bench.fire.ignitions_per_region / (bench.fire.ignition_horizon * bench.minutes / 60)


def soak_config(
    rate: int, minutes: float, speedup: float, seed: int, fire_scale: float = 1.0
) -> SimulationConfig:
    """A network whose readings, replayed at `rate` per second, run `speedup` times faster than event time.

    Every sensor reports once an event-minute, so `rate * 60 / speedup` sensors (1,200 regions of 100
    at 20,000/s and 10x). The fire is the benchmark's (spread, burn time) with ignitions at the
    benchmark's rate per region and event-hour, spread over the whole run (`fire_scale` multiplies
    it): the ignition rate does not depend on how long the soak runs, and new fires start until its
    end (burning ones accumulate, so the hot share rises for the first ~6 minutes of a 10x soak).
    """
    regions = max(1, round(rate * 60 / (speedup * NODES_PER_REGION)))
    event_minutes = max(1, math.ceil(minutes * speedup))
    ignitions = benchmark_ignitions_per_region_hour() * fire_scale * event_minutes / 60
    return SimulationConfig(
        topology=TopologyConfig(regions=regions, nodes_per_region=NODES_PER_REGION, grid_cols=10),
        fire=dataclasses.replace(BENCHMARK_FIRE, ignitions_per_region=ignitions, ignition_horizon=1.0),
        faults=FAULTS,
        minutes=event_minutes,
        seed=seed,
    )


def batch_name(sequence: int) -> str:
    """Name of the `sequence`-th feed file (1-based): name order is feed order."""
    return f"{sequence:08d}.jsonl"


def delivered_lines(cfg: SimulationConfig) -> Iterator[tuple[bytes, bool, bool]]:
    """(line with its newline, malformed?, hot?) of each delivered record, in arrival order."""
    threshold = cfg.temperature.threshold_c
    for record in simulate(cfg).delivered():
        if isinstance(record, bytes):
            yield record + b"\n", True, False
        else:
            yield encode(record) + b"\n", False, record["temperature"] >= threshold


def produce(
    cfg: SimulationConfig, staging: Path, per_batch: int, lead_batches: int, taken: multiprocessing.Value
) -> None:
    """Write the feed files into `staging`, never more than `lead_batches` ahead of `taken.value`.

    Runs in its own process (`start_producer`). Each file is written under a hidden name and renamed,
    so the feeder never sees half a file.
    """
    started = time.process_time()
    hot_path = staging / "hot.jsonl"
    lines: list[bytes] = []
    sequence = total = malformed = hot = 0

    def flush() -> None:
        nonlocal sequence
        while sequence - taken.value >= lead_batches:
            time.sleep(0.02)
        sequence += 1
        hidden = staging / f".{batch_name(sequence)}"
        hidden.write_bytes(b"".join(lines))
        hidden.rename(staging / batch_name(sequence))
        lines.clear()

    with open(hot_path, "wb") as hot_lines:
        for line, bad, is_hot in delivered_lines(cfg):
            lines.append(line)
            total += 1
            malformed += bad
            if is_hot:
                hot += 1
                hot_lines.write(line)
            if len(lines) == per_batch:
                flush()
        batches = sequence + (1 if lines else 0)
        produced = {"batches": batches, "lines": total, "end_ts": cfg.start_ms + cfg.steps * cfg.interval_ms}
        (staging / ".produced.json").write_text(json.dumps(produced))
        (staging / ".produced.json").rename(staging / "produced.json")  # before the last file: the feeder
        if lines:  # knows it is the last when it takes it
            flush()
    truth = hot_truth(hot_path)
    (staging / "truth.json").write_text(
        json.dumps([{"region": r, "path": list(p)} for r, p in sorted(truth)])
    )
    meta = {
        "batches": sequence, "lines": total, "malformed_lines": malformed, "hot_lines": hot,
        "paths": len(truth), "producer_cpu_s": round(time.process_time() - started, 1),
    }  # fmt: skip
    (staging / ".meta.json").write_text(json.dumps(meta))
    (staging / ".meta.json").rename(staging / "meta.json")


def hot_truth(hot_path: Path) -> set[tuple[str, tuple[str, ...]]]:
    """The simulator's `find_paths` over the hot, well-formed lines that were written (streamed from disk)."""

    def readings() -> Iterator[dict]:
        with open(hot_path, "rb") as lines:
            for line in lines:
                yield orjson.loads(line)

    return find_paths(readings(), threshold=DEFAULT_THRESHOLD_C)


def start_producer(cfg: SimulationConfig, staging: Path, per_batch: int, lead_batches: int):
    """Start `produce` in a child process; returns (process, shared counter of batches taken)."""
    context = multiprocessing.get_context("fork")
    taken = context.Value("q", 0, lock=False)  # written by the feeder only
    process = context.Process(
        target=produce, args=(cfg, staging, per_batch, lead_batches, taken), name="soak-producer", daemon=True
    )
    process.start()
    return process, taken
