"""The watermark's out-of-orderness interval is a valid Flink SQL literal at any size a user may give."""

from __future__ import annotations

import datetime

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from jobs.bushfire.sources import _interval

pytestmark = pytest.mark.pyflink


@pytest.mark.parametrize("ms", [250, 60_000, 999_000, 1_000_000, 7_200_000, 3 * 86_400_000 + 1_234])
def test_out_of_orderness_of_any_size_is_subtracted_exactly(ms: int) -> None:
    """`SECOND(3)` allowed at most 999 s: `--out-of-orderness 2h` failed the job in Calcite."""
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    query = f"SELECT CAST(TIMESTAMP '2024-01-10 00:00:00.000' - {_interval(ms)} AS TIMESTAMP(3)) AS x"
    with t_env.sql_query(query).execute().collect() as rows:
        (row,) = list(rows)
    expected = datetime.datetime(2024, 1, 10) - datetime.timedelta(milliseconds=ms)
    assert row[0] == expected
