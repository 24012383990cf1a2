"""What a reading of the soak stream costs the job, next to one of the 1M benchmark stream.

Stages three files: a start-up baseline (the benchmark stream's first `--baseline-lines` lines), the
1M benchmark stream, and a stretch of the soak stream (`bench/soak.py`'s network and faults, feed
minutes `--from-minute` to `--to-minute` of a `--minutes` soak at `--rate`, so past the fires'
ramp-up). For each it prints what drives the job's cost: lines, malformed lines, hot readings (the
only valid ones that reach the Python step), re-delivered hot readings, ignitions, true paths per 1M
readings, and the live partial matches of the job's pattern (an event-time `cep.Matcher` per region
over the hot readings in time order, summed over regions and sampled every event-minute). Then it
runs the job bounded over each file (``--source file``, parallelism 1, as `bench/bushfire_job.py`)
and prints its CPU seconds by process (JVM, Python) and, with the baseline's start-up CPU taken off,
CPU microseconds per reading: what 20,000 readings/s would need in cores.

    python bench/soak_cost.py [--from-minute 4 --to-minute 6] [--skip-job]

Figures on a shared machine: CPU seconds hold up under load better than wall time, but not fully
(caches, frequency); say so with them.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from collections import defaultdict
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bushfire_job import benchmark_events, run_sampling_cpu  # noqa: E402  (bench/ is this script's folder)
from soak_stream import delivered_lines, soak_config  # noqa: E402

from cep import Matcher  # noqa: E402
from jobs.bushfire.patterns import fire_chain  # noqa: E402
from simulator import FaultConfig, SimulationConfig, find_paths, is_valid_event, simulate  # noqa: E402
from simulator.config import DEFAULT_THRESHOLD_C  # noqa: E402


def stage_soak(args, path: Path) -> None:
    """Write feed minutes [from, to) of the soak stream to `path`."""
    cfg = soak_config(args.rate, args.minutes, args.speedup, args.seed)
    if args.no_faults or args.fault:
        kept = {f"{name}_rate": getattr(cfg.faults, f"{name}_rate") for name in args.fault or ()}
        cfg = cfg.replace(
            faults=dataclasses.replace(FaultConfig(max_delay_ms=cfg.faults.max_delay_ms), **kept)
        )
    first, last = int(args.from_minute * 60 * args.rate), int(args.to_minute * 60 * args.rate)
    with open(path, "wb") as out:
        for line, _bad, _hot in itertools.islice(delivered_lines(cfg), first, last):
            out.write(line)


def stream_profile(path: Path) -> dict:
    """What in the file drives the job's cost (see the module docstring)."""
    lines = malformed = 0
    hot: list[dict] = []
    seen: set[str] = set()
    redelivered = 0
    with open(path, "rb") as data:
        for line in data:
            lines += 1
            try:
                reading = orjson.loads(line)
            except orjson.JSONDecodeError:
                malformed += 1
                continue
            if not is_valid_event(reading):
                malformed += 1
            elif reading["temperature"] >= DEFAULT_THRESHOLD_C:
                if reading["event_id"] in seen:
                    redelivered += 1
                    continue
                seen.add(reading["event_id"])
                hot.append(reading)
    paths = find_paths(hot)
    ignited = {(r["region"], r["node"]) for r in hot if r["infectedBy"] == r["node"]}
    return {"lines": lines, "malformed": malformed, "hot": len(hot), "redelivered_hot": redelivered,
            "ignited_sensors": len(ignited), "paths": len(paths), **partial_matches(hot)}  # fmt: skip


def partial_matches(hot: list[dict]) -> dict:
    """Live partial matches of the job's pattern: a matcher per region, summed each event-minute."""
    pattern = fire_chain()
    matchers: dict[str, Matcher] = defaultdict(lambda: Matcher(pattern))
    samples: list[int] = []
    matches = 0
    minute = None
    for reading in sorted(hot, key=lambda r: r["ts"]):
        if minute is not None and reading["ts"] // 60_000 != minute:
            for matcher in matchers.values():
                matcher.advance_time(reading["ts"])
            samples.append(sum(m.partial_match_count() for m in matchers.values()))
        minute = reading["ts"] // 60_000
        matches += len(matchers[reading["region"]].process(reading, reading["ts"]))
    return {"matches": matches, "partial_matches_mean": round(sum(samples) / max(1, len(samples))),
            "partial_matches_max": max(samples, default=0)}  # fmt: skip


