"""The job's Kinesis source end to end: the pinned connector jar (found with no flag) reading
kinesis-local through `FlinkKinesisConsumer`, as on EMR but on the local mini-cluster."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import boto3
import pytest

from jobs.bushfire.opensearch_sink import make_client
from simulator import FaultConfig, SimulationConfig, simulate
from simulator.sinks import KinesisSink
from tests.jobs.watched import watched_job
from tests.simulator.conftest import kinesis_endpoint as kinesis_endpoint  # the emulator fixture
from tests.simulator.conftest import read_stream
from tests.support.flink_rest import total, wait_until

pytestmark = [pytest.mark.pyflink, pytest.mark.kinesis]


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _new_stream(client, name: str, shards: int) -> str:
    client.create_stream(StreamName=name, ShardCount=shards)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    return name


def _kinesis_source(endpoint: str, stream: str, *extra: str) -> tuple[str, ...]:
    return ("--source", "kinesis", "--kinesis-stream", stream, "--kinesis-endpoint", endpoint,
            "--kinesis-shard-idle", "30s", *extra)  # fmt: skip


#: Wall-clock seconds between two simulated minutes sent to a live stream (a real network: 60).
#: Per-shard watermarks make the pace irrelevant to what is late (the backlog test reads a whole
#: stream at once), so it only has to keep the stream live while the job runs: records keep coming,
#: the job is mid-stream when it is killed, a split happens between two minutes.
SECONDS_PER_MINUTE = 0.5


def _send_as_sensors_would(endpoint: str, stream: str, records: list, per_minute: int = 11) -> None:
    """One simulated minute of readings (blog-11: 11 sensors) every `SECONDS_PER_MINUTE`, as a live
    network sends them (sped up)."""
    with KinesisSink(stream, endpoint_url=endpoint) as sink:
        for start in range(0, len(records), per_minute):
            sink.write(records[start:start + per_minute])
            sink.flush()
            time.sleep(SECONDS_PER_MINUTE)


def test_a_two_shard_stream_read_from_trim_horizon_alerts_the_truth_and_indexes_every_reading(
    tmp_path: Path, kinesis_endpoint, opensearch_url
) -> None:
    """blog-11 with duplicates and malformed records, written by the simulator's Kinesis sink (keyed by
    node) to a 2-shard stream before the job starts, read as a backlog by two source subtasks (one may
    get both shards and the other none): per-shard watermarks keep every reading on time (no
    `late` dead letter), every path alerted once, every malformed
    record dead-lettered with its raw payload, every valid reading counted and indexed (once) in the real
    OpenSearch node."""
    sim = simulate(SimulationConfig.preset("blog-11").replace(
        faults=FaultConfig(duplicate_rate=0.2, malformed_rate=0.05)))
    records = list(sim.delivered())
    malformed = [r for r in records if isinstance(r, bytes)]
    valid = {r["event_id"] for r in sim.valid_delivered()}
    client = boto3.client("kinesis", endpoint_url=kinesis_endpoint, region_name="us-east-1")
    stream = _new_stream(client, "job-trim-horizon", 2)
    with KinesisSink(stream, endpoint_url=kinesis_endpoint) as sink:
        sink.write(records)  # all before the job: a backlog, read shard by shard
    assert len({shard for shard, _, _ in read_stream(client, stream)}) == 2, "both shards hold records"
    out = tmp_path / "out"
    source = _kinesis_source(kinesis_endpoint, stream, "--kinesis-initpos", "TRIM_HORIZON")
    index = f"kinesis-e2e-{uuid.uuid4().hex[:8]}"
    sinks = ("--opensearch-url", opensearch_url, "--opensearch-index", index, "--bulk-size", "20",
             "--bulk-interval", "200ms")
    settings = ("--parallelism", "2", "--idleness", "5s", "--max-runtime", "600s")
    with watched_job(tmp_path, *settings, *sinks, source=source) as job:
        done = wait_until(
            lambda: (_lines(out / "alerts.jsonl"), _lines(out / "dead-letters.jsonl")),
            lambda got: len(got[0]) >= len(sim.truth()) and len(got[1]) >= len(malformed), 420,
        )
        assert done is not None, job.tail()
        # with OpenSearch on, the raw-event path's check step sees every reading (the CEP step counts
        # only the hot readings it is handed, apart)
        want = {"check-readings.bushfire.readings": len(valid), "bushfire.documentsIndexed": len(valid),
                "bushfire.alerts": len(sim.truth()), "bushfire.deadLetters": len(malformed)}
        metrics = wait_until(lambda: job.metrics("bushfire."),
                             lambda m: all(total(m, k) >= v for k, v in want.items()), 60)
    alerts, dead = done
    assert sorted((a["region"], tuple(a["path"])) for a in alerts) == sorted(sim.truth())
    assert sorted(d["raw"] for d in dead) == sorted(r.decode("utf-8", "replace") for r in malformed)
    assert {name: total(metrics, name) for name in want} == want, "counted as for files"
    client = make_client(opensearch_url)
    client.indices.refresh(index=f"{index}-*")
    stored = client.search(index=f"{index}-*", body={"size": 1000, "_source": False})["hits"]["hits"]
    assert sorted(hit["_id"] for hit in stored) == sorted(valid)
    client.indices.delete(index=f"{index}-*")


def _tick_every_shard(client, stream: str, records: list) -> None:
    """A cool reading 5 minutes after the last one into each shard: time moves on, as it does on a live
    network, so the watermark passes the paths that ended in the last minute."""
    last = max((r for r in records if isinstance(r, dict)), key=lambda r: r["ts"])
    for number, shard in enumerate(client.list_shards(StreamName=stream)["Shards"]):
        tick = {**last, "event_id": f"tick-{number}", "ts": last["ts"] + 300_000, "temperature": 20.0}
        client.put_record(StreamName=stream, Data=json.dumps(tick).encode(), PartitionKey="tick",
                          ExplicitHashKey=shard["HashKeyRange"]["StartingHashKey"])


def _latest_checkpoint(root: Path) -> Path:
    done = [meta.parent for meta in root.glob("*/chk-*/_metadata")]
    assert done, f"no completed checkpoint under {root}"
    return max(done, key=lambda path: int(path.name.split("-")[1]))


@pytest.mark.timeout(900)  # two job starts on a busy machine
def test_a_job_killed_mid_stream_resumes_from_its_checkpoint_with_nothing_lost_or_repeated(
    tmp_path: Path, kinesis_endpoint, opensearch_url
) -> None:
    """The demo network (4 regions x 25 sensors, re-deliveries on) sends to a 2-shard stream. Halfway,
    the job (checkpoints every 500 ms) is killed with SIGKILL, Python and JVM at once. A new job
    restored from the last completed checkpoint reads on from the shard positions in it: the alert
    file then holds every path of the truth once, and OpenSearch every valid reading once."""
    network = SimulationConfig.preset("demo").replace(minutes=16, faults=FaultConfig(duplicate_rate=0.1))
    sim = simulate(network)
    records = list(sim.delivered())
    valid = {r["event_id"] for r in sim.valid_delivered()}
    client = boto3.client("kinesis", endpoint_url=kinesis_endpoint, region_name="us-east-1")
    stream = _new_stream(client, "job-recovery", 2)
    alerts, ckpt = tmp_path / "alerts.jsonl", tmp_path / "ckpt"
    index = f"kinesis-recovery-{uuid.uuid4().hex[:8]}"
    flags = ("--idleness", "5s", "--max-runtime", "600s", "--alerts-out", str(alerts),
             "--dead-letters", str(tmp_path / "dead-letters.jsonl"),
             "--checkpoint-interval", "500ms", "--checkpoint-dir", str(ckpt),
             "--opensearch-url", opensearch_url, "--opensearch-index", index,
             "--bulk-size", "50", "--bulk-interval", "200ms")  # fmt: skip
    source = _kinesis_source(kinesis_endpoint, stream, "--kinesis-initpos", "TRIM_HORIZON")
    half = len(records) // 2
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with watched_job(tmp_path / "first", *flags, source=source) as job:
        _send_as_sensors_would(kinesis_endpoint, stream, records[:half], per_minute=100)
        def checkpoints() -> int:
            return job.rest.checkpoint_counts(job.job_id)["completed"]

        before = checkpoints()
        assert wait_until(checkpoints, lambda done: done >= before + 3, 120) >= before + 3, job.tail()
        job.kill_hard()
    restored_from = _latest_checkpoint(ckpt)
    alerts_before_kill = len(_lines(alerts))
    with watched_job(tmp_path / "second", *flags, "--restore-from", str(restored_from), source=source) as job:
        _send_as_sensors_would(kinesis_endpoint, stream, records[half:], per_minute=100)
        _tick_every_shard(client, stream, records)
        got = wait_until(lambda: _lines(alerts), lambda lines: len(lines) >= len(sim.truth()), 420)
        indexed = wait_until(lambda: job.metrics("bushfire.documentsIndexed"),
                             lambda m: total(m, "bushfire.documentsIndexed") > 0, 60)
        # early alerts can come before the ticks are indexed: let the raw-event path catch up
        wait_until(lambda: _indexed_count(opensearch_url, index), lambda n: n >= len(valid) + 2, 120)
    paths = [(a["region"], tuple(a["path"])) for a in got]
    assert len(paths) == len(set(paths)), "no alert line repeated after the restore"
    assert set(paths) == sim.truth(), f"{alerts_before_kill} alerts came before the kill"
    os_client = make_client(opensearch_url)
    os_client.indices.refresh(index=f"{index}-*")
    count = os_client.count(index=f"{index}-*")["count"]
    assert count == len(valid) + 2, "every reading (and the two ticks) once, replay or not"
    assert indexed
    os_client.indices.delete(index=f"{index}-*")


def _indexed_count(opensearch_url: str, index: str) -> int:
    client = make_client(opensearch_url)
    client.indices.refresh(index=f"{index}-*")
    return client.count(index=f"{index}-*")["count"]
