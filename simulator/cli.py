"""`emberwatch-sim` / `python -m simulator`: generate sensor readings and send them somewhere.

The options (flags, `EMBERWATCH_SIM_*` environment variables, a `--config` file) and the run config
they make are in `simulator.options`; this module sends the records, paced, and writes the truth.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import orjson
from tqdm import tqdm

from simulator.events import Record, is_valid_event
from simulator.options import CliError, config_from_args, parse_args, parse_rate
from simulator.simulation import Simulation, simulate
from simulator.sinks.base import Sink, SinkError
from simulator.sinks.file import JsonlFileSink, RollingDirectorySink
from simulator.sinks.stdout import StdoutSink
from simulator.truth import find_paths, paths_to_json

logger = logging.getLogger("simulator")

BATCH_RECORDS = 500  # records handed to a sink at a time (the Kinesis PutRecords limit)


def make_sink(args: argparse.Namespace) -> Sink:
    """The sink the options ask for (stdout for --dry-run)."""
    kind = "stdout" if args.dry_run else (args.sink or "stdout")
    if kind == "stdout":
        return StdoutSink()
    if kind in ("file", "dir") and not args.out:
        raise CliError(f"--sink {kind} needs --out PATH")
    if kind == "file":
        return JsonlFileSink(args.out)
    if kind == "dir":
        return RollingDirectorySink(args.out, records_per_file=args.records_per_file or 100_000)
    # AWS sinks import boto3 only when used: it doubles the CLI's start-up time.
    import boto3

    from simulator.sinks.iot import DEFAULT_TOPIC, IotSink
    from simulator.sinks.kinesis import KinesisSink

    session = boto3.session.Session(region_name=args.aws_region)
    if kind == "kinesis":
        if not args.stream:
            raise CliError("--sink kinesis needs --stream NAME")
        sink = KinesisSink(args.stream, endpoint_url=args.endpoint_url, boto3_session=session,
                           aggregate=args.kinesis_aggregate,
                           partition_key=args.kinesis_partition_key or "node")
        if args.create_stream:
            sink.ensure_stream(args.create_stream)
        return sink
    return IotSink(args.topic or DEFAULT_TOPIC, endpoint_url=args.endpoint_url, boto3_session=session)


# --- running --------------------------------------------------------------------------------------
class Pacer:
    """Holds records back so event time advances `speedup` times faster than the wall clock."""

    def __init__(self, speedup: float | None) -> None:
        self.speedup = speedup
        self._start: tuple[float, int] | None = None

    def delay_for(self, ts_ms: int) -> float:
        """Seconds to wait before sending a record stamped `ts_ms` (0 when on time or late)."""
        if self.speedup is None:
            return 0.0
        now = time.monotonic()
        if self._start is None:
            self._start = (now, ts_ms)
            return 0.0
        wall0, ts0 = self._start
        return max(0.0, wall0 + (ts_ms - ts0) / 1000.0 / self.speedup - now)


class TruthCollector:
    """Keeps the hot, valid, first-seen readings that were sent, for `find_paths` at the end."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.hot: list[dict] = []
        self._seen: set[str] = set()

    def add(self, record: Record) -> None:
        hot = isinstance(record, dict) and is_valid_event(record) and record["temperature"] >= self.threshold
        if hot and record["event_id"] not in self._seen:
            self._seen.add(record["event_id"])
            self.hot.append(record)


def _batches(records: Iterable[Record], pacer: Pacer) -> Iterator[tuple[list[Record], float]]:
    """Group records into sink batches: (batch, seconds to wait before the next one).

    A batch is cut short whenever pacing says the next record is not due yet.
    """
    batch: list[Record] = []
    last_ts: int | None = None
    for record in records:
        if isinstance(record, dict):
            last_ts = record["ts"]
        wait = pacer.delay_for(last_ts) if last_ts is not None else 0.0
        if wait > 0.002 and batch:
            yield batch, wait
            batch = []
        elif wait > 0.002:
            time.sleep(wait)
        batch.append(record)
        if len(batch) >= BATCH_RECORDS:
            yield batch, 0.0
            batch = []
    if batch:
        yield batch, 0.0


