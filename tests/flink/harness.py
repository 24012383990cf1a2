"""Small jobs for the `cep.flink` mini-cluster tests: JSON-lines input read in the JVM, CEP, outputs.

Input records are written to a file and read by a `filesystem` table whose rowtime watermark is emitted
after every record (``pipeline.auto-watermark-interval`` = 0), so which events are late is decided by
the input order alone, as in a real out-of-order stream with a bounded-out-of-orderness watermark.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pyflink.common import Types
from pyflink.datastream import DataStream, KeyedStream, OutputTag, StreamExecutionEnvironment
from pyflink.datastream.functions import MapFunction, SinkFunction

from tests.support.flink import local_env, local_table_env

#: Watermarks after every record, and every record through the Python operators at once: the
#: watermark a CEP operator sees then depends only on the input order (Python operators hold
#: watermarks back while a bundle is open).
DETERMINISTIC_WATERMARKS = {
    "pipeline.auto-watermark-interval": "0",
    "python.fn-execution.bundle.size": "1",
}


#: The field of each event that holds its record key.
KEY_FIELD = "_key"


@dataclass(frozen=True)
class Record:
    """One input record: the key, the event time in ms and the event (a JSON-able dict)."""

    key: str
    ts: int
    event: dict


def write_records(path: Path, records: Iterable[Record]) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        for rec in records:
            out.write(json.dumps({"k": rec.key, "ts": rec.ts, "payload": json.dumps(rec.event)}) + "\n")
    return path


def keyed_events(
    env: StreamExecutionEnvironment,
    path: Path,
    out_of_orderness_ms: int,
    *,
    table: str = "events",
    to_event: Callable[[dict, str], Any] | None = None,
) -> KeyedStream:
    """`read_events`, keyed by record key."""
    return read_events(env, path, out_of_orderness_ms, table=table, to_event=to_event).key_by(
        record_key, Types.STRING()
    )


def read_events(
    env: StreamExecutionEnvironment,
    path: Path,
    out_of_orderness_ms: int,
    *,
    table: str = "events",
    to_event: Callable[[dict, str], Any] | None = None,
) -> DataStream:
    """Events of `path` with event time and watermarks computed in the JVM.

    `to_event(payload, key)` builds each event (default: the payload dict with the key in `KEY_FIELD`).
    """
    t_env = local_table_env(env)
    t_env.execute_sql(
        f"""CREATE TEMPORARY TABLE {table} (
              k STRING, ts BIGINT, payload STRING,
              rt AS TO_TIMESTAMP_LTZ(ts, 3),
              WATERMARK FOR rt AS rt - INTERVAL '{out_of_orderness_ms / 1000:.3f}' SECOND
            ) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"""
    )
    rows = t_env.to_data_stream(t_env.from_path(table))
    make = to_event or dict_event
    return rows.map(lambda row: make(json.loads(row.payload), row.k))


def dict_event(payload: dict, key: str) -> dict:
    return {**payload, KEY_FIELD: key}


def record_key(event: Any) -> str:
    """The record key an event was read with (`KEY_FIELD` of a dict, else its ``key`` attribute)."""
    return event[KEY_FIELD] if isinstance(event, dict) else event.key


def tagged(stream: DataStream, kind: str) -> DataStream:
    """Mark each output with the stream it came from, so several outputs can be collected as one."""
    return stream.map(lambda value, kind=kind: (kind, value))


def collect(streams: dict[str, DataStream]) -> dict[str, list]:
    """Run the job and return the outputs of each named stream."""
    results: dict[str, list] = {kind: [] for kind in streams}
    for kind, value in collect_all([tagged(stream, kind) for kind, stream in streams.items()]):
        results[kind].append(value)
    return results


def collect_all(streams: Sequence[DataStream]) -> list:
    """Run the job and return everything the streams (all of the same type) emit, in arrival order."""
    union = streams[0].union(*streams[1:]) if len(streams) > 1 else streams[0]
    with union.execute_and_collect() as rows:
        return list(rows)


def late_and_timeout_tags() -> tuple[OutputTag, OutputTag]:
    return OutputTag("late-events"), OutputTag("timed-out")


def shuffle_within_bound(records: Sequence[Record], bound_ms: int, seed: str) -> list[Record]:
    """A random arrival order in which no record is late for a watermark of (max ts seen − bound).

    Equal timestamps keep their relative order: ties are fed in arrival order, so reordering them
    would change the expected matches.
    """
    rng = random.Random(seed)
    remaining = list(records)
    out: list[Record] = []
    while remaining:
        earliest = min(rec.ts for rec in remaining)
        firsts: dict[int, int] = {}
        for index, rec in enumerate(remaining):
            if rec.ts < earliest + bound_ms and rec.ts not in firsts:
                firsts[rec.ts] = index
        out.append(remaining.pop(rng.choice(sorted(firsts.values()))))
    return out


def new_env(**conf: str) -> StreamExecutionEnvironment:
    """A parallelism-1 mini-cluster environment with deterministic watermarks, in thread mode.

    Thread mode runs Python functions inside the JVM (pemja): a job with dozens of Python operators
    starts in seconds, where process mode pays for a Beam harness per operator.
    """
    return local_env(1, **{**DETERMINISTIC_WATERMARKS, "python.execution-mode": "thread", **conf})


def discard(stream: DataStream) -> None:
    """End `stream` in Flink's discarding sink (the job needs a sink; the outputs went elsewhere)."""
    stream.add_sink(SinkFunction("org.apache.flink.streaming.api.functions.sink.DiscardingSink"))


