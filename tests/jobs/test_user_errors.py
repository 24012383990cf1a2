"""What a user sees when they get something wrong: one or two lines naming the path or endpoint and what
to do, exit code 2, no traceback (``--debug`` shows it). Each case runs `python -m jobs.bushfire` as a
user would; the checks fail before the JVM starts, so these are quick."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jobs.bushfire.config import KinesisConfig
from jobs.bushfire.errors import PreflightError
from jobs.bushfire.preflight import check_kinesis
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def _job(cwd: Path, *flags: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "jobs.bushfire", "--log-file", str(cwd / "job.log"), *flags],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "in.jsonl").write_text("")
    (tmp_path / "a-file").write_text("not a folder\n")
    return tmp_path


CASES = {
    "missing input file": (
        ["--source", "file", "--input", "missing.jsonl"],
        ["missing.jsonl", "no such file"],
    ),
    "missing watched directory": (
        ["--source", "files", "--input", "incoming"],
        ["incoming", "mkdir -p incoming"],
    ),
    "watched path is a file": (["--source", "files", "--input", "in.jsonl"], ["in.jsonl", "--source file"]),
    "alerts folder is a file": (
        ["--source", "file", "--input", "in.jsonl", "--alerts-out", "a-file/alerts.jsonl"],
        ["--alerts-out", "a-file/alerts.jsonl", "is a file, not a folder"],
    ),
    "dead letters is a folder": (
        ["--source", "file", "--input", "in.jsonl", "--dead-letters", "."],
        ["--dead-letters", "is a directory"],
    ),
    "checkpoint folder under a file": (
        [
            "--source",
            "file",
            "--input",
            "in.jsonl",
            "--checkpoint-interval",
            "1s",
            "--checkpoint-dir",
            "file:///proc/emberwatch-ckpt",
        ],
        ["--checkpoint-dir", "/proc/emberwatch-ckpt", "writable"],
    ),
    "missing savepoint": (
        ["--source", "file", "--input", "in.jsonl", "--restore-from", "gone/chk-3"],
        ["--restore-from", "gone/chk-3"],
    ),
    "missing config file": (["--config", "nope.json"], ["--config nope.json", "check the path"]),
    "config file not JSON": (["--config", "a-file"], ["--config a-file", "not valid JSON"]),
    "connector jar missing": (
        ["--source", "file", "--input", "in.jsonl", "--connector-jars", "kinesis.jar"],
        ["kinesis.jar", "is not a file"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_mistake_reads_as_one_line_with_what_to_do_and_exit_code_2(workdir: Path, case: str) -> None:
    flags, expected = CASES[case]
    done = _job(workdir, *flags)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) <= 2 and lines[0].startswith("error: "), done.stderr
    assert all(text in done.stderr for text in expected), done.stderr
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(workdir: Path) -> None:
    done = _job(workdir, "--source", "file", "--input", "missing.jsonl", "--debug")
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "PreflightError" in done.stderr


def test_an_unreachable_kinesis_endpoint_is_named(workdir: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    creds = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    done = _job(workdir, "--source", "kinesis", "--kinesis-endpoint", endpoint, env=creds)
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot reach the Kinesis endpoint") and endpoint in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_kinesis_stream_is_named_with_how_to_create_it(moto_endpoint: str) -> None:
    import boto3

    def client(kinesis: KinesisConfig):
        return boto3.client(
            "kinesis",
            region_name=kinesis.region,
            endpoint_url=kinesis.endpoint,
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )

    config = KinesisConfig(stream="no-such-stream", endpoint=moto_endpoint)
    with pytest.raises(PreflightError, match="'no-such-stream' not found .*create-stream"):
        check_kinesis(config, client)
    client(config).create_stream(StreamName="no-such-stream", ShardCount=1)
    check_kinesis(config, client)  # exists now: no error


def _tool(name: str, *flags: str) -> subprocess.CompletedProcess:
    import os

    exe = str(Path(sys.executable).parent / name)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    return subprocess.run([exe, *flags], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize(
    ("name", "flags", "expected"),
    [
        (
            "emberwatch-sim",
            [
                "--preset",
                "blog-11",
                "--sink",
                "kinesis",
                "--stream",
                "s",
                "--create-stream",
                "1",
                "--aws-region",
                "us-east-1",
                "--endpoint-url",
                "{endpoint}",
            ],
            "--endpoint-url",
        ),
        (
            "emberwatch-sim",
            ["--preset", "blog-11", "--sink", "dir", "--out", "/proc/emberwatch"],
            "check the path",
        ),
        (
            "emberwatch-deploy",
            ["status", "--region", "us-east-1", "--endpoint-url", "{endpoint}"],
            "--endpoint-url",
        ),
    ],
)
def test_the_simulator_and_deploy_tools_say_what_to_do_too(
    name: str, flags: list[str], expected: str
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    done = _tool(name, *(flag.replace("{endpoint}", endpoint) for flag in flags))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    debugged = _tool(name, *(flag.replace("{endpoint}", endpoint) for flag in flags), "--debug")
    assert "Traceback" in debugged.stderr
