"""`emberwatch-local` as a user runs it: a real process per command, stand-ins on free ports."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.support.servers import free_port


def _cli(state: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EMBERWATCH_LOCAL_DIR": str(state)}
    return subprocess.run([sys.executable, "-m", "emberwatch_local.cli", *args], env=env,
                          capture_output=True, text=True, timeout=240, check=False)


def _exports(text: str) -> dict[str, str]:
    pairs = (shlex.split(line)[1].split("=", 1) for line in text.splitlines() if line.startswith("export "))
    return dict(pairs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture()
def state(tmp_path: Path):
    yield tmp_path / "stack"
    _cli(tmp_path / "stack", "down")  # whatever a failed test left running


def test_up_exports_what_boto3_needs_is_idempotent_and_down_stops_exactly_it(state: Path) -> None:
    kinesis_port, sns_port = free_port(), free_port()
    started = _cli(state, "up", "--kinesis", "--sns", "--kinesis-port", str(kinesis_port),
                   "--sns-port", str(sns_port))
    assert started.returncode == 0, started.stderr
    exports = _exports(started.stdout)
    assert exports["EMBERWATCH_KINESIS_ENDPOINT"] == exports["BUSHFIRE_KINESIS_ENDPOINT"] \
        == f"http://127.0.0.1:{kinesis_port}"
    assert exports["EMBERWATCH_SNS_ENDPOINT"] == f"http://127.0.0.1:{sns_port}"
    assert exports["AWS_ACCESS_KEY_ID"] and exports["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "EMBERWATCH_OPENSEARCH_URL" not in exports  # not asked for
    kinesis = boto3.client("kinesis", endpoint_url=exports["EMBERWATCH_KINESIS_ENDPOINT"],
                           region_name=exports["AWS_DEFAULT_REGION"])
    kinesis.create_stream(StreamName="cli", ShardCount=2)
    sns = boto3.client("sns", endpoint_url=exports["EMBERWATCH_SNS_ENDPOINT"], region_name="us-east-1")
    assert sns.create_topic(Name="cli")["TopicArn"].endswith(":cli")

    status = _cli(state, "status").stdout
    pids = [int(part.split(",")[0]) for part in status.split("(pid ")[1:]]
    assert "kinesis     running at" in status and "opensearch  stopped" in status and len(pids) == 2

    again = _cli(state, "up", "--kinesis", "--sns")
    assert again.returncode == 0 and "kinesis already running" in again.stderr
    assert kinesis.list_streams()["StreamNames"] == ["cli"], "the same emulator, not a new one"

    other = _cli(state.parent / "other", "up", "--sns", "--sns-port", str(kinesis_port))
    assert other.returncode == 1
    assert other.stderr.strip() == (f"emberwatch-local: sns: port {kinesis_port} on 127.0.0.1 is taken "
                                    "(pick another: --sns-port)")

    stopped = _cli(state, "down")
    assert "stopped kinesis, sns" in stopped.stderr
    assert not any(_alive(pid) for pid in pids)
    assert "running" not in _cli(state, "status").stdout
    assert (state / "logs" / "kinesis.log").exists() and (state / "logs" / "sns.log").exists()
