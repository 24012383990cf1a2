"""Run `python -m jobs.bushfire` as its own process on a watched directory, as a user would, and
watch it through the local mini-cluster's REST API (on a free port, given with `--flink-option`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.jobs.jobrun import write_jsonl
from tests.support.flink import ENV_BEFORE_JOBS, LOCAL_DEFAULTS, PROJECT_ROOT
from tests.support.flink_rest import FlinkRest, wait_until
from tests.support.servers import free_port


@dataclass(frozen=True)
class WatchedJob:
    process: subprocess.Popen
    job_id: str
    rest: FlinkRest
    in_dir: Path
    out_dir: Path

    def drop(self, records: list, name: str) -> None:
        """Make `name` appear whole in the watched directory: the source skips hidden files, then sees
        the rename, so it never reads a half-written file."""
        hidden = write_jsonl(records, self.in_dir / f".{name}")
        hidden.rename(self.in_dir / name)

    def metrics(self, *names: str) -> dict[str, float]:
        return self.rest.metrics(self.job_id, *names)

    def kill_hard(self) -> None:
        """SIGKILL the job's whole process group (Python and its JVM), as a crashed machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)

    def tail(self) -> str:
        """The end of the job's output, for assertion messages."""
        return (self.out_dir / "job.log").read_text(errors="replace")[-3000:]


@contextlib.contextmanager
def watched_job(tmp_path: Path, *flags: str, source: Sequence[str] = ()) -> Iterator[WatchedJob]:
    """Start the job on `tmp_path`/in (outputs in `tmp_path`/out); yield once its mini-cluster runs it;
    cancel it with SIGTERM at the end. `source` replaces the watched directory's flags (e.g. Kinesis)."""
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    out_dir.mkdir()
    port = free_port()
    options = {
        **LOCAL_DEFAULTS,
        "rest.port": str(port),
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "metrics.fetcher.update-interval": "500",
    }
    argv = [
        sys.executable, "-m", "jobs.bushfire",
        *(source or ("--source", "files", "--input", str(in_dir), "--monitor-interval", "300ms")),
        "--alerts-out", str(out_dir / "alerts.jsonl"), "--dead-letters", str(out_dir / "dead-letters.jsonl"),
        "--console", "false",
        "--max-runtime", "240s",  # a safety net only (a flag may raise it): the test cancels the job
        *flags,
    ]  # fmt: skip
    for key, value in options.items():
        argv += ["--flink-option", f"{key}={value}"]
    rest = FlinkRest(port)
    with open(out_dir / "job.log", "wb") as log:
        process = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=ENV_BEFORE_JOBS, stdout=log, stderr=log,
                                   start_new_session=True)  # its own group, for kill_hard
    try:
        ended = process.poll
        started = wait_until(rest.running_job, lambda found: found is not None or ended() is not None, 120)
        job = WatchedJob(process, started or "", rest, in_dir, out_dir)
        if started is None:
            pytest.fail(f"the job did not start (exit {process.poll()}): {job.tail()}")
        yield job
    finally:
        process.terminate()  # SIGTERM: the job cancels itself
        process.wait(timeout=60)
