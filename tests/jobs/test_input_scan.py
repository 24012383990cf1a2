"""The run summary's input scan runs in its own process while the job runs (`RunReport.scan_input_meanwhile`):
the summary it gives equals the one counted after the run, escapes and all."""

from __future__ import annotations

import multiprocessing
import re
from pathlib import Path

import pytest

from jobs.bushfire.config import load_config
from jobs.bushfire.run_report import RunReport
from tests.jobs.test_input_counts import ODD_LINES, READINGS


def _summary(tmp_path: Path, lines: list[bytes], meanwhile: bool) -> str:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(line + b"\n" for line in lines))
    out = tmp_path / ("meanwhile" if meanwhile else "after")
    cfg = load_config([
        "--source", "file", "--input", str(source), "--alerts-out", str(out / "alerts.jsonl"),
        "--dead-letters", str(out / "dead.jsonl"), "--log-file", "",
    ])  # fmt: skip
    report = RunReport(cfg)
    report.create_outputs()
    if meanwhile:
        report.scan_input_meanwhile()
        assert report._scan is not None  # the scan's process is under way
    # what the run would have dead-lettered: two malformed lines
    (out / "dead.jsonl").write_text('{"reason": "malformed"}\n{"reason": "malformed"}\n')
    return re.sub(r", [\d.]+ s$", "", report.summary("finished"))


@pytest.mark.parametrize("odd", [False, True], ids=["plain", "escapes-and-odd-bytes"])
def test_the_scan_made_meanwhile_gives_the_summary_counted_after_the_run(tmp_path: Path, odd: bool) -> None:
    lines = READINGS[:20] + READINGS[:3] + [b"{not json", b""]  # 3 re-deliveries
    if odd:
        lines += ODD_LINES[:3]
    meanwhile = _summary(tmp_path, lines, meanwhile=True)
    assert meanwhile == _summary(tmp_path, lines, meanwhile=False)
    if not odd:
        assert "25 lines read, 20 readings, 3 duplicates" in meanwhile, meanwhile


def test_a_stopped_run_reports_no_input_counts(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(READINGS[0] + b"\n")
    dead = str(tmp_path / "d.jsonl")
    cfg = load_config(["--source", "file", "--input", str(source), "--dead-letters", dead, "--log-file", ""])
    report = RunReport(cfg)
    report.scan_input_meanwhile()
    assert "lines read" not in report.summary("stopped by SIGTERM")


def test_a_scan_process_that_ends_without_counts_leaves_the_count_to_the_summary(tmp_path: Path) -> None:
    lines = READINGS[:10] + READINGS[:2]
    expected = _summary(tmp_path, lines, meanwhile=False)
    out = tmp_path / "died"
    cfg = load_config([
        "--source", "file", "--input", str(tmp_path / "in.jsonl"), "--alerts-out", str(out / "alerts.jsonl"),
        "--dead-letters", str(out / "dead.jsonl"), "--log-file", "",
    ])  # fmt: skip
    report = RunReport(cfg)
    receive, send = multiprocessing.Pipe(duplex=False)
    send.close()  # as when the scan's process died: recv() finds the pipe closed
    report._scan = receive
    report.create_outputs()
    (out / "dead.jsonl").write_text('{"reason": "malformed"}\n{"reason": "malformed"}\n')
    assert re.sub(r", [\d.]+ s$", "", report.summary("finished")) == expected
    assert "12 lines read, 8 readings, 2 duplicates" in expected
