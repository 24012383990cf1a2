"""Events/s through `cep.flink` on the simulator's benchmark stream, with the bushfire chain pattern.

Bounded JSON-lines input read and parsed in the JVM (Table API `filesystem` source, watermark in the
DDL), parallelism 1, keyed by region, matches into a discarding sink. Each configuration is one job;
the figure is input events / wall time of the job, start-up included. Configurations: Python
execution mode (thread, process) x JVM pre-filter (on, off).

    python bench/flink_adapter.py                      # 1M events, every configuration
    python bench/flink_adapter.py --events 100000 --mode thread --prefilter on
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from pyflink.common import Types  # noqa: E402
from pyflink.datastream.functions import SinkFunction  # noqa: E402

from cep.flink import CEP  # noqa: E402
from cep.flink.tables import keyed_events  # noqa: E402
from jobs.bushfire.patterns import fire_chain  # noqa: E402
from tests.support.flink import local_env, local_table_env  # noqa: E402 - the same set-up as the tests

MODES = ("thread", "process")
DISCARDING_SINK = "org.apache.flink.streaming.api.functions.sink.DiscardingSink"
READINGS_DDL = """
CREATE TEMPORARY TABLE readings (
    event_id STRING, node STRING, region STRING, ts BIGINT, temperature DOUBLE, infectedBy STRING,
    lat DOUBLE, lon DOUBLE, battery DOUBLE,
    rt AS TO_TIMESTAMP_LTZ(ts, 3),
    WATERMARK FOR rt AS rt - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')
"""


def write_benchmark_stream(path: Path, events: int) -> Path:
    """The first `events` readings of `SimulationConfig.benchmark()` as JSON lines."""
    from simulator import SimulationConfig, simulate

    written = 0
    with open(path, "wb") as out:
        for chunk in simulate(SimulationConfig.benchmark()).jsonl_chunks():
            lines = chunk.splitlines(keepends=True)[: events - written]
            out.writelines(lines)
            written += len(lines)
            if written >= events:
                break
    return path


def run_job(path: Path, mode: str, prefilter: bool) -> float:
    """Run one configuration to the end; return its wall time in seconds."""
    env = local_env(1, **{"python.execution-mode": mode})
    t_env = local_table_env(env)
    t_env.execute_sql(READINGS_DDL.format(path=path))
    pattern = fire_chain()  # the job's alert pattern
    keyed = keyed_events(
        t_env,
        t_env.from_path("readings"),
        "region",
        "rt",
        pattern,
        prefilter=prefilter,
        key_type=Types.STRING(),
    )
    matches = CEP.pattern(keyed, pattern).select(lambda match: len(match), Types.INT())
    matches.add_sink(SinkFunction(DISCARDING_SINK))
    started = time.perf_counter()
    env.execute(f"bench-cep-flink-{mode}-{'prefilter' if prefilter else 'all'}")
    return time.perf_counter() - started


def check_paths(path: Path, mode: str) -> str:
    """Collect the distinct paths the adapter finds and compare them with `simulator.find_paths`."""
    import orjson

    from simulator import find_paths

    env = local_env(1, **{"python.execution-mode": mode})
    t_env = local_table_env(env)
    t_env.execute_sql(READINGS_DDL.format(path=path))
    pattern = fire_chain()  # the job's alert pattern
    keyed = keyed_events(t_env, t_env.from_path("readings"), "region", "rt", pattern)
    found = CEP.pattern(keyed, pattern).select(_region_and_path)
    with found.execute_and_collect("bench-cep-flink-check") as rows:
        paths = set(rows)
    with open(path, "rb") as lines:
        truth = find_paths(orjson.loads(line) for line in lines)
    return f"check: {len(paths & truth):,} of {len(truth):,} true paths found, {len(paths - truth):,} false"


def _region_and_path(match: dict) -> tuple:
    readings = [match[f"n{i}"][0] for i in range(1, len(match) + 1)]
    return readings[0]["region"], tuple(reading["node"] for reading in readings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="benchmark events to run (default 1M)")
    parser.add_argument(
        "--mode", choices=(*MODES, "both"), default="process", help="python.execution-mode (process: faster)"
    )
    parser.add_argument("--prefilter", choices=("on", "off", "both"), default="both")
    parser.add_argument("--check", action="store_true", help="also compare the paths found with the truth")
    parser.add_argument("--input", type=Path, help="a JSON-lines file to use instead of a fresh simulation")
    args = parser.parse_args(argv)

    modes = MODES if args.mode == "both" else (args.mode,)
    prefilters = (True, False) if args.prefilter == "both" else (args.prefilter == "on",)
    with tempfile.TemporaryDirectory(prefix="bench-cep-flink-") as tmp:
        path = args.input or write_benchmark_stream(Path(tmp) / "readings.jsonl", args.events)
        with open(path, "rb") as lines:
            events = sum(1 for _ in lines)
        print(f"{events:,} benchmark events, bushfire chain (5 nodes, 10 min, followed_by_any + dedupe_runs)")
        for mode, prefilter in itertools.product(modes, prefilters):
            seconds = run_job(path, mode, prefilter)
            label = f"{mode:7s} mode, pre-filter {'on ' if prefilter else 'off'}"
            rate = events / seconds
            print(f"{label}: {rate:10,.0f} events/s ({seconds:.1f} s, start-up included)", flush=True)
        if args.check:
            print(check_paths(path, modes[0]))


if __name__ == "__main__":
    main()
