"""Soak benchmark: the job on a watched directory, fed a sustained rate for minutes with faults on.

    python bench/soak.py --minutes 10 --rate 20000

A producer process simulates a faulty network (`soak_stream`: delays up to 20 s, drops, duplicates,
spikes, stuck sensors, malformed lines; the 1M benchmark's fire density) and writes it as feed files
of `--batch-ms` worth of readings, a little ahead of the feed. Meanwhile ``python -m jobs.bushfire
--source files`` starts; once it runs, the feeder moves one file into its watched directory every
`--batch-ms` (a rename: the rate is exact, whatever the producer costs), for `--minutes`. Event time
runs `--speedup` times faster than the wall clock (10: a 10-minute soak is 100 event-minutes of
1,200 regions x 100 sensors).

Every `--report-s` a line shows the backlog (lines fed minus lines the job's source has read, from
Flink's REST API) and the resident memory of every process: the JVM, the job's Python client, its
Python worker, this bench and its producer. After the feed, one quiet reading far ahead in event time
goes in last, the backlog drains, the job is stopped (SIGTERM), and the report ends with: the
achieved feed rate, backlog and memory after warm-up, peak RSS (VmHWM) and CPU seconds of every
process, dead letters by reason, and the alert set against the simulator's truth over exactly the
lines fed (found, missed, false, duplicates). Exit status: 0 when every target is met, 1 when one is
missed, 2 when the job could not run. Targets (issue 15): no growing backlog, memory flat after
warm-up, exact alerts; and every malformed line a dead letter.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soak_report import verdict  # noqa: E402
from soak_stream import batch_name, soak_config, start_producer  # noqa: E402  (bench/ is this script's folder)
from soak_watch import ProcessSample, SourceCounter, job_samples, process_tree, sample  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Watch:
    """Everything sampled while the job runs (filled by the reporter thread)."""

    rows: list[tuple[float, int, int, dict[str, int]]] = field(default_factory=list)  # t, fed, backlog, rss
    last: dict[int, ProcessSample] = field(default_factory=dict)  # pid -> latest sample
    peaks: dict[str, int] = field(default_factory=dict)  # "role[pid]" -> VmHWM MiB
    fed: int = 0
    read: Optional[int] = None


def take_samples(job: subprocess.Popen, producer_pid: int, watch: Watch) -> list[ProcessSample]:
    samples = job_samples(job.pid) + [
        s for s in (sample(os.getpid(), "bench"), sample(producer_pid, "producer")) if s
    ]
    for s in samples:
        watch.last[s.pid] = s
        key = f"{s.role}[{s.pid}]"
        watch.peaks[key] = max(watch.peaks.get(key, 0), s.peak_mib)
    return samples


def reporter(
    job,
    producer_pid,
    source: SourceCounter,
    watch: Watch,
    begin: float,
    every: float,
    rate: int,
    stop: threading.Event,
) -> None:
    """Print a backlog/memory line every `every` seconds until `stop` is set."""
    while not stop.is_set():
        now = time.monotonic() - begin
        fed, read = watch.fed, source.read()
        watch.read = read if read is not None else watch.read
        samples = take_samples(job, producer_pid, watch)
        rss: dict[str, int] = {}
        for s in samples:
            rss[s.role] = rss.get(s.role, 0) + s.rss_mib
        backlog = fed - read if read is not None else -1
        watch.rows.append((now, fed, backlog, rss))
        rss_text = ", ".join(f"{role} {mib}" for role, mib in rss.items())
        lag = f"({backlog / rate:5.1f} s)" if backlog >= 0 else "(?)"
        print(f"t={now:5.0f}s fed {fed:>11,} read {read if read is not None else '?':>11,} "
              f"backlog {backlog:>10,} {lag}  RSS MiB: {rss_text}", flush=True)  # fmt: skip
        stop.wait(every)


class JobEnded(Exception):
    """The job exited before the benchmark was done with it."""


def produced_so_far(staging: Path) -> Optional[dict]:
    """The producer's totals (batches, lines, end_ts), written once it has simulated everything."""
    done = staging / "produced.json"
    return json.loads(done.read_text()) if done.exists() else None


