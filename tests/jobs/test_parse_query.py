"""The JVM parse query (Flink SQL) flags every invalid record, so none can slip past Python's check."""

from __future__ import annotations

import orjson
import pytest
from pyflink.table import StreamTableEnvironment

from jobs.bushfire.parsing import event_time_expression, parse_query
from simulator import FaultConfig, SimulationConfig, is_valid_event, simulate
from tests.jobs.jobrun import write_jsonl
from tests.support.flink import local_env

pytestmark = pytest.mark.pyflink


def _valid(raw: bytes) -> bool:
    try:
        return is_valid_event(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return False


def test_every_invalid_record_is_flagged_and_cold_valid_ones_are_dropped(tmp_path) -> None:
    cfg = SimulationConfig.demo(seed=4).replace(faults=FaultConfig(malformed_rate=0.05))
    records = list(simulate(cfg).delivered())
    path = write_jsonl(records, tmp_path / "in.jsonl")
    t_env = StreamTableEnvironment.create(local_env())
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE lines (line STRING, rt AS {event_time_expression()}, "
        "WATERMARK FOR rt AS rt) "
        f"WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'raw')"
    )
    query = f"SELECT line, reason FROM ({parse_query('lines', '`temperature` >= 50')})"
    with t_env.execute_sql(query).collect() as rows:
        out = [(row[0], row[1]) for row in rows]
    flagged = {line for line, reason in out if reason is not None}
    kept_valid = {line for line, reason in out if reason is None}
    invalid = {r.decode("utf-8", "replace") for r in records if isinstance(r, bytes) and not _valid(r)}
    assert len(invalid) > 50
    assert invalid <= flagged  # nothing invalid passes the JVM unflagged
    hot_valid = {orjson.dumps(r).decode() for r in records if isinstance(r, dict) and r["temperature"] >= 50}
    assert kept_valid == hot_valid  # cold valid readings stay in the JVM
    assert len(out) < len(records) // 2
