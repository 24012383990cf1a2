"""`emberwatch-sim` / `python -m simulator`: generate sensor readings and send them somewhere.

Every option falls back to an environment variable (`config.env_var_for`: `--minutes` ->
`EMBERWATCH_SIM_MINUTES`), then to the preset's or the built-in default.
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

from simulator.config import (
    DEFAULT_CHAIN_LENGTH,
    DEFAULT_WINDOW_MS,
    PRESETS,
    SimulationConfig,
    TopologyKind,
    env_var_for,
)
from simulator.events import Record, is_valid_event
from simulator.simulation import Simulation, simulate
from simulator.sinks.base import Sink, SinkError
from simulator.sinks.file import JsonlFileSink, RollingDirectorySink
from simulator.sinks.stdout import StdoutSink
from simulator.truth import find_paths, paths_to_json

logger = logging.getLogger("simulator")

SINKS = ("stdout", "file", "dir", "kinesis", "iot")
BATCH_RECORDS = 500  # records handed to a sink at a time (the Kinesis PutRecords limit)
_FAULT_OPTIONS = {  # CLI option -> FaultConfig field
    "delay_rate": "delay_rate", "max_delay_ms": "max_delay_ms", "drop_rate": "drop_rate",
    "duplicate_rate": "duplicate_rate", "skew_rate": "skew_rate", "max_skew_ms": "max_skew_ms",
    "stuck_rate": "stuck_rate", "spike_rate": "spike_rate", "malformed_rate": "malformed_rate",
}
_FIRE_OPTIONS = {
    "ignitions_per_region": "ignitions_per_region", "spread_probability": "spread_probability",
    "burn_minutes": "burn_minutes", "wind_direction": "wind_direction_deg", "wind_bias": "wind_bias",
}
_TOPOLOGY_OPTIONS = {
    "regions": "regions", "nodes_per_region": "nodes_per_region", "grid_cols": "grid_cols",
    "radius": "radius", "topology_file": "file",
}


class CliError(Exception):
    """A bad combination of options; the message says what to change."""


# --- options --------------------------------------------------------------------------------------
def _env_default(dest: str, convert: type = str) -> object:
    raw = os.environ.get(env_var_for(dest))
    if raw is None or raw == "":
        return None
    try:
        return convert(raw)
    except ValueError:
        raise CliError(f"{env_var_for(dest)}={raw!r} is not a valid {convert.__name__}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; defaults come from the environment (None = not given)."""
    p = argparse.ArgumentParser(
        prog="emberwatch-sim",
        description="Simulate an IoT sensor network watching for bushfires; send its readings somewhere.",
        epilog="Every option falls back to the environment variable EMBERWATCH_SIM_<OPTION> "
               "(e.g. EMBERWATCH_SIM_MINUTES), then to the preset or built-in default.",
    )

    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    groups: list = [p]  # options go into the most recently opened group

    def group(title: str) -> None:
        groups.append(p.add_argument_group(title))

    def opt(flag: str, convert: type = str, **kw: object) -> None:
        dest = flag.lstrip("-").replace("-", "_")
        groups[-1].add_argument(flag, dest=dest, type=convert, default=_env_default(dest, convert), **kw)

    def switch(flag: str, text: str) -> None:
        dest = flag.lstrip("-").replace("-", "_")
        default = _flag(_env_default(dest))
        groups[-1].add_argument(flag, dest=dest, action="store_true", default=default, help=text)

    group("network")
    opt("--preset", choices=PRESETS, help="start from a preset (blog-11: the article's 11 sensors; "
        "benchmark: 100x100 sensors, 100 min, 1M readings; demo: small, all faults on)")
    opt("--topology", choices=[k.value for k in TopologyKind if k != TopologyKind.BLOG_11])
    opt("--topology-file", help="JSON nodes/edges file (see docs/simulator.md) for --topology file")
    opt("--regions", int)
    opt("--nodes-per-region", int)
    opt("--grid-cols", int, help="grid width (default: square)")
    opt("--radius", float, help="random topology: link radius as a fraction of the region's side")
    group("fire and time")
    opt("--minutes", int, help="run length in reporting intervals of one minute")
    opt("--seed", int, help="random seed: the same seed and options give the same records")
    opt("--ignitions-per-region", float, help="expected random ignitions per region (Poisson)")
    opt("--spread-probability", float, help="chance per step that a burning node ignites a neighbour")
    opt("--burn-minutes", int, help="how long a node burns (reads hot) before it cools down")
    opt("--wind-direction", float, help="compass bearing the wind blows towards, degrees")
    opt("--wind-bias", float, help="0..1: how much the wind favours downwind spread")
    group("faults (rates per reading; skew and stuck: per sensor)")
    for dest in _FAULT_OPTIONS:
        opt("--" + dest.replace("_", "-"), int if dest.endswith("_ms") else float)
    switch("--no-faults", text="switch off the preset's faults")
    group("output")
    opt("--sink", choices=SINKS, help="where records go (default: stdout)")
    opt("--out", help="file (--sink file) or directory (--sink dir)")
    opt("--records-per-file", int, help="--sink dir: records per completed file (default 100000)")
    opt("--stream", help="--sink kinesis: stream name")
    opt("--create-stream", int, metavar="SHARDS", help="--sink kinesis: create the stream with SHARDS shards")
    opt("--topic", help="--sink iot: topic; {region} and {node} are filled in "
        "(default emberwatch/sensors/{region}/{node})")
    opt("--endpoint-url", help="AWS endpoint override (an emulator) for --sink kinesis/iot")
    opt("--aws-region", help="AWS region for --sink kinesis/iot (default: the AWS SDK's own lookup)")
    opt("--truth", help="write the ground truth (infection tree, alerted paths) to this JSON file")
    opt("--chain-length", int, help=f"truth: nodes per path (default {DEFAULT_CHAIN_LENGTH})")
    opt("--window-ms", int, help=f"truth: window in ms (default {DEFAULT_WINDOW_MS})")
    opt("--render", help="write an HTML picture of the network and the fire to this path")
    group("pacing")
    opt("--rate", help="realtime, asap (default) or xN (N times faster than real time)")
    opt("--max-events", int, help="stop after this many records")
    switch("--dry-run", text="print the records to stdout instead of sending them")
    switch("--quiet", text="no progress bar, no summary")
    return p


