"""Configuration of the bushfire job: one frozen dataclass per concern, and the options that set them.

Each option is declared once in :data:`OPTIONS` (``common.options``): its flag, its environment
variable (``BUSHFIRE_`` + the flag's name), its config-file key (the flag without dashes), its help and
the field it sets, whose dataclass default is the option's default. Adding an option is one field here
and one ``Option(...)`` line. :func:`load_config` applies flag > environment variable > config file >
default; nothing below ``__main__`` reads ``os.environ``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Optional

from common.options import (
    NEGATABLE,
    REPEATED,
    SWITCH,
    Option,
    OptionError,
    OptionSet,
    apply_targets,
    one_of,
    parse_bool,
    parse_duration_ms,
    positive_int,
)
from jobs.bushfire.connector import default_connector_jars
from jobs.bushfire.errors import ConfigError

DEFAULT_THRESHOLD_C = 50.0
DEFAULT_CHAIN_LENGTH = 5
DEFAULT_WINDOW_MS = 600_000
DAY_MS = 86_400_000
#: Longest time a Python operator holds records (python.fn-execution.bundle.time). A watched directory
#: or stream: every alert crosses up to two Python operators, so short bundles keep alerts within
#: seconds. A bounded file: long bundles, nobody waits for a single alert there. Each bundle's end
#: writes every changed state back to the JVM, one round trip per state of each key touched, and
#: stalls the flow while it does: on the 1M benchmark 10 s bundles took 15.8-18.1 s against 23.6-23.8 s
#: with 1 s ones (docs/latency.md); 20 s and 60 s were no better than 10 s.
LIVE_BUNDLE_MS = 100
BOUNDED_BUNDLE_MS = 10_000
#: With early alerts, a region's event-time pass runs when the watermark reaches a multiple of this
#: (`PatternStream.pass_every`): every alert found early goes out at once anyway, and a pass (which
#: writes the region's matcher to Flink state) per watermark step cost a live stream more than the
#: matching. Alerts only the pass finds (none, unless a restore lost the early ones' context) come up
#: to this much event time later.
EARLY_PASS_EVERY_MS = 30_000
#: How often a watched directory is listed for new files: part of every alert's delay.
DEFAULT_MONITOR_INTERVAL_MS = 200


class SourceKind(Enum):
    """Where sensor readings come from."""

    KINESIS = "kinesis"  # a Kinesis data stream (FlinkKinesisConsumer; the EMR default)
    FILES = "files"  # a directory watched continuously for new JSONL files (the local default)
    FILE = "file"  # one JSONL file or directory read once (bounded with --bounded)


class ParserChoice(Enum):
    """How the JVM parses each line (see `jobs.bushfire.parsing.JvmParser`)."""

    AUTO = "auto"  # the Java UDF when a JDK can build it (or it is built), else SQL
    JAVA = "java"  # the Java UDF, or fail when no JDK can build it
    SQL = "sql"  # Flink SQL's JSON functions


class PythonWorkers(Enum):
    """Where a local run (mini-cluster) runs the Python operators; a cluster always uses processes."""

    AUTO = "auto"  # process with parallelism > 1, else loopback
    LOOPBACK = "loopback"  # in the job's client process: one process, one GIL, for every subtask
    PROCESS = "process"  # one Python worker process per task manager slot, as on a cluster


class StartPosition(Enum):
    """Where a Kinesis consumer without restored state starts (``flink.stream.initpos``)."""

    LATEST = "LATEST"
    TRIM_HORIZON = "TRIM_HORIZON"
    AT_TIMESTAMP = "AT_TIMESTAMP"


class OpenSearchAuth(Enum):
    """How the raw-event indexer authenticates to OpenSearch."""

    NONE = "none"
    BASIC = "basic"
    SIGV4 = "sigv4"


@dataclass(frozen=True)
class KinesisConfig:
    """FlinkKinesisConsumer settings; the connector jar cannot be bundled, so it is configured."""

    stream: str = "sensor-readings"
    region: str = "us-east-1"
    initpos: StartPosition = StartPosition.LATEST
    initpos_timestamp: Optional[str] = None  # ISO-8601 or epoch seconds, with AT_TIMESTAMP
    efo_consumer_name: Optional[str] = None  # enhanced fan-out when set, polling otherwise
    endpoint: Optional[str] = None  # e.g. a local Kinesis emulator
    shard_idle_ms: int = 60_000


@dataclass(frozen=True)
class SourceConfig:
    """Which source the job reads and where."""

    kind: SourceKind = SourceKind.FILES
    input_path: str = "out/readings"
    bounded: bool = False
    monitor_interval_ms: int = DEFAULT_MONITOR_INTERVAL_MS
    kinesis: KinesisConfig = KinesisConfig()


@dataclass(frozen=True)
class WatermarkConfig:
    """Bounded out-of-orderness watermarks with idleness (event time)."""

    out_of_orderness_ms: int = 60_000
    idleness_ms: int = 30_000
    # Flink emits a watermark every `emit_interval_ms` of processing time, and also whenever event
    # time moved on by more than that. Each watermark makes every Python operator finish its bundle,
    # so a replay at full speed needs this coarse enough (it adds at most this much alert latency live).
    emit_interval_ms: int = 2_000


@dataclass(frozen=True)
class DetectionConfig:
    """The alert definition (docs/job.md, "The alert definition") and the state that keeps it exact."""

    threshold_c: float = DEFAULT_THRESHOLD_C
    chain_length: int = DEFAULT_CHAIN_LENGTH
    window_ms: int = DEFAULT_WINDOW_MS
    event_dedupe_ttl_ms: int = 3_600_000  # how long an event_id is remembered to drop re-deliveries
    alert_dedupe_ttl_ms: int = 7 * DAY_MS  # how long a (region, path) is remembered once alerted
    early_alerts: bool = True  # alert on the completing reading's arrival, not at the watermark
    rules_path: Optional[str] = None  # a --rules JSON file (docs/rules.md); None: the flags make one rule
    rules_min_threshold_c: Optional[float] = None  # the JVM pre-filter floor with --rules


@dataclass(frozen=True)
class AlertConfig:
    """Where alerts go: a JSONL file, the console, SNS."""

    alerts_out: Optional[str] = "out/alerts.jsonl"
    console: bool = True
    sns_topic_arn: Optional[str] = None
    sns_endpoint: Optional[str] = None
    sns_region: Optional[str] = None


@dataclass(frozen=True)
class RawEventsConfig:
    """OpenSearch indexing of every valid raw reading (off unless a URL is given)."""

    opensearch_url: Optional[str] = None
    auth: OpenSearchAuth = OpenSearchAuth.NONE
    username: Optional[str] = None
    password: Optional[str] = None
    region: Optional[str] = None
    index: str = "sensor-readings"
    bulk_size: int = 500
    bulk_interval_ms: int = 2_000

    @property
    def enabled(self) -> bool:
        return bool(self.opensearch_url)


@dataclass(frozen=True)
class DeadLetterConfig:
    """Where records the job cannot use go (JSONL, one object per record)."""

    path: str = "out/dead-letters.jsonl"


@dataclass(frozen=True)
class RuntimeConfig:
    """Flink runtime settings."""

    parallelism: int = 1
    checkpoint_interval_ms: Optional[int] = None
    checkpoint_dir: Optional[str] = None
    restore_from: Optional[str] = None
    connector_jars: tuple[str, ...] = ()
    python_executable: Optional[str] = None
    python_workers: PythonWorkers = PythonWorkers.AUTO
    crash_after_alerts: Optional[int] = None  # fault injection for recovery drills and tests
    max_runtime_ms: Optional[int] = None  # cancel the job after this long (demos); None: run to the end
    parser: ParserChoice = ParserChoice.AUTO
    flink_options: tuple[tuple[str, str], ...] = ()  # extra Flink configuration, applied last
    bundle_time_ms: int = BOUNDED_BUNDLE_MS  # python.fn-execution.bundle.time (see LIVE_BUNDLE_MS)
    log_file: Optional[str] = "out/bushfire-job.log"  # library and job logs (the console stays quiet)
    debug: bool = False  # tracebacks and library logs on the console too
    progress_interval_ms: int = 30_000  # how often a running job logs a progress line (0: never)


@dataclass(frozen=True)
class BushfireConfig:
    """Everything the job needs, resolved once at the edge and passed down."""

    source: SourceConfig = SourceConfig()
    watermarks: WatermarkConfig = WatermarkConfig()
    detection: DetectionConfig = DetectionConfig()
    alerts: AlertConfig = AlertConfig()
    raw_events: RawEventsConfig = RawEventsConfig()
    dead_letters: DeadLetterConfig = DeadLetterConfig()
    runtime: RuntimeConfig = RuntimeConfig()


def _flink_options(value: str | Sequence[str] | Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` items (repeated flags, or one per line in the environment variable) or a JSON
    object (config file) -> (key, value) pairs in order."""
    if isinstance(value, Mapping):
        return tuple((str(key), str(item)) for key, item in value.items())
    items = value.splitlines() if isinstance(value, str) else list(value)
    pairs = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"{item!r} is not KEY=VALUE, e.g. metrics.reporter.prom.port=9249")
        pairs.append((key.strip(), text.strip()))
    return tuple(pairs)


