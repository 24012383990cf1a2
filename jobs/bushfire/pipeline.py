"""The bushfire job's pipeline: `build(env, cfg)` reads top to bottom as the data flow.

    source ─▶ parse + validate + pre-filter ─▶ typed columns, key by region  (all JVM)
        ─▶ exact check of flagged rows, drop re-delivered event ids, CEP fire chain (early results),
           one alert per path  (one Python operator, keyed by region)
        ─▶ SNS, file, console
    source ─▶ parse, valid rows ─▶ check ─▶ raw events ─▶ OpenSearch (bulk, keyed buffer) [when configured]
    dead letters ◀─ malformed/invalid rows, late readings, undeliverable alerts, unindexable documents

Only rows that can matter reach Python: rows the JVM flags (for the exact verdict and the dead
letters) and the readings passing the pattern's pre-filter (``temperature >= threshold``). The JVM's
parse reaches Python as typed columns, so a valid reading is not parsed again, and the raw line
crosses only with a flagged row. Each Python operator costs a crossing, a bundle's wait and start-up
time, so an alert crosses two: the CEP step and the delivery (parallelism 1, for the file).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Optional

from pyflink.common import Types
from pyflink.datastream import DataStream, KeyedStream, OutputTag, StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment, Table

from cep.analysis import prefilter
from cep.flink.tables import rows_keyed_in_jvm
from common.readings import FIELDS, Kind
from jobs.bushfire import drills, functions, patterns, rule_steps
from jobs.bushfire.config import (
    EARLY_PASS_EVERY_MS,
    AlertConfig,
    BushfireConfig,
    DeadLetterConfig,
    DetectionConfig,
    RawEventsConfig,
    RuntimeConfig,
)
from jobs.bushfire.parse_udf import register_functions
from jobs.bushfire.parsing import PARSED_COLUMNS, READING_FIELDS, JvmParser, parse_query
from jobs.bushfire.rules import lowest_threshold, read_rules
from jobs.bushfire.sources import read_lines

LATE = OutputTag("late-readings", Types.PICKLED_BYTE_ARRAY())
#: What a row hands Python (`functions.CheckAndDetect` reads it by position): the raw line (only when
#: the JVM flagged the row), the reason, then the typed reading fields.
HANDOFF_COLUMNS = ("line", "reason", *READING_FIELDS)
_NUMBERS = {
    field.name: Types.LONG() if field.kind is Kind.EPOCH_MS else Types.DOUBLE()
    for field in FIELDS
    if field.kind is not Kind.TEXT
}
HANDOFF_TYPES = [Types.STRING(), Types.STRING()] + [_NUMBERS.get(f, Types.STRING()) for f in READING_FIELDS]
#: Buckets the raw-event buffer is keyed by (a few per subtask keeps bulk requests full).
INDEX_BUCKETS_PER_SUBTASK = 2


@dataclass(frozen=True)
class ParseOut:
    readings: DataStream  # valid reading dicts, event-time stamped
    dead_letters: DataStream  # JSON lines


@dataclass(frozen=True)
class DetectOut:
    alerts: DataStream  # alert dicts, one per path
    late: DataStream  # JSON dead-letter lines
    dead_letters: DataStream  # malformed and invalid rows, JSON lines


@dataclass(frozen=True)
class DeliveryOut:
    lines: DataStream  # one readable console line per alerted path
    dead_letters: DataStream


def build(env: StreamExecutionEnvironment, cfg: BushfireConfig, parser: JvmParser) -> None:
    """Add the bushfire job to `env` (call ``env.execute()`` afterwards).

    With the Java `parser`, `env` must have been created with its jar (`parse_udf.choose_parser`).
    """
    t_env = StreamTableEnvironment.create(env)
    register_functions(t_env, parser)
    lines = read_lines("sensor_lines", env, t_env, cfg.source, cfg.watermarks, parser)
    if cfg.detection.rules_path:  # several rules, changed while the job runs (docs/rules.md)
        rules = read_rules(cfg.detection.rules_path)
        floor = cfg.detection.rules_min_threshold_c
        floor = lowest_threshold(list(rules.values())) if floor is None else floor
        rows = select_rows("parse-validate", t_env, lines, f"`temperature` >= {floor!r}", parser)
        detected = detect_by_rules("bushfire-cep", env, t_env, rows, rules, floor, cfg)
    else:
        pattern = patterns.fire_chain(cfg.detection)
        rows = select_rows("parse-validate", t_env, lines, prefilter(pattern).to_sql(), parser)
        detected = detect("bushfire-cep", rows, pattern, cfg.detection, cfg.runtime.parallelism)
    index_failures = None
    if cfg.raw_events.enabled:  # OpenSearch needs every valid reading, whole: its own JVM query
        valid = select_valid_lines("parse-valid", t_env, lines, parser)
        readings = check_readings("check-readings", valid, cfg.detection, cfg.runtime.parallelism).readings
        index_failures = write_raw_events("opensearch-raw", readings, cfg.raw_events, cfg.runtime)
    delivered = deliver_alerts("alerts", detected.alerts, cfg.alerts)
    lines = delivered.lines
    if cfg.runtime.crash_after_alerts:  # a recovery drill, only when asked for
        lines = drills.crash_once("crash-drill", lines, cfg.runtime)
    show_on_console("console", lines, cfg.alerts)
    dead_letters = [detected.dead_letters, detected.late, delivered.dead_letters, index_failures]
    write_dead_letters("dead-letters", dead_letters, cfg.dead_letters)


def select_rows(
    step_id: str, t_env: StreamTableEnvironment, lines: str, hot_sql: str, parser: JvmParser
) -> KeyedStream:
    """Parse and validate every line in the JVM; keep flagged rows and pre-filtered valid ones, keyed
    by region in the JVM, as `HANDOFF_COLUMNS` (the line only with flagged rows)."""
    parsed = t_env.sql_query(parse_query(f"`{lines}`", hot_sql, parser))
    typed = ", ".join(f"`{name}`" for name in READING_FIELDS)
    table: Table = t_env.sql_query(
        "SELECT CASE WHEN reason IS NULL THEN CAST(NULL AS STRING) ELSE line END AS line, reason, "
        f"{typed}, rt FROM {parsed}"
    )
    return rows_keyed_in_jvm(t_env, table, "region", HANDOFF_COLUMNS, "rt", HANDOFF_TYPES)


def select_valid_lines(
    step_id: str, t_env: StreamTableEnvironment, lines: str, parser: JvmParser
) -> KeyedStream:
    """The lines the JVM read as valid readings, keyed by region in the JVM, as (line, reason)."""
    parsed = t_env.sql_query(parse_query(f"`{lines}`", None, parser))
    table = t_env.sql_query(f"SELECT line, reason, rt, region FROM {parsed} WHERE reason IS NULL")
    types = [Types.STRING(), Types.STRING()]
    return rows_keyed_in_jvm(t_env, table, "region", PARSED_COLUMNS, "rt", types)


def check_readings(step_id: str, rows: KeyedStream, detection: DetectionConfig, parallelism: int) -> ParseOut:
    """Valid lines -> reading dicts (exact schema check, re-deliveries dropped) for OpenSearch."""
    check = functions.CheckReadings(step_id, detection.event_dedupe_ttl_ms)
    readings = rows.process(check).name(step_id).uid(step_id).set_parallelism(parallelism)
    return ParseOut(readings, readings.get_side_output(functions.DEAD_LETTERS))


def write_raw_events(
    step_id: str, readings: DataStream, raw_events: RawEventsConfig, runtime: RuntimeConfig
) -> Optional[DataStream]:
    """Bulk-index every reading into OpenSearch when configured; returns its dead letters."""
    if not raw_events.enabled:
        return None
    buckets = runtime.parallelism * INDEX_BUCKETS_PER_SUBTASK
    indexed = (
        readings.key_by(lambda r: zlib.crc32(r["event_id"].encode("utf-8")) % buckets, key_type=Types.INT())
        .process(functions.IndexRawEvents(raw_events))
        .name(step_id)
        .uid(step_id)
        .set_parallelism(runtime.parallelism)
    )
    return indexed.get_side_output(functions.DEAD_LETTERS)


def detect(
    step_id: str, rows: KeyedStream, pattern: object, detection: DetectionConfig, parallelism: int
) -> DetectOut:
    """Check rows, drop re-deliveries, run the fire-chain pattern per region (event time, early results
    unless turned off) and alert each path once (the alerted paths are keyed state of this step), all
    in one Python operator; invalid rows and late readings go to the dead letters. Its `parallelism`
    is set here: the rows may come from a query of smaller parallelism (`sources`)."""
    stages = patterns.stage_names(detection.chain_length)
    alert_once = functions.AlertOncePerPath(stages, detection.alert_dedupe_ttl_ms)
    detect_fires = functions.CheckAndDetect(
        step_id, detection.event_dedupe_ttl_ms, pattern, alert_once,
        late_tag=LATE, early_results=detection.early_alerts,
        pass_every_ms=EARLY_PASS_EVERY_MS if detection.early_alerts else None,
    )
    alerts = rows.process(detect_fires).name(step_id).uid(step_id).set_parallelism(parallelism)
    late = (
        alerts.get_side_output(LATE)
        .process(functions.LateToDeadLetter(), output_type=Types.STRING())
        .name("late-readings")
    )
    return DetectOut(alerts, late, alerts.get_side_output(functions.DEAD_LETTERS))


def detect_by_rules(
    step_id: str, env: StreamExecutionEnvironment, t_env: StreamTableEnvironment, rows: KeyedStream,
    rules: dict, floor_c: float, cfg: BushfireConfig,
) -> DetectOut:
    """`detect` with every rule of the watched rules file (`rule_steps`); no early alerts yet."""
    detection = cfg.detection
    updates, refused_files = rule_steps.rule_updates(env, t_env, detection.rules_path, not cfg.source.bounded)
    alerts, refused_updates = rule_steps.detect_rules(
        step_id, rows, updates, rules, floor_c, detection.event_dedupe_ttl_ms,
        detection.alert_dedupe_ttl_ms, LATE, cfg.runtime.parallelism,
    )
    late = (
        alerts.get_side_output(LATE)
        .process(functions.LateToDeadLetter(), output_type=Types.STRING())
        .name("late-readings")
    )
    dead = [alerts.get_side_output(functions.DEAD_LETTERS), refused_updates]
    if refused_files is not None:
        dead.append(refused_files)
    return DetectOut(alerts, late, dead[0].union(*dead[1:]))


def deliver_alerts(step_id: str, alerts: DataStream, config: AlertConfig) -> DeliveryOut:
    """SNS (when configured) and the alerts file, in one operator of parallelism 1."""
    delivered = (
        alerts.process(functions.DeliverAlerts(config), Types.STRING())
        .name(step_id)
        .uid(step_id)
        .set_parallelism(1)
    )
    return DeliveryOut(delivered, delivered.get_side_output(functions.DEAD_LETTERS))


def show_on_console(step_id: str, lines: DataStream, config: AlertConfig) -> None:
    """Print each alert as one readable line on the console (the JVM's stdout)."""
    if config.console:
        lines.print().name(step_id)


def write_dead_letters(step_id: str, streams: list[Optional[DataStream]], config: DeadLetterConfig) -> None:
    """Append every dead letter (JSON line) to the dead-letter file, from one operator."""
    present = [s for s in streams if s is not None]
    merged = present[0].union(*present[1:]) if len(present) > 1 else present[0]
    merged.process(functions.WriteDeadLetters(config.path)).name(step_id).uid(step_id).set_parallelism(1)

