"""KinesisSink with KPL aggregation against kinesis-local: every reading arrives once inside aggregates a
KCL-style consumer keeps (each aggregate's user records hash into the shard that holds it), in order per
key, within the record limit; a reshard while writing loses nothing."""

from __future__ import annotations

import hashlib
import sys
from collections import Counter, defaultdict

import boto3
import orjson
import pytest
from aws_kinesis_agg import MAGIC
from aws_kinesis_agg.aggregator import messages_pb2  # (the module fixes up sys.path for it first)

from simulator import SimulationConfig, encode, simulate
from simulator.options import PARTITION_KEYS as OPTION_PARTITION_KEYS
from simulator.sinks import KinesisSink, SinkError
from simulator.sinks.kinesis import MALFORMED_PARTITION_KEY, PARTITION_KEYS
from simulator.sinks.kpl import ShardMap, ShardMapError, hash_key
from tests.simulator.conftest import read_stream
from tests.simulator.test_cli import sim, summary


def user_records(data: bytes) -> list[tuple[str, bytes]]:
    """The (partition key, data) pairs of one KPL aggregate, its digest checked."""
    assert data.startswith(MAGIC), "every record is an aggregate"
    body, digest = data[len(MAGIC):-16], data[-16:]
    assert hashlib.md5(body).digest() == digest
    aggregate = messages_pb2.AggregatedRecord()
    aggregate.ParseFromString(body)
    return [(aggregate.partition_key_table[r.partition_key_index], r.data) for r in aggregate.records]


def delivered(client, stream: str) -> dict[str, list[tuple[str, bytes]]]:
    """Per shard, the user records a KCL-style consumer hands on, in order. As in the KCL's
    `UserRecord.deaggregate` (which Flink's connector calls), an aggregate holding a key that hashes
    outside its shard is dropped whole."""
    ranges = {s["ShardId"]: (int(s["HashKeyRange"]["StartingHashKey"]),
                             int(s["HashKeyRange"]["EndingHashKey"]))
              for s in client.list_shards(StreamName=stream)["Shards"]}
    out: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for shard, _, data in read_stream(client, stream):
        inside = user_records(data)
        low, high = ranges[shard]
        if all(low <= hash_key(key) <= high for key, _ in inside):
            out[shard].extend(inside)
    return out


def reading(i: int, node: str = "r000-n000", pad: int = 0) -> dict:
    ev = {"event_id": f"{node}:{i}", "node": node, "region": node.split("-")[0], "ts": 1_000 + i,
          "temperature": 20.0, "infectedBy": None, "lat": -33.7, "lon": 150.3}
    if pad:
        ev["pad"] = "x" * pad
    return ev


def test_every_record_arrives_once_in_aggregates_of_its_shard_in_order(
    kinesis_endpoint, kinesis_client, stream_name
):
    records = list(simulate(SimulationConfig.demo()).delivered())[:3000]
    assert any(isinstance(r, bytes) for r in records), "malformed records go inside aggregates too"
    with KinesisSink(stream_name, endpoint_url=kinesis_endpoint, aggregate=True) as sink:
        sink.write(records)
    got = delivered(kinesis_client, stream_name)
    assert len(got) == 2, "both shards hold aggregates"
    assert Counter(data for shard in got.values() for _, data in shard) == Counter(map(encode, records))
    for shard in got.values():  # each node's records in the order they were written
        for node in {key for key, _ in shard}:
            want = [encode(r) for r in records
                    if (r["node"] if isinstance(r, dict) else MALFORMED_PARTITION_KEY) == node]
            assert [data for key, data in shard if key == node] == want
    assert sink.stats.records == len(records) and sink.stats.retried == 0
    assert sink.kinesis_records == len(read_stream(kinesis_client, stream_name)) < len(records) / 50


def test_keyed_by_region_each_region_stays_in_order_in_one_shard(
    kinesis_endpoint, kinesis_client, stream_name
):
    records = [r for r in simulate(SimulationConfig.demo()).delivered() if isinstance(r, dict)][:2000]
    sink = KinesisSink(stream_name, endpoint_url=kinesis_endpoint, aggregate=True, partition_key="region")
    with sink:
        sink.write(records)
    got = delivered(kinesis_client, stream_name)
    regions = {r["region"] for r in records}
    for region in regions:
        holders = [shard for shard, inside in got.items() if any(key == region for key, _ in inside)]
        assert len(holders) == 1
        assert [data for key, data in got[holders[0]] if key == region] == [
            encode(r) for r in records if r["region"] == region]
    assert sum(len(inside) for inside in got.values()) == len(records)


