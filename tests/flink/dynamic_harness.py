"""Mini-cluster jobs for `cep.flink.dynamic`, with updates and events interleaved deterministically.

A test is a script: a list of steps, each an event or a pattern update. Events and updates travel on
two streams, so nothing orders them at the operator; two gates (map functions that wait on marker
files written by the operator) restore the script's order:

* an event waits until the operator has handled every update before it in the script;
* an update waits until the operator has fed the events before it, i.e. its watermark passed the
  timestamp of the last event before the update (so that event must be one some pattern uses).

Each wait gives up after `GATE_TIMEOUT_S` with an error, so a broken order fails the test instead of
hanging it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from pyflink.common import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.functions import MapFunction

from cep.flink.dynamic import UPDATE_ERRORS, DynamicCepFunction
from cep.flink.match_ids import default_event_id
from tests.flink.harness import (
    Record,
    WriteById,
    discard,
    new_env,
    read_by_id,
    read_events,
    record_key,
    write_records,
)
from tests.support.flink import local_table_env

GATE_TIMEOUT_S = 60.0
#: Updates are stamped far in the future (year 9000), so their watermark never holds the events' back.
UPDATE_TS = 221_845_392_000_000


@dataclass(frozen=True)
class Update:
    """A pattern update (what goes on the update stream: JSON text)."""

    body: Union[dict, str]

    @property
    def text(self) -> str:
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


Step = Union[Record, Update]


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return -(2**63)


def _wait_until(path: Path, at_least: int, what: str) -> None:
    deadline = time.monotonic() + GATE_TIMEOUT_S
    while _read_int(path) < at_least:
        if time.monotonic() > deadline:
            raise RuntimeError(f"gate: waited {GATE_TIMEOUT_S} s for {what} ({path.name} >= {at_least})")
        time.sleep(0.01)


class RecordingDynamicCep(DynamicCepFunction):
    """The function under test, also noting how many updates it handled and how far it has fed."""

    def __init__(self, work_dir: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._work_dir = work_dir

    def open(self, runtime_context: Any) -> None:
        super().open(runtime_context)
        self._updates_file = Path(self._work_dir) / "updates-handled"
        self._fed_file = Path(self._work_dir) / "fed-up-to"
        self._handled = _read_int(self._updates_file) if self._updates_file.exists() else 0

    def process_broadcast_element(self, value: Any, ctx: Any):
        yield from super().process_broadcast_element(value, ctx)
        self._handled += 1
        _write_atomically(self._updates_file, str(self._handled))

    def on_timer(self, timestamp: int, ctx: Any):
        yield from super().on_timer(timestamp, ctx)
        watermark = ctx.timer_service().current_watermark()
        if watermark > _read_int(self._fed_file):
            _write_atomically(self._fed_file, str(watermark))


class EventGate(MapFunction):
    """Holds an event until the operator handled the updates the script puts before it."""

    def __init__(self, work_dir: str) -> None:
        self._work_dir = work_dir

    def map(self, event: dict) -> dict:
        _wait_until(
            Path(self._work_dir) / "updates-handled",
            event["_updates_before"],
            f"updates before event {event['id']}",
        )
        return event


class UpdateGate(MapFunction):
    """Holds an update until the operator fed the events the script puts before it."""

    def __init__(self, work_dir: str) -> None:
        self._work_dir = work_dir

    def map(self, row: Any) -> str:
        if row.after_ts is not None:
            _wait_until(Path(self._work_dir) / "fed-up-to", row.after_ts, "the events before an update")
        return row.payload


def split_script(
    script: Sequence[Step], initial: dict | None = None
) -> tuple[list[Record], list[tuple[Update, Any]]]:
    """Events (each knowing how many updates precede it) and updates (each knowing the last event ts).

    The update stream's watermark holds the operator's back until its first update passes the gate,
    so a script that starts with events gets a first update that changes nothing (a ``set`` of the
    initial patterns).
    """
    if script and not isinstance(script[0], Update):
        script = [Update({"op": "set", "patterns": initial or {}}), *script]
    events: list[Record] = []
    updates: list[tuple[Update, Any]] = []
    for step in script:
        if isinstance(step, Update):
            updates.append((step, events[-1].ts if events else None))
        else:
            events.append(Record(step.key, step.ts, {**step.event, "_updates_before": len(updates)}))
    return events, updates


def update_stream(
    env: StreamExecutionEnvironment, path: Path, updates: Sequence[tuple[Update, Any]]
) -> DataStream:
    with open(path, "w", encoding="utf-8") as out:
        for update, after_ts in updates:
            out.write(json.dumps({"ts": UPDATE_TS, "after_ts": after_ts, "payload": update.text}) + "\n")
    t_env = local_table_env(env)
    t_env.execute_sql(
        f"""CREATE TEMPORARY TABLE updates (
              ts BIGINT, after_ts BIGINT, payload STRING,
              rt AS TO_TIMESTAMP_LTZ(ts, 3),
              WATERMARK FOR rt AS rt
            ) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"""
    )
    return t_env.to_data_stream(t_env.from_path("updates"))


def run_script(
    work: Path,
    script: Sequence[Step],
    initial: dict | None = None,
    conf: dict | None = None,
    fail_after_id: Any = None,
    **options: Any,
) -> tuple[dict[str, Any], list[dict]]:
    """Run the script; return (matches by match id -> [pattern id, event ids], refused updates)."""
    from tests.flink.harness import FailOnce

    work.mkdir(parents=True, exist_ok=True)
    (work / "out").mkdir()
    (work / "updates-handled").write_text("0")
    events, updates = split_script(script, initial)
    env = new_env(**(conf or {}))
    event_stream = read_events(env, write_records(work / "events.jsonl", events), 0).map(EventGate(str(work)))
    if fail_after_id is not None:
        event_stream = event_stream.map(FailOnce(str(work), fail_after_id, delay_s=0.05))
    update_texts = update_stream(env, work / "updates.jsonl", updates).map(
        UpdateGate(str(work)), Types.STRING()
    )
    function = RecordingDynamicCep(str(work), _ids_of_match, initial=initial, **options)
    from cep.flink.dynamic import PATTERNS_STATE

    matches = (
        event_stream.key_by(record_key, Types.STRING())
        .connect(update_texts.broadcast(PATTERNS_STATE))
        .process(function)
    )
    discard(matches.map(WriteById(str(work / "out"))))
    errors_dir = work / "errors"
    errors_dir.mkdir()
    discard(matches.get_side_output(UPDATE_ERRORS).map(_ErrorWriter(str(errors_dir))))
    env.execute("cep-dynamic-patterns")
    refused = [json.loads(p.read_text()) for p in sorted(errors_dir.iterdir())]
    return read_by_id(work / "out"), refused


def _ids_of_match(match: dict, ctx: Any) -> list:
    ids = [e["id"] for name in sorted(match) for e in match[name]]
    return [(ctx.match_id, [ctx.pattern_id, ids])]


class _ErrorWriter(MapFunction):
    def __init__(self, out_dir: str) -> None:
        self._out_dir = out_dir

    def map(self, text: str) -> str:
        name = default_event_id({"x": text})
        (Path(self._out_dir) / f"{time.time_ns()}-{abs(hash(name))}").write_text(text)
        return text


def found(matches: dict[str, Any]) -> set[tuple[str, tuple]]:
    """(pattern id, event ids) of every match, as a set."""
    return {(pid, tuple(ids)) for pid, ids in matches.values()}
