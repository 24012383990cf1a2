"""The job's Python operators: each moves data between Flink and one pure-Python piece, nothing more.

Every operator counts what it sees in the Flink metric group ``bushfire`` (docs/job.md lists the
names). Bad input becomes a dead letter on a side output; nothing here lets one record stop the job.
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from cep.flink import MatchContext, MirroredValueState, StepMetricsScope
from cep.flink.operator import CepFunction
from jobs.bushfire.alerts import alert_line, build_alert, console_line
from jobs.bushfire.config import AlertConfig
from jobs.bushfire.dedupe import SeenEventIds
from jobs.bushfire.parsing import READING_FIELDS, DeadLetter, Reason, now_ms, parse_line
from jobs.bushfire.python_heap import settle_heap

log = logging.getLogger(__name__)

METRIC_GROUP = "bushfire"
#: Side output of every operator that produces dead letters: one JSON line per dead letter.
DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())


def _metrics(runtime_context: RuntimeContext) -> Any:
    return runtime_context.get_metrics_group().add_group(METRIC_GROUP)


class _ReadingChecks:
    """What both check steps share: their counters and the re-delivery dedupe (`dedupe.SeenEventIds`,
    ids kept `ttl_ms` of event time)."""

    ttl_ms: int

    def _open_checks(self, runtime_context: RuntimeContext) -> None:
        settle_heap()
        self.seen = SeenEventIds(runtime_context, self.ttl_ms)
        metrics = _metrics(runtime_context)
        self.rows_in = metrics.counter("rowsIntoPython")
        self.malformed = metrics.counter("malformed")
        self.invalid = metrics.counter("invalid")
        self.readings = metrics.counter("readings")
        self.duplicates = metrics.counter("duplicates")



class CheckReadings(_ReadingChecks, KeyedProcessFunction):
    """Keyed by region (keyed in the JVM): rows of the JVM parse query -> the first reading of each
    event_id; invalid rows -> dead letters with the raw line.

    The exact schema check runs here for every row that crossed, flagged by the JVM or not (rows the
    JVM could not read a region from share the key ""). Re-delivered readings (same event_id, so the
    same region) seen within `ttl_ms` of event time are dropped; the ids live in one dict per region,
    oldest first.
    """

    def __init__(self, stage: str, ttl_ms: int) -> None:
        self.stage = stage
        self.ttl_ms = ttl_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        self._open_checks(runtime_context)

    def process_element(self, row: Any, ctx: KeyedProcessFunction.Context):
        self.rows_in.inc()
        result = parse_line(row[0], self.stage)
        if isinstance(result, DeadLetter):
            (self.malformed if result.reason is Reason.MALFORMED else self.invalid).inc()
            yield DEAD_LETTERS, result.to_json()
        elif self.seen.first_time(ctx.get_current_key(), result["event_id"], result["ts"]):
            self.readings.inc()
            yield result
        else:
            self.duplicates.inc()



#: A reading's name in match ids and in the early-results bookkeeping: its `event_id` (what
#: `cep.flink.match_ids.default_event_id` finds too, without looking for other fields first). A C-level
#: getter: every complete match (37k for 1.4k paths on the benchmark stream) is keyed by its ids.
reading_id = operator.itemgetter("event_id")


#: Field of a reading (set by `CheckAndDetect`, never in alerts) with the processing time (ms) at which
#: it reached the CEP step; an alert's delay is measured from its last-arriving reading's.
ARRIVED = "_arrived"


class CheckAndDetect(_ReadingChecks, CepFunction):
    """The job's one Python step on the alert path, keyed by region (keyed in the JVM).

    Rows of the JVM parse (`pipeline.HANDOFF_COLUMNS`): an unflagged row is a valid reading and
    becomes a dict from its typed columns, with no second parse; a flagged row carries its line, which
    gets the exact schema check here (a dead letter with the raw line, or a reading). Re-delivered
    readings (same event_id, so the same region) seen within `ttl_ms` of event time are dropped. What
    is left goes straight into the fire-chain matcher (`CepFunction`), and matches into `match_fn`.
    Check, dedupe and CEP in one operator: a reading crosses into Python once.
    """

    def __init__(self, stage: str, ttl_ms: int, pattern: Any, match_fn: Any, **cep_options: Any) -> None:
        cep_options.setdefault("event_id", reading_id)
        super().__init__(pattern, match_fn, **cep_options)
        self.stage = stage
        self.ttl_ms = ttl_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        self._open_checks(runtime_context)
        self.mis_keyed = _metrics(runtime_context).counter("misKeyed")

    def process_element(self, row: Any, ctx: KeyedProcessFunction.Context):
        self.rows_in.inc()
        region = ctx.get_current_key()
        if row[1] is None:  # no reason: the JVM read a valid reading
            reading = {name: row[i] for i, name in enumerate(READING_FIELDS, start=2)}
        else:
            result = parse_line(row[0], self.stage)
            if isinstance(result, DeadLetter):
                (self.malformed if result.reason is Reason.MALFORMED else self.invalid).inc()
                yield DEAD_LETTERS, result.to_json()
                return
            reading = result
            if reading["region"] != region:  # only a line the JVM misread can get here
                self.mis_keyed.inc()
                letter = DeadLetter(
                    stage=self.stage, reason=Reason.INVALID, raw=row[0] or "", seen_at=now_ms(),
                    error=f"region {reading['region']!r} but keyed as {region!r}: the JVM parse misread it",
                )
                yield DEAD_LETTERS, letter.to_json()
                return
        if not self.seen.first_time(region, reading["event_id"], reading["ts"]):
            self.duplicates.inc()
            return
        self.readings.inc()
        reading[ARRIVED] = now_ms()
        yield from super().process_element(reading, ctx)



class AlertOncePerPath:
    """`PatternStream.process` function of the CEP step (keyed by region): one alert per path.

    A burning node reports every minute, so the engine completes the same path many times (37k
    matches for 1.4k paths on the benchmark stream). The paths alerted in a region live in the CEP
    operator's keyed state (node path -> last reading's event time, kept `ttl_ms`), checkpointed with
    the matcher, so a path is alerted once even across a restart. A repeat costs a tuple lookup.
    """

    def __init__(self, stage_names: Sequence[str], ttl_ms: int) -> None:
        self.stage_names = tuple(stage_names)
        self.ttl_ms = ttl_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        alerted = runtime_context.get_state(ValueStateDescriptor("alerted-paths", Types.PICKLED_BYTE_ARRAY()))
        self.alerted = MirroredValueState(alerted)
        metrics = _metrics(runtime_context)
        self.alerts = metrics.counter("alerts")
        self.repeats = metrics.counter("repeatedMatches")
        self.early_alerts = metrics.counter("earlyAlerts")
        self.watermark_alerts = metrics.counter("watermarkAlerts")
        self.last_delay_ms = 0
        metrics.gauge("lastAlertDelayMs", lambda: self.last_delay_ms)

    def __call__(self, match: dict[str, list[dict]], ctx: MatchContext) -> list[dict[str, Any]]:
        readings = [match[name][-1] for name in self.stage_names]
        path = tuple(r["node"] for r in readings)
        alerted = self.alerted.get(ctx.key) or {}
        if path in alerted:
            self.repeats.inc()
            return []
        detected_at = now_ms()
        alert = build_alert(readings, detected_at)
        alert["found"] = "early" if ctx.found_early else "watermark"
        arrivals = [r[ARRIVED] for r in readings if ARRIVED in r]
        if arrivals:  # readings restored from an older checkpoint may lack it
            alert["delay_ms"] = self.last_delay_ms = detected_at - max(arrivals)
        (self.early_alerts if ctx.found_early else self.watermark_alerts).inc()
        alerted[path] = alert["last_ts"]
        _forget_older_than(alerted, alert["last_ts"] - self.ttl_ms)
        self.alerted.put(ctx.key, alerted)
        self.alerts.inc()
        return [alert]


def _forget_older_than(remembered: dict[Any, int], horizon: int) -> None:
    """Drop the oldest entries (insertion order follows event time closely enough) before `horizon`."""
    while remembered:
        oldest = next(iter(remembered))
        if remembered[oldest] >= horizon:
            break
        del remembered[oldest]


class LateToDeadLetter(ProcessFunction):
    """Late readings (at or below the watermark at the CEP operator) -> dead letters, counted."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.late = _metrics(runtime_context).counter("late")

    def process_element(self, reading: dict, ctx: ProcessFunction.Context):
        self.late.inc()
        letter = DeadLetter(
            stage="bushfire-cep",
            reason=Reason.LATE,
            raw=alert_line({k: v for k, v in reading.items() if k != ARRIVED}),
            error=f"event time {reading.get('ts')} at or below the watermark",
            seen_at=now_ms(),
        )
        yield letter.to_json()


