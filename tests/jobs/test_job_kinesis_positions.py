"""Where the Kinesis source starts (LATEST, AT_TIMESTAMP), and a live stream with an idle shard that is
resharded while the job runs: the job against kinesis-local (kinesis-mock) with the real connector.

Each scenario writes two networks: one the job must skip (written before the start position; its fires
a day earlier) and one it must alert exactly. Skipped records that were read anyway would show up as
extra alerts, since the skipped network's truth is not empty and shares no path with the other's.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path

import boto3
import pytest

from simulator import FaultConfig, SimulationConfig, find_paths, simulate
from simulator.sinks import KinesisSink
from tests.jobs.test_job_kinesis import _lines, _new_stream, _tick_every_shard
from tests.jobs.watched import WatchedJob, watched_job
from tests.simulator.conftest import kinesis_endpoint as kinesis_endpoint  # the emulator fixture
from tests.support.flink_rest import wait_until

pytestmark = [pytest.mark.pyflink, pytest.mark.kinesis]

OUT_OF_ORDERNESS_MS = 60_000  # the job's default, which these runs keep
#: One simulated minute every 2 s here, not test_job_kinesis's 0.5 s: the faster simulated time runs, the
#: more of it passes while the consumer looks for a split's children (see SHARD_DISCOVERY_S); at 0.5 s this
#: test lost paths after the split (2 runs of 2 on 2026-12-03).
SECONDS_PER_MINUTE = 2.0
#: The consumer's shard discovery interval (FlinkKinesisConsumer's default, 10 s), plus slack.
SHARD_DISCOVERY_S = 12.0
DAY_MS = 86_400_000
PUT_RECORDS_MAX = 500  # Kinesis PutRecords takes at most 500 records a call


def _networks() -> tuple:
    """(skipped, alerted): the demo network (4 regions x 36 sensors, 16 minutes, re-deliveries on), two
    seeds; the skipped one runs a day earlier."""
    base = SimulationConfig.preset("demo").replace(minutes=16, faults=FaultConfig(duplicate_rate=0.1))
    skipped = simulate(base.replace(seed=9, start_ms=base.start_ms - DAY_MS))
    alerted = simulate(base.replace(seed=7))
    assert skipped.truth() and not skipped.truth() & alerted.truth(), "reading the skipped set would show"
    return skipped, alerted


def _source(endpoint: str, stream: str, *extra: str) -> tuple[str, ...]:
    return ("--source", "kinesis", "--kinesis-stream", stream, "--kinesis-endpoint", endpoint, *extra)


def _put_all(endpoint: str, stream: str, records: list) -> None:
    """Every record, keyed by node as the simulator's sink does, before the job starts."""
    with KinesisSink(stream, endpoint_url=endpoint) as sink:
        sink.write(records)


def _hash_key(reading: dict, below: int) -> str:
    """A fixed hash key per sensor, under `below`: the sensor's readings stay in order in one shard and
    never reach the shards whose hash keys start at `below`."""
    digest = hashlib.sha256(f"{reading['region']}/{reading['node']}".encode()).digest()
    return str(int.from_bytes(digest[:16], "big") % below)


def _put_below(client, stream: str, readings: list[dict], below: int) -> None:
    """PutRecords with explicit hash keys under `below`, retrying any record the emulator refused."""
    entries = [
        {"Data": json.dumps(r).encode(), "PartitionKey": r["node"], "ExplicitHashKey": _hash_key(r, below)}
        for r in readings
    ]
    for start in range(0, len(entries), PUT_RECORDS_MAX):
        batch = entries[start : start + PUT_RECORDS_MAX]
        for _attempt in range(20):
            result = client.put_records(StreamName=stream, Records=batch)
            batch = [entry for entry, got in zip(batch, result["Records"]) if "ErrorCode" in got]
            if not batch:
                break
            time.sleep(0.2)
        assert not batch, f"kinesis-local refused {len(batch)} records"


