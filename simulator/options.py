"""The simulator's command-line options, each declared once (``common.options``), and the run config
they make.

Every option is a flag, an environment variable (``EMBERWATCH_SIM_`` + the flag's name: ``--minutes``
-> ``EMBERWATCH_SIM_MINUTES``) and a key of a ``--config`` JSON file, by the precedence flag >
environment variable > config file > the preset's (or the built-in) value. Options without a value are
None, meaning "keep the preset's".
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Optional

from common.options import SWITCH, Option, OptionError, OptionSet, one_of, parse_bool
from simulator.config import DEFAULT_CHAIN_LENGTH, DEFAULT_WINDOW_MS, PRESETS, SimulationConfig, TopologyKind

ENV_PREFIX = "EMBERWATCH_SIM_"
PARTITION_KEYS = ("node", "region")  # --kinesis-partition-key: as simulator.sinks.kinesis.PARTITION_KEYS
SINKS = ("stdout", "file", "dir", "kinesis", "iot")
_FAULT_HELP = {  # FaultConfig field -> help; one option each
    "delay_rate": "share of readings that arrive late (0..1)",
    "max_delay_ms": "longest delay of a late reading, ms",
    "drop_rate": "share of readings never sent (0..1)",
    "duplicate_rate": "share of readings sent twice, same event_id (0..1)",
    "skew_rate": "share of sensors whose clock is off (0..1)",
    "max_skew_ms": "largest clock error of a skewed sensor, either way, ms",
    "stuck_rate": "share of sensors that repeat their last temperature from a random moment on (0..1)",
    "spike_rate": "share of readings replaced by a hot reading from a node that is not burning (0..1)",
    "malformed_rate": "share of readings sent as garbled JSON, missing fields or wrong types (0..1)",
}
FAULT_FIELDS = tuple(_FAULT_HELP)
_FIRE_OPTIONS = {  # option -> FireConfig field
    "ignitions_per_region": "ignitions_per_region", "spread_probability": "spread_probability",
    "burn_minutes": "burn_minutes", "wind_direction": "wind_direction_deg", "wind_bias": "wind_bias",
}
_TOPOLOGY_OPTIONS = {  # option -> TopologyConfig field
    "regions": "regions", "nodes_per_region": "nodes_per_region", "grid_cols": "grid_cols",
    "radius": "radius", "topology_file": "file",
}


class CliError(OptionError):
    """A bad combination of options; the message says what to change."""


def _switch(flag: str, text: str, group: str) -> Option:
    return Option(flag, parse_bool, text, default=False, kind=SWITCH, group=group)


_NETWORK, _FIRE, _OUTPUT, _PACING = "network", "fire and time", "output", "pacing"
_FAULTS = "faults (rates per reading; skew and stuck: per sensor)"
_DECLARED = (
    Option("--preset", one_of(PRESETS), group=_NETWORK,
           help="start from a preset (blog-11: the article's 11 sensors; benchmark: 100x100 sensors, "
           "100 min, 1M readings; demo: small, all faults on)"),
    Option("--topology", one_of([k.value for k in TopologyKind if k != TopologyKind.BLOG_11]), group=_NETWORK,
           help="how each region's sensors are laid out (default grid)"),
    Option("--topology-file", group=_NETWORK,
           help="JSON nodes/edges file (see docs/simulator.md) for --topology file"),
    Option("--regions", int, "number of regions", group=_NETWORK),
    Option("--nodes-per-region", int, "sensors per region", group=_NETWORK),
    Option("--grid-cols", int, "grid width (default: square)", group=_NETWORK),
    Option("--radius", float, "random topology: link radius as a fraction of the region's side",
           group=_NETWORK),
    Option("--minutes", int, "run length in reporting intervals of one minute", group=_FIRE),
    Option("--seed", int, "random seed: the same seed and options give the same records", group=_FIRE),
    Option("--ignitions-per-region", float, "expected random ignitions per region (Poisson)", group=_FIRE),
    Option("--spread-probability", float, "chance per step that a burning node ignites a neighbour",
           group=_FIRE),
    Option("--burn-minutes", int, "how long a node burns (reads hot) before it cools down", group=_FIRE),
    Option("--wind-direction", float, "compass bearing the wind blows towards, degrees", group=_FIRE),
    Option("--wind-bias", float, "0..1: how much the wind favours downwind spread", group=_FIRE),
    *(Option("--" + name.replace("_", "-"), int if name.endswith("_ms") else float, text, group=_FAULTS)
      for name, text in _FAULT_HELP.items()),
    _switch("--no-faults", "switch off the preset's faults", _FAULTS),
    Option("--sink", one_of(SINKS), "where records go (default: stdout)", group=_OUTPUT),
    Option("--out", help="file (--sink file) or directory (--sink dir)", group=_OUTPUT),
    Option("--records-per-file", int, "--sink dir: records per completed file (default 100000)",
           group=_OUTPUT),
    Option("--stream", help="--sink kinesis: stream name", group=_OUTPUT),
    Option("--create-stream", int, "--sink kinesis: create the stream with SHARDS shards", metavar="SHARDS",
           group=_OUTPUT),
    _switch("--kinesis-aggregate", "--sink kinesis: pack readings KPL-style, many in one Kinesis record "
            "(per shard, up to 1 MiB), as a high-rate producer does; needs the kpl extra", _OUTPUT),
    Option("--kinesis-partition-key", one_of(PARTITION_KEYS), group=_OUTPUT,
           help="--sink kinesis: the reading field that is the partition key (default node; region keeps "
           "each region's readings in order in one shard)"),
    Option("--topic", help="--sink iot: topic; {region} and {node} are filled in "
           "(default emberwatch/sensors/{region}/{node})", group=_OUTPUT),
    Option("--endpoint-url", help="AWS endpoint override (an emulator) for --sink kinesis/iot",
           group=_OUTPUT),
    Option("--aws-region", help="AWS region for --sink kinesis/iot (default: the AWS SDK's own lookup)",
           group=_OUTPUT),
    Option("--truth", help="write the ground truth (infection tree, alerted paths) to this JSON file",
           group=_OUTPUT),
    Option("--chain-length", int, "truth: nodes per path", default=DEFAULT_CHAIN_LENGTH, group=_OUTPUT),
    Option("--window-ms", int, "truth: window in ms", default=DEFAULT_WINDOW_MS, group=_OUTPUT),
    Option("--render", help="write an HTML picture of the network and the fire to this path", group=_OUTPUT),
    Option("--rate", help="realtime, asap (default) or xN (N times faster than real time)", group=_PACING),
    Option("--max-events", int, "stop after this many records", group=_PACING),
    _switch("--dry-run", "print the records to stdout instead of sending them", _PACING),
    _switch("--quiet", "no progress bar, no summary", _PACING),
    _switch("--debug", "show the full traceback of an error", _PACING),
)
OPTIONS = OptionSet(
    _DECLARED,
    prog="emberwatch-sim",
    description="Simulate an IoT sensor network watching for bushfires; send its readings somewhere.",
    env_prefix=ENV_PREFIX,
    config_example='{"preset": "demo", "sink": "dir", "out": "incoming/"}',
    epilog="Precedence: flag > environment variable > --config file > the preset's or built-in value.",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (values stay strings; :func:`parse_args` converts and resolves them)."""
    return OPTIONS.arg_parser()


def parse_args(
    argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None
) -> argparse.Namespace:
    """Every option's value by flag > environment variable > config file > default (None: not given)."""
    values, _ = OPTIONS.resolve(argv, os.environ if env is None else env)
    return argparse.Namespace(**values)


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
    faults = type(cfg.faults)() if args.no_faults else cfg.faults
    fault_changes = {name: getattr(args, name) for name in FAULT_FIELDS if getattr(args, name) is not None}
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