class AppendOnlyJsonl:
    """Appends lines to a local file, flushed per line; `known_ids` reads back ids already written."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def known_ids(self, key: str) -> set[str]:
        ids: set[str] = set()
        if not self.path.exists():
            return ids
        with open(self.path, encoding="utf-8") as lines:
            for line in lines:
                try:
                    ids.add(json.loads(line)[key])
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line from a crash: written again on replay
        return ids

    def write(self, line: str) -> None:
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()


class DeliverAlerts(ProcessFunction):
    """Sends each alert to SNS (when configured) and appends it to the alerts file.

    Runs with parallelism 1. The file is idempotent across restarts: on open it reads the ids already
    in it and skips them, so a replay after recovery does not write an alert twice. SNS comes first,
    so a crash between the two re-sends (at-least-once) rather than loses an alert. An alert SNS still
    refuses after botocore's retries goes to the dead letters; it is still written to the file.
    """

    def __init__(self, config: AlertConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        metrics = _metrics(runtime_context)
        self.delivered = metrics.counter("alertsDelivered")
        self.failures = metrics.counter("alertFailures")
        self.file = AppendOnlyJsonl(self.config.alerts_out) if self.config.alerts_out else None
        self.written: set[str] = set()
        if self.file is not None:
            self.written = self.file.known_ids("alert_id")
            self.file.open()
        self.publisher = self._publisher()

    def _publisher(self) -> Any:
        if not self.config.sns_topic_arn:
            return None
        import boto3

        from jobs.bushfire.sns_alerts import AlertPublisher

        region = self.config.sns_region or _region_of_arn(self.config.sns_topic_arn)
        session = boto3.session.Session(region_name=region)
        return AlertPublisher(
            self.config.sns_topic_arn, boto3_session=session, endpoint_url=self.config.sns_endpoint
        )

    def process_element(self, alert: dict, ctx: ProcessFunction.Context):
        if alert["alert_id"] in self.written:
            return
        published = True
        if self.publisher is not None:
            result = self.publisher.publish(alert)
            published = result.ok
            if not result.ok:
                self.failures.inc()
                letter = DeadLetter(
                    stage="sns-alerts", reason=Reason.ALERT_DELIVERY, raw=alert_line(alert),
                    error=f"{result.error_code}: {result.reason}", seen_at=now_ms(),
                )
                yield DEAD_LETTERS, letter.to_json()
        if self.file is not None:
            self.file.write(alert_line(alert))
        self.written.add(alert["alert_id"])
        if published:  # every configured destination has it
            self.delivered.inc()
        yield console_line(alert)

    def close(self) -> None:
        if getattr(self, "file", None) is not None:
            self.file.close()


class WriteDeadLetters(ProcessFunction):
    """Appends dead-letter JSON lines to the dead-letter file (parallelism 1) and counts them."""

    def __init__(self, path: str) -> None:
        self.path = path

    def open(self, runtime_context: RuntimeContext) -> None:
        self.written = _metrics(runtime_context).counter("deadLetters")
        self.file = AppendOnlyJsonl(self.path)
        self.file.open()

    def process_element(self, line: str, ctx: ProcessFunction.Context):
        self.file.write(line)
        self.written.inc()
        return iter(())

    def close(self) -> None:
        if getattr(self, "file", None) is not None:
            self.file.close()


def _region_of_arn(arn: str) -> Optional[str]:
    """The region field of an ARN, or None (boto3 then uses its usual region lookup)."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


