"""What a run tells its user (issue 15 item 2): a bounded run ends with one summary line, an empty input
leaves empty output files and a summary of zeros, and library noise stays off the console."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import SimulationConfig, simulate
from tests.jobs.jobrun import write_jsonl
from tests.support.flink import ENV_BEFORE_JOBS, PROJECT_ROOT

pytestmark = pytest.mark.pyflink


def _run(tmp_path: Path, input_path: Path) -> subprocess.CompletedProcess:
    argv = [
        sys.executable, "-m", "jobs.bushfire", "--source", "file", "--input", str(input_path),
        "--alerts-out", str(tmp_path / "out" / "alerts.jsonl"),
        "--dead-letters", str(tmp_path / "out" / "dead-letters.jsonl"),
        "--log-file", str(tmp_path / "out" / "job.log"), "--console", "false",
    ]  # fmt: skip
    return subprocess.run(
        argv, cwd=PROJECT_ROOT, env=ENV_BEFORE_JOBS, capture_output=True, text=True, timeout=300
    )


def test_a_bounded_run_ends_with_one_summary_line_and_no_library_noise(tmp_path: Path) -> None:
    readings = list(simulate(SimulationConfig.preset("blog-11")).delivered())
    records = readings + readings[:3] + [b"{not json", b'{"ts": 1}']  # 3 re-deliveries, 2 dead letters
    done = _run(tmp_path, write_jsonl(records, tmp_path / "in.jsonl"))
    assert done.returncode == 0, done.stderr
    summaries = [line for line in done.stderr.splitlines() if "summary:" in line]
    assert len(summaries) == 1, done.stderr
    counts = re.search(
        r"run finished, (\d+) lines read, (\d+) readings, "
        r"(\d+) duplicates \(re-delivered event ids, dropped\), "
        r"(\d+) dead letters \(invalid 1, malformed 1\), "
        r"(\d+) alerts, [\d.]+ s$",
        summaries[0],
    )
    assert counts, summaries[0]
    assert [int(n) for n in counts.groups()] == [len(records), len(readings), 3, 2, 1]
    assert "pkg_resources" not in done.stderr and "apache_beam" not in done.stderr  # noise: in the log file
    assert "pkg_resources" in (tmp_path / "out" / "job.log").read_text()


def test_an_empty_input_leaves_empty_outputs_and_a_summary_of_zeros(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    done = _run(tmp_path, empty)
    assert done.returncode == 0, done.stderr
    assert (
        "run finished, 0 lines read, 0 readings, 0 duplicates (re-delivered event ids, dropped), "
        "0 dead letters, 0 alerts"
        in done.stderr
    )
    for name in ("alerts.jsonl", "dead-letters.jsonl"):
        assert (tmp_path / "out" / name).read_bytes() == b""
