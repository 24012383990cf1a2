"""`infra/emr/start_job.sh`: the job step starts `flink run` only when the job is not already running.

The script runs for real under bash; `yarn` is a stand-in on PATH that prints what
`yarn application -list` prints on EMR (or fails), so no cluster is needed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from infra import steps

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "emr" / "start_job.sh"

LISTING_HEADER = (
    "Total number of applications (application-types: [], states: [RUNNING] and tags: []):{count}\n"
    "                Application-Id\t    Application-Name\t    Application-Type\t      User\t     Queue\n"
)


def _run(tmp_path: Path, yarn_body: str, wait_s: str = "0") -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    yarn = bin_dir / "yarn"
    yarn.write_text("#!/usr/bin/env bash\n" + yarn_body)
    yarn.chmod(0o755)
    started = tmp_path / "started"
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "EMBERWATCH_START_WAIT_S": wait_s}
    return subprocess.run(
        ["bash", str(SCRIPT), steps.YARN_APP_NAME, "touch", str(started)],
        env=env, capture_output=True, text=True, timeout=60,
    )


def _listing(*apps: tuple[str, str]) -> str:
    rows = "".join(f"application_{app_id}\t{name}\tApache Flink\thadoop\tdefault\n" for app_id, name in apps)
    text = LISTING_HEADER.format(count=len(apps)) + rows
    return f"cat <<'OUT'\n{text}OUT\n"


def test_it_starts_the_job_when_no_copy_runs(tmp_path: Path) -> None:
    result = _run(tmp_path, _listing(("1700000000000_0001", "some-other-app")))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "started").exists()


def test_it_refuses_a_second_copy_and_says_what_to_do(tmp_path: Path) -> None:
    result = _run(tmp_path, _listing(("1700000000000_0002", steps.YARN_APP_NAME)))
    assert result.returncode == 4
    assert "application_1700000000000_0002" in result.stderr and "upgrade" in result.stderr
    assert not (tmp_path / "started").exists()


def test_it_waits_for_a_stopping_copy_to_go(tmp_path: Path) -> None:
    # the first listing still shows the stopped job's application, the next ones do not
    counter = tmp_path / "calls"
    body = (
        f'n=$(cat "{counter}" 2>/dev/null || echo 0); echo $((n + 1)) > "{counter}"\n'
        f'if [ "$n" = 0 ]; then\n{_listing(("1700000000000_0003", steps.YARN_APP_NAME))}'
        f"else\n{_listing()}fi\n"
    )
    result = _run(tmp_path, body, wait_s="30")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "started").exists()


def test_it_does_not_start_when_it_cannot_tell(tmp_path: Path) -> None:
    result = _run(tmp_path, "echo 'connection refused' >&2; exit 1")
    assert result.returncode == 5 and "connection refused" in result.stderr
    assert not (tmp_path / "started").exists()
