"""The watermark's out-of-orderness interval is a valid Flink SQL literal at any size a user may give.

One batch query computes every size below at once (a column each); each test checks its own column.
"""

from __future__ import annotations

import datetime

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from jobs.bushfire.sources import _interval

pytestmark = pytest.mark.pyflink

SIZES_MS = [250, 60_000, 999_000, 1_000_000, 7_200_000, 3 * 86_400_000 + 1_234]


@pytest.fixture(scope="module")
def subtracted() -> dict[int, datetime.datetime]:
    """Each size's interval subtracted from a timestamp by Flink SQL, by size."""
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    columns = ", ".join(
        f"CAST(TIMESTAMP '2024-01-10 00:00:00.000' - {_interval(ms)} AS TIMESTAMP(3)) AS x{i}"
        for i, ms in enumerate(SIZES_MS)
    )
    with t_env.sql_query(f"SELECT {columns}").execute().collect() as rows:
        (row,) = list(rows)
    return dict(zip(SIZES_MS, row))


@pytest.mark.parametrize("ms", SIZES_MS)
def test_out_of_orderness_of_any_size_is_subtracted_exactly(ms: int, subtracted) -> None:
    """`SECOND(3)` allowed at most 999 s: `--out-of-orderness 2h` failed the job in Calcite."""
    expected = datetime.datetime(2024, 1, 10) - datetime.timedelta(milliseconds=ms)
    assert subtracted[ms] == expected
