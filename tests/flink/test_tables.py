"""`cep.flink.tables.rows_keyed_in_jvm`: table rows keyed by a SQL column without a Python key selector."""

from __future__ import annotations

import json

import pytest
from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction

from cep.flink.tables import rows_keyed_in_jvm
from tests.support.flink import local_env, local_table_env

pytestmark = pytest.mark.pyflink

LINES = [
    {"region": "r1", "ts": 1_000, "v": "a"},
    {"region": "r2", "ts": 2_000, "v": "b"},
    {"region": None, "ts": 3_000, "v": "c"},  # no key: keyed as ""
    {"region": "r1", "ts": 4_000, "v": "d"},
]


class SeenPerKey(KeyedProcessFunction):
    """Emits (current key, the row's columns, the record's timestamp, how many rows this key saw)."""

    def open(self, runtime_context) -> None:
        from pyflink.datastream.state import ValueStateDescriptor

        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.INT()))

    def process_element(self, row, ctx):
        count = (self.count.value() or 0) + 1
        self.count.update(count)
        yield json.dumps([ctx.get_current_key(), row[0], row[1], ctx.timestamp(), count])


def test_rows_arrive_keyed_with_their_rowtime_and_only_the_chosen_columns(tmp_path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in LINES), encoding="utf-8")
    env = local_env(2)  # process mode, as the bushfire job runs
    t_env = local_table_env(env)
    t_env.execute_sql(
        "CREATE TEMPORARY TABLE lines (region STRING, ts BIGINT, v STRING, "
        "rt AS TO_TIMESTAMP_LTZ(ts, 3), WATERMARK FOR rt AS rt) "
        f"WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"
    )
    table = t_env.from_path("lines")
    keyed = rows_keyed_in_jvm(t_env, table, "region", ["v", "ts"], "rt", [Types.STRING(), Types.LONG()])
    out = keyed.process(SeenPerKey(), Types.STRING())
    with out.execute_and_collect() as rows:
        seen = sorted(json.loads(row) for row in rows)
    assert seen == [
        ["", "c", 3_000, 3_000, 1],
        ["r1", "a", 1_000, 1_000, 1],
        ["r1", "d", 4_000, 4_000, 2],  # keyed state is per key, across subtasks
        ["r2", "b", 2_000, 2_000, 1],
    ]