def _by_minute(readings: list[dict], start_ms: int) -> list[list[dict]]:
    """The readings in simulated minutes, in delivery order within each."""
    minutes: dict[int, list[dict]] = {}
    for reading in readings:
        minutes.setdefault((reading["ts"] - start_ms) // 60_000, []).append(reading)
    return [minutes[m] for m in sorted(minutes)]


def _subscribed_shards(job: WatchedJob) -> set[str]:
    """Shards the consumer has polled at least once: their `millisBehindLatest` gauge is set (it is -1
    until the first GetRecords answers)."""
    metrics = job.metrics("millisBehindLatest")
    return {key.split("shardId.")[-1].split(".")[0] for key, value in metrics.items() if value >= 0}


def _open_shards(client, stream: str) -> list[dict]:
    shards = client.list_shards(StreamName=stream)["Shards"]
    return [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]


def _wait_active(client, stream: str) -> None:
    def status() -> str:
        return client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"]

    assert wait_until(status, lambda s: s == "ACTIVE", 30) == "ACTIVE"


def _paths(alerts: Iterable[dict]) -> list[tuple]:
    return [(a["region"], tuple(a["path"])) for a in alerts]


@pytest.mark.timeout(600)
def test_latest_reads_only_what_comes_after_the_start_an_idle_shard_does_not_stall_and_a_split_loses_nothing(
    tmp_path: Path, kinesis_endpoint
) -> None:
    """One unbounded job (parallelism 1: one subtask reads every shard) on a 3-shard stream.

    1. LATEST: a whole network is in the stream before the job starts; the job reads none of it.
    2. Idle shard: the live network goes only to shards 0 and 1 (explicit hash keys); shard 2 gets one
       cool reading at the network's start, then nothing, so its watermark stays there. (A shard that
       never had a record does not count for the connector's watermark at all: with shard 2 empty,
       alerts came even with `--kinesis-shard-idle 1h`.) With `--no-early-alerts` an alert waits for
       the watermark, the minimum over the shards that are not idle: the paths the first 12 minutes
       complete are alerted while the job runs, within a bound, once shard 2 has been silent for
       `--kinesis-shard-idle` (10 s). With 1h none of them came.
    3. Resharding: shard 0 is split while the job runs; the last 4 minutes go to its children and shard 1.
       The consumer finds the children, and the alert file ends equal to the live network's truth, each
       path once, with no reading late (no dead letter).
    """
    skipped, alerted = _networks()
    client = boto3.client("kinesis", endpoint_url=kinesis_endpoint, region_name="us-east-1")
    stream = _new_stream(client, "job-latest", 3)
    _put_all(kinesis_endpoint, stream, list(skipped.delivered()))
    idle_shard = max(_open_shards(client, stream), key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))
    below = int(idle_shard["HashKeyRange"]["StartingHashKey"])
    minutes = _by_minute(list(alerted.delivered()), alerted.config.start_ms)
    first, second = minutes[:12], minutes[12:]  # 4 of the 22 paths are due (watermark-passed) by minute 12
    sent_first = [r for minute in first for r in minute]
    # each shard's newest reading is within the last simulated minute: the watermark is past this
    passed = max(r["ts"] for r in sent_first) - 60_000 - OUT_OF_ORDERNESS_MS
    due = find_paths([r for r in sent_first if r["ts"] < passed])
    assert due, "the first half completes paths the watermark passes"
    alerts = tmp_path / "out" / "alerts.jsonl"
    source = _source(kinesis_endpoint, stream, "--kinesis-initpos", "LATEST", "--kinesis-shard-idle", "10s")
    settings = ("--parallelism", "1", "--idleness", "5s", "--no-early-alerts", "--max-runtime", "600s")
    with watched_job(tmp_path, *settings, source=source) as job:
        shard_ids = {s["ShardId"] for s in _open_shards(client, stream)}
        polled = wait_until(lambda: _subscribed_shards(job), lambda got: got >= shard_ids, 120)
        assert polled >= shard_ids, f"the consumer polled only {polled}: {job.tail()}"
        quiet = {**first[0][0], "event_id": "quiet-shard", "node": "quiet", "temperature": 20.0}
        client.put_record(StreamName=stream, Data=json.dumps(quiet).encode(), PartitionKey="quiet",
                          ExplicitHashKey=str(below))  # fmt: skip
        for minute in first:  # one simulated minute at a time, as a live network sends them (sped up)
            _put_below(client, stream, minute, below)
            time.sleep(SECONDS_PER_MINUTE)
        sent_at = time.monotonic()
        early = wait_until(lambda: set(_paths(_lines(alerts))), lambda got: got >= due, 90)
        waited = time.monotonic() - sent_at
        assert early >= due, f"the idle shard held the watermark back: {len(early)} of {len(due)} due paths"
        assert job.process.poll() is None, "alerted while the job still runs"

        parent = min(_open_shards(client, stream), key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))
        low, high = (int(parent["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
        parent_id = parent["ShardId"]
        client.split_shard(
            StreamName=stream, ShardToSplit=parent_id, NewStartingHashKey=str((low + high) // 2)
        )
        _wait_active(client, stream)
        children = {s["ShardId"] for s in _open_shards(client, stream) if s.get("ParentShardId") == parent_id}
        assert len(children) == 2
        # Give the consumer its next shard discovery (every 10 s) before the children get records: a
        # shard it has not found yet has no watermark, so the other shards' watermark would move on
        # past records waiting in the children (late: lost paths, seen under load on 2026-12-03).
        # A live network's minute takes a minute, far longer than a discovery.
        time.sleep(SHARD_DISCOVERY_S)
        for minute in second:
            _put_below(client, stream, minute, below)
            time.sleep(SECONDS_PER_MINUTE)
        _tick_every_shard(client, stream, [r for m in second for r in m])  # time moves on in every shard
        got = wait_until(lambda: _lines(alerts), lambda lines: len(lines) >= len(alerted.truth()), 240)
        time.sleep(3)  # anything repeated would come now
        got = _lines(alerts)
        # a new shard's gauges reach the REST API on the metric fetcher's schedule, after its records
        read_children = wait_until(lambda: _subscribed_shards(job) & children, lambda r: r == children, 60)
        assert job.process.poll() is None
    dead = _lines(tmp_path / "out" / "dead-letters.jsonl")
    paths = _paths(got)
    assert len(paths) == len(set(paths)), "no alert repeated across the split"
    reasons = sorted({letter.get("reason") for letter in dead})
    assert set(paths) == alerted.truth(), (
        f"first alerts came {waited:.0f} s after the first half; dead letters {len(dead)} {reasons}"
    )
    assert read_children == children, "the consumer found both children of the split"
    assert dead == [], "no reading late"


@pytest.mark.timeout(600)
def test_at_timestamp_skips_the_records_that_arrived_before_the_timestamp(
    tmp_path: Path, kinesis_endpoint
) -> None:
    """A network is put into a 2-shard stream, then, a second and a half later, the timestamp is taken
    (kinesis-local stamps each record's ApproximateArrivalTimestamp when it is put, to the millisecond),
    then after another second and a half the live network. The job starts with `--kinesis-initpos
    AT_TIMESTAMP` and that timestamp as ISO-8601 with an offset (the option's documented form): it
    alerts exactly the live network's truth, nothing of the earlier one."""
    skipped, alerted = _networks()
    client = boto3.client("kinesis", endpoint_url=kinesis_endpoint, region_name="us-east-1")
    stream = _new_stream(client, "job-at-timestamp", 2)
    _put_all(kinesis_endpoint, stream, list(skipped.delivered()))
    time.sleep(1.5)
    start = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(1.5)
    records = list(alerted.delivered())
    _put_all(kinesis_endpoint, stream, records)
    _tick_every_shard(client, stream, records)
    timestamp = start.isoformat(timespec="milliseconds")  # e.g. 2026-12-02T19:39:51.566+00:00
    source = _source(kinesis_endpoint, stream, "--kinesis-initpos", "AT_TIMESTAMP",
                     "--kinesis-initpos-timestamp", timestamp, "--kinesis-shard-idle", "30s")  # fmt: skip
    alerts = tmp_path / "out" / "alerts.jsonl"
    with watched_job(tmp_path, "--parallelism", "2", "--idleness", "5s", "--max-runtime", "600s",
                     source=source) as job:  # fmt: skip
        got = wait_until(lambda: _lines(alerts), lambda lines: len(lines) >= len(alerted.truth()), 300)
        time.sleep(3)  # an alert of the skipped network would come with these
        got = _lines(alerts)
        assert got, job.tail()
    paths = _paths(got)
    assert len(paths) == len(set(paths))
    assert set(paths) == alerted.truth()
    assert _lines(tmp_path / "out" / "dead-letters.jsonl") == [], "no reading late"
