"""Soak benchmark: the job on a watched directory (or a Kinesis stream), fed a sustained rate for minutes
with faults on.

    python bench/soak.py --minutes 10 --rate 20000
    python bench/soak.py --source kinesis --minutes 10 --rate 3000 --speedup 20

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

With ``--source kinesis`` (`soak_kinesis`) the same files are put into a fresh kinesis-local stream of
`--shards` shards instead, KPL-aggregated by the simulator's Kinesis sink, one round per file on the
same schedule; the job reads it from TRIM_HORIZON. A round is on time when its PutRecords calls have
returned, so the achieved rate and how late rounds were say whether the emulator kept the pace. The
backlog is readings put minus readings the Kinesis source emitted; each line also shows the
connector's largest ``millisBehindLatest``, and the report kinesis-local's memory and CPU share.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soak_kinesis import KinesisInput  # noqa: E402
from soak_report import verdict  # noqa: E402
from soak_stream import batch_name, soak_config, start_producer  # noqa: E402  (bench/ is this script's folder)
from soak_watch import ProcessSample, SourceCounter, job_samples, process_tree, sample  # noqa: E402

from simulator.sinks.base import SinkError  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

#: --rate and --speedup when not given: the watched directory takes the issue's 20,000 readings/s;
#: kinesis-local, on the same 2 cores, carries far fewer (docs/robustness.md, "Load and soak").
DEFAULTS = {"files": (20_000, 10.0), "kinesis": (3_000, 20.0)}


@dataclass
class Watch:
    """Everything sampled while the job runs (filled by the reporter thread)."""

    rows: list[tuple[float, int, int, dict[str, int]]] = field(default_factory=list)  # t, fed, backlog, rss
    last: dict[int, ProcessSample] = field(default_factory=dict)  # pid -> latest sample
    peaks: dict[str, int] = field(default_factory=dict)  # "role[pid]" -> VmHWM MiB
    fed: int = 0
    read: Optional[int] = None
    job_pids: set[int] = field(default_factory=set)  # every process of the job seen (stopped at the end)
    late_s: float = 0.0  # how late the latest file was delivered (a slow put falls behind the schedule)


class FileInput:
    """The watched directory: a feed file goes in by a rename (the file source's read count is its
    reader's numRecordsIn)."""

    read_metric = "numRecordsIn"

    def __init__(self, in_dir: Path) -> None:
        self.in_dir = in_dir

    def job_source(self) -> list[str]:
        return ["--source", "files", "--input", str(self.in_dir)]

    def deliver(self, path: Path) -> None:
        os.rename(path, self.in_dir / path.name)

    def put_flush(self, reading: dict, sequence: int) -> int:
        hidden = self.in_dir / f".{batch_name(sequence)}"
        hidden.write_text(json.dumps(reading) + "\n")
        hidden.rename(self.in_dir / batch_name(sequence))
        return 1

    def processes(self) -> dict[int, str]:
        return {}

    def status(self, _source: SourceCounter) -> str:
        return ""

    def report(self, _figures: dict, _fed_s: float) -> None:
        pass

    def close(self, keep_files: bool) -> None:
        if not keep_files:
            for fed_file in self.in_dir.glob("*.jsonl"):
                fed_file.unlink()


def take_samples(
    job: subprocess.Popen, producer_pid: int, watch: Watch, others: dict[int, str]
) -> list[ProcessSample]:
    """Sample the job's processes, the bench's, and `others` (pid -> role: the emulator's)."""
    of_job = job_samples(job.pid)
    watch.job_pids.update(s.pid for s in of_job)
    mine = [sample(os.getpid(), "bench"), sample(producer_pid, "producer")]
    samples = of_job + [s for s in mine + [sample(pid, role) for pid, role in others.items()] if s]
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
    feed_input,
) -> None:
    """Print a backlog/memory line every `every` seconds until `stop` is set."""
    while not stop.is_set():
        now = time.monotonic() - begin
        fed, read = watch.fed, source.read()
        watch.read = read if read is not None else watch.read
        samples = take_samples(job, producer_pid, watch, feed_input.processes())
        notes = [feed_input.status(source)]
        rss: dict[str, int] = {}
        for s in samples:
            rss[s.role] = rss.get(s.role, 0) + s.rss_mib
        # The feed counts a file once its put has returned; the job may have read some of it by then.
        backlog = max(0, fed - read) if read is not None else -1
        watch.rows.append((now, fed, backlog, rss))
        rss_text = ", ".join(f"{role} {mib}" for role, mib in rss.items())
        lag = f"({backlog / rate:5.1f} s)" if backlog >= 0 else "(?)"
        notes.append(f"feed {watch.late_s:.1f} s behind schedule" if watch.late_s > 0.1 else "")
        status = "".join(f"  {note}" for note in notes if note)
        print(f"t={now:5.0f}s fed {fed:>11,} read {read if read is not None else '?':>11,} "
              f"backlog {backlog:>10,} {lag}{status}  RSS MiB: {rss_text}",
              flush=True)  # fmt: skip
        stop.wait(max(0.0, now + every - (time.monotonic() - begin)))  # the reads take seconds themselves


