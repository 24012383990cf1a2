"""KinesisSink against the kinesis-local emulator: every record arrives once; failures are retried."""

from __future__ import annotations

from collections import Counter

import boto3
import pytest

from simulator import SimulationConfig, encode, simulate
from simulator.cli import emit
from simulator.sinks import KinesisSink, SinkError
from simulator.sinks.kinesis import MALFORMED_PARTITION_KEY
from tests.simulator.conftest import read_stream


def reading(i: int, pad: int = 0) -> dict:
    ev = {"event_id": f"r000-n{i:03d}:0", "node": f"r000-n{i:03d}", "region": "r000", "ts": 1_000 + i,
          "temperature": 20.0, "infectedBy": None, "lat": -33.7, "lon": 150.3}
    if pad:
        ev["pad"] = "x" * pad
    return ev


def test_every_record_arrives_once_keyed_by_node(kinesis_endpoint, kinesis_client, stream_name):
    records = list(simulate(SimulationConfig.demo()).delivered())[:1200]
    assert any(isinstance(r, bytes) for r in records) and len({r["event_id"] for r in records
                                                               if isinstance(r, dict)}) < 1200
    with KinesisSink(stream_name, endpoint_url=kinesis_endpoint) as sink:
        sink.write(records)
    arrived = read_stream(kinesis_client, stream_name)
    assert Counter(data for _, _, data in arrived) == Counter(encode(r) for r in records)
    expected_keys = Counter(r["node"] if isinstance(r, dict) else MALFORMED_PARTITION_KEY for r in records)
    assert Counter(key for _, key, _ in arrived) == expected_keys
    assert len({shard for shard, _, _ in arrived}) == 2, "records spread over both shards"
    assert sink.stats.calls == -(-len(records) // 500), "batches of at most 500 records"
    assert sink.stats.records == len(records) and sink.stats.retried == 0


def test_batches_stay_under_five_megabytes(moto_inprocess):
    # kinesis-local moves about 1 MB/s, so the 5 MiB split is checked against moto's Kinesis
    # (also real HTTP); every other test here uses kinesis-local.
    client = boto3.client("kinesis", endpoint_url=moto_inprocess, region_name="us-east-1")
    client.create_stream(StreamName="sim-five-mb", ShardCount=1)
    records = [reading(i, pad=900_000) for i in range(7)]  # 5 fit in 5 MiB, 6 do not
    with KinesisSink("sim-five-mb", endpoint_url=moto_inprocess) as sink:
        sink.write(records)
    assert sink.stats.calls == 2
    assert Counter(data for _, _, data in read_stream(client, "sim-five-mb")) == Counter(map(encode, records))
    client.delete_stream(StreamName="sim-five-mb")


def test_a_record_over_the_limit_is_refused_before_sending(kinesis_endpoint, kinesis_client, stream_name):
    sink = KinesisSink(stream_name, endpoint_url=kinesis_endpoint)
    with pytest.raises(SinkError, match="exceeds the 1048576-byte Kinesis record limit"):
        sink.write([reading(1), reading(2, pad=1_100_000)])
    assert sink.stats.calls == 0
    sink.close()  # what was accepted before the bad record still goes out
    assert [data for _, _, data in read_stream(kinesis_client, stream_name)] == [encode(reading(1))]


def test_only_failed_records_are_retried_until_accepted(kinesis_endpoint, kinesis_client, stream_name):
    # kinesis-local does not throttle, but it does reject, per record, data above the stream's
    # max record size (1 MiB by default) while accepting the rest of the batch. The sink is set up
    # for 2 MiB records; the operator raises the stream's limit after the first partial failure.
    summary = kinesis_client.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
    arn = summary["StreamARN"]
    retries = []

    def raise_stream_limit(attempt, failed, errors):
        retries.append((attempt, [e["PartitionKey"] for e in failed], errors))
        kinesis_client.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=2048)

    records = [reading(i) for i in range(60)]
    records.insert(30, reading(999, pad=1_050_000))
    with KinesisSink(stream_name, endpoint_url=kinesis_endpoint, max_record_bytes=2 * 1024 * 1024,
                     on_retry=raise_stream_limit, base_backoff_s=0.01) as sink:
        sink.write(records)
    assert retries == [(1, ["r000-n999"], {"InvalidArgumentException": 1})]
    arrived = read_stream(kinesis_client, stream_name)
    assert Counter(data for _, _, data in arrived) == Counter(encode(r) for r in records)
    assert sink.stats.retried == 1 and sink.stats.calls == 2


def test_records_still_failing_after_max_attempts_raise(kinesis_endpoint, kinesis_client, stream_name):
    records = [reading(1), reading(2, pad=1_050_000), reading(3)]
    sink = KinesisSink(stream_name, endpoint_url=kinesis_endpoint, max_record_bytes=2 * 1024 * 1024,
                       max_attempts=2, base_backoff_s=0.001)
    with pytest.raises(SinkError, match=r"1 records not accepted .* after 2 attempts.*InvalidArgument"):
        sink.write(records)
        sink.flush()
    arrived = [data for _, _, data in read_stream(kinesis_client, stream_name)]
    assert sorted(arrived) == sorted([encode(records[0]), encode(records[2])])
    assert sink.stats.calls == 2 and sink.stats.retried == 1


def test_ensure_stream_creates_and_waits(kinesis_endpoint, kinesis_client):
    sink = KinesisSink("sim-ensure-stream", endpoint_url=kinesis_endpoint)
    sink.ensure_stream(shards=1)
    sink.ensure_stream(shards=1)  # already there: fine
    described = kinesis_client.describe_stream_summary(StreamName="sim-ensure-stream")
    summary = described["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE" and summary["OpenShardCount"] == 1
    kinesis_client.delete_stream(StreamName="sim-ensure-stream")


def test_paced_output_is_sent_at_each_pause_not_held_for_a_full_batch(
    kinesis_endpoint, kinesis_client, stream_name
):
    sim = simulate(SimulationConfig.blog_11().replace(minutes=3))  # 33 readings over ~3 simulated min
    sink = KinesisSink(stream_name, endpoint_url=kinesis_endpoint)
    emit(sim, sink, speedup=100.0)  # ~1.8 s; readings ~50 ms apart on average
    # Far fewer than 500 records, yet they went out during the pauses of the paced run rather than
    # waiting for a full batch (a pause shorter than a PutRecords call does not flush, hence >= 11).
    assert len(read_stream(kinesis_client, stream_name)) >= 11
    sink.close()
    assert len(read_stream(kinesis_client, stream_name)) == 33
