"""Sources of raw sensor lines, as a Flink table ``(line STRING, rt TIMESTAMP_LTZ(3) rowtime)``.

Both sources keep the records in the JVM: files read in name order (`OrderedFiles.java`, built into
the parser's jar) or, without that jar, a `filesystem` table with the `raw` format (each line one
STRING), or the `FlinkKinesisConsumer` with `SimpleStringSchema` turned into a table. Watermarks
(bounded out-of-orderness) are declared on the table, so they are computed in the JVM over every
record, not only over the few that reach Python.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pyflink.common import WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors import Source
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, Schema, StreamTableEnvironment

from jobs.bushfire.config import KinesisConfig, SourceConfig, SourceKind, WatermarkConfig
from jobs.bushfire.connector import KINESIS_CONNECTOR_JAR
from jobs.bushfire.errors import ConfigError
from jobs.bushfire.parsing import JvmParser

log = logging.getLogger(__name__)
#: The source step's name (Flink's metrics and web UI call it `Source: sensor_lines`).
FILES_STEP = "sensor_lines"


def _interval(ms: int) -> str:
    """A Flink SQL interval literal of `ms` milliseconds, as days to seconds: ``SECOND(3)`` alone
    allows at most 999 s (its leading precision) and failed the job for ``--out-of-orderness 1h``."""
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = f"{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"
    return f"INTERVAL '{text}' DAY({max(2, len(str(days)))}) TO SECOND(3)"


def _watermark(column: str, watermarks: WatermarkConfig) -> str:
    return f"{column} - {_interval(watermarks.out_of_orderness_ms)}"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def read_lines(
    step_id: str,
    env: StreamExecutionEnvironment,
    t_env: StreamTableEnvironment,
    source: SourceConfig,
    watermarks: WatermarkConfig,
    parser: JvmParser,
) -> str:
    """Register the configured source as table `step_id` and return its name (rowtime via `parser`)."""
    t_env.get_config().set("table.exec.source.idle-timeout", f"{watermarks.idleness_ms} ms")
    env.get_config().set_auto_watermark_interval(watermarks.emit_interval_ms)
    if source.kind is SourceKind.KINESIS:
        _register_kinesis(step_id, env, t_env, source.kinesis, watermarks, parser)
    elif parser is JvmParser.JAVA:
        _register_ordered_files(step_id, env, t_env, source, watermarks, parser)
    else:
        _register_files(step_id, t_env, source, watermarks, parser)
    return step_id


def _register_ordered_files(
    name: str,
    env: StreamExecutionEnvironment,
    t_env: StreamTableEnvironment,
    source: SourceConfig,
    watermarks: WatermarkConfig,
    parser: JvmParser,
) -> None:
    """A file or directory of JSON lines, its files read in name order (`OrderedFiles.java`), so a
    backlog of files (a late start, a restore, a job behind) is read oldest first and the watermark
    does not pass the readings of a file not read yet; watched for new files unless bounded.

    One reader, and the parse after it, whatever the job's parallelism: each region's readings then
    reach the (parallel) CEP step in file order. Two readers on two files at once interleaved two
    stretches of event time per region, and every reading that arrived behind its region's latest
    made the early-results matcher rebuild (`cep.early`), which cost more than a second reader
    saved; reading and parsing take a small share of a core.
    """
    path = str(Path(source.input_path).resolve())
    monitor_ms = 0 if source.bounded else source.monitor_interval_ms
    j_source = get_gateway().jvm.emberwatch.flink.OrderedFiles.source(path, monitor_ms)
    t_env.get_config().set("table.exec.resource.default-parallelism", "1")
    lines = env.from_source(Source(j_source), WatermarkStrategy.no_watermarks(), FILES_STEP)
    lines.set_parallelism(1)
    schema = (
        Schema.new_builder()
        .column("f0", DataTypes.STRING())
        .column_by_expression("rt", parser.event_time("f0"))
        .watermark("rt", _watermark("rt", watermarks))
        .build()
    )
    t_env.create_temporary_view(f"{name}_records", t_env.from_data_stream(lines, schema))
    t_env.create_temporary_view(name, t_env.sql_query(f"SELECT f0 AS line, rt FROM `{name}_records`"))


def _register_files(
    name: str,
    t_env: StreamTableEnvironment,
    source: SourceConfig,
    watermarks: WatermarkConfig,
    parser: JvmParser,
) -> None:
    """A file or directory of JSON lines; watched for new files unless bounded. Only without the
    parser's jar (the SQL parser): Flink's own assigner reads a backlog of files in no useful order,
    so their readings may be late (docs/robustness.md)."""
    log.warning(
        "with the SQL parser (no job jar) the input files are read in no particular order: files that "
        "pile up (a late start, a restore) may become late readings; use the Java parser (docs/robustness.md)"
    )
    path = Path(source.input_path).resolve()
    options = {"connector": "filesystem", "path": str(path), "format": "raw", "raw.charset": "UTF-8"}
    if not source.bounded:
        options["source.monitor-interval"] = f"{source.monitor_interval_ms} ms"
    with_clause = ", ".join(f"{_sql_string(k)} = {_sql_string(v)}" for k, v in options.items())
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE `{name}` ("
        f" line STRING,"
        f" rt AS {parser.event_time('line')},"
        f" WATERMARK FOR rt AS {_watermark('rt', watermarks)}"
        f") WITH ({with_clause})"
    )


def kinesis_properties(kinesis: KinesisConfig) -> dict[str, str]:
    """`FlinkKinesisConsumer` properties (flink-connector-kinesis 5.x for Flink 1.20)."""
    props = {
        "aws.region": kinesis.region,
        "flink.stream.initpos": kinesis.initpos.value,
        "flink.shard.idle.interval": str(kinesis.shard_idle_ms),
    }
    if kinesis.initpos_timestamp:
        props["flink.stream.initpos.timestamp"] = kinesis.initpos_timestamp
    if kinesis.efo_consumer_name:
        props["flink.stream.recordpublisher"] = "EFO"
        props["flink.stream.efo.consumername"] = kinesis.efo_consumer_name
    if kinesis.endpoint:
        props["aws.endpoint"] = kinesis.endpoint
    return props


def _register_kinesis(
    name: str,
    env: StreamExecutionEnvironment,
    t_env: StreamTableEnvironment,
    kinesis: KinesisConfig,
    watermarks: WatermarkConfig,
    parser: JvmParser,
) -> None:
    """The Kinesis stream through PyFlink 1.20's `FlinkKinesisConsumer` (needs the connector jar)."""
    from pyflink.datastream.connectors.kinesis import FlinkKinesisConsumer

    try:
        consumer = FlinkKinesisConsumer(kinesis.stream, SimpleStringSchema(), kinesis_properties(kinesis))
    except TypeError as exc:  # py4j: "'JavaPackage' object is not callable" when the class is missing
        msg = (
            f"the Flink Kinesis connector is not on the classpath: fetch it with scripts/setup.sh's "
            f"ensure_kinesis_connector, or pass {KINESIS_CONNECTOR_JAR} with --connector-jars, or put "
            f"it in Flink's lib/ folder"
        )
        raise ConfigError(msg) from exc
    per_shard = parser is JvmParser.JAVA
    if per_shard:
        assigner = getattr(get_gateway().jvm.emberwatch.flink, "ParseReading$ShardWatermarks")
        consumer._j_kinesis_consumer.setPeriodicWatermarkAssigner(assigner(watermarks.out_of_orderness_ms))
    records = env.add_source(consumer, source_name=f"kinesis:{kinesis.stream}")
    schema = Schema.new_builder().column("f0", DataTypes.STRING())
    if per_shard:  # the consumer's per-shard watermarks and timestamps (ts) carry over to the table
        schema = schema.column_by_metadata("rt", DataTypes.TIMESTAMP_LTZ(3), "rowtime").watermark(
            "rt", "SOURCE_WATERMARK()"
        )
    else:  # the SQL parser has no Java class: one watermark over all the shards a subtask reads
        schema = schema.column_by_expression("rt", parser.event_time("f0")).watermark(
            "rt", _watermark("rt", watermarks)
        )
    t_env.create_temporary_view(f"{name}_records", t_env.from_data_stream(records, schema.build()))
    t_env.create_temporary_view(name, t_env.sql_query(f"SELECT f0 AS line, rt FROM `{name}_records`"))
