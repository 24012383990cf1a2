"""Simulator throughput: readings generated and written to a JSONL file, in events per second.

    python bench/simulator_throughput.py                 # the 1M-event benchmark preset
    python bench/simulator_throughput.py --paths dicts   # also time events() -> orjson, and faults

Prints one line per measured path; the figure that counts is `jsonl-file` (the CLI's
`--sink file` fast path, what `emberwatch-sim --preset benchmark --sink file` does).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator import FaultConfig, SimulationConfig, simulate
from simulator.cli import emit
from simulator.sinks import JsonlFileSink


def time_fast_path(cfg: SimulationConfig, path: Path) -> tuple[int, float]:
    sim = simulate(cfg)
    started = time.perf_counter()
    with JsonlFileSink(path) as sink:
        sent = emit(sim, sink)
    return sent, time.perf_counter() - started


def time_dicts(cfg: SimulationConfig, path: Path) -> tuple[int, float]:
    sim = simulate(cfg)
    started = time.perf_counter()
    nl = orjson.OPT_APPEND_NEWLINE
    count = 0
    with open(path, "wb") as out:
        buf = []
        for ev in sim.delivered():
            buf.append(orjson.dumps(ev, option=nl) if isinstance(ev, dict) else ev + b"\n")
            if len(buf) >= 10_000:
                out.write(b"".join(buf))
                count += len(buf)
                buf.clear()
        out.write(b"".join(buf))
        count += len(buf)
    return count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="benchmark")
    parser.add_argument("--paths", choices=["fast", "dicts"], default="fast",
                        help="fast: only the JSONL fast path; dicts: also events() and faults")
    args = parser.parse_args()
    cfg = SimulationConfig.preset(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "events.jsonl"
        runs = [("jsonl-file", lambda: time_fast_path(cfg, out))]
        if args.paths == "dicts":
            runs.append(("events()-dicts", lambda: time_dicts(cfg, out)))
            faulty = cfg.replace(faults=FaultConfig(delay_rate=0.05, drop_rate=0.01, duplicate_rate=0.01,
                                                    skew_rate=0.02, spike_rate=0.005, malformed_rate=0.005))
            runs.append(("delivered()-with-faults", lambda: time_dicts(faulty, out)))
        for name, run in runs:
            cpu_started = time.process_time()
            count, seconds = run()
            cpu = time.process_time() - cpu_started  # includes simulate() set-up (~0.3 s)
            size_mb = out.stat().st_size / 1e6
            # CPU time too: on a shared machine the wall clock also counts other people's work.
            print(f"{name}: {count} events in {seconds:.2f} s = {count / seconds:,.0f} events/s "
                  f"({size_mb:.0f} MB; {cpu:.2f} s CPU = {count / cpu:,.0f} events per CPU-second)")


if __name__ == "__main__":
    main()
