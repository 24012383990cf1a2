"""Configuration of the bushfire job: one frozen dataclass per concern, one resolver.

Every option has a command-line flag, an environment variable (the ``ENV_*`` constants below) and a
default; :func:`load_config` applies the precedence flag > environment variable > config file >
default in one place. Nothing below ``__main__`` reads ``os.environ``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Optional

from jobs.bushfire.connector import default_connector_jars
from jobs.bushfire.errors import ConfigError

# Environment variables, one per option (flag > env var > config file > default).
ENV_CONFIG = "BUSHFIRE_CONFIG"
ENV_SOURCE = "BUSHFIRE_SOURCE"
ENV_INPUT = "BUSHFIRE_INPUT"
ENV_BOUNDED = "BUSHFIRE_BOUNDED"
ENV_MONITOR_INTERVAL = "BUSHFIRE_MONITOR_INTERVAL"
ENV_KINESIS_STREAM = "BUSHFIRE_KINESIS_STREAM"
ENV_KINESIS_REGION = "BUSHFIRE_KINESIS_REGION"
ENV_KINESIS_INITPOS = "BUSHFIRE_KINESIS_INITPOS"
ENV_KINESIS_INITPOS_TIMESTAMP = "BUSHFIRE_KINESIS_INITPOS_TIMESTAMP"
ENV_KINESIS_EFO_CONSUMER = "BUSHFIRE_KINESIS_EFO_CONSUMER"
ENV_KINESIS_ENDPOINT = "BUSHFIRE_KINESIS_ENDPOINT"
ENV_KINESIS_SHARD_IDLE = "BUSHFIRE_KINESIS_SHARD_IDLE"
ENV_CONNECTOR_JARS = "BUSHFIRE_CONNECTOR_JARS"
ENV_THRESHOLD = "BUSHFIRE_THRESHOLD"
ENV_CHAIN_LENGTH = "BUSHFIRE_CHAIN_LENGTH"
ENV_WINDOW = "BUSHFIRE_WINDOW"
ENV_OUT_OF_ORDERNESS = "BUSHFIRE_OUT_OF_ORDERNESS"
ENV_IDLENESS = "BUSHFIRE_IDLENESS"
ENV_WATERMARK_INTERVAL = "BUSHFIRE_WATERMARK_INTERVAL"
ENV_EVENT_DEDUPE_TTL = "BUSHFIRE_EVENT_DEDUPE_TTL"
ENV_ALERT_DEDUPE_TTL = "BUSHFIRE_ALERT_DEDUPE_TTL"
ENV_ALERTS_OUT = "BUSHFIRE_ALERTS_OUT"
ENV_CONSOLE = "BUSHFIRE_CONSOLE"
ENV_SNS_TOPIC_ARN = "BUSHFIRE_SNS_TOPIC_ARN"
ENV_SNS_ENDPOINT = "BUSHFIRE_SNS_ENDPOINT"
ENV_SNS_REGION = "BUSHFIRE_SNS_REGION"
ENV_OPENSEARCH_URL = "BUSHFIRE_OPENSEARCH_URL"
ENV_OPENSEARCH_AUTH = "BUSHFIRE_OPENSEARCH_AUTH"
ENV_OPENSEARCH_USER = "BUSHFIRE_OPENSEARCH_USER"
ENV_OPENSEARCH_PASSWORD = "BUSHFIRE_OPENSEARCH_PASSWORD"
ENV_OPENSEARCH_REGION = "BUSHFIRE_OPENSEARCH_REGION"
ENV_OPENSEARCH_INDEX = "BUSHFIRE_OPENSEARCH_INDEX"
ENV_BULK_SIZE = "BUSHFIRE_BULK_SIZE"
ENV_BULK_INTERVAL = "BUSHFIRE_BULK_INTERVAL"
ENV_DEAD_LETTERS = "BUSHFIRE_DEAD_LETTERS"
ENV_PARALLELISM = "BUSHFIRE_PARALLELISM"
ENV_CHECKPOINT_INTERVAL = "BUSHFIRE_CHECKPOINT_INTERVAL"
ENV_CHECKPOINT_DIR = "BUSHFIRE_CHECKPOINT_DIR"
ENV_RESTORE_FROM = "BUSHFIRE_RESTORE_FROM"
ENV_PYTHON_EXECUTABLE = "BUSHFIRE_PYTHON_EXECUTABLE"
ENV_CRASH_AFTER_ALERTS = "BUSHFIRE_CRASH_AFTER_ALERTS"
ENV_MAX_RUNTIME = "BUSHFIRE_MAX_RUNTIME"
ENV_PARSER = "BUSHFIRE_PARSER"
ENV_FLINK_OPTIONS = "BUSHFIRE_FLINK_OPTIONS"
ENV_EARLY_ALERTS = "BUSHFIRE_EARLY_ALERTS"
ENV_RULES = "BUSHFIRE_RULES"
ENV_RULES_MIN_THRESHOLD = "BUSHFIRE_RULES_MIN_THRESHOLD"
ENV_LOG_FILE = "BUSHFIRE_LOG_FILE"
ENV_DEBUG = "BUSHFIRE_DEBUG"
ENV_PROGRESS_INTERVAL = "BUSHFIRE_PROGRESS_INTERVAL"

DEFAULT_THRESHOLD_C = 50.0
DEFAULT_CHAIN_LENGTH = 5
DEFAULT_WINDOW_MS = 600_000
DAY_MS = 86_400_000
#: Longest time a Python operator holds records (python.fn-execution.bundle.time). A watched directory
#: or stream: every alert crosses up to two Python operators, so short bundles keep alerts within
#: seconds. A bounded file: long bundles, fewer state write-backs, nobody waits for a single alert.
LIVE_BUNDLE_MS = 100
BOUNDED_BUNDLE_MS = 1_000
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


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?\s*$")
_UNIT_MS = {None: 1, "ms": 1, "s": 1_000, "sec": 1_000, "m": 60_000, "min": 60_000, "h": 3_600_000}


def parse_duration_ms(text: str | int) -> int:
    """Parse ``600000`` (ms), ``250ms``, ``60s``, ``10min``/``10m`` or ``2h`` into milliseconds."""
    if isinstance(text, int):
        return text
    match = _DURATION.match(str(text))
    if not match:
        msg = f"cannot read duration {text!r}: give milliseconds (600000) or a unit: 250ms, 60s, 10min, 2h"
        raise ConfigError(msg)
    return int(float(match.group(1)) * _UNIT_MS[match.group(2)])


def parse_bool(text: str | bool) -> bool:
    """Read a boolean from an environment variable or config file value."""
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"cannot read boolean {text!r}: use true/false")


def _positive_int(text: str | int) -> int:
    value = int(text)
    if value < 1:
        raise ConfigError(f"expected a positive integer, got {text!r}")
    return value


def _enum(kind: type[Enum]) -> Callable[[str], Enum]:
    def convert(text: str | Enum) -> Enum:
        if isinstance(text, kind):
            return text
        for member in kind:
            if str(text).lower() == str(member.value).lower():
                return member
        choices = ", ".join(str(m.value) for m in kind)
        raise ConfigError(f"{text!r} is not one of: {choices}")

    return convert


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
            raise ConfigError(f"{item!r} is not KEY=VALUE, e.g. metrics.reporter.prom.port=9249")
        pairs.append((key.strip(), text.strip()))
    return tuple(pairs)


def _jars(text: str | Sequence[str]) -> tuple[str, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(item.strip() for item in items if item.strip())


@dataclass(frozen=True)
class Option:
    """One configurable value: its flag, environment variable, default, converter and help."""

    flag: str
    env: str
    default: Any
    convert: Callable[[Any], Any]
    help: str
    is_switch: bool = False
    is_repeated: bool = False  # the flag may be given several times; its values form a list
    is_negatable: bool = False  # on/off flag pair: --name and --no-name

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


_K = KinesisConfig()
_R = RawEventsConfig()
OPTIONS: tuple[Option, ...] = (
    # source
    Option("--source", ENV_SOURCE, SourceKind.FILES, _enum(SourceKind),
           "where readings come from: kinesis (EMR), files (a directory watched for new JSONL files), "
           "file (a JSONL file or directory read once to its end, then the job finishes)"),
    Option("--input", ENV_INPUT, "out/readings", str, "file or directory for the files/file sources"),
    Option("--bounded", ENV_BOUNDED, False, parse_bool,
           "read the input's current files to their end, then finish (implied by --source file)",
           is_switch=True),
    Option("--monitor-interval", ENV_MONITOR_INTERVAL, DEFAULT_MONITOR_INTERVAL_MS, parse_duration_ms,
           "how often the files source looks for new files"),
    Option("--kinesis-stream", ENV_KINESIS_STREAM, _K.stream, str, "Kinesis data stream name"),
    Option("--kinesis-region", ENV_KINESIS_REGION, _K.region, str, "AWS region of the Kinesis stream"),
    Option("--kinesis-initpos", ENV_KINESIS_INITPOS, _K.initpos, _enum(StartPosition),
           "start position without restored state: LATEST, TRIM_HORIZON or AT_TIMESTAMP"),
    Option("--kinesis-initpos-timestamp", ENV_KINESIS_INITPOS_TIMESTAMP, None, str,
           "start time for AT_TIMESTAMP (ISO-8601 like 2024-01-01T00:00:00.000-00:00, or epoch seconds)"),
    Option("--kinesis-efo-consumer", ENV_KINESIS_EFO_CONSUMER, None, str,
           "register an enhanced fan-out consumer with this name (polling when unset)"),
    Option("--kinesis-endpoint", ENV_KINESIS_ENDPOINT, None, str, "Kinesis endpoint URL (e.g. an emulator)"),
    Option("--kinesis-shard-idle", ENV_KINESIS_SHARD_IDLE, _K.shard_idle_ms, parse_duration_ms,
           "a shard without records for this long stops holding back the watermark"),
    Option("--connector-jars", ENV_CONNECTOR_JARS, (), _jars,
           "comma-separated jar paths/URLs added to pipeline.jars; for --source kinesis the pinned "
           "flink-sql-connector-kinesis jar is found in set-up's Maven cache when not given"),
    # detection
    Option("--threshold", ENV_THRESHOLD, DEFAULT_THRESHOLD_C, float,
           "temperature (degrees C) every reading of a chain must reach"),
    Option("--chain-length", ENV_CHAIN_LENGTH, DEFAULT_CHAIN_LENGTH, _positive_int,
           "number of distinct nodes in an alerted path"),
    Option("--window", ENV_WINDOW, DEFAULT_WINDOW_MS, parse_duration_ms,
           "a path's last reading is less than this after its first: 600000 (ms), 60s, 10min"),
    Option("--out-of-orderness", ENV_OUT_OF_ORDERNESS, 60_000, parse_duration_ms,
           "how late a reading may arrive (event time) before it counts as late"),
    Option("--idleness", ENV_IDLENESS, 30_000, parse_duration_ms,
           "a source split without records for this long stops holding back the watermark"),
    Option("--watermark-interval", ENV_WATERMARK_INTERVAL, 2_000, parse_duration_ms,
           "how often watermarks are emitted (processing time, and per this much event-time progress)"),
    Option("--early-alerts", ENV_EARLY_ALERTS, True, parse_bool,
           "alert a path when its last reading arrives, in whatever order its readings came; "
           "--no-early-alerts waits for the watermark (out-of-orderness) as plain event-time CEP does",
           is_negatable=True),
    Option("--rules", ENV_RULES, None, str,
           "JSON file of detection rules, watched while the job runs (docs/rules.md); replaces "
           "--threshold/--chain-length/--window"),
    Option("--rules-min-threshold", ENV_RULES_MIN_THRESHOLD, None, float,
           "with --rules: the lowest threshold a rule may ever have (the JVM drops colder readings); "
           "default: the lowest threshold in the file at start"),
    Option("--event-dedupe-ttl", ENV_EVENT_DEDUPE_TTL, 3_600_000, parse_duration_ms,
           "how long (event time) an event_id is remembered to drop re-delivered duplicates"),
    Option("--alert-dedupe-ttl", ENV_ALERT_DEDUPE_TTL, 7 * DAY_MS, parse_duration_ms,
           "how long an alerted (region, path) is remembered so it is not alerted again"),
    # alerts
    Option("--alerts-out", ENV_ALERTS_OUT, "out/alerts.jsonl", str,
           "JSONL file the alerts are appended to (empty string: none)"),
    Option("--console", ENV_CONSOLE, True, parse_bool, "print alerts on the console (true/false)"),
    Option("--sns-topic-arn", ENV_SNS_TOPIC_ARN, None, str, "publish each alert to this SNS topic"),
    Option("--sns-endpoint", ENV_SNS_ENDPOINT, None, str, "SNS endpoint URL (e.g. a local moto_server)"),
    Option("--sns-region", ENV_SNS_REGION, None, str, "AWS region of the SNS topic (default: from the ARN)"),
    # raw events
    Option("--opensearch-url", ENV_OPENSEARCH_URL, None, str,
           "index every valid raw reading into OpenSearch at this URL (off when unset)"),
    Option("--opensearch-auth", ENV_OPENSEARCH_AUTH, _R.auth, _enum(OpenSearchAuth),
           "none, basic (--opensearch-user/--opensearch-password) or sigv4 (IAM role)"),
    Option("--opensearch-user", ENV_OPENSEARCH_USER, None, str, "user name for basic auth"),
    Option("--opensearch-password", ENV_OPENSEARCH_PASSWORD, None, str,
           "password for basic auth (prefer the environment variable)"),
    Option("--opensearch-region", ENV_OPENSEARCH_REGION, None, str, "AWS region for sigv4 auth"),
    Option("--opensearch-index", ENV_OPENSEARCH_INDEX, _R.index, str, "index (or alias) for raw readings"),
    Option("--bulk-size", ENV_BULK_SIZE, _R.bulk_size, _positive_int, "documents per bulk request"),
    Option("--bulk-interval", ENV_BULK_INTERVAL, _R.bulk_interval_ms, parse_duration_ms,
           "longest time a document waits for its bulk request"),
    # dead letters and runtime
    Option("--dead-letters", ENV_DEAD_LETTERS, "out/dead-letters.jsonl", str,
           "JSONL file for records the job cannot use (malformed, invalid, late, failed deliveries)"),
    Option("--parallelism", ENV_PARALLELISM, 1, _positive_int, "default operator parallelism"),
    Option("--parser", ENV_PARSER, ParserChoice.AUTO, _enum(ParserChoice),
           "how the JVM parses each line: java (one parse per line in a Java UDF, built once with javac), "
           "sql (Flink's JSON functions, about 3x slower, no JDK needed) or auto (java when a JDK is found)"),
    Option("--checkpoint-interval", ENV_CHECKPOINT_INTERVAL, None, parse_duration_ms,
           "enable exactly-once checkpoints at this interval (off when unset)"),
    Option("--checkpoint-dir", ENV_CHECKPOINT_DIR, None, str,
           "checkpoint storage, e.g. s3://bucket/checkpoints or file:///tmp/ckpt"),
    Option("--restore-from", ENV_RESTORE_FROM, None, str, "start from this savepoint or retained checkpoint"),
    Option("--python-executable", ENV_PYTHON_EXECUTABLE, None, str,
           "Python that runs the job's Python operators (default: the one running this job)"),
    Option("--max-runtime", ENV_MAX_RUNTIME, None, parse_duration_ms,
           "cancel the job after this long, e.g. 90s (demos on a watched directory); unset: run to its end"),
    Option("--flink-option", ENV_FLINK_OPTIONS, (), _flink_options,
           "a Flink configuration option KEY=VALUE for this job, given last (repeat the flag; one per line "
           "in the environment variable), e.g. a metrics reporter: "
           "metrics.reporter.prom.factory.class=org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
           is_repeated=True),
    Option("--log-file", ENV_LOG_FILE, "out/bushfire-job.log", str,
           "file the job's and the libraries' log lines go to (the console shows warnings, errors and the "
           "run summary only; empty string: no file)"),
    Option("--progress-interval", ENV_PROGRESS_INTERVAL, 30_000, parse_duration_ms,
           "how often a running job logs a progress line (alerts and dead letters so far); 0: never"),
    Option("--debug", ENV_DEBUG, False, parse_bool,
           "show full tracebacks and every library log line on the console", is_switch=True),
    Option("--crash-after-alerts", ENV_CRASH_AFTER_ALERTS, None, _positive_int,
           "fault injection for recovery drills: fail the job once after this many alerts were written "
           "(needs --checkpoint-interval and --checkpoint-dir)"),
)


def build_arg_parser() -> argparse.ArgumentParser:
    """The job's command line; every flag's help names its environment variable and default."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.bushfire",
        description="Emberwatch bushfire alerting: detect fire propagation chains in sensor readings "
        "(Flink event time, CEP keyed by region) and alert each distinct node path once.",
        epilog="Precedence: flag > environment variable > --config file > default.",
    )
    parser.add_argument(
        "--config", default=None,
        help=f"JSON file with options keyed by flag name without dashes, e.g. "
        f'{{"threshold": 55, "alerts-out": "alerts.jsonl"}} (env {ENV_CONFIG})',
    )
    for option in OPTIONS:
        shown = option.default.value if isinstance(option.default, Enum) else option.default
        text = f"{option.help} (env {option.env}; default {shown!r})"
        if option.is_negatable:
            parser.add_argument(option.flag, dest=option.dest, action=argparse.BooleanOptionalAction,
                                default=None, help=text)
        elif option.is_switch:
            parser.add_argument(option.flag, dest=option.dest, action="store_const", const=True,
                                default=None, help=text)
        elif option.is_repeated:
            parser.add_argument(option.flag, dest=option.dest, action="append", default=None,
                                metavar="KEY=VALUE", help=text)
        else:
            metavar = None
            if isinstance(option.default, Enum):
                metavar = "{" + ",".join(str(m.value) for m in type(option.default)) + "}"
            parser.add_argument(option.flag, dest=option.dest, default=None, metavar=metavar, help=text)
    return parser


