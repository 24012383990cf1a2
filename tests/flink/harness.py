"""Small jobs for the `cep.flink` mini-cluster tests: JSON-lines input read in the JVM, CEP, outputs.

Input records are written to a file and read by a `filesystem` table whose rowtime watermark is emitted
after every record (``pipeline.auto-watermark-interval`` = 0), so which events are late is decided by
the input order alone, as in a real out-of-order stream with a bounded-out-of-orderness watermark.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyflink.common import Types
from pyflink.datastream import DataStream, KeyedStream, OutputTag, StreamExecutionEnvironment

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
    env: StreamExecutionEnvironment, path: Path, out_of_orderness_ms: int, table: str = "events"
) -> KeyedStream:
    """Events of `path` as dicts, keyed by record key, with event time and watermarks from the JVM."""
    t_env = local_table_env(env)
    t_env.execute_sql(
        f"""CREATE TEMPORARY TABLE {table} (
              k STRING, ts BIGINT, payload STRING,
              rt AS TO_TIMESTAMP_LTZ(ts, 3),
              WATERMARK FOR rt AS rt - INTERVAL '{out_of_orderness_ms / 1000:.3f}' SECOND
            ) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"""
    )
    rows = t_env.to_data_stream(t_env.from_path(table))
    return rows.map(_row_to_event).key_by(lambda event: event[KEY_FIELD], Types.STRING())


def _row_to_event(row: Any) -> dict:
    event = json.loads(row.payload)
    event[KEY_FIELD] = row.k
    return event


def tagged(stream: DataStream, kind: str) -> DataStream:
    """Mark each output with the stream it came from, so several outputs can be collected as one."""
    return stream.map(lambda value, kind=kind: (kind, value))


def collect(streams: dict[str, DataStream]) -> dict[str, list]:
    """Run the job and return the outputs of each named stream."""
    named = [tagged(stream, kind) for kind, stream in streams.items()]
    union = named[0].union(*named[1:]) if len(named) > 1 else named[0]
    results: dict[str, list] = {kind: [] for kind in streams}
    with union.execute_and_collect() as rows:
        for kind, value in rows:
            results[kind].append(value)
    return results


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
    return local_env(1, **{**DETERMINISTIC_WATERMARKS, **conf})