def feed(args, staging: Path, in_dir: Path, taken, job, watch: Watch, begin: float) -> dict:
    """Move the producer's files into the watched directory, one every `--batch-ms`; returns feed figures.

    The achieved rate is measured from the first move to the last: the lines of every file but the
    last, over the time between them.
    """
    batch_s = args.batch_ms / 1000
    per_batch = args.rate * args.batch_ms // 1000
    sequence, late, worst, waited = 0, 0, 0.0, 0.0
    first_move = last_move = 0.0
    before_last = 0  # lines fed before the latest file
    produced: Optional[dict] = None

    def done() -> bool:
        return produced is not None and sequence >= produced["batches"]

    while not done():
        due = begin + sequence * batch_s
        time.sleep(max(0.0, due - time.monotonic()))
        name = batch_name(sequence + 1)
        before = time.monotonic()
        while not (staging / name).exists() and not done():
            if job.poll() is not None:
                raise JobEnded(job.returncode)
            time.sleep(0.005)
            produced = produced or produced_so_far(staging)
        if done():
            break
        waited += time.monotonic() - before
        produced = produced or produced_so_far(staging)
        os.rename(staging / name, in_dir / name)
        last_move = time.monotonic()
        first_move = first_move or last_move
        sequence += 1
        taken.value = sequence
        before_last = watch.fed
        watch.fed = produced["lines"] if done() else sequence * per_batch
        worst = max(worst, last_move - due)
        late += last_move - due > 0.1
        if job.poll() is not None:
            raise JobEnded(job.returncode)
    span = last_move - first_move
    return {"batches": sequence, "lines": watch.fed, "seconds": last_move - begin + batch_s,
            "rate": before_last / span if span > 0 else 0.0, "late_batches": late, "worst_late_s": worst,
            "producer_wait_s": waited, "end_ts": produced["end_ts"] if produced else 0}  # fmt: skip


def write_flush(in_dir: Path, sequence: int, end_ts: int) -> None:
    """One quiet reading an hour after the last, in a region of its own: the watermark passes everything."""
    flush = {"event_id": "soak-flush:1", "node": "flush", "region": "zz-flush", "ts": end_ts + 3_600_000,
             "temperature": 20.0, "infectedBy": None, "lat": 0.0, "lon": 0.0}  # fmt: skip
    hidden = in_dir / f".{batch_name(sequence)}"
    hidden.write_text(json.dumps(flush) + "\n")
    hidden.rename(in_dir / batch_name(sequence))


def drain(source: SourceCounter, fed: int, figures: dict, timeout_s: float) -> None:
    """Wait until the job has read every line fed and every step's input watermark has passed the last
    reading (the flush reading pushes it there): then every reading has been through every step and
    what it produced is in the files (they are flushed per line)."""
    start = time.monotonic()
    read, behind = source.read(), {}
    while time.monotonic() - start < timeout_s:
        read = source.read()
        if read is not None and read >= fed:
            marks = source.input_watermarks()
            behind = {step: mark for step, mark in marks.items() if mark <= figures["end_ts"]}
            if marks and not behind:
                break
        time.sleep(2)
    figures.update(drain_s=time.monotonic() - start, read_at_end=read, steps_behind=sorted(behind))
    if behind:
        print(f"steps whose input watermark is not past the last reading: {sorted(behind)}", flush=True)


def interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def stop_job(job: subprocess.Popen, pids: set[int]) -> None:
    """SIGTERM the job's client (it cancels the job and prints its summary), then SIGKILL anything left."""
    if job.poll() is None:
        job.send_signal(signal.SIGTERM)
        try:
            job.wait(timeout=60)
        except subprocess.TimeoutExpired:
            job.kill()
            job.wait()
    time.sleep(1)
    for pid in pids:
        if pid != os.getpid() and Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="how long the sustained feed lasts")
    parser.add_argument("--rate", type=int, default=20_000, help="readings per second fed")
    parser.add_argument(
        "--speedup", type=float, default=10, help="event time runs this much faster than the feed"
    )
    parser.add_argument(
        "--fire-scale",
        type=float,
        default=1.0,
        help="ignitions per region and event-hour, as a multiple of the 1M benchmark stream's",
    )
    parser.add_argument("--batch-ms", type=int, default=500, help="one file per this many ms")
    parser.add_argument(
        "--lead-s", type=float, default=30, help="how far (feed seconds) the producer may run ahead"
    )
    parser.add_argument("--report-s", type=float, default=15, help="a backlog/memory line this often")
    parser.add_argument(
        "--warm-up-s", type=float, default=60, help="feed seconds not judged for backlog and memory"
    )
    parser.add_argument(
        "--memory-warm-up-s",
        type=float,
        help="feed seconds not judged for memory (default: one event-hour, 3600 / --speedup: the job "
        "remembers event ids that long, so its state fills for that long)",
    )
    parser.add_argument(
        "--max-backlog-s",
        type=float,
        default=60,
        help="target: the backlog after warm-up stays below this many seconds of input (and its trend "
        "at most 1 %% of the rate)",
    )
    parser.add_argument(
        "--max-memory-growth",
        type=float,
        default=0.10,
        help="target: each job process's RSS grows by less than this fraction (or 32 MiB) "
        "from the first to the second half of the feed after warm-up",
    )
    parser.add_argument("--start-timeout-s", type=float, default=300)
    parser.add_argument("--drain-timeout-s", type=float, default=300)
    parser.add_argument("--out", default=str(ROOT / "out" / "bench" / "soak"))
    parser.add_argument("--keep-files", action="store_true", help="keep the fed files (GBs) after the run")
    parser.add_argument(
        "--parallelism", type=int, default=2,
        help="the job's --parallelism (2: a Python worker process per core of a 2-core machine)",
    )  # fmt: skip
    parser.add_argument("--job-flag", action="append", default=[], help="extra job flag (repeat)")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, interrupted)  # SIGTERM stops what the bench started, as Ctrl-C does

    out = Path(args.out)
    in_dir, staging = out / "in", out / "staging"
    alerts_file, dead_file = out / "alerts.jsonl", out / "dead-letters.jsonl"
    for folder in (in_dir, staging):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
    for old in (alerts_file, dead_file):
        old.unlink(missing_ok=True)

    cfg = soak_config(args.rate, args.minutes, args.speedup, args.seed, args.fire_scale)
    per_batch = args.rate * args.batch_ms // 1000
    lead = max(2, int(args.lead_s * 1000 / args.batch_ms))
    print(f"network: {cfg.topology.regions} regions x {cfg.topology.nodes_per_region} sensors, "
          f"{cfg.minutes} event-minutes ({args.speedup:g}x the feed's clock), faults on, "
          f"{cfg.fire.ignitions_per_region:.3f} ignitions per region; feed {args.rate:,}/s for "
          f"{args.minutes:g} min in files of {per_batch:,} lines", flush=True)  # fmt: skip
    producer, taken = start_producer(cfg, staging, per_batch, lead)

    port = free_port()
    command = [
        sys.executable, "-m", "jobs.bushfire", "--source", "files", "--input", str(in_dir),
        "--alerts-out", str(alerts_file), "--dead-letters", str(dead_file),
        "--console", "false", "--log-file", str(out / "job-detail.log"), "--progress-interval", "0",
        "--flink-option", f"rest.port={port}", "--flink-option", "metrics.fetcher.update-interval=1000",
        "--parallelism", str(args.parallelism), *args.job_flag,
    ]  # fmt: skip
    print("running:", " ".join(command), flush=True)
    log = open(out / "job.log", "wb")  # noqa: SIM115 - closed below
    started = time.monotonic()
    job = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)
    source, watch, stop = SourceCounter(port), Watch(), threading.Event()
    thread: Optional[threading.Thread] = None
    figures: dict = {}
    try:
        while source.read() is None:  # the job is up when its REST API shows its source's metric
            if job.poll() is not None or time.monotonic() - started > args.start_timeout_s:
                print(f"the job did not start (exit {job.poll()}); see {out / 'job.log'}", flush=True)
                return 2
            time.sleep(1)
        print(f"job running after {time.monotonic() - started:.0f} s; feeding", flush=True)
        begin = time.monotonic()
        take_samples(job, producer.pid, watch)
        cpu_at_start = dict(watch.last)
        thread = threading.Thread(
            target=reporter,
            daemon=True,
            args=(job, producer.pid, source, watch, begin, args.report_s, args.rate, stop),
        )
        thread.start()
        figures = feed(args, staging, in_dir, taken, job, watch, begin)
        figures["read_while_fed"] = source.read() or watch.read or 0
        take_samples(job, producer.pid, watch)
        figures["cpu"] = {pid: (s.role, s.cpu_s - (cpu_at_start[pid].cpu_s if pid in cpu_at_start else 0.0))
                          for pid, s in watch.last.items()}  # fmt: skip
        write_flush(in_dir, figures["batches"] + 1, figures["end_ts"])
        watch.fed += 1
        print_feed(figures, args.rate)
        drain(source, watch.fed, figures, args.drain_timeout_s)
        producer.join(timeout=max(1.0, args.drain_timeout_s - figures["drain_s"]))
    except JobEnded as ended:
        print(f"the job ended while fed (exit {ended.args[0]}); see {out / 'job.log'}", flush=True)
        return 2
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=30)
        started_pids = set(watch.last) | (set(process_tree(job.pid)) if job.poll() is None else set())
        stop_job(job, started_pids - {os.getpid(), producer.pid})
        if producer.is_alive():
            producer.terminate()
            producer.join(timeout=10)
        log.close()
        if not args.keep_files:
            for fed_file in in_dir.glob("*.jsonl"):
                fed_file.unlink()
    return verdict(args, out, staging, watch.rows, watch.peaks, watch.fed, figures)


def print_feed(figures: dict, rate: int) -> None:
    print(f"fed {figures['lines']:,} lines in {figures['seconds']:.1f} s: {figures['rate']:,.0f} readings/s "
          f"(target {rate:,}/s); {figures['batches']} files, {figures['late_batches']} moved more than 0.1 s "
          f"late (worst {figures['worst_late_s']:.2f} s), {figures['producer_wait_s']:.1f} s waiting for the "
          f"producer", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
