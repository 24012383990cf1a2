"""Benchmark: what kinesis-local (kinesis-mock on node.js) costs in CPU seconds to take in and hand out
the readings, KPL-aggregated or one a record, so a Kinesis latency run can be judged against the CPU the
emulator had (`bench/alert_latency_kinesis.py` prints that share).

Puts `--readings` readings of the latency bench's background (about 165 bytes each) into a fresh
`--shards`-shard stream with the simulator's Kinesis sink, then reads them all back with GetRecords
(as the job's connector does), and prints the emulator's CPU seconds for each part, per MB and per
5,000 readings (the issue's rate for one second), next to the wall time.

Needs kinesis-local started by ``emberwatch-local up --kinesis`` (its pid comes from the stack's state).

    python bench/kinesis_local_cost.py [--readings 50000] [--shards 2] [--round 500] [--one-a-record]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alert_latency import background  # noqa: E402
from alert_latency_kinesis import cpu_seconds, emulator_pid, fresh_stream  # noqa: E402

from simulator.sinks.kinesis import KinesisSink  # noqa: E402


def read_all(client, stream: str) -> int:
    """Every record of every shard from TRIM_HORIZON; the number of Kinesis records read."""
    count = 0
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            response = client.get_records(ShardIterator=iterator, Limit=10_000)
            count += len(response["Records"])
            if not response["Records"] and response.get("MillisBehindLatest", 0) == 0:
                break
            iterator = response.get("NextShardIterator")
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=os.environ.get("EMBERWATCH_KINESIS_ENDPOINT"))
    parser.add_argument("--readings", type=int, default=50_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--one-a-record", action="store_true", help="no KPL aggregation")
    parser.add_argument("--round", type=int, default=500,
                        help="readings per flush (the latency bench puts 500 per 100 ms round at 5,000/s)")
    args = parser.parse_args()
    pid = emulator_pid(args.endpoint or "")
    if pid is None:
        parser.error("no kinesis-local of `emberwatch-local up --kinesis` at --endpoint")
    client = boto3.client("kinesis", endpoint_url=args.endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
    fresh_stream(client, "kinesis-local-cost", args.shards)
    readings = background(0, args.readings, int(time.time() * 1000), 100, 50, random.Random(1))
    sink = KinesisSink("kinesis-local-cost", boto3_client=client, aggregate=not args.one_a_record,
                       partition_key="region")
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    for start in range(0, len(readings), args.round):
        sink.write(readings[start : start + args.round])
        sink.flush()
    cpu1, wall1 = cpu_seconds(pid), time.monotonic()
    records = read_all(client, "kinesis-local-cost")
    cpu2, wall2 = cpu_seconds(pid), time.monotonic()
    megabytes = sink.stats.bytes / 1e6
    print(f"{args.readings:,} readings, {megabytes:.1f} MB, in {sink.kinesis_records:,} Kinesis records "
          f"({'one a record' if args.one_a_record else 'KPL-aggregated'}), {args.shards} shards, "
          f"{args.round} readings a flush; "
          f"load average {os.getloadavg()[0]:.0f} on {os.cpu_count()} cores")
    for name, cpu, wall in (("put", cpu1 - cpu0, wall1 - wall0), ("get", cpu2 - cpu1, wall2 - wall1)):
        per_5000 = cpu / args.readings * 5000
        print(f"  {name}: kinesis-local {cpu:.1f} CPU s in {wall:.1f} s wall = {cpu / megabytes:.2f} CPU s "
              f"per MB, {per_5000:.2f} CPU s per 5,000 readings")
    assert records == sink.kinesis_records, (records, sink.kinesis_records)
    client.delete_stream(StreamName="kinesis-local-cost", EnforceConsumerDeletion=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
