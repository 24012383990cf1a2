"""Benchmark: the bushfire job over the 1M-reading simulated stream, bounded file, parallelism 1.

Writes `SimulationConfig.benchmark()` to a JSONL file first (not timed; reused when present), runs
``python -m jobs.bushfire --source file`` with SNS and OpenSearch off and alerts to a file, and prints
the job's wall-clock time (start-up included) and events/s for each of `--runs` runs and their
median (the figure; a 2-core machine varies by a few seconds from run to run), and the distinct paths
of the last run against the simulator's ground truth (found, missed, false).

    python bench/bushfire_job.py [--events-file PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator import SimulationConfig, find_paths, simulate  # noqa: E402

#: Java Flink CEP's figure on this machine (bench/results/java_flink_cep.md); the target is twice that.
JAVA_FLINK_CEP_EVENTS_PER_S = 23_000


def write_events(path: Path) -> int:
    """The benchmark stream as JSONL; returns the number of lines."""
    sim = simulate(SimulationConfig.benchmark())
    count = 0
    with open(path, "wb") as out:
        for chunk in sim.jsonl_chunks():
            out.write(chunk)
            count += chunk.count(b"\n")
    return count


def truth_of(path: Path) -> set[tuple[str, tuple[str, ...]]]:
    """Ground truth from the file itself (the same readings the job reads)."""

    def readings():
        with open(path, "rb") as lines:
            for line in lines:
                event = json.loads(line)
                if event["temperature"] >= 50.0:  # find_paths ignores the rest anyway
                    yield event

    return set(find_paths(readings(), 5, 600_000, 50.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-file", default=str(ROOT / "out" / "bench" / "benchmark-1m.jsonl"))
    parser.add_argument("--out", default=str(ROOT / "out" / "bench"))
    parser.add_argument("--runs", type=int, default=3, help="runs to time; the median is the figure")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    events_file = Path(args.events_file)
    if not events_file.exists():
        print(f"writing the benchmark stream to {events_file} (not timed) ...", flush=True)
        events_file.parent.mkdir(parents=True, exist_ok=True)
        write_events(events_file)
    with open(events_file, "rb") as lines:
        events = sum(1 for _ in lines)
    alerts_file, dead_file = out / "alerts.jsonl", out / "dead-letters.jsonl"
    command = [
        sys.executable, "-m", "jobs.bushfire", "--source", "file", "--input", str(events_file),
        "--alerts-out", str(alerts_file), "--dead-letters", str(dead_file), "--console", "false",
        "--parallelism", "1",
    ]  # fmt: skip
    print("running:", " ".join(command), flush=True)
    times = []
    for run in range(1, args.runs + 1):
        for stale in (alerts_file, dead_file):
            stale.unlink(missing_ok=True)  # each run starts without the alerts of the one before
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
        print(f"run {run}: {times[-1]:.1f} s -> {events / times[-1]:,.0f} events/s", flush=True)
    seconds = statistics.median(times)

    alerts = [json.loads(line) for line in alerts_file.read_text().splitlines() if line.strip()]
    found = {(a["region"], tuple(a["path"])) for a in alerts}
    truth = truth_of(events_file)
    rate = events / seconds
    print(
        f"events: {events:,}  job wall clock (start-up included), median of {len(times)}: "
        f"{seconds:.1f} s -> {rate:,.0f} events/s"
    )
    print(f"target: >= {2 * JAVA_FLINK_CEP_EVENTS_PER_S:,} events/s (2x Java Flink CEP's ~23k/s)")
    print(
        f"paths: truth {len(truth)}, found {len(found & truth)}, missed {len(truth - found)}, "
        f"false {len(found - truth)}; alert lines {len(alerts)} (duplicates {len(alerts) - len(found)})"
    )
    return 0 if found == truth else 1


if __name__ == "__main__":
    sys.exit(main())