class JobEnded(Exception):
    """The job exited before the benchmark was done with it."""


def produced_so_far(staging: Path) -> Optional[dict]:
    """The producer's totals (batches, lines, end_ts), written once it has simulated everything."""
    done = staging / "produced.json"
    return json.loads(done.read_text()) if done.exists() else None


def feed(
    args, staging: Path, deliver: Callable[[Path], None], taken, job, watch: Watch, begin: float
) -> dict:
    """Deliver the producer's files (`deliver`: a move into the watched directory, or a put into the
    stream), one every `--batch-ms`; returns feed figures.

    The achieved rate is measured from the first delivery's end to the last's: the lines of every file
    but the last, over the time between them. A delivery that ends late delays the next ones, which
    then go without waiting until the feed is on schedule again; `behind_at_end_s` is how late the
    last one ended.
    """
    batch_s = args.batch_ms / 1000
    per_batch = args.rate * args.batch_ms // 1000
    sequence, late, worst, waited = 0, 0, 0.0, 0.0
    lateness: list[float] = []  # how late each delivery ended (a put's own time included)
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
        deliver(staging / name)
        last_move = time.monotonic()
        first_move = first_move or last_move
        sequence += 1
        taken.value = sequence
        before_last = watch.fed
        watch.fed = produced["lines"] if done() else sequence * per_batch
        watch.late_s = last_move - due
        worst = max(worst, watch.late_s)
        lateness.append(watch.late_s)
        late += last_move - due > 0.1
        if job.poll() is not None:
            raise JobEnded(job.returncode)
    span = last_move - first_move
    return {"batches": sequence, "lines": watch.fed, "seconds": last_move - begin + batch_s,
            "rate": before_last / span if span > 0 else 0.0, "late_batches": late, "worst_late_s": worst,
            "behind_at_end_s": max(0.0, last_move - (begin + (sequence - 1) * batch_s)),
            "median_late_s": sorted(lateness)[len(lateness) // 2] if lateness else 0.0,
            "producer_wait_s": waited, "end_ts": produced["end_ts"] if produced else 0}  # fmt: skip


def flush_reading(end_ts: int) -> dict:
    """One quiet reading an hour after the last, in a region of its own: the watermark passes everything."""
    return {"event_id": "soak-flush:1", "node": "flush", "region": "zz-flush", "ts": end_ts + 3_600_000,
            "temperature": 20.0, "infectedBy": None, "lat": 0.0, "lon": 0.0}  # fmt: skip


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
    """SIGTERM the job's client (it cancels the job and prints its summary), then SIGKILL anything of it
    left (`pids`: its processes)."""
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
    parser.add_argument("--source", choices=sorted(DEFAULTS), default="files",
                        help="files: a watched directory; kinesis: a fresh kinesis-local stream")  # fmt: skip
    parser.add_argument("--minutes", type=float, default=10, help="how long the sustained feed lasts")
    parser.add_argument("--rate", type=int, help="readings per second fed (default: 20,000; Kinesis 3,000)")
    parser.add_argument(
        "--speedup", type=float, help="event time runs this much faster than the feed (10; Kinesis 20)"
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
    parser.add_argument("--kinesis-endpoint", default=os.environ.get("EMBERWATCH_KINESIS_ENDPOINT"),
                        help="a running kinesis-local (default: $EMBERWATCH_KINESIS_ENDPOINT, else the "
                        "stack's, else one started for the run and stopped after it)")  # fmt: skip
    parser.add_argument("--stream", default="soak", help="the Kinesis stream (made afresh)")
    parser.add_argument("--shards", type=int, default=4, help="shards of the fresh Kinesis stream")
    args = parser.parse_args()
    args.rate = args.rate or DEFAULTS[args.source][0]
    args.speedup = args.speedup or DEFAULTS[args.source][1]
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
    try:
        if args.source == "kinesis":
            feed_input = KinesisInput(args.kinesis_endpoint, args.stream, args.shards)
        else:
            feed_input = FileInput(in_dir)
    except Exception as failed:  # no emulator or no stream: say why, in one line
        print(f"no Kinesis stream to feed: {failed}", flush=True)
        return 2

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
        sys.executable, "-m", "jobs.bushfire", *feed_input.job_source(),
        "--alerts-out", str(alerts_file), "--dead-letters", str(dead_file),
        "--console", "false", "--log-file", str(out / "job-detail.log"), "--progress-interval", "0",
        "--flink-option", f"rest.port={port}", "--flink-option", "metrics.fetcher.update-interval=1000",
        "--parallelism", str(args.parallelism), *args.job_flag,
    ]  # fmt: skip
    print("running:", " ".join(command), flush=True)
    log = open(out / "job.log", "wb")  # noqa: SIM115 - closed below
    started = time.monotonic()
    job = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)
    source, watch, stop = SourceCounter(port, feed_input.read_metric), Watch(), threading.Event()
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
        take_samples(job, producer.pid, watch, feed_input.processes())
        cpu_at_start = dict(watch.last)
        thread = threading.Thread(
            target=reporter,
            daemon=True,
            args=(job, producer.pid, source, watch, begin, args.report_s, args.rate, stop, feed_input),
        )
        thread.start()
        figures = feed(args, staging, feed_input.deliver, taken, job, watch, begin)
        figures["read_while_fed"] = source.read() or watch.read or 0
        take_samples(job, producer.pid, watch, feed_input.processes())
        figures["cpu"] = {pid: (s.role, s.cpu_s - (cpu_at_start[pid].cpu_s if pid in cpu_at_start else 0.0))
                          for pid, s in watch.last.items()}  # fmt: skip
        watch.fed += feed_input.put_flush(flush_reading(figures["end_ts"]), figures["batches"] + 1)
        print_feed(figures, args.rate)
        feed_input.report(figures, figures["seconds"])
        drain(source, watch.fed, figures, args.drain_timeout_s)
        producer.join(timeout=max(1.0, args.drain_timeout_s - figures["drain_s"]))
    except JobEnded as ended:
        print(f"the job ended while fed (exit {ended.args[0]}); see {out / 'job.log'}", flush=True)
        return 2
    except SinkError as refused:
        print(f"kinesis-local did not take the feed: {refused}", flush=True)
        return 2
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=30)
        job_pids = watch.job_pids | (set(process_tree(job.pid)) if job.poll() is None else set())
        stop_job(job, job_pids - {os.getpid(), producer.pid})
        if producer.is_alive():
            producer.terminate()
            producer.join(timeout=10)
        log.close()
        feed_input.close(args.keep_files)
    return verdict(args, out, staging, watch.rows, watch.peaks, watch.fed, figures)


def print_feed(figures: dict, rate: int) -> None:
    print(f"fed {figures['lines']:,} lines in {figures['seconds']:.1f} s: {figures['rate']:,.0f} readings/s "
          f"(target {rate:,}/s); {figures['batches']} files, {figures['late_batches']} delivered more than "
          f"0.1 s late (median {figures['median_late_s']:.2f} s, worst {figures['worst_late_s']:.2f} s, "
          f"the last {figures['behind_at_end_s']:.2f} s), {figures['producer_wait_s']:.1f} s waiting for "
          f"the producer", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