def _jars(text: str | Sequence[str]) -> tuple[str, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(item.strip() for item in items if item.strip())


def _path_or_none(text: str) -> Optional[str]:
    """A path; the empty string means none (no file)."""
    return str(text) or None


_DECLARED = (
    # source
    Option("--source", one_of(SourceKind), target="source.kind",
           help="where readings come from: kinesis (EMR), files (a directory watched for new JSONL files), "
           "file (a JSONL file or directory read once to its end, then the job finishes)"),
    Option("--input", target="source.input_path", help="file or directory for the files/file sources"),
    Option("--bounded", parse_bool, kind=SWITCH, target="source.bounded",
           help="read the input's current files to their end, then finish (implied by --source file)"),
    Option("--monitor-interval", parse_duration_ms, target="source.monitor_interval_ms",
           help="how often the files source looks for new files"),
    Option("--kinesis-stream", target="source.kinesis.stream", help="Kinesis data stream name"),
    Option("--kinesis-region", target="source.kinesis.region", help="AWS region of the Kinesis stream"),
    Option("--kinesis-initpos", one_of(StartPosition), target="source.kinesis.initpos",
           help="start position without restored state: LATEST, TRIM_HORIZON or AT_TIMESTAMP"),
    Option("--kinesis-initpos-timestamp", target="source.kinesis.initpos_timestamp",
           help="start time for AT_TIMESTAMP (ISO-8601 like 2024-01-01T00:00:00.000-00:00, or epoch "
           "seconds)"),
    Option("--kinesis-efo-consumer", target="source.kinesis.efo_consumer_name",
           help="register an enhanced fan-out consumer with this name (polling when unset)"),
    Option("--kinesis-endpoint", target="source.kinesis.endpoint",
           help="Kinesis endpoint URL (e.g. an emulator)"),
    Option("--kinesis-shard-idle", parse_duration_ms, target="source.kinesis.shard_idle_ms",
           help="a shard without records for this long stops holding back the watermark"),
    Option("--connector-jars", _jars, target="runtime.connector_jars",
           help="comma-separated jar paths/URLs added to pipeline.jars; for --source kinesis the pinned "
           "flink-sql-connector-kinesis jar is found in set-up's Maven cache when not given"),
    # detection
    Option("--threshold", float, target="detection.threshold_c",
           help="temperature (degrees C) every reading of a chain must reach"),
    Option("--chain-length", positive_int, target="detection.chain_length",
           help="number of distinct nodes in an alerted path"),
    Option("--window", parse_duration_ms, target="detection.window_ms",
           help="a path's last reading is less than this after its first: 600000 (ms), 60s, 10min"),
    Option("--out-of-orderness", parse_duration_ms, target="watermarks.out_of_orderness_ms",
           help="how late a reading may arrive (event time) before it counts as late"),
    Option("--idleness", parse_duration_ms, target="watermarks.idleness_ms",
           help="a source split without records for this long stops holding back the watermark"),
    Option("--watermark-interval", parse_duration_ms, target="watermarks.emit_interval_ms",
           help="how often watermarks are emitted (processing time, and per this much event-time "
           "progress)"),
    Option("--early-alerts", parse_bool, kind=NEGATABLE, target="detection.early_alerts",
           help="alert a path when its last reading arrives, in whatever order its readings came; "
           "--no-early-alerts waits for the watermark (out-of-orderness) as plain event-time CEP does"),
    Option("--rules", _path_or_none, target="detection.rules_path",
           help="JSON file of detection rules, watched while the job runs (docs/rules.md); replaces "
           "--threshold/--chain-length/--window"),
    Option("--rules-min-threshold", float, target="detection.rules_min_threshold_c",
           help="with --rules: the lowest threshold a rule may ever have (the JVM drops colder "
           "readings); default: the lowest threshold in the file at start"),
    Option("--event-dedupe-ttl", parse_duration_ms, target="detection.event_dedupe_ttl_ms",
           help="how long (event time) an event_id is remembered to drop re-delivered duplicates"),
    Option("--alert-dedupe-ttl", parse_duration_ms, target="detection.alert_dedupe_ttl_ms",
           help="how long an alerted (region, path) is remembered so it is not alerted again"),
    # alerts
    Option("--alerts-out", _path_or_none, target="alerts.alerts_out",
           help="JSONL file the alerts are appended to (empty string: none)"),
    Option("--console", parse_bool, target="alerts.console", help="print alerts on the console (true/false)"),
    Option("--sns-topic-arn", target="alerts.sns_topic_arn", help="publish each alert to this SNS topic"),
    Option("--sns-endpoint", target="alerts.sns_endpoint",
           help="SNS endpoint URL (e.g. a local moto_server)"),
    Option("--sns-region", target="alerts.sns_region",
           help="AWS region of the SNS topic (default: from the ARN)"),
    # raw events
    Option("--opensearch-url", target="raw_events.opensearch_url",
           help="index every valid raw reading into OpenSearch at this URL (off when unset)"),
    Option("--opensearch-auth", one_of(OpenSearchAuth), target="raw_events.auth",
           help="none, basic (--opensearch-user/--opensearch-password) or sigv4 (IAM role)"),
    Option("--opensearch-user", target="raw_events.username", help="user name for basic auth"),
    Option("--opensearch-password", target="raw_events.password",
           help="password for basic auth (prefer the environment variable)"),
    Option("--opensearch-region", target="raw_events.region", help="AWS region for sigv4 auth"),
    Option("--opensearch-index", target="raw_events.index", help="index (or alias) for raw readings"),
    Option("--bulk-size", positive_int, target="raw_events.bulk_size", help="documents per bulk request"),
    Option("--bulk-interval", parse_duration_ms, target="raw_events.bulk_interval_ms",
           help="longest time a document waits for its bulk request"),
    # dead letters and runtime
    Option("--dead-letters", target="dead_letters.path",
           help="JSONL file for records the job cannot use (malformed, invalid, late, failed deliveries)"),
    Option("--parallelism", positive_int, target="runtime.parallelism", help="default operator parallelism"),
    Option("--parser", one_of(ParserChoice), target="runtime.parser",
           help="how the JVM parses each line: java (one parse per line in a Java UDF, built with the "
           "package), sql (Flink's JSON functions, about 3x slower, no JDK needed) or auto (java when "
           "its jar was built)"),
    Option("--checkpoint-interval", parse_duration_ms, target="runtime.checkpoint_interval_ms",
           help="enable exactly-once checkpoints at this interval (off when unset)"),
    Option("--checkpoint-dir", target="runtime.checkpoint_dir",
           help="checkpoint storage, e.g. s3://bucket/checkpoints or file:///tmp/ckpt"),
    Option("--restore-from", target="runtime.restore_from",
           help="start from this savepoint or retained checkpoint"),
    Option("--python-executable", target="runtime.python_executable",
           help="Python that runs the job's Python operators (default: the one running this job)"),
    Option("--python-workers", one_of(PythonWorkers), target="runtime.python_workers",
           help="local runs: where the Python operators run: loopback (in this process, PyFlink's local "
           "default), process (a Python worker process per slot, as on a cluster: subtasks of a "
           "parallelism > 1 run on separate cores) or auto (process when --parallelism > 1)"),
    Option("--max-runtime", parse_duration_ms, target="runtime.max_runtime_ms",
           help="cancel the job after this long, e.g. 90s (demos on a watched directory); unset: run to "
           "its end"),
    Option("--flink-option", _flink_options, kind=REPEATED, env="BUSHFIRE_FLINK_OPTIONS",
           target="runtime.flink_options",
           help="a Flink configuration option KEY=VALUE for this job, given last (repeat the flag; one "
           "per line in the environment variable), e.g. a metrics reporter: "
           "metrics.reporter.prom.factory.class=org.apache.flink.metrics.prometheus.PrometheusReporterFactory"),
    Option("--log-file", _path_or_none, target="runtime.log_file",
           help="file the job's and the libraries' log lines go to (the console shows warnings, errors "
           "and the run summary only; empty string: no file)"),
    Option("--progress-interval", parse_duration_ms, target="runtime.progress_interval_ms",
           help="how often a running job logs a progress line (alerts and dead letters so far); 0: never"),
    Option("--debug", parse_bool, kind=SWITCH, target="runtime.debug",
           help="show full tracebacks and every library log line on the console"),
    Option("--crash-after-alerts", positive_int, target="runtime.crash_after_alerts",
           help="fault injection for recovery drills: fail the job once after this many alerts were "
           "written (needs --checkpoint-interval and --checkpoint-dir)"),
)
OPTIONS = OptionSet(
    _DECLARED,
    prog="python -m jobs.bushfire",
    description="Emberwatch bushfire alerting: detect fire propagation chains in sensor readings "
    "(Flink event time, CEP keyed by region) and alert each distinct node path once.",
    env_prefix="BUSHFIRE_",
    config_example='{"threshold": 55, "alerts-out": "alerts.jsonl"}',
).defaults_from(BushfireConfig())


def build_arg_parser() -> argparse.ArgumentParser:
    """The job's command line; every flag's help names its environment variable and default."""
    return OPTIONS.arg_parser()


def load_config(
    argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None
) -> BushfireConfig:
    """Parse the command line, environment and config file into a :class:`BushfireConfig`.

    Raises
    ------
    ConfigError
        When a value cannot be read or the combination makes no sense; the message says what to change.
    """
    env = os.environ if env is None else env
    try:
        values, _ = OPTIONS.resolve(argv, env)
    except OptionError as exc:
        raise ConfigError(str(exc)) from exc
    cfg = apply_targets(BushfireConfig(), OPTIONS, values)
    bounded = cfg.source.bounded or cfg.source.kind is SourceKind.FILE
    runtime = replace(
        cfg.runtime,
        connector_jars=cfg.runtime.connector_jars
        or default_connector_jars(cfg.source.kind is SourceKind.KINESIS, env),
        bundle_time_ms=BOUNDED_BUNDLE_MS if bounded else LIVE_BUNDLE_MS,
    )
    cfg = replace(cfg, source=replace(cfg.source, bounded=bounded), runtime=runtime)
    validate(cfg)
    return cfg


def validate(cfg: BushfireConfig) -> None:
    """Reject combinations that cannot work, saying what to change."""
    if cfg.source.bounded and cfg.source.kind is SourceKind.KINESIS:
        raise ConfigError("--bounded needs --source file or files: a Kinesis stream never ends")
    if cfg.detection.chain_length < 2:
        raise ConfigError("--chain-length must be at least 2: a path links two or more nodes")
    if cfg.detection.window_ms <= 0:
        raise ConfigError("--window must be positive")
    kinesis = cfg.source.kinesis
    if kinesis.initpos is StartPosition.AT_TIMESTAMP and not kinesis.initpos_timestamp:
        raise ConfigError("--kinesis-initpos AT_TIMESTAMP needs --kinesis-initpos-timestamp")
    raw = cfg.raw_events
    if raw.enabled and raw.auth is OpenSearchAuth.BASIC and not (raw.username and raw.password):
        raise ConfigError("--opensearch-auth basic needs --opensearch-user and --opensearch-password")
    runtime = cfg.runtime
    if runtime.crash_after_alerts and not (runtime.checkpoint_interval_ms and runtime.checkpoint_dir):
        raise ConfigError("--crash-after-alerts needs --checkpoint-interval and --checkpoint-dir to recover")