def test_aggregates_stay_within_the_record_limit(moto_inprocess):
    # big records are checked against moto's Kinesis (real HTTP, fast with megabytes); see test_sink_kinesis
    client = boto3.client("kinesis", endpoint_url=moto_inprocess, region_name="us-east-1")
    client.create_stream(StreamName="sim-agg-limit", ShardCount=1)
    records = [reading(i, pad=300_000) for i in range(7)]  # 3 fit in 1 MiB, 4 do not
    with KinesisSink("sim-agg-limit", endpoint_url=moto_inprocess, aggregate=True) as sink:
        sink.write(records)
    stored = read_stream(client, "sim-agg-limit")
    assert [len(user_records(data)) for _, _, data in stored] == [3, 3, 1]
    assert all(len(data) + len(key) <= 1024 * 1024 for _, key, data in stored)
    assert [data for _, _, d in stored for _, data in user_records(d)] == [encode(r) for r in records]
    with pytest.raises(SinkError, match="exceeds the 1048576-byte Kinesis record limit"):
        sink.write([reading(8, pad=1_100_000)])
    client.delete_stream(StreamName="sim-agg-limit")


def test_a_split_while_writing_loses_nothing(kinesis_endpoint, kinesis_client):
    """The sink plans aggregates for the shards it listed first; after a split, an aggregate for the
    closed parent lands in a child, where a consumer would drop it (keys outside the child). The sink
    sees the other shard id in the response, lists the shards again and sends those records anew."""
    stream = "sim-agg-split"
    kinesis_client.create_stream(StreamName=stream, ShardCount=1)
    kinesis_client.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    nodes = [f"r000-n{n:03d}" for n in range(40)]
    first = [reading(i, node) for i, node in enumerate(nodes)]
    later = [reading(100 + i, node) for i, node in enumerate(nodes)]
    sink = KinesisSink(stream, endpoint_url=kinesis_endpoint, aggregate=True)
    sink.write(first)
    sink.flush()
    parent = kinesis_client.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    kinesis_client.split_shard(StreamName=stream, ShardToSplit=parent, NewStartingHashKey=str(2**127))
    kinesis_client.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    sink.write(later)
    sink.close()
    got = delivered(kinesis_client, stream)
    assert Counter(data for inside in got.values() for _, data in inside) == Counter(
        encode(r) for r in first + later), "each record exactly once where a consumer reads it"
    assert len(got) == 3 and sink.resent_after_reshard == len(later)
    kinesis_client.delete_stream(StreamName=stream)


def test_kinesis_aggregate_from_the_cli(kinesis_endpoint, kinesis_client):
    assert OPTION_PARTITION_KEYS == PARTITION_KEYS
    proc = sim("--preset", "blog-11", "--sink", "kinesis", "--stream", "sim-cli-agg", "--create-stream", "2",
               "--kinesis-aggregate", "--endpoint-url", kinesis_endpoint, "--aws-region", "us-east-1",
               env={"EMBERWATCH_SIM_KINESIS_PARTITION_KEY": "region"})
    assert summary(proc)["records"] == 88
    stored = read_stream(kinesis_client, "sim-cli-agg")
    assert len(stored) == 1, "blog-11 is one region: one shard, one aggregate"
    arrived = [orjson.loads(data) for _, _, d in stored for _, data in user_records(d)]
    assert arrived == list(simulate(SimulationConfig.blog_11()).events())
    kinesis_client.delete_stream(StreamName="sim-cli-agg")


def test_the_shard_map_takes_open_shards_only_and_says_when_a_key_has_none():
    top = 2**128 - 1
    listed = [
        {"ShardId": "parent", "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(top)},
         "SequenceNumberRange": {"StartingSequenceNumber": "1", "EndingSequenceNumber": "9"}},
        {"ShardId": "low", "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(2**127 - 1)},
         "SequenceNumberRange": {"StartingSequenceNumber": "10"}},
        {"ShardId": "high", "HashKeyRange": {"StartingHashKey": str(2**127), "EndingHashKey": str(top)},
         "SequenceNumberRange": {"StartingSequenceNumber": "11"}},
    ]
    shards = ShardMap.from_list_shards(listed)
    keys = [f"r{n}" for n in range(200)]
    assert {shards.shard_for(k).shard_id for k in keys} == {"low", "high"}
    assert all((shards.shard_for(k).shard_id == "low") == (hash_key(k) < 2**127) for k in keys)
    half = ShardMap.from_list_shards(listed[:2])  # "high" not listed yet: its keys have no shard
    with pytest.raises(ShardMapError, match="no open shard takes hash key"):
        [half.shard_for(k) for k in keys]
    with pytest.raises(ShardMapError, match="no open shard"):
        ShardMap.from_list_shards(listed[:1])


def test_without_the_aggregation_library_the_sink_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "aws_kinesis_agg.aggregator", None)  # as if not installed
    with pytest.raises(SinkError, match=r"needs aws-kinesis-agg: pip install 'emberwatch\[kpl\]'"):
        KinesisSink("any", endpoint_url="http://127.0.0.1:9", aggregate=True)
    KinesisSink("any", endpoint_url="http://127.0.0.1:9")  # one a record needs nothing more
