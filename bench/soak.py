"""Soak benchmark: the job on a watched directory, fed a sustained rate for minutes with faults on.

Simulates a network with the simulator's faults (delays, drops, duplicates, spikes, stuck sensors,
malformed lines), writes its delivered records to a staging file, then starts
``python -m jobs.bushfire --source files`` and feeds the records into its watched directory at
`--rate` readings/s (one file every `--batch-ms`, written hidden and renamed, as a shipper would) for
`--minutes`. The replay runs faster than event time (about one event-minute per wall second at the
default size), which is the point: a backlog that grows would show.

Every `--report-s` it prints the backlog (lines written minus lines the job's source has read, from
Flink's REST API) and the resident memory of every process of the job (the Python client with its
loopback worker, the JVM). At the end it writes one late reading of a quiet region far ahead in event
time, so the watermark passes every pending match, waits for the backlog to drain, and compares the
alert set with the simulator's ground truth. Peak RSS is each process's VmHWM.

    python bench/soak.py --minutes 10 [--rate 20000]

Targets (issue 15): no growing backlog, memory flat after warm-up, exact alerts. The machine may be
shared: say so with the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator import (  # noqa: E402
    FaultConfig,
    FireConfig,
    SimulationConfig,
    TopologyConfig,
    encode,
    simulate,
)

NODES_PER_REGION = 100
FAULTS = FaultConfig(
    delay_rate=0.02, max_delay_ms=20_000, drop_rate=0.005, duplicate_rate=0.01, spike_rate=0.005,
    stuck_rate=0.01, malformed_rate=0.005,
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def simulation(rate: int, minutes: float, seed: int) -> SimulationConfig:
    """A network whose replay at `rate` readings/s lasts `minutes`: one event-minute per wall second."""
    regions = max(1, rate // NODES_PER_REGION)
    event_minutes = max(10, int(minutes * 60))
    return SimulationConfig(
        topology=TopologyConfig(regions=regions, nodes_per_region=NODES_PER_REGION, grid_cols=10),
        fire=FireConfig(
            ignitions_per_region=0.5, ignition_horizon=0.8, spread_probability=0.3, burn_minutes=12
        ),
        faults=FAULTS,
        minutes=event_minutes,
        seed=seed,
    )


def process_tree(pid: int) -> list[int]:
    """`pid` and every descendant (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def memory(pid: int) -> tuple[str, int, int]:
    """(name, RSS MiB, peak RSS MiB) of a process from /proc/<pid>/status."""
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    except OSError:
        return ("gone", 0, 0)
    kib = lambda key: int(fields.get(key, "0 kB").split()[0])  # noqa: E731
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    name = "java" if cmd.endswith("java") else Path(cmd).name or fields.get("Name", "?")
    return (f"{name}[{pid}]", kib("VmRSS") // 1024, kib("VmHWM") // 1024)


class SourceCounter:
    """Lines the job's source has read, from the REST API (its operator's numRecordsIn, per subtask)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.job = None
        self.metric = None
        self.vertex = None

    def read(self) -> int | None:
        try:
            if self.job is None:
                jobs = requests.get(self.base + "/jobs", timeout=5).json()["jobs"]
                running = [j["id"] for j in jobs if j["status"] == "RUNNING"]
                if not running:
                    return None
                self.job = running[0]
            if not self.metric:  # none until the job's operators have registered them
                vertices = requests.get(f"{self.base}/jobs/{self.job}", timeout=5).json()["vertices"]
                self.vertex = next(v["id"] for v in vertices if v["name"].startswith("Source"))
                ids = [m["id"] for m in requests.get(self._metrics_url(), timeout=5).json()]
                # A FLIP-27 source reader counts what it emits as its operator's numRecordsIn.
                self.metric = [i for i in ids if ".Source" in i and i.endswith(".numRecordsIn")]
                if not self.metric:
                    return None
            got = requests.get(self._metrics_url(), params={"get": ",".join(self.metric)}, timeout=5).json()
            return int(sum(float(m["value"]) for m in got))
        except (requests.RequestException, ValueError, KeyError, StopIteration):
            return None

    def _metrics_url(self) -> str:
        return f"{self.base}/jobs/{self.job}/vertices/{self.vertex}/metrics"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="how long the sustained feed lasts")
    parser.add_argument("--rate", type=int, default=20_000, help="readings per second fed")
    parser.add_argument("--batch-ms", type=int, default=500, help="one file per this many ms")
    parser.add_argument("--report-s", type=float, default=15, help="a backlog/memory line this often")
    parser.add_argument("--drain-timeout-s", type=float, default=600)
    parser.add_argument("--out", default=str(ROOT / "out" / "bench" / "soak"))
    parser.add_argument("--job-flag", action="append", default=[], help="extra job flag (repeat)")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()

    out = Path(args.out)
    in_dir = out / "in"
    in_dir.mkdir(parents=True, exist_ok=True)
    for old in list(in_dir.iterdir()) + [out / "alerts.jsonl", out / "dead-letters.jsonl"]:
        old.unlink(missing_ok=True)

    started = time.time()
    cfg = simulation(args.rate, args.minutes, args.seed)
    sim = simulate(cfg)
    staging = out / "staging.jsonl"
    last_ts = 0
    records = 0  # fed from the staging file as they are due, never all in memory (12M lines at 10 min)
    with open(staging, "wb") as data:
        for record in sim.delivered():
            data.write(encode(record) + b"\n")
            records += 1
            if isinstance(record, dict):
                last_ts = max(last_ts, record["ts"])
    truth = Counter(sim.truth())
    print(
        f"simulated {records:,} records ({cfg.topology.regions} regions x {NODES_PER_REGION} nodes, "
        f"{cfg.minutes} event-minutes, faults on), truth {len(truth)} paths, "
        f"in {time.time() - started:.0f} s",
        flush=True,
    )

    port = free_port()
    alerts_file = out / "alerts.jsonl"
    command = [
        sys.executable, "-m", "jobs.bushfire", "--source", "files", "--input", str(in_dir),
        "--alerts-out", str(alerts_file), "--dead-letters", str(out / "dead-letters.jsonl"),
        "--console", "false", "--log-file", str(out / "job-detail.log"), "--progress-interval", "0",
        "--flink-option", f"rest.port={port}", "--flink-option", "metrics.fetcher.update-interval=1000",
        *args.job_flag,
    ]  # fmt: skip
    print("running:", " ".join(command), flush=True)
    log = open(out / "job.log", "wb")  # noqa: SIM115 - closed below
    job = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)
    source = SourceCounter(port)
    peaks: dict[str, int] = {}
    samples: list[tuple[float, int, int]] = []  # (s since feed start, backlog, total RSS MiB)

    def report(now: float, written: int) -> None:
        read = source.read()
        mem = [memory(pid) for pid in process_tree(job.pid)] + [memory(os.getpid())]
        for name, _rss, peak in mem:
            peaks[name] = max(peaks.get(name, 0), peak)
        backlog = written - read if read is not None else -1
        total_rss = sum(rss for _n, rss, _p in mem)
        samples.append((now, backlog, total_rss))
        rss_text = ", ".join(f"{n} {rss} MiB" for n, rss, _p in mem if rss)
        print(
            f"t={now:6.0f}s written {written:>10,} read {read if read is not None else '?':>10} "
            f"backlog {backlog:>9,}  rss: {rss_text}",
            flush=True,
        )

    feed = open(staging, "rb")  # noqa: SIM115 - closed below
    try:
        while source.read() is None:  # the job is up when its REST API shows it running
            if job.poll() is not None:
                print(f"the job ended early (exit {job.returncode}); see {out / 'job.log'}")
                return 2
            time.sleep(1)
        per_batch = max(1, args.rate * args.batch_ms // 1000)
        begin = time.time()
        written = 0
        next_report = begin
        sequence = 0
        late_batches = 0
        while written < records:
            tick = time.time()
            due = min(records, int((tick - begin) * args.rate) + per_batch)
            if due > written:
                sequence += 1
                hidden = in_dir / f".{sequence:08d}.jsonl"
                hidden.write_bytes(b"".join(itertools.islice(feed, due - written)))
                hidden.rename(in_dir / f"{sequence:08d}.jsonl")
                written = due
            if tick >= next_report:
                report(tick - begin, written)
                next_report += args.report_s
            spare = args.batch_ms / 1000 - (time.time() - tick)
            late_batches += spare < 0
            time.sleep(max(0.0, spare))
        fed_s = time.time() - begin
        flush = {"event_id": "soak-flush:1", "node": "flush", "region": "zz-flush", "ts": last_ts + 3_600_000,
                 "temperature": 20.0, "infectedBy": None, "lat": 0.0, "lon": 0.0}  # fmt: skip
        (in_dir / ".flush.jsonl").write_text(json.dumps(flush) + "\n")
        (in_dir / ".flush.jsonl").rename(in_dir / "zz-flush.jsonl")
        written += 1
        print(
            f"fed {written - 1:,} records in {fed_s:.0f} s = {(written - 1) / fed_s:,.0f}/s "
            f"(batches that overran {args.batch_ms} ms: {late_batches}); draining",
            flush=True,
        )
        deadline = time.time() + args.drain_timeout_s
        while time.time() < deadline:
            report(time.time() - begin, written)
            if samples[-1][1] == 0:
                break
            time.sleep(min(args.report_s, 5))
        time.sleep(10)  # the last matches' way out to the file after the watermark passed them
    finally:
        feed.close()
        job.terminate()
        try:
            job.wait(timeout=60)
        except subprocess.TimeoutExpired:
            job.kill()
        log.close()

    alerts = [json.loads(line) for line in alerts_file.read_text().splitlines() if line.strip()]
    found = Counter((a["region"], tuple(a["path"])) for a in alerts)
    missed = sum((truth - found).values())
    false = sum((found - truth).values())
    duplicates = sum(n - 1 for n in found.values() if n > 1)
    dead = Counter(
        json.loads(line)["reason"] for line in (out / "dead-letters.jsonl").read_text().splitlines()
    )
    print("peak RSS (VmHWM): " + ", ".join(f"{name} {peak} MiB" for name, peak in sorted(peaks.items())))
    after_warmup = [rss for t, _b, rss in samples if t >= min(60, fed_s / 3) and t <= fed_s]
    if after_warmup:
        print(f"total RSS after warm-up: min {min(after_warmup)} MiB, max {max(after_warmup)} MiB")
    backlogs = [b for t, b, _r in samples if t <= fed_s and b >= 0]
    if backlogs:
        half = len(backlogs) // 2
        second = backlogs[half:]
        print(
            f"backlog while feeding: max {max(backlogs):,}, mean of 1st half "
            f"{sum(backlogs[:half]) / max(1, half):,.0f}, "
            f"of 2nd half {sum(second) / max(1, len(second)):,.0f}"
        )
    print(f"dead letters by reason: {dict(dead)}")
    print(
        f"alerts: {len(alerts)} lines, truth {sum(truth.values())} paths: missed {missed}, false {false}, "
        f"duplicates {duplicates} -> {'exact' if not (missed or false or duplicates) else 'NOT exact'}"
    )
    return 0 if not (missed or false or duplicates) else 1


if __name__ == "__main__":
    sys.exit(main())