def _flag(value: object) -> bool:
    return value is not None and str(value).lower() not in ("", "0", "false", "no")


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    """The simulation config: the preset (or defaults), then every option that was given."""
    cfg = SimulationConfig.preset(args.preset) if args.preset else SimulationConfig()
    topology = cfg.topology
    if args.topology:
        if args.preset == "blog-11":
            raise CliError("--preset blog-11 has its own topology; drop --topology")
        topology = dataclasses.replace(topology, kind=TopologyKind(args.topology))
    topo_changes = {f: getattr(args, o) for o, f in _TOPOLOGY_OPTIONS.items() if getattr(args, o) is not None}
    if topo_changes and topology.kind == TopologyKind.BLOG_11:
        raise CliError("--preset blog-11 has a fixed network; drop " + ", ".join(sorted(topo_changes)))
    if "file" in topo_changes and not args.topology:
        topology = dataclasses.replace(topology, kind=TopologyKind.FILE)
    if topology.kind == TopologyKind.FILE and not (topo_changes.get("file") or topology.file):
        raise CliError("--topology file needs --topology-file PATH")
    topology = dataclasses.replace(topology, **topo_changes)
    fire_changes = {f: getattr(args, o) for o, f in _FIRE_OPTIONS.items() if getattr(args, o) is not None}
    faults = cfg.faults
    if args.no_faults:
        faults = type(faults)()
    fault_changes = {f: getattr(args, o) for o, f in _FAULT_OPTIONS.items() if getattr(args, o) is not None}
    for name, value in fault_changes.items():
        if name.endswith("_rate") and not 0.0 <= value <= 1.0:
            raise CliError(f"--{name.replace('_', '-')} must be between 0 and 1, got {value}")
    changes: dict = {
        "topology": topology,
        "fire": dataclasses.replace(cfg.fire, **fire_changes),
        "faults": dataclasses.replace(faults, **fault_changes),
    }
    if args.minutes is not None:
        changes["minutes"] = args.minutes
    if args.seed is not None:
        changes["seed"] = args.seed
    return cfg.replace(**changes)


def parse_rate(rate: str | None) -> float | None:
    """Speed-up over real time: `realtime` -> 1, `x60` (or `60`) -> 60, `asap`/None -> None (no pacing)."""
    if rate is None or rate == "asap":
        return None
    if rate == "realtime":
        return 1.0
    try:
        value = float(rate[1:] if rate.startswith("x") else rate)
    except ValueError:
        raise CliError(f"--rate {rate!r}: use realtime, asap or xN (e.g. x60)") from None
    if value <= 0:
        raise CliError("--rate xN needs N > 0")
    return value


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
        sink = KinesisSink(args.stream, endpoint_url=args.endpoint_url, boto3_session=session)
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
    args = build_parser().parse_args(argv)
    quiet = args.quiet
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.DEBUG if args.debug else logging.WARNING)  # no noise
    cfg = config_from_args(args)
    speedup = parse_rate(args.rate)
    chain_length = args.chain_length or DEFAULT_CHAIN_LENGTH
    window_ms = args.window_ms or DEFAULT_WINDOW_MS
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