def latest_completed_checkpoint(checkpoint_dir: Path) -> int:
    """The highest id of a completed checkpoint under `checkpoint_dir` (0 when none completed yet).

    A checkpoint is complete once its ``_metadata`` file exists.
    """
    ids = [int(meta.parent.name[4:]) for meta in checkpoint_dir.glob("*/chk-*/_metadata")]
    return max(ids, default=0)


class FailOnce(MapFunction):
    """Passes events through slowly and raises once, mid-stream, after state holding `anchor_id` is saved.

    It notes the latest completed checkpoint when the anchor event passes; two checkpoints later (the
    second was triggered after the anchor was read, so its state holds the anchor) it raises, once:
    a marker file keeps later attempts from raising again. Each attempt writes the ids of the events it
    saw to its own ``attempt-*`` file (see `events_seen_per_attempt`).
    """

    def __init__(self, work_dir: str, anchor_id: Any, delay_s: float) -> None:
        self._work_dir = Path(work_dir)
        self._anchor_id = anchor_id
        self._delay_s = delay_s

    def open(self, runtime_context: Any) -> None:
        self._checkpoint_dir = self._work_dir / "checkpoints"
        self._marker = self._work_dir / "failed-once"
        self._raise_after: int | None = None
        self._seen = open(self._work_dir / f"attempt-{time.time_ns()}-{uuid.uuid4().hex}", "w")  # noqa: SIM115

    def close(self) -> None:
        self._seen.close()

    def map(self, event: dict) -> dict:
        time.sleep(self._delay_s)
        self._seen.write(json.dumps(event.get("id")) + "\n")
        self._seen.flush()
        if self._marker.exists():
            return event
        if event.get("id") == self._anchor_id:
            self._raise_after = latest_completed_checkpoint(self._checkpoint_dir) + 2
        elif self._raise_after is not None and (
            latest_completed_checkpoint(self._checkpoint_dir) >= self._raise_after
        ):
            self._marker.write_text(json.dumps(event))
            raise RuntimeError(f"injected failure before event {event.get('id')}")
        return event


def events_seen_per_attempt(work_dir: Path) -> list[list[Any]]:
    """The event ids each attempt of `FailOnce` saw, attempts in start order."""
    files = sorted(work_dir.glob("attempt-*"), key=lambda path: int(path.name.split("-")[1]))
    return [[json.loads(line) for line in path.read_text().splitlines()] for path in files]


class WriteById(MapFunction):
    """An idempotent sink: one file per match id, so a replayed match overwrites itself."""

    def __init__(self, out_dir: str) -> None:
        self._out_dir = out_dir

    def map(self, value: tuple[str, Any]) -> str:
        match_id, payload = value
        name = hashlib.sha1(match_id.encode()).hexdigest()
        (Path(self._out_dir) / name).write_text(json.dumps([match_id, payload]))
        return match_id


def read_by_id(out_dir: Path) -> dict[str, Any]:
    rows = [json.loads(path.read_text()) for path in out_dir.iterdir()]
    return {match_id: payload for match_id, payload in rows}