def run_job(path: Path, out: Path, flags: list[str]) -> dict[str, float]:
    """Run the job bounded over `path`; returns CPU seconds by process (java, python) and wall seconds."""
    command = [
        sys.executable, "-m", "jobs.bushfire", "--source", "file", "--input", str(path),
        "--alerts-out", str(out / f"{path.stem}-alerts.jsonl"),
        "--dead-letters", str(out / f"{path.stem}-dead.jsonl"), "--console", "false", "--parallelism", "1",
        "--log-file", str(out / f"{path.stem}-job.log"), *flags,
    ]  # fmt: skip
    for stale in (out / f"{path.stem}-alerts.jsonl", out / f"{path.stem}-dead.jsonl"):
        stale.unlink(missing_ok=True)
    wall, cpu = run_sampling_cpu(command)
    return {"wall": wall, **cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--speedup", type=float, default=10)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--from-minute", type=float, default=4, help="first feed minute of the soak staged")
    parser.add_argument("--to-minute", type=float, default=6, help="feed minute the staged stretch ends")
    parser.add_argument("--baseline-lines", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "out" / "bench" / "soak-cost"))
    parser.add_argument("--skip-job", action="store_true", help="only the streams' profiles")
    parser.add_argument("--no-faults", action="store_true", help="the soak stream without its faults")
    parser.add_argument(
        "--fault",
        action="append",
        choices=("delay", "drop", "duplicate", "stuck", "spike", "malformed"),
        help="keep only this fault of the soak's (repeat): which one costs the job most",
    )
    parser.add_argument(
        "--soak-only",
        action="store_true",
        help="profile and run only the soak stretch; the start-up baseline and the benchmark's figures "
        "come from --reuse (a figures.json of an earlier run)",
    )
    parser.add_argument("--reuse", help="figures.json of an earlier run, for --soak-only")
    parser.add_argument("--job-flag", action="append", default=[], help="extra job flag (repeat)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    bench = out / "benchmark.jsonl"
    benchmark_events(bench)
    baseline = out / "baseline.jsonl"
    with open(bench, "rb") as src, open(baseline, "wb") as dst:
        dst.writelines(itertools.islice(src, args.baseline_lines))
    soak = out / "soak.jsonl"
    stage_soak(args, soak)
    bench_cfg = SimulationConfig.benchmark()
    bench_ignitions = sum(1 for i in simulate(bench_cfg).infections.values() if i.is_ignition)
    print(f"benchmark stream: {bench_ignitions} ignitions in {bench_cfg.minutes} event-minutes of "
          f"{bench_cfg.topology.regions} regions", flush=True)  # fmt: skip

    streams = {"soak": soak} if args.soak_only else {"benchmark": bench, "soak": soak}
    profiles = {name: stream_profile(path) for name, path in streams.items()}
    for name, p in profiles.items():
        n = p["lines"]
        print(f"{name}: {n:,} lines; malformed {p['malformed'] / n:.2%}; hot {p['hot'] / n:.2%} "
              f"(+{p['redelivered_hot']:,} re-delivered); ignited sensors {p['ignited_sensors']:,}; "
              f"paths {p['paths']:,} ({p['paths'] / n * 1e6:,.0f} per 1M); matches {p['matches']:,} "
              f"({p['matches'] / n * 1e6:,.0f} per 1M); live partial matches mean "
              f"{p['partial_matches_mean']:,}, max {p['partial_matches_max']:,}", flush=True)  # fmt: skip
    if args.skip_job:
        return 0
    files = {"soak": soak} if args.soak_only else {"baseline": baseline, "benchmark": bench, "soak": soak}
    cpu = {name: run_job(path, out, args.job_flag) for name, path in files.items()}
    if args.soak_only:
        earlier = json.loads(Path(args.reuse).read_text())
        cpu = {"baseline": earlier["cpu"]["baseline"], "benchmark": earlier["cpu"]["benchmark"], **cpu}
        profiles["benchmark"] = earlier["profiles"]["benchmark"]
    start = cpu["baseline"]
    for name in ("baseline", "benchmark", "soak"):
        c = cpu[name]
        line = (f"job over {name}: wall {c['wall']:.1f} s, CPU java {c.get('java', 0):.1f} s, "
                f"python {c.get('python', 0):.1f} s")  # fmt: skip
        if name != "baseline":
            n = profiles[name]["lines"]
            per = {k: (c.get(k, 0) - start.get(k, 0)) / n * 1e6 for k in ("java", "python")}
            total = per["java"] + per["python"]
            line += (f"; after start-up: java {per['java']:.1f} + python {per['python']:.1f} = {total:.1f} "
                     f"us per reading -> {total * args.rate / 1e6:.2f} cores at {args.rate:,}/s")  # fmt: skip
        print(line, flush=True)
    (out / "figures.json").write_text(json.dumps({"profiles": profiles, "cpu": cpu}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
