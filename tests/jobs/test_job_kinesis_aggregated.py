"""The job reads KPL-aggregated Kinesis records exactly: the pinned connector's shard consumer takes the
aggregates apart (the KCL's de-aggregation), so each reading inside is a record of its own to the job."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
from aws_kinesis_agg import MAGIC

from simulator import FaultConfig, SimulationConfig, simulate
from simulator.sinks import KinesisSink
from tests.jobs.watched import watched_job
from tests.simulator.conftest import kinesis_endpoint as kinesis_endpoint  # the emulator fixture
from tests.simulator.conftest import read_stream
from tests.support.flink_rest import wait_until

pytestmark = [pytest.mark.pyflink, pytest.mark.kinesis]


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_aggregated_records_give_the_truth_once_and_a_malformed_reading_inside_one_is_a_dead_letter(
    tmp_path: Path, kinesis_endpoint
) -> None:
    """blog-11 with re-deliveries and malformed records, put by the simulator's sink with
    `aggregate=True`: a 2-shard stream then holds a few KPL aggregates, each packing the readings of
    its shard, malformed ones among them. The job (one source subtask reading both shards from
    TRIM_HORIZON) alerts every path of the truth once, and dead-letters each malformed reading with
    its raw payload; nothing is lost with the aggregate it came in."""
    sim = simulate(SimulationConfig.preset("blog-11").replace(
        faults=FaultConfig(duplicate_rate=0.2, malformed_rate=0.05)))
    records = list(sim.delivered())
    malformed = [r for r in records if isinstance(r, bytes)]
    assert malformed and len(sim.truth()) > 0
    client = boto3.client("kinesis", endpoint_url=kinesis_endpoint, region_name="us-east-1")
    stream = "job-aggregated"
    client.create_stream(StreamName=stream, ShardCount=2)
    client.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2})
    with KinesisSink(stream, endpoint_url=kinesis_endpoint, aggregate=True) as sink:
        sink.write(records)
    stored = read_stream(client, stream)
    assert all(data.startswith(MAGIC) for _, _, data in stored), "only KPL aggregates in the stream"
    assert len({shard for shard, _, _ in stored}) == 2 and len(stored) < len(records) / 10

    out = tmp_path / "out"
    source = ("--source", "kinesis", "--kinesis-stream", stream, "--kinesis-endpoint", kinesis_endpoint,
              "--kinesis-initpos", "TRIM_HORIZON", "--kinesis-shard-idle", "30s")
    with watched_job(tmp_path, "--parallelism", "1", "--idleness", "5s", source=source) as job:
        done = wait_until(
            lambda: (_lines(out / "alerts.jsonl"), _lines(out / "dead-letters.jsonl")),
            lambda got: len(got[0]) >= len(sim.truth()) and len(got[1]) >= len(malformed), 300,
        )
        assert done is not None, job.tail()
        time.sleep(3)  # room for a repeated alert or dead letter to show
        alerts, dead = _lines(out / "alerts.jsonl"), _lines(out / "dead-letters.jsonl")
    assert sorted((a["region"], tuple(a["path"])) for a in alerts) == sorted(sim.truth()), "each path once"
    assert sorted(d["raw"] for d in dead) == sorted(r.decode("utf-8", "replace") for r in malformed)
    client.delete_stream(StreamName=stream)
