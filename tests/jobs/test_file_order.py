"""A backlog of files in the watched directory is read oldest name first, so no reading is late.

Found by the restart benchmark: files that piled up while the job was down were read in no useful
order (Flink's default split assigner), the newest file moved the watermark past the older ones and
their readings became `late` dead letters: 0 of 96 alerts (docs/robustness.md).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from simulator import SimulationConfig, simulate
from simulator.config import FaultConfig
from tests.jobs.jobrun import run_job, write_jsonl

pytestmark = pytest.mark.pyflink

FILES = 30


def _backlog(in_dir: Path) -> tuple[set, int]:
    """The demo network without faults (readings in event-time order), one file per minute of
    readings, named part-1 ... part-30 (name order by the numbers: part-2 before part-10), written
    newest first so that neither a plain string sort nor modification time gives the right order."""
    sim = simulate(SimulationConfig.demo().replace(faults=FaultConfig()))
    readings = list(sim.valid_delivered())
    per_file = len(readings) // FILES
    chunks = [readings[i * per_file:(i + 1) * per_file] for i in range(FILES - 1)]
    chunks.append(readings[(FILES - 1) * per_file:])
    for number in range(FILES, 0, -1):
        path = write_jsonl(chunks[number - 1], in_dir / f"part-{number}.jsonl")
        os.utime(path, ns=(1_000_000_000 * (2_000_000_000 - number),) * 2)
    return sim.truth(), len(readings)


@pytest.mark.parametrize("parallelism", [1, 2])
def test_a_backlog_of_files_is_read_in_order_and_nothing_is_late(tmp_path: Path, parallelism: int) -> None:
    """30 files already in the directory at the start; 10 s of out-of-orderness is plenty for the
    readings (in event-time order) but far less than one file's minute: any file read before an
    older one makes the older one's readings late. Read in name order: no late reading and exactly
    the simulator's paths, at parallelism 1 and 2."""
    truth, count = _backlog(tmp_path / "in")
    assert len(truth) > 20
    out = run_job(tmp_path / "in", tmp_path / "out", "--out-of-orderness", "10s", parallelism=parallelism)
    late = [d for d in out.dead_letters if d["reason"] == "late"]
    assert late == [], f"{len(late)} of {count} readings late"
    assert out.dead_letters == []
    assert Counter(out.paths()) == Counter(truth)
