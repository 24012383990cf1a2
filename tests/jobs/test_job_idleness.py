"""Idle sources do not hold back alerts (the job's `--idleness`), and no idle mark makes a reading late.

The race of issue 15: PyFlink's Python operators hold a watermark until their bundle is finished but
forward an IDLE status at once, so an idle mark could pass readings still inside a Python operator
in front of the event-time step, and they arrived late (lost alerts, 3 of 6 runs with the CPU busy).
Its cause is gone when no Python operator stands in front of the event-time step (first test); the
runs below then show it at parallelism 2, on an idle machine and with every core saturated. They
wait for conditions (alerts written, every line read, the watermark past every reading), never for
a fixed time.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobs.bushfire.config import load_config
from jobs.bushfire.environment import create_environment
from jobs.bushfire.parse_udf import choose_parser
from jobs.bushfire.pipeline import build
from jobs.bushfire.sources import FILES_STEP
from simulator import SimulationConfig, simulate
from tests.jobs.watched import WatchedJob, watched_job
from tests.support.flink_rest import total, wait_until

pytestmark = pytest.mark.pyflink

#: The Python steps that act on event time (watermarks, timers, the `late` verdict).
EVENT_TIME_STEPS = {"bushfire-cep"}
#: Bounds for the waits below: generous, since a run may share the machine (or saturate it).
WAIT_S = 300


def _python_steps_in_front_of_event_time(tmp_path: Path, *flags: str) -> list[tuple[str, str]]:
    """(Python step, event-time step) pairs of the job's stream graph where the Python step is on a
    way from the readings' source to the event-time step. (Other inputs may pass Python steps: the
    rule updates of --rules carry a constant watermark far in the future and are never late.)"""
    argv = ["--source", "files", "--input", str(tmp_path), "--alerts-out", str(tmp_path / "a.jsonl"),
            "--dead-letters", str(tmp_path / "d.jsonl"), *flags]  # fmt: skip
    cfg = load_config(argv, env={})
    parser, jar = choose_parser(cfg.runtime.parser)
    env = create_environment(cfg.runtime, [jar] if jar else [])
    build(env, cfg, parser)
    graph = env._j_stream_execution_environment.getStreamGraph(False)
    nodes = {node.getId(): node for node in graph.getStreamNodes().toArray()}

    def is_python(node: object) -> bool:
        factory = node.getOperatorFactory()  # Python operators come in a SimpleOperatorFactory
        if factory.getClass().getSimpleName() != "SimpleOperatorFactory":
            return False
        return "Python" in factory.getOperator().getClass().getSimpleName()

    def reachable(start: int, step: Callable[[object], list[int]]) -> set[int]:
        seen: set[int] = set()
        todo = step(nodes[start])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo += step(nodes[current])
        return seen

    def inputs(node: object) -> list[int]:
        return [edge.getSourceId() for edge in node.getInEdges().toArray()]

    def outputs(node: object) -> list[int]:
        return [edge.getTargetId() for edge in node.getOutEdges().toArray()]

    readings = {i for i, node in nodes.items() if node.getOperatorName() == f"Source: {FILES_STEP}"}
    after_readings = set().union(*(reachable(i, outputs) for i in readings))
    event_time = [i for i, node in nodes.items() if node.getOperatorName() in EVENT_TIME_STEPS]
    assert readings and event_time, "no readings source or event-time step: the names are out of date"
    return [
        (nodes[up].getOperatorName(), nodes[step].getOperatorName())
        for step in event_time
        for up in reachable(step, inputs) & after_readings
        if is_python(nodes[up])
    ]


@pytest.mark.parametrize(
    "flags",
    [
        ("--parallelism", "1"),
        ("--parallelism", "2"),
        ("--parallelism", "2", "--opensearch-url", "http://127.0.0.1:9"),
        ("--parallelism", "2", "--rules", "RULES"),
    ],
    ids=["p1", "p2", "p2-opensearch", "p2-rules"],
)
def test_no_python_step_stands_in_front_of_the_event_time_step(tmp_path: Path, flags: tuple[str, ...]):
    """Every reading reaches the event-time step straight from the JVM's operators, which hand on
    records, watermarks and idle marks in order: there is no Python bundle for an idle mark to pass."""
    rules = tmp_path / "rules.json"
    rule = {"id": "fire", "regions": ["*"], "threshold": 50, "chain_length": 5, "window": "10m",
            "severity": "emergency"}  # fmt: skip
    rules.write_text(json.dumps([rule]))
    flags = tuple(str(rules) if flag == "RULES" else flag for flag in flags)
    assert _python_steps_in_front_of_event_time(tmp_path, *flags) == []


@contextlib.contextmanager
def _cpu_saturated() -> Iterator[None]:
    """A busy loop on every core (plus one) while the block runs."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range((os.cpu_count() or 1) + 1)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def _flush(job: WatchedJob, last_ts: int) -> None:
    """A cool reading an hour after the last one, in a file named after the data: it moves the
    watermark past every reading before it (and is dropped in the JVM: it cannot alert)."""
    flush = {"event_id": "flush:1", "node": "flush", "region": "zz-flush", "ts": last_ts + 3_600_000,
             "temperature": 20.0, "infectedBy": None, "lat": 0.0, "lon": 0.0}  # fmt: skip
    job.drop([flush], "part-2.jsonl")