def _read_config_file(path: Optional[str]) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror or exc}); check the path") from exc
    except ValueError as exc:
        raise ConfigError(f"--config {path}: not valid JSON ({exc}); it must hold one JSON object") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object of option names to values")
    known = {option.dest for option in OPTIONS}
    values = {str(key).lstrip("-").replace("-", "_"): value for key, value in data.items()}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"config file {path} has unknown options {unknown}; see --help for the names")
    return values


def resolve(option: Option, flags: Mapping[str, Any], env: Mapping[str, str], file: Mapping[str, Any]) -> Any:
    """Apply flag > environment variable > config file > default to one option."""
    for value in (flags.get(option.dest), env.get(option.env), file.get(option.dest)):
        if value is None:
            continue
        try:
            return option.convert(value)
        except (ValueError, TypeError, ConfigError) as exc:
            raise ConfigError(f"{option.flag} (env {option.env}): {exc}") from exc
    return option.default


def load_config(
    argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None
) -> BushfireConfig:
    """Parse the command line and environment into a :class:`BushfireConfig`.

    Raises
    ------
    ConfigError
        When a value cannot be read or the combination makes no sense; the message says what to change.
    """
    env = os.environ if env is None else env
    args = vars(build_arg_parser().parse_args(argv))
    file = _read_config_file(args.get("config") or env.get(ENV_CONFIG))
    v = {option.dest: resolve(option, args, env, file) for option in OPTIONS}
    bounded = v["bounded"] or v["source"] is SourceKind.FILE
    cfg = BushfireConfig(
        source=SourceConfig(
            kind=v["source"], input_path=v["input"], bounded=bounded,
            monitor_interval_ms=v["monitor_interval"],
            kinesis=KinesisConfig(
                stream=v["kinesis_stream"], region=v["kinesis_region"], initpos=v["kinesis_initpos"],
                initpos_timestamp=v["kinesis_initpos_timestamp"], efo_consumer_name=v["kinesis_efo_consumer"],
                endpoint=v["kinesis_endpoint"], shard_idle_ms=v["kinesis_shard_idle"],
            ),
        ),
        watermarks=WatermarkConfig(
            out_of_orderness_ms=v["out_of_orderness"], idleness_ms=v["idleness"],
            emit_interval_ms=v["watermark_interval"],
        ),
        detection=DetectionConfig(
            threshold_c=v["threshold"], chain_length=v["chain_length"], window_ms=v["window"],
            event_dedupe_ttl_ms=v["event_dedupe_ttl"], alert_dedupe_ttl_ms=v["alert_dedupe_ttl"],
            early_alerts=v["early_alerts"], rules_path=v["rules"] or None,
            rules_min_threshold_c=v["rules_min_threshold"],
        ),
        alerts=AlertConfig(
            alerts_out=v["alerts_out"] or None, console=v["console"], sns_topic_arn=v["sns_topic_arn"],
            sns_endpoint=v["sns_endpoint"], sns_region=v["sns_region"],
        ),
        raw_events=RawEventsConfig(
            opensearch_url=v["opensearch_url"], auth=v["opensearch_auth"], username=v["opensearch_user"],
            password=v["opensearch_password"], region=v["opensearch_region"], index=v["opensearch_index"],
            bulk_size=v["bulk_size"], bulk_interval_ms=v["bulk_interval"],
        ),
        dead_letters=DeadLetterConfig(path=v["dead_letters"]),
        runtime=RuntimeConfig(
            parallelism=v["parallelism"], checkpoint_interval_ms=v["checkpoint_interval"],
            checkpoint_dir=v["checkpoint_dir"], restore_from=v["restore_from"],
            connector_jars=v["connector_jars"]
            or default_connector_jars(v["source"] is SourceKind.KINESIS, env),
            python_executable=v["python_executable"],
            crash_after_alerts=v["crash_after_alerts"], max_runtime_ms=v["max_runtime"],
            parser=v["parser"], flink_options=v["flink_option"], log_file=v["log_file"] or None,
            debug=v["debug"], progress_interval_ms=v["progress_interval"],
            bundle_time_ms=BOUNDED_BUNDLE_MS if bounded else LIVE_BUNDLE_MS,
        ),
    )
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
