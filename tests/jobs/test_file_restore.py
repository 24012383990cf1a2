"""A job on a watched directory, killed with SIGKILL and restored from its checkpoint, with the files
that arrived meanwhile waiting: every path alerted once, no reading late (issue 15 item 6, in CI;
`bench/restarts.py` repeats it five times at random moments)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from simulator import SimulationConfig, simulate
from simulator.config import FaultConfig
from tests.jobs.jobrun import write_jsonl
from tests.jobs.watched import watched_job
from tests.support.flink_rest import total, wait_until

pytestmark = pytest.mark.pyflink

FILES = 30
#: Files waiting when the first job starts: the demo's first paths end in minute 13 (8 by minute 16).
BEFORE_KILL = 17


def _drop(in_dir: Path, records: list, name: str) -> None:
    """Make `name` appear whole (written hidden, then renamed), as a shipper would."""
    write_jsonl(records, in_dir / f".{name}").rename(in_dir / name)


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _lowest_watermark(metrics: dict[str, float]) -> float:
    return min((v for k, v in metrics.items() if k.endswith("currentInputWatermark")), default=0.0)


def _latest_checkpoint(root: Path) -> Path:
    done = [meta.parent for meta in root.glob("*/chk-*/_metadata")]
    assert done, f"no completed checkpoint under {root}"
    return max(done, key=lambda path: path.stat().st_mtime)


@pytest.mark.timeout(1200)  # two job starts on a busy machine
def test_a_killed_job_restores_reads_the_files_that_piled_up_in_order_and_alerts_each_path_once(
    tmp_path: Path,
) -> None:
    """The demo network without faults, one file per event-minute, 10 s of out-of-orderness. 17
    files wait when the job starts; once it has written an alert (early alerts: as soon as a path's
    last reading arrives) and completed checkpoints, it is killed with SIGKILL. The other 13 files
    arrive while it is down, written newest first. The job restored from its newest checkpoint
    replays what came after it: the alerts file then holds each true path exactly once (an alert
    written before the kill and emitted again is not written twice) and no reading is late."""
    sim = simulate(SimulationConfig.preset("demo").replace(faults=FaultConfig()))
    readings = list(sim.valid_delivered())
    per_file = len(readings) // FILES
    chunks = [readings[i * per_file:(i + 1) * per_file] for i in range(FILES)]
    truth = Counter(sim.truth())
    in_dir, ckpt = tmp_path / "in", tmp_path / "ckpt"
    in_dir.mkdir()
    alerts, dead = tmp_path / "alerts.jsonl", tmp_path / "dead-letters.jsonl"
    flags = ("--out-of-orderness", "10s", "--max-runtime", "900s", "--alerts-out", str(alerts),
             "--dead-letters", str(dead), "--checkpoint-interval", "1s", "--checkpoint-dir", str(ckpt))
    source = ("--source", "files", "--input", str(in_dir), "--monitor-interval", "300ms")
    for number in range(BEFORE_KILL, 0, -1):
        _drop(in_dir, chunks[number - 1], f"part-{number}.jsonl")
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with watched_job(tmp_path / "first", *flags, source=source) as job:
        assert wait_until(lambda: _lines(alerts), bool, 300), job.tail()

        def checkpoints() -> int:
            return job.rest.checkpoint_counts(job.job_id)["completed"]

        before = checkpoints()
        assert wait_until(checkpoints, lambda done: done >= before + 2, 120) >= before + 2, job.tail()
        job.kill_hard()
    alerts_before_kill = len(_lines(alerts))
    for number in range(FILES, BEFORE_KILL, -1):
        _drop(in_dir, chunks[number - 1], f"part-{number}.jsonl")
    restored_from = _latest_checkpoint(ckpt)
    last_ts = max(r["ts"] for r in readings)
    flush = {"event_id": "flush:1", "node": "flush", "region": "zz-flush", "ts": last_ts + 3_600_000,
             "temperature": 20.0, "infectedBy": None, "lat": 0.0, "lon": 0.0}  # fmt: skip
    with watched_job(tmp_path / "second", *flags, "--restore-from", str(restored_from), source=source) as job:
        _drop(in_dir, [flush], f"part-{FILES + 1}.jsonl")
        metrics = wait_until(
            lambda: job.metrics("late-readings.currentInputWatermark", "late-readings.numRecordsIn"),
            lambda m: _lowest_watermark(m) > last_ts, 420,
        )
        got = wait_until(lambda: _lines(alerts), lambda lines: len(lines) >= len(truth), 60)
    paths = Counter((a["region"], tuple(a["path"])) for a in got)
    assert 0 < alerts_before_kill < len(truth)
    assert [d for d in _lines(dead) if d["reason"] == "late"] == []
    assert total(metrics, "late-readings.numRecordsIn") == 0
    assert paths == truth, f"{alerts_before_kill} alerts came before the kill, restored from {restored_from}"
