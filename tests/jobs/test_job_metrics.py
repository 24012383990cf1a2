"""The job's metrics, read the way an operator reads them: Flink's REST API of a running job.

`python -m jobs.bushfire` runs as a user would run it, on a watched directory, with `--flink-option`
giving the local mini-cluster a REST port. Known bad input goes in (a malformed line, an invalid
reading, a re-delivered reading, a late reading, a document OpenSearch refuses, an alert SNS refuses);
each counter must show exactly its share while the job runs. Then SIGTERM cancels the job.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from simulator import SimulationConfig, simulate
from tests.jobs.jobrun import write_jsonl
from tests.support.flink import ENV_BEFORE_JOBS, LOCAL_DEFAULTS, PROJECT_ROOT
from tests.support.flink_rest import FlinkRest, total, wait_until
from tests.support.opensearch_fake import OpenSearchFake
from tests.support.servers import free_port

pytestmark = pytest.mark.pyflink

BUSHFIRE = "bushfire."  # the job's metric group


def _job_argv(in_dir: Path, out_dir: Path, rest_port: int, *sink_flags: str) -> list[str]:
    options = {
        **LOCAL_DEFAULTS,
        "rest.port": str(rest_port),
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "metrics.fetcher.update-interval": "500",
    }
    argv = [
        sys.executable, "-m", "jobs.bushfire",
        "--source", "files", "--input", str(in_dir), "--monitor-interval", "300ms",
        "--alerts-out", str(out_dir / "alerts.jsonl"), "--dead-letters", str(out_dir / "dead-letters.jsonl"),
        "--console", "false", *sink_flags,
        "--max-runtime", "240s",  # a safety net only: the test cancels the job with SIGTERM
    ]
    for key, value in options.items():
        argv += ["--flink-option", f"{key}={value}"]
    return argv


@contextlib.contextmanager
def running_job(argv: list[str], rest: FlinkRest, log: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """Start the job; yield it and its job id once its mini-cluster runs it; SIGTERM it at the end."""
    with open(log, "wb") as log_file:
        job = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, env=ENV_BEFORE_JOBS, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        job_id = wait_until(rest.running_job, lambda found: found is not None or job.poll() is not None, 120)
        if job_id is None:
            pytest.fail(f"the job did not start (exit {job.poll()}): {_tail(log)}")
        yield job, job_id
    finally:
        job.terminate()  # SIGTERM: the job cancels itself
        job.wait(timeout=60)


def _drop_file(records: list, path: Path) -> None:
    """Make `path` appear whole: the watched directory's source skips hidden files, then sees the rename."""
    hidden = write_jsonl(records, path.with_name("." + path.name))
    hidden.rename(path)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def test_every_counter_shows_its_share_of_known_bad_input(tmp_path: Path, moto_endpoint: str) -> None:
    sim = simulate(SimulationConfig.preset("blog-11"))
    readings = list(sim.valid_delivered())
    assert len(readings) == len(list(sim.delivered()))  # the preset has no faults of its own
    hottest = max(readings, key=lambda r: r["temperature"])
    first_file = [
        *readings,
        b'{"event_id": "broken", "node": ',  # malformed
        {**hottest, "event_id": "no-temperature", "temperature": "hot"},  # invalid
        dict(hottest),  # re-delivered: a duplicate
    ]
    late = {**hottest, "event_id": "late-1", "ts": min(r["ts"] for r in readings) - 3_600_000}
    refused = readings[0]["event_id"]
    sns = boto3.client("sns", endpoint_url=moto_endpoint)
    missing_topic = sns.create_topic(Name="metrics")["TopicArn"] + "-gone"
    expected = {
        "malformed": 1,
        "invalid": 1,
        "duplicates": 1,
        "readings": len(readings) + 1,  # the late reading is valid and new
        "late": 1,
        "alerts": len(sim.truth()),
        "alertFailures": len(sim.truth()),
        "alertsDelivered": 0,
        "documentsIndexed": len(readings),  # all valid ones, the late one too, minus the refused
        "indexFailures": 1,
        "deadLetters": 5,  # malformed, invalid, late, the refused alert, the refused document
    }

    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    out_dir.mkdir()
    port = free_port()
    rest, log = FlinkRest(port), out_dir / "job.log"
    with OpenSearchFake() as fake:
        fake.mapping_error_ids.add(refused)
        sinks = ("--opensearch-url", fake.url, "--bulk-size", "20", "--bulk-interval", "200ms",
                 "--sns-topic-arn", missing_topic, "--sns-endpoint", moto_endpoint)
        with running_job(_job_argv(in_dir, out_dir, port, *sinks), rest, log) as (job, job_id):

            def read() -> dict[str, float]:
                return rest.metrics(job_id, "bushfire.", "cep.", "Watermark", "Source__")

            _drop_file(first_file, in_dir / "part-1.jsonl")
            # the late reading goes in once the CEP operator's watermark has passed it
            watermark = "bushfire-cep.currentInputWatermark"
            seen = wait_until(read, lambda m: total(m, watermark) > late["ts"], 90)
            assert total(seen, watermark) > late["ts"], _tail(log)
            _drop_file([late], in_dir / "part-2.jsonl")

            def reached(metrics: dict[str, float]) -> bool:
                return all(total(metrics, BUSHFIRE + name) >= want for name, want in expected.items())

            metrics = wait_until(read, reached, 90)

    assert {name: total(metrics, BUSHFIRE + name) for name in expected} == expected, _tail(log)
    lines_read = len(first_file) + 1
    assert total(metrics, "Source__sensor_lines[1].numRecordsOut") == lines_read  # events in
    assert total(metrics, "bushfire.rowsIntoPython") == lines_read  # OpenSearch on: every row crosses
    assert total(metrics, "cep.lateEvents") == 1
    every_match = total(metrics, "bushfire.alerts") + total(metrics, "bushfire.repeatedMatches")
    assert total(metrics, "cep.matches") == every_match > 0  # each match is either alerted or a repeat
    assert job.returncode == 0, _tail(log)
