"""The bushfire job's pipeline: `build(env, cfg)` reads top to bottom as the data flow.

    source ─▶ parse + validate + pre-filter ─▶ key by region  (all JVM)
        ─▶ exact check, drop re-delivered event ids (Python, keyed by region)
        ─┬─▶ raw events ─▶ OpenSearch (bulk, keyed buffer)                       [when configured]
         └─▶ hot readings ─▶ key by region ─▶ CEP fire chain + one alert per path ─▶ SNS, file, console
    dead letters ◀─ malformed/invalid rows, late readings, undeliverable alerts, unindexable documents

Only rows that can matter reach Python: invalid rows (for the dead letters) and, unless OpenSearch
needs every reading, the readings passing the pattern's pre-filter (``temperature >= threshold``).
Each Python operator costs a crossing, a wait at every watermark and start-up time, so there are as
few as the data flow allows.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Optional

from pyflink.common import Types
from pyflink.datastream import DataStream, KeyedStream, OutputTag, StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from cep.analysis import prefilter
from cep.flink import CEP
from cep.flink.tables import rows_keyed_in_jvm
from jobs.bushfire import functions, patterns
from jobs.bushfire.config import (
    AlertConfig,
    BushfireConfig,
    DeadLetterConfig,
    DetectionConfig,
    RawEventsConfig,
    RuntimeConfig,
)
from jobs.bushfire.parse_udf import register_functions
from jobs.bushfire.parsing import PARSED_COLUMNS, JvmParser, parse_query
from jobs.bushfire.sources import read_lines

LATE = OutputTag("late-readings", Types.PICKLED_BYTE_ARRAY())
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
    pattern = patterns.fire_chain(cfg.detection)
    hot = prefilter(pattern)
    lines = read_lines("sensor_lines", env, t_env, cfg.source, cfg.watermarks, parser)
    hot_sql = None if cfg.raw_events.enabled else hot.to_sql()  # OpenSearch needs every reading
    rows = select_rows("parse-validate", t_env, lines, hot_sql, parser)
    parsed = check_readings("check-readings", rows, cfg.detection)
    readings = parsed.readings
    index_failures = write_raw_events("opensearch-raw", readings, cfg.raw_events, cfg.runtime)
    hot_readings = readings.filter(hot).name("hot-readings") if cfg.raw_events.enabled else readings
    detected = detect("bushfire-cep", hot_readings, pattern, cfg.detection)
    delivered = deliver_alerts("alerts", detected.alerts, cfg.alerts, cfg.runtime)
    show_on_console("console", delivered.lines, cfg.alerts)
    dead_letters = [parsed.dead_letters, detected.late, delivered.dead_letters, index_failures]
    write_dead_letters("dead-letters", dead_letters, cfg.dead_letters)


def select_rows(
    step_id: str, t_env: StreamTableEnvironment, lines: str, hot_sql: Optional[str], parser: JvmParser
) -> KeyedStream:
    """Parse and validate every line in the JVM; keep invalid rows and (pre-filtered) valid ones, keyed
    by region in the JVM. Rows are (line, reason)."""
    table = t_env.sql_query(parse_query(f"`{lines}`", hot_sql, parser))
    types = [Types.STRING(), Types.STRING()]
    return rows_keyed_in_jvm(t_env, table, "region", PARSED_COLUMNS, "rt", types)


def check_readings(step_id: str, rows: KeyedStream, detection: DetectionConfig) -> ParseOut:
    """Rows -> reading dicts (exact schema check, re-deliveries dropped); the rest -> dead letters."""
    check = functions.CheckReadings(step_id, detection.event_dedupe_ttl_ms)
    readings = rows.process(check).name(step_id).uid(step_id)
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
    )
    return indexed.get_side_output(functions.DEAD_LETTERS)


def detect(step_id: str, readings: DataStream, pattern: object, detection: DetectionConfig) -> DetectOut:
    """Run the fire-chain pattern per region (event time) and alert each path once (the alerted paths
    are keyed state of the CEP step); late readings go to the dead letters."""
    keyed = readings.key_by(region_of, key_type=Types.STRING())
    stages = patterns.stage_names(detection.chain_length)
    alert_once = functions.AlertOncePerPath(stages, detection.alert_dedupe_ttl_ms)
    matches = (
        CEP.pattern(keyed, pattern)
        .side_output_late_data(LATE)
        .process(alert_once)
        .name(step_id)
        .uid(step_id)
    )
    late = (
        matches.get_side_output(LATE)
        .process(functions.LateToDeadLetter(), output_type=Types.STRING())
        .name("late-readings")
    )
    return DetectOut(matches, late)


def deliver_alerts(
    step_id: str, alerts: DataStream, config: AlertConfig, runtime: RuntimeConfig
) -> DeliveryOut:
    """SNS (when configured) and the alerts file, in one operator of parallelism 1."""
    marker = None
    if runtime.crash_after_alerts and runtime.checkpoint_dir:
        marker = f"{runtime.checkpoint_dir.removeprefix('file://')}/crash-injected"
    delivered = (
        alerts.process(functions.DeliverAlerts(config, runtime.crash_after_alerts, marker), Types.STRING())
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


def region_of(reading: dict) -> str:
    return reading["region"]