#: Event-time timer that fires only when the input ends (the final watermark), to flush what is left.
END_OF_INPUT_MS = 2**63 - 1


class IndexRawEvents(KeyedProcessFunction):
    """Keyed by a bucket of event_id: buffers readings in keyed state, bulk-indexes them by size and time.

    The buffer lives in Flink ListState, so a restart replays nothing twice and loses nothing:
    documents buffered at a checkpoint are restored with it, and documents after it are re-read from
    the source; OpenSearch documents are idempotent (id = event_id). Per-document failures that remain
    after the indexer's retries go to the dead letters.
    """

    def __init__(self, raw_events: Any) -> None:
        self.raw_events = raw_events

    def open(self, runtime_context: RuntimeContext) -> None:
        from pyflink.datastream.state import ListStateDescriptor

        from jobs.bushfire.opensearch_sink import RawEventIndexer, make_client

        cfg = self.raw_events
        client = make_client(
            cfg.opensearch_url, auth=cfg.auth.value, username=cfg.username, password=cfg.password,
            region=cfg.region,
        )
        self.indexer = RawEventIndexer(client, cfg.index, chunk_size=cfg.bulk_size)
        self.indexer.ensure_template()
        self.buffer = runtime_context.get_list_state(ListStateDescriptor("docs", Types.PICKLED_BYTE_ARRAY()))
        self.size = runtime_context.get_state(ValueStateDescriptor("size", Types.INT()))
        metrics = _metrics(runtime_context)
        self.indexed = metrics.counter("documentsIndexed")
        self.failures = metrics.counter("indexFailures")
        self.metrics_scope = StepMetricsScope()  # time-based flushes count in on_timer

    def process_element(self, reading: dict, ctx: KeyedProcessFunction.Context):
        self.metrics_scope.remember()
        self.buffer.add(reading)
        size = (self.size.value() or 0) + 1
        if size == 1:
            timers = ctx.timer_service()
            due = timers.current_processing_time() + self.raw_events.bulk_interval_ms
            timers.register_processing_time_timer(due)
            timers.register_event_time_timer(END_OF_INPUT_MS)
        if size >= self.raw_events.bulk_size:
            yield from self._flush()
        else:
            self.size.update(size)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        with self.metrics_scope.entered():
            yield from self._flush()

    def _flush(self):
        docs = list(self.buffer.get() or ())
        self.buffer.clear()
        self.size.clear()
        if not docs:
            return
        result = self.indexer.index(docs)
        self.indexed.inc(len(result.indexed))
        for failure in result.failed:
            self.failures.inc()
            letter = DeadLetter(
                stage="opensearch-raw", reason=Reason.INDEX_FAILURE,
                raw=json.dumps(dict(failure.document), ensure_ascii=False, sort_keys=True),
                error=f"{failure.status} {failure.error_type}: {failure.reason}", seen_at=now_ms(),
            )
            yield DEAD_LETTERS, letter.to_json()