def emit(
    sim: Simulation,
    sink: Sink,
    *,
    speedup: float | None = None,
    max_events: int | None = None,
    truth: TruthCollector | None = None,
    progress: tqdm | None = None,
) -> int:
    """Send the delivered records of `sim` to `sink`; returns how many records were sent.

    With no faults, no pacing and no limit, file-like sinks take the pre-encoded fast path.
    """
    cfg = sim.config
    fast = (not cfg.faults.any and speedup is None and max_events is None
            and isinstance(sink, (StdoutSink, JsonlFileSink, RollingDirectorySink)))
    sent = 0
    if fast:
        per_step = len(sim.network)
        hot: list[dict] | None = [] if truth is not None else None
        for chunk in sim.jsonl_chunks(hot):
            sink.write_jsonl(chunk, per_step)
            sent += per_step
            if progress is not None:
                progress.update(per_step)
        if truth is not None:
            for ev in hot:
                truth.add(ev)
        return sent
    records: Iterable[Record] = sim.delivered()
    for batch, wait in _batches(records, Pacer(speedup)):
        if max_events is not None and sent + len(batch) > max_events:
            batch = batch[: max_events - sent]
        sink.write(batch)
        if truth is not None:
            for record in batch:
                truth.add(record)
        sent += len(batch)
        if progress is not None:
            progress.update(len(batch))
        if max_events is not None and sent >= max_events:
            break
        if wait > 0:
            due = time.monotonic() + wait
            sink.on_idle()  # the source pauses: what the sink holds should go out now
            time.sleep(max(0.0, due - time.monotonic()))
    return sent


def truth_document(sim: Simulation, paths: set, chain_length: int, window_ms: int, sent: int) -> dict:
    """The --truth JSON: settings, stats, the infection tree, branch points and the alerted paths."""
    cfg = sim.config
    tree = sim.infection_tree()
    return {
        "config": dataclasses.asdict(cfg),
        "threshold": cfg.temperature.threshold_c,
        "chain_length": chain_length,
        "window_ms": window_ms,
        "records_sent": sent,
        "stats": {
            "nodes": len(sim.network),
            "regions": len(sim.network.regions),
            "steps": cfg.steps,
            "infected_nodes": len(tree),
            "ignitions": sum(1 for node, v in tree.items() if v["infectedBy"] == node),
            "branch_points": len(sim.branch_points),
            "paths": len(paths),
        },
        "infection_tree": [{"node": n, **v} for n, v in tree.items()],
        "branch_points": sim.branch_points,
        "paths": paths_to_json(paths),
    }


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the simulation, and return the exit code."""
    args = parse_args(argv)
    quiet = args.quiet
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.DEBUG if args.debug else logging.WARNING)  # no noise
    cfg = config_from_args(args)
    speedup = parse_rate(args.rate)
    chain_length, window_ms = args.chain_length, args.window_ms
    sim = simulate(cfg)
    if args.dry_run:
        logger.info("dry run: printing records instead of sending them to %s", args.sink or "stdout")
    truth = TruthCollector(cfg.temperature.threshold_c) if args.truth else None
    expected = len(sim.network) * cfg.steps
    total = min(expected, args.max_events) if args.max_events else expected
    started = time.monotonic()
    with tqdm(total=total, unit="rec", file=sys.stderr, disable=quiet or not sys.stderr.isatty(),
              mininterval=0.5) as progress, make_sink(args) as sink:
        sent = emit(sim, sink, speedup=speedup, max_events=args.max_events, truth=truth, progress=progress)
    elapsed = time.monotonic() - started
    if args.render:
        from simulator.render import render_html

        render_html(sim, args.render)
    summary = {"records": sent, "seconds": round(elapsed, 3),
               "records_per_s": round(sent / elapsed) if elapsed > 0 else None,
               "infected_nodes": len(sim.infections), "branch_points": len(sim.branch_points)}
    if truth is not None:
        paths = find_paths(truth.hot, chain_length, window_ms, cfg.temperature.threshold_c)
        doc = truth_document(sim, paths, chain_length, window_ms, sent)
        Path(args.truth).parent.mkdir(parents=True, exist_ok=True)
        Path(args.truth).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
        summary.update(hot_readings=len(truth.hot), paths=len(paths))
    if not quiet:
        sys.stderr.write(orjson.dumps(summary).decode() + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: clear one-line errors (exit 2) instead of tracebacks (--debug
    shows them)."""
    from botocore.exceptions import BotoCoreError, ClientError

    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        return run(argv)
    except BrokenPipeError:  # e.g. `... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (CliError, SinkError, ValueError, OSError, BotoCoreError, ClientError) as exc:
        if debug:
            raise
        sys.stderr.write(f"emberwatch-sim: error: {_explain(exc)}\n")
        return 2
    except KeyboardInterrupt:
        return 130


def _explain(exc: BaseException) -> str:
    """The error with what to do, for the mistakes users make most."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    if isinstance(exc, EndpointConnectionError):
        return f"{exc}; start the service (e.g. the local emulator) or fix --endpoint-url/--aws-region"
    if isinstance(exc, NoCredentialsError):
        return f"{exc}; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE (any for an emulator)"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}; check the path (--out, --truth, --topology-file)"
    return str(exc)
