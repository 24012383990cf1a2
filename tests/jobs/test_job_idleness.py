"""A silent source split does not hold back alerts (the job's `--idleness`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import SimulationConfig, simulate
from tests.jobs.watched import watched_job
from tests.support.flink_rest import wait_until

pytestmark = pytest.mark.pyflink


def test_an_idle_source_reader_does_not_stall_the_watermark(tmp_path: Path) -> None:
    """Parallelism 2 on a watched directory holding one file: one source reader reads it, the other
    has nothing. The watermark is the minimum over both, so without idleness it never moves and no
    alert comes out (seen with --idleness 1h). Once the silent reader has been idle for 5 s, the
    watermark follows the busy one and blog-11's one path is alerted."""
    sim = simulate(SimulationConfig.preset("blog-11"))
    alerts = tmp_path / "out" / "alerts.jsonl"
    with watched_job(tmp_path, "--parallelism", "2", "--idleness", "5s") as job:
        job.drop(list(sim.valid_delivered()), "part-1.jsonl")
        text = wait_until(lambda: alerts.read_text() if alerts.exists() else "", bool, 60)
        assert text, job.tail()
        late = job.metrics("late-readings.numRecordsIn")
    assert [line for line in text.splitlines() if '"path": ["1", "2", "3", "4", "5"]' in line]
    assert len(text.splitlines()) == len(sim.truth()) == 1
    assert sum(late.values()) == 0  # nothing arrived behind the watermark