def _idle_reader_run(tmp_path: Path) -> None:
    """Parallelism 2 on a watched directory holding one file: one source reader reads it, the other
    has nothing. The watermark is the minimum over both, so without idleness it never moves and no
    alert comes out (seen with --idleness 1h). Once the silent reader has been idle for 5 s, the
    watermark follows the busy one and blog-11's one path is alerted; no reading is late."""
    sim = simulate(SimulationConfig.preset("blog-11"))
    readings = list(sim.valid_delivered())
    alerts = tmp_path / "out" / "alerts.jsonl"
    with watched_job(tmp_path, "--parallelism", "2", "--idleness", "5s", "--max-runtime", "900s") as job:
        job.drop(readings, "part-1.jsonl")
        text = wait_until(lambda: alerts.read_text() if alerts.exists() else "", bool, WAIT_S)
        assert text, job.tail()
        read = wait_until(
            lambda: total(job.metrics("Source__sensor_lines.numRecordsOut"), "numRecordsOut"),
            lambda n: n >= len(readings), WAIT_S,
        )
        assert read == len(readings), job.tail()
        _flush(job, max(r["ts"] for r in readings))
        # Every reading has been judged once the late step's input watermark passed the last one:
        # records reach it before the watermark that follows them.
        metrics = wait_until(
            lambda: job.metrics("late-readings.currentInputWatermark", "late-readings.numRecordsIn"),
            lambda m: _lowest_watermark(m) > max(r["ts"] for r in readings), WAIT_S,
        )
        assert _lowest_watermark(metrics) > max(r["ts"] for r in readings), (metrics, job.tail())
        assert any(key.endswith("late-readings.numRecordsIn") for key in metrics), metrics
        late = total(metrics, "late-readings.numRecordsIn")
    assert [line for line in text.splitlines() if '"path": ["1", "2", "3", "4", "5"]' in line]
    assert len(text.splitlines()) == len(sim.truth()) == 1
    assert late == 0  # nothing arrived behind the watermark


def _lowest_watermark(metrics: dict[str, float]) -> float:
    marks = [value for key, value in metrics.items() if key.endswith("currentInputWatermark")]
    return min(marks) if marks else float("-inf")


def test_an_idle_source_reader_does_not_stall_the_watermark(tmp_path: Path) -> None:
    _idle_reader_run(tmp_path)


def test_no_reading_is_late_with_every_core_busy(tmp_path: Path) -> None:
    """The same run with a busy loop on every core: bundles finish late, idle marks come early."""
    with _cpu_saturated():
        _idle_reader_run(tmp_path)
